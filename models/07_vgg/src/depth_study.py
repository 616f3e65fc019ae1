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
(no checkpoints). The result, with the training loss of every epoch, goes to
outputs/logs/<name>.json and the plot to outputs/visualizations/<name>.png (--name).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from constants import EXPERIMENTS_FILE, LOGS_DIR, VISUALIZATIONS_DIR
from train import SPEC

import plotting
from data_utils import DatasetSplits, create_data_loaders
from engine.trainer import Trainer
from engine.workflow import build_optimizer, build_scheduler, cli_overrides, load_data, run_cli
from utils.config import apply_overrides, load_config
from utils.device import select_device
from utils.model_stats import count_flops, count_parameters
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


def subsample(
    splits: DatasetSplits,
    train_samples: int,
    val_samples: int,
    test_samples: int | None,
    seed: int,
) -> DatasetSplits:
    """Seeded random subsets of the splits; test_samples None keeps the whole test split.

    Random rather than the first N: some sources (the CIFAR-10 JPEG copy) store images sorted
    by class.
    """
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


def train_on_budget(config: Any, splits: DatasetSplits, device: torch.device) -> dict[str, Any]:
    """Train one network in memory through the engine's Trainer; its size, curves and test score."""
    set_random_seed(config.seed)  # the same initial draw and batch order for every network
    model = SPEC.create_model(config, splits).to(device)
    size = {
        "weight_layers": model.num_weight_layers,
        "parameters": count_parameters(model),
        "flops": count_flops(model, splits.input_shape),
    }
    optimizer = build_optimizer(config, model)
    train_loader, val_loader, test_loader = create_data_loaders(
        splits, config.batch_size, seed=config.seed
    )
    trainer = Trainer(
        model,
        optimizer,
        SPEC.create_criterion(config),
        device,
        config,
        build_scheduler(config, optimizer),
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    history = trainer.train(train_loader, val_loader, config.epochs)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    test = trainer.evaluator.evaluate(test_loader)
    return {
        **size,
        "train_loss": history["train_loss"],
        "train_accuracy": history["train_accuracy"],
        "val_accuracy": history["val_accuracy"],
        "test_accuracy": test["accuracy"],
        "test_loss": test["loss"],
        "train_seconds": round(seconds, 1),  # wall clock, shared machines included
        "train_cpu_seconds": round(cpu_seconds, 1),  # CPU time of this process
    }


def plot_study(result: dict[str, Any], path: Path) -> Path:
    """Training loss per epoch of every network (left); test accuracy against depth (right)."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    by_bn: dict[bool, list[tuple[int, float]]] = {}
    configurations = sorted({run["configuration"] for run in result["runs"]})
    for run in result["runs"]:
        style = "-" if run["batch_norm"] else "--"  # one colour per configuration
        color = plt.get_cmap("tab10")(configurations.index(run["configuration"]))
        label = f"{run['configuration']} ({run['weight_layers']} layers)" + (
            ", BN" if run["batch_norm"] else ", plain"
        )
        epochs = range(1, len(run["train_loss"]) + 1)
        left.plot(epochs, run["train_loss"], style, color=color, marker="o", label=label)
        by_bn.setdefault(run["batch_norm"], []).append((run["weight_layers"], run["test_accuracy"]))
    left.axhline(result["chance_loss"], color="grey", linewidth=1, label="chance: ln(classes)")
    left.set_xlabel("epoch")
    left.xaxis.get_major_locator().set_params(integer=True)
    left.set_ylabel("training loss (cross-entropy)")
    left.grid(alpha=0.3)
    left.legend(fontsize="small")
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


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="VGG depth study: A, B, D with and without BN.")
    p.add_argument("--configurations", nargs="+", default=["A", "B", "D"], help="Table 1 columns")
    p.add_argument(
        "--batch-norm", nargs="+", choices=["on", "off"], default=["on", "off"], help="BN variants"
    )
    p.add_argument("--train-samples", type=int, default=10_000, help="random training subset")
    p.add_argument("--val-samples", type=int, default=2_000, help="random validation subset")
    p.add_argument("--test-samples", type=int, help="random test subset (default: all)")
    p.add_argument("--experiment", default="depth_study", help="base experiment")
    p.add_argument("--name", default="depth_study", help="file name of the JSON and the plot")
    p.add_argument("--epochs", help="override the epochs of the base experiment")
    p.add_argument("--batch-size", help="override the batch size")
    p.add_argument("--learning-rate", help="override the learning rate")
    p.add_argument("--seed", help="override the seed (data subset, initial weights, batches)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    # the train.py options this study does not offer, so that cli_overrides reads these args
    p.set_defaults(grad_accum_steps=None, precision=None, max_steps=None)
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    base = load_config(SPEC.config_cls, EXPERIMENTS_FILE, args.experiment)
    base = apply_overrides(base, cli_overrides(args))
    device = select_device(base.device)
    splits = subsample(
        load_data(base, args.data_dir),
        args.train_samples,
        args.val_samples,
        args.test_samples,
        base.seed,
    )
    result: dict[str, Any] = {
        "dataset": splits.name,
        "train_samples": len(splits.y_train),
        "val_samples": len(splits.y_val),
        "test_samples": len(splits.y_test),
        "epochs": base.epochs,
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
            run_result = train_on_budget(config, splits, device)
            run_result = {"configuration": configuration, "batch_norm": batch_norm, **run_result}
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
    out = LOGS_DIR / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    figure = plot_study(result, VISUALIZATIONS_DIR / f"{args.name}.png")
    logger.info("written %s and %s", out, figure)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
