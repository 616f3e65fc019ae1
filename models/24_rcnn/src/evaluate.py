"""Evaluate a trained R-CNN on the test canvases: COCO-style box mAP, by object size, and speed.

    python src/evaluate.py --checkpoint latest --experiment canvases --detail
    python src/evaluate.py --checkpoint latest --experiment canvases --visualize
    python src/evaluate.py --checkpoint outputs/models/canvases/<run>_final.pt \
        --experiment canvases --detail

The standard evaluation reports the classification and box-regression losses and ``map``
(AP@[.5:.95]), ``map_50``, ``map_75`` and ``mar_100`` on the test split. ``--detail`` adds AP by
object size (analysis.SIZE_BINS) and images per second at inference (proposals, every region
through the CNN, regression and NMS; batches of analysis.SPEED_BATCH on the config's threads, 1 by
default), written to ``outputs/logs/<checkpoint>.<experiment>.test.detail.json`` and printed as
one JSON line.
"""

import argparse
import json
import sys
from pathlib import Path

from analysis import detail
from constants import LOGS_DIR
from train import SPEC

from engine.workflow import apply_threads, evaluate_main, evaluate_parser, load_trained


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = evaluate_parser(SPEC)
    parser.add_argument(
        "--detail",
        action="store_true",
        help="also AP by object size and images per second (written to outputs/logs)",
    )
    parser.parse_args(argv)  # --help and every error list --detail
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--detail", action="store_true")
    args, rest = own.parse_known_args(argv)  # the shared workflow gets the rest
    code = evaluate_main(SPEC, rest)
    if code != 0 or not args.detail:
        return code
    shared = parser.parse_args(rest)
    model, config, data, state = load_trained(
        SPEC, shared.checkpoint, shared.experiment, shared.data_dir
    )
    apply_threads(config)
    result = {
        "model": SPEC.name,
        "experiment": config.experiment,
        "trained_on": state["config"].get("experiment"),
        "checkpoint": str(state["path"]),
        "split": "test",
        **detail(model, data),
    }
    out = LOGS_DIR / f"{Path(state['path']).stem}.{config.experiment}.test.detail.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    sys.stdout.write(json.dumps(result) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
