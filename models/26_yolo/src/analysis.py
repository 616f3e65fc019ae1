"""What YOLO detects, seen and measured: the shared detector report
(engine/detection_report.py): predicted boxes on test canvases, precision-recall curves, AP by
object size, and inference speed.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, gradient audit); ``detail`` is what ``evaluate.py --detail`` adds to the
standard evaluation (AP by size, images per second).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import detection_report as report
from engine.detection_report import SIZE_BINS, SPEED_BATCH, predictions, test_set  # noqa: F401

NAME = "YOLO"


def detail(model: Any, data: Any) -> dict[str, Any]:
    """The test split's box AP overall and by object size, and inference speed."""
    return report.detail(model, data)


def plot_detections(model: Any, data: Any, path: Path, title: str) -> Path:
    """The first test canvases: ground truth above, detections scoring >= 0.3 below."""
    return report.plot_detections(model, data, path, title, NAME)


def plot_pr_curves(model: Any, data: Any, path: Path, title: str) -> Path:
    """Precision-recall curves at IoU 0.5, 0.75, 0.9 and by object size."""
    return report.plot_pr_curves(model, data, path, title)


def visualize(model: Any, splits: Any, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ``--visualize`` hook: detections on test canvases and precision-recall curves."""
    return report.visualize(model, splits, vis_dir, prefix, NAME)
