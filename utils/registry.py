"""The model registry: every model by its name, importable from anywhere in one line.

A study, a comparison, a test or a benchmark that needs another model asks for it by the name
its checkpoints carry (``constants.MODEL_NAME``), never by a path or by ``sys.path`` juggling:

    from utils.registry import create_model, model_config, model_spec

    spec = model_spec("vgg")                                  # its engine.workflow.ModelSpec
    config = model_config("vgg", "smoke", batch_norm=False)   # one experiment's config
    model, config, splits = create_model("mlp", "xor", epochs=3)

``MODELS`` is a plain dict (STYLE rule 10) that tests/test_every_model.py keeps equal to the
``models/NN_name`` folders on disk; each folder is imported by
``utils.modules.load_model_modules``, the one place that isolates its sibling modules.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

from utils.exceptions import ConfigError
from utils.modules import REPO_ROOT, load_model_modules

if TYPE_CHECKING:
    from data_utils import Splits
    from engine.workflow import ModelSpec

# name (each folder's constants.MODEL_NAME) -> folder below models/.
MODELS: dict[str, str] = {
    "perceptron": "01_perceptron",
    "adaline": "02_adaline",
    "mlp": "03_mlp",
    "hopfield": "04_hopfield",
    "lenet5": "05_lenet5",
    "alexnet": "06_alexnet",
    "vgg": "07_vgg",
    "googlenet": "08_googlenet",
    "resnet": "09_resnet",
    "rnn": "10_rnn",
    "lstm": "11_lstm",
    "gru": "12_gru",
    "seq2seq": "13_seq2seq",
    "attention": "14_attention",
    "transformer": "15_transformer",
    "gpt": "16_gpt",
    "bert": "17_bert",
    "vit": "18_vit",
    "vae": "19_vae",
    "gan": "20_gan",
    "dcgan": "21_dcgan",
    "ddpm": "22_ddpm",
    "unet": "23_unet",
    "rcnn": "24_rcnn",
    "faster_rcnn": "25_faster_rcnn",
    "yolo": "26_yolo",
    "mask_rcnn": "27_mask_rcnn",
    "gcn": "28_gcn",
    "bitnet": "29_bitnet",
}


def model_dir(name: str) -> Path:
    """The folder of the model called ``name``, e.g. ``models/07_vgg`` for "vgg".

    Raises:
        ConfigError: ``name`` is not registered; the message lists the names that are.
    """
    if name not in MODELS:
        raise ConfigError(f"unknown model {name!r}; registered: {', '.join(MODELS)}")
    return REPO_ROOT / "models" / MODELS[name]


def model_modules(name: str) -> types.SimpleNamespace:
    """The model's ``src`` modules (``constants``, ``config``, ``model``, ``train``, ...).

    Loaded once per process, in isolation from every other model's (utils.modules).
    """
    return load_model_modules(model_dir(name))


def model_spec(name: str) -> ModelSpec:
    """The model's ``ModelSpec`` (the ``SPEC`` its train.py builds), e.g. ``model_spec("vgg")``."""
    return model_modules(name).train.SPEC


def model_config(name: str, experiment: str = "smoke", **overrides: Any) -> Any:
    """The validated config of one of the model's experiments, with ``overrides`` applied.

    Args:
        name: A registered model name, e.g. "vgg".
        experiment: A name from the model's experiments.yaml (default its tiny ``smoke`` one).
        overrides: Config fields to replace, e.g. ``epochs=3``; unknown keys and values of the
            wrong type are a ConfigError (utils.config.load_config).

    Returns:
        An instance of the model's config class.
    """
    from utils.config import load_config

    spec = model_spec(name)
    return load_config(spec.config_cls, spec.experiments_file, experiment, overrides)


def create_model(
    name: str, experiment: str = "smoke", data_dir: str | None = None, **overrides: Any
) -> tuple[Any, Any, Splits]:
    """A freshly initialised model of one experiment, with its config and its data splits.

    Seeded with the config's seed, as train.py seeds before building the model, so the same
    call gives the same initial weights.

    Args:
        name: A registered model name, e.g. "mlp".
        experiment: A name from the model's experiments.yaml (default its tiny ``smoke`` one).
        data_dir: Data directory (default ``$AIFS_DATA_DIR``, then the cache).
        overrides: Config fields to replace, e.g. ``epochs=3``; unknown keys are a ConfigError.

    Returns:
        ``(model, config, splits)``.
    """
    from engine.workflow import load_data
    from utils.seed import set_random_seed

    spec = model_spec(name)
    config = model_config(name, experiment, **overrides)
    set_random_seed(config.seed)
    splits = load_data(config, data_dir)
    return spec.create_model(config, splits), config, splits
