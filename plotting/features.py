"""What a convolutional network sees: first-layer filters and feature maps as image grids.

First-layer filters act directly on pixels, so they can be drawn as small images: edge and
colour-blob detectors in a trained AlexNet (Krizhevsky et al. 2012, Fig. 3), noise in an
untrained one. Feature maps are the activations one layer produces for one input image.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from plotting.core import save_figure, to_numpy
from plotting.weights import grid_shape

if TYPE_CHECKING:  # for the annotation only: the plotting package imports no data code
    from data_utils import DatasetSplits

FIGURE_MAX_SIDE = 14.0  # inches; large grids shrink their cells instead of growing the PNG


def _grid_figure(num_cells: int, cell: float = 1.2) -> tuple[Any, np.ndarray]:
    rows, cols = grid_shape(num_cells)
    cell = min(cell, FIGURE_MAX_SIDE / cols, FIGURE_MAX_SIDE / rows)  # inches per image
    fig, axes = plt.subplots(
        rows,
        cols,
        figsize=(max(cell * cols, 4.0), cell * rows + 0.8),
        squeeze=False,
        layout="constrained",
    )
    for ax in axes.flat:
        ax.set_axis_off()
    return fig, axes


def _rescale(image: np.ndarray) -> np.ndarray:
    """Map an array's own min..max to 0..1 (a constant array becomes 0.5)."""
    low, high = float(image.min()), float(image.max())
    if high - low < 1e-12:
        return np.full_like(image, 0.5)
    return (image - low) / (high - low)


def plot_conv_filters(
    weight: Any, path: str | Path, max_filters: int = 64, title: str = ""
) -> Path:
    """Draw the filters of a convolution (usually the first layer) as a grid of small images.

    With three input channels (RGB images) each filter is one colour image, rescaled to 0..1 by
    its own min and max, as in AlexNet's Fig. 3. With any other number of input channels each
    (filter, channel) kernel is a separate grayscale image (one row of C_in images per filter
    when C_in > 1), on a symmetric scale around 0 set by that filter's largest ``|w|``: white
    pushes the output up, black down, mid-grey is 0.

    Args:
        weight: Array-like (C_out, C_in, k, k), e.g. ``model.c1.weight``; a torch tensor is
            detached and moved to the CPU.
        path: Where to write the PNG.
        max_filters: Draw at most this many filters (the first ones).
        title: Figure title; defaults to "Convolution filters".

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If ``weight`` is not 4-D with square kernels, is empty, holds NaN/Inf, or
            ``max_filters`` < 1.
    """
    weight = to_numpy(weight, "weight").astype(np.float64)
    if weight.ndim != 4 or weight.shape[0] == 0 or weight.shape[1] == 0:
        raise ValueError(f"weight must have shape (C_out, C_in, k, k), got {weight.shape}")
    if weight.shape[2] != weight.shape[3]:
        raise ValueError(f"kernels must be square (k, k), got {weight.shape[2:]}")
    if not np.all(np.isfinite(weight)):
        raise ValueError("weight contains NaN or Inf")
    if max_filters < 1:
        raise ValueError(f"max_filters must be >= 1, got {max_filters}")
    weight = weight[:max_filters]
    num_filters, in_channels = weight.shape[:2]
    heading = title or "Convolution filters"

    if in_channels == 3:
        fig, axes = _grid_figure(num_filters)
        for k, ax in enumerate(axes.flat[:num_filters]):
            # (3, k, k) -> (k, k, 3): matplotlib wants channels last
            ax.imshow(_rescale(weight[k]).transpose(1, 2, 0), interpolation="nearest")
        note = f"{num_filters} filters, RGB; each scaled to its own min..max"
    elif in_channels == 1:
        fig, axes = _grid_figure(num_filters)
        for k, ax in enumerate(axes.flat[:num_filters]):
            limit = float(np.abs(weight[k]).max()) or 1.0
            ax.imshow(weight[k, 0], cmap="gray", vmin=-limit, vmax=limit, interpolation="nearest")
        note = f"{num_filters} filters; white = positive, black = negative, grey = 0"
    else:
        # One mosaic image, filters as rows and input channels as columns, each kernel scaled by
        # its filter's max |w|; NaN separators stay blank. One imshow keeps 64 x 64 kernels fast.
        k = weight.shape[-1]
        limits = np.abs(weight).max(axis=(1, 2, 3), keepdims=True)  # (C_out, 1, 1, 1)
        scaled = weight / np.where(limits > 0, limits, 1.0)  # each filter in [-1, 1]
        mosaic = np.full((num_filters * (k + 1) - 1, in_channels * (k + 1) - 1), np.nan)
        for f in range(num_filters):
            for c in range(in_channels):
                mosaic[f * (k + 1) : f * (k + 1) + k, c * (k + 1) : c * (k + 1) + k] = scaled[f, c]
        height, width = mosaic.shape
        scale = min(FIGURE_MAX_SIDE / max(height, width), 0.25)  # inches per kernel pixel
        fig, ax = plt.subplots(
            figsize=(max(width * scale, 4.0), height * scale + 0.8), layout="constrained"
        )
        ax.set_axis_off()
        ax.imshow(mosaic, cmap="gray", vmin=-1.0, vmax=1.0, interpolation="nearest")
        note = (
            f"{num_filters} filters (rows) x {in_channels} input channels (columns); "
            "white = positive, black = negative"
        )
    fig.suptitle(f"{heading}\n{note}", fontsize="medium")
    return save_figure(fig, path)


def plot_feature_maps(maps: Any, path: str | Path, max_maps: int = 32, title: str = "") -> Path:
    """Draw the feature maps of one layer for one input as a grid of grayscale images.

    Each map is scaled to its own min..max (dark = low activation, bright = high), so weak maps
    stay visible; a constant map (a dead ReLU channel) is drawn mid-grey and titled "const".

    Args:
        maps: Array-like (C, H, W): one sample's activations, e.g. ``features[0]``.
        path: Where to write the PNG.
        max_maps: Draw at most this many channels (the first ones).
        title: Figure title; defaults to "Feature maps".

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If ``maps`` is not 3-D, is empty, holds NaN/Inf, or ``max_maps`` < 1.
    """
    maps = to_numpy(maps, "maps").astype(np.float64)
    if maps.ndim != 3 or 0 in maps.shape:
        raise ValueError(f"maps must have shape (C, H, W) for one sample, got {maps.shape}")
    if not np.all(np.isfinite(maps)):
        raise ValueError("maps contain NaN or Inf")
    if max_maps < 1:
        raise ValueError(f"max_maps must be >= 1, got {max_maps}")
    total = maps.shape[0]
    maps = maps[:max_maps]
    fig, axes = _grid_figure(len(maps))
    for c, ax in enumerate(axes.flat[: len(maps)]):
        constant = float(maps[c].max() - maps[c].min()) < 1e-12
        ax.imshow(_rescale(maps[c]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
        ax.set_title(f"{c}" + (" const" if constant else ""), fontsize="x-small")
    shown = f"{len(maps)} of {total} channels" if total > len(maps) else f"{total} channels"
    fig.suptitle(
        f"{title or 'Feature maps'}\n{shown}, {maps.shape[1]}x{maps.shape[2]}; "
        "each scaled to its own min..max",
        fontsize="medium",
    )
    return save_figure(fig, path)


def plot_stage_features(
    stage_outputs: Callable[[Any], Mapping[str, Any]],
    splits: DatasetSplits,
    vis_dir: str | Path,
    prefix: str,
    network: str,
) -> dict[str, Path]:
    """Draw what each stage of a network makes of the first test image, one grid per stage.

    The image is transformed as the loaders transform a batch (``splits.transform``); which
    stages there are is the model's own anatomy, given by ``stage_outputs``.

    Args:
        stage_outputs: ``image (C, H, W) -> {stage name: activations (C_s, H_s, W_s)}``, in the
            network's order.
        splits: The data; its first test image and that image's class are used.
        vis_dir: Folder of the figures.
        prefix: Figures are ``<vis_dir>/<prefix>_features_<stage>.png``.
        network: The network's name in the titles: "<network> <stage> on the first test image
            (<class>)".

    Returns:
        ``{"features_<stage>": path}`` for every stage.
    """
    x, label = splits.example("test")
    image = x[0]  # (1, C, H, W) -> (C, H, W)
    return {
        f"features_{name}": plot_feature_maps(
            maps,
            Path(vis_dir) / f"{prefix}_features_{name}.png",
            title=f"{network} {name} on the first test image ({label})",
        )
        for name, maps in stage_outputs(image).items()
    }


def plot_samples(images: Any, path: str | Path, title: str = "") -> Path:
    """Draw generated (or any) images as a grid: what a generative model's samples look like.

    Args:
        images: (N, C, H, W) with C = 1 (grayscale) or 3 (RGB), values in [0, 1] (clipped).
        path: Where to write the PNG.
        title: Figure title; defaults to "N samples".

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If ``images`` is not (N, 1 or 3, H, W) with N >= 1, or holds NaN/Inf.
    """
    images = to_numpy(images, "images").astype(np.float64)
    if images.ndim != 4 or images.shape[0] == 0 or images.shape[1] not in (1, 3):
        raise ValueError(f"images must be (N, 1 or 3, H, W) with N >= 1, got {images.shape}")
    fig, axes = _grid_figure(len(images))
    for ax, image in zip(axes.flat, np.clip(images, 0.0, 1.0)):
        if image.shape[0] == 1:
            ax.imshow(image[0], cmap="gray", vmin=0.0, vmax=1.0)
        else:
            ax.imshow(image.transpose(1, 2, 0))  # (3, H, W) -> (H, W, 3)
    fig.suptitle(title or f"{len(images)} samples")
    return save_figure(fig, path)
