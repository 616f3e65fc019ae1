"""Multi-process training: sharding, the DDP guards, and torchrun against one process."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
import torch.distributed as dist

from data_utils import ArrayLoader
from engine import distributed, workflow
from engine.checkpoint import load_checkpoint
from utils.exceptions import ConfigError
from utils.modules import load_model_modules
from utils.registry import model_modules
from utils.testing import copy_model


@pytest.mark.parametrize("n, world_size, per_rank", [(11, 2, 2), (12, 3, 1), (399, 2, 1)])
def test_shards_are_disjoint_cover_the_epoch_and_rebuild_the_global_batches(
    n, world_size, per_rank
):
    x, y = torch.arange(n, dtype=torch.float32)[:, None], torch.arange(n)
    single = ArrayLoader(x, y, per_rank * world_size, shuffle=True, seed=3)
    ranks = [
        ArrayLoader(x, y, per_rank, shuffle=True, seed=3, rank=r, world_size=world_size)
        for r in range(world_size)
    ]
    for epoch in (0, 1):
        for loader in (single, *ranks):
            loader.set_epoch(epoch)
        shards = [set(loader.indices().tolist()) for loader in ranks]
        assert sum(len(s) for s in shards) == n and set().union(*shards) == set(range(n))
        # Global batch j of one process == the union of batch j of every rank: the reason the
        # per-rank batch is batch_size / world_size, and why DDP can match one process exactly.
        rank_batches = [list(loader) for loader in ranks]
        for j, (_, yb) in enumerate(single):
            union = [rb[j][1] for rb in rank_batches if j < len(rb)]
            assert sorted(torch.cat(union).tolist()) == sorted(yb.tolist())


@pytest.fixture
def one_process_group(tmp_path):
    """A real process group of one (gloo, a file store: no network at all)."""
    dist.init_process_group(
        "gloo", init_method=f"file://{tmp_path / 'store'}", rank=0, world_size=1
    )
    yield
    dist.destroy_process_group()


def test_ddp_guards(kit, one_process_group):
    config = kit.config()
    perceptron = model_modules("perceptron").model.Perceptron(num_features=2)
    with pytest.raises(ConfigError, match="run it in one process, without torchrun"):
        distributed.check_supported(perceptron)
    with pytest.raises(ConfigError, match="Perceptron learns with its own rule"):
        distributed.wrap_model(perceptron, torch.device("cpu"))
    wrapped = distributed.wrap_model(kit.model(config), torch.device("cpu"))
    assert isinstance(wrapped, torch.nn.parallel.DistributedDataParallel)
    assert distributed.all_reduce_sum([1.0, 2.0]) == [1.0, 2.0]
    assert distributed.any_true(True) and not distributed.any_true(False)


def test_the_global_batch_must_split_evenly_over_the_processes(monkeypatch):
    monkeypatch.setattr(distributed, "world_size", lambda: 4)
    assert distributed.per_rank_batch_size(32) == 8
    with pytest.raises(ConfigError, match="batch_size 30 is the global batch"):
        distributed.per_rank_batch_size(30)


def test_torchrun_two_processes_match_one_process(kit, tmp_path, restore_logging, monkeypatch):
    """The fixture's ``ddp`` experiment: 399 samples, global batch 2 (1 per rank), 2 batches per
    optimizer step, 2 epochs, SGD with momentum: uneven shards, padding and short groups."""
    args = ["--experiment", "ddp", "--no-wandb"]
    single = copy_model(kit.fixture_dir, tmp_path / "single")
    monkeypatch.setattr(workflow, "save_run_metadata", lambda *a, **k: None)
    assert load_model_modules(single).train.main(args) == 0

    multi = copy_model(kit.fixture_dir, tmp_path / "multi")
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        + ["src/train.py", *args],
        cwd=multi,
        capture_output=True,
        text=True,
        timeout=300,
        env=kit.subprocess_env(GLOO_SOCKET_IFNAME="lo"),  # loopback only
    )
    assert result.returncode == 0, result.stderr[-3000:]

    (one,) = (single / "outputs" / "models" / "ddp").glob("*_final.pt")
    (two,) = (multi / "outputs" / "models" / "ddp").glob("*_final.pt")
    one, two = load_checkpoint(one), load_checkpoint(two)
    assert two["run"]["world_size"] == 2 and two["global_step"] == one["global_step"] == 200
    diff = max(
        (one["model_state"][k] - two["model_state"][k]).abs().max() for k in one["model_state"]
    )
    assert diff < 1e-6, f"max abs weight difference {diff}"
    # Metrics are all-reduced: the same numbers as one process sees.
    assert two["history"]["train_loss"] == pytest.approx(one["history"]["train_loss"], abs=1e-6)
    assert two["history"]["val_accuracy"] == one["history"]["val_accuracy"]
    # Rank 0 alone writes: one log, one metrics file, each epoch logged once.
    logs = multi / "outputs" / "logs"
    (log,) = logs.glob("*.log")
    assert log.read_text().count("epoch 1 |") == 1
    (metrics,) = logs.glob("*.metrics.jsonl")
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    assert [r["epoch"] for r in rows if "epoch" in r] == [1, 2]
    assert "destroy_process_group" not in result.stderr  # no warning about a leaked group


def test_torchrun_refuses_a_numpy_model_with_a_clear_error(kit, tmp_path):
    folder = copy_model(kit.perceptron_dir, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
        + ["src/train.py", "--experiment", "xor", "--no-wandb"],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
        env=kit.subprocess_env(GLOO_SOCKET_IFNAME="lo"),
    )
    assert result.returncode != 0
    assert "ConfigError: Perceptron learns with its own rule" in result.stderr, result.stderr[
        -3000:
    ]
    assert "run it in one process, without torchrun" in result.stderr
    assert not list((folder / "outputs" / "models").rglob("*.pt"))
