"""Parameters and FLOPs against accuracy: GoogLeNet and VGG on the same data and budget.

    python src/compare.py                             # GoogLeNet, VGG-A, VGG-B, VGG-D on CIFAR-10
    python src/compare.py --vgg-configurations A B D E --epochs 3 --train-samples 5000

The paper's claim (Sec. 1, 5): the Inception design gets its accuracy with a small fraction of
the weights (GoogLeNet: 6.8M parameters, 1.5G multiply-adds; VGG-16: 138M, 15.5G). Here both
networks are built at a quarter of their papers' widths and trained from scratch on the same
seeded subset of the training split, with the same optimiser, schedule, epochs and seed (the
``compare`` experiment of experiments.yaml; VGG gets the same optimisation fields). Parameters
and FLOPs are counted by utils.model_stats (FLOPs = 2 x multiply-adds of Conv2d and Linear, one
image, inference). The VGG networks come from models/07_vgg through utils.modules. Results go
to outputs/logs/<name>.json (with a Markdown table) and outputs/visualizations/<name>.png.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from constants import EXPERIMENTS_FILE, LOGS_DIR, VGG_DIR, VISUALIZATIONS_DIR
from train import SPEC

import plotting
from data_utils import DatasetSplits, create_data_loaders
from engine.trainer import Trainer
from engine.workflow import (
    ModelSpec,
    build_optimizer,
    build_scheduler,
    cli_overrides,
    load_data,
    run_cli,
)
from utils.config import apply_overrides, load_config
from utils.device import select_device
from utils.model_stats import count_flops, count_parameters
from utils.modules import load_model_modules
from utils.seed import set_random_seed

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


def subsample(
    splits: DatasetSplits,
    train_samples: int,
    val_samples: int,
    test_samples: int | None,
    seed: int,
) -> DatasetSplits:
    """Seeded random subsets of the splits; test_samples None keeps the whole test split."""
    gen = torch.Generator().manual_seed(seed)
    train = torch.randperm(len(splits.y_train), generator=gen)[:train_samples]
    val = torch.randperm(len(splits.y_val), generator=gen)[:val_samples]
    test = torch.arange(len(splits.y_test))
    if test_samples is not None:
        test = torch.randperm(len(splits.y_test), generator=gen)[:test_samples]
    return dataclasses.replace(
        splits,
        x_train=splits.x_train[train],
        y_train=splits.y_train[train],
        x_val=splits.x_val[val],
        y_val=splits.y_val[val],
        x_test=splits.x_test[test],
        y_test=splits.y_test[test],
    )


def train_on_budget(
    spec: ModelSpec, config: Any, splits: DatasetSplits, device: torch.device
) -> dict[str, Any]:
    """Train one network in memory through the engine's Trainer; its size, curves and test score."""
    set_random_seed(config.seed)
    model = spec.create_model(config, splits).to(device)
    size = {"parameters": count_parameters(model), "flops": count_flops(model, splits.input_shape)}
    optimizer = build_optimizer(config, model)
    train_loader, val_loader, test_loader = create_data_loaders(
        splits, config.batch_size, seed=config.seed
    )
    criterion = spec.create_criterion(config)
    trainer = Trainer(
        model, optimizer, criterion, device, config, build_scheduler(config, optimizer)
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    history = trainer.train(train_loader, val_loader, config.epochs)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    test = trainer.evaluator.evaluate(test_loader)
    return {
        **size,
        "train_loss": history["train_loss"],
        "val_accuracy": history["val_accuracy"],
        "test_accuracy": test["accuracy"],
        "train_seconds": round(seconds, 1),  # wall clock, shared machines included
        "train_cpu_seconds": round(cpu_seconds, 1),  # CPU time of this process
    }


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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="GoogLeNet against VGG on the same budget.")
    p.add_argument(
        "--vgg-configurations",
        nargs="*",
        default=["A", "B", "D"],
        help="VGG columns (none: GoogLeNet only)",
    )
    p.add_argument("--train-samples", type=int, default=10_000, help="random training subset")
    p.add_argument("--val-samples", type=int, default=2_000, help="random validation subset")
    p.add_argument("--test-samples", type=int, help="random test subset (default: all)")
    p.add_argument("--experiment", default="compare", help="base GoogLeNet experiment")
    p.add_argument("--name", default="compare", help="file name of the JSON and the plot")
    p.add_argument("--epochs", help="override the epochs of the base experiment")
    p.add_argument("--batch-size", help="override the batch size")
    p.add_argument("--learning-rate", help="override the learning rate")
    p.add_argument("--seed", help="override the seed (data subset, initial weights, batches)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="GoogLeNet overrides")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    p.set_defaults(grad_accum_steps=None, precision=None, max_steps=None)  # for cli_overrides
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    config = load_config(SPEC.config_cls, EXPERIMENTS_FILE, args.experiment)
    config = apply_overrides(config, cli_overrides(args))
    device = select_device(config.device)
    splits = subsample(
        load_data(config, args.data_dir),
        args.train_samples,
        args.val_samples,
        args.test_samples,
        config.seed,
    )
    vgg = load_model_modules(VGG_DIR)
    budget = {field: getattr(config, field) for field in BUDGET_FIELDS}
    networks: list[tuple[str, ModelSpec, Any]] = [("GoogLeNet", SPEC, config)]
    for configuration in args.vgg_configurations:
        vgg_config = load_config(
            vgg.train.SPEC.config_cls, vgg.constants.EXPERIMENTS_FILE, "cifar10"
        )
        vgg_config = apply_overrides(vgg_config, {**budget, "configuration": configuration})
        networks.append((f"VGG-{configuration}", vgg.train.SPEC, vgg_config))

    result: dict[str, Any] = {
        "dataset": splits.name,
        "train_samples": len(splits.y_train),
        "val_samples": len(splits.y_val),
        "test_samples": len(splits.y_test),
        "epochs": config.epochs,
        "budget": budget,
        "width_multiplier": {"GoogLeNet": config.width_multiplier},
        "runs": [],
    }
    for network, spec, network_config in networks:
        run_result = {"network": network, **train_on_budget(spec, network_config, splits, device)}
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
    out = LOGS_DIR / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    figure = plot_comparison(result, VISUALIZATIONS_DIR / f"{args.name}.png")
    logger.info("comparison:\n%s\nwritten %s and %s", result["table"], out, figure)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
