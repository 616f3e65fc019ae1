"""Evaluate a trained Vision Transformer on the test split of the data it was trained on.

    python src/evaluate.py --checkpoint latest --experiment fashion_mnist
    python src/evaluate.py --checkpoint best --experiment cifar10 --visualize

Accuracy, loss and the confusion matrix on the data set's canonical test split (never
augmented); the JSON carries every metric.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
