"""Regenerate the figures that the model READMEs show inline.

FIGURES_BY_MODEL below is the whole story: for each model folder, the README commands that draw
its key plots, the PNG each writes under outputs/visualizations/, and the small copy committed as
models/NN_name/figures/<name>.png. Each command runs as a user would run it (cwd = the model's
folder, this Python); the PNG is then downscaled to at most MAX_WIDTH pixels and reduced to a
palette so that it stays under MAX_BYTES. Real data sets come from $AIFS_DATA_DIR, as for any run.

From the repository root:

    python docs/make_figures.py                                # every model
    python docs/make_figures.py --models 01_perceptron 04_hopfield
    python docs/make_figures.py --list                         # the table, no runs
    python docs/make_figures.py --models 09_resnet --copy-only # copy what a run left in outputs/
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from plotting.core import small_png
from utils.exceptions import AIFromScratchError

logger = logging.getLogger("make_figures")

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "models"
OUTPUTS = Path("outputs/visualizations")
FIGURES = "figures"
MAX_WIDTH = 900  # pixels: a README column on GitHub is about 830 px wide
MAX_BYTES = 150_000  # each committed PNG stays under this


@dataclass(frozen=True)
class Figure:
    """One committed figure: the README command that draws it, its output, its committed name."""

    command: str  # as written in the model's README, run from the model's folder
    output: str  # the PNG the command writes, relative to outputs/visualizations/
    name: str  # the committed copy, relative to models/NN_name/figures/
    needs: str = ""  # a README command to run first, e.g. the training whose checkpoint it reads

    def commands(self) -> list[str]:
        return [self.needs, self.command] if self.needs else [self.command]


# Model folder -> its key figures, in README order. A command shared by figures runs once.
FIGURES_BY_MODEL: dict[str, list[Figure]] = {
    "01_perceptron": [
        Figure(
            "python src/train.py --experiment separable --visualize --no-wandb",
            "separable_train_boundary.png",
            "separable_boundary.png",
        ),
        Figure(
            "python src/train.py --experiment xor --visualize --no-wandb",
            "xor_train_boundary.png",
            "xor_boundary.png",
        ),
    ],
    "02_adaline": [
        Figure(
            "python src/compare.py settle --experiment moons",
            "moons_settle.png",
            "moons_settle.png",
        ),
        Figure(
            "python src/train.py --experiment fashion_mnist --visualize --no-wandb",
            "fashion_mnist_train_weights.png",
            "fashion_mnist_weights.png",
        ),
    ],
    "03_mlp": [
        Figure(
            "python src/train.py --experiment xor --visualize --no-wandb",
            "xor_train_boundary.png",
            "xor_boundary.png",
        ),
        Figure(
            "python src/shift.py --checkpoint best --experiment mnist",
            "mnist_shift.png",
            "mnist_shift.png",
            needs="python src/train.py --experiment mnist --no-wandb",
        ),
    ],
    "04_hopfield": [
        Figure(
            "python src/train.py --experiment mnist --visualize --no-wandb",
            "mnist_train_recall.png",
            "mnist_recall.png",
        ),
        Figure("python src/capacity.py", "capacity.png", "capacity.png"),
        Figure("python src/capacity.py", "spurious.png", "spurious.png"),
    ],
    "05_lenet5": [
        Figure(
            "python src/train.py --experiment mnist --visualize --no-wandb",
            "mnist_train_c1_filters.png",
            "mnist_c1_filters.png",
        ),
        Figure(
            "python src/train.py --experiment mnist --visualize --no-wandb",
            "mnist_train_c1_maps.png",
            "mnist_c1_maps.png",
        ),
    ],
    "06_alexnet": [
        Figure("python src/ablations.py", "fashion_mnist_ablations.png", "ablations.png"),
    ],
    "07_vgg": [
        Figure("python src/depth_study.py", "depth_study.png", "depth_study.png"),
    ],
    "08_googlenet": [
        Figure("python src/compare.py", "compare.png", "compare.png"),
    ],
    "09_resnet": [
        Figure("python src/degradation.py", "degradation.png", "degradation.png"),
    ],
    "10_rnn": [
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment adding_200 --visualize",
            "adding_200_eval_gradients.png",
            "adding_200_gradients.png",
            needs="python src/train.py --experiment adding_200 --no-wandb",
        ),
    ],
    "11_lstm": [
        Figure("python src/compare.py adding", "adding.png", "adding.png"),
    ],
    "12_gru": [
        Figure("python src/compare.py lstm rnn", "mnist1d.png", "compare_mnist1d.png"),
    ],
    "13_seq2seq": [],  # its key figure is the side-by-side in 14_attention's README
    "14_attention": [
        Figure("python src/compare.py", "compare_reverse.png", "compare_reverse.png"),
    ],
    "15_transformer": [
        Figure("python src/compare.py", "compare_reverse.png", "compare_reverse.png"),
    ],
    "16_gpt": [],  # its numbers are tables (README): validation loss, speed levers
    "17_bert": [
        Figure(
            "python src/curve.py --pretrained latest",
            "curve.png",
            "curve.png",
            needs="python src/train.py --experiment pretrain --no-wandb",
        ),
    ],
    "18_vit": [
        Figure(
            "python src/compare.py --fractions 0.05 0.1 0.25 0.5 1.0 --steps vit=332 resnet=238"
            " --name data_hunger",
            "data_hunger.png",
            "data_hunger.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment fashion_mnist --visualize",
            "fashion_mnist_eval_positions.png",
            "fashion_mnist_positions.png",
            needs="python src/train.py --experiment fashion_mnist --no-wandb",
        ),
    ],
    "19_vae": [
        Figure(
            "python src/train.py --experiment latent2d --visualize --no-wandb",
            "latent2d_train_latent.png",
            "latent2d_latent.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --iwae-k 0 --visualize",
            "mnist_eval_samples.png",
            "mnist_samples.png",
            needs="python src/train.py --experiment mnist --no-wandb",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --iwae-k 0 --visualize",
            "mnist_eval_interpolations.png",
            "mnist_interpolations.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment autoencoder --visualize",
            "autoencoder_eval_samples.png",
            "autoencoder_samples.png",
            needs="python src/train.py --experiment autoencoder --no-wandb",
        ),
    ],
    "20_gan": [
        Figure(
            "python src/train.py --experiment mnist --visualize --no-wandb",
            "mnist_train_samples.png",
            "mnist_samples.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --score",
            "mnist_eval_class_histogram.png",
            "mnist_class_histogram.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --score",
            "mnist_eval_game.png",
            "mnist_game.png",
        ),
        Figure(
            "python src/train.py --experiment mnist_collapse --visualize --no-wandb",
            "mnist_collapse_train_samples.png",
            "mnist_collapse_samples.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist_collapse --score",
            "mnist_collapse_eval_class_histogram.png",
            "mnist_collapse_class_histogram.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist_collapse --score",
            "mnist_collapse_eval_game.png",
            "mnist_collapse_game.png",
        ),
    ],
    "21_dcgan": [
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment fashion_mnist --visualize",
            "fashion_mnist_eval_samples.png",
            "fashion_mnist_samples.png",
            needs="python src/train.py --experiment fashion_mnist --no-wandb",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment fashion_mnist --visualize",
            "fashion_mnist_eval_interpolations.png",
            "fashion_mnist_interpolations.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment fashion_mnist --visualize",
            "fashion_mnist_eval_losses.png",
            "fashion_mnist_losses.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --visualize",
            "mnist_eval_samples.png",
            "mnist_samples.png",
            needs="python src/train.py --experiment mnist --no-wandb",
        ),
    ],
    "22_ddpm": [
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --visualize",
            "mnist_eval_forward.png",
            "mnist_forward.png",
            needs="python src/train.py --experiment mnist --no-wandb",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --visualize",
            "mnist_eval_reverse.png",
            "mnist_reverse.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --visualize",
            "mnist_eval_samples.png",
            "mnist_samples.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --visualize",
            "mnist_eval_curves.png",
            "mnist_curves.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment mnist --visualize",
            "mnist_eval_loss_by_step.png",
            "mnist_loss_by_step.png",
        ),
    ],
    "23_unet": [
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment membranes --visualize",
            "membranes_eval_prediction.png",
            "membranes_prediction.png",
            needs="python src/train.py --experiment membranes --no-wandb",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment membranes --visualize",
            "membranes_eval_curves.png",
            "membranes_curves.png",
        ),
    ],
    "24_rcnn": [
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment canvases --visualize",
            "canvases_eval_detections.png",
            "canvases_detections.png",
            needs="python src/train.py --experiment canvases --no-wandb",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment canvases --visualize",
            "canvases_eval_pr_curves.png",
            "canvases_pr_curves.png",
        ),
    ],
    "25_faster_rcnn": [
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment canvases --visualize",
            "canvases_eval_detections.png",
            "canvases_detections.png",
            needs="python src/train.py --experiment canvases --no-wandb",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment canvases --visualize",
            "canvases_eval_pr_curves.png",
            "canvases_pr_curves.png",
        ),
    ],
    "26_yolo": [
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment canvases --visualize",
            "canvases_eval_detections.png",
            "canvases_detections.png",
            needs="python src/train.py --experiment canvases --no-wandb",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment canvases --visualize",
            "canvases_eval_pr_curves.png",
            "canvases_pr_curves.png",
        ),
    ],
    "27_mask_rcnn": [
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment canvases --visualize",
            "canvases_eval_detections.png",
            "canvases_detections.png",
            needs="python src/train.py --experiment canvases --no-wandb",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment canvases --visualize",
            "canvases_eval_pr_curves.png",
            "canvases_pr_curves.png",
        ),
        Figure(
            "python src/evaluate.py --checkpoint latest --experiment canvases --visualize",
            "canvases_eval_mask_pr_curves.png",
            "canvases_mask_pr_curves.png",
        ),
    ],
    "28_gcn": [
        Figure(
            "python src/compare.py --dataset cora --seeds 10",
            "compare_cora.png",
            "compare_cora.png",
        ),
        Figure(
            "python src/compare.py --dataset citeseer --seeds 10",
            "compare_citeseer.png",
            "compare_citeseer.png",
        ),
        Figure(
            "python src/depth_study.py --dataset cora --depths 1 2 4 8 16 --seeds 3",
            "depth_cora.png",
            "depth_cora.png",
        ),
        Figure("python src/karate.py", "karate_embedding.png", "karate_embedding.png"),
    ],
    "29_bitnet": [
        Figure("python src/compare.py", "compare.png", "compare.png"),
    ],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        description="Run the README commands that draw each model's key figures and commit "
        "small copies under models/NN_name/figures/."
    )
    p.add_argument(
        "--models",
        nargs="+",
        choices=sorted(FIGURES_BY_MODEL),
        metavar="MODEL",
        help=f"model folders to regenerate (default: all of {', '.join(sorted(FIGURES_BY_MODEL))})",
    )
    p.add_argument("--list", action="store_true", help="print the table of commands and exit")
    p.add_argument(
        "--copy-only",
        action="store_true",
        help="run nothing; copy the PNGs an earlier run of the commands left in outputs/",
    )
    return p.parse_args(argv)


class FigureError(AIFromScratchError):
    """A command that failed or did not write the PNG it should have."""


def print_table(models: list[str]) -> None:
    for model in models:
        for fig in FIGURES_BY_MODEL[model]:
            print(
                f"{model}: (cd models/{model} && {' && '.join(fig.commands())})\n"
                f"    writes {OUTPUTS / fig.output} -> models/{model}/{FIGURES}/{fig.name}"
            )


def run_command(model: str, command: str) -> float:
    """Run one README command in the model's folder with this Python; return its wall seconds."""
    argv = shlex.split(command)
    assert argv[0] == "python", f"{model}: README commands start with 'python': {command!r}"
    logger.info("%s | running %s", model, command)
    start = time.monotonic()
    try:
        done = subprocess.run([sys.executable, *argv[1:]], cwd=MODELS_DIR / model, check=False)
    except OSError as exc:
        raise FigureError(f"{model}: could not start {command!r}: {exc}") from exc
    seconds = time.monotonic() - start
    if done.returncode != 0:
        raise FigureError(f"{model}: {command!r} exited with {done.returncode}")
    logger.info("%s | done in %.0f s: %s", model, seconds, command)
    return seconds


def shrink_png(source: Path, target: Path) -> int:
    """Write source to target at most MAX_WIDTH wide, palette-reduced, under MAX_BYTES."""
    try:
        data = small_png(source, MAX_WIDTH, MAX_BYTES)
    except AIFromScratchError as exc:
        raise FigureError(str(exc)) from exc
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    return len(data)


def make_figures(model: str, copy_only: bool) -> None:
    folder = MODELS_DIR / model
    started = time.time()
    if not copy_only:
        commands = [c for fig in FIGURES_BY_MODEL[model] for c in fig.commands()]
        for command in dict.fromkeys(commands):  # in order, each once
            run_command(model, command)
    for fig in FIGURES_BY_MODEL[model]:
        source = folder / OUTPUTS / fig.output
        if not source.is_file():
            raise FigureError(f"{model}: {source} not found (written by {fig.command!r})")
        if not copy_only and source.stat().st_mtime < started:
            raise FigureError(f"{model}: {fig.command!r} did not rewrite {source}")
        size = shrink_png(source, folder / FIGURES / fig.name)
        logger.info("%s | %s/%s (%d KB)", model, FIGURES, fig.name, round(size / 1000))


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models = args.models or sorted(FIGURES_BY_MODEL)
    if args.list:
        print_table(models)
        return 0
    return for_each_model(models, lambda model: make_figures(model, args.copy_only))


def for_each_model(models: list[str], work: Callable[[str], object]) -> int:
    """Run ``work(model)`` for each model with INFO logging; the first project error stops the
    rest and is logged. Returns the exit code (0 or 1). docs/run_notebooks.py uses it too."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s | %(message)s", datefmt="%H:%M:%S")
    if not os.environ.get("AIFS_DATA_DIR"):
        logger.info("AIFS_DATA_DIR is not set: data sets come from the cache or are downloaded")
    try:
        for model in models:
            work(model)
    except AIFromScratchError as exc:
        logger.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
