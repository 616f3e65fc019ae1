"""Evaluate a trained GPT on the held-out end of Tiny Shakespeare, and sample from it.

    python src/evaluate.py --checkpoint latest --experiment shakespeare --samples 500

The validation stream is rebuilt from the fraction stored in the checkpoint (Tiny Shakespeare
has no test split: test = val, the last 10% of the text), scored in consecutive windows of the
block size: every character of it is predicted once. ``--samples N`` draws N characters with
the key-value cache (model.GPT.sample), seeded.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
