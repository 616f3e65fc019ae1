"""Boxes and masks drawn over images: the detection canvases and, for models 24-27, predictions.

Ground-truth targets and predictions share one format (data_utils/detection.py): ``boxes``
float (K, 4) xyxy pixels with x2/y2 exclusive, ``labels`` (K,), optionally ``masks`` bool
(K, H, W), ``iscrowd`` (K,) and ``scores`` (K,).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from plotting.core import save_figure, to_numpy

COLOURS = ["tab:red", "tab:orange", "tab:green", "tab:cyan", "tab:purple", "tab:pink"]


def draw_detections(
    ax: Any, image: Any, target: Mapping[str, Any], class_names: Sequence[str]
) -> None:
    """Draw one image (C=1, H, W) with its objects: boxes, mask outlines, class names.

    Crowd objects get dashed boxes; a ``scores`` entry is written after the class name.
    """
    image = to_numpy(image, "image")
    ax.imshow(image[0], cmap="gray", vmin=0, vmax=255 if image.max() > 1 else 1)
    boxes = to_numpy(target["boxes"], "boxes").reshape(-1, 4)
    for j, (box, label) in enumerate(
        zip(boxes.tolist(), to_numpy(target["labels"], "labels").tolist())
    ):
        colour = COLOURS[j % len(COLOURS)]
        x1, y1, x2, y2 = box
        crowd = "iscrowd" in target and bool(target["iscrowd"][j])
        # pixel j covers [j, j + 1) in box coordinates but is centred on j in imshow
        style = dict(fill=False, color=colour, lw=1.2, ls="--" if crowd else "-")
        ax.add_patch(Rectangle((x1 - 0.5, y1 - 0.5), x2 - x1, y2 - y1, **style))
        if "masks" in target:
            ax.contour(
                to_numpy(target["masks"][j], "mask"), levels=[0.5], colors=[colour], linewidths=0.6
            )
        name = class_names[int(label)] + (" crowd" if crowd else "")
        if "scores" in target:
            name += f" {float(target['scores'][j]):.2f}"
        ax.text(x1 - 0.5, y1 - 1.5, name, color=colour, fontsize=7)
    ax.set_xticks([])
    ax.set_yticks([])


def plot_detection_rows(
    rows: Mapping[str, tuple[Any, Sequence[Mapping[str, Any]]]],
    class_names: Sequence[str],
    path: str | Path,
    title: str = "",
) -> Path:
    """One row of images per entry of ``rows`` (label -> (images (N, 1, H, W), N targets))."""
    assert rows, "rows must not be empty"
    k = max(len(targets) for _, targets in rows.values())
    fig, axes = plt.subplots(len(rows), k, figsize=(1.8 * k, 1.9 * len(rows)), squeeze=False)
    for axes_row, (label, (images, targets)) in zip(axes, rows.items()):
        for ax in axes_row[len(targets) :]:
            ax.set_axis_off()
        for ax, image, target in zip(axes_row, images, targets):
            draw_detections(ax, image, target, class_names)
        axes_row[0].set_ylabel(label, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def plot_precision_recall(
    result: Any, size_bins: Mapping[str, tuple[float, float]], path: str | Path, title: str
) -> Path:
    """Interpolated precision-recall curves of an engine.detection.DetectionEval (mean over
    classes): at IoU 0.5, 0.75 and 0.9 on the left, at IoU 0.5 per area range of ``size_bins``
    (name -> (low, high) box area; "all" skipped) on the right."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for iou in (0.5, 0.75, 0.9):
        recall, precision = result.pr_curve(iou)  # its mean is the AP at this IoU
        left.plot(recall, precision, label=f"IoU {iou}: AP {precision.mean():.3f}")
    t = int(np.flatnonzero(np.isclose(result.iou_thresholds, 0.5))[0])
    for name, (lo, hi) in size_bins.items():
        if name == "all":
            continue
        p = result.precision[t, :, :, result.area_names.index(name), -1]  # (R, K)
        valid = (p > -1).all(axis=0)
        label = (
            f"{name} ({lo ** 0.5:.0f}-{min(hi ** 0.5, 99):.0f} px): AP50 {p[:, valid].mean():.3f}"
        )
        right.plot(result.recall_thresholds, p[:, valid].mean(axis=1), label=label)
    for ax, sub in ((left, "all objects"), (right, "by box side, IoU 0.5")):
        ax.set_xlabel("recall")
        ax.set_ylabel("precision")
        ax.set_xlim(0, 1.01)
        ax.set_ylim(0, 1.01)
        ax.set_title(sub, fontsize=9)
        ax.legend(fontsize=7, loc="lower left")
        ax.grid(alpha=0.3)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save_figure(fig, path)
