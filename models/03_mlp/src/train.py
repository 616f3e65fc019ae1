"""Train the MLP through the shared engine.

    python src/train.py --experiment xor --visualize
    python src/train.py --experiment fashion_mnist --visualize
    python src/train.py --experiment mnist_numpy --epochs 5

All arguments: python src/train.py --help (architecture section 10, plus --resume and --set).
The loop itself is engine/trainer.py; the hand-written backprop is NumpyMLP.train_step in
model.py, the PyTorch net takes the Trainer's backprop path.
"""

import sys

import analysis
from config import MLPConfig
from constants import EXPERIMENTS_FILE, MODEL_DIR, MODEL_NAME
from model import create_criterion, create_model

from engine.workflow import ModelSpec, train_main

SPEC = ModelSpec(
    name=MODEL_NAME,
    model_dir=MODEL_DIR,
    config_cls=MLPConfig,
    experiments_file=EXPERIMENTS_FILE,
    create_model=create_model,
    create_criterion=create_criterion,
    visualize=analysis.visualize,
)


def main(argv: list[str] | None = None) -> int:
    return train_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
