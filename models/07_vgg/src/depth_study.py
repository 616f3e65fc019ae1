"""Depth against accuracy: VGG configurations A, B and D side by side, with and without BN.

    python src/depth_study.py                                 # A, B, D x BN on/off, CIFAR-10
    python src/depth_study.py --configurations A D --batch-norm off --set init=normal
    python src/depth_study.py --train-samples 2000 --epochs 2 --json      # a quick look

The paper's claim (Sec. 4.1, Table 3): error falls as depth grows from 11 to 19 layers. Its
difficulty (Sec. 3.1): without normalisation the deep nets did not train from a random start;
the authors trained A first and copied its layers into the deeper nets. Here every network
starts from scratch on the same seeded subset of the training split, with the same optimiser,
epochs and seed (the ``depth_study`` experiment of experiments.yaml plus --set overrides); only
the configuration and BN differ. Each network trains through the engine's Trainer in memory
(no checkpoints; the shared study mechanics are engine/study.py). The result, with the training
loss of every epoch, goes to outputs/logs/<name>.json and the plot to
outputs/visualizations/<name>.png (--name).
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from constants import LOGS_DIR, VISUALIZATIONS_DIR
from train import SPEC

import plotting
from engine.study import (
    load_study,
    replot_study,
    save_study,
    study_header,
    study_parser,
    train_variant,
)
from engine.workflow import script_main
from utils.config import apply_overrides

logger = logging.getLogger(__name__)


def plot_study(result: dict[str, Any], path: Path) -> Path:
    """Training loss per epoch of every network (left); test accuracy against depth (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    configurations = sorted({run["configuration"] for run in result["runs"]})
    left.axhline(result["chance_loss"], color="grey", linewidth=1, label="chance: ln(classes)")
    curves = []
    for run in result["runs"]:  # one colour per configuration, BN solid, plain dashed
        label = f"{run['configuration']} ({run['weight_layers']} layers)" + (
            ", BN" if run["batch_norm"] else ", plain"
        )
        style = {
            "linestyle": "-" if run["batch_norm"] else "--",
            "color": plt.get_cmap("tab10")(configurations.index(run["configuration"])),
            "marker": "o",
            "label": label,
        }
        curves.append((run["train_loss"], style))
    plotting.draw_epoch_curves(left, curves, ylabel="training loss (cross-entropy)")
    by_bn: dict[bool, list[tuple[int, float]]] = {}
    for run in result["runs"]:
        by_bn.setdefault(run["batch_norm"], []).append((run["weight_layers"], run["test_accuracy"]))
    for batch_norm, points in sorted(by_bn.items()):
        points.sort()
        right.plot(
            [p[0] for p in points],
            [p[1] for p in points],
            "-" if batch_norm else "--",
            marker="o",
            label="with BN" if batch_norm else "plain (no BN)",
        )
    right.set_xlabel("weight layers")
    right.set_ylabel("test accuracy")
    right.set_ylim(0, 1)
    right.grid(alpha=0.3)
    right.legend()
    fig.suptitle(
        f"VGG on {result['dataset']}: {result['train_samples']} training images, "
        f"{result['epochs']} epochs, init {result['init']}"
    )
    return plotting.save_figure(fig, path)


def parser() -> argparse.ArgumentParser:
    p = study_parser("VGG depth study: A, B, D with and without BN.", "depth_study")
    p.add_argument("--configurations", nargs="+", default=["A", "B", "D"], help="Table 1 columns")
    p.add_argument(
        "--batch-norm", nargs="+", choices=["on", "off"], default=["on", "off"], help="BN variants"
    )
    return p


def run(args: argparse.Namespace) -> None:
    if replot_study(args, VISUALIZATIONS_DIR, plot_study):
        return
    base, device, splits = load_study(SPEC, args)
    result: dict[str, Any] = {
        **study_header(splits, base),
        "init": base.init,
        "chance_loss": math.log(splits.num_classes),
        "config": {k: v for k, v in dataclasses.asdict(base).items() if k != "configuration"},
        "runs": [],
    }
    for batch_norm in (flag == "on" for flag in args.batch_norm):
        for configuration in args.configurations:
            config = apply_overrides(
                base, {"configuration": configuration, "batch_norm": batch_norm}
            )
            trained = train_variant(SPEC, config, splits, device)
            history = trained.history
            run_result = {
                "configuration": configuration,
                "batch_norm": batch_norm,
                "weight_layers": trained.model.num_weight_layers,
                **trained.record(
                    train_loss=history["train_loss"],
                    train_accuracy=history["train_accuracy"],
                    val_accuracy=history["val_accuracy"],
                    test_accuracy=trained.test["accuracy"],
                    test_loss=trained.test["loss"],
                ),
            }
            logger.info(
                "VGG-%s%s | %d layers | %d params | final train_loss %.4f | test_acc %.4f | %.0f s",
                configuration,
                " BN" if batch_norm else " plain",
                run_result["weight_layers"],
                run_result["parameters"],
                run_result["train_loss"][-1],
                run_result["test_accuracy"],
                run_result["train_seconds"],
            )
            result["runs"].append(run_result)
    save_study(result, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_study)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
