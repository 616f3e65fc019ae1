"""What R-CNN detects, seen and measured: the shared detector report (engine/detection_report.py:
predicted boxes on test canvases, precision-recall curves, AP by object size, inference speed) and
R-CNN's own proposal recall.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, gradient audit); ``detail`` is what ``evaluate.py --detail`` adds to the
standard evaluation. R-CNN is slow enough (every proposal through the CNN) that the predictions
timed for its speed are the ones scored: one pass over the test canvases.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from engine import detection_report as report
from engine.detection_report import SIZE_BINS, SPEED_BATCH, predictions, test_set  # noqa: F401

NAME = "R-CNN"


def detail(model: Any, data: Any) -> dict[str, Any]:
    """The test split's box AP overall and by object size, speed, and proposal recall."""
    out = report.detail(model, data, one_pass=True)
    images, targets = test_set(data)
    proposals = model.proposals(images)
    out["proposals_per_image"] = sum(len(p) for p in proposals) / len(proposals)
    out["proposal_recall_50"] = model.proposal_recall(proposals, targets, 0.5)
    out["proposal_recall_70"] = model.proposal_recall(proposals, targets, 0.7)
    return out


def plot_detections(model: Any, data: Any, path: Path, title: str) -> Path:
    """The first test canvases: ground truth above, detections scoring >= 0.3 below."""
    return report.plot_detections(model, data, path, title, NAME)


def plot_pr_curves(model: Any, data: Any, path: Path, title: str) -> Path:
    """Precision-recall curves at IoU 0.5, 0.75, 0.9 and by object size."""
    return report.plot_pr_curves(model, data, path, title)


def visualize(model: Any, splits: Any, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ``--visualize`` hook: detections on test canvases and precision-recall curves."""
    return report.visualize(model, splits, vis_dir, prefix, NAME)
