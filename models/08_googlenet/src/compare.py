"""Parameters and FLOPs against accuracy: GoogLeNet and VGG on the same data and budget.

    python src/compare.py                             # GoogLeNet, VGG-A, VGG-B, VGG-D on CIFAR-10
    python src/compare.py --vgg-configurations A B D E --epochs 3 --train-samples 5000

The paper's claim (Sec. 1, 5): the Inception design gets its accuracy with a small fraction of
the weights (GoogLeNet: 6.8M parameters, 1.5G multiply-adds; VGG-16: 138M, 15.5G). Here both
networks are built at a quarter of their papers' widths and trained from scratch on the same
seeded subset of the training split, with the same optimiser, schedule, epochs and seed (the
``compare`` experiment of experiments.yaml; VGG gets the same optimisation fields). Parameters
and FLOPs are counted by utils.model_stats (FLOPs = 2 x multiply-adds of Conv2d and Linear, one
image, inference). The VGG networks come from models/07_vgg through utils.modules; the shared
study mechanics (subset, training on the budget, timing, output) are engine/study.py. Results go
to outputs/logs/<name>.json (with a Markdown table) and outputs/visualizations/<name>.png.
"""

from __future__ import annotations

import argparse
import logging
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
from engine.workflow import ModelSpec, script_main
from utils.config import apply_overrides, load_config
from utils.registry import model_spec

logger = logging.getLogger(__name__)

# The fields that make a budget: VGG trains with GoogLeNet's values of these.
BUDGET_FIELDS = (
    "dataset",
    "seed",
    "epochs",
    "batch_size",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "scheduler",
    "batch_norm",
    "val_fraction",
    "device",
)


def markdown_table(runs: list[dict[str, Any]]) -> str:
    """The comparison as a Markdown table, one row per network."""
    lines = [
        "| Network | Parameters | FLOPs per image | Test accuracy | Training wall / CPU time |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        lines.append(
            f"| {run['network']} | {run['parameters'] / 1e6:.3f}M | {run['flops'] / 1e6:.1f}M "
            f"| {run['test_accuracy']:.4f} "
            f"| {run['train_seconds']:.0f} s / {run['train_cpu_seconds']:.0f} s |"
        )
    return "\n".join(lines)


def plot_comparison(result: dict[str, Any], path: Path) -> Path:
    """Test accuracy against parameters (left) and against FLOPs (right), one point per network."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for ax, key, label in (
        (axes[0], "parameters", "parameters (millions)"),
        (axes[1], "flops", "FLOPs per image (millions)"),
    ):
        for run in result["runs"]:
            marker = "*" if run["network"].startswith("GoogLeNet") else "o"
            ax.scatter(run[key] / 1e6, run["test_accuracy"], s=90, marker=marker)
            ax.annotate(run["network"], (run[key] / 1e6, run["test_accuracy"]), fontsize="small")
        ax.set_xlabel(label)
        ax.set_ylabel("test accuracy")
        ax.grid(alpha=0.3)
    fig.suptitle(
        f"GoogLeNet against VGG on {result['dataset']}: {result['train_samples']} training "
        f"images, {result['epochs']} epochs, same optimiser"
    )
    return plotting.save_figure(fig, path)


def parser() -> argparse.ArgumentParser:
    p = study_parser(
        "GoogLeNet against VGG on the same budget.", "compare", set_help="GoogLeNet overrides"
    )
    p.add_argument(
        "--vgg-configurations",
        nargs="*",
        default=["A", "B", "D"],
        help="VGG columns (none: GoogLeNet only)",
    )
    return p


def run(args: argparse.Namespace) -> None:
    if replot_study(args, VISUALIZATIONS_DIR, plot_comparison):
        return
    config, device, splits = load_study(SPEC, args)
    vgg = model_spec("vgg")
    budget = {field: getattr(config, field) for field in BUDGET_FIELDS}
    networks: list[tuple[str, ModelSpec, Any]] = [("GoogLeNet", SPEC, config)]
    for configuration in args.vgg_configurations:
        vgg_config = load_config(vgg.config_cls, vgg.experiments_file, "cifar10")
        vgg_config = apply_overrides(vgg_config, {**budget, "configuration": configuration})
        networks.append((f"VGG-{configuration}", vgg, vgg_config))

    result: dict[str, Any] = {
        **study_header(splits, config),
        "budget": budget,
        "width_multiplier": {"GoogLeNet": config.width_multiplier},
        "runs": [],
    }
    for network, spec, network_config in networks:
        trained = train_variant(spec, network_config, splits, device)
        run_result = {
            "network": network,
            **trained.record(
                train_loss=trained.history["train_loss"],
                val_accuracy=trained.history["val_accuracy"],
                test_accuracy=trained.test["accuracy"],
            ),
        }
        result["width_multiplier"][network] = network_config.width_multiplier
        logger.info(
            "%s | %.3fM params | %.1fM FLOPs | test_acc %.4f | %.0f s",
            network,
            run_result["parameters"] / 1e6,
            run_result["flops"] / 1e6,
            run_result["test_accuracy"],
            run_result["train_seconds"],
        )
        result["runs"].append(run_result)
    result["table"] = markdown_table(result["runs"])
    logger.info("comparison:\n%s", result["table"])
    save_study(result, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_comparison)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
