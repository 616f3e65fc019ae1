"""What the U-Net predicts, seen: a validation slice, its true membranes, the U-Net's and the
threshold baseline's predictions, and where each is wrong.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(the learning curves, the gradient audit).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from model import CELL, MEMBRANE, pixel_error, threshold_predict

import plotting
from engine.modelio import evaluating


@torch.no_grad()
def predict_slice(model: Any, splits: Any, index: int) -> dict[str, np.ndarray]:
    """One validation slice: the image (H, W) in [0, 1], the true mask, the U-Net's and the
    threshold's predicted classes (H, W), and the U-Net's membrane probability."""
    image = splits.transform(splits.x_val[index : index + 1])  # (1, 1, H, W) in [0, 1]
    with evaluating(model):
        scores = model(image)  # (1, 2, H, W)
    return {
        "image": image[0, 0].numpy(),
        "truth": splits.y_val[index].numpy(),
        "unet": scores.argmax(1)[0].numpy(),
        "threshold": threshold_predict(image, model.threshold)[0].numpy(),
        "membrane_probability": scores.softmax(1)[0, MEMBRANE].numpy(),
    }


def error_map(pred: np.ndarray, truth: np.ndarray) -> np.ndarray:
    """An RGB picture of the mistakes (H, W, 3): white where right, red where membrane is
    predicted on a cell, blue where a true membrane is missed."""
    rgb = np.ones((*truth.shape, 3))
    rgb[(pred == MEMBRANE) & (truth == CELL)] = (0.85, 0.1, 0.1)
    rgb[(pred == CELL) & (truth == MEMBRANE)] = (0.1, 0.3, 0.9)
    return rgb


def plot_prediction(model: Any, splits: Any, path: Path, index: int = 0, size: int = 256) -> Path:
    """Input, truth, the U-Net's membrane probability and its error map, and the threshold's
    error map, on the top-left size x size corner of one validation slice (the whole slice is
    predicted; the corner is shown so that membranes stay visible)."""
    slice_ = predict_slice(model, splits, index)
    corner = (slice(0, size), slice(0, size))
    unet_error = float(pixel_error(torch.from_numpy(slice_["unet"]), splits.y_val[index]))
    base_error = float(pixel_error(torch.from_numpy(slice_["threshold"]), splits.y_val[index]))
    panels = [
        ("input", slice_["image"], "gray"),
        ("truth (black: membrane)", slice_["truth"], "gray"),
        ("U-Net: P(membrane)", slice_["membrane_probability"], "magma"),
        (
            f"U-Net errors (slice: {unet_error:.3f})",
            error_map(slice_["unet"], slice_["truth"]),
            None,
        ),
        (
            f"threshold errors (slice: {base_error:.3f})",
            error_map(slice_["threshold"], slice_["truth"]),
            None,
        ),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3.2 * len(panels), 3.6))
    for ax, (title, picture, cmap) in zip(axes, panels):
        ax.imshow(picture[corner], cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(
        f"validation slice {index} of {len(splits.x_val)}, top-left {size}x{size} "
        "(red: membrane predicted on a cell; blue: membrane missed)",
        fontsize=9,
    )
    return plotting.save_figure(fig, path)


def visualize(model: Any, splits: Any, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ``--visualize`` hook: the prediction figure on the first validation slice."""
    return {"prediction": plot_prediction(model, splits, vis_dir / f"{prefix}_prediction.png")}
