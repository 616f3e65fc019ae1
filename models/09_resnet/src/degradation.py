"""The degradation experiment (Sec. 4.2, Fig. 6): deeper plain nets train worse, residual ones not.

    python src/degradation.py                                 # plain/residual 8 and 32, CIFAR-10
    python src/degradation.py --depths 20 56 --set "widths=[16,32,64]"     # the paper's pair
    python src/degradation.py --depths 8 20 --train-samples 2000 --epochs 2 --json   # quick look
    python src/degradation.py --replot outputs/logs/degradation.json     # redraw a saved result

The paper's observation: with batch normalisation (so gradients neither vanish nor explode),
a 56-layer plain network has a *higher training error* than a 20-layer one, all through
training: not overfitting, an optimisation difficulty. The same depths with identity shortcuts
train better the deeper they are. Here every network trains from scratch on the same seeded
subset of the training split, with the same optimiser, schedule, epochs and seed (the
``degradation`` experiment of experiments.yaml plus overrides); only depth and the shortcuts
differ. The training error is the running error over each epoch's batches in training mode, as
the thin curves of Fig. 6. Results go to outputs/logs/<name>.json and the plot (training and
validation error per epoch of every network, like Fig. 6) to outputs/visualizations/<name>.png.
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
from constants import EXPERIMENTS_FILE, LOGS_DIR, VISUALIZATIONS_DIR
from train import SPEC

import plotting
from data_utils import DatasetSplits, create_data_loaders
from engine.trainer import Trainer
from engine.workflow import build_optimizer, build_scheduler, cli_overrides, load_data, run_cli
from utils.config import apply_overrides, load_config
from utils.device import select_device
from utils.exceptions import ConfigError
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

    Random rather than the first N: the CIFAR-10 JPEG copy stores its images sorted by class.
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
    set_random_seed(config.seed)  # the same batch order for every network
    model = SPEC.create_model(config, splits).to(device)
    size = {"parameters": count_parameters(model), "flops": count_flops(model, splits.input_shape)}
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
        "train_error": [1.0 - a for a in history["train_accuracy"]],
        "val_error": [1.0 - a for a in history["val_accuracy"]],
        "train_loss": history["train_loss"],
        "test_error": 1.0 - test["accuracy"],
        "train_seconds": round(seconds, 1),  # wall clock, shared machines included
        "train_cpu_seconds": round(cpu_seconds, 1),  # CPU time of this process
    }


def plot_degradation(result: dict[str, Any], path: Path) -> Path:
    """Fig. 6 of the paper on one pair of axes: training error (left) and validation error
    (right) per epoch, every network; plain nets dashed in reds, residual nets solid in blues,
    deeper nets darker."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    depths = sorted({run["depth"] for run in result["runs"]})
    for ax, key, title in zip(axes, ("train_error", "val_error"), ("training", "validation")):
        for run in result["runs"]:
            shade = 0.45 + 0.5 * depths.index(run["depth"]) / max(1, len(depths) - 1)
            color = plt.get_cmap("Blues" if run["residual"] else "Reds")(shade)
            name = f"{'ResNet' if run['residual'] else 'plain'}-{run['depth']}"
            epochs = range(1, len(run[key]) + 1)
            style = "-" if run["residual"] else "--"
            ax.plot(epochs, run[key], style, color=color, marker="o", markersize=3, label=name)
        ax.set_title(f"{title} error")
        ax.set_xlabel("epoch")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(alpha=0.3)
        ax.legend(fontsize="small")
    axes[0].set_ylabel("error (1 - accuracy)")
    fig.suptitle(
        f"Degradation on {result['dataset']}: {result['train_samples']} training images, "
        f"{result['epochs']} epochs, widths {result['config']['widths']} "
        "(He et al. 2015, Fig. 6)"
    )
    return plotting.save_figure(fig, path)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Plain against residual networks of several depths.")
    p.add_argument("--depths", nargs="+", type=int, default=[8, 32], help="6n + 2 each")
    p.add_argument(
        "--variants", nargs="+", choices=["plain", "residual"], default=["plain", "residual"]
    )
    p.add_argument("--train-samples", type=int, default=10_000, help="random training subset")
    p.add_argument("--val-samples", type=int, default=2_000, help="random validation subset")
    p.add_argument("--test-samples", type=int, help="random test subset (default: all)")
    p.add_argument("--experiment", default="degradation", help="base experiment")
    p.add_argument("--name", default="degradation", help="file name of the JSON and the plot")
    p.add_argument("--epochs", help="override the epochs of the base experiment")
    p.add_argument("--batch-size", help="override the batch size")
    p.add_argument("--learning-rate", help="override the learning rate")
    p.add_argument("--seed", help="override the seed (data subset, initial weights, batches)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    p.add_argument("--replot", help="redraw the plot of a saved result JSON; train nothing")
    p.set_defaults(grad_accum_steps=None, precision=None, max_steps=None)  # for cli_overrides
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> int:
    if args.replot:
        saved = Path(args.replot)
        try:
            result = json.loads(saved.read_text())
        except (OSError, ValueError) as err:
            raise ConfigError(f"--replot {saved}: not a readable result JSON ({err})") from err
        figure = plot_degradation(result, VISUALIZATIONS_DIR / f"{saved.stem}.png")
        logger.info("redrawn %s", figure)
        return 0
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
        "config": {
            k: v for k, v in dataclasses.asdict(base).items() if k not in ("depth", "residual")
        },
        "runs": [],
    }
    for residual in (variant == "residual" for variant in args.variants):
        for depth in args.depths:
            config = apply_overrides(base, {"depth": depth, "residual": residual})
            run_result = {
                "depth": depth,
                "residual": residual,
                **train_on_budget(config, splits, device),
            }
            logger.info(
                "%s-%d | %d params | final train_error %.4f | val_error %.4f | test_error %.4f "
                "| %.0f s",
                "ResNet" if residual else "plain",
                depth,
                run_result["parameters"],
                run_result["train_error"][-1],
                run_result["val_error"][-1],
                run_result["test_error"],
                run_result["train_seconds"],
            )
            result["runs"].append(run_result)
    out = LOGS_DIR / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    figure = plot_degradation(result, VISUALIZATIONS_DIR / f"{args.name}.png")
    logger.info("written %s and %s", out, figure)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    return run_cli(lambda: run(args))


if __name__ == "__main__":
    sys.exit(main())
