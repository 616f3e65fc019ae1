"""engine.study: the mechanics of the side-by-side studies (VGG, GoogLeNet, ResNet), on digits.

The tiny MLP fixture stands in for a model: its spec builds the networks, sklearn's digits
(1797 8x8 images, no download) is the data.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from data_utils import ArrayLoader, create_data_loaders
from engine import study
from engine.trainer import Trainer
from engine.workflow import build_optimizer, build_scheduler, cli_overrides
from utils.config import apply_overrides
from utils.exceptions import ConfigError
from utils.modules import load_model_modules
from utils.seed import set_random_seed

SUBSET = ["--train-samples", "200", "--val-samples", "50", "--test-samples", "100"]


@pytest.fixture(scope="module")
def spec(kit):
    return load_model_modules(kit.fixture_dir).train.SPEC


def parse(*argv: str):
    parser = study.study_parser("a test study", "smoke")
    parser.add_argument("--hidden", nargs="+", type=int, default=[8])  # the script's variants
    return parser.parse_args(list(argv))


def test_parser_defaults_and_overrides_reach_cli_overrides():
    args = parse()
    assert (args.experiment, args.name, args.train_samples, args.test_samples) == (
        "smoke",
        "smoke",
        10_000,
        None,
    )
    assert cli_overrides(args) == {}
    args = parse("--epochs", "3", "--learning-rate", "0.1", "--set", "hidden=4", "--hidden", "2")
    assert cli_overrides(args) == {"epochs": "3", "lr": "0.1", "hidden": "4"}
    assert args.hidden == [2]


def test_load_study_applies_overrides_and_draws_the_same_subset(spec):
    args = parse(*SUBSET, "--set", "dataset=digits", "--epochs", "3", "--device", "cpu")
    config, device, splits = study.load_study(spec, args)
    assert (config.dataset, config.epochs, device.type) == ("digits", 3, "cpu")
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (200, 50, 100)
    again = study.load_study(spec, args)[2]
    assert torch.equal(again.x_train, splits.x_train) and torch.equal(again.y_test, splits.y_test)


@pytest.fixture(scope="module")
def digits_study(spec):
    args = parse(*SUBSET, "--set", "dataset=digits", "batch_size=32", "lr=0.5", "--epochs", "3")
    return study.load_study(spec, args)


def test_train_variant_trains_tests_and_is_reproducible(spec, digits_study):
    config, device, splits = digits_study
    trained = study.train_variant(spec, config, splits, device)
    assert all(len(trained.history[k]) == 3 for k in ("train_loss", "val_accuracy"))
    assert trained.history["train_loss"][-1] < trained.history["train_loss"][0]
    assert trained.test["num_samples"] == 100 and trained.test["accuracy"] > 0.7  # chance: 0.1
    hidden, features = config.hidden, splits.num_features
    assert trained.parameters == features * hidden + hidden + hidden * 10 + 10
    assert trained.flops == 2 * (features * hidden + hidden * 10)
    assert trained.train_seconds > 0 and trained.train_cpu_seconds > 0
    again = study.train_variant(spec, config, splits, device)  # same seed: the same numbers
    assert again.history["train_loss"] == trained.history["train_loss"]
    assert again.test == trained.test
    wider = study.train_variant(spec, apply_overrides(config, {"hidden": 32}), splits, device)
    assert wider.parameters > trained.parameters


def test_record_puts_size_first_measures_in_order_and_times_last():
    trained = study.TrainedVariant(None, 10, 40, {}, {}, 1.26, 0.94)
    record = trained.record(test_error=0.25, train_loss=[1.0, 0.5])
    assert list(record) == [
        "parameters",
        "flops",
        "test_error",
        "train_loss",
        "train_seconds",
        "train_cpu_seconds",
    ]
    assert (record["train_seconds"], record["train_cpu_seconds"]) == (1.3, 0.9)


def test_study_header_names_the_data_and_budget(digits_study):
    config, _, splits = digits_study
    assert study.study_header(splits, config) == {
        "dataset": "digits",
        "train_samples": 200,
        "val_samples": 50,
        "test_samples": 100,
        "epochs": 3,
    }


def test_save_study_writes_json_and_plot_and_prints_with_json(tmp_path, capsys):
    drawn = []

    def plot(result, path: Path) -> Path:
        drawn.append((result, path))
        return path

    result = {"dataset": "digits", "runs": [{"test_accuracy": 0.5}]}
    args = parse("--name", "trial", "--json")
    out, figure = study.save_study(result, args, tmp_path / "logs", tmp_path / "vis", plot)
    assert out == tmp_path / "logs" / "trial.json" and json.loads(out.read_text()) == result
    assert drawn == [(result, tmp_path / "vis" / "trial.png")] and figure == drawn[0][1]
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1]) == result
    assert study.read_result(out) == result

    study.save_study(result, parse("--name", "quiet"), tmp_path / "logs", tmp_path / "vis", plot)
    assert capsys.readouterr().out == ""


def test_replot_redraws_a_saved_result_and_trains_nothing(tmp_path):
    drawn = []

    def plot(result, path: Path) -> Path:
        drawn.append((result, path))
        return path

    assert study.replot_study(parse(), tmp_path, plot) is None and drawn == []
    result = {"dataset": "digits", "runs": [{"test_accuracy": 0.5}]}
    saved = tmp_path / "logs" / "trial.json"
    saved.parent.mkdir()
    saved.write_text(json.dumps(result))
    figure = study.replot_study(parse("--replot", str(saved)), tmp_path / "vis", plot)
    assert figure == tmp_path / "vis" / "trial.png" and drawn == [(result, figure)]
    with pytest.raises(ConfigError, match="missing.json"):
        study.replot_study(parse("--replot", str(tmp_path / "missing.json")), tmp_path, plot)


def test_read_result_of_a_missing_or_broken_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a readable result JSON"):
        study.read_result(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="broken.json"):
        study.read_result(broken)


def test_train_variant_measures_splits_each_epoch_without_changing_the_training(spec, digits_study):
    config, device, splits = digits_study
    trained = study.train_variant(spec, config, splits, device, each_epoch=("train", "test"))
    set_random_seed(config.seed)  # the same network trained by one call for all epochs
    model = spec.create_model(config, splits)
    optimizer = build_optimizer(config, model)
    scheduler = build_scheduler(config, optimizer)
    trainer = Trainer(model, optimizer, spec.create_criterion(config), device, config, scheduler)
    train, val, test = create_data_loaders(splits, config.batch_size, seed=config.seed)
    assert trained.history == trainer.train(train, val, config.epochs)
    assert trained.test == trainer.evaluator.evaluate(test)
    assert [len(trained.each_epoch[k]) for k in ("train", "test")] == [3, 3]
    assert trained.each_epoch["test"][-1] == trained.test
    clean = ArrayLoader(splits.x_train, splits.y_train, 512, transform=splits.transform)
    final_train = trained.each_epoch["train"][-1]
    assert final_train["num_samples"] == 200
    assert final_train["accuracy"] == trainer.evaluator.evaluate(clean)["accuracy"]
    seconds = trained.epoch_seconds
    assert len(seconds) == 3 and seconds == sorted(seconds)
    assert seconds[-1] == pytest.approx(trained.train_seconds)


def test_train_variant_stops_where_the_trainer_stops(spec, digits_study):
    config, device, splits = digits_study  # 200 samples in batches of 32: 7 steps per epoch
    cut = study.train_variant(
        spec, apply_overrides(config, {"max_steps": 10}), splits, device, each_epoch=("train",)
    )
    assert len(cut.history["epoch"]) == len(cut.each_epoch["train"]) == len(cut.epoch_seconds)
    assert len(cut.epoch_seconds) == 1  # epoch 2 was cut at step 10: not measured
    with pytest.raises(AssertionError, match="each_epoch"):
        study.train_variant(spec, config, splits, device, each_epoch=("validation",))


def test_train_variant_applies_the_models_augmentation_per_variant(spec, digits_study):
    """The spec's train_transform hook is asked for each variant's config: the training batches
    of that variant are augmented (None: not), evaluation never is."""
    config, device, splits = digits_study
    asked = []

    def noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        return x + 0.5 * torch.randn(x.shape, generator=generator)

    def hook(cfg, data):
        asked.append((cfg.dropout, len(data.y_train)))
        return noise if cfg.dropout > 0 else None

    augmenting = dataclasses.replace(spec, train_transform=hook)
    plain = study.train_variant(spec, config, splits, device)
    same = study.train_variant(augmenting, config, splits, device)
    assert same.history == plain.history and same.test == plain.test
    noisy_config = apply_overrides(config, {"dropout": 0.1})
    noisy = study.train_variant(augmenting, noisy_config, splits, device, each_epoch=("train",))
    undisturbed = study.train_variant(spec, noisy_config, splits, device, each_epoch=("train",))
    assert asked == [(0.0, 200), (0.1, 200)]
    assert noisy.history["train_loss"] != undisturbed.history["train_loss"]
    assert noisy.each_epoch["train"][-1]["num_samples"] == 200
