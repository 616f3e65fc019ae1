"""What R-CNN detects, seen and measured: predicted boxes on test canvases, precision-recall
curves, AP by object size, proposal recall, and inference speed.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, gradient audit); ``detail`` is what ``evaluate.py --detail`` adds to the
standard evaluation (AP by size, proposal recall, images per second).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

from data_utils.detection import DetectionData
from engine.detection import DetectionEval, box_area, mean_average_precision
from engine.modelio import evaluating
from plotting.core import save_figure
from plotting.detection import plot_detection_rows

# Object sizes by the side of the ground-truth box's square, sqrt(w * h), in pixels: the
# canvases' visible boxes run from about 5 to 20 pixels a side (COCO's bins, 32 and 96, would
# put every object in "small"). Roughly a third of the medium canvases' test objects each.
SIZE_BINS = {"all": (0.0, 1e5), "small": (0.0, 10.0**2), "medium": (10.0**2, 14.0**2)}
SIZE_BINS["large"] = (14.0**2, 1e5)
SPEED_BATCH = 64  # canvases per forward pass when measuring inference speed
NUM_SHOWN = 8  # test canvases in the detections figure


@torch.no_grad()
def predictions(
    model: Any, images: torch.Tensor, batch_size: int = 256
) -> list[dict[str, torch.Tensor]]:
    """Detections of canvases (N, 1, H, W) in [0, 1], one dict per canvas."""
    out: list[dict[str, torch.Tensor]] = []
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            out += model.predict(images[start : start + batch_size])
    return out


def test_set(data: DetectionData) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    """The test canvases as the loaders give them (floats in [0, 1]) and their targets."""
    x, targets = data.split("test")
    return data.transform(x), targets


def evaluate_by_size(
    preds: list[dict[str, torch.Tensor]], targets: list[dict[str, torch.Tensor]], num_classes: int
) -> DetectionEval:
    """COCO-style box mAP with SIZE_BINS for area ranges, objects binned by their box's area
    (not their visible pixel count, which COCO's ``area`` holds)."""
    by_box = [{**t, "area": box_area(t["boxes"])} for t in targets]
    return mean_average_precision(preds, by_box, num_classes=num_classes, area_ranges=SIZE_BINS)


def objects_by_size(targets: list[dict[str, torch.Tensor]]) -> dict[str, int]:
    """How many scored (not crowd) objects fall in each of SIZE_BINS."""
    areas = torch.cat([box_area(t["boxes"])[~t["iscrowd"]] for t in targets])
    return {k: int(((areas >= lo) & (areas < hi)).sum()) for k, (lo, hi) in SIZE_BINS.items()}


def timed_predictions(
    model: Any, images: torch.Tensor, batch_size: int = SPEED_BATCH
) -> tuple[list[dict[str, torch.Tensor]], dict[str, Any]]:
    """Detections of every canvas and the inference speed they took (proposals, every region
    through the CNN, regression and NMS) on the current torch threads, after one warm-up batch:
    images per second of wall time and of CPU time (user + sys of this process; on a shared
    machine the wall figure depends on the other jobs, the CPU one less). One pass: R-CNN is
    slow enough that scoring the test canvases twice would double the evaluation."""
    predictions(model, images[:batch_size], batch_size)  # warm-up
    wall, cpu = time.perf_counter(), time.process_time()
    preds = predictions(model, images, batch_size)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    speed = {
        "images_per_second_wall": len(images) / wall,
        "images_per_second_cpu": len(images) / cpu,
        "speed_batch": batch_size,
        "threads": torch.get_num_threads(),
    }
    return preds, speed


def detail(model: Any, data: DetectionData) -> dict[str, Any]:
    """The test split's box AP overall and by object size, proposal recall, and speed."""
    images, targets = test_set(data)
    preds, speed = timed_predictions(model, images)
    result = evaluate_by_size(preds, targets, data.num_classes)
    stats = result.stats
    proposals = model.proposals(images)
    return {
        "map_50": stats["map_50"],
        "map": stats["map"],
        "map_75": stats["map_75"],
        "map_small": stats["map_small"],
        "map_medium": stats["map_medium"],
        "map_large": stats["map_large"],
        "mar_100": stats["mar_100"],
        "size_bins_px": {k: [lo**0.5, hi**0.5] for k, (lo, hi) in SIZE_BINS.items() if k != "all"},
        "objects_by_size": objects_by_size(targets),
        "proposals_per_image": sum(len(p) for p in proposals) / len(proposals),
        "proposal_recall_50": model.proposal_recall(proposals, targets, 0.5),
        "proposal_recall_70": model.proposal_recall(proposals, targets, 0.7),
        **speed,
    }


# ------------------------------------------------------------------------------------ figures


def plot_detections(model: Any, data: DetectionData, path: Path, title: str) -> Path:
    """The first NUM_SHOWN test canvases: ground truth above, detections scoring >= 0.3 below."""
    images, targets = test_set(data)
    images, targets = images[:NUM_SHOWN], targets[:NUM_SHOWN]
    shown = []
    for p in predictions(model, images):
        keep = p["scores"] >= 0.3
        shown.append({k: v[keep] for k, v in p.items()})
    rows = {"ground truth": (images, targets), "R-CNN (score >= 0.3)": (images, shown)}
    return plot_detection_rows(rows, data.class_names, path, title)


def plot_pr_curves(model: Any, data: DetectionData, path: Path, title: str) -> Path:
    """Interpolated precision-recall curves (mean over classes) at IoU 0.5, 0.75 and 0.9, and
    at IoU 0.5 for each object size."""
    images, targets = test_set(data)
    result = evaluate_by_size(predictions(model, images), targets, data.num_classes)
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.6))
    for iou in (0.5, 0.75, 0.9):
        recall, precision = result.pr_curve(iou)  # its mean is the AP at this IoU
        left.plot(recall, precision, label=f"IoU {iou}: AP {precision.mean():.3f}")
    t = int(np.flatnonzero(np.isclose(result.iou_thresholds, 0.5))[0])
    for name in ("small", "medium", "large"):
        p = result.precision[t, :, :, result.area_names.index(name), -1]  # (R, K)
        valid = (p > -1).all(axis=0)
        lo, hi = SIZE_BINS[name]
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


def visualize(model: Any, splits: DetectionData, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ``--visualize`` hook: detections on test canvases and precision-recall curves."""
    preset = splits.preset
    return {
        "detections": plot_detections(
            model, splits, vis_dir / f"{prefix}_detections.png", f"R-CNN on {preset} test canvases"
        ),
        "pr_curves": plot_pr_curves(
            model,
            splits,
            vis_dir / f"{prefix}_pr_curves.png",
            f"R-CNN, {preset} test canvases: precision-recall (mean over the 10 classes)",
        ),
    }
