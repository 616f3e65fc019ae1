"""The MLP's own analyses and plots: first-layer weights, and accuracy on shifted images.

The weakness (Module 2's motivation): an MLP gives every pixel its own weights, so nothing it
learns about a stroke at one position carries over to the same stroke a few pixels away. Trained
on centred digits, it loses accuracy quickly when the test digits are translated; a CNN shares
its weights across positions (and pools), and degrades much more slowly.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from constants import SHIFTS

import plotting
from data_utils import ArrayLoader, DatasetSplits
from data_utils.transforms import translate
from engine.evaluator import Evaluator
from engine.modelio import model_state

# (dy, dx) unit steps; "right" moves the content to larger column indices.
DIRECTIONS = {"right": (0, 1), "left": (0, -1), "down": (1, 0), "up": (-1, 0)}
MAX_UNITS_SHOWN = 64  # first-layer units drawn as images (an 8 x 8 grid stays readable)


def shift_robustness(
    model: Any, splits: DatasetSplits, shifts: Sequence[int] | None = None
) -> dict[str, Any]:
    """Test accuracy when every test image is translated by k pixels, in each of 4 directions.

    Args:
        model: A trained NumpyMLP or TorchMLP.
        splits: Image splits (N, C, H, W); the test split is shifted.
        shifts: Shifts in pixels; default constants.SHIFTS up to half the image side.

    Returns:
        ``{"shifts": [k...], "accuracy": {"right": [...], "left": ..., "down": ..., "up": ...,
        "mean": [...]}}``, one accuracy per shift; "mean" averages the four directions.
    """
    assert len(splits.input_shape) == 3, "shift robustness needs images (C, H, W)"
    if shifts is None:
        shifts = [k for k in SHIFTS if k <= min(splits.input_shape[1:]) // 2]
    device = next(model.parameters()).device if isinstance(model, torch.nn.Module) else None
    evaluator = Evaluator(model, None, device)
    accuracy: dict[str, list[float]] = {name: [] for name in DIRECTIONS}
    for k in shifts:
        for name, (dy, dx) in DIRECTIONS.items():
            shifted = translate(splits.x_test, k * dy, k * dx)
            loader = ArrayLoader(shifted, splits.y_test, 1000, transform=splits.transform)
            accuracy[name].append(evaluator.evaluate(loader)["accuracy"])
    accuracy["mean"] = [float(np.mean(row)) for row in zip(*accuracy.values())]
    return {"shifts": list(shifts), "accuracy": accuracy}


def plot_shift_curve(result: dict[str, Any], path: Path, title: str = "") -> Path:
    """Test accuracy against shift in pixels: one line per direction and their mean."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for name, values in result["accuracy"].items():
        style = {"color": "black", "linewidth": 2.5} if name == "mean" else {"alpha": 0.6}
        ax.plot(result["shifts"], values, marker="o", label=name, **style)
    ax.set_xlabel("shift of the test images (pixels)")
    ax.set_ylabel("test accuracy")
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(title="direction")
    ax.set_title(title or "Accuracy on shifted test images (trained on centred ones)")
    return plotting.save_figure(fig, path)


def first_layer_image_shape(splits: DatasetSplits) -> tuple[int, int] | None:
    """(H, W) to draw first-layer weights as images: single-channel images or square inputs."""
    shape = splits.input_shape
    if len(shape) == 3 and shape[0] == 1:
        return shape[1], shape[2]
    side = math.isqrt(splits.num_features)
    return (side, side) if side * side == splits.num_features and side > 2 else None


def visualize(model: Any, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ModelSpec hook: first-layer weights as images, and the shift curve for images."""
    figures: dict[str, Path] = {}
    image_shape = first_layer_image_shape(splits)
    weight = model_state(model)["layers.0.weight"]  # (H1, D), or (C, D) without hidden layers
    if image_shape is not None:
        figures["first_layer_weights"] = plotting.plot_weights_as_images(
            weight[:MAX_UNITS_SHOWN],
            image_shape,
            vis_dir / f"{prefix}_first_layer.png",
            title=f"MLP first layer on {splits.name}: {min(len(weight), MAX_UNITS_SHOWN)} of "
            f"{len(weight)} units",
        )
    if len(splits.input_shape) == 3:
        result = shift_robustness(model, splits)
        figures["shift_robustness"] = plot_shift_curve(
            result,
            vis_dir / f"{prefix}_shift.png",
            title=f"MLP on {splits.name}: accuracy on shifted test images",
        )
    return figures
