"""Train Mask R-CNN on MNIST detection canvases.

    python src/train.py --experiment canvases
    python src/train.py --experiment canvases --visualize
    python src/train.py --experiment roi_pool

The loop itself is engine/trainer.py; RoIAlign, the mask branch, its loss and the pasting of
masks are model.py (on 25's backbone, RPN and head); the figures, the speed measure and box and
mask AP by object size are analysis.py.
"""

import sys
from pathlib import Path

try:  # run as a script (train.py, evaluate.py, ...): a missing package or Ctrl-C
    # while torch loads is one message, not a traceback
    from engine.workflow import spec_from_folder, train_main
except (ModuleNotFoundError, KeyboardInterrupt) as err:
    if Path(sys.argv[0]).resolve().parent != Path(__file__).resolve().parent:
        raise  # imported by a test or a tool: the importer reports it
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

# This folder's constants, config, model and analysis hooks, by convention (architecture 8).
SPEC = spec_from_folder(Path(__file__).resolve().parents[1])


def main(argv: list[str] | None = None) -> int:
    return train_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
