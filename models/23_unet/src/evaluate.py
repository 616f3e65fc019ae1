"""Evaluate a trained U-Net on the validation block of the ISBI 2012 membranes.

    python src/evaluate.py --checkpoint latest --experiment membranes --visualize
    python src/evaluate.py --checkpoint latest --experiment membranes --flips

``--flips`` (this model's own option) averages the class probabilities of the 8 flips and
rotations of each slice (config ``test_time_flips``), 8 forward passes instead of one.
ISBI publishes no test masks, so the test split is the validation block (6 contiguous slices).
The JSON reports the U-Net's pixel error, membrane IoU and adapted Rand error, and the same three
for the baseline (``threshold_*``): the global intensity threshold with the lowest pixel error on
the training slices.
"""

import argparse
import dataclasses
import sys
from typing import Any

from train import SPEC

from engine.workflow import evaluate_main, evaluate_parser

FLIPS = "--flips"
FLIPS_HELP = "average the class probabilities of the 8 flips and rotations of each slice"


def with_flips(config: Any, splits: Any) -> Any:
    """The checkpoint's U-Net, evaluated with ``test_time_flips`` on."""
    return SPEC.create_model(dataclasses.replace(config, test_time_flips=True), splits)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = evaluate_parser(SPEC)
    parser.add_argument(FLIPS, action="store_true", help=FLIPS_HELP)
    parser.parse_args(argv)  # --help and every error list --flips
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument(FLIPS, action="store_true")
    args, rest = own.parse_known_args(argv)  # the shared workflow gets the rest
    spec = dataclasses.replace(SPEC, create_model=with_flips) if args.flips else SPEC
    return evaluate_main(spec, rest)


if __name__ == "__main__":
    sys.exit(main())
