"""Probe a stored Hopfield network with the test images of its experiment.

    python src/evaluate.py --checkpoint latest --experiment mnist --json --data-dir DIR
    python src/evaluate.py --checkpoint latest --experiment mnist --visualize --data-dir DIR

Every test image is a cue: it is binarised, the network runs to a fixed point, and the shared
Evaluator reports
    accuracy  the share of test images whose final state is nearest (largest overlap) to the
              memory of their own class; images of classes without a memory always count as
              wrong, so with P memories of 10 classes it is at most about P / 10;
    loss      the recall error 1 - m, m the final overlap with the own class's memory (0 when
              the class has none).
Recall of the stored patterns themselves from corrupted cues (the network's actual job) is
measured by --visualize (rates in the log and in outputs/visualizations/*_recall.png); the
README explains why the Evaluator cannot report it yet.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
