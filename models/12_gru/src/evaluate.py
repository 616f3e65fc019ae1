"""Evaluate a trained GRU on the test split its experiment defines.

    python src/evaluate.py --checkpoint latest --experiment mnist1d --json
    python src/evaluate.py --checkpoint latest --experiment mnist1d --visualize
    python src/evaluate.py --checkpoint latest --experiment shakespeare --samples 500

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out (MNIST-1D: the paper's 1,000 test signals). --json prints the
metrics as the last line of stdout.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
