"""ADALINE's own plot, found by engine.workflow.spec_from_folder (drawn with --visualize)."""

from pathlib import Path

import numpy as np
from model import Adaline

import plotting
from data_utils import DatasetSplits


def visualize(model: Adaline, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """ADALINE's own plot: on images, each unit's weights drawn as a template."""
    shape = splits.input_shape
    if len(shape) != 3 or shape[0] != 1:
        return {}
    names = ["class 1 vs 0"] if model.weight.shape[0] == 1 else list(splits.class_names)
    path = plotting.plot_weights_as_images(
        np.asarray(model.weight),
        (shape[1], shape[2]),
        vis_dir / f"{prefix}_weights.png",
        titles=names,
        title=f"ADALINE weights on {splits.name} (red: pixel pushes the unit up)",
    )
    return {"weights": path}
