"""LeNet-5 against the MLP of ../03_mlp: trainable parameters and FLOPs per image.

    python src/compare.py --experiment mnist
    python src/compare.py --experiment fashion_mnist --json

Both networks are built for the same data set from their own experiments.yaml (the experiment
of that name in each), and counted with the shared helpers (utils.model_stats: FLOPs = 2 x
multiply-accumulates of the convolution and linear layers, one image; the hand-written C3 is
added, see analysis.c3_flops). Accuracies come from each model's evaluate.py (see the README).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from analysis import size_table

from engine.workflow import script_main

logger = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="LeNet-5 against the MLP: parameters and FLOPs.")
    p.add_argument("--experiment", default="mnist", help="mnist or fashion_mnist")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--json", action="store_true", help="print the rows as JSON on the last line")
    return p


def run(args: argparse.Namespace) -> None:
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
        "LeNet-5 has %.1f%% of the MLP's parameters and needs %.2fx its FLOPs",
        100 * lenet["parameters"] / mlp["parameters"],
        lenet["flops"] / mlp["flops"],
    )
    if args.json:
        sys.stdout.write(json.dumps(rows) + "\n")


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
