"""The perceptron's known outcomes, and its command-line workflow as a user runs it."""

import json
import logging
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from data_utils import load_dataset
from utils.registry import model_modules
from utils.testing import assert_clean_failure, copy_model, run_script, train_in_memory

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("perceptron")
SPEC = mods.train.SPEC


def test_converges_on_separable_data_after_finitely_many_updates():
    model, splits, history = train_in_memory(
        SPEC, "separable", epochs=30, early_stopping_patience=None
    )
    x, y = splits.x_train.numpy(), splits.y_train.numpy()
    assert (model.predict(x) == y).all(), "100% training accuracy on separable data"
    updates_at_convergence = model.num_updates
    assert 0 < updates_at_convergence < 10_000
    # Once every point is right, further epochs change nothing: the number of updates is final.
    model.train_step(x, y)
    assert model.num_updates == updates_at_convergence
    assert history["train_accuracy"][-1] == 1.0


def test_cannot_fit_xor():
    model, splits, history = train_in_memory(SPEC, "xor", epochs=200)
    x, y = splits.x_train.numpy(), splits.y_train.numpy()
    assert (model.predict(x) == y).mean() <= 0.75
    assert max(history["val_accuracy"]) <= 0.75, "no line separates XOR, at any epoch"
    assert min(history["train_accuracy"]) < 1.0
    # The criterion is 0 only when every point is strictly right, which no line achieves on XOR
    # (with ties read as right, epochs whose weights returned to 0 showed a val loss of 0).
    assert min(history["val_loss"]) > 0 and min(history["train_loss"]) > 0


def test_multiclass_kesler_construction_learns_separable_classes():
    rng = np.random.default_rng(0)
    centres = np.array([[5.0, 0.0], [-5.0, 0.0], [0.0, 5.0]])
    y = rng.integers(0, 3, size=300)
    x = centres[y] + rng.normal(0, 0.5, size=(300, 2))
    model = mods.model.Perceptron(num_features=2, num_classes=3)
    for _ in range(20):
        model.train_step(x, y)
    assert (model.predict(x) == y).all()


def test_criterion_is_zero_only_when_all_points_are_right():
    crit = mods.model.perceptron_criterion
    assert crit(np.array([[1.0], [-2.0]]), np.array([1, 0])) == 0.0
    # one mistake of the two, 1 on the wrong side: (1 + 1) / 2
    assert crit(np.array([[-1.0], [-2.0]]), np.array([1, 0])) == pytest.approx(1.0)
    # a tie is a mistake for either class, as in train_step
    assert crit(np.array([[0.0], [0.0]]), np.array([1, 0])) == pytest.approx(1.0)
    # Kesler: the argmax's class is the prediction; 2 above the true score costs 1 + 2
    assert crit(np.array([[3.0, 1.0, 0.0]]), np.array([1])) == pytest.approx(3.0)
    assert crit(np.array([[3.0, 1.0, 0.0]]), np.array([0])) == 0.0


@pytest.mark.parametrize("dataset", ["xor", "blobs"])
def test_zero_weights_cost_more_than_zero(dataset):
    """At w = 0 every score ties and the rule corrects every sample: the loss must say so."""
    splits = load_dataset(dataset, seed=0)
    x, y = splits.x_train.numpy(), splits.y_train.numpy()
    model = mods.model.Perceptron(num_features=splits.num_features)
    assert mods.model.perceptron_criterion(model(x), y) == pytest.approx(1.0)
    assert model.train_step(x, y)["loss"] == pytest.approx(1.0)  # measured before the updates
    kesler = mods.model.Perceptron(num_features=splits.num_features, num_classes=3)
    y3 = np.arange(len(y)) % 3  # argmax of tied scores is class 0: the others are mistakes
    assert mods.model.perceptron_criterion(kesler(x), y3) == pytest.approx(np.mean(y3 != 0))


def test_xor_audit_explains_the_rules_large_steps_instead_of_warning(caplog):
    """The quick start: the rule's unit steps are recorded, explained once, never warned."""
    with caplog.at_level(logging.INFO, logger="engine.audit"):
        _, _, history = train_in_memory(SPEC, "xor")
    ratios = [
        v["update_ratio"]
        for r in history["audit"]
        for v in r["layers"].values()
        if v["update_ratio"]
    ]
    assert max(ratios) > 0.1  # recorded as measured
    audit = [r for r in caplog.records if r.name == "engine.audit"]
    assert audit and all(r.levelno == logging.INFO for r in audit)
    assert any("by design" in r.getMessage() for r in audit)


# ---------------------------------------------------------------------- as a user runs it


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One xor run through train.py in a copy of the model folder."""
    folder = copy_model(MODEL_DIR, tmp_path_factory.mktemp("perceptron"))
    result = run_script(folder, "train.py", "--experiment", "xor", "--visualize", "--no-wandb")
    assert result.returncode == 0, result.stderr
    return folder, result


def test_train_writes_checkpoint_log_metrics_and_plots(trained):
    folder, _ = trained
    outputs = folder / "outputs"
    assert (outputs / "models" / "xor" / "latest.json").is_file()
    assert list((outputs / "models" / "xor").glob("*_final.pt"))
    assert list((outputs / "models" / "xor").glob("*_final.safetensors"))
    logs = list((outputs / "logs").glob("xor_*.log"))
    assert logs and "epoch 20 |" in logs[0].read_text()
    metrics = list((outputs / "logs").glob("xor_*.metrics.jsonl"))
    rows = [json.loads(line) for line in metrics[0].read_text().splitlines()]
    assert any("val_accuracy" in row for row in rows)
    meta = list((outputs / "logs").glob("xor_*.meta.yaml"))[0].read_text()
    assert "pip_freeze" in meta and "seed: 42" in meta
    names = {p.name for p in (outputs / "visualizations").glob("*.png")}
    assert {"xor_train_curves.png", "xor_train_confusion.png", "xor_train_boundary.png"} <= names


def test_evaluate_reports_json_on_the_same_test_split(trained):
    folder, _ = trained
    result = run_script(
        folder, "evaluate.py", "--checkpoint", "latest", "--experiment", "xor", "--json"
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["model"] == "perceptron" and metrics["num_samples"] == 4
    assert metrics["accuracy"] <= 0.75
    assert list((folder / "outputs" / "logs").glob("*.eval.json"))


def test_evaluate_defaults_to_the_checkpoints_experiment(trained):
    folder, _ = trained
    final = next((folder / "outputs" / "models" / "xor").glob("*_final.pt"))
    result = run_script(folder, "evaluate.py", "--checkpoint", str(final), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.strip().splitlines()[-1])["experiment"] == "xor"


def test_unknown_experiment_lists_the_available_ones():
    result = run_script(MODEL_DIR, "train.py", "--experiment", "nope", "--no-wandb")
    assert_clean_failure(result, "ConfigError", "nope", "separable", "xor", "iris-hard")


@pytest.mark.parametrize(
    "args, words",
    [
        (["--epochs", "abc"], ["epochs", "int"]),
        (["--epochs", "0"], ["epochs"]),
        (["--learning-rate", "-1"], ["lr"]),
        (["--set", "no_such_field=1"], ["no_such_field", "batch_size"]),
        (["--set", "init=ones"], ["init", "zeros"]),
    ],
)
def test_bad_override_values_are_config_errors(args, words):
    result = run_script(
        MODEL_DIR, "train.py", "--experiment", "xor", "--no-wandb", "--no-save-checkpoint", *args
    )
    assert_clean_failure(result, "ConfigError", *words)


def test_unknown_device_is_a_config_error():
    result = run_script(
        MODEL_DIR,
        "train.py",
        "--experiment",
        "xor",
        "--device",
        "tpu",
        "--no-wandb",
        "--no-save-checkpoint",
    )
    assert_clean_failure(result, "ConfigError", "tpu", "cpu")


@pytest.mark.parametrize("content", [None, b"", b"not a checkpoint at all"])
def test_missing_empty_or_garbage_checkpoint_is_refused(tmp_path, trained, content):
    folder, _ = trained
    path = tmp_path / "model.pt"
    if content is not None:
        path.write_bytes(content)
    for script, flag, *extra in (
        ("evaluate.py", "--checkpoint"),
        ("train.py", "--load-checkpoint", "--no-wandb"),
    ):
        result = run_script(folder, script, flag, str(path), "--experiment", "xor", *extra)
        assert_clean_failure(result, "CheckpointError", str(path))
        assert "accuracy" not in result.stdout


def test_checkpoint_of_another_shape_says_what_mismatched(trained):
    folder, _ = trained
    final = next((folder / "outputs" / "models" / "xor").glob("*_final.pt"))
    # xor has 2 features; breast_cancer has 30: the weights cannot fit.
    result = run_script(
        folder, "evaluate.py", "--checkpoint", str(final), "--experiment", "breast_cancer"
    )
    assert_clean_failure(result, "CheckpointError", "weight", "(1, 2)", "(1, 30)")


def test_checkpoint_of_another_model_is_refused(tmp_path, trained):
    folder, _ = trained
    final = next((folder / "outputs" / "models" / "xor").glob("*_final.pt"))
    state = torch.load(final, weights_only=True)
    state["model_name"] = "adaline"
    other = tmp_path / "other.pt"
    torch.save(state, other)
    result = run_script(folder, "evaluate.py", "--checkpoint", str(other))
    assert_clean_failure(result, "CheckpointError", "adaline", "perceptron")


def test_ctrl_c_saves_an_interrupt_checkpoint_and_exits_cleanly(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    proc = subprocess.Popen(
        [
            sys.executable,
            "src/train.py",
            "--experiment",
            "separable",
            "--epochs",
            "100000",
            "--set",
            "early_stopping_patience=none",
            "checkpoint_every=100000",
            "--no-wandb",
        ],
        cwd=folder,
        stderr=subprocess.PIPE,
        text=True,
    )
    for line in proc.stderr:  # wait until training is under way
        if "epoch 2 |" in line:
            break
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    rest = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, rest
    assert "Traceback" not in rest
    interrupts = list((folder / "outputs" / "models" / "separable").glob("*_interrupt.pt"))
    assert len(interrupts) == 1
    state = torch.load(interrupts[0], weights_only=True)
    assert state["kind"] == "interrupt" and state["epoch"] >= 2
