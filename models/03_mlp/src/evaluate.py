"""Evaluate a trained MLP on the test split its experiment defines.

    python src/evaluate.py --checkpoint best --experiment mnist --json
    python src/evaluate.py --checkpoint outputs/models/xor/<run>_final.pt --visualize

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out. The analysis commands (shift.py, compare.py) load checkpoints
the same way, through engine.workflow.load_trained.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
