"""Weights as images: the learned template of each unit, drawn in the input's pixel layout."""

import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np

from plotting.core import save_figure, to_numpy

TITLES_MAX_UNITS = 25  # default index titles only while they stay readable
FIGURE_MAX_WIDTH = 14.0  # inches; wide grids shrink their cells instead of growing the PNG


def grid_shape(num_images: int) -> tuple[int, int]:
    """Rows and columns for a grid of images: one row up to 5, two rows of 5 up to 10, then
    a near-square grid (64 hidden units give 8 x 8).

    Args:
        num_images: How many images to place (>= 1).

    Returns:
        ``(rows, cols)`` with ``rows * cols >= num_images``.
    """
    if num_images <= 5:
        cols = num_images
    elif num_images <= 10:
        cols = 5
    else:
        cols = math.ceil(math.sqrt(num_images))
    return math.ceil(num_images / cols), cols


def plot_weights_as_images(
    weights: Any,
    image_shape: tuple[int, int],
    path: str | Path,
    titles: Sequence[str] | None = None,
    *,
    title: str = "",
) -> Path:
    """Draw each row of a weight matrix as an image, e.g. one template per class.

    For a linear model on images (perceptron, ADALINE, the first layer of an MLP), row k of
    the (K, D) weight matrix holds one weight per input pixel; reshaped to the image it shows
    which pixels push unit k up (red) or down (blue). Each image uses a symmetric colour scale
    around 0 set by its own largest ``|w|``, so every template is readable even when their
    magnitudes differ. The bias is not part of the image: pass the weights without it.

    Args:
        weights: Array-like of shape (K, D) with D = H * W; a single vector (D,) is drawn as
            one image (the binary perceptron).
        image_shape: ``(H, W)`` of the input images, e.g. ``(28, 28)`` for Fashion-MNIST.
        path: Where to write the PNG.
        titles: Optional title per image (class names); default the unit index for up to
            25 units, none beyond.
        title: Figure title; defaults to "Weights as images".

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If ``weights`` is not 1-D or 2-D, is empty, holds NaN/Inf, does not match
            ``image_shape``, or ``titles`` has the wrong length.
    """
    weights = to_numpy(weights, "weights").astype(np.float64)
    if weights.ndim == 1:
        weights = weights[None, :]  # (D,) -> (1, D)
    if weights.ndim != 2 or weights.shape[0] == 0:
        raise ValueError(f"weights must have shape (K, D) with K >= 1, got {weights.shape}")
    if len(image_shape) != 2 or any(int(side) != side or side < 1 for side in image_shape):
        raise ValueError(f"image_shape must be two positive integers (H, W), got {image_shape}")
    height, width = int(image_shape[0]), int(image_shape[1])
    if weights.shape[1] != height * width:
        raise ValueError(
            f"weights have D = {weights.shape[1]} values per unit but image_shape {image_shape} "
            f"has {height * width} pixels; pass the weights without the bias"
        )
    if not np.all(np.isfinite(weights)):
        raise ValueError("weights contain NaN or Inf")
    num_units = weights.shape[0]
    if titles is not None and len(titles) != num_units:
        raise ValueError(f"titles has {len(titles)} entries for {num_units} weight rows")
    if titles is None and num_units <= TITLES_MAX_UNITS:
        titles = [str(k) for k in range(num_units)]

    rows, cols = grid_shape(num_units)
    cell = min(1.8, FIGURE_MAX_WIDTH / cols)  # inches per image
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(max(cell * cols, 4.0), cell * rows + 0.8),
        squeeze=False,
        layout="constrained",
    )
    images = weights.reshape(num_units, height, width)  # (K, D) -> (K, H, W), row-major pixels
    for k, ax in enumerate(axes.flat):
        ax.set_axis_off()
        if k >= num_units:
            continue
        limit = float(np.abs(images[k]).max()) or 1.0  # an all-zero template stays white
        ax.imshow(images[k], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        if titles is not None:
            ax.set_title(titles[k], fontsize="small")
    fig.suptitle(
        f"{title or 'Weights as images'}\nred = positive, blue = negative; "
        "each image scaled to its own max |w|",
        fontsize="medium",
    )
    return save_figure(fig, path)
