"""Evaluate a trained Mask R-CNN on the test canvases: box and mask mAP, by size, and speed.

    python src/evaluate.py --checkpoint latest --experiment canvases --detail
    python src/evaluate.py --checkpoint latest --experiment canvases --visualize

The standard evaluation reports the five losses, box ``map`` (AP@[.5:.95]), ``map_50``,
``map_75``, ``mar_100`` and the same of the masks (``mask_map``, ``mask_map_50``, ...) on the
test split. ``--detail`` adds box and mask AP by object size (SIZE_BINS) and images per second
at inference (both stages, NMS and the masks; batches of SPEED_BATCH on the config's threads,
1 by default), written to ``outputs/logs/<checkpoint>.<experiment>.test.detail.json`` and
printed as one JSON line.
"""

import sys

from analysis import detail
from train import SPEC

from engine.detection_report import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, detail, argv)


if __name__ == "__main__":
    sys.exit(main())
