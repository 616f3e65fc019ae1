"""RoIAlign against RoI pooling (the paper's Table 2c in miniature): box and mask AP of the
``canvases`` run (RoIAlign) and the ``roi_pool`` run (RoI max pooling in both branches), side
by side on the same test canvases.

    python src/compare.py                     # the latest checkpoint of each experiment
    python src/compare.py --json              # the rows as JSON on the last line

Both checkpoints must exist (python src/train.py --experiment canvases / roi_pool). The rows
are written to outputs/logs/compare_pooling.json.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from analysis import predictions, test_set
from train import SPEC

from engine.detection_report import evaluate_by_size
from engine.workflow import load_trained, script_main

logger = logging.getLogger(__name__)

EXPERIMENTS = {"canvases": "RoIAlign", "roi_pool": "RoI pooling"}
SHOWN = ("map_50", "map", "map_75", "map_small", "map_medium", "map_large")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Mask R-CNN: RoIAlign against RoI pooling.")
    p.add_argument("--checkpoint", default="latest", help="best or latest of each experiment")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON on the last line")
    return p


def pooling_row(experiment: str, checkpoint: str, data_dir: str | None) -> dict[str, Any]:
    """Box and mask AP on the test canvases of one experiment's checkpoint."""
    model, config, data, state = load_trained(SPEC, checkpoint, experiment, data_dir)
    torch.set_num_threads(config.num_threads or torch.get_num_threads())
    images, targets = test_set(data)
    preds = predictions(model, images)
    row: dict[str, Any] = {
        "experiment": experiment,
        "pooling": config.pooling,
        "checkpoint": str(state["path"]),
    }
    for prefix, iou_type in (("box", "bbox"), ("mask", "segm")):
        stats = evaluate_by_size(preds, targets, data.num_classes, iou_type).stats
        row.update({f"{prefix}_{k}": stats[k] for k in SHOWN})
    return row


def run(args: argparse.Namespace) -> None:
    rows = [pooling_row(name, args.checkpoint, args.data_dir) for name in EXPERIMENTS]
    logger.info(
        "pooling      | box AP50 | box AP | mask AP50 | mask AP | mask AP75 | mask AP s/m/l"
    )
    for row in rows:
        logger.info(
            "%-12s | %8.3f | %6.3f | %9.3f | %7.3f | %9.3f | %.3f / %.3f / %.3f",
            EXPERIMENTS[row["experiment"]],
            row["box_map_50"],
            row["box_map"],
            row["mask_map_50"],
            row["mask_map"],
            row["mask_map_75"],
            row["mask_map_small"],
            row["mask_map_medium"],
            row["mask_map_large"],
        )
    logs = Path(SPEC.model_dir) / "outputs" / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    (logs / "compare_pooling.json").write_text(json.dumps(rows, indent=2) + "\n")
    if args.json:
        sys.stdout.write(json.dumps(rows) + "\n")


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
