"""Evaluate a trained LeNet-5 on the test split its experiment defines.

    python src/evaluate.py --checkpoint best --experiment mnist --json
    python src/evaluate.py --checkpoint outputs/models/mnist/<run>_final.pt --visualize

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out (for MNIST and Fashion-MNIST, the canonical 10,000 test images).
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
