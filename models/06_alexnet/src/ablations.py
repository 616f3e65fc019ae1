"""Two of AlexNet's claims, side by side in one run: ReLU against tanh, dropout on against off.

    python src/ablations.py                      # fashion_mnist, 10,000 training images, 10 epochs
    python src/ablations.py --train-samples 2000 --epochs 2 --target 0.7 --json   # a quick look
    python src/ablations.py --replot outputs/ablations/fashion_mnist_ablations.json

Four variants of the experiment's config, each differing in the switches named, train on the
same seeded subset of the training split, each from the same seed (the shared study mechanics
are engine/study.py; its options are those of every study: --train-samples, --val-samples,
--test-samples, --experiment, --name, --epochs, --set, --json...). "Training accuracy" is the
training subset evaluated in eval mode (no dropout, no augmentation) after each epoch.

ReLU against tanh (Sec. 3.1, Fig. 1: a four-layer net with ReLUs reaches 25% training error on
CIFAR-10 six times faster than with tanh; "no regularization of any kind was employed"):

- ``relu_plain`` and ``tanh_plain``: dropout and augmentation off, as in Fig. 1. Measured: the
  first epoch whose training accuracy reaches ``--target``, and the training time to it.

Dropout on against off (Sec. 4.2: "Without dropout, our network exhibits substantial
overfitting"), with augmentation on in both:

- ``relu``: the network as in the paper (ReLU, dropout 0.5, augmentation);
- ``relu_no_dropout``: dropout 0. Measured: training accuracy minus test accuracy.

Writes ``outputs/ablations/<name>.json`` (per-epoch curves and the summary; ``--name`` defaults
to ``<experiment>_ablations``) and ``outputs/visualizations/<name>.png``; the README table is
that JSON's summary.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from constants import ABLATIONS_DIR, VISUALIZATIONS_DIR
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

VARIANTS: dict[str, dict[str, Any]] = {
    "relu_plain": {"dropout": 0.0, "augment": False},
    "tanh_plain": {"activation": "tanh", "dropout": 0.0, "augment": False},
    "relu": {},
    "relu_no_dropout": {"dropout": 0.0},
}
EPOCHS = 10  # the README's budget per variant (the experiment's 12 minus two, for time)


def run_record(name: str, config: Any, trained: Any, target: float) -> dict[str, Any]:
    """One variant's entry: its switches, epochs and seconds to the target, the curves."""
    train = [m["accuracy"] for m in trained.each_epoch["train"]]
    test = [m["accuracy"] for m in trained.each_epoch["test"]]
    assert (
        train
    ), f"{name}: no epoch was completed (max_steps {config.max_steps}): --set max_steps=none"
    first = next((e for e, acc in enumerate(train, start=1) if acc >= target), None)
    return {
        "variant": name,
        "activation": config.activation,
        "dropout": config.dropout,
        "augment": config.augment,
        **trained.record(
            epochs_to_target=first,
            seconds_to_target=round(trained.epoch_seconds[first - 1], 1) if first else None,
            final_train_accuracy=train[-1],
            final_test_accuracy=test[-1],
            final_gap=train[-1] - test[-1],
            train_accuracy=train,
            val_accuracy=trained.history["val_accuracy"],
            test_accuracy=test,
            epoch_seconds=[round(s, 1) for s in trained.epoch_seconds],
        ),
    }


def plot_ablations(result: dict[str, Any], path: Path) -> Path:
    """Left: training accuracy per epoch, ReLU vs tanh, with the target. Right: train vs test."""
    runs = {run["variant"]: run for run in result["runs"]}
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), layout="constrained")
    for name, color in (("relu_plain", "tab:blue"), ("tanh_plain", "tab:green")):
        run, label = runs[name], name.split("_")[0]
        epochs = range(1, len(run["train_accuracy"]) + 1)
        left.plot(epochs, run["train_accuracy"], "-", color=color, label=f"{label}: train")
        left.plot(epochs, run["val_accuracy"], ":", color=color, label=f"{label}: val")
    left.axhline(result["target"], color="grey", lw=0.8, label=f"target {result['target']}")
    left.set(
        xlabel="epoch",
        ylabel="accuracy",
        title="ReLU against tanh, no dropout or augmentation (Sec. 3.1)",
    )
    left.legend()
    for name, color in (("relu", "tab:blue"), ("relu_no_dropout", "tab:red")):
        run = runs[name]
        epochs = range(1, len(run["train_accuracy"]) + 1)
        label = "dropout 0.5" if name == "relu" else "no dropout"
        right.plot(epochs, run["train_accuracy"], "-", color=color, label=f"{label}: train")
        right.plot(epochs, run["test_accuracy"], ":", color=color, label=f"{label}: test")
    right.set(xlabel="epoch", ylabel="accuracy", title="Dropout on against off, with augmentation")
    right.legend(fontsize="small")
    fig.suptitle(
        f"AlexNet ablations on {result['experiment']}, {result['train_samples']} training images"
    )
    return plotting.save_figure(fig, path)


def summary_lines(result: dict[str, Any]) -> list[str]:
    """The README table: one row per variant."""
    lines = [
        "| Variant | Dropout | Augment | Epochs to train acc >= %.2f | Seconds to it | "
        "Train acc | Test acc | Gap |" % result["target"],
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in result["runs"]:
        seconds = f"{r['seconds_to_target']:.0f}" if r["seconds_to_target"] else "not reached"
        lines.append(
            f"| `{r['variant']}` | {r['dropout']} | {'on' if r['augment'] else 'off'} | "
            f"{r['epochs_to_target'] or 'not reached'} | {seconds} | "
            f"{r['final_train_accuracy']:.4f} | {r['final_test_accuracy']:.4f} | "
            f"{r['final_gap']:+.4f} |"
        )
    return lines


def parser() -> argparse.ArgumentParser:
    p = study_parser(
        "AlexNet ablations: ReLU vs tanh, dropout on vs off.",
        "fashion_mnist",
        set_help="config overrides for every variant (the variants then change their switches)",
    )
    p.set_defaults(epochs=str(EPOCHS), name=None)  # name None: <experiment>_ablations
    p.add_argument("--target", type=float, default=0.9, help="training accuracy target")
    return p


def run(args: argparse.Namespace) -> None:
    if replot_study(args, VISUALIZATIONS_DIR, plot_ablations):
        return
    args.name = args.name or f"{args.experiment}_ablations"
    base, device, splits = load_study(SPEC, args)
    result: dict[str, Any] = {
        "experiment": args.experiment,
        **study_header(splits, base),
        "target": args.target,
        "seed": base.seed,
        "runs": [],
    }
    for name, changes in VARIANTS.items():
        config = apply_overrides(base, changes)
        logger.info("variant %s | %s", name, changes or "as in the paper")
        trained = train_variant(SPEC, config, splits, device, each_epoch=("train", "test"))
        result["runs"].append(run_record(name, config, trained, args.target))
        last = result["runs"][-1]
        logger.info(
            "%s | train %.4f | test %.4f | gap %+.4f | epochs to %.2f: %s",
            name,
            last["final_train_accuracy"],
            last["final_test_accuracy"],
            last["final_gap"],
            args.target,
            last["epochs_to_target"] or "not reached",
        )
    for line in summary_lines(result):
        logger.info("%s", line)
    save_study(result, args, ABLATIONS_DIR, VISUALIZATIONS_DIR, plot_ablations)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
