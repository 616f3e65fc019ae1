"""Learning curves: loss and accuracy per epoch, training split against validation split."""

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.ticker import MaxNLocator

from plotting.core import save_figure

LOSS_KEYS = ("train_loss", "val_loss")
ACCURACY_KEYS = ("train_accuracy", "val_accuracy")
STYLES = {  # train solid, validation dashed, the same colours in both panels
    "train": {"color": "tab:blue", "linestyle": "-"},
    "val": {"color": "tab:orange", "linestyle": "--"},
}
MARKER_MAX_POINTS = 30  # draw a marker per epoch for short runs, so one epoch is still visible


def history_series(
    history: Mapping[str, Any], key: str, *, drop_non_finite: bool = False
) -> tuple[np.ndarray, np.ndarray] | None:
    """Extract one curve from a training history, skipping epochs where it was not measured.

    Args:
        history: The history returned by the Trainer: lists with one value per epoch, keyed by
            ``"epoch"``, ``"train_loss"``, ``"val_loss"``, ``"train_accuracy"``,
            ``"val_accuracy"``.
        key: Which curve to extract.
        drop_non_finite: Also drop NaN and Inf. Used for accuracy, where the Trainer writes
            NaN when it cannot compute it (scores that are not (B, C)); a NaN loss instead
            means training diverged and is kept.

    Returns:
        ``(epochs, values)`` as float arrays with the None entries removed, or None if nothing
        is left (key missing, None, empty, all None). Without an ``"epoch"`` list, epochs are
        numbered from 1.

    Raises:
        ValueError: If the curve and the ``"epoch"`` list differ in length.
    """
    raw = history.get(key)
    if raw is None or len(raw) == 0:
        return None
    raw_epochs = history.get("epoch")
    if raw_epochs is None:
        raw_epochs = range(1, len(raw) + 1)
    if len(raw_epochs) != len(raw):
        raise ValueError(
            f"history[{key!r}] has {len(raw)} values but history['epoch'] has "
            f"{len(raw_epochs)}; every curve needs one value per epoch (None where not measured)"
        )
    kept = [
        (epoch, value)
        for epoch, value in zip(raw_epochs, raw)
        if value is not None and (not drop_non_finite or np.isfinite(value))
    ]
    if not kept:
        return None
    epochs, values = zip(*kept)
    return np.asarray(epochs, dtype=np.float64), np.asarray(values, dtype=np.float64)


def _draw_panel(
    ax: Axes, curves: dict[str, tuple[np.ndarray, np.ndarray]], ylabel: str, best: str
) -> None:
    """Draw the train/val curves of one metric; mark the best validation epoch and any NaN."""
    for key, (epochs, values) in curves.items():
        split = key.split("_")[0]
        marker = "o" if len(epochs) <= MARKER_MAX_POINTS else None
        ax.plot(epochs, values, marker=marker, markersize=3, label=split, **STYLES[split])
        finite = np.isfinite(values)
        if not finite.all():
            first_bad = epochs[np.argmin(finite)]
            ax.axvline(
                first_bad,
                color="tab:red",
                linestyle=":",
                linewidth=1.5,
                label=f"{split}: first NaN/Inf (epoch {first_bad:g})",
            )
        if split == "val" and finite.any():
            pick = np.nanargmin if best == "min" else np.nanargmax
            index = pick(np.where(finite, values, np.nan))
            ax.plot(
                epochs[index],
                values[index],
                marker="*",
                markersize=12,
                color="tab:green",
                linestyle="none",
                label=f"best val {values[index]:.4g} (epoch {epochs[index]:g})",
            )
    ax.set_xlabel("epoch")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")


def plot_learning_curves(
    history: Mapping[str, Sequence[Any]], path: str | Path, *, title: str = ""
) -> Path:
    """Plot loss (left) and accuracy (right) per epoch for the training and validation splits.

    Validation curves are dashed; a green star marks the best validation epoch (lowest loss,
    highest accuracy), and a red dotted line the first epoch whose loss is NaN or Inf. A panel
    is left out when none of its curves are present (a history without accuracy gives one
    panel). What to look for: docs/visualization/Playbooks.md, "Learning curves".

    Args:
        history: Lists with one value per epoch under ``"epoch"``, ``"train_loss"``,
            ``"val_loss"``, ``"train_accuracy"``, ``"val_accuracy"``. Missing keys, None lists
            and None entries (epochs without a validation pass) are skipped, and so are NaN
            accuracies (the Trainer's "not computed"); other keys are ignored.
        path: Where to write the PNG.
        title: Figure title; defaults to "Learning curves".

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If there is nothing to plot, or a curve and ``"epoch"`` differ in length.
    """
    if not isinstance(history, Mapping):
        raise ValueError(f"history must be a dict of per-epoch lists, got {type(history).__name__}")
    panels = []
    for keys, ylabel, best in ((LOSS_KEYS, "loss", "min"), (ACCURACY_KEYS, "accuracy", "max")):
        drop = ylabel == "accuracy"  # NaN accuracy means "not computed", NaN loss "diverged"
        curves = {
            key: series
            for key in keys
            if (series := history_series(history, key, drop_non_finite=drop))
        }
        if curves:
            panels.append((curves, ylabel, best))
    if not panels:
        raise ValueError(
            "history has no values to plot; expected per-epoch lists under at least one of "
            f"{list(LOSS_KEYS + ACCURACY_KEYS)}, got keys {sorted(history)}"
        )

    fig, axes = plt.subplots(
        1, len(panels), figsize=(5.5 * len(panels), 4), squeeze=False, layout="constrained"
    )
    for ax, (curves, ylabel, best) in zip(axes[0], panels):
        _draw_panel(ax, curves, ylabel, best)
    fig.suptitle(title or "Learning curves")
    return save_figure(fig, path)


def draw_epoch_curves(
    ax: Axes,
    curves: Sequence[tuple[Sequence[float], Mapping[str, Any]]],
    *,
    ylabel: str | None = None,
) -> None:
    """Draw one per-epoch curve per network on one axis, for studies that compare networks.

    Each curve brings its own matplotlib style (``label``, ``color``, ``linestyle``,
    ``marker``, ...), so a study can say what its colours and line styles mean (depth,
    shortcuts, BN). The axis gets an "epoch" label with integer ticks, a light grid and a
    legend, drawn last so that it also lists what is already on the axis (a reference line).

    Args:
        ax: The axis to draw on (the caller owns the figure and saves it).
        curves: ``(values, style)`` pairs; ``values`` holds one number per epoch, epoch 1 first.
        ylabel: Label of the y axis; None leaves it as it is.

    Raises:
        ValueError: If a curve has no values.
    """
    for values, style in curves:
        if len(values) == 0:
            raise ValueError(f"curve {style.get('label', '')!r} has no values (one per epoch)")
        ax.plot(range(1, len(values) + 1), values, **style)
    ax.set_xlabel("epoch")
    ax.xaxis.get_major_locator().set_params(integer=True)
    if ylabel is not None:
        ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small")
