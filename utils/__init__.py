"""Shared plumbing: exceptions, logging, seeding, devices, configs, run metadata, paths, files."""

from utils.config import (
    BaseConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    load_experiments,
)
from utils.device import select_device
from utils.exceptions import (
    AIFromScratchError,
    CheckpointError,
    ConfigError,
    DataError,
    ModelError,
    OutputError,
    TrainingError,
)
from utils.files import atomic_write, plain
from utils.log import setup_logging
from utils.metadata import save_run_metadata
from utils.model_stats import count_flops, count_parameters
from utils.modules import load_model_modules, model_dirs
from utils.paths import RunPaths
from utils.seed import get_rng_state, set_random_seed, set_rng_state

__all__ = [
    "AIFromScratchError",
    "BaseConfig",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "ModelError",
    "OutputError",
    "RunPaths",
    "TrainingError",
    "apply_overrides",
    "atomic_write",
    "config_from_dict",
    "config_to_dict",
    "count_flops",
    "count_parameters",
    "get_rng_state",
    "load_config",
    "load_experiments",
    "load_model_modules",
    "model_dirs",
    "plain",
    "save_run_metadata",
    "select_device",
    "set_random_seed",
    "set_rng_state",
    "setup_logging",
]
