"""The Evaluator on cases with known answers; the JSONL tracker; wandb offline without network."""

from __future__ import annotations

import json
import logging
import math

import numpy as np
import pytest
import torch
from torch import nn

import engine.evaluator as evaluator_module
from engine.evaluator import Evaluator
from engine.tracking import Tracker, resolve_wandb_mode
from utils.registry import model_modules

X = torch.tensor([[2.0, 0.0], [0.0, 1.0], [1.0, 3.0], [5.0, 4.0]])  # (4, 2)
Y = torch.tensor([0, 1, 0, 1])


def identity_classifier() -> nn.Linear:
    model = nn.Linear(2, 2)
    with torch.no_grad():
        model.weight.copy_(torch.eye(2))
        model.bias.zero_()
    return model  # scores = x: predicts the larger coordinate -> [0, 1, 1, 0]


@pytest.mark.parametrize("native", [False, True])
def test_bf16_on_a_cpu_without_native_bf16_is_warned_about(native, monkeypatch, caplog):
    """Emulated bf16 gives the same numbers tens of times slower: the user is told, once."""
    monkeypatch.setattr(evaluator_module, "cpu_has_native_bf16", lambda: native)
    with caplog.at_level(logging.WARNING, logger="engine.evaluator"):
        Evaluator(identity_classifier(), nn.CrossEntropyLoss(), precision="bf16")
        Evaluator(identity_classifier(), nn.CrossEntropyLoss(), precision="fp32")
    warnings = [r for r in caplog.records if "without native bf16" in r.getMessage()]
    assert len(warnings) == (0 if native else 1)


@pytest.mark.parametrize("batch_size", [4, 3, 1])
def test_evaluator_metrics_on_a_known_case(batch_size):
    loader = [(X[i : i + batch_size], Y[i : i + batch_size]) for i in range(0, 4, batch_size)]
    metrics = Evaluator(identity_classifier(), nn.CrossEntropyLoss()).evaluate(loader)
    assert metrics["accuracy"] == 0.5 and metrics["num_samples"] == 4
    # Mean cross-entropy over samples (not over batches): -log softmax(x)[y].
    by_hand = [
        math.log(1 + math.exp(s_other - s_true))
        for s_true, s_other in ((2, 0), (1, 0), (1, 3), (4, 5))
    ]
    assert metrics["loss"] == pytest.approx(sum(by_hand) / 4, rel=1e-6)
    y_true, y_pred = Evaluator(identity_classifier()).predict(loader)
    assert y_true.tolist() == [0, 1, 0, 1] and y_pred.tolist() == [0, 1, 1, 0]


def test_evaluator_uses_a_numpy_models_own_predict(kit):
    perceptron = model_modules("perceptron").model.Perceptron(num_features=2)
    perceptron.weight[:] = np.array([[1.0, -1.0]])  # fires when x0 > x1
    metrics = Evaluator(perceptron).evaluate([(X, Y)])
    assert metrics == {"accuracy": 0.5, "num_samples": 4}  # predictions [1, 0, 0, 1]


def test_tracker_writes_jsonl_and_a_resumed_run_drops_rows_after_its_checkpoint(tmp_path):
    path = tmp_path / "run.metrics.jsonl"
    tracker = Tracker(path)
    for step in range(1, 6):
        tracker.log({"train_loss": torch.tensor(1.0 / step)}, step=step)
    with open(path, "a") as handle:
        handle.write('{"step": 6, "train_lo')  # the crash cut the last line short
    rows = [json.loads(line) for line in path.read_text().splitlines()[:5]]
    assert rows[0] == {"step": 1, "train_loss": 1.0} and rows[-1]["step"] == 5

    resumed = Tracker(path, resume_step=3)  # the checkpoint was written at step 3
    resumed.log({"train_loss": 0.25}, step=4)
    steps = [json.loads(line)["step"] for line in path.read_text().splitlines()]
    assert steps == [1, 2, 3, 4]


def test_wandb_offline_writes_a_local_run_and_never_the_network(tmp_path, monkeypatch, caplog):
    for name in ("WANDB_API_KEY", "WANDB_ENTITY", "WANDB_PROJECT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")  # if anything tried, it fails here
    monkeypatch.setenv("HOME", str(tmp_path / "home"))  # no ~/.netrc login, no user settings
    for name in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_CONFIG_DIR", "WANDB_DATA_DIR"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    logs = tmp_path / "logs"
    tracker = Tracker(
        logs / "run.metrics.jsonl",
        run_name="run",
        config={"lr": 0.1},
        wandb_enabled=True,
        wandb_dir=logs,
    )
    assert tracker.mode == "offline" and tracker.run_id
    tracker.log({"train_loss": 0.5}, step=1)
    artifact = tmp_path / "weights.pt"
    artifact.write_bytes(b"0" * 16)
    tracker.log_artifact(artifact, "tiny-smoke")
    tracker.finish()
    (run_dir,) = (logs / "wandb").glob("offline-run-*")
    assert list(run_dir.glob("run-*.wandb"))
    assert (logs / "run.metrics.jsonl").read_text().count("\n") == 1

    monkeypatch.setenv("WANDB_MODE", "online")  # asked for online, but nobody is logged in
    with caplog.at_level(logging.WARNING, logger="engine.tracking"):
        assert resolve_wandb_mode(enabled=True) == "offline"
    assert "nobody is logged in" in caplog.text
    assert resolve_wandb_mode(enabled=False) == "disabled"  # --no-wandb
