"""train.py's new flags and the resume rules of the shared workflow (in process, no subprocess)."""

from __future__ import annotations

import pytest

from engine import workflow
from engine.checkpoint import CheckpointManager
from engine.trainer import RunContext
from utils.exceptions import ConfigError
from utils.modules import load_model_modules
from utils.testing import needs_data


@pytest.fixture(scope="module")
def spec(kit):
    return load_model_modules(kit.fixture_dir).train.SPEC


def test_new_flags_map_to_config_fields(spec):
    args = workflow.train_parser(spec).parse_args(
        ["--experiment", "smoke", "--grad-accum-steps", "4", "--precision", "bf16"]
        + ["--max-steps", "10", "--set", "nan_policy=skip", "max_skipped_steps=3"]
    )
    config = workflow._train_config(spec, args, resume=None)
    assert (config.grad_accum_steps, config.precision, config.max_steps) == (4, "bf16", 10)
    assert (config.nan_policy, config.max_skipped_steps) == ("skip", 3)
    with pytest.raises(ConfigError, match="precision"):
        bad = workflow.train_parser(spec).parse_args(
            ["--experiment", "smoke", "--precision", "fp8"]
        )
        workflow._train_config(spec, bad, resume=None)


def test_resume_and_load_checkpoint_exclude_each_other(spec, capsys):
    with pytest.raises(SystemExit):
        workflow.train_parser(spec).parse_args(
            ["--experiment", "smoke", "--resume", "latest", "--load-checkpoint", "x.pt"]
        )
    assert "not allowed with argument" in capsys.readouterr().err


def test_resume_uses_the_stored_config_and_the_cli_on_top(kit, spec, tmp_path):
    config = kit.config(experiment="smoke", dataset="moons", epochs=2, lr=0.2)
    x, y = kit.data()
    run = RunContext(
        "tiny_mlp",
        checkpoints=CheckpointManager(tmp_path, "run"),
        extra_state={"config": workflow.config_to_dict(config)},
    )
    kit.trainer(config, run=run).train(kit.loader(x, y, 8), kit.loader(x, y, 64))
    state = workflow.resolve_checkpoint("latest", tmp_path)

    args = workflow.train_parser(spec).parse_args(["--experiment", "smoke", "--epochs", "5"])
    resumed = workflow._train_config(spec, args, resume=state)
    assert resumed.lr == 0.2 and resumed.epochs == 5  # stored lr, not experiments.yaml's

    other = workflow.train_parser(spec).parse_args(["--experiment", "ddp"])
    with pytest.raises(ConfigError, match="checkpoint of experiment 'smoke', not 'ddp'"):
        workflow._train_config(spec, other, resume=state)


# ------------------------------------------------------------------------ the data set's options


@needs_data
def test_data_options_reach_the_data_sets_loader_and_the_checkpointed_config(spec):
    from data_utils.text import CharCorpus
    from utils.config import apply_overrides, config_from_dict, config_to_dict, load_config

    config = load_config(spec.config_cls, spec.experiments_file, "smoke")
    # as --set gives it: a YAML mapping in one string
    overrides = {"dataset": "tiny_shakespeare", "data_options": "{block_size: 16}"}
    config = apply_overrides(config, overrides)
    assert config.data_options == {"block_size": 16}
    corpus = workflow.load_data(config, None)
    assert isinstance(corpus, CharCorpus) and corpus.block_size == 16
    x, y = next(iter(corpus.loaders(4, seed=0)[0]))
    assert x.shape == y.shape == (4, 16)  # windows of the configured length
    # evaluate.py rebuilds the data from the config stored in the checkpoint: the option stays
    assert config_from_dict(type(config), config_to_dict(config)).data_options == {"block_size": 16}


def test_an_option_the_loader_does_not_take_is_a_data_error(spec):
    from utils.config import apply_overrides, load_config
    from utils.exceptions import DataError

    config = load_config(spec.config_cls, spec.experiments_file, "smoke")
    config = apply_overrides(config, {"data_options": {"block_size": 16}})  # smoke is not text
    with pytest.raises(DataError, match="block_size"):
        workflow.load_data(config, None)


def test_a_resume_may_not_change_the_data_options(spec):
    from engine.trainer import resume_refusal

    assert resume_refusal("data_options", spec.config_cls()) is not None
