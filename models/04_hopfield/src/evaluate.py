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

try:  # as a script, a missing package or Ctrl-C while torch loads is one message
    from train import SPEC

    from engine.workflow import evaluate_main
except (ModuleNotFoundError, KeyboardInterrupt) as err:
    if __name__ != "__main__":  # imported (by another script or a test): it decides
        raise
    if isinstance(err, KeyboardInterrupt):
        sys.stderr.write("interrupted (Ctrl-C) during start-up; nothing was written\n")
        sys.exit(130)
    sys.exit(
        f"{err} (python: {sys.executable}). This script needs the project's environment: "
        "run it with the repository's .venv/bin/python (../../.venv/bin/python from a model "
        "folder) or the model's own .venv/bin/python. Create it at the repository root with: "
        "python3 -m venv .venv && .venv/bin/pip install -r requirements-dev.txt -e . "
        '(README.md, "Using a model").'
    )


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
