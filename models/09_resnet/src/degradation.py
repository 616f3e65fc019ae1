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
differ (the shared study mechanics are engine/study.py). The training error is the running error
over each epoch's batches in training mode, as the thin curves of Fig. 6. Results go to
outputs/logs/<name>.json and the plot (training and validation error per epoch of every network,
like Fig. 6) to outputs/visualizations/<name>.png.
"""

from __future__ import annotations

import argparse
import dataclasses
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
from engine.workflow import script_main
from utils.config import apply_overrides

logger = logging.getLogger(__name__)


def plot_degradation(result: dict[str, Any], path: Path) -> Path:
    """Fig. 6 of the paper on one pair of axes: training error (left) and validation error
    (right) per epoch, every network; plain nets dashed in reds, residual nets solid in blues,
    deeper nets darker."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, layout="constrained")
    depths = sorted({run["depth"] for run in result["runs"]})
    for ax, key, title in zip(axes, ("train_error", "val_error"), ("training", "validation")):
        curves = []
        for run in result["runs"]:
            shade = 0.45 + 0.5 * depths.index(run["depth"]) / max(1, len(depths) - 1)
            style = {
                "linestyle": "-" if run["residual"] else "--",
                "color": plt.get_cmap("Blues" if run["residual"] else "Reds")(shade),
                "marker": "o",
                "markersize": 3,
                "label": f"{'ResNet' if run['residual'] else 'plain'}-{run['depth']}",
            }
            curves.append((run[key], style))
        plotting.draw_epoch_curves(ax, curves)
        ax.set_title(f"{title} error")
    axes[0].set_ylabel("error (1 - accuracy)")
    fig.suptitle(
        f"Degradation on {result['dataset']}: {result['train_samples']} training images, "
        f"{result['epochs']} epochs, widths {result['config']['widths']} "
        "(He et al. 2015, Fig. 6)"
    )
    return plotting.save_figure(fig, path)


def parser() -> argparse.ArgumentParser:
    p = study_parser("Plain against residual networks of several depths.", "degradation")
    p.add_argument("--depths", nargs="+", type=int, default=[8, 32], help="6n + 2 each")
    p.add_argument(
        "--variants", nargs="+", choices=["plain", "residual"], default=["plain", "residual"]
    )
    return p


def run(args: argparse.Namespace) -> None:
    if replot_study(args, VISUALIZATIONS_DIR, plot_degradation):
        return
    base, device, splits = load_study(SPEC, args)
    result: dict[str, Any] = {
        **study_header(splits, base),
        "config": {
            k: v for k, v in dataclasses.asdict(base).items() if k not in ("depth", "residual")
        },
        "runs": [],
    }
    for residual in (variant == "residual" for variant in args.variants):
        for depth in args.depths:
            config = apply_overrides(base, {"depth": depth, "residual": residual})
            trained = train_variant(SPEC, config, splits, device)
            run_result = {
                "depth": depth,
                "residual": residual,
                **trained.record(
                    train_error=[1.0 - a for a in trained.history["train_accuracy"]],
                    val_error=[1.0 - a for a in trained.history["val_accuracy"]],
                    train_loss=trained.history["train_loss"],
                    test_error=1.0 - trained.test["accuracy"],
                ),
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
    save_study(result, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_degradation)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
