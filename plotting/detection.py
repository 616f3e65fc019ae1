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
