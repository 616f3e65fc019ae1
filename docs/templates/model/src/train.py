"""Train [MODEL_TITLE] through the shared engine.

    python src/train.py --experiment iris --visualize
    python src/train.py --experiment xor --epochs 500 --seed 7
    python src/train.py --experiment iris --resume latest

All arguments: python src/train.py --help (architecture section 10, plus --resume and --set).
The loop is engine/trainer.py and the steps around it engine/workflow.py; this file only says
how to build this model. Keep it this short: anything more is plumbing that belongs in engine/.
"""

import sys
from pathlib import Path

try:  # run as a script (train.py, evaluate.py, ...): a missing package or Ctrl-C
    # while torch loads is one message, not a traceback
    from config import SoftmaxRegressionConfig
    from constants import EXPERIMENTS_FILE, MODEL_DIR, MODEL_NAME
    from model import create_criterion, create_model

    from engine.workflow import ModelSpec, train_main
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

# The model's one description, read by train_main, evaluate_main and tests/test_every_model.py.
# Model-specific plots: pass visualize=(model, splits, vis_dir, prefix) -> {name: path}.
SPEC = ModelSpec(
    name=MODEL_NAME,
    model_dir=MODEL_DIR,
    config_cls=SoftmaxRegressionConfig,
    experiments_file=EXPERIMENTS_FILE,
    create_model=create_model,
    create_criterion=create_criterion,
)


def main(argv: list[str] | None = None) -> int:
    return train_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
