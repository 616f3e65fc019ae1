"""Exact resume: N epochs straight == k steps, a checkpoint, a fresh process, then on to N."""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from engine import workflow
from engine.checkpoint import CheckpointManager, export_safetensors, load_checkpoint
from engine.modelio import model_state
from engine.trainer import RunContext
from utils.modules import load_model_modules
from utils.seed import set_random_seed
from utils.testing import copy_model, run_script

CHECKPOINT_KEYS = {
    "format",
    "format_version",
    "kind",
    "model_name",
    "model_state",
    "optimizer_state",
    "scheduler_state",
    "epoch",
    "global_step",
    "step_in_epoch",
    "epoch_sums",
    "skipped_steps",
    "best_metric",
    "bad_epochs",
    "rng",
    "history",
}


def assert_same(a, b, where="state"):
    """Bit-identical nested structures of tensors and plain values."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def new_process(kit, config):
    """A fresh process before --resume: its RNGs are anywhere, then it seeds and builds."""
    random.random(), np.random.rand(), torch.rand(3)
    set_random_seed(config.seed)
    return kit.trainer(config)


# Dropout (the torch RNG matters), shuffling (the permutation matters), Adam (optimizer state)
# and a cosine schedule (scheduler state); 60 samples in batches of 8 = 8 batches per epoch.
CASES = {
    "epoch-boundary": dict(stop_at=16, accum=1, where=(2, 0)),
    "mid-epoch": dict(stop_at=11, accum=1, where=(1, 3)),
    "mid-epoch-accumulating": dict(stop_at=4, accum=3, where=(1, 3)),  # groups of 3, 3, 2 batches
}


@pytest.mark.parametrize("case", CASES)
def test_resume_is_bit_identical_to_an_uninterrupted_run(kit, tmp_path, case):
    stop_at, accum, where = CASES[case]["stop_at"], CASES[case]["accum"], CASES[case]["where"]
    options = dict(
        dropout=0.3,
        optimizer="adam",
        lr=0.01,
        scheduler="cosine",
        epochs=4,
        audit_every=3,
        grad_accum_steps=accum,
    )
    x, y = kit.data()

    def loaders():
        return kit.loader(x, y, 8, shuffle=True, seed=7), kit.loader(x, y, 64, shuffle=False)

    straight = new_process(kit, kit.config(**options))
    straight.train(*loaders())

    first = new_process(kit, kit.config(max_steps=stop_at, **options))
    first.train(*loaders())
    assert (first.epoch, first.step_in_epoch) == where
    manager = CheckpointManager(tmp_path, "run")
    path = manager.save(first.state_dict(), kind="interrupt")

    resumed = new_process(kit, kit.config(**options))
    resumed.load_state_dict(load_checkpoint(path))
    resumed.train(*loaders())

    assert_same(model_state(resumed.model), model_state(straight.model), "weights")
    assert_same(resumed.optimizer.state_dict(), straight.optimizer.state_dict(), "optimizer")
    assert_same(resumed.scheduler.state_dict(), straight.scheduler.state_dict(), "scheduler")
    assert_same(resumed.history, straight.history, "history")  # logged losses, audits, lr
    assert resumed.global_step == straight.global_step

    # The test can tell: a resume that lost the RNG state (dropout masks) does not match.
    careless = new_process(kit, kit.config(**options))
    careless.load_state_dict(load_checkpoint(path))
    torch.rand(1)
    careless.train(*loaders())
    assert not torch.equal(careless.model.fc1.weight, straight.model.fc1.weight)


def test_checkpoint_holds_the_complete_state_as_plain_values(kit, tmp_path):
    config = kit.config(optimizer="adam", scheduler="step", epochs=2)
    x, y = kit.data()
    run = RunContext(
        "tiny_mlp",
        checkpoints=CheckpointManager(tmp_path, "run"),
        extra_state={"config": {"lr": 0.05}, "data": {"dataset": "synthetic"}},
    )
    kit.trainer(config, run=run).train(kit.loader(x, y, 8), kit.loader(x, y, 64))
    path = tmp_path / json.loads((tmp_path / "latest.json").read_text())["path"]
    state = torch.load(path, map_location="cpu", weights_only=True)  # nothing pickled but data
    assert CHECKPOINT_KEYS | {"config", "data"} <= set(state)
    assert state["kind"] == "epoch" and state["epoch"] == 2 and state["global_step"] == 16
    assert set(state["rng"]) >= {"python", "numpy", "torch"}
    assert isinstance(state["rng"]["numpy"]["keys"], torch.Tensor)  # numpy state as plain values
    assert state["optimizer_state"]["state"] and state["scheduler_state"]["last_epoch"] == 2
    assert len(state["history"]["train_loss"]) == 2

    exported = export_safetensors(state["model_state"], tmp_path / "weights.safetensors")
    assert_same(load_file(exported), state["model_state"], "safetensors")


# ------------------------------------------------------------------------- as a user runs it

# Runs train.py with every training step slowed down, so that a signal reliably lands mid-run.
SLOW_TRAIN = """
import runpy, sys, time
import engine.trainer as trainer
step = trainer.Trainer.training_step
def slow_step(self, *args):
    time.sleep(0.02)
    return step(self, *args)
trainer.Trainer.training_step = slow_step
sys.path.insert(0, "src")
sys.argv = ["src/train.py", *sys.argv[1:]]
runpy.run_path("src/train.py", run_name="__main__")
"""


def test_sigterm_saves_exits_143_and_resume_latest_continues_exactly(
    kit, tmp_path, restore_logging, monkeypatch
):
    args = ["--experiment", "xor", "--epochs", "40", "--no-wandb", "--set", "checkpoint_every=5"]
    # The uninterrupted reference, in this process (the perceptron never settles on XOR, so its
    # weights keep changing until the last step).
    straight = copy_model(kit.perceptron_dir, tmp_path / "straight")
    monkeypatch.setattr(workflow, "save_run_metadata", lambda *a, **k: None)  # skip pip freeze
    assert load_model_modules(straight).train.main(args) == 0

    folder = copy_model(kit.perceptron_dir, tmp_path / "interrupted")
    proc = subprocess.Popen(
        [sys.executable, "-c", SLOW_TRAIN, *args],
        cwd=folder,
        stderr=subprocess.PIPE,
        text=True,
        env=kit.subprocess_env(),
    )
    for line in proc.stderr:
        if "epoch 3 |" in line:
            break
    proc.send_signal(signal.SIGTERM)
    rest = proc.stderr.read()
    assert proc.wait(timeout=120) == 143, rest
    assert "Traceback" not in rest and "interrupt checkpoint saved" in rest
    models = folder / "outputs" / "models" / "xor"
    (interrupt,) = models.glob("*_interrupt.pt")
    state = torch.load(interrupt, weights_only=True)
    assert CHECKPOINT_KEYS | {"config", "data", "run"} <= set(state)
    assert state["kind"] == "interrupt" and 3 <= state["epoch"] < 40
    assert json.loads((models / "latest.json").read_text())["path"] == interrupt.name

    resumed = run_script(
        folder, "train.py", "--experiment", "xor", "--resume", "latest", env=kit.env
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming run {state['run']['run_name']}" in resumed.stderr

    (final,) = models.glob("*_final.pt")
    (reference,) = (straight / "outputs" / "models" / "xor").glob("*_final.pt")
    got, want = load_checkpoint(final), load_checkpoint(reference)
    assert_same(got["model_state"], want["model_state"], "weights")
    assert_same(got["history"], want["history"], "history")
    assert got["global_step"] == want["global_step"] == 160
    # One run, one log and one metrics file, which read as if it had never stopped.
    logs = folder / "outputs" / "logs"
    (log,) = logs.glob("*.log")
    assert "received SIGTERM" in log.read_text() and "resuming run" in log.read_text()
    (metrics,) = logs.glob("*.metrics.jsonl")
    (reference_metrics,) = (straight / "outputs" / "logs").glob("*.metrics.jsonl")
    assert metrics.read_text() == reference_metrics.read_text()
    assert len(list(logs.glob("*.resumed-step*.meta.yaml"))) == 1


# ------------------------------------------------------- what a resume may change (issue 14)


def numbered_data(kit, n=60):
    """The kit's data with column 3 replaced by each sample's number, to see what was trained."""
    x, y = kit.data(n)
    x[:, 3] = torch.arange(n, dtype=x.dtype)
    return x, y


def recording(trainer, seen):
    """Record (epoch, sample numbers) of every group the trainer trains on."""
    step = trainer.training_step

    def record(group, audit):
        seen.extend((trainer.epoch, int(i)) for x, _ in group for i in x[:, 3])
        return step(group, audit)

    trainer.training_step = record
    return trainer


# (stop after this many steps, batches per step, then batch size and batches per step): 60
# samples in batches of 8; the first two stop 24 samples into epoch 2, the third 32.
BATCH_CHANGES = {
    "larger, aligned": (11, 1, 12, 1),
    "smaller, cut": (11, 1, 5, 1),
    "larger, cut": (12, 1, 12, 1),
    "accumulating to one batch": (4, 3, 16, 1),
    "one batch to accumulating": (11, 1, 4, 2),
}


@pytest.mark.parametrize("case", BATCH_CHANGES)
def test_resume_with_another_batch_size_trains_the_rest_of_the_epoch_once(kit, tmp_path, case):
    stop_at, accum, new_batch, new_accum = BATCH_CHANGES[case]
    x, y = numbered_data(kit)
    seen: list[tuple[int, int]] = []
    first = recording(
        kit.trainer(kit.config(max_steps=stop_at, grad_accum_steps=accum, epochs=3)), seen
    )
    first.train(kit.loader(x, y, 8, seed=7), kit.loader(x, y, 64, shuffle=False))
    assert first.epoch == 1 and 0 < first.step_in_epoch
    path = CheckpointManager(tmp_path, "run").save(first.state_dict(), kind="interrupt")

    config = kit.config(batch_size=new_batch, grad_accum_steps=new_accum, epochs=3)
    resumed = recording(kit.trainer(config), seen)
    resumed.load_state_dict(load_checkpoint(path))
    resumed.train(kit.loader(x, y, new_batch, seed=7), kit.loader(x, y, 64, shuffle=False))

    for epoch in range(3):  # every epoch, the one resumed in too: each sample exactly once
        assert sorted(i for e, i in seen if e == epoch) == list(range(60)), f"epoch {epoch + 1}"
    assert resumed.epoch == 3


def test_an_old_checkpoint_with_the_position_in_batches_resumes_exactly(kit, tmp_path):
    options = dict(dropout=0.3, optimizer="adam", epochs=3)
    x, y = kit.data()

    def loaders():
        return kit.loader(x, y, 8, seed=7), kit.loader(x, y, 64, shuffle=False)

    straight = new_process(kit, kit.config(**options))
    straight.train(*loaders())
    first = new_process(kit, kit.config(max_steps=11, **options))
    first.train(*loaders())
    state = first.state_dict()
    state.pop("samples_in_epoch", None)  # as written before the position was kept in samples
    path = CheckpointManager(tmp_path, "run").save(state, kind="interrupt")

    resumed = new_process(kit, kit.config(**options))
    resumed.load_state_dict(load_checkpoint(path))
    resumed.train(*loaders())
    assert_same(model_state(resumed.model), model_state(straight.model), "weights")
    assert_same(resumed.history, straight.history, "history")


def test_a_new_lr_on_resume_rescales_the_schedule_and_the_lr_column_shows_it(kit, tmp_path):
    options = dict(scheduler="step", step_size=1, gamma=0.5, lr=0.1)
    x, y = kit.data()

    def run_with(config, state=None):
        extra = {"config": workflow.config_to_dict(config)}
        trainer = kit.trainer(config, run=RunContext("tiny_mlp", extra_state=extra))
        if state is not None:
            trainer.load_state_dict(state)
        trainer.train(kit.loader(x, y, 8), kit.loader(x, y, 64, shuffle=False))
        return trainer

    first = run_with(kit.config(epochs=2, **options))
    path = CheckpointManager(tmp_path, "run").save(first.state_dict(), kind="epoch")
    resumed = run_with(kit.config(epochs=4, **{**options, "lr": 0.4}), load_checkpoint(path))
    # The schedule keeps its position (two halvings so far) and continues from the new base.
    assert resumed.history["lr"] == pytest.approx([0.1, 0.05, 0.4 * 0.25, 0.4 * 0.125])
    assert resumed.scheduler.base_lrs == [0.4]
    assert resumed.optimizer.param_groups[0]["lr"] == pytest.approx(0.4 * 0.0625)
