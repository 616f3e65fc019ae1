"""Side by side on one test set: our MLP against scikit-learn's MLPClassifier (one layer of 100).

    python src/train.py --experiment fashion_mnist
    python src/compare.py --checkpoint best --experiment fashion_mnist --json

The reference is the Fashion-MNIST benchmark (Xiao, Rasul & Vollgraf 2017, Table 3 / the
benchmark page): MLPClassifier(hidden_layer_sizes=(100,)), ReLU, Adam, at 0.871 test accuracy.
Here it is fitted on exactly the training split our model saw (pixels scaled to [0, 1], as our
model reads them), with scikit-learn's other defaults, and both are scored on the canonical test
set. The result goes to outputs/logs/<checkpoint>.<experiment>.compare.json.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

import numpy as np
from constants import LOGS_DIR
from sklearn.neural_network import MLPClassifier
from train import SPEC

from data_utils import ArrayLoader
from data_utils.transforms import flat_features
from engine.evaluator import Evaluator
from engine.workflow import load_trained, script_main, write_result
from utils.device import select_device

logger = logging.getLogger(__name__)

PUBLISHED_SKLEARN_MLP = 0.871  # Fashion-MNIST benchmark, MLPClassifier hidden (100,), relu


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Our MLP against scikit-learn's MLPClassifier.")
    p.add_argument("--checkpoint", required=True, help="checkpoint path, or 'latest' / 'best'")
    p.add_argument("--experiment", help="data to compare on (default: the checkpoint's)")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--max-iter", type=int, default=200, help="sklearn epochs (its default: 200)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    return p


def run(args: argparse.Namespace) -> None:
    device = select_device(args.device)
    model, config, splits, state = load_trained(
        SPEC, args.checkpoint, args.experiment, args.data_dir, device
    )
    test_loader = ArrayLoader(splits.x_test, splits.y_test, 1000, transform=splits.transform)
    ours = Evaluator(model, None, device).evaluate(test_loader)["accuracy"]

    baseline = MLPClassifier(
        hidden_layer_sizes=(100,), max_iter=args.max_iter, random_state=config.seed
    )
    start = time.perf_counter()
    x_train = flat_features(splits.x_train, splits.transform, np.float32)  # (N, D) in [0, 1]
    baseline.fit(x_train, splits.y_train.numpy())
    seconds = time.perf_counter() - start
    x_test = flat_features(splits.x_test, splits.transform, np.float32)
    theirs = float(baseline.score(x_test, splits.y_test.numpy()))
    result = {
        "experiment": config.experiment,
        "checkpoint": str(state["path"]),
        "num_train": len(splits.y_train),
        "num_test": len(splits.y_test),
        "mlp_test_accuracy": ours,
        "mlp_hidden_sizes": list(config.hidden_sizes),
        "sklearn_test_accuracy": theirs,
        "sklearn_epochs": int(baseline.n_iter_),
        "sklearn_fit_seconds": round(seconds, 1),
        "sklearn_published": PUBLISHED_SKLEARN_MLP,
    }
    logger.info(
        "test accuracy | ours %.4f | sklearn MLPClassifier(100) %.4f (%d epochs, %.0f s) "
        "| published %.3f",
        ours,
        theirs,
        baseline.n_iter_,
        seconds,
        PUBLISHED_SKLEARN_MLP,
    )
    out = LOGS_DIR / f"{Path(state['path']).stem}.{config.experiment}.compare.json"
    write_result(result, out, args.json)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
