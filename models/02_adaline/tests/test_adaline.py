"""ADALINE's known outcomes, its least-squares oracle, and its command-line workflow."""

from pathlib import Path

import numpy as np
import pytest

from data_utils import load_dataset
from utils import testing
from utils.exceptions import TrainingError
from utils.registry import model_modules

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("adaline")
SPEC = mods.train.SPEC


def least_squares(x: np.ndarray, t: np.ndarray) -> np.ndarray:
    """The oracle: weights and bias (D + 1, units) minimising the squared error, by lstsq."""
    design = np.hstack([x, np.ones((len(x), 1))])  # (N, D + 1)
    return np.linalg.lstsq(design, t, rcond=None)[0]


def noisy_linear_problem(seed: int = 0, n: int = 200, classes: int = 2):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 3))
    scores = x @ rng.normal(size=(3, classes)) + rng.normal(0, 0.5, size=(n, classes))
    y = scores.argmax(axis=1) if classes > 2 else (scores[:, 0] > 0).astype(np.int64)
    return x, y


# ------------------------------------------------------------------------------- the oracle


@pytest.mark.parametrize("classes", [2, 3])
def test_batch_descent_reaches_the_least_squares_weights(classes):
    x, y = noisy_linear_problem(classes=classes)
    model = mods.model.Adaline(num_features=3, num_classes=classes, lr=0.2, variant="batch")
    for _ in range(300):
        model.train_step(x, y)
    expected = least_squares(x, mods.model.targets(y, model.weight.shape[0]))
    got = np.vstack([model.weight.T, model.bias[None, :]])  # (D + 1, units)
    np.testing.assert_allclose(got, expected, atol=1e-8)


def test_online_lms_settles_near_the_least_squares_weights():
    x, y = noisy_linear_problem()
    model = mods.model.Adaline(num_features=3, lr=0.002, variant="online")
    rng = np.random.default_rng(1)
    for _ in range(100):
        order = rng.permutation(len(x))
        model.train_step(x[order], y[order])
    expected = least_squares(x, mods.model.targets(y, 1))[:, 0]
    got = np.append(model.weight[0], model.bias[0])
    # A constant step keeps LMS hovering around the optimum (Widrow's misadjustment): close, not
    # exact, and the squared error it reaches is within 1% of the least-squares minimum.
    np.testing.assert_allclose(got, expected, atol=0.05)
    design = np.hstack([x, np.ones((len(x), 1))])
    best = np.mean((design @ expected - mods.model.targets(y, 1)[:, 0]) ** 2)
    assert mods.model.squared_error(model.forward(x), y) < 1.01 * best


def test_trainer_batch_run_matches_the_oracle_on_real_data():
    model, splits, history = testing.train_in_memory(
        SPEC,
        "smoke",
        dataset="breast_cancer",
        variant="batch",
        batch_size=10_000,
        lr=0.05,
        epochs=40,
    )
    x, y = splits.x_train.numpy().astype(np.float64), splits.y_train.numpy()
    expected = least_squares(x, mods.model.targets(y, 1))[:, 0]
    best = np.mean((np.hstack([x, np.ones((len(x), 1))]) @ expected - (2.0 * y - 1)) ** 2)
    losses = history["train_loss"]
    assert all(b <= a + 1e-12 for a, b in zip(losses, losses[1:])), "batch descent never goes up"
    assert mods.model.squared_error(model.forward(x), y) < best + 0.05


# ------------------------------------------------------------------------ known outcomes


def test_cannot_fit_xor_and_the_best_line_is_no_line():
    model, splits, history = testing.train_in_memory(SPEC, "xor", epochs=200)
    x, y = splits.x_train.numpy(), splits.y_train.numpy()
    assert (model.predict(x) == y).mean() <= 0.75
    assert max(history["val_accuracy"]) <= 0.75, "no line separates XOR, at any epoch"
    # Batch descent finds the least-squares line: w = 0, b = 0, mean squared error 1.
    model, _, history = testing.train_in_memory(
        SPEC, "xor", variant="batch", batch_size=4, lr=0.5, epochs=300
    )
    np.testing.assert_allclose(model.weight, 0.0, atol=1e-6)
    np.testing.assert_allclose(model.bias, 0.0, atol=1e-6)
    assert history["val_loss"][-1] == pytest.approx(1.0, abs=1e-9)


def test_settles_where_the_perceptron_keeps_turning():
    perceptron = model_modules("perceptron")
    splits = load_dataset("moons", seed=42)
    x, y = splits.x_train.numpy().astype(np.float64), splits.y_train.numpy()
    adaline = mods.model.Adaline(num_features=2, lr=0.5, variant="batch")
    rosenblatt = perceptron.model.Perceptron(num_features=2)
    rng = np.random.default_rng(0)
    turns: dict[str, list[float]] = {"adaline": [], "perceptron": []}
    for epoch in range(40):
        order = rng.permutation(len(x))
        for name, model in (("adaline", adaline), ("perceptron", rosenblatt)):
            before = np.append(model.weight[0], model.bias[0])
            model.train_step(x[order], y[order])
            after = np.append(model.weight[0], model.bias[0])
            cosine = before @ after / (np.linalg.norm(before) * np.linalg.norm(after) + 1e-12)
            turns[name].append(np.degrees(np.arccos(np.clip(cosine, -1, 1))))
    assert max(turns["adaline"][-10:]) < 0.01, "batch LMS has converged: the boundary is still"
    assert np.mean(turns["perceptron"][-10:]) > 5.0, "the perceptron keeps turning its boundary"


def test_forward_and_loss_shapes():
    model = mods.model.Adaline(num_features=6, num_classes=4)
    x = np.random.default_rng(0).normal(size=(5, 1, 2, 3))
    assert model.forward(x).shape == (5, 4)
    assert model.predict(x).shape == (5,)
    assert mods.model.squared_error(np.zeros((2, 1)), np.array([0, 1])) == 1.0


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_too_large_a_step_diverges_with_a_training_error():
    with pytest.raises(TrainingError, match="Lower the learning rate"):
        testing.train_in_memory(SPEC, "smoke", lr=50.0, epochs=20)


@testing.needs_data
def test_fashion_mnist_subset_learns_a_linear_classifier():
    model, splits, _ = testing.train_in_memory(SPEC, "fashion_mnist", num_train=5000, epochs=2)
    assert testing.accuracy_on_test(model, splits) > 0.70


# ---------------------------------------------------------------------- as a user runs it


def test_smoke_trains_and_evaluates_from_the_command_line(tmp_path):
    folder = testing.copy_model(MODEL_DIR, tmp_path)
    metrics = testing.train_and_evaluate_smoke(folder, "epoch 2 |")
    assert metrics["model"] == "adaline" and metrics["accuracy"] > 0.9
    names = {p.name for p in (folder / "outputs" / "visualizations").glob("*.png")}
    assert {"smoke_train_curves.png", "smoke_train_boundary.png"} <= names


def test_compare_runs_both_comparisons(tmp_path, monkeypatch):
    compare = testing.load_script(MODEL_DIR, "compare.py")
    monkeypatch.setattr(compare, "LOGS_DIR", tmp_path)
    monkeypatch.setattr(compare, "VISUALIZATIONS_DIR", tmp_path)
    summary = compare.settle("smoke")
    assert (tmp_path / "smoke_settle.png").is_file() and (tmp_path / "smoke_settle.json").is_file()
    assert {"ADALINE (online LMS)", "ADALINE (batch)", "perceptron"} <= set(summary)
    summary = compare.against_sklearn("smoke")
    assert len(summary["results"]) == 4
    assert all(row["test_accuracy"] > 0.9 for row in summary["results"].values())


def test_unknown_experiment_lists_the_available_ones():
    result = testing.run_script(MODEL_DIR, "train.py", "--experiment", "nope", "--no-wandb")
    testing.assert_clean_failure(result, "ConfigError", "nope", "moons", "xor", "fashion_mnist")


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"variant": "sideways"}, ["variant", "online", "batch"]),
        ({"optimizer": "sgd"}, ["optimizer", "delta rule"]),
        ({"lr": "-1"}, ["lr"]),
        ({"epochs": "abc"}, ["epochs", "int"]),
    ],
)
def test_bad_override_values_are_config_errors(changes, words):
    # The command line turns these into "ConfigError: ..." and exit code 1 (shown above for an
    # unknown experiment); here the checks themselves, without a process per case.
    testing.assert_config_error(mods.train.SPEC, "xor", changes, words)
