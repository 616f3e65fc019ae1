"""Gradient audit: per-layer gradient norm and weight-update ratio over training steps.

The bands come from the debugging guide ("If you don't audit the gradients, you are training
on hope"). The update ratio ``||W_after - W_before|| / ||W_before||`` (``lr * ||grad W|| / ||W||``
for plain SGD; engine/audit.py measures the real change, which is right for every optimizer and
for learning rules without gradients) is healthy near 1e-3; below 1e-5 the layer is frozen,
above 1e-1 it is unstable. A gradient norm of exactly 0 means a broken graph (``requires_grad``,
``.detach()``), above 10 it is exploding, NaN means overflow.
"""

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.cm import ScalarMappable
from matplotlib.colors import Normalize
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from plotting.core import save_figure

UPDATE_RATIO_FROZEN = 1e-5  # below: the layer is not learning (lr too low, detached graph)
UPDATE_RATIO_TARGET = 1e-3  # the "Goldilocks zone"
UPDATE_RATIO_UNSTABLE = 1e-1  # above: steps too large (clip, raise batch size, lower lr)
GRAD_NORM_EXPLODING = 10.0  # above: exploding gradients, clip_grad_norm_
LEGEND_MAX_LAYERS = 12  # deeper models get a depth colour bar instead of a legend
MARKER_MAX_POINTS = 30  # short audits get a marker per step
FEW_AUDITS = 3  # up to this many audit steps: one group of markers per step, not a line plot
GROUP_WIDTH = 0.6  # share of a step's slot that its group of layer markers spans
EDGE_BOTTOM, EDGE_TOP = 0.03, 0.97  # axes-fraction heights where 0 and NaN/Inf are drawn
EMPTY_SLOT = {  # what an audit step without a single value means, per panel
    "grad_norm": "no gradient norm recorded",
    "update_ratio": "no update ratio: the weights\nwere all 0 before this step",
}
FAR = 1e30  # band shading extends "to infinity"; the y-limits cut it


def audit_series(
    audit: Sequence[Mapping[str, Any]], metric: str
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Collect one metric per layer across audit records.

    Args:
        audit: Audit records ``{"step": int, "epoch": int, "layers": {name: {"grad_norm":
            float | None, "update_ratio": float | None}}}``.
        metric: ``"grad_norm"`` or ``"update_ratio"``.

    Returns:
        ``{layer name: (steps, values)}`` as float arrays, layers in order of first
        appearance (parameter order, i.e. depth). None values are skipped; a layer with no
        values at all is left out, so NumPy models without gradients give ``{}`` for
        ``"grad_norm"``.

    Raises:
        ValueError: If a record is malformed or a value is negative.
    """
    series: dict[str, tuple[list[float], list[float]]] = {}
    for index, record in enumerate(audit):
        if (
            not isinstance(record, Mapping)
            or "step" not in record
            or not isinstance(record.get("layers"), Mapping)
        ):
            raise ValueError(
                f"audit[{index}] must be a dict with 'step' and a 'layers' dict, got {record!r}"
            )
        for name, stats in record["layers"].items():
            if not isinstance(stats, Mapping):
                raise ValueError(f"audit[{index}]['layers'][{name!r}] must be a dict")
            value = stats.get(metric)
            if value is None:
                continue
            value = float(value)
            if value < 0:
                raise ValueError(
                    f"audit[{index}] layer {name!r}: {metric} must be >= 0, got {value}"
                )
            steps, values = series.setdefault(name, ([], []))
            steps.append(float(record["step"]))
            values.append(value)
    return {name: (np.asarray(s), np.asarray(v)) for name, (s, v) in series.items()}


def _draw_bands(ax: Axes, metric: str) -> list[Line2D]:
    """Shade the debugging guide's bands on one panel; return proxy handles for its legend."""
    if metric == "update_ratio":
        ax.axhspan(UPDATE_RATIO_FROZEN, UPDATE_RATIO_UNSTABLE, color="tab:green", alpha=0.1)
        ax.axhspan(1 / FAR, UPDATE_RATIO_FROZEN, color="tab:blue", alpha=0.08)
        ax.axhspan(UPDATE_RATIO_UNSTABLE, FAR, color="tab:red", alpha=0.08)
        ax.axhline(UPDATE_RATIO_TARGET, color="tab:green", linestyle="--", linewidth=1.2)
        return [
            Line2D([], [], color="tab:green", alpha=0.3, linewidth=8, label="healthy 1e-5 .. 1e-1"),
            Line2D([], [], color="tab:green", linestyle="--", label="target 1e-3"),
            Line2D([], [], color="tab:blue", alpha=0.25, linewidth=8, label="frozen < 1e-5"),
            Line2D([], [], color="tab:red", alpha=0.25, linewidth=8, label="unstable > 1e-1"),
        ]
    ax.axhspan(GRAD_NORM_EXPLODING, FAR, color="tab:red", alpha=0.08)
    ax.axhline(GRAD_NORM_EXPLODING, color="tab:red", linestyle="--", linewidth=1.2)
    return [Line2D([], [], color="tab:red", linestyle="--", label="exploding > 10")]


def _set_log_limits(ax: Axes, values: list[np.ndarray], reference: tuple[float, float]) -> None:
    """Log-scale y-limits that hold every positive finite value and the reference band."""
    data = np.concatenate(values) if values else np.empty(0)
    positive = data[np.isfinite(data) & (data > 0)]
    low = min(reference[0], positive.min()) if positive.size else reference[0]
    high = max(reference[1], positive.max()) if positive.size else reference[1]
    ax.set_yscale("log")
    ax.set_ylim(low / 5.0, high * 5.0)  # headroom for the 0 and NaN/Inf edge markers


def _step_positions(
    steps: list[float], names: list[str]
) -> Callable[[str, np.ndarray], np.ndarray] | None:
    """Where each layer's values go on the x axis when there are few audits, else None.

    With at most ``FEW_AUDITS`` audit steps a line plot degenerates (one column of dots, an
    axis ticked in fractions of a step), so each step gets a slot of width 1 at 0, 1, 2, ...,
    and the layers sit side by side in it, one marker each, in the same order in every slot.
    """
    if len(steps) > FEW_AUDITS:
        return None
    slot = {step: i for i, step in enumerate(steps)}
    offset = {
        name: (i - (len(names) - 1) / 2) * GROUP_WIDTH / max(len(names), 1)
        for i, name in enumerate(names)
    }

    def position(name: str, layer_steps: np.ndarray) -> np.ndarray:
        return np.array([slot[step] + offset[name] for step in layer_steps])

    return position


def _draw_panel(
    ax: Axes,
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    colors: dict[str, Any],
    metric: str,
    position: Callable[[str, np.ndarray], np.ndarray] | None,
) -> None:
    """Draw one metric per layer on a log axis; zeros and NaN/Inf go on the panel edges.

    ``position`` maps a layer's steps to x positions when there are few audits (markers side by
    side, no lines); None plots the steps themselves, as lines.
    """
    label = {"grad_norm": "gradient norm", "update_ratio": "update ratio |dW| / |W|"}[metric]
    ax.set_ylabel(label)
    if not series:
        note = {
            "grad_norm": "no gradient norms recorded\n(NumPy learning rules such as the "
            "perceptron rule have no autograd gradients)",
            "update_ratio": "no update ratios recorded",
        }[metric]
        ax.text(0.5, 0.5, note, ha="center", va="center", transform=ax.transAxes, color="dimgray")
        ax.set_yticks([])
        return
    ax.grid(alpha=0.3)
    handles = _draw_bands(ax, metric)
    reference = (1e-6, 1.0) if metric == "update_ratio" else (1e-2, 1e2)
    _set_log_limits(ax, [values for _, values in series.values()], reference)
    edge = ax.get_xaxis_transform()  # x in data units, y as a fraction of the axes height
    zero_seen = bad_seen = False
    for name, (steps, values) in series.items():
        normal = np.isfinite(values) & (values > 0)
        plotted = np.where(normal, values, np.nan)  # gaps where the value is 0 or NaN/Inf
        if position is not None:
            steps = position(name, steps)
            ax.plot(steps, plotted, "o", color=colors[name], markersize=8, markeredgecolor="black")
        else:
            marker = "o" if len(steps) <= MARKER_MAX_POINTS else None
            ax.plot(steps, plotted, color=colors[name], marker=marker, markersize=3, linewidth=1.2)
        zero = values == 0
        bad = ~np.isfinite(values)
        if zero.any():
            ax.plot(
                steps[zero],
                np.full(zero.sum(), EDGE_BOTTOM),
                "v",
                color=colors[name],
                markeredgecolor="black",
                markersize=7,
                transform=edge,
                clip_on=False,
            )
            zero_seen = True
        if bad.any():
            ax.plot(
                steps[bad],
                np.full(bad.sum(), EDGE_TOP),
                "^",
                color=colors[name],
                markeredgecolor="black",
                markersize=7,
                transform=edge,
                clip_on=False,
            )
            bad_seen = True
    if zero_seen:
        meaning = "broken graph" if metric == "grad_norm" else "no update"
        handles.append(
            Line2D(
                [],
                [],
                marker="v",
                color="gray",
                markeredgecolor="black",
                linestyle="none",
                label=f"exactly 0 ({meaning})",
            )
        )
    if bad_seen:
        handles.append(
            Line2D(
                [],
                [],
                marker="^",
                color="gray",
                markeredgecolor="black",
                linestyle="none",
                label="NaN/Inf (overflow)",
            )
        )
    # outside the axes, so no legend can hide a data point or an edge marker
    ax.legend(handles=handles, fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))


def plot_gradient_audit(
    audit: Sequence[Mapping[str, Any]], path: str | Path, *, title: str = ""
) -> Path:
    """Plot per-layer gradient norms (top) and update ratios (bottom) over training steps.

    Both panels use a log y-axis with the debugging guide's bands shaded. Values of exactly 0
    cannot sit on a log axis, so they are drawn as down-triangles on the bottom edge; NaN and
    Inf as up-triangles on the top edge. Records whose ``grad_norm`` is None (NumPy models,
    whose learning rules have no autograd gradients) are skipped, and if no layer has a
    gradient norm the top panel says so. With at most 3 audit steps (a short run) each step
    gets a slot labelled with it, the layers side by side in it, one marker each, and an empty
    slot says why; with more, lines over a step axis ticked in whole steps. Up to 12 layers get
    a legend; deeper models are coloured by depth with a colour bar.

    Args:
        audit: Records ``{"step": int, "epoch": int, "layers": {name: {"grad_norm": float |
            None, "update_ratio": float | None}}}``, as collected by the Trainer.
        path: Where to write the PNG.
        title: Figure title; defaults to "Gradient audit".

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If the audit is empty, malformed, holds negative values, or has neither a
            gradient norm nor an update ratio anywhere.
    """
    if isinstance(audit, Mapping) or not isinstance(audit, Sequence) or len(audit) == 0:
        raise ValueError("audit must be a non-empty list of audit records")
    panels = {metric: audit_series(audit, metric) for metric in ("grad_norm", "update_ratio")}
    if not any(panels.values()):
        raise ValueError("audit has no grad_norm or update_ratio values to plot")

    # every layer of the audit, in order of first appearance, also those with no values at all
    names = list(dict.fromkeys(name for record in audit for name in record["layers"]))
    if len(names) <= 10:
        palette = plt.get_cmap("tab10").colors
        colors = {name: palette[i] for i, name in enumerate(names)}
    else:
        depth = plt.get_cmap("viridis")
        colors = {name: depth(i / (len(names) - 1)) for i, name in enumerate(names)}

    # every audit step, also those where no layer has a value (zero weights before the step)
    steps = sorted({float(record["step"]) for record in audit})
    position = _step_positions(steps, names)

    fig, axes = plt.subplots(2, 1, figsize=(10, 7), sharex=True, layout="constrained")
    for ax, (metric, series) in zip(axes, panels.items()):
        _draw_panel(ax, series, colors, metric, position)
        if position is not None and series:  # say why a slot is empty rather than leave it blank
            shown = {step for layer_steps, _ in series.values() for step in layer_steps}
            for slot, step in enumerate(steps):
                if step not in shown:
                    ax.text(
                        slot,
                        0.5,
                        EMPTY_SLOT[metric],
                        ha="center",
                        va="center",
                        color="dimgray",
                        transform=ax.get_xaxis_transform(),
                    )
    if position is not None:  # a slot per audit step, labelled with the step
        axes[1].set_xticks(range(len(steps)), [f"{step:.0f}" for step in steps])
        axes[1].set_xlim(-0.5, len(steps) - 0.5)
        for ax in axes:
            for boundary in np.arange(0.5, len(steps) - 1):
                ax.axvline(boundary, color="gray", linewidth=0.8)
        axes[1].set_xlabel("step (one audit per slot, the layers side by side)")
    else:
        axes[1].xaxis.set_major_locator(MaxNLocator(integer=True))
        margin = 0.02 * (steps[-1] - steps[0])
        axes[1].set_xlim(steps[0] - margin, steps[-1] + margin)
        axes[1].set_xlabel("step")
    if len(names) <= LEGEND_MAX_LAYERS:
        plotted = {name for series in panels.values() for name in series}
        style = {"marker": "o", "linestyle": "none"} if position is not None else {}
        layer_handles = [
            Line2D(
                [],
                [],
                color=colors[name],
                label=name if name in plotted else f"{name} (no values)",
                **style,
            )
            for name in names
        ]
        fig.legend(
            handles=layer_handles,
            loc="outside lower center",
            title="layer",
            ncols=min(len(names), 4),
            fontsize="small",
        )
    else:
        scale = ScalarMappable(norm=Normalize(0, len(names) - 1), cmap="viridis")
        fig.colorbar(
            scale, ax=axes, shrink=0.8, aspect=40, label=f"layer index (0 = first of {len(names)})"
        )
    fig.suptitle(title or "Gradient audit")
    return save_figure(fig, path)
