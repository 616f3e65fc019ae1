"""Train VGG through the shared engine.

    python src/train.py --experiment cifar10 --visualize
    python src/train.py --experiment cifar10 --set configuration=D
    python src/train.py --experiment fashion_mnist --set configuration=B batch_norm=false

All arguments: python src/train.py --help (architecture section 10, plus --resume and --set).
The loop itself is engine/trainer.py; the network is model.py. Depth against accuracy, with and
without batch normalisation, is depth_study.py.
"""

import sys

import analysis
from config import VGGConfig
from constants import EXPERIMENTS_FILE, MODEL_DIR, MODEL_NAME
from model import create_criterion, create_model

from engine.workflow import ModelSpec, train_main

SPEC = ModelSpec(
    name=MODEL_NAME,
    model_dir=MODEL_DIR,
    config_cls=VGGConfig,
    experiments_file=EXPERIMENTS_FILE,
    create_model=create_model,
    create_criterion=create_criterion,
    visualize=analysis.visualize,
)


def main(argv: list[str] | None = None) -> int:
    return train_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
