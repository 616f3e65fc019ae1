"""Two of AlexNet's claims, side by side in one run: ReLU against tanh, dropout on against off.

    python src/ablations.py                       # fashion_mnist, 10,000 training images, 10 epochs
    python src/ablations.py --train-size 2000 --epochs 2 --target 0.7   # a quick look

Four variants of the experiment's config, each differing in the switches named, train on the
same seeded subset of the training split, each from the same seed. "Training accuracy" is the
training subset evaluated in eval mode (no dropout, no augmentation) after each epoch.

ReLU against tanh (Sec. 3.1, Fig. 1: a four-layer net with ReLUs reaches 25% training error on
CIFAR-10 six times faster than with tanh; "no regularization of any kind was employed"):

- ``relu_plain`` and ``tanh_plain``: dropout and augmentation off, as in Fig. 1. Measured: the
  first epoch whose training accuracy reaches ``--target``, and the training time to it.

Dropout on against off (Sec. 4.2: "Without dropout, our network exhibits substantial
overfitting"), with augmentation on in both:

- ``relu``: the network as in the paper (ReLU, dropout 0.5, augmentation);
- ``relu_no_dropout``: dropout 0. Measured: training accuracy minus test accuracy.

Writes ``outputs/ablations/<experiment>_ablations.json`` (per-epoch curves and the summary) and
``outputs/visualizations/<experiment>_ablations.png``; the README table is that JSON's summary.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from config import AlexNetConfig
from constants import ABLATIONS_DIR, EXPERIMENTS_FILE, VISUALIZATIONS_DIR
from model import create_criterion, create_model

import plotting
from data_utils import ArrayLoader, DatasetSplits, create_data_loaders, subsample_splits
from engine.trainer import Trainer
from engine.workflow import build_optimizer, build_scheduler, load_data, run_cli
from utils import count_parameters, set_random_seed
from utils.config import apply_overrides, load_config

logger = logging.getLogger(__name__)

VARIANTS: dict[str, dict[str, Any]] = {
    "relu_plain": {"dropout": 0.0, "augment": False},
    "tanh_plain": {"activation": "tanh", "dropout": 0.0, "augment": False},
    "relu": {},
    "relu_no_dropout": {"dropout": 0.0},
}


def run_variant(config: AlexNetConfig, splits: DatasetSplits, target: float) -> dict[str, Any]:
    """Train one variant epoch by epoch; after each, measure train (eval mode), val and test."""
    set_random_seed(config.seed)  # every variant starts from the same seed
    device = torch.device("cpu")
    model = create_model(config, splits)
    optimizer = build_optimizer(config, model)
    trainer = Trainer(
        model,
        optimizer,
        create_criterion(config),
        device,
        config,
        build_scheduler(config, optimizer),
    )
    train_loader, val_loader, test_loader = create_data_loaders(
        splits, config.batch_size, seed=config.seed, eval_batch_size=512
    )
    clean_train = ArrayLoader(
        splits.x_train, splits.y_train, 512, transform=splits.transform
    )  # the training images without dropout or augmentation
    curves: dict[str, list[float]] = {k: [] for k in ("train", "val", "test", "seconds")}
    seconds = 0.0  # training and validation time; the extra train/test evaluations not counted
    for epoch in range(1, config.epochs + 1):
        started = time.perf_counter()
        trainer.train(train_loader, val_loader, epoch)  # continues where the last call stopped
        seconds += time.perf_counter() - started
        curves["seconds"].append(seconds)
        curves["train"].append(trainer.evaluator.evaluate(clean_train)["accuracy"])
        curves["val"].append(trainer.history["val_accuracy"][-1])
        curves["test"].append(trainer.evaluator.evaluate(test_loader)["accuracy"])
        logger.info(
            "epoch %d | train %.4f | val %.4f | test %.4f | gap %.4f",
            epoch,
            curves["train"][-1],
            curves["val"][-1],
            curves["test"][-1],
            curves["train"][-1] - curves["test"][-1],
        )
    reached = [e for e, acc in enumerate(curves["train"], start=1) if acc >= target]
    first = reached[0] if reached else None
    return {
        "activation": config.activation,
        "dropout": config.dropout,
        "augment": config.augment,
        "epochs_to_target": first,
        "seconds_to_target": curves["seconds"][first - 1] if first else None,
        "final_train_accuracy": curves["train"][-1],
        "final_test_accuracy": curves["test"][-1],
        "final_gap": curves["train"][-1] - curves["test"][-1],
        "curves": curves,
    }


def plot_ablations(results: dict[str, Any], path: Path) -> Path:
    """Left: training accuracy per epoch, ReLU vs tanh, with the target. Right: train vs test."""
    epochs = range(1, len(results["variants"]["relu"]["curves"]["val"]) + 1)
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for name, color in (("relu_plain", "tab:blue"), ("tanh_plain", "tab:green")):
        curves, label = results["variants"][name]["curves"], name.split("_")[0]
        left.plot(epochs, curves["train"], "-", color=color, label=f"{label}: train")
        left.plot(epochs, curves["val"], ":", color=color, label=f"{label}: val")
    left.axhline(results["target"], color="grey", lw=0.8, label=f"target {results['target']}")
    left.set(
        xlabel="epoch",
        ylabel="accuracy",
        title="ReLU against tanh, no dropout or augmentation (Sec. 3.1)",
    )
    left.legend()
    for name, color in (("relu", "tab:blue"), ("relu_no_dropout", "tab:red")):
        curves = results["variants"][name]["curves"]
        label = "dropout 0.5" if name == "relu" else "no dropout"
        right.plot(epochs, curves["train"], "-", color=color, label=f"{label}: train")
        right.plot(epochs, curves["test"], ":", color=color, label=f"{label}: test")
    right.set(xlabel="epoch", ylabel="accuracy", title="Dropout on against off, with augmentation")
    right.legend(fontsize="small")
    fig.suptitle(
        f"AlexNet ablations on {results['experiment']}, {results['train_size']} training images"
    )
    return plotting.save_figure(fig, path)


def run_ablations(args: argparse.Namespace) -> dict[str, Any]:
    """Train every variant and return the results (also written as JSON and a plot)."""
    base = load_config(AlexNetConfig, EXPERIMENTS_FILE, args.experiment)
    base = apply_overrides(base, {"epochs": args.epochs, "seed": args.seed})
    # A seeded random subset of the training split; val and test whole, in their order.
    splits = subsample_splits(
        load_data(base, args.data_dir), args.train_size, None, None, base.seed
    )
    results: dict[str, Any] = {
        "experiment": args.experiment,
        "train_size": len(splits.y_train),
        "epochs": base.epochs,
        "target": args.target,
        "seed": base.seed,
        "variants": {},
    }
    for name, changes in VARIANTS.items():
        config = apply_overrides(base, changes)
        logger.info("variant %s | %s", name, changes or "as in the paper")
        started = time.perf_counter()
        results["variants"][name] = run_variant(config, splits, args.target)
        results["variants"][name]["wall_seconds"] = time.perf_counter() - started
    results["parameters"] = count_parameters(create_model(base, splits))
    out_dir = Path(args.out_dir) if args.out_dir else ABLATIONS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path = out_dir / f"{args.experiment}_ablations.json"
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    vis_dir = Path(args.out_dir) if args.out_dir else VISUALIZATIONS_DIR
    plot_ablations(results, vis_dir / f"{args.experiment}_ablations.png")
    logger.info("written %s", json_path)
    return results


def summary_lines(results: dict[str, Any]) -> list[str]:
    """The README table: one row per variant."""
    lines = [
        "| Variant | Dropout | Augment | Epochs to train acc >= %.2f | Seconds to it | "
        "Train acc | Test acc | Gap |" % results["target"],
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in results["variants"].items():
        seconds = f"{r['seconds_to_target']:.0f}" if r["seconds_to_target"] else "not reached"
        lines.append(
            f"| `{name}` | {r['dropout']} | {'on' if r['augment'] else 'off'} | "
            f"{r['epochs_to_target'] or 'not reached'} | {seconds} | "
            f"{r['final_train_accuracy']:.4f} | {r['final_test_accuracy']:.4f} | "
            f"{r['final_gap']:+.4f} |"
        )
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="AlexNet ablations: ReLU vs tanh, dropout on vs off.")
    p.add_argument("--experiment", default="fashion_mnist", help="experiment to vary")
    p.add_argument("--train-size", type=int, default=10_000, help="training images used")
    p.add_argument("--epochs", type=int, default=10, help="epochs per variant")
    p.add_argument("--target", type=float, default=0.9, help="training accuracy target")
    p.add_argument("--seed", type=int, default=42, help="seed of the subset and every variant")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--out-dir", help="write JSON and plot here (default: outputs/...)")
    args = p.parse_args(argv)

    def run() -> int:
        results = run_ablations(args)
        for line in summary_lines(results):
            logger.info("%s", line)
        summary = {
            name: {k: v for k, v in r.items() if k != "curves"}
            for name, r in results["variants"].items()
        }
        sys.stdout.write(json.dumps(summary) + "\n")
        return 0

    return run_cli(run)


if __name__ == "__main__":
    sys.exit(main())
