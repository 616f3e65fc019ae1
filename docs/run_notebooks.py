"""Re-execute the models' analysis notebooks and save them with their outputs for git.

NOTEBOOK_NEEDS below says, for each model, the README commands that train the checkpoints its
notebook (``models/NN_name/notebooks/analysis.ipynb``) opens. With ``--train`` they run first,
as a user would run them (cwd = the model's folder, this Python); without it the notebook opens
the checkpoints already in the model's outputs/. Each notebook then runs top to bottom in a
fresh kernel (utils.notebooks: offline, wandb disabled) and is written back, executed, after a
check that no cell failed and that it stays under 1 MB. Real data sets come from
$AIFS_DATA_DIR, as for any run.

From the repository root:

    python docs/run_notebooks.py --train                            # every model
    python docs/run_notebooks.py --models 01_perceptron --train     # one model
    python docs/run_notebooks.py --models 01_perceptron             # reuse its checkpoints
    python docs/run_notebooks.py --list                             # the table, no runs
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import nbformat
from make_figures import for_each_model, run_command  # docs/: shared with the figures

from utils.exceptions import AIFromScratchError
from utils.notebooks import execute_notebook, execution_problems

logger = logging.getLogger("run_notebooks")

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = ROOT / "models"
NOTEBOOK = Path("notebooks") / "analysis.ipynb"

# Model folder -> the README commands that train what its notebook opens, in order.
NOTEBOOK_NEEDS: dict[str, list[str]] = {
    "01_perceptron": [
        "python src/train.py --experiment separable --no-wandb",
        "python src/train.py --experiment xor --no-wandb",
        "python src/train.py --experiment fashion_mnist --no-wandb",
    ],
    "02_adaline": [
        "python src/train.py --experiment moons --no-wandb",
        "python src/train.py --experiment breast_cancer --no-wandb",
        "python src/train.py --experiment xor --no-wandb",
        "python src/train.py --experiment fashion_mnist --no-wandb",
        "python src/compare.py settle --experiment moons",
        "python src/compare.py sklearn --experiment fashion_mnist",
    ],
    "03_mlp": [
        "python src/train.py --experiment xor --visualize --no-wandb",
        "python src/train.py --experiment mnist --visualize --no-wandb",
        "python src/train.py --experiment mnist_numpy --visualize --no-wandb",
        "python src/train.py --experiment fashion_mnist --visualize --no-wandb",
        "python src/compare.py --checkpoint best --experiment fashion_mnist --json",
    ],
    "04_hopfield": [
        "python src/train.py --experiment mnist --visualize --no-wandb",
        "python src/train.py --experiment mnist-overload --visualize --no-wandb",
        "python src/capacity.py",
    ],
    "05_lenet5": [
        "python src/train.py --experiment mnist --visualize --no-wandb",
        "python src/train.py --experiment fashion_mnist --visualize --no-wandb",
    ],
    "06_alexnet": [
        "python src/train.py --experiment fashion_mnist --visualize --no-wandb",
        "python src/ablations.py",
    ],
    "07_vgg": [
        "python src/train.py --experiment cifar10 --no-wandb",
        "python src/train.py --experiment cifar10_d --no-wandb",
    ],
    "08_googlenet": [
        "python src/train.py --experiment fashion_mnist --no-wandb",
    ],
    "09_resnet": [
        "python src/train.py --experiment cifar10 --no-wandb",
    ],
    "10_rnn": [
        "python src/train.py --experiment mnist1d --no-wandb",
        "python src/train.py --experiment shakespeare --no-wandb",
        "python src/train.py --experiment adding_20 --no-wandb",
        "python src/train.py --experiment adding_50 --no-wandb",
        "python src/train.py --experiment adding_100 --no-wandb",
        "python src/train.py --experiment adding_200 --no-wandb",
    ],
    "11_lstm": [
        "python src/train.py --experiment shakespeare --no-wandb",
        "python src/train.py --experiment mnist1d --no-wandb",
        "python src/compare.py adding",
    ],
    "12_gru": [
        "python src/train.py --experiment mnist1d --no-wandb",
    ],
    "13_seq2seq": [
        "python src/train.py --experiment reverse --no-wandb",
    ],
    "14_attention": [
        "python src/train.py --experiment reverse --no-wandb",
    ],
    "15_transformer": [
        "python src/train.py --experiment reverse --no-wandb",
    ],
    "16_gpt": [
        "python src/train.py --experiment shakespeare --no-wandb",
    ],
    "17_bert": [
        "python src/train.py --experiment pretrain --no-wandb",
        "python src/curve.py --pretrained latest",
    ],
    "18_vit": [
        "python src/train.py --experiment fashion_mnist --no-wandb",
        "python src/train.py --experiment cifar10 --no-wandb",
        "python src/compare.py --fractions 0.05 0.1 0.25 0.5 1.0 --steps vit=332 resnet=238"
        " --name data_hunger",
    ],
    "19_vae": [
        "python src/train.py --experiment mnist --no-wandb",
        "python src/train.py --experiment autoencoder --no-wandb",
        "python src/train.py --experiment latent2d --no-wandb",
        "python src/train.py --experiment autoencoder2d --no-wandb",
    ],
    "20_gan": [
        "python src/train.py --experiment mnist --no-wandb",
        "python src/train.py --experiment mnist_collapse --no-wandb",
    ],
    "21_dcgan": [
        "python src/train.py --experiment fashion_mnist --no-wandb",
        "python src/train.py --experiment mnist --no-wandb",
    ],
    "22_ddpm": [
        "python src/train.py --experiment mnist --no-wandb",
    ],
    "23_unet": [
        "python src/train.py --experiment membranes --no-wandb",
    ],
    "24_rcnn": [
        "python src/train.py --experiment canvases --no-wandb",
    ],
    "25_faster_rcnn": [
        "python src/train.py --experiment canvases --no-wandb",
    ],
    "26_yolo": [
        "python src/train.py --experiment canvases --no-wandb",
    ],
    "27_mask_rcnn": [
        "python src/train.py --experiment canvases --no-wandb",
        "python src/train.py --experiment roi_pool --no-wandb",
    ],
    "28_gcn": [
        "python src/train.py --experiment cora --no-wandb",
        "python src/compare.py --dataset cora --seeds 10",
        "python src/compare.py --dataset citeseer --seeds 10",
        "python src/depth_study.py --dataset cora --depths 1 2 4 8 16 --seeds 3",
        "python src/karate.py",
    ],
    "29_bitnet": [
        "python src/compare.py",
    ],
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description="Re-execute the models' analysis notebooks.")
    p.add_argument("--models", nargs="+", choices=sorted(NOTEBOOK_NEEDS), help="default: all")
    p.add_argument("--train", action="store_true", help="run the training commands first")
    p.add_argument("--list", action="store_true", help="print the table and run nothing")
    p.add_argument("--timeout", type=int, default=1800, help="seconds any one cell may take")
    return p.parse_args(argv)


def run_notebook(model: str, train: bool, timeout: int) -> Path:
    """Train what the notebook needs (with ``train``), execute it, check it, write it back."""
    if train:
        for command in NOTEBOOK_NEEDS[model]:
            run_command(model, command)
    path = MODELS_DIR / model / NOTEBOOK
    start = time.monotonic()
    logger.info("%s | executing %s", model, path.relative_to(ROOT))
    nb = execute_notebook(path, timeout=timeout)
    problems = execution_problems(nb, path.relative_to(ROOT))
    if problems:
        raise AIFromScratchError("; ".join(problems))
    nbformat.write(nb, str(path))
    logger.info(
        "%s | executed in %.0f s, %d KB",
        model,
        time.monotonic() - start,
        round(path.stat().st_size / 1000),
    )
    return path


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    models = args.models or sorted(NOTEBOOK_NEEDS)
    if args.list:
        for model in models:
            print(f"{model}: {MODELS_DIR.relative_to(ROOT) / model / NOTEBOOK}")
            for command in NOTEBOOK_NEEDS[model]:
                print(f"    --train runs: (cd models/{model} && {command})")
        return 0
    return for_each_model(models, lambda model: run_notebook(model, args.train, args.timeout))


if __name__ == "__main__":
    sys.exit(main())
