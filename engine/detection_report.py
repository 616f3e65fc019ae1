"""A detector's test report, the same for every detector of Module 6 (24_rcnn, 25_faster_rcnn,
26_yolo, 27_mask_rcnn): AP overall and by object size, inference speed, the detections and
precision-recall figures, and the ``evaluate.py --detail`` entry point. Each model folder's
``analysis.py`` only names itself and adds what is its own (R-CNN's proposal recall).

A model is any module with ``predict(images (N, 1, H, W) in [0, 1]) -> [dict(boxes, labels,
scores)]``, plus binary "masks" (D, H, W) for an instance segmenter (``masks=True`` below adds
mask AP, the same numbers with prefix ``mask_``, and mask precision-recall curves); the data a
data_utils.detection.DetectionData.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

from engine.detection import DetectionEval, box_area, mean_average_precision
from engine.modelio import evaluating

# Object sizes by the side of the ground-truth box's square, sqrt(w * h), in pixels: the
# canvases' visible boxes run from about 5 to 20 pixels a side (COCO's bins, 32 and 96, would
# put every object in "small"). Roughly a third of the medium canvases' test objects each.
SIZE_BINS = {"all": (0.0, 1e5), "small": (0.0, 10.0**2), "medium": (10.0**2, 14.0**2)}
SIZE_BINS["large"] = (14.0**2, 1e5)
SPEED_BATCH = 64  # canvases per forward pass when measuring inference speed
NUM_SHOWN = 8  # test canvases in the detections figure
Predictions = list[dict[str, torch.Tensor]]
REPORTED = ("map_50", "map", "map_75", "map_small", "map_medium", "map_large", "mar_100")


@torch.no_grad()
def predictions(model: Any, images: torch.Tensor, batch_size: int = 256) -> Predictions:
    """Detections of canvases (N, 1, H, W) in [0, 1], one dict per canvas."""
    out: Predictions = []
    with evaluating(model):
        for start in range(0, len(images), batch_size):
            out += model.predict(images[start : start + batch_size])
    return out


def test_set(data: Any) -> tuple[torch.Tensor, Predictions]:
    """The test canvases as the loaders give them (floats in [0, 1]) and their targets."""
    x, targets = data.split("test")
    return data.transform(x), targets


def evaluate_by_size(
    preds: Predictions, targets: Predictions, num_classes: int, iou_type: str = "bbox"
) -> DetectionEval:
    """COCO-style box (or, iou_type "segm", mask) mAP with SIZE_BINS for area ranges, objects
    binned by their box's area (not their visible pixel count, which COCO's ``area`` holds)."""
    by_box = [{**t, "area": box_area(t["boxes"])} for t in targets]
    return mean_average_precision(
        preds, by_box, iou_type=iou_type, num_classes=num_classes, area_ranges=SIZE_BINS
    )


def objects_by_size(targets: Predictions) -> dict[str, int]:
    """How many scored (not crowd) objects fall in each of SIZE_BINS."""
    areas = torch.cat([box_area(t["boxes"])[~t["iscrowd"]] for t in targets])
    return {k: int(((areas >= lo) & (areas < hi)).sum()) for k, (lo, hi) in SIZE_BINS.items()}


def timed_predictions(
    model: Any, images: torch.Tensor, batch_size: int = SPEED_BATCH
) -> tuple[Predictions, dict[str, Any]]:
    """Detections of every canvas and the inference speed they took (the model's whole
    ``predict``: forward, decoding, NMS) on the current torch threads, after one warm-up batch:
    images per second of wall time and of CPU time (user + sys of this process; on a shared
    machine the wall figure depends on the other jobs, the CPU one less)."""
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


def detail(model: Any, data: Any, *, one_pass: bool = False, masks: bool = False) -> dict[str, Any]:
    """The test split's box AP overall and by object size, and inference speed. ``one_pass``
    scores the predictions the speed was timed on (for a slow detector); otherwise they are
    predicted in batches of 256 and timed in a second pass. ``masks`` adds the same AP of the
    predicted masks (keys with prefix ``mask_``)."""
    images, targets = test_set(data)
    if one_pass:
        preds, speed = timed_predictions(model, images)
    else:
        preds, speed = predictions(model, images), timed_predictions(model, images)[1]
    stats = evaluate_by_size(preds, targets, data.num_classes).stats
    mask_stats = evaluate_by_size(preds, targets, data.num_classes, "segm").stats if masks else {}
    return {
        **{k: stats[k] for k in REPORTED},
        **{f"mask_{k}": mask_stats[k] for k in REPORTED if masks},
        "size_bins_px": {k: [lo**0.5, hi**0.5] for k, (lo, hi) in SIZE_BINS.items() if k != "all"},
        "objects_by_size": objects_by_size(targets),
        **speed,
    }


# ------------------------------------------------------------------------------------ figures


def plot_detections(model: Any, data: Any, path: Path, title: str, name: str) -> Path:
    """The first NUM_SHOWN test canvases: ground truth above, ``name``'s detections scoring
    >= 0.3 below."""
    from plotting.detection import plot_detection_rows

    images, targets = test_set(data)
    images, targets = images[:NUM_SHOWN], targets[:NUM_SHOWN]
    shown = []
    for p in predictions(model, images):
        keep = p["scores"] >= 0.3
        shown.append({k: v[keep] for k, v in p.items()})
    rows = {"ground truth": (images, targets), f"{name} (score >= 0.3)": (images, shown)}
    return plot_detection_rows(rows, data.class_names, path, title)


def plot_pr_curves(model: Any, data: Any, path: Path, title: str, iou_type: str = "bbox") -> Path:
    """Interpolated precision-recall curves (mean over classes) at IoU 0.5, 0.75 and 0.9, and
    at IoU 0.5 for each object size; of the boxes, or with iou_type "segm" of the masks."""
    from plotting.detection import plot_precision_recall

    images, targets = test_set(data)
    result = evaluate_by_size(predictions(model, images), targets, data.num_classes, iou_type)
    return plot_precision_recall(result, SIZE_BINS, path, title)


def visualize(
    model: Any, data: Any, vis_dir: Path, prefix: str, name: str, masks: bool = False
) -> dict[str, Path]:
    """A detector's ``--visualize`` hook: detections on test canvases and precision-recall;
    with ``masks`` also the masks' precision-recall (``<prefix>_mask_pr_curves.png``)."""
    preset = data.preset
    figures = {
        "detections": plot_detections(
            model,
            data,
            vis_dir / f"{prefix}_detections.png",
            f"{name} on {preset} test canvases",
            name,
        ),
        "pr_curves": plot_pr_curves(
            model,
            data,
            vis_dir / f"{prefix}_pr_curves.png",
            f"{name}, {preset} test canvases: precision-recall (mean over the 10 classes)",
        ),
    }
    if masks:
        figures["mask_pr_curves"] = plot_pr_curves(
            model,
            data,
            vis_dir / f"{prefix}_mask_pr_curves.png",
            f"{name}, {preset} test canvases: masks' precision-recall (mean over the 10 classes)",
            iou_type="segm",
        )
    return figures


# ---------------------------------------------------------------------- evaluate.py --detail


def evaluate_main(
    spec: Any, detail_of: Callable[[Any, Any], dict], argv: list[str] | None = None
) -> int:
    """A detector's ``evaluate.py``: the shared evaluation, and with ``--detail`` the report
    ``detail_of(model, data)`` written to outputs/logs/<checkpoint>.<experiment>.test.detail.json
    and printed as one JSON line."""
    from engine.workflow import apply_threads
    from engine.workflow import evaluate_main as shared_main
    from engine.workflow import evaluate_parser, load_trained

    argv = list(sys.argv[1:] if argv is None else argv)
    parser = evaluate_parser(spec)
    parser.add_argument(
        "--detail",
        action="store_true",
        help="also AP by object size and images per second (written to outputs/logs)",
    )
    parser.parse_args(argv)  # --help and every error list --detail
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--detail", action="store_true")
    args, rest = own.parse_known_args(argv)  # the shared workflow gets the rest
    code = shared_main(spec, rest)
    if code != 0 or not args.detail:
        return code
    shared = parser.parse_args(rest)
    model, config, data, state = load_trained(
        spec, shared.checkpoint, shared.experiment, shared.data_dir
    )
    apply_threads(config)
    result = {
        "model": spec.name,
        "experiment": config.experiment,
        "trained_on": state["config"].get("experiment"),
        "checkpoint": str(state["path"]),
        "split": "test",
        **detail_of(model, data),
    }
    logs = Path(spec.model_dir) / "outputs" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    out = logs / f"{Path(state['path']).stem}.{config.experiment}.test.detail.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0
