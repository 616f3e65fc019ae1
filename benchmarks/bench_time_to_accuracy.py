"""Time to accuracy on Fashion-MNIST against scikit-learn, and perceptron epochs per second.

    AIFS_DATA_DIR=/path/to/datasets python benchmarks/bench_time_to_accuracy.py [--threads 1]

Part 1, the MLP against ``sklearn.neural_network.MLPClassifier(hidden_layer_sizes=(100,))``:

- ours: models/03_mlp's ``fashion_mnist`` experiment (784-256-128-10 ReLU, Adam 1e-3, batch
  128) through the shared Trainer, which validates on the 9,000 validation images after every
  epoch as train.py does; wall-clock time until the first epoch whose test accuracy is >= 0.87;
- ours_100: the same with ``hidden_sizes=(100,)``, scikit-learn's architecture (784-100-10), so
  that seconds per epoch compare like with like;
- scikit-learn: its defaults (ReLU, Adam 1e-3, batch 200, L2 1e-4, ``random_state=42``), one
  ``partial_fit`` per epoch so that the test accuracy can be read after each; that is ``fit``'s
  own loop, and the script applies ``fit``'s stopping rule (training loss not better by
  ``tol`` for more than ``n_iter_no_change`` epochs). It is capped at ``--sklearn-epochs``
  epochs or ``--sklearn-seconds`` of training so that the script ends within 5 minutes; the JSON
  says whether the cap or the rule stopped it.

Both train on the same 51,000 training images (the shared split, pixels in [0, 1]) and are
scored on the canonical 10,000 test images; scoring is not timed. Their epochs alternate (ours,
ours_100, scikit-learn's, ours, ...) while they are running, so load from other processes hits
all of them.

Part 2, the perceptron (models/01_perceptron, ``fashion_mnist`` experiment: Kesler's
construction, online rule, zero initial weights) against ``sklearn.linear_model.Perceptron``
(``max_iter=1, tol=None``): one epoch over the same 51,000 images each, from fresh weights,
interleaved, ``--perceptron-rounds`` times. Ours runs through the shared Trainer (its rule is
Python over samples, batches of 1,000; validation on the 9,000 images included, as train.py
runs it); scikit-learn's is compiled SGD, one-vs-rest over the 10 classes.

Threads: torch and NumPy's BLAS (through threadpoolctl) both get ``--threads``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
import warnings
from typing import Any

import benchlib
import numpy as np
import torch
from threadpoolctl import threadpool_limits

from data_utils import DatasetSplits, create_data_loaders
from data_utils.transforms import flat_features
from engine.evaluator import Evaluator
from engine.trainer import Trainer
from engine.workflow import build_optimizer
from utils.config import load_config
from utils.registry import model_spec

SCRIPT = "bench_time_to_accuracy"
TARGET = 0.87


class OurMLP:
    """models/03_mlp through the shared Trainer, one epoch per call."""

    def __init__(self, splits: DatasetSplits, seed: int, **changes: Any) -> None:
        self.config = benchlib.experiment_config(
            "mlp", early_stopping_patience=None, seed=seed, **changes
        )
        torch.manual_seed(seed)
        mlp = model_spec("mlp")
        model = mlp.create_model(self.config, splits)
        self.train_loader, self.val_loader, self.test_loader = create_data_loaders(
            splits, self.config.batch_size, seed=seed
        )
        criterion = mlp.create_criterion(self.config)
        optimizer = build_optimizer(self.config, model)
        self.trainer = Trainer(model, optimizer, criterion, torch.device("cpu"), self.config)
        self.evaluator = Evaluator(model, criterion)

    def epoch(self) -> None:
        self.trainer.train(self.train_loader, self.val_loader, self.trainer.epoch + 1)

    def test_accuracy(self) -> float:
        return self.evaluator.evaluate(self.test_loader)["accuracy"]


class SklearnMLP:
    """MLPClassifier((100,)) with its defaults, one partial_fit (= one epoch of fit) per call."""

    def __init__(self, x_train, y_train, x_test, y_test, seed: int) -> None:
        from sklearn.neural_network import MLPClassifier

        self.clf = MLPClassifier(hidden_layer_sizes=(100,), random_state=seed)
        self.x_train, self.y_train, self.x_test, self.y_test = x_train, y_train, x_test, y_test
        self.classes = np.unique(y_train)

    def epoch(self) -> None:
        self.clf.partial_fit(self.x_train, self.y_train, classes=self.classes)

    def converged(self) -> bool:
        """fit()'s rule: no improvement by tol for more than n_iter_no_change epochs."""
        return self.clf._no_improvement_count > self.clf.n_iter_no_change

    def test_accuracy(self) -> float:
        return float(self.clf.score(self.x_test, self.y_test))


def race(splits: DatasetSplits, seed: int, max_epochs_ours: int, sk_epochs: int, sk_seconds: float):
    """Alternate epochs of both MLPs; ours stops at TARGET, scikit-learn at its rule or the cap."""
    x_train, y_train = flat_features(splits.x_train, splits.transform), splits.y_train.numpy()
    x_test, y_test = flat_features(splits.x_test, splits.transform), splits.y_test.numpy()
    contenders: dict[str, Any] = {
        "ours": OurMLP(splits, seed),
        "ours_100": OurMLP(splits, seed, hidden_sizes=(100,)),
        "sklearn": SklearnMLP(x_train, y_train, x_test, y_test, seed),
    }
    runs: dict[str, dict[str, Any]] = {
        name: {"epoch_seconds": [], "test_accuracy": [], "stopped_by": None} for name in contenders
    }
    while any(run["stopped_by"] is None for run in runs.values()):
        for name, model in contenders.items():
            run = runs[name]
            if run["stopped_by"] is not None:
                continue
            start = time.perf_counter()
            model.epoch()
            run["epoch_seconds"].append(time.perf_counter() - start)
            run["test_accuracy"].append(model.test_accuracy())  # not timed
            epochs, seconds = len(run["epoch_seconds"]), sum(run["epoch_seconds"])
            ours = name != "sklearn"
            if ours and run["test_accuracy"][-1] >= TARGET:
                run["stopped_by"] = f"test accuracy >= {TARGET}"
            elif ours and epochs >= max_epochs_ours:
                run["stopped_by"] = f"cap of {max_epochs_ours} epochs"
            elif name == "sklearn" and model.converged():
                run["stopped_by"] = "its own rule (tol, n_iter_no_change)"
            elif name == "sklearn" and (epochs >= sk_epochs or seconds >= sk_seconds):
                run["stopped_by"] = f"cap ({sk_epochs} epochs or {sk_seconds:.0f} s)"
    for run in runs.values():
        acc, cumulative = run["test_accuracy"], np.cumsum(run["epoch_seconds"]).tolist()
        hit = next((i for i, a in enumerate(acc) if a >= TARGET), None)
        best = int(np.argmax(acc))
        run.update(
            epochs=len(acc),
            train_seconds=cumulative[-1],
            seconds_per_epoch=float(np.median(run["epoch_seconds"])),
            epochs_to_target=None if hit is None else hit + 1,
            seconds_to_target=None if hit is None else cumulative[hit],
            best_test_accuracy=acc[best],
            best_epoch=best + 1,
            seconds_to_best=cumulative[best],
            final_test_accuracy=acc[-1],
        )
    return runs


def perceptron_rounds(splits: DatasetSplits, seed: int, rounds: int) -> dict[str, Any]:
    """One epoch each of our perceptron (Trainer) and scikit-learn's, from fresh weights."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import Perceptron as SklearnPerceptron

    perceptron = model_spec("perceptron")
    config = load_config(perceptron.config_cls, perceptron.experiments_file, "fashion_mnist")
    train_loader, val_loader, test_loader = create_data_loaders(
        splits, config.batch_size, seed=seed
    )
    x_train, y_train = flat_features(splits.x_train, splits.transform), splits.y_train.numpy()
    x_test, y_test = flat_features(splits.x_test, splits.transform), splits.y_test.numpy()
    accuracy: dict[str, float] = {}

    def ours() -> None:
        model = perceptron.create_model(config, splits)
        criterion = perceptron.create_criterion(config)  # the perceptron criterion
        Trainer(model, None, criterion, torch.device("cpu"), config).train(
            train_loader, val_loader, 1
        )
        accuracy["ours"] = Evaluator(model, criterion).evaluate(test_loader)["accuracy"]

    def theirs() -> None:
        clf = SklearnPerceptron(max_iter=1, tol=None, random_state=seed)
        with warnings.catch_warnings():  # one epoch is the point: no ConvergenceWarning
            warnings.simplefilter("ignore", ConvergenceWarning)
            clf.fit(x_train, y_train)
        accuracy["sklearn"] = float(clf.score(x_test, y_test))

    times = benchlib.interleaved({"ours": ours, "sklearn": theirs}, repeats=rounds, warmup=1)
    wall = times["wall"]
    return {
        "config": {"batch_size": config.batch_size, "lr": config.lr, "init": config.init},
        "train_samples": len(y_train),
        "rounds": rounds,
        "epoch_seconds": {n: benchlib.spread(v) for n, v in wall.items()},
        "epochs_per_second": {n: 1.0 / benchlib.spread(v)["median"] for n, v in wall.items()},
        "ours_vs_sklearn_time": benchlib.paired_ratios(wall, "sklearn")["ours"],
        "test_accuracy_after_one_epoch": accuracy,
        "times": times,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=benchlib.positive_int, default=1, help="torch and BLAS threads"
    )
    parser.add_argument(
        "--max-epochs", type=benchlib.positive_int, default=20, help="cap for our MLP"
    )
    parser.add_argument(
        "--sklearn-epochs", type=benchlib.positive_int, default=250, help="cap for MLPClassifier"
    )
    parser.add_argument(
        "--sklearn-seconds", type=benchlib.positive_float, default=180.0, help="its time cap"
    )
    parser.add_argument("--perceptron-rounds", type=benchlib.positive_int, default=5)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    threads = benchlib.set_threads(args.threads)
    load = benchlib.LoadMonitor()
    splits = benchlib.fashion_mnist(seed=args.seed)
    with threadpool_limits(limits=args.threads, user_api="blas"):
        mlp = race(splits, args.seed, args.max_epochs, args.sklearn_epochs, args.sklearn_seconds)
        load.sample("after the MLP race")
        perceptron = perceptron_rounds(splits, args.seed, args.perceptron_rounds)

    def when(run: dict, key: str) -> str:
        return "not reached" if run[key] is None else f"{run[key]:.1f} s"

    labels = {
        "ours": "ours 784-256-128-10 (Trainer)",
        "ours_100": "ours 784-100-10 (Trainer)",
        "sklearn": "sklearn MLPClassifier(100)",
    }
    rows = []
    for name, run in mlp.items():
        rows.append(
            [
                labels[name],
                when(run, "seconds_to_target"),
                run["epochs_to_target"] or "-",
                f"{run['best_test_accuracy']:.4f} (epoch {run['best_epoch']})",
                f"{run['final_test_accuracy']:.4f}",
                f"{run['epochs']} ({run['stopped_by']})",
                f"{run['train_seconds']:.1f} s",
                f"{run['seconds_per_epoch']:.2f} s",
            ]
        )
    headers = ["MLP", f"time to {TARGET}", "epochs", "best test acc", "final", "epochs run"]
    headers += ["train time", "s/epoch"]
    print(f"torch and BLAS threads {threads}; 51,000 training images, 10,000 test images")
    print(benchlib.format_table(headers, rows))
    theirs_t = mlp["sklearn"]["seconds_to_target"]
    for name in ("ours", "ours_100"):
        ours_t = mlp[name]["seconds_to_target"]
        if ours_t and theirs_t:
            print(f"time to {TARGET}: sklearn / {name} = {theirs_t / ours_t:.2f}")
    per_epoch = mlp["ours_100"]["seconds_per_epoch"] / mlp["sklearn"]["seconds_per_epoch"]
    print(f"seconds per epoch, same 784-100-10 net: ours_100 / sklearn = {per_epoch:.2f}")
    print()
    rows = [
        [
            name,
            f"{perceptron['epoch_seconds'][name]['median']:.3f}",
            f"{perceptron['epoch_seconds'][name]['min']:.3f}-"
            f"{perceptron['epoch_seconds'][name]['max']:.3f}",
            f"{perceptron['epochs_per_second'][name]:.2f}",
            f"{perceptron['test_accuracy_after_one_epoch'][name]:.4f}",
        ]
        for name in ("ours", "sklearn")
    ]
    print(benchlib.format_table(["perceptron", "s/epoch", "min-max", "epochs/s", "test acc"], rows))
    print(
        f"ours / sklearn time per epoch: {benchlib.fmt_ratio(perceptron['ours_vs_sklearn_time'])}"
    )
    payload = {
        "torch_threads": threads,
        "blas_threads": args.threads,
        "target": TARGET,
        "caps": {
            "ours_max_epochs": args.max_epochs,
            "sklearn_max_epochs": args.sklearn_epochs,
            "sklearn_max_seconds": args.sklearn_seconds,
        },
        "mlp": mlp,
        "seconds_per_epoch_ours_100_vs_sklearn": per_epoch,
        "perceptron": perceptron,
    }
    benchlib.finish(SCRIPT, payload, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
