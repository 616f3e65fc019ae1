"""engine.study: the mechanics of the side-by-side studies (VGG, GoogLeNet, ResNet), on digits.

The tiny MLP fixture stands in for a model: its spec builds the networks, sklearn's digits
(1797 8x8 images, no download) is the data.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from engine import study
from engine.workflow import cli_overrides
from utils.config import apply_overrides
from utils.exceptions import ConfigError
from utils.modules import load_model_modules

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


def test_read_result_of_a_missing_or_broken_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="not a readable result JSON"):
        study.read_result(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ConfigError, match="broken.json"):
        study.read_result(broken)
