"""train.py at the start and the end of a run: what --resume may change, and what a run says when
it ends (issue 14). In process, on the tiny MLP fixture's ``smoke`` experiment (moons, 18 batches
per epoch)."""

from __future__ import annotations

import json
import logging

import pytest

import utils.metadata
from engine import workflow
from utils.exceptions import ConfigError
from utils.modules import load_model_modules
from utils.testing import copy_model

pytestmark = pytest.mark.usefixtures("restore_logging")


@pytest.fixture
def fixture_model(kit, tmp_path, monkeypatch, caplog):
    """A copy of the tiny MLP folder and a ``train(*args)`` that runs its train.py in process."""
    monkeypatch.setattr(utils.metadata, "pip_freeze", lambda: {"packages": None, "reason": "test"})
    caplog.set_level(logging.INFO)
    folder = copy_model(kit.fixture_dir, tmp_path)
    train = load_model_modules(folder).train.main

    def run(*args: str) -> int:
        return train(["--experiment", "smoke", "--no-wandb", *args])

    return folder, run


def metrics_rows(folder):
    (metrics,) = (folder / "outputs" / "logs").glob("*.metrics.jsonl")
    return [json.loads(line) for line in metrics.read_text().splitlines()]


def snapshot(folder):
    """Every file under outputs/models with its modification time (ns) and size."""
    models = folder / "outputs" / "models"
    return {p: (p.stat().st_mtime_ns, p.stat().st_size) for p in models.rglob("*") if p.is_file()}


@pytest.mark.parametrize("flag", [["--learning-rate", "0.5"], ["--set", "lr=0.5"]])
def test_a_learning_rate_given_with_resume_takes_effect(fixture_model, caplog, flag):
    folder, train = fixture_model
    assert train("--epochs", "1") == 0
    assert train("--resume", "latest", "--epochs", "2", *flag) == 0
    epochs = [row for row in metrics_rows(folder) if "lr" in row]
    assert [(row["epoch"], row["lr"]) for row in epochs] == [(1, 0.05), (2, 0.5)]
    assert "changed on resume: epochs 1 -> 2, lr 0.05 -> 0.5" in caplog.text


REFUSED = {
    "seed": ["--seed", "7"],
    "dataset": ["--set", "dataset=circles"],
    "optimizer": ["--set", "optimizer=adam"],
    "scheduler": ["--set", "scheduler=step"],
    "hidden": ["--set", "hidden=32"],  # a model's own field: its shape
}


@pytest.mark.parametrize("field", REFUSED)
def test_resume_refuses_what_changes_the_run_and_names_load_checkpoint(fixture_model, field):
    folder, train = fixture_model
    assert train("--epochs", "1") == 0
    spec = load_model_modules(folder).train.SPEC
    args = workflow.train_parser(spec).parse_args(
        ["--experiment", "smoke", "--resume", "latest", *REFUSED[field]]
    )
    state = workflow._resume_checkpoint(spec, args)
    with pytest.raises(ConfigError, match=f"cannot change {field} .*--load-checkpoint"):
        workflow._train_config(spec, args, state)


def test_resume_refuses_new_epochs_for_a_cosine_schedule(fixture_model):
    folder, train = fixture_model
    assert train("--epochs", "1", "--set", "scheduler=cosine") == 0
    spec = load_model_modules(folder).train.SPEC
    args = workflow.train_parser(spec).parse_args(
        ["--experiment", "smoke", "--resume", "latest", "--epochs", "3"]
    )
    with pytest.raises(ConfigError, match="cannot change epochs .*cosine schedule"):
        workflow._train_config(spec, args, workflow._resume_checkpoint(spec, args))


def test_max_steps_reached_mid_epoch_says_so_and_how_to_continue(kit, caplog):
    caplog.set_level(logging.INFO)
    x, y = kit.data()
    trainer = kit.trainer(kit.config(max_steps=11))
    trainer.train(kit.loader(x, y, 8), kit.loader(x, y, 64, shuffle=False))
    assert "max_steps 11 reached at epoch 2, batch 3; to continue: --resume latest" in caplog.text


def test_resume_latest_of_a_finished_run_does_nothing_and_says_so(fixture_model, caplog):
    folder, train = fixture_model
    assert train("--epochs", "1") == 0
    before = snapshot(folder)
    caplog.clear()
    assert train("--resume", "latest") == 0
    assert "already finished (epoch 1 of 1); nothing to do: pass --epochs M" in caplog.text
    assert snapshot(folder) == before  # no checkpoint rewritten, no pointer moved


def test_a_second_resume_from_one_checkpoint_keeps_the_first_resumes_metadata(fixture_model):
    folder, train = fixture_model
    assert train("--epochs", "1") == 0
    (checkpoint,) = (folder / "outputs" / "models" / "smoke").glob("*_final.pt")
    assert train("--resume", str(checkpoint), "--epochs", "2") == 0
    assert train("--resume", str(checkpoint), "--epochs", "2") == 0
    logs = folder / "outputs" / "logs"
    resumed = {p.name.partition(".")[2] for p in logs.glob("*.resumed-step*.meta.yaml")}
    assert resumed == {"resumed-step0000018.meta.yaml", "resumed-step0000018-2.meta.yaml"}


def test_a_run_ends_with_one_line_naming_its_metric_and_files(fixture_model, caplog):
    folder, train = fixture_model
    assert train("--epochs", "2") == 0
    (summary,) = [r.getMessage() for r in caplog.records if "ended: epoch" in r.getMessage()]
    history = [row for row in metrics_rows(folder) if "val_accuracy" in row]
    values = [row["val_accuracy"] for row in history]
    logs = folder / "outputs" / "logs"
    (log,), (metrics,) = logs.glob("*.log"), logs.glob("*.metrics.jsonl")
    (final,) = (folder / "outputs" / "models" / "smoke").glob("*_final.pt")
    assert f"val_accuracy best {max(values):.4f}" in summary
    assert f"final {values[-1]:.4f}" in summary
    assert f"checkpoint {final}" in summary
    assert f"log {log}" in summary and f"metrics {metrics}" in summary
