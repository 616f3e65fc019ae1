"""The GRU against other recurrent models at equal width and budget: parameters, time, accuracy.

    python src/compare.py lstm                 # GRU and LSTM on MNIST-1D, the mnist1d budget
    python src/compare.py lstm rnn             # and the Elman network: three rows
    python src/compare.py lstm --set reset_after=true      # the cuDNN form of the GRU
    python src/compare.py --replot outputs/logs/mnist1d.json          # redraw a saved result

Chung et al. (2014) found the GRU comparable to the LSTM with fewer parameters: per layer
3 (I H + H H + 2 H) weights against 4 (...), three quarters at equal width H. Here every network
trains from scratch on the same MNIST-1D splits with the same seed and the GRU's budget: the
fields of BUDGET (width, depth, optimiser, learning rate, batch size, epochs, clipping) are taken
from the GRU's experiment (``--experiment``, default mnist1d, plus --set and the other options)
and imposed on each other model's experiment of the same name, found through the registry
(utils.registry). Only the cell differs. The shared study mechanics are engine/study.py; the
result goes to outputs/logs/<name>.json and the validation accuracy per epoch of every network
to outputs/visualizations/<name>.png. The table is logged, one row per network: parameters,
seconds per epoch (wall clock, training and validation; on a shared machine the CPU seconds of
this process are the steadier measure of cost), test accuracy.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from constants import LOGS_DIR, MODEL_NAME, VISUALIZATIONS_DIR
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
from utils.registry import model_config, model_spec

logger = logging.getLogger(__name__)

# What makes the budget: set from the GRU's config on every network of the study.
BUDGET = (
    "hidden_size",
    "num_layers",
    "dropout",
    "optimizer",
    "lr",
    "momentum",
    "weight_decay",
    "scheduler",
    "batch_size",
    "epochs",
    "max_steps",
    "grad_clip",
    "seed",
    "val_fraction",
    "standardize",
)


def plot_comparison(result: dict[str, Any], path: Path) -> Path:
    """Validation accuracy per epoch of every network, one curve each, parameters in the label."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    curves = [
        (
            run["val_accuracy"],
            {"marker": "o", "markersize": 3, "label": f"{run['model']} ({run['parameters']:,})"},
        )
        for run in result["runs"]
    ]
    plotting.draw_epoch_curves(ax, curves)
    ax.set_ylabel("validation accuracy")
    ax.set_title(
        f"{result['dataset']}: {result['train_samples']} training signals, "
        f"hidden {result['runs'][0]['hidden_size']}, {result['epochs']} epochs"
    )
    return plotting.save_figure(fig, path)


def parser() -> argparse.ArgumentParser:
    p = study_parser(
        "The GRU against other recurrent models at equal width and budget.",
        "mnist1d",
        set_help="overrides of the GRU's config; the BUDGET fields reach every network",
    )
    p.add_argument(
        "models", nargs="*", default=["lstm"], help="registered models to train beside the GRU"
    )
    return p


def run(args: argparse.Namespace) -> None:
    if replot_study(args, VISUALIZATIONS_DIR, plot_comparison):
        return
    base, device, splits = load_study(SPEC, args)
    budget = {field: getattr(base, field) for field in BUDGET}
    result: dict[str, Any] = {
        **study_header(splits, base),
        "budget": budget,
        "reset_after": base.reset_after,
        "runs": [],
    }
    names = [MODEL_NAME, *(m for m in args.models if m != MODEL_NAME)]  # the GRU first
    for name in names:
        if name == MODEL_NAME:
            spec, config = SPEC, base
        else:
            spec, config = model_spec(name), model_config(name, args.experiment, **budget)
        trained = train_variant(spec, config, splits, device)
        epochs = max(1, len(trained.epoch_seconds))
        run_result = {
            "model": name,
            "hidden_size": config.hidden_size,
            **trained.record(
                seconds_per_epoch=round(trained.train_seconds / epochs, 2),
                cpu_seconds_per_epoch=round(trained.train_cpu_seconds / epochs, 2),
                val_accuracy=trained.history["val_accuracy"],
                test_accuracy=trained.test["accuracy"],
            ),
        }
        # utils.model_stats.count_flops sees nn.Linear calls only: the paper form's recurrent
        # products are F.linear on slices of the GRU's weights, so its count would be too low.
        del run_result["flops"]
        result["runs"].append(run_result)
    logger.info(
        "%-6s | %10s | %9s | %13s | %13s",
        "model",
        "parameters",
        "s / epoch",
        "CPU s / epoch",
        "test accuracy",
    )
    for r in result["runs"]:
        logger.info(
            "%-6s | %10d | %9.2f | %13.2f | %13.4f",
            r["model"],
            r["parameters"],
            r["seconds_per_epoch"],
            r["cpu_seconds_per_epoch"],
            r["test_accuracy"],
        )
    save_study(result, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_comparison)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
