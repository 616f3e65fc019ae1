"""Engine overhead: the shared Trainer against a minimal hand-written PyTorch loop.

    AIFS_DATA_DIR=/path/to/datasets python benchmarks/bench_engine_overhead.py [--threads 1]

For each model (the MLP 784-256-128-10 of models/03_mlp and LeNet-5 of models/05_lenet5, each
with its ``fashion_mnist`` experiment's optimizer and batch size) six candidates train the
same network from the same initial weights (same seed) on the same batches (one ArrayLoader
seed, same epochs), one epoch per call, interleaved:

- ``raw``: the loop a user would write by hand (``benchlib.RawLoop``): zero-grad, forward,
  cross-entropy, backward, step, the epoch's loss and accuracy, then the same validation; its
  optimizer is built as a user would, torch's class with its defaults
  (``torch.optim.Adam(model.parameters(), lr=...)``), which is also the engine's default
  (``optimizer_impl: default``);
- ``raw_control``: a second, identical raw loop: ``raw_control / raw`` is what two identical
  loops differ by in this run (the noise floor), which no ratio below can resolve;
- ``trainer``: ``engine.trainer.Trainer`` with audits at the engine's default interval
  (``audit_every=50``; LeNet-5's own config audits every 200, so this is its worst case);
  ``trainer / raw`` is the ratio the issues set targets for (at most 1.05 in issue 7, 1.02
  since engine v2, issue 15);
- ``trainer_no_audit``: the same with ``audit_every`` = 10**9 (the audit's own cost is the
  difference; it is also timed directly);
- ``trainer_no_check``: the Trainer with the NaN policy's gradient check switched off (its
  ``_grad_sum`` returns 0.0): ``trainer / trainer_no_check`` is what the check costs in place,
  where the gradients are read once more after backward;
- ``trainer_bare_step``: the same Trainer loop (batches, audits, validation, the epoch's
  bookkeeping) around a hand-written step, the raw loop's lines (``bare_step``): no check and none
  of the step's plumbing (the model's step, metric objects, accumulation weights, contexts).
  ``trainer_no_check / trainer_bare_step`` is the plumbing's cost and ``trainer_bare_step / raw``
  the loop's and the epoch's own;
- ``raw_fused`` and ``trainer_fused``: both loops with ``optimizer_impl: fused`` (torch's fused
  kernel): what the engine's option gains over a user's loop with torch's defaults, and the
  loop overhead alone once the optimizer is fast.

How a ratio is measured. The candidates are built afresh in each of several blocks
(``BLOCKS``), in a construction order rotated per block, since where one instance's tensors land
in memory moves its speed by a few percent for as long as it lives (LeNet-5's blocks spread by
up to 10%): many short blocks sample that better than a few long ones. Within a block, after one
warm-up epoch each, every round runs one epoch of each candidate in the orders of a balanced
Latin square, continued from block to block (``benchlib.interleaved``). Two estimates, both
reported:

- the paired ratio: per round, candidate / raw; the median over all rounds (range in brackets);
- the position median (the headline): ``benchlib.StepClock`` times every step of every epoch;
  per batch position, the median over the epochs (pooled over the blocks), summed. A burst of
  load from another process slows a few steps of a few epochs, which a per-epoch ratio feels in
  full and this estimate hardly at all. Per-block values show the spread between instances.

The finiteness check is also timed on its own with the alternatives, on the gradients the
model's last step left (CPU microseconds per call): there the gradients sit in the cache, so it
costs less than in place, which ``trainer_no_check`` measures. The three parts (check, step
plumbing, loop) are ratios of candidates built afresh in every block; on a machine shared with
other jobs one instance's speed moves by more than a part's 1%, so they resolve only on an idle
machine (the per-block values say whether they did).

Fair by construction: the Trainer always validates after an epoch, so the raw loop runs the same
validation (the first 1,024 validation images, inference mode, loss and accuracy). No scheduler,
no checkpoints, no early stopping (per-epoch costs; one checkpoint's cost is measured separately,
as a share of a full 51,000-image epoch). After the last round of each block the six
candidates with torch's default optimizer must hold bit-identical weights, and so must the two
fused candidates: the same arithmetic was timed.

Data: a fixed subset of the Fashion-MNIST training split, 100 batches per epoch (MLP 12,800
images in batches of 128, LeNet-5 6,400 in batches of 64), so the script takes about 4 minutes on
the idle 2-core machine (242 s at 38eb420), more when other jobs share it.
"""

from __future__ import annotations

import functools
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import benchlib
import torch

from engine.checkpoint import CheckpointManager
from engine.steps import Mean
from engine.trainer import RunContext
from utils.registry import MODELS

SCRIPT = "bench_engine_overhead"
AUDIT_DEFAULT = 50  # utils.config.BaseConfig.audit_every
AUDIT_OFF = 10**9
VAL_SAMPLES = 1024
FULL_EPOCH = 51_000  # training images of the shared Fashion-MNIST split
# model -> (training images per epoch, timed rounds per block); blocks x rounds a multiple of 8
# (the candidates) balances the orders. Many short blocks: one instance's speed varies more
# than one epoch's.
PLAN = {"mlp": (12_800, 8), "lenet5": (6_400, 2)}
BLOCKS = {"mlp": 6, "lenet5": 4}  # blocks of freshly built candidates per model
CANDIDATES = [
    "raw",
    "raw_control",
    "trainer",
    "trainer_no_audit",
    "trainer_no_check",
    "trainer_bare_step",
    "raw_fused",
    "trainer_fused",
]
# torch's default optimizer: all of them must end with the same weights
PLAIN = tuple(name for name in CANDIDATES if not name.endswith("_fused"))


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


def finite_check_alternatives(engine: benchlib.EngineLoop, calls: int = 200) -> dict[str, float]:
    """Microseconds per call of the engine's finiteness check and of the alternatives, on the
    gradients the model's last step left, interleaved (``calls`` calls per round, 10 rounds)."""
    trainer = engine.trainer
    grads = [p.grad for p in trainer.params if p.grad is not None]
    found, scale = torch.zeros(1), torch.ones(1)
    checks = {
        "engine: Python sum of per-tensor sums": lambda: trainer._grad_sum(grads),
        "stack of per-tensor sums": lambda: float(torch.stack([g.sum() for g in grads]).sum()),
        "torch AMP check (GradScaler's)": lambda: (
            torch._amp_foreach_non_finite_check_and_unscale_(grads, found, scale),
            float(found),
        ),
        "isfinite().all() per tensor": lambda: all(bool(g.isfinite().all()) for g in grads),
    }

    def repeat(check):
        return lambda: [check() for _ in range(calls)]

    times = benchlib.interleaved({n: repeat(c) for n, c in checks.items()}, repeats=10)
    return {n: 1e6 * statistics.median(v) / calls for n, v in times["cpu"].items()}


def without_check(engine: benchlib.EngineLoop) -> benchlib.EngineLoop:
    """The Trainer with the finiteness check of its NaN policy off (every sum reads as 0.0)."""
    engine.trainer._grad_sum = lambda grads: 0.0
    return engine


def bare_step(engine: benchlib.EngineLoop) -> benchlib.EngineLoop:
    """The Trainer's loop around the raw loop's step: zero-grad, forward, loss, backward, step
    and the two ``item()`` reads; the audit's gradient norms read before the step, as the
    Trainer reads them. No finiteness check, no model step, no accumulation weights."""
    trainer, criterion = engine.trainer, engine.setup.criterion

    def step(group: list, audit: bool) -> dict[str, Any]:
        ((x, y),) = group
        trainer.optimizer.zero_grad(set_to_none=True)
        scores = trainer.model(x)
        loss = criterion(scores, y)
        loss.backward()
        grad_norms = trainer.auditor.grad_norms() if audit else {}
        trainer.optimizer.step()
        n = len(y)
        correct = (scores.argmax(dim=1) == y).sum().item()
        metrics = {"loss": Mean(loss.item() * n, n), "accuracy": Mean(correct, n)}
        return {"stepped": True, "samples": n, "metrics": metrics, "grad_norms": grad_norms}

    trainer.backprop_step = step
    return engine


def build_candidates(name: str, splits, seed: int, order: list[str]) -> dict[str, Any]:
    """The candidates in ``order``, each built afresh in that order (where each one's tensors
    land in memory differs with it), each training loader wrapped in a ``StepClock``."""
    n_train = PLAN[name][0]

    def setup(**changes):
        return benchlib.build_setup(name, splits, n_train, VAL_SAMPLES, seed=seed, **changes)

    makers = {
        "raw": lambda: benchlib.RawLoop(setup(optimizer="torch_default")),
        "raw_control": lambda: benchlib.RawLoop(setup(optimizer="torch_default")),
        "trainer": lambda: benchlib.EngineLoop(setup(audit_every=AUDIT_DEFAULT)),
        "trainer_no_audit": lambda: benchlib.EngineLoop(setup(audit_every=AUDIT_OFF)),
        "trainer_no_check": lambda: without_check(
            benchlib.EngineLoop(setup(audit_every=AUDIT_DEFAULT))
        ),
        "trainer_bare_step": lambda: bare_step(
            benchlib.EngineLoop(setup(audit_every=AUDIT_DEFAULT))
        ),
        "raw_fused": lambda: benchlib.RawLoop(setup(optimizer_impl="fused")),
        "trainer_fused": lambda: benchlib.EngineLoop(
            setup(audit_every=AUDIT_DEFAULT, optimizer_impl="fused")
        ),
    }
    built = {n: makers[n]() for n in order}
    for candidate in built.values():
        candidate.setup.train_loader = benchlib.StepClock(candidate.setup.train_loader)
    return built


def bench_model(
    name: str,
    splits,
    seed: int,
    rounds: int,
    load,
    blocks: int | None = None,
) -> dict[str, Any]:
    """``blocks`` (default ``BLOCKS[name]``) blocks of interleaved epochs, each with every
    candidate built afresh."""
    blocks = blocks or BLOCKS[name]
    wall: dict[str, list[float]] = {n: [] for n in CANDIDATES}
    cpu: dict[str, list[float]] = {n: [] for n in CANDIDATES}
    segments: dict[str, list[list[float]]] = {n: [] for n in CANDIDATES}
    block_estimates, identical, identical_fused = [], [], []
    for block in range(blocks):
        shift = block % len(CANDIDATES)
        candidates = build_candidates(name, splits, seed, CANDIDATES[shift:] + CANDIDATES[:shift])
        clocks = {n: c.setup.train_loader for n, c in candidates.items()}
        timed = {n: clocks[n].timed(candidates[n].run_epoch) for n in CANDIDATES}
        # The blocks continue one balanced design: block b starts at row b * rounds.
        times = benchlib.interleaved(timed, rounds, warmup=1, first_order=block * rounds)
        load.sample(f"after {name} block {block + 1}")
        estimate = {}
        for n in CANDIDATES:
            wall[n] += times["wall"][n]
            cpu[n] += times["cpu"][n]
            segments[n] += clocks[n].epochs[1:]  # the warm-up epoch is not timed
            estimate[n] = benchlib.position_median_seconds(clocks[n].epochs[1:])
        block_estimates.append(estimate)
        # The Trainer computes exactly what the hand-written loop with the same optimizer does.
        identical.append(benchlib.same_weights(*(candidates[k].model for k in PLAIN)))
        identical_fused.append(
            benchlib.same_weights(candidates["raw_fused"].model, candidates["trainer_fused"].model)
        )
    trainer = candidates["trainer"]
    audits_per_epoch = len(trainer.trainer.history["audit"]) / (rounds + 1)
    audit = audit_seconds(trainer)
    full_epoch = FULL_EPOCH / PLAN[name][0] * statistics.median(wall["trainer"])
    checkpoint = checkpoint_seconds(trainer)
    pooled = {n: benchlib.position_median_seconds(segments[n]) for n in CANDIDATES}

    def pair(candidate: str, baseline: str, times: dict = wall) -> dict[str, float]:
        return benchlib.paired_ratios({k: times[k] for k in (baseline, candidate)}, baseline)[
            candidate
        ]

    def position_ratio(candidate: str, baseline: str = "raw") -> dict[str, Any]:
        return {
            "pooled": pooled[candidate] / pooled[baseline],
            "blocks": [e[candidate] / e[baseline] for e in block_estimates],
        }

    return {
        "folder": f"models/{MODELS[name]}",
        **benchlib.describe(candidates["raw"].setup),
        "blocks": blocks,
        "rounds_per_block": rounds,
        "epoch_seconds": {n: benchlib.spread(v) for n, v in wall.items()},
        "epoch_cpu_seconds": {n: benchlib.spread(v) for n, v in cpu.items()},
        "ratio_vs_raw": benchlib.paired_ratios(wall, "raw"),
        "cpu_ratio_vs_raw": benchlib.paired_ratios(cpu, "raw"),
        "position_median_seconds": pooled,
        "position_ratio_vs_raw": {n: position_ratio(n) for n in CANDIDATES if n != "raw"},
        "trainer_vs_no_audit": pair("trainer", "trainer_no_audit"),
        "trainer_vs_no_audit_position": position_ratio("trainer", "trainer_no_audit"),
        # Where the Trainer's time beyond the raw loop goes (position medians, pooled).
        "parts_position": {
            "finiteness check (trainer / trainer_no_check)": position_ratio(
                "trainer", "trainer_no_check"
            ),
            "step plumbing (trainer_no_check / trainer_bare_step)": position_ratio(
                "trainer_no_check", "trainer_bare_step"
            ),
            "loop and epoch (trainer_bare_step / raw)": position_ratio("trainer_bare_step"),
        },
        # The loop's overhead alone when both use the fused optimizer.
        "trainer_fused_vs_raw_fused": pair("trainer_fused", "raw_fused"),
        "trainer_fused_vs_raw_fused_position": position_ratio("trainer_fused", "raw_fused"),
        "audits_per_epoch": audits_per_epoch,
        "audit_ms_each": 1000 * audit,
        "audit_share_of_epoch": audit * audits_per_epoch / pooled["trainer"],
        "checkpoint_ms": 1000 * checkpoint,
        "checkpoint_share_of_full_epoch": checkpoint / full_epoch,
        # One raw epoch (validation included) per training batch, for scale.
        "raw_us_per_batch": 1e6 * pooled["raw"] / len(trainer.setup.train_loader),
        "finite_check_us": finite_check_alternatives(trainer),
        "engine_optimizer": benchlib.describe(trainer.setup)["optimizer_defaults"],
        "identical_weights": all(identical),
        "identical_weights_fused": all(identical_fused),
        "times": {"wall": wall, "cpu": cpu},
    }


def main(argv: list[str] | None = None) -> int:
    parser = benchlib.model_parser(__doc__.split("\n\n")[0], PLAN)
    parser.add_argument(
        "--blocks",
        type=benchlib.positive_int,
        help="blocks of fresh candidates (default: per model)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)  # the Trainer's per-epoch info lines stay quiet
    bench = functools.partial(bench_model, blocks=args.blocks)
    threads, load, results = benchlib.bench_models(args, PLAN, bench)

    ratios = {
        "wall ratio [range]": ("ratio_vs_raw", "raw"),
        "cpu ratio": ("cpu_ratio_vs_raw", "raw"),
    }
    print(f"torch threads {threads}; an epoch = 100 training batches + {VAL_SAMPLES} val images")
    print(benchlib.epoch_table(results, ratios))
    rows = []
    for name, r in results.items():
        for cand, ratio in r["position_ratio_vs_raw"].items():
            blocks = ", ".join(f"{b:.3f}" for b in ratio["blocks"])
            rows.append([name, cand, f"{ratio['pooled']:.3f}", blocks])
    print("position-median ratio (per batch position, the median over epochs; summed)")
    print(benchlib.format_table(["model", "candidate", "vs raw, pooled", "per block"], rows))
    for name, r in results.items():
        fused = r["trainer_fused_vs_raw_fused_position"]
        print(
            f"{name}: trainer_fused / raw_fused (loop overhead alone, fused optimizer)"
            f" {fused['pooled']:.3f}, paired wall"
            f" {benchlib.fmt_ratio(r['trainer_fused_vs_raw_fused'])}"
        )
        print(
            f"{name}: {r['audits_per_epoch']:.0f} audits/epoch of {r['audit_ms_each']:.2f} ms ="
            f" {100 * r['audit_share_of_epoch']:.2f}% of the epoch (trainer / no-audit"
            f" {r['trainer_vs_no_audit_position']['pooled']:.3f}); checkpoint"
            f" {r['checkpoint_ms']:.0f} ms = {100 * r['checkpoint_share_of_full_epoch']:.2f}% of"
            f" a 51,000-image epoch; identical weights {r['identical_weights']}"
            f" (fused pair: {r['identical_weights_fused']})"
        )
    for name, r in results.items():
        parts = ", ".join(f"{part} {v['pooled']:.3f}" for part, v in r["parts_position"].items())
        print(f"{name}: where the Trainer's time beyond the raw loop goes: {parts}")
    for name, r in results.items():
        checks = r["finite_check_us"].items()
        print(
            f"{name}: the finiteness check and its alternatives on the model's gradients, CPU us"
            f" per call (a raw epoch is {r['raw_us_per_batch']:.0f} us per batch)"
        )
        print(benchlib.format_table(["check", "us"], [[n, f"{us:.1f}"] for n, us in checks]))
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
