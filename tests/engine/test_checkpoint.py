"""Checkpoints: atomic writes under SIGKILL, rotation, fallback, hostile and broken files."""

from __future__ import annotations

import io
import json
import logging
import os
import random
import signal
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import torch

from engine.checkpoint import (
    CheckpointManager,
    export_safetensors,
    load_checkpoint,
    resolve_checkpoint,
    save_checkpoint,
)
from engine.trainer import RunContext
from utils.exceptions import CheckpointError


def state(epoch: int, fill: float = 0.0) -> dict:
    return {"model_state": {"w": torch.full((3,), fill)}, "epoch": epoch, "global_step": 10 * epoch}


# ---------------------------------------------------------------------------------- atomicity

# Saves a good checkpoint, then starts overwriting it with a save that writes part of a file and
# hangs, so that the parent can SIGKILL it in the middle of the write.
KILLED_DURING_SAVE = """
import sys, time
from pathlib import Path
import torch
import engine.checkpoint as checkpoint
path = Path(sys.argv[1])
checkpoint.save_checkpoint({"epoch": 1, "model_state": {"w": torch.ones(3)}}, path)
def slow_save(obj, handle):
    handle.write(b"PK" + bytes(4096))
    handle.flush()
    print("writing", flush=True)
    time.sleep(120)
checkpoint.torch.save = slow_save
checkpoint.save_checkpoint({"epoch": 2, "model_state": {"w": torch.zeros(3)}}, path)
"""


def test_a_process_killed_during_a_save_leaves_the_previous_checkpoint_intact(tmp_path):
    path = tmp_path / "run_epoch001.pt"
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_DURING_SAVE, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    (partial,) = tmp_path.glob(".*.tmp")  # the half-written file is a temporary, never the target
    assert partial.stat().st_size > 0
    restored = load_checkpoint(path)
    assert restored["epoch"] == 1 and torch.equal(restored["model_state"]["w"], torch.ones(3))
    assert [p.name for p in tmp_path.glob("*.pt")] == [path.name]


def test_save_refuses_values_that_weights_only_loading_would_reject(tmp_path):
    path = tmp_path / "bad.pt"
    with pytest.raises(CheckpointError, match=r"checkpoint\['extra'\]\['x'\] is a numpy.ndarray"):
        save_checkpoint({"extra": {"x": np.zeros(3)}}, path)
    assert not path.exists() and not list(tmp_path.iterdir())


# ------------------------------------------------------------------------ rotation and pointers


def names(folder) -> list[str]:
    return sorted(p.name for p in folder.glob("*.pt"))


def test_rotation_keeps_the_last_k_and_the_best(tmp_path):
    manager = CheckpointManager(tmp_path, "run", keep_last=2, mode="max")
    for epoch, metric in enumerate([0.5, 0.9, 0.6, 0.7, 0.8], start=1):
        manager.save(state(epoch), metric=metric)
    manager.save(state(5), kind="interrupt")
    assert names(tmp_path) == [
        "run_epoch002_step0000020.pt",  # the best
        "run_epoch004_step0000040.pt",
        "run_epoch005_step0000050.pt",
        "run_epoch005_step0000050_interrupt.pt",  # never rotated
    ]
    best = json.loads((tmp_path / "best.json").read_text())
    assert best["path"] == "run_epoch002_step0000020.pt" and best["metric"] == 0.9
    latest = json.loads((tmp_path / "latest.json").read_text())
    assert latest["path"] == "run_epoch005_step0000050_interrupt.pt"
    assert resolve_checkpoint("best", tmp_path)["epoch"] == 2


def test_a_resumed_run_continues_the_rotation_and_keeps_its_best(tmp_path):
    first = CheckpointManager(tmp_path, "run", keep_last=2)
    for epoch, metric in enumerate([0.5, 0.9, 0.6], start=1):
        first.save(state(epoch), metric=metric)
    CheckpointManager(tmp_path, "other", keep_last=1).save(state(1), metric=0.1)

    resumed = CheckpointManager(tmp_path, "run", keep_last=2)  # a new process, same run
    assert resumed.best_value == 0.9 and resumed.best_path.name == "run_epoch002_step0000020.pt"
    resumed.save(state(4), metric=0.7)
    assert "run_epoch002_step0000020.pt" in names(tmp_path)  # still the best: kept
    resumed.save(state(5), metric=0.95)
    assert [n for n in names(tmp_path) if n.startswith("run_")] == [
        "run_epoch004_step0000040.pt",
        "run_epoch005_step0000050.pt",
    ]
    assert "other_epoch001_step0000010.pt" in names(tmp_path)  # another run's files untouched


def test_best_is_the_best_over_all_runs_that_monitor_the_same_metric(tmp_path):
    first = CheckpointManager(tmp_path, "first", mode="max", monitor="val_accuracy")
    for epoch, metric in enumerate([0.7, 0.9, 0.8], start=1):
        first.save(state(epoch), metric=metric)
    later = CheckpointManager(tmp_path, "later", mode="max", monitor="val_accuracy")
    later.save(state(1), metric=0.6)  # its own best, but worse than the first run's
    best = json.loads((tmp_path / "best.json").read_text())
    assert (best["run_name"], best["path"], best["metric"]) == (
        "first",
        "first_epoch002_step0000020.pt",
        0.9,
    )
    assert best["runs"]["later"]["metric"] == 0.6  # each run still keeps its own best
    assert resolve_checkpoint("best", tmp_path)["path"].endswith("first_epoch002_step0000020.pt")

    # A loss is not compared with an accuracy: runs that monitor it are ranked among themselves.
    by_loss = CheckpointManager(tmp_path, "by_loss", mode="min", monitor="val_loss")
    by_loss.save(state(1), metric=0.3)
    by_loss.save(state(2), metric=0.2)
    best = json.loads((tmp_path / "best.json").read_text())
    assert (best["run_name"], best["monitor"], best["metric"]) == ("by_loss", "val_loss", 0.2)
    CheckpointManager(tmp_path, "again", mode="max", monitor="val_accuracy").save(state(1), 0.95)
    best = json.loads((tmp_path / "best.json").read_text())
    assert (best["run_name"], best["metric"]) == ("again", 0.95)
    assert set(best["runs"]) == {"first", "later", "by_loss", "again"}


def test_latest_falls_back_to_the_previous_good_checkpoint_and_says_so(tmp_path, caplog):
    manager = CheckpointManager(tmp_path, "run", keep_last=3)
    manager.save(state(1, fill=1.0), metric=0.5)
    newest = manager.save(state(2, fill=2.0), metric=0.6)
    newest.write_bytes(newest.read_bytes()[:100])  # e.g. a disk that lost the end of the file
    with caplog.at_level(logging.WARNING, logger="engine.checkpoint"):
        restored = resolve_checkpoint("latest", tmp_path)
    assert restored["epoch"] == 1 and restored["path"].endswith("run_epoch001_step0000010.pt")
    messages = " ".join(r.getMessage() for r in caplog.records)
    assert "skipping unusable checkpoint" in messages and newest.name in messages
    assert "fell back to the previous good checkpoint" in messages


# ------------------------------------------------------------------------ hostile and broken


class Trap:
    """Unpickling this object would run ``exec`` and create a file."""

    def __init__(self, marker) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').close()",))


@pytest.mark.parametrize("wrapped", [False, True], ids=["bare", "inside-a-checkpoint-dict"])
def test_a_booby_trapped_pickle_is_refused_and_its_code_never_runs(tmp_path, wrapped):
    marker = tmp_path / "pwned"
    payload = Trap(marker)
    if wrapped:
        payload = {"format": "aifs-checkpoint", "format_version": 1, "model_state": payload}
    path = tmp_path / "trap.pt"
    torch.save(payload, path)
    torch.load(path, weights_only=False)  # proof that the payload works when code may run
    assert marker.exists()
    marker.unlink()

    with pytest.raises(CheckpointError, match="refused to load"):
        load_checkpoint(path)
    assert not marker.exists()


def write_zip_of_garbage(path) -> None:
    path.write_bytes(zip_of({"model/data.pkl": b"root:x:0:0", "model/version": b"3\n"}))


def write_truncated(path) -> None:
    save_checkpoint(state(1), path)
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


@pytest.mark.parametrize(
    "make, words",
    [
        (lambda p: None, "no checkpoint at"),
        (lambda p: p.write_bytes(b""), "is empty (0 bytes)"),
        (write_truncated, "unreadable (truncated or not a PyTorch file)"),
        (lambda p: p.write_text("model weights, honest\n"), "not a PyTorch file"),
        (lambda p: p.write_text("root:x:0:0:root:/root:/bin/bash\n"), "not a PyTorch file"),
        (lambda p: p.write_text('{"path": "run_epoch001.pt"}'), "not a PyTorch file"),
        (lambda p: p.write_bytes(random.Random(0).randbytes(4096)), "not a PyTorch file"),
        (lambda p: p.write_bytes(b"PK\x03\x04" + bytes(64)), "unreadable"),
        (write_zip_of_garbage, "unreadable"),
        (lambda p: torch.save([1, 2, 3], p), "not a checkpoint of this project"),
        (lambda p: torch.save({"weights": torch.ones(2)}, p), "not a checkpoint of this project"),
    ],
    ids=[
        "missing",
        "empty",
        "truncated",
        "text",
        "passwd",
        "json",
        "random",
        "zip-header-only",
        "zip-of-garbage",
        "foreign-list",
        "foreign-dict",
    ],
)
def test_broken_or_foreign_files_are_clear_errors(tmp_path, make, words):
    path = tmp_path / "model.pt"
    make(path)
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert str(path) in str(err.value) and words in str(err.value)


def test_damaged_checkpoints_are_checkpoint_errors_never_other_exceptions(tmp_path):
    good = save_checkpoint(state(1, fill=1.0), tmp_path / "good.pt").read_bytes()
    with zipfile.ZipFile(tmp_path / "good.pt") as archive:
        pickle_name = next(n for n in archive.namelist() if n.endswith("data.pkl"))
        members = {n: archive.read(n) for n in archive.namelist()}
    rng = random.Random(0)
    damaged = [good[:n] for n in range(1, len(good), 97)]  # truncated anywhere
    for _ in range(150):  # a few bytes flipped anywhere in the file
        data = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            data[rng.randrange(len(data))] = rng.randrange(256)
        damaged.append(bytes(data))
    for _ in range(150):  # a valid archive around a damaged pickle (IndexError, KeyError, ...)
        pickled = bytearray(members[pickle_name])
        for _ in range(rng.randint(1, 4)):
            pickled[rng.randrange(len(pickled))] = rng.randrange(256)
        damaged.append(zip_of({**members, pickle_name: bytes(pickled)}))
    path = tmp_path / "damaged.pt"
    for data in damaged:
        path.write_bytes(data)
        try:
            loaded = load_checkpoint(path)
        except CheckpointError:
            continue
        assert loaded["format"] == "aifs-checkpoint"  # a flip in the weights' bytes goes unseen


def zip_of(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize("beside", [True, False], ids=["pt-beside", "alone"])
def test_a_safetensors_export_names_the_checkpoint_to_use(tmp_path, beside):
    checkpoint = save_checkpoint(state(1), tmp_path / "run_epoch001_step0000010_final.pt")
    weights = export_safetensors({"w": torch.ones(3)}, checkpoint.with_suffix(".safetensors"))
    if not beside:
        checkpoint.unlink()
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(weights)
    assert "is a weights-only safetensors export, not a checkpoint" in str(err.value)
    use = f"use the checkpoint beside it, {checkpoint}" if beside else "the .pt checkpoint"
    assert use in str(err.value)


def test_a_checkpoint_of_another_model_or_shape_says_what_does_not_match(kit, tmp_path):
    x, y = kit.data()
    config = kit.config(epochs=1)
    run = RunContext("tiny_mlp", checkpoints=CheckpointManager(tmp_path, "run"))
    kit.trainer(config, run=run).train(kit.loader(x, y, 8), kit.loader(x, y, 64))
    saved = resolve_checkpoint("latest", tmp_path)

    wider = kit.trainer(kit.config(hidden=32), run=RunContext("tiny_mlp"))
    with pytest.raises(CheckpointError) as err:
        wider.load_state_dict(saved)
    assert "fc1.weight: checkpoint (16, 4) vs model (32, 4)" in str(err.value)
    assert "fc2.weight: checkpoint (2, 16) vs model (2, 32)" in str(err.value)

    other = kit.trainer(config, run=RunContext("lenet5"))
    with pytest.raises(CheckpointError, match="holds model 'tiny_mlp', not 'lenet5'"):
        other.load_state_dict(saved)
