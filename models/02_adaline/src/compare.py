"""ADALINE side by side with the perceptron and with scikit-learn's linear models.

    python src/compare.py settle --experiment moons
    python src/compare.py settle --experiment breast_cancer
    python src/compare.py sklearn --experiment fashion_mnist --data-dir /path/to/datasets

``settle`` trains ADALINE and Rosenblatt's perceptron (imported from models/01_perceptron, the
model ADALINE is a delta on) on the same split in the same sample order, epoch by epoch through
the shared Trainer, and draws how their training error and their decision boundary move. On
data no line separates, the perceptron keeps turning its boundary every epoch; LMS settles.

``sklearn`` trains ADALINE with the experiment's config and, on the same training split, fits
scikit-learn's LogisticRegression and SGDClassifier (the linear baselines of the Fashion-MNIST
benchmark, Xiao et al. 2017, with its StandardScaler preprocessing; the benchmark fitted all
60,000 training images, here every model gets the 51,000 of the shared split), plus the
closed-form least-squares weights the delta rule descends towards; all are scored on the same
test split.

Both write a JSON summary to outputs/logs/ and log every number they report.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from config import AdalineConfig
from constants import EXPERIMENTS_FILE, LOGS_DIR, VISUALIZATIONS_DIR
from model import create_model, squared_error, targets

from data_utils import DatasetSplits, create_data_loaders
from data_utils.transforms import flat_features
from engine.baselines import log_results, score_baselines
from engine.evaluator import Evaluator
from engine.trainer import Trainer
from engine.workflow import load_data, script_main, write_result
from plotting import save_figure  # also selects the Agg backend before any figure is drawn
from utils.config import apply_overrides, load_config
from utils.registry import model_modules
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------------- settle vs oscillate


def turn_angles(weights: np.ndarray) -> np.ndarray:
    """Degrees the boundary's normal (w, b) turned from epoch to epoch: (E, P) -> (E - 1,)."""
    unit = weights / np.maximum(np.linalg.norm(weights, axis=1, keepdims=True), 1e-12)
    cosine = np.clip(np.sum(unit[1:] * unit[:-1], axis=1), -1.0, 1.0)
    return np.degrees(np.arccos(cosine))


def train_epoch_by_epoch(model: Any, criterion: Any, config: Any, splits: DatasetSplits) -> dict:
    """Train through the shared Trainer one epoch at a time, recording weights and train error."""
    train_loader, val_loader, _ = create_data_loaders(splits, config.batch_size, seed=config.seed)
    trainer = Trainer(model, None, criterion, torch.device("cpu"), config)
    x, y = flat_features(splits.x_train, splits.transform), splits.y_train.numpy()
    weights, errors = [], []
    for epoch in range(1, config.epochs + 1):
        trainer.train(train_loader, val_loader, epoch)  # continues from the previous epoch
        weights.append(np.concatenate([model.weight.ravel(), model.bias.ravel()]))
        errors.append(float(np.mean(model.predict(x) != y)))
    return {"weights": np.stack(weights), "train_error": np.array(errors)}


def settle(experiment: str = "moons", data_dir: str | None = None, last: int = 20) -> dict:
    """ADALINE against the perceptron on one experiment's data; writes a plot and a JSON summary.

    Args:
        experiment: An ADALINE experiment; its dataset, seed, epochs and batch size are used for
            both models (the perceptron keeps its own rule, lr 1 from zero weights).
        data_dir: Data directory for file-backed data sets (default $AIFS_DATA_DIR).
        last: The summary statistics cover the final ``last`` epochs.

    Returns:
        Per run (ADALINE online with the experiment's lr, ADALINE batch, perceptron): the
        training error over the final epochs (min, max, last) and the mean angle in degrees by
        which the decision boundary turned per epoch over the same epochs.
    """
    config = load_config(AdalineConfig, EXPERIMENTS_FILE, experiment)
    set_random_seed(config.seed)
    splits = load_data(config, data_dir)
    perceptron = model_modules("perceptron")
    p_config = apply_overrides(
        perceptron.config.PerceptronConfig(),
        {
            "experiment": experiment,
            "dataset": config.dataset,
            "seed": config.seed,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "standardize": config.standardize,
        },
    )
    # Batch descent on the whole split with lr = 1 / (D + 1): standardised features and the bias
    # input give the input correlation matrix trace D + 1, so lr < 2 / lambda_max holds.
    b_config = apply_overrides(
        config,
        {
            "variant": "batch",
            "batch_size": len(splits.y_train),
            "lr": 1.0 / (splits.num_features + 1),
        },
    )
    runs = {
        "ADALINE (online LMS)": train_epoch_by_epoch(
            create_model(config, splits), squared_error, config, splits
        ),
        "ADALINE (batch)": train_epoch_by_epoch(
            create_model(b_config, splits), squared_error, b_config, splits
        ),
        "perceptron": train_epoch_by_epoch(
            perceptron.model.create_model(p_config, splits),
            perceptron.model.perceptron_criterion,
            p_config,
            splits,
        ),
    }
    summary: dict[str, Any] = {
        "experiment": experiment,
        "dataset": config.dataset,
        "epochs": config.epochs,
    }
    for name, run in runs.items():
        tail = run["train_error"][-last:]
        summary[name] = {
            "train_error_min": float(tail.min()),
            "train_error_max": float(tail.max()),
            "train_error_last": float(tail[-1]),
            "mean_turn_degrees": float(turn_angles(run["weights"])[-last:].mean()),
        }
        logger.info(
            "%s | last %d epochs: train error %.3f..%.3f (final %.3f) | boundary turns %.2f deg"
            " per epoch",
            name,
            last,
            tail.min(),
            tail.max(),
            tail[-1],
            summary[name]["mean_turn_degrees"],
        )
    path = plot_settle(runs, splits, VISUALIZATIONS_DIR / f"{experiment}_settle.png", last)
    summary["plot"] = str(path)
    return write_result(summary, LOGS_DIR / f"{experiment}_settle.json")


def plot_settle(runs: dict, splits: DatasetSplits, path: Path, last: int) -> Path:
    """Training error and boundary turn per epoch; on 2-D data also the final boundaries."""
    two_d = splits.input_shape == (2,)
    fig, axes = plt.subplots(1, 3 if two_d else 2, figsize=(15 if two_d else 10, 4.2))
    colours = {"ADALINE (online LMS)": "tab:blue", "ADALINE (batch)": "tab:green"}
    colours["perceptron"] = "tab:red"
    for name, run in runs.items():
        epochs = np.arange(1, len(run["train_error"]) + 1)
        axes[0].plot(epochs, run["train_error"], color=colours[name], label=name)
        axes[1].plot(epochs[1:], turn_angles(run["weights"]), color=colours[name], label=name)
    axes[0].set(xlabel="epoch", ylabel="training error after the epoch", title="Error")
    axes[1].set(xlabel="epoch", ylabel="degrees", title="How far the boundary turned per epoch")
    axes[1].set_yscale("symlog", linthresh=0.01)
    for ax in axes[:2]:
        ax.grid(alpha=0.3)
        ax.legend()
    if two_d:
        ax = axes[2]
        x = flat_features(torch.cat([splits.x_train, splits.x_val]), splits.transform)
        y = torch.cat([splits.y_train, splits.y_val]).numpy()
        ax.scatter(x[:, 0], x[:, 1], c=y, cmap="coolwarm", s=10, alpha=0.6)
        xs = np.linspace(x[:, 0].min(), x[:, 0].max(), 2)
        for name, run in runs.items():
            for k, (w1, w2, b) in enumerate(run["weights"][-last:]):
                if abs(w2) > 1e-12:  # the line w1 x1 + w2 x2 + b = 0
                    ax.plot(xs, -(w1 * xs + b) / w2, color=colours[name], alpha=0.25, lw=1)
            ax.plot([], [], color=colours[name], label=f"{name}: last {last} boundaries")
        ax.set_ylim(x[:, 1].min() - 0.5, x[:, 1].max() + 0.5)
        ax.set(title=f"Boundaries of the last {last} epochs", xlabel="x1", ylabel="x2")
        ax.legend(fontsize="small")
    fig.suptitle(f"ADALINE settles, the perceptron keeps correcting ({splits.name})")
    return save_figure(fig, path)


# ------------------------------------------------------------------------------ scikit-learn


def against_sklearn(experiment: str = "fashion_mnist", data_dir: str | None = None) -> dict:
    """ADALINE and scikit-learn's linear baselines on one split, scored on the same test set.

    Returns:
        Test accuracy and fit seconds per model.
    """
    from sklearn.linear_model import LogisticRegression, SGDClassifier

    config = load_config(AdalineConfig, EXPERIMENTS_FILE, experiment)
    set_random_seed(config.seed)
    splits = load_data(config, data_dir)
    results: dict[str, Any] = {}

    start = time.perf_counter()
    model = create_model(config, splits)
    train_loader, val_loader, test_loader = create_data_loaders(
        splits, config.batch_size, seed=config.seed
    )
    Trainer(model, None, squared_error, torch.device("cpu"), config).train(
        train_loader, val_loader, config.epochs
    )
    adaline = Evaluator(model, squared_error).evaluate(test_loader)["accuracy"]
    results[f"ADALINE, {config.variant} LMS, {config.epochs} epochs (this repo)"] = {
        "test_accuracy": adaline,
        "seconds": time.perf_counter() - start,
    }

    x_train, y_train = flat_features(splits.x_train, splits.transform), splits.y_train.numpy()
    x_test, y_test = flat_features(splits.x_test, splits.transform), splits.y_test.numpy()
    start = time.perf_counter()
    design = np.hstack([x_train, np.ones((len(x_train), 1))])  # (N, D + 1), bias as an input
    units = 1 if splits.num_classes == 2 else splits.num_classes
    solution = np.linalg.lstsq(design, targets(y_train, units), rcond=None)[0]  # (D + 1, units)
    scores = np.hstack([x_test, np.ones((len(x_test), 1))]) @ solution
    predicted = (scores[:, 0] > 0).astype(np.int64) if units == 1 else scores.argmax(axis=1)
    results["least-squares weights, np.linalg.lstsq (what LMS descends to)"] = {
        "test_accuracy": float(np.mean(predicted == y_test)),
        "seconds": time.perf_counter() - start,
    }

    baselines = {
        "scikit-learn LogisticRegression (lbfgs, C=1, max_iter=200)": LogisticRegression(
            max_iter=200, random_state=config.seed
        ),
        # 5 epochs: scikit-learn 0.19's default (n_iter=5), which the 2017 benchmark ran.
        "scikit-learn SGDClassifier (hinge, l2, 5 epochs)": SGDClassifier(
            max_iter=5, tol=None, random_state=config.seed
        ),
    }
    results.update(score_baselines(baselines, x_train, y_train, x_test, y_test))
    log_results(results)
    summary = {
        "experiment": experiment,
        "dataset": splits.name,
        "train": len(y_train),
        "test": len(y_test),
        "results": results,
    }
    return write_result(summary, LOGS_DIR / f"{experiment}_sklearn.json")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("what", choices=["settle", "sklearn"], help="which comparison to run")
    p.add_argument("--experiment", help="ADALINE experiment (default: moons / fashion_mnist)")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR)")
    return p


def run(args: argparse.Namespace) -> None:
    if args.what == "settle":
        settle(args.experiment or "moons", args.data_dir)
    else:
        against_sklearn(args.experiment or "fashion_mnist", args.data_dir)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
