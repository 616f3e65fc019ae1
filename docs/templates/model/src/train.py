"""Train [MODEL_TITLE] through the shared engine.

    python src/train.py --experiment iris --visualize
    python src/train.py --experiment xor --epochs 500 --seed 7
    python src/train.py --experiment iris --resume latest

All arguments: python src/train.py --help (architecture section 10, plus --resume and --set).
The loop is engine/trainer.py and the steps around it engine/workflow.py; this file only says
how to build this model. Keep it this short: anything more is plumbing that belongs in engine/.
"""

import sys

from config import SoftmaxRegressionConfig
from constants import EXPERIMENTS_FILE, MODEL_DIR, MODEL_NAME
from model import create_criterion, create_model

from engine.workflow import ModelSpec, train_main

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
