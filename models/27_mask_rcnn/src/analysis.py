"""What Mask R-CNN detects and segments, seen and measured: the shared detector report
(engine/detection_report.py) with masks: predicted boxes and masks on test canvases,
precision-recall curves of boxes and of masks, box and mask AP by object size, inference speed.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, gradient audit); ``detail`` is what ``evaluate.py --detail`` adds to the
standard evaluation (AP by size, images per second).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import detection_report as report
from engine.detection_report import SIZE_BINS, SPEED_BATCH, predictions, test_set  # noqa: F401

NAME = "Mask R-CNN"


def detail(model: Any, data: Any) -> dict[str, Any]:
    """The test split's box and mask AP overall and by object size, and inference speed."""
    return report.detail(model, data, masks=True)


def plot_detections(model: Any, data: Any, path: Path, title: str) -> Path:
    """The first test canvases: ground truth above, detections (boxes and mask outlines)
    scoring >= 0.3 below."""
    return report.plot_detections(model, data, path, title, NAME)


def plot_pr_curves(model: Any, data: Any, path: Path, title: str, iou_type: str = "bbox") -> Path:
    """Precision-recall curves at IoU 0.5, 0.75, 0.9 and by object size, of the boxes
    (iou_type "bbox") or of the masks ("segm")."""
    return report.plot_pr_curves(model, data, path, title, iou_type=iou_type)


def visualize(model: Any, splits: Any, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ``--visualize`` hook: detections with masks on test canvases and precision-recall
    curves of boxes and masks."""
    return report.visualize(model, splits, vis_dir, prefix, NAME, masks=True)
