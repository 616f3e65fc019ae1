"""The perceptron on real images: the fashion_mnist experiment and its scikit-learn comparison.

The full comparison takes a minute (python src/compare.py --experiment fashion_mnist); here the
experiment is checked on a subset for two epochs, and compare.py on the tiny smoke data.
"""

import dataclasses
import importlib.util
import os
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch

from data_utils import create_data_loaders, load_dataset
from engine.evaluator import Evaluator
from engine.trainer import Trainer
from utils.config import load_config
from utils.exceptions import DataError
from utils.modules import load_model_modules

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = load_model_modules(MODEL_DIR)


def load_compare():
    """src/compare.py as a module, its sibling imports bound to this folder's modules."""
    siblings = {"config": mods.config, "constants": mods.constants, "model": mods.model}
    with mock.patch.dict(sys.modules, siblings):
        spec = importlib.util.spec_from_file_location(
            "perceptron_compare", MODEL_DIR / "src" / "compare.py"
        )
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def test_fashion_mnist_experiment_keeps_the_online_rule():
    config = load_config(
        mods.config.PerceptronConfig, mods.constants.EXPERIMENTS_FILE, "fashion_mnist"
    )
    assert config.dataset == "fashion_mnist" and config.optimizer == "none"
    # A batch of 1000 is handed over at once, but the rule still corrects sample by sample:
    # the same samples in the same order give the same weights in batches of 1 or of 1000.
    x = torch.rand(300, 1, 28, 28).numpy()
    y = torch.randint(0, 10, (300,)).numpy()
    one, many = (mods.model.Perceptron(784, num_classes=10) for _ in range(2))
    for i in range(len(y)):
        one.train_step(x[i : i + 1], y[i : i + 1])
    many.train_step(x, y)
    assert (one.weight == many.weight).all() and one.num_updates == many.num_updates


def test_compare_reports_both_models_on_one_split(tmp_path, monkeypatch):
    compare = load_compare()
    monkeypatch.setattr(compare, "LOGS_DIR", tmp_path)
    summary = compare.against_sklearn("smoke")
    assert (tmp_path / "smoke_sklearn.json").is_file()
    assert len(summary["perceptron_test_accuracy_per_epoch"]) == 2
    assert len(summary["results"]) == 5
    assert all(row["test_accuracy"] > 0.9 for row in summary["results"].values())


@pytest.mark.skipif(
    not os.environ.get("AIFS_DATA_DIR"), reason="Fashion-MNIST files: set AIFS_DATA_DIR"
)
def test_two_epochs_on_a_fashion_mnist_subset_learn_ten_classes():
    config = load_config(
        mods.config.PerceptronConfig,
        mods.constants.EXPERIMENTS_FILE,
        "fashion_mnist",
        {"epochs": 2},
    )
    try:
        splits = load_dataset(config.dataset, seed=config.seed)
    except DataError as err:
        pytest.fail(f"AIFS_DATA_DIR is set but Fashion-MNIST does not load: {err}")
    splits = dataclasses.replace(
        splits, x_train=splits.x_train[:5000], y_train=splits.y_train[:5000]
    )
    model = mods.model.create_model(config, splits)
    train_loader, val_loader, test_loader = create_data_loaders(splits, config.batch_size)
    history = Trainer(
        model, None, mods.model.perceptron_criterion, torch.device("cpu"), config
    ).train(train_loader, val_loader, config.epochs)
    assert len(history["epoch"]) == 2
    assert Evaluator(model).evaluate(test_loader)["accuracy"] > 0.65
