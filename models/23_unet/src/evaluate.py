"""Evaluate a trained U-Net on the validation block of the ISBI 2012 membranes.

    python src/evaluate.py --checkpoint latest --experiment membranes --visualize

ISBI publishes no test masks, so the test split is the validation block (6 contiguous slices).
The JSON reports the U-Net's pixel error, membrane IoU and adapted Rand error, and the same three
for the baseline (``threshold_*``): the global intensity threshold with the lowest pixel error on
the training slices.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
