"""Classifier plots: the confusion matrix and the decision boundary of a 2-D classifier."""

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.colors import Colormap, ListedColormap
from matplotlib.ticker import MaxNLocator

from plotting.core import save_figure, to_class_indices, to_numpy

ANNOTATE_MAX_CLASSES = 20  # beyond this, numbers in the cells become unreadable
GRID_MARGIN = 0.1  # the decision-boundary grid extends 10 % of the data range past the data


def confusion_counts(y_true: np.ndarray, y_pred: np.ndarray, num_classes: int) -> np.ndarray:
    """Count (true class, predicted class) pairs.

    Args:
        y_true: True class indices, int array of shape (N,).
        y_pred: Predicted class indices, int array of shape (N,).
        num_classes: Number of classes K; every index must be below it.

    Returns:
        An int64 array of shape (K, K): entry [i, j] counts samples of class i predicted as j.
    """
    flat = y_true * num_classes + y_pred  # (N,) index into the flattened (K, K) matrix
    return np.bincount(flat, minlength=num_classes * num_classes).reshape(num_classes, num_classes)


def _class_colormap(num_classes: int) -> Colormap:
    """One distinct colour per class: tab10, tab20, or viridis samples beyond 20 classes."""
    if num_classes <= 10:
        colors = plt.get_cmap("tab10").colors[:num_classes]
    elif num_classes <= 20:
        colors = plt.get_cmap("tab20").colors[:num_classes]
    else:
        colors = plt.get_cmap("viridis")(np.linspace(0, 1, num_classes))
    return ListedColormap(colors)


def plot_confusion_matrix(
    y_true: Any,
    y_pred: Any,
    class_names: Sequence[str],
    path: str | Path,
    normalize: bool = False,
    *,
    title: str = "",
) -> Path:
    """Plot the confusion matrix: rows are true classes, columns predicted classes.

    The title reports overall accuracy. With ``normalize=True`` each row is divided by its
    total, so the diagonal reads as per-class recall and rare classes are as visible as common
    ones; rows of classes absent from ``y_true`` stay zero. Cells are annotated with their
    value for up to 20 classes.

    Args:
        y_true: True class indices, array-like of shape (N,) (list, NumPy array or tensor).
        y_pred: Predicted class indices, array-like of shape (N,).
        class_names: One name per class; its length fixes the number of classes K.
        path: Where to write the PNG.
        normalize: Show row fractions instead of counts.
        title: Figure title; defaults to "Confusion matrix".

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: On empty or mismatched inputs, no class names, or a label outside
            ``0..K-1``.
    """
    y_true = to_class_indices(y_true, "y_true")
    y_pred = to_class_indices(y_pred, "y_pred")
    num_classes = len(class_names)
    if num_classes == 0:
        raise ValueError("class_names must name at least one class")
    if y_true.size == 0 or y_true.shape != y_pred.shape:
        raise ValueError(
            f"y_true and y_pred must be non-empty and of equal length, got {y_true.shape} "
            f"and {y_pred.shape}"
        )
    largest = max(y_true.max(), y_pred.max())
    if largest >= num_classes:
        raise ValueError(
            f"label {largest} is out of range for {num_classes} class names {list(class_names)}"
        )

    counts = confusion_counts(y_true, y_pred, num_classes)  # (K, K)
    if normalize:
        row_totals = counts.sum(axis=1, keepdims=True)  # (K, 1)
        matrix = counts / np.maximum(row_totals, 1)  # absent classes keep an all-zero row
    else:
        matrix = counts.astype(np.float64)
    accuracy = np.trace(counts) / counts.sum()

    size = float(np.clip(2.5 + 0.5 * num_classes, 4.5, 14.0))
    fig, ax = plt.subplots(figsize=(size + 1.0, size), layout="constrained")
    image = ax.imshow(matrix, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    colorbar = fig.colorbar(
        image, ax=ax, shrink=0.8, label="fraction of true class" if normalize else "count"
    )
    if not normalize:
        colorbar.ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    if num_classes <= ANNOTATE_MAX_CLASSES:
        threshold = (1.0 if normalize else matrix.max()) / 2.0  # white text on dark cells
        fontsize = "large" if num_classes <= 4 else "medium" if num_classes <= 10 else "small"
        for i in range(num_classes):
            for j in range(num_classes):
                text = f"{matrix[i, j]:.2f}" if normalize else f"{counts[i, j]:d}"
                ax.text(
                    j,
                    i,
                    text,
                    ha="center",
                    va="center",
                    fontsize=fontsize,
                    color="white" if matrix[i, j] > threshold else "black",
                )
    ticks = np.arange(num_classes)
    ax.set_xticks(ticks, labels=list(class_names), rotation=45, ha="right", rotation_mode="anchor")
    ax.set_yticks(ticks, labels=list(class_names))
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    kind = "row-normalized, " if normalize else ""
    ax.set_title(
        f"{title or 'Confusion matrix'}\n({kind}accuracy {accuracy:.3f}, n = {counts.sum()})"
    )
    return save_figure(fig, path)


def make_grid(x: np.ndarray, resolution: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Build the evaluation grid that covers 2-D data plus a margin on every side.

    Args:
        x: Points of shape (N, 2).
        resolution: Grid points per axis.

    Returns:
        ``(xx, yy, points)``: ``xx`` and ``yy`` of shape (resolution, resolution) as from
        ``np.meshgrid`` (x varies along columns), and ``points`` of shape
        (resolution * resolution, 2), float32, the grid in row-major order, ready for a
        ``predict_fn``.
    """
    low, high = x.min(axis=0), x.max(axis=0)  # (2,), (2,)
    span = high - low
    pad = np.where(span > 0, GRID_MARGIN * span, 0.5)  # a constant coordinate still gets width
    axis_0 = np.linspace(low[0] - pad[0], high[0] + pad[0], resolution)
    axis_1 = np.linspace(low[1] - pad[1], high[1] + pad[1], resolution)
    xx, yy = np.meshgrid(axis_0, axis_1)  # (R, R) each
    points = np.column_stack([xx.ravel(), yy.ravel()]).astype(np.float32)  # (R * R, 2)
    return xx, yy, points


def predict_grid(
    predict_fn: Callable[[np.ndarray], Any], xx: np.ndarray, points: np.ndarray
) -> np.ndarray:
    """Classify every grid point in one call and shape the result like the grid.

    Args:
        predict_fn: Maps a float32 array (M, 2) to class indices (M,).
        xx: Grid x coordinates, shape (R, R), from :func:`make_grid`; gives the output shape.
        points: The grid as (R * R, 2) float32 points.

    Returns:
        Class indices of shape (R, R), aligned with the ``xx`` and ``yy`` of the grid.

    Raises:
        ValueError: If ``predict_fn`` returns the wrong number of values or non-indices.
    """
    predictions = to_class_indices(predict_fn(points), "predict_fn output")  # (R * R,)
    if predictions.shape[0] != points.shape[0]:
        raise ValueError(
            f"predict_fn must return one class index per input row: got "
            f"{predictions.shape[0]} values for {points.shape[0]} points"
        )
    return predictions.reshape(xx.shape)  # (R * R,) -> (R, R), row-major like make_grid


def plot_decision_boundary(
    predict_fn: Callable[[np.ndarray], Any],
    x: Any,
    y: Any,
    path: str | Path,
    title: str = "",
    resolution: int = 200,
    *,
    class_names: Sequence[str] | None = None,
) -> Path:
    """Shade the class a 2-D classifier predicts everywhere, with the data points on top.

    Regions take the class colour lightly, with a thin black line where the prediction
    changes; points are drawn in the same colours with a dark edge, so a misclassified point
    shows as a dot on a differently coloured background. The title reports the accuracy of
    ``predict_fn`` on the plotted points.

    Args:
        predict_fn: Maps a float32 array (M, 2) to class indices (M,), as NumPy array, list or
            tensor; booleans count as 0/1. It is called once on the whole grid. For torch
            models, wrap the forward pass in ``torch.no_grad()`` and take the argmax.
        x: The data points, array-like of shape (N, 2).
        y: Their class indices, array-like of shape (N,).
        path: Where to write the PNG.
        title: Figure title; defaults to "Decision boundary".
        resolution: Grid points per axis (resolution ** 2 predictions).
        class_names: Optional legend names, one per class; default "class 0", "class 1", ...

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If ``x`` is not (N, 2), ``y`` not (N,), N is 0, ``resolution`` < 2, or
            ``predict_fn`` does not return one class index per point.
    """
    x = to_numpy(x, "x").astype(np.float64)
    if x.ndim != 2 or x.shape[1] != 2:
        raise ValueError(
            f"x must have shape (N, 2) to draw a decision boundary, got {x.shape}; "
            "project higher-dimensional data to 2-D first (e.g. two features or PCA)"
        )
    y = to_class_indices(y, "y")
    if x.shape[0] == 0 or y.shape[0] != x.shape[0]:
        raise ValueError(
            f"x and y must be non-empty with one label per point, got {x.shape} and {y.shape}"
        )
    if not np.all(np.isfinite(x)):
        raise ValueError("x contains NaN or Inf")
    if int(resolution) != resolution or resolution < 2:
        raise ValueError(f"resolution must be an integer >= 2, got {resolution}")

    xx, yy, points = make_grid(x, int(resolution))
    zz = predict_grid(predict_fn, xx, points)  # (R, R)
    point_predictions = to_class_indices(predict_fn(x.astype(np.float32)), "predict_fn output")
    if point_predictions.shape != y.shape:
        raise ValueError(
            f"predict_fn returned {point_predictions.shape[0]} values for {y.shape[0]} points"
        )
    accuracy = float(np.mean(point_predictions == y))
    num_classes = int(max(y.max(), zz.max(), point_predictions.max())) + 1
    if class_names is not None and len(class_names) < num_classes:
        raise ValueError(
            f"class_names has {len(class_names)} names but labels reach {num_classes - 1}"
        )
    names = (
        list(class_names) if class_names is not None else [f"class {k}" for k in range(num_classes)]
    )
    cmap = _class_colormap(num_classes)

    fig, ax = plt.subplots(figsize=(6, 5), layout="constrained")
    levels = np.arange(num_classes + 1) - 0.5  # one filled band per class index
    ax.contourf(xx, yy, zz, levels=levels, cmap=cmap, alpha=0.3)
    ax.contour(xx, yy, zz, levels=levels[1:-1], colors="black", linewidths=0.8, alpha=0.6)
    marker_size = float(np.clip(6000 / len(y), 8, 30))  # dense data gets smaller dots
    for k in range(num_classes):
        mask = y == k
        if mask.any():
            ax.scatter(
                x[mask, 0],
                x[mask, 1],
                color=cmap(k),
                edgecolors="black",
                linewidths=0.5,
                s=marker_size,
                label=names[k],
            )
    ax.set_xlim(xx.min(), xx.max())
    ax.set_ylim(yy.min(), yy.max())
    ax.set_xlabel("feature 0")
    ax.set_ylabel("feature 1")
    ax.set_title(f"{title or 'Decision boundary'}\n(accuracy on these points {accuracy:.3f})")
    ax.legend(fontsize="small", loc="best", framealpha=0.9)
    return save_figure(fig, path)
