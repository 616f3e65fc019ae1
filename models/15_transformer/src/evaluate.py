"""Evaluate the trained Transformer on the test split its experiment defines.

    python src/evaluate.py --checkpoint latest --experiment reverse --json

The test strings are generated again from the seed stored in the checkpoint: exactly the split
that training held out. --json prints the metrics as the last line of stdout. The attention
weights of a few strings, per head, are drawn by compare.py.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
