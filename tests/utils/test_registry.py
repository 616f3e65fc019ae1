"""utils.registry.model_config: one experiment's config of a model, by the model's name."""

from __future__ import annotations

import pytest

from utils.exceptions import ConfigError
from utils.registry import model_config, model_spec


def test_model_config_is_the_experiment_with_the_overrides() -> None:
    config = model_config("mlp", "xor", epochs=3, hidden_sizes="4")
    assert isinstance(config, model_spec("mlp").config_cls)
    assert config.experiment == "xor" and config.dataset == "xor"
    assert config.epochs == 3 and config.hidden_sizes == (4,)


def test_model_config_defaults_to_the_smoke_experiment() -> None:
    assert model_config("vgg").experiment == "smoke"


@pytest.mark.parametrize(
    "name, experiment, overrides, words",
    [
        ("nope", "smoke", {}, ["unknown model 'nope'", "perceptron"]),
        ("mlp", "nope", {}, ["unknown experiment 'nope'", "xor"]),
        ("mlp", "smoke", {"learning_rate": 0.1}, ["unknown config key 'learning_rate'", "lr"]),
        ("mlp", "smoke", {"epochs": "ten"}, ["field 'epochs' expects int"]),
        ("vgg", "smoke", {"optimizer": "none"}, ["VGG learns by backpropagation"]),
    ],
)
def test_bad_names_keys_and_values_are_config_errors(name, experiment, overrides, words) -> None:
    with pytest.raises(ConfigError) as info:
        model_config(name, experiment, **overrides)
    assert all(word in str(info.value) for word in words), str(info.value)
