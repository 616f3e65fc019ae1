"""Evaluate a trained [MODEL_TITLE] on the test split its experiment defines.

    python src/evaluate.py --checkpoint latest --experiment iris --json
    python src/evaluate.py --checkpoint outputs/models/iris/<run>_final.pt --visualize

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out. --json prints the metrics as the last line of stdout.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
