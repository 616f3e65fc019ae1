"""ViT against the project's ResNet at equal CPU time, and its data hunger (Sec. 4.3, Fig. 3-4).

    python src/compare.py --fractions 0.05 0.1 0.25 0.5 1.0 --cpu-seconds 90 --name data_hunger
    python src/compare.py --fractions 1.0 --cpu-seconds 600 --name equal_time    # one budget
    python src/compare.py --replot outputs/logs/data_hunger.json      # redraw a saved result

The paper's weakness, in its own section on pre-training data requirements (Sec. 4.3): a ViT
overfits more than a ResNet of comparable computational cost on smaller data sets; the
convolution's locality and translation equivariance are priors the ViT has to learn from data.
Here both networks train from scratch on seeded random fractions of the Fashion-MNIST
training split (each fraction a subset of the next larger one), every run with the same
CPU-time budget: the budget is turned into a number of optimizer steps per network by timing
a few steps of each (``--cpu-seconds``), or given directly (``--steps vit=N resnet=M``), and
every fraction of a network gets that same number of steps (small fractions are seen for many
epochs). The ViT is this folder's ``compare`` experiment (fp32); the ResNet is the project's
(``utils.registry``, its ``fashion_mnist`` experiment: ResNet-20, SGD with momentum at lr 0.1),
both with a per-step cosine to zero over the budget. Each network is then tested on the whole
test split. The result goes to outputs/logs/<name>.json, the figure (test accuracy against the
fraction, both networks) to outputs/visualizations/<name>.png, and a table to the log, one
line per fraction. The CPU seconds recorded include each epoch's validation (``--val-samples``
images), which the step timing does not.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import math
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from constants import LOGS_DIR, VISUALIZATIONS_DIR
from train import SPEC

import plotting
from data_utils import DatasetSplits, subsample_splits
from engine.steps import step_of
from engine.study import replot_study, save_study, study_parser, train_variant
from engine.workflow import ModelSpec, cli_overrides, load_data, script_main
from utils.config import apply_overrides, load_config
from utils.device import select_device
from utils.exceptions import ConfigError
from utils.registry import model_config, model_spec

logger = logging.getLogger(__name__)

NETWORKS = ("vit", "resnet")
LABELS = {"vit": "ViT", "resnet": "ResNet"}


def seconds_per_step(spec: ModelSpec, config: Any, splits: DatasetSplits, steps: int = 6) -> float:
    """CPU seconds of one training step of a fresh network on one batch of ``splits``: the mean
    of ``steps`` steps after two warm-up ones (the first steps allocate memory)."""
    torch.manual_seed(config.seed)
    model = spec.create_model(config, splits)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-9)  # the update's cost is negligible
    step = step_of(model, spec.create_criterion(config))  # the loss as the Trainer computes it
    x = splits.transform(splits.x_train[: config.batch_size])
    y = splits.y_train[: config.batch_size]
    start = 0.0
    for i in range(steps + 2):
        if i == 2:
            start = time.process_time()
        optimizer.zero_grad()
        step((x, y)).loss.backward()
        optimizer.step()
    return (time.process_time() - start) / steps


def budgets(args: argparse.Namespace, configs: dict[str, Any], splits: DatasetSplits) -> dict:
    """Optimizer steps per network: ``--steps`` as given, else ``--cpu-seconds`` divided by the
    measured seconds per step."""
    if args.steps:
        given = dict(item.partition("=")[::2] for item in args.steps)
        if set(given) != set(NETWORKS) or not all(
            v.isdigit() and int(v) > 0 for v in given.values()
        ):
            raise ConfigError(f"--steps takes vit=N resnet=M with N, M > 0 (got {args.steps})")
        return {name: int(given[name]) for name in NETWORKS}
    specs = {"vit": SPEC, "resnet": model_spec("resnet")}
    steps = {}
    for name in NETWORKS:
        per_step = seconds_per_step(specs[name], configs[name], splits)
        steps[name] = max(1, round(args.cpu_seconds / per_step))
        logger.info("%s: %.3f CPU s per step -> %d steps", LABELS[name], per_step, steps[name])
    return steps


def with_budget(config: Any, steps: int, train_samples: int, warmup: int) -> Any:
    """The config trained for exactly ``steps`` optimizer steps, the lr following a per-step
    cosine to 0 over them (after ``warmup`` linear steps)."""
    steps_per_epoch = math.ceil(train_samples / config.batch_size)
    changes = {
        "max_steps": steps,
        "epochs": math.ceil(steps / steps_per_epoch),
        "scheduler": "warmup_cosine",
        "warmup_steps": warmup,
        "min_lr_ratio": 0.0,
    }
    return apply_overrides(config, changes)


def plot_comparison(result: dict[str, Any], path: Path) -> Path:
    """Test accuracy against the fraction of the training set (log scale), ViT beside ResNet."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for name, style in (("vit", "-o"), ("resnet", "--s")):
        runs = [run for run in result["runs"] if run["network"] == name]
        fractions = [run["fraction"] for run in runs]
        accuracies = [run["test_accuracy"] for run in runs]
        label = f"{LABELS[name]} ({runs[0]['steps']} steps, {runs[0]['parameters']:,} params)"
        ax.plot(fractions, accuracies, style, label=label)
        for f, a in zip(fractions, accuracies):
            ax.annotate(f"{a:.3f}", (f, a), textcoords="offset points", xytext=(0, 6), fontsize=7)
    ax.set_xscale("log")
    ax.set_xlabel(f"fraction of the {result['full_train_samples']:,} training images")
    ax.set_ylabel("test accuracy")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    measured = [run["train_cpu_seconds"] for run in result["runs"]]
    ax.set_title(
        f"ViT vs ResNet on {result['dataset']}: {sum(measured) / len(measured):.0f} CPU s per run"
    )
    return plotting.save_figure(fig, path)


def parser() -> argparse.ArgumentParser:
    p = study_parser(
        "ViT against the project's ResNet at equal CPU time, on fractions of the training set.",
        "compare",
        set_help="overrides of the ViT's config",
    )
    p.set_defaults(train_samples=None, val_samples=500)
    p.add_argument(
        "--fractions",
        nargs="+",
        type=float,
        default=[0.05, 0.1, 0.25, 0.5, 1.0],
        help="fractions of the training split (of --train-samples if given), each in (0, 1]",
    )
    p.add_argument("--cpu-seconds", type=float, default=90.0, help="budget per run, CPU s")
    p.add_argument("--steps", nargs="*", metavar="NET=N", help="vit=N resnet=M instead")
    p.add_argument("--resnet-experiment", default="fashion_mnist", help="the ResNet's experiment")
    return p


def run(args: argparse.Namespace) -> None:
    if replot_study(args, VISUALIZATIONS_DIR, plot_comparison):
        return
    if not all(0 < f <= 1 for f in args.fractions):
        raise ConfigError(f"--fractions must be in (0, 1] (got {args.fractions})")
    vit = load_config(SPEC.config_cls, SPEC.experiments_file, args.experiment)
    vit = apply_overrides(vit, cli_overrides(args))
    resnet = model_config("resnet", args.resnet_experiment, seed=vit.seed)
    if resnet.dataset != vit.dataset:
        raise ConfigError(
            f"the ResNet's experiment {args.resnet_experiment!r} is on {resnet.dataset}, the "
            f"ViT's {args.experiment!r} on {vit.dataset}: choose experiments on the same data"
        )
    configs = {"vit": vit, "resnet": resnet}
    device = select_device(vit.device)
    full = load_data(vit, args.data_dir)  # both networks train and test on these splits
    full_size = min(args.train_samples or len(full.y_train), len(full.y_train))
    steps = budgets(args, configs, full)
    specs = {"vit": SPEC, "resnet": model_spec("resnet")}
    result: dict[str, Any] = {
        "dataset": full.name,
        "full_train_samples": full_size,
        "cpu_seconds_budget": None if args.steps else args.cpu_seconds,
        "steps": steps,
        "configs": {name: dataclasses.asdict(config) for name, config in configs.items()},
        "runs": [],
    }
    for fraction in sorted(args.fractions):
        samples = max(1, round(fraction * full_size))
        # one seeded permutation: every fraction is a prefix of it, a subset of the larger ones
        splits = subsample_splits(full, samples, args.val_samples, args.test_samples, vit.seed)
        for name in NETWORKS:
            warmup = steps[name] // 10 if name == "vit" else 0  # ResNet: the paper's, none
            config = with_budget(configs[name], steps[name], samples, warmup)
            trained = train_variant(specs[name], config, splits, device)
            # the running accuracy of the last whole epoch; None when the budget ends inside
            # the first one (the history has rows for whole epochs only)
            train_accuracy = (trained.history.get("train_accuracy") or [None])[-1]
            record = trained.record(
                network=name,
                fraction=fraction,
                train_samples=samples,
                steps=config.max_steps,
                epochs=len(trained.history["epoch"]),
                final_train_accuracy=train_accuracy,
                test_accuracy=trained.test["accuracy"],
            )
            logger.info(
                "%-6s | fraction %.2f (%d images) | %d steps | train_acc %s | test_acc %.4f | "
                "%.0f s wall, %.0f s CPU",
                LABELS[name],
                fraction,
                samples,
                record["steps"],
                "-" if train_accuracy is None else f"{train_accuracy:.4f}",
                record["test_accuracy"],
                record["train_seconds"],
                record["train_cpu_seconds"],
            )
            result["runs"].append(record)
    logger.info("fraction | images | ViT test acc | ResNet test acc | ViT CPU s | ResNet CPU s")
    by = {(run["network"], run["fraction"]): run for run in result["runs"]}
    for fraction in sorted(args.fractions):  # the table, one line per fraction
        v, r = by["vit", fraction], by["resnet", fraction]
        logger.info(
            "%.2f | %d | %.4f | %.4f | %.0f | %.0f",
            fraction,
            v["train_samples"],
            v["test_accuracy"],
            r["test_accuracy"],
            v["train_cpu_seconds"],
            r["train_cpu_seconds"],
        )
    save_study(result, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_comparison)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
