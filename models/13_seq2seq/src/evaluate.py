"""Evaluate a trained encoder-decoder (sequence to sequence) on the test split of its experiment.

    python src/evaluate.py --checkpoint latest --experiment reverse --json

The test strings are generated again from the seed stored in the checkpoint: exactly the split
that training held out. --json prints the metrics as the last line of stdout.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
