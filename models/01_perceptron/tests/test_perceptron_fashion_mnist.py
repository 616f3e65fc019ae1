"""The perceptron on real images: the fashion_mnist experiment and its scikit-learn comparison.

The full comparison takes a minute (python src/compare.py --experiment fashion_mnist); here the
experiment is checked on a subset for two epochs, and compare.py on the tiny smoke data.
"""

from pathlib import Path

import torch

from utils.config import load_config
from utils.registry import model_modules
from utils.testing import accuracy_on_test, load_script, needs_data, train_in_memory

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("perceptron")


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
    compare = load_script(MODEL_DIR, "compare.py")
    monkeypatch.setattr(compare, "LOGS_DIR", tmp_path)
    summary = compare.against_sklearn("smoke")
    assert (tmp_path / "smoke_sklearn.json").is_file()
    assert len(summary["perceptron_test_accuracy_per_epoch"]) == 2
    assert len(summary["results"]) == 5
    assert all(row["test_accuracy"] > 0.9 for row in summary["results"].values())


@needs_data
def test_two_epochs_on_a_fashion_mnist_subset_learn_ten_classes():
    spec = mods.train.SPEC
    model, splits, history = train_in_memory(spec, "fashion_mnist", num_train=5000, epochs=2)
    assert len(history["epoch"]) == 2
    assert accuracy_on_test(model, splits) > 0.65
