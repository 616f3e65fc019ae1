"""Evaluate a trained R-CNN on the test canvases: COCO-style box mAP, by object size, and speed.

    python src/evaluate.py --checkpoint latest --experiment canvases --detail
    python src/evaluate.py --checkpoint latest --experiment canvases --visualize
    python src/evaluate.py --checkpoint outputs/models/canvases/<run>_final.pt \
        --experiment canvases --detail

The standard evaluation reports the classification and box-regression losses and ``map``
(AP@[.5:.95]), ``map_50``, ``map_75`` and ``mar_100`` on the test split. ``--detail`` adds AP by
object size (SIZE_BINS) and images per second at inference (proposals, every region
through the CNN, regression and NMS; batches of SPEED_BATCH on the config's threads, 1 by
default), written to ``outputs/logs/<checkpoint>.<experiment>.test.detail.json`` and printed as
one JSON line.
"""

import sys

from analysis import detail
from train import SPEC

from engine.detection_report import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, detail, argv)


if __name__ == "__main__":
    sys.exit(main())
