from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, Optional

import pytest
import torch
import yaml

from utils.config import (
    BACKPROP,
    BaseConfig,
    OptimizerName,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    load_experiments,
)
from utils.exceptions import ConfigError


@dataclass
class ToyConfig(BaseConfig):
    """A model config as a model folder would write it (string annotations)."""

    hidden_sizes: tuple[int, ...] = (8, 4)  # units per hidden layer
    activation: Literal["tanh", "relu", 3] = "tanh"
    dropout: Optional[float] = None
    tags: list[str] = field(default_factory=list)
    kernel: tuple[int, int] = (3, 3)

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                all(size >= 1 for size in self.hidden_sizes),
                f"hidden_sizes must all be >= 1 (got {self.hidden_sizes})",
            ),
        ]


@dataclass
class RuleConfig(BaseConfig):
    """A model that updates its own weights (train_step), as the perceptron does."""

    learns_by = "the toy rule"
    optimizer: OptimizerName = "none"


@dataclass
class NetConfig(BaseConfig):
    """A network trained by backprop."""

    learns_by = BACKPROP
    width: int = 4


EXPERIMENTS = {
    "smoke": {"dataset": "xor", "epochs": 2, "lr": "1e-3", "hidden_sizes": [2]},
    "bare": None,
    "blobs": {"dataset": "blobs", "optimizer": "adam", "grad_clip": 1.0},
}


@pytest.fixture()
def experiments_file(tmp_path: Path) -> Path:
    path = tmp_path / "experiments.yaml"
    path.write_text(yaml.safe_dump(EXPERIMENTS), encoding="utf-8")
    return path


def _write(tmp_path: Path, data: object) -> Path:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# ---- load_config ----------------------------------------------------------------------------


def test_load_config_layers_defaults_experiment_and_overrides(experiments_file: Path) -> None:
    config = load_config(ToyConfig, experiments_file, "smoke", {"batch-size": "4", "seed": 3})
    assert isinstance(config, ToyConfig)
    assert config.experiment == "smoke"
    assert config.dataset == "xor" and config.epochs == 2
    assert config.lr == pytest.approx(1e-3)  # PyYAML reads "1e-3" as a string; coerced
    assert config.hidden_sizes == (2,)
    assert config.batch_size == 4 and config.seed == 3
    assert config.momentum == 0.0  # untouched default


def test_empty_experiment_gives_defaults(experiments_file: Path) -> None:
    config = load_config(ToyConfig, experiments_file, "bare")
    assert config == ToyConfig(experiment="bare")


def test_unknown_experiment_lists_available_sorted(experiments_file: Path) -> None:
    with pytest.raises(
        ConfigError, match=r"unknown experiment 'nope'.*available: bare, blobs, smoke"
    ):
        load_config(ToyConfig, experiments_file, "nope")


def test_unknown_yaml_key_lists_valid_fields(tmp_path: Path) -> None:
    path = _write(tmp_path, {"e": {"learning_rate": 0.1}})
    with pytest.raises(ConfigError, match=r"unknown config key 'learning_rate'") as info:
        load_config(ToyConfig, path, "e")
    assert "batch_size" in str(info.value) and "hidden_sizes" in str(info.value)


def test_wrong_yaml_type_names_field_type_and_value(tmp_path: Path) -> None:
    path = _write(tmp_path, {"e": {"epochs": "abc"}})
    with pytest.raises(ConfigError, match=r"field 'epochs' expects int, got 'abc'"):
        load_config(ToyConfig, path, "e")


def test_validate_failure_from_yaml(tmp_path: Path) -> None:
    path = _write(tmp_path, {"e": {"val_fraction": 0.6, "test_fraction": 0.5}})
    with pytest.raises(ConfigError, match=r"val_fraction \+ test_fraction must be < 1"):
        load_config(ToyConfig, path, "e")


def test_cli_override_can_fix_yaml_before_validation(tmp_path: Path) -> None:
    path = _write(tmp_path, {"e": {"val_fraction": 0.6, "test_fraction": 0.5}})
    config = load_config(ToyConfig, path, "e", {"test_fraction": "0.2"})
    assert config.test_fraction == pytest.approx(0.2)


@pytest.mark.parametrize(
    "content, message",
    [
        ("- a\n- b\n", "must be a mapping"),
        ("e: [1, 2]\n", "must be a mapping of field overrides"),
        ("e: {epochs: [\n", "invalid YAML"),
        ("1: {}\n", "must be strings"),
    ],
)
def test_malformed_experiments_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_experiments(path)


def test_missing_experiments_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read experiments file"):
        load_config(ToyConfig, tmp_path / "missing.yaml", "smoke")


def test_config_without_defaults_rejected(experiments_file: Path) -> None:
    @dataclass
    class NoDefault:
        lr: float

    with pytest.raises(ConfigError, match="have no default"):
        load_config(NoDefault, experiments_file, "bare")


# ---- apply_overrides: coercion --------------------------------------------------------------


@pytest.mark.parametrize(
    "key, raw, expected",
    [
        ("lr", "0.01", 0.01),
        ("lr", 1, 1.0),
        ("epochs", "3", 3),
        ("standardize", "false", False),
        ("standardize", "YES", True),
        ("standardize", "0", False),
        ("deterministic", True, True),
        ("grad_clip", "none", None),
        ("grad_clip", "2.5", 2.5),
        ("grad_clip", None, None),
        ("early_stopping_patience", "5", 5),
        ("optimizer", "adamw", "adamw"),
        ("activation", "3", 3),
        ("dropout", "0.5", 0.5),
        ("dropout", "null", None),
        ("hidden_sizes", "16,8,4", (16, 8, 4)),
        ("hidden_sizes", "(16, 8)", (16, 8)),
        ("hidden_sizes", [5], (5,)),
        ("tags", "a, b", ["a", "b"]),
        ("tags", ("x",), ["x"]),
        ("kernel", "5,5", (5, 5)),
        ("dataset", "iris", "iris"),
    ],
)
def test_override_coercion(key: str, raw: object, expected: object) -> None:
    config = apply_overrides(ToyConfig(), {key: raw})
    value = getattr(config, key)
    assert value == expected and type(value) is type(expected)


def test_apply_overrides_returns_new_config() -> None:
    original = ToyConfig()
    updated = apply_overrides(original, {"epochs": "7"})
    assert original.epochs == 10 and updated.epochs == 7


@pytest.mark.parametrize(
    "key, raw, message",
    [
        ("epochs", "abc", r"field 'epochs' expects int, got 'abc'"),
        ("epochs", 2.5, r"field 'epochs' expects int, got 2.5"),
        ("epochs", True, r"field 'epochs' expects int"),
        ("epochs", None, r"field 'epochs' expects int, got None"),
        ("lr", "fast", r"field 'lr' expects float, got 'fast'"),
        ("standardize", "maybe", r"field 'standardize' expects bool"),
        ("standardize", 1, r"field 'standardize' expects bool"),
        ("dataset", 5, r"field 'dataset' expects str, got 5"),
        ("grad_clip", "big", r"field 'grad_clip' expects float \| None"),
        ("hidden_sizes", "1,x", r"field 'hidden_sizes\[1\]' expects int, got 'x'"),
        ("hidden_sizes", 3, r"field 'hidden_sizes' expects tuple"),
        ("kernel", "1,2,3", r"2 items"),
        ("optimizer", "rmsprop", r"'optimizer' must be one of \['sgd', 'adam', 'adamw', 'none'\]"),
        ("monitor_mode", "MAX", r"must be one of \['max', 'min'\]"),
    ],
)
def test_override_type_errors(key: str, raw: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(ToyConfig(), {key: raw})


def test_unknown_override_key_lists_fields() -> None:
    with pytest.raises(ConfigError, match=r"unknown config key 'learning_rate' in overrides.*lr"):
        apply_overrides(ToyConfig(), {"learning_rate": "0.1"})


# ---- validate -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"epochs": 0}, "epochs must be >= 1"),
        ({"batch_size": "0"}, "batch_size must be >= 1"),
        ({"lr": "-0.1"}, "lr must be a number in \\(0, 1e6\\]"),
        ({"lr": "nan"}, "lr must be a number in \\(0, 1e6\\]"),
        ({"momentum": 1.0}, r"momentum must be in \[0, 1\)"),
        ({"weight_decay": -1}, "weight_decay must be >= 0"),
        ({"gamma": 0}, r"gamma must be in \(0, 1\]"),
        ({"grad_clip": 0}, "grad_clip must be None"),
        ({"early_stopping_patience": 0}, "early_stopping_patience must be None"),
        ({"keep_last": 0}, "keep_last must be >= 1"),
        ({"audit_every": 0}, "audit_every must be >= 1"),
        ({"checkpoint_every": 0}, "checkpoint_every must be >= 1"),
        ({"val_fraction": 1.0}, r"val_fraction must be in \[0, 1\)"),
        ({"test_fraction": -0.1}, r"test_fraction must be in \[0, 1\)"),
        ({"seed": -1}, r"seed must be in \[0, 2\*\*32\)"),
        ({"monitor": ""}, "monitor must name a history key"),
        ({"device": "tpu"}, "unknown device 'tpu'"),
        ({"hidden_sizes": "4,0"}, "hidden_sizes must all be >= 1"),  # subclass checks()
    ],
)
def test_validate_rejects(overrides: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        apply_overrides(ToyConfig(), overrides)


def test_validate_reports_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        BaseConfig(epochs=0, batch_size=0).validate()
    assert "epochs must be >= 1" in str(info.value) and "batch_size must be >= 1" in str(info.value)


def test_validate_catches_literal_violation_made_directly() -> None:
    with pytest.raises(ConfigError, match="scheduler must be one of"):
        BaseConfig(scheduler="linear").validate()  # type: ignore[arg-type]


def test_defaults_are_valid() -> None:
    BaseConfig().validate()
    ToyConfig().validate()


def test_subclass_checks_are_reported_with_the_base_ones() -> None:
    with pytest.raises(ConfigError) as info:
        ToyConfig(epochs=0, hidden_sizes=(4, 0)).validate()
    message = str(info.value)
    assert message.startswith("invalid ToyConfig: ")
    assert "epochs must be >= 1" in message and "hidden_sizes must all be >= 1" in message


def test_learns_by_is_a_class_attribute_not_a_field() -> None:
    assert "learns_by" not in config_to_dict(RuleConfig())
    with pytest.raises(ConfigError, match="unknown config key 'learns_by'"):
        apply_overrides(RuleConfig(), {"learns_by": BACKPROP})


def test_a_model_with_its_own_rule_refuses_an_optimizer() -> None:
    RuleConfig().validate()
    message = "Rule learns with the toy rule, not a torch optimizer: optimizer must be 'none'"
    with pytest.raises(ConfigError, match=f"{message} \\(got 'sgd'\\)"):
        apply_overrides(RuleConfig(), {"optimizer": "sgd"})


def test_a_backprop_model_needs_an_optimizer() -> None:
    for optimizer in ("sgd", "adam", "adamw"):
        apply_overrides(NetConfig(), {"optimizer": optimizer})
    message = "Net learns by backpropagation: optimizer must be sgd, adam or adamw"
    with pytest.raises(ConfigError, match=f"{message} \\(got 'none'\\)"):
        apply_overrides(NetConfig(), {"optimizer": "none"})


def test_a_config_that_does_not_say_how_it_learns_takes_any_optimizer() -> None:
    assert BaseConfig.learns_by is None
    for optimizer in ("none", "sgd"):
        BaseConfig(optimizer=optimizer).validate()


def test_config_without_validate_is_accepted() -> None:
    @dataclass
    class Plain:
        size: int = 1

    assert apply_overrides(Plain(), {"size": "4"}) == Plain(size=4)


# ---- dict round trip ------------------------------------------------------------------------


def test_config_dict_round_trip(tmp_path: Path) -> None:
    config = apply_overrides(ToyConfig(), {"hidden_sizes": "3,2", "tags": "a", "grad_clip": "1"})
    data = config_to_dict(config)
    assert data["hidden_sizes"] == [3, 2] and data["kernel"] == [3, 3]
    assert yaml.safe_load(yaml.safe_dump(data)) == data
    torch.save({"config": data}, tmp_path / "ckpt.pt")
    stored = torch.load(tmp_path / "ckpt.pt", weights_only=True)["config"]
    assert config_from_dict(ToyConfig, stored) == config


def test_config_from_dict_is_strict(caplog: pytest.LogCaptureFixture) -> None:
    data = config_to_dict(ToyConfig())
    with pytest.raises(ConfigError, match="unknown config key 'old_field' in stored config"):
        config_from_dict(ToyConfig, {**data, "old_field": 1})
    with pytest.raises(ConfigError, match="field 'epochs' expects int"):
        config_from_dict(ToyConfig, {**data, "epochs": "ten"})
    with pytest.raises(ConfigError, match="epochs must be >= 1"):
        config_from_dict(ToyConfig, {**data, "epochs": 0})
    del data["dropout"]
    with caplog.at_level(logging.WARNING, logger="utils.config"):
        assert config_from_dict(ToyConfig, data) == ToyConfig()
    assert "dropout" in caplog.text


def test_non_dataclass_inputs_rejected() -> None:
    with pytest.raises(ConfigError):
        config_to_dict({"a": 1})
    with pytest.raises(ConfigError):
        apply_overrides(ToyConfig, {})  # the class, not an instance
    assert dataclasses.is_dataclass(ToyConfig())


def test_data_options_take_a_mapping_or_a_yaml_mapping_from_the_command_line():
    config = apply_overrides(ToyConfig(), {"data_options": "{block_size: 64, mode: random}"})
    assert config.data_options == {"block_size": 64, "mode": "random"}
    assert apply_overrides(ToyConfig(), {"data_options": {"noise": 0.2}}).data_options == {
        "noise": 0.2
    }
    for bad in ("[1, 2]", "{block_size: [", "64"):
        with pytest.raises(ConfigError, match="data_options"):
            apply_overrides(ToyConfig(), {"data_options": bad})
