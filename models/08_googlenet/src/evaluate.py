"""Evaluate a trained GoogLeNet on the test split its experiment defines.

    python src/evaluate.py --checkpoint best --experiment cifar10 --json
    python src/evaluate.py --checkpoint latest --experiment fashion_mnist --visualize

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out. The auxiliary heads, if trained, are not used at test time.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
