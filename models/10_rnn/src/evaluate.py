"""Evaluate a trained Elman network on the test split its experiment defines.

    python src/evaluate.py --checkpoint latest --experiment mnist1d --json
    python src/evaluate.py --checkpoint latest --experiment shakespeare --samples 500
    python src/evaluate.py --checkpoint latest --experiment adding_200 --json

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out (Tiny Shakespeare has no test split: test = the last 10%, val).
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
