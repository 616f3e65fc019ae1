"""Evaluate a trained LeNet-5 on the test split its experiment defines.

    python src/evaluate.py --checkpoint best --experiment mnist --json
    python src/evaluate.py --checkpoint outputs/models/mnist/<run>_final.pt --visualize

The test split is rebuilt from the seed and fractions stored in the checkpoint, so it is exactly
the split that training held out (for MNIST and Fashion-MNIST, the canonical 10,000 test images).
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
