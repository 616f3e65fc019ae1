"""LeNet-5 against the MLP of ../03_mlp: trainable parameters and FLOPs per image.

    python src/compare.py --experiment mnist
    python src/compare.py --experiment fashion_mnist --json

Both networks are built for the same data set from their own experiments.yaml (LeNet-5's
``--experiment`` and the MLP experiment of the same name), and counted with the shared helpers
(utils.model_stats: FLOPs = 2 x multiply-accumulates of the convolution and linear layers, one
image). That helper sees nn.Conv2d and nn.Linear modules only, so the multiply-adds of the
hand-written C3 (only its Table I connections) are added here. Accuracies come from each model's
evaluate.py (see the README).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from config import LeNet5Config
from constants import EXPERIMENTS_FILE, MODEL_DIR
from model import create_model

from engine.workflow import load_data, run_cli
from utils import count_flops, count_parameters, load_config, load_model_modules

logger = logging.getLogger(__name__)
MLP_DIR = MODEL_DIR.parent / "03_mlp"


def c3_flops(model) -> int:
    """FLOPs of C3 per image: 2 x 60 kernels x 5 x 5 weights x 10 x 10 output positions."""
    return 2 * model.c3.weight.numel() * 10 * 10


def size_table(experiment: str, data_dir: str | None = None) -> list[dict]:
    """One row per model: name, trainable parameters and FLOPs per image on ``experiment``."""
    config = load_config(LeNet5Config, EXPERIMENTS_FILE, experiment)
    splits = load_data(config, data_dir)
    mlp = load_model_modules(MLP_DIR)
    mlp_config = load_config(mlp.config.MLPConfig, mlp.constants.EXPERIMENTS_FILE, experiment)
    lenet = create_model(config, splits)
    mlp_model = mlp.model.create_model(mlp_config, splits)
    return [
        {
            "model": "lenet5",
            "parameters": count_parameters(lenet),
            "flops": count_flops(lenet, splits.input_shape) + c3_flops(lenet),
        },
        {
            "model": f"mlp {list(mlp_config.hidden_sizes)}",
            "parameters": count_parameters(mlp_model),
            "flops": count_flops(mlp_model, splits.input_shape),
        },
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="LeNet-5 against the MLP: parameters and FLOPs.")
    p.add_argument("--experiment", default="mnist", help="mnist or fashion_mnist")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON on the last line")
    args = p.parse_args(argv)

    def run() -> int:
        rows = size_table(args.experiment, args.data_dir)
        lenet, mlp = rows
        for row in rows:
            logger.info(
                "%-16s | %9d parameters | %11d FLOPs per image",
                row["model"],
                row["parameters"],
                row["flops"],
            )
        logger.info(
            "LeNet-5 has %.1f%% of the MLP's parameters and needs %.1fx its FLOPs",
            100 * lenet["parameters"] / mlp["parameters"],
            lenet["flops"] / mlp["flops"],
        )
        if args.json:
            sys.stdout.write(json.dumps(rows) + "\n")
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
