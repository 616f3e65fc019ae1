"""The Hopfield network's own figures: pattern grids, energy traces, weights, capacity curves.

Model-specific for now (architecture section 5.1); ``plot_pattern_grid`` and
``plot_capacity_curves`` are general enough to move to the shared plotting package once a
second model (the Boltzmann machine) needs them. Each function saves a PNG with
``plotting.save_figure`` and returns its path.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np

from plotting import save_figure  # also selects the Agg backend before any figure is drawn


def plot_pattern_grid(
    images: np.ndarray,
    image_shape: tuple[int, int],
    path: Path,
    col_titles: Sequence[str],
    row_titles: Sequence[str] | None = None,
    cell_titles: Sequence[Sequence[str]] | None = None,
    title: str = "",
) -> Path:
    """Draw (R, C, N) states of +-1 as an R x C grid of black-on-white images.

    Args:
        images: States, row by column; +1 is drawn black (ink), -1 white.
        image_shape: (H, W) with H * W = N.
        path: Where to write the PNG.
        col_titles: One title per column, above the first row.
        row_titles: Optional label at the left of each row.
        cell_titles: Optional small caption under each image (e.g. its overlap).
        title: Figure title.
    """
    rows, cols = images.shape[:2]
    fig, axes = plt.subplots(
        rows, cols, figsize=(1.3 * cols + 0.6, 1.45 * rows + 0.6), layout="constrained"
    )
    axes = np.asarray(axes).reshape(rows, cols)
    for r in range(rows):
        for c in range(cols):
            ax = axes[r, c]
            ax.imshow(images[r, c].reshape(image_shape), cmap="gray_r", vmin=-1, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(col_titles[c], fontsize="small")
            if cell_titles is not None:
                ax.set_xlabel(cell_titles[r][c], fontsize="x-small")
            if row_titles is not None and c == 0:
                ax.set_ylabel(row_titles[r], fontsize="small")
    if title:
        fig.suptitle(title)
    return save_figure(fig, path)


def plot_energy_traces(traces: dict[str, np.ndarray], path: Path, num_neurons: int) -> Path:
    """Energy after every single-neuron update, one line per recall: {label: (T, B)} arrays."""
    fig, ax = plt.subplots(figsize=(8, 4.2))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, trace) in enumerate(traces.items()):
        sweeps = np.arange(1, len(trace) + 1) / num_neurons  # updates -> sweeps
        for b in range(trace.shape[1]):
            ax.plot(sweeps, trace[:, b], color=colours[k % len(colours)], lw=1, alpha=0.8)
        ax.plot([], [], color=colours[k % len(colours)], label=label)
    ax.set(
        xlabel="sweeps (N single-neuron updates each)",
        ylabel="energy E = -1/2 s^T W s",
        title="Asynchronous recall never raises the energy",
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
    return save_figure(fig, path)


def plot_weight_matrix(weight: np.ndarray, path: Path, title: str = "") -> Path:
    """The (N, N) weight matrix as an image, symmetric colour scale (red +, blue -)."""
    fig, ax = plt.subplots(figsize=(5.5, 4.8))
    limit = float(np.abs(weight).max()) or 1.0
    image = ax.imshow(weight, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.colorbar(image, ax=ax)
    ax.set(xlabel="neuron j", ylabel="neuron i", title=title or "Hebbian weights W_ij")
    return save_figure(fig, path)


def plot_capacity_curves(
    curves: dict[str, dict[str, np.ndarray]], path: Path, critical_load: float
) -> Path:
    """Mean final overlap and share of exact recalls against P / N, one colour per pattern set.

    Args:
        curves: label -> {"load": (K,), "overlap": (K,), "exact": (K,)}.
        path: Where to write the PNG.
        critical_load: Drawn as a vertical line (0.138, Amit, Gutfreund and Sompolinsky 1985).
    """
    fig, ax = plt.subplots(figsize=(9, 4.8))
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (label, curve) in enumerate(curves.items()):
        colour = colours[k % len(colours)]
        ax.plot(
            curve["load"], curve["overlap"], "o-", color=colour, ms=3, label=f"{label}: overlap"
        )
        ax.plot(curve["load"], curve["exact"], "s--", color=colour, ms=3, label=f"{label}: exact")
    ax.axvline(critical_load, color="gray", ls=":", label=f"P / N = {critical_load}")
    ax.set_xscale("log")
    ax.set(
        xlabel="patterns per neuron P / N (log scale)",
        ylabel="mean final overlap m / share exact",
        title="Capacity: recall from the stored pattern itself",
        ylim=(-0.05, 1.05),
    )
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize="small", loc="lower left")
    return save_figure(fig, path)
