"""Engine overhead: the shared Trainer against a minimal hand-written PyTorch loop.

    AIFS_DATA_DIR=/path/to/datasets python benchmarks/bench_engine_overhead.py [--threads 1]

For each model (the MLP 784-256-128-10 of models/03_mlp and LeNet-5 of models/05_lenet5, each
with its ``fashion_mnist`` experiment's optimizer and batch size) five candidates train the
same network from the same initial weights (same seed) on the same batches (one ArrayLoader
seed, same epochs), one epoch per call, interleaved:

- ``raw``: the loop a user would write by hand (``benchlib.RawLoop``): zero-grad, forward,
  cross-entropy, backward, step, the epoch's loss and accuracy, then the same validation; its
  optimizer is built as a user would, torch's class with its defaults
  (``torch.optim.Adam(model.parameters(), lr=...)``), which is also the engine's default
  (``optimizer_impl: default``);
- ``trainer``: ``engine.trainer.Trainer`` with audits at the engine's default interval
  (``audit_every=50``; LeNet-5's own config audits every 200, so this is its worst case);
  ``trainer / raw`` is the target of at most 1.05;
- ``trainer_no_audit``: the same with ``audit_every`` = 10**9 (the audit's own cost is the
  difference; it is also timed directly);
- ``raw_fused`` and ``trainer_fused``: both loops with ``optimizer_impl: fused`` (torch's fused
  kernel): what the engine's option gains over a user's loop with torch's defaults, and the
  loop overhead alone once the optimizer is fast.

Fair by construction: the Trainer always validates after an epoch, so the raw loop runs the same
validation (the first 1,024 validation images, inference mode, loss and accuracy). No scheduler,
no checkpoints, no early stopping (per-epoch costs; one checkpoint's cost is measured separately,
as a share of a full 51,000-image epoch). After the last round ``raw``, ``trainer`` and
``trainer_no_audit`` must hold bit-identical weights, and so must the two fused candidates: the
same arithmetic was timed.

Data: a fixed subset of the Fashion-MNIST training split, 100 batches per epoch (MLP 12,800
images in batches of 128, LeNet-5 6,400 in batches of 64), so the script stays under 5 minutes on
2 busy cores.
"""

from __future__ import annotations

import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib

from engine.checkpoint import CheckpointManager
from engine.trainer import RunContext

SCRIPT = "bench_engine_overhead"
AUDIT_DEFAULT = 50  # utils.config.BaseConfig.audit_every
AUDIT_OFF = 10**9
VAL_SAMPLES = 1024
FULL_EPOCH = 51_000  # training images of the shared Fashion-MNIST split
# model -> (training images per epoch, timed rounds)
PLAN = {"mlp": (12_800, 25), "lenet5": (6_400, 10)}


def checkpoint_seconds(engine: benchlib.EngineLoop, rounds: int = 5) -> float:
    """Median seconds of one epoch checkpoint (Trainer.save through a CheckpointManager)."""
    trainer = engine.trainer
    with tempfile.TemporaryDirectory() as folder:
        trainer.run = RunContext(
            model_name="bench", checkpoints=CheckpointManager(Path(folder), "bench", keep_last=2)
        )
        times = []
        for _ in range(rounds):
            start = time.perf_counter()
            trainer.save("epoch")
            times.append(time.perf_counter() - start)
        trainer.run = None
    return statistics.median(times)


def audit_seconds(engine: benchlib.EngineLoop, rounds: int = 20) -> float:
    """Median seconds of one audit measured directly: snapshot, gradient norms, record."""
    trainer = engine.trainer
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        before = trainer.auditor.snapshot()
        trainer.auditor.record(before, trainer.auditor.grad_norms(), step=0, epoch=0)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_model(name: str, splits, seed: int, rounds: int, load) -> dict[str, Any]:
    """Interleaved epochs of raw, trainer and trainer_no_audit for one model."""
    n_train = PLAN[name][0]

    def setup(**changes):
        return benchlib.build_setup(name, splits, n_train, VAL_SAMPLES, seed=seed, **changes)

    candidates = {
        "raw": benchlib.RawLoop(setup(optimizer="torch_default")),
        "trainer": benchlib.EngineLoop(setup(audit_every=AUDIT_DEFAULT)),
        "trainer_no_audit": benchlib.EngineLoop(setup(audit_every=AUDIT_OFF)),
        "raw_fused": benchlib.RawLoop(setup(optimizer_impl="fused")),
        "trainer_fused": benchlib.EngineLoop(
            setup(audit_every=AUDIT_DEFAULT, optimizer_impl="fused")
        ),
    }
    times = benchlib.time_epochs(candidates, rounds, load, name)
    wall, cpu = times["wall"], times["cpu"]
    audits_per_epoch = len(candidates["trainer"].trainer.history["audit"]) / (rounds + 1)
    audit = audit_seconds(candidates["trainer"])
    full_epoch = FULL_EPOCH / n_train * statistics.median(wall["trainer"])
    checkpoint = checkpoint_seconds(candidates["trainer"])

    def pair(candidate: str, baseline: str, times: dict = wall) -> dict[str, float]:
        return benchlib.paired_ratios({k: times[k] for k in (baseline, candidate)}, baseline)[
            candidate
        ]

    return {
        "folder": f"models/{benchlib.MODELS[name][0]}",
        **benchlib.describe(candidates["raw"].setup),
        "rounds": rounds,
        "epoch_seconds": {n: benchlib.spread(v) for n, v in wall.items()},
        "epoch_cpu_seconds": {n: benchlib.spread(v) for n, v in cpu.items()},
        "ratio_vs_raw": benchlib.paired_ratios(wall, "raw"),
        "cpu_ratio_vs_raw": benchlib.paired_ratios(cpu, "raw"),
        "trainer_vs_no_audit": pair("trainer", "trainer_no_audit"),
        # The loop's overhead alone when both use the fused optimizer.
        "trainer_fused_vs_raw_fused": pair("trainer_fused", "raw_fused"),
        "trainer_fused_vs_raw_fused_cpu": pair("trainer_fused", "raw_fused", cpu),
        "audits_per_epoch": audits_per_epoch,
        "audit_ms_each": 1000 * audit,
        "audit_share_of_epoch": audit * audits_per_epoch / statistics.median(wall["trainer"]),
        "checkpoint_ms": 1000 * checkpoint,
        "checkpoint_share_of_full_epoch": checkpoint / full_epoch,
        "engine_optimizer": benchlib.describe(candidates["trainer"].setup)["optimizer_defaults"],
        # The Trainer computes exactly what the hand-written loop with the same optimizer does.
        "identical_weights": benchlib.same_weights(
            *(candidates[k].model for k in ("raw", "trainer", "trainer_no_audit"))
        ),
        "identical_weights_fused": benchlib.same_weights(
            candidates["raw_fused"].model, candidates["trainer_fused"].model
        ),
        "times": times,
    }


def main(argv: list[str] | None = None) -> int:
    args = benchlib.model_parser(__doc__.split("\n\n")[0], PLAN).parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the Trainer's per-epoch info lines stay quiet
    threads, load, results = benchlib.bench_models(args, PLAN, bench_model)

    ratios = {
        "wall ratio [range]": ("ratio_vs_raw", "raw"),
        "cpu ratio": ("cpu_ratio_vs_raw", "raw"),
    }
    print(f"torch threads {threads}; an epoch = 100 training batches + {VAL_SAMPLES} val images")
    print(benchlib.epoch_table(results, ratios))
    for name, r in results.items():
        print(
            f"{name}: trainer_fused / raw_fused (loop overhead alone, fused optimizer)"
            f" {benchlib.fmt_ratio(r['trainer_fused_vs_raw_fused'])}, cpu"
            f" {benchlib.fmt_ratio(r['trainer_fused_vs_raw_fused_cpu'])}"
        )
        print(
            f"{name}: {r['audits_per_epoch']:.0f} audits/epoch of {r['audit_ms_each']:.2f} ms ="
            f" {100 * r['audit_share_of_epoch']:.2f}% of the epoch (trainer / no-audit"
            f" {benchlib.fmt_ratio(r['trainer_vs_no_audit'])}); checkpoint"
            f" {r['checkpoint_ms']:.0f} ms = {100 * r['checkpoint_share_of_full_epoch']:.2f}% of"
            f" a 51,000-image epoch; identical weights {r['identical_weights']}"
            f" (fused pair: {r['identical_weights_fused']})"
        )
    payload = {
        "torch_threads": threads,
        "val_samples": VAL_SAMPLES,
        "stderr_is_tty": sys.stderr.isatty(),  # a tty gives the Trainer a tqdm bar
        "results": results,
    }
    benchlib.finish(SCRIPT, payload, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
