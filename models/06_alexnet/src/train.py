"""Train the scaled-down AlexNet through the shared engine.

    python src/train.py --experiment fashion_mnist --visualize
    python src/train.py --experiment fashion_mnist --set activation=tanh dropout=0
    python src/train.py --experiment fashion_mnist --resume latest

All arguments: python src/train.py --help (architecture section 10, plus --resume and --set).
The loop itself is engine/trainer.py; the network is model.py, its plots analysis.py, the
ReLU/tanh and dropout ablations ablations.py.
"""

import sys

import analysis
from config import AlexNetConfig
from constants import EXPERIMENTS_FILE, MODEL_DIR, MODEL_NAME
from model import create_criterion, create_model

from engine.workflow import ModelSpec, train_main

SPEC = ModelSpec(
    name=MODEL_NAME,
    model_dir=MODEL_DIR,
    config_cls=AlexNetConfig,
    experiments_file=EXPERIMENTS_FILE,
    create_model=create_model,
    create_criterion=create_criterion,
    visualize=analysis.visualize,
)


def main(argv: list[str] | None = None) -> int:
    return train_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
