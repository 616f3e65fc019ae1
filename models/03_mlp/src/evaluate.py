"""Evaluate a trained MLP on the test split its experiment defines.

    python src/evaluate.py --checkpoint best --experiment mnist --json
    python src/evaluate.py --checkpoint outputs/models/xor/<run>_final.pt --visualize

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out. ``load_trained`` does the same for the analysis commands
(shift.py, compare.py).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import torch
from train import SPEC

from data_utils import DatasetSplits
from engine.checkpoint import check_compatible, resolve_checkpoint
from engine.modelio import load_model_state, model_state
from engine.workflow import evaluate_main, load_data
from utils.config import config_from_dict, load_config
from utils.exceptions import CheckpointError, ConfigError


def load_trained(
    checkpoint: str, experiment: str | None, data_dir: str | None, device: torch.device
) -> tuple[Any, Any, DatasetSplits, dict[str, Any]]:
    """The model of a checkpoint with its weights, its config, its data splits and the checkpoint.

    Args:
        checkpoint: A path, or "latest" / "best" of ``experiment``.
        experiment: Data to use; default the checkpoint's own experiment.
        data_dir: Data directory (default $AIFS_DATA_DIR, then the cache).
        device: Where a torch model goes.
    """
    if checkpoint in ("latest", "best") and not experiment:
        raise ConfigError(f"--checkpoint {checkpoint} needs --experiment to know which run")
    state = resolve_checkpoint(
        checkpoint, Path(SPEC.model_dir) / "outputs/models" / (experiment or "")
    )
    if state.get("model_name") != SPEC.name:
        raise CheckpointError(f"{state['path']} holds model {state.get('model_name')!r}, not 'mlp'")
    config = config_from_dict(SPEC.config_cls, state["config"])
    if experiment and experiment != config.experiment:
        config = load_config(SPEC.config_cls, SPEC.experiments_file, experiment)
    splits = load_data(config, data_dir)
    model = SPEC.create_model(config, splits)
    check_compatible(state, SPEC.name, model_state(model))
    load_model_state(model, state["model_state"])
    if isinstance(model, torch.nn.Module):
        model = model.to(device)
    return model, config, splits, state


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
