"""Evaluate a trained ResNet on the test split its experiment defines.

    python src/evaluate.py --checkpoint best --experiment fashion_mnist --json
    python src/evaluate.py --checkpoint latest --experiment cifar10 --visualize

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out (for both data sets: the canonical 10,000 test images).
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
