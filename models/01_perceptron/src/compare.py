"""The perceptron beside scikit-learn's Perceptron, measured in one run on the same split.

    python src/compare.py --experiment fashion_mnist --data-dir /path/to/datasets

Trains this folder's perceptron (Kesler's construction, online rule) with the experiment's
config through the shared Trainer, scoring the test split after every epoch, then fits
scikit-learn's Perceptron on the same training split and scores it on the same test split. The
reference is the Fashion-MNIST paper's benchmark (Xiao, Rasul and Vollgraf 2017, Table 3:
Perceptron 0.782, the best of its grid penalty = l1, l2, elasticnet): StandardScaler on the
pixels, 5 epochs (scikit-learn 0.19's default n_iter), trained there on all 60,000 images, here
on the 51,000 of the shared split. Writes a JSON summary to
outputs/logs/<experiment>_sklearn.json and logs every number it reports.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from typing import Any

import numpy as np
import torch
from config import PerceptronConfig
from constants import EXPERIMENTS_FILE, LOGS_DIR
from model import create_model, perceptron_criterion

from data_utils import create_data_loaders
from data_utils.transforms import flat_features
from engine.baselines import log_results, score_baselines
from engine.evaluator import Evaluator
from engine.trainer import Trainer
from engine.workflow import load_data, script_main, write_result
from utils.config import load_config
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


def against_sklearn(experiment: str = "fashion_mnist", data_dir: str | None = None) -> dict:
    """Test accuracy of this perceptron (every epoch) and of scikit-learn's, on one split.

    Returns:
        The summary written to outputs/logs: per model the final test accuracy and fit seconds,
        and for this perceptron the test accuracy after each epoch.
    """
    from sklearn.linear_model import Perceptron as SklearnPerceptron

    config = load_config(PerceptronConfig, EXPERIMENTS_FILE, experiment)
    set_random_seed(config.seed)
    splits = load_data(config, data_dir)

    start = time.perf_counter()
    model = create_model(config, splits)
    train_loader, val_loader, test_loader = create_data_loaders(
        splits, config.batch_size, seed=config.seed
    )
    trainer = Trainer(model, None, perceptron_criterion, torch.device("cpu"), config)
    evaluator = Evaluator(model, perceptron_criterion)
    per_epoch = []
    for epoch in range(1, config.epochs + 1):
        trainer.train(train_loader, val_loader, epoch)  # continues from the previous epoch
        per_epoch.append(evaluator.evaluate(test_loader)["accuracy"])
    ours = {"test_accuracy": per_epoch[-1], "seconds": time.perf_counter() - start}
    logger.info("this perceptron: test accuracy after each epoch %s", np.round(per_epoch, 4))

    x_train, y_train = flat_features(splits.x_train, splits.transform), splits.y_train.numpy()
    x_test, y_test = flat_features(splits.x_test, splits.transform), splits.y_test.numpy()
    # The benchmark's grid for Perceptron was penalty in (l1, l2, elasticnet) with the default
    # alpha 1e-4; None, the plain rule, is today's default. 5 epochs, as in the benchmark.
    references = {
        f"scikit-learn Perceptron (penalty={penalty}, 5 epochs)": SklearnPerceptron(
            penalty=penalty, max_iter=5, tol=None, random_state=config.seed
        )
        for penalty in (None, "l1", "l2", "elasticnet")
    }
    results: dict[str, Any] = {
        f"perceptron, Kesler's construction, {config.epochs} epochs (this repo)": ours,
        **score_baselines(references, x_train, y_train, x_test, y_test),
    }
    log_results(results)
    summary = {
        "experiment": experiment,
        "dataset": splits.name,
        "train": len(y_train),
        "test": len(y_test),
        "results": results,
        "perceptron_test_accuracy_per_epoch": per_epoch,
        "published_sklearn_perceptron": 0.782,
    }
    return write_result(summary, LOGS_DIR / f"{experiment}_sklearn.json")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="fashion_mnist", help="perceptron experiment")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR)")
    return p


if __name__ == "__main__":
    sys.exit(script_main(parser(), lambda args: against_sklearn(args.experiment, args.data_dir)))
