"""Evaluate a trained ADALINE on the test split its experiment defines.

    python src/evaluate.py --checkpoint outputs/models/xor/<run>_epoch100_step0000400_final.pt
    python src/evaluate.py --checkpoint latest --experiment xor --json --visualize

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
