"""torch.set_num_threads(1) against 2 on this machine, and the default the engine picks.

    AIFS_DATA_DIR=/path/to/datasets python benchmarks/bench_threads.py

The engine sets torch's thread count in ``engine.workflow.apply_threads`` from the config field
``num_threads`` (``utils.config.BaseConfig``). Its default is 1 (bit-reproducible CPU runs, and
no collapse under load); None keeps torch's own choice, one thread per core (2 here) unless
``OMP_NUM_THREADS`` says otherwise. This script times the
same work with 1 thread and with 2, switching ``torch.set_num_threads`` between interleaved
rounds in one process:

- ``mlp_step``: training steps of the MLP 784-256-128-10 (models/03_mlp, Adam, batch 128);
- ``lenet5_step``: training steps of LeNet-5 (models/05_lenet5, AdamW, batch 64);
- ``matmul_2048``: one 2048x2048 float32 matrix product, the best case for a second thread.

Each round runs a fixed number of steps on fixed Fashion-MNIST batches (no loader cost). Wall
time is what a user waits; CPU time (both threads) is what the run takes from the other jobs on
a shared machine.

A cross-check without switching in one process: ``--processes`` rounds of two fresh child
processes (this script with ``--child``), one started with 1 thread and one with 2, each
setting its count once at start as ``apply_threads`` does, then timing MLP steps. One to two
minutes on 2 cores; time budgets per workload keep it under 5 minutes when two threads turn
pathologically slow under load.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import subprocess
import sys
import time
from typing import Any, Callable

import benchlib
import torch

from utils.config import BaseConfig

SCRIPT = "bench_threads"
THREADS = (1, 2)
# workload -> (steps per round, rounds at most, seconds at most). Under heavy load two threads
# can be tens of times slower; the time budget keeps the script within 5 minutes regardless.
PLAN = {"mlp_step": (40, 20, 50.0), "lenet5_step": (10, 20, 60.0), "matmul_2048": (1, 20, 30.0)}
CHILD_SECONDS = 3.0  # a child process times MLP steps for about this long (at least one round)


def train_steps(name: str, splits, steps: int, seed: int) -> Callable[[], None]:
    """``steps`` training steps of a model on fixed batches (forward, backward, optimizer)."""
    setup = benchlib.build_setup(name, splits, n_train=4096, n_val=1, seed=seed)
    batches = [batch for _, batch in zip(range(steps), setup.train_loader)]
    setup.model.train()

    def run() -> None:
        for x, y in batches:
            setup.optimizer.zero_grad(set_to_none=True)
            setup.criterion(setup.model(x), y).backward()
            setup.optimizer.step()

    return run


def matmul(size: int, seed: int) -> Callable[[], None]:
    generator = torch.Generator().manual_seed(seed)
    a = torch.randn(size, size, generator=generator)
    b = torch.randn(size, size, generator=generator)
    return lambda: torch.mm(a, b)


def with_threads(threads: int, work: Callable[[], None]) -> Callable[[], None]:
    def run() -> None:
        torch.set_num_threads(threads)
        work()

    return run


def child(threads: int, seed: int) -> None:
    """In a fresh process: set the thread count once, then print seconds per MLP step as JSON."""
    torch.set_num_threads(threads)
    steps = PLAN["mlp_step"][0]
    run = train_steps("mlp", benchlib.fashion_mnist(seed=seed), steps, seed)
    run()  # warm-up
    start, cpu, rounds = time.perf_counter(), time.process_time(), 0
    while rounds < 5 and (rounds == 0 or time.perf_counter() - start < CHILD_SECONDS):
        run()
        rounds += 1
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(
        json.dumps({"threads": torch.get_num_threads(), "wall": wall / rounds, "cpu": cpu / rounds})
    )


def in_fresh_processes(rounds: int, seed: int) -> dict[str, Any]:
    """Alternate child processes with 1 and 2 threads; seconds per round of MLP steps."""
    wall: dict[str, list[float]] = {f"threads_{t}": [] for t in THREADS}
    cpu: dict[str, list[float]] = {f"threads_{t}": [] for t in THREADS}
    for r in range(rounds):
        for t in THREADS if r % 2 == 0 else THREADS[::-1]:
            command = [sys.executable, __file__, "--child", str(t), "--seed", str(seed)]
            out = subprocess.run(command, capture_output=True, text=True, check=True, timeout=300)
            measured = json.loads(out.stdout.strip().splitlines()[-1])
            wall[f"threads_{t}"].append(measured["wall"])
            cpu[f"threads_{t}"].append(measured["cpu"])
    steps = PLAN["mlp_step"][0]
    return {
        "rounds": rounds,
        "ms_per_step": {n: benchlib.spread([1000 * t / steps for t in v]) for n, v in wall.items()},
        "wall_ratio_2_vs_1": benchlib.paired_ratios(wall, "threads_1")["threads_2"],
        "cpu_ratio_2_vs_1": benchlib.paired_ratios(cpu, "threads_1")["threads_2"],
        "times": {"wall": wall, "cpu": cpu},
    }


def engine_default_threads() -> int | None:
    """``num_threads`` of ``utils.config.BaseConfig``: what every model's training uses unless
    its config or ``--set num_threads=...`` says otherwise."""
    field = next(f for f in dataclasses.fields(BaseConfig) if f.name == "num_threads")
    return field.default


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--rounds", type=benchlib.positive_int, help="rounds per workload (default: per workload)"
    )
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--processes",
        type=benchlib.int_at_least(0),
        default=3,
        help="rounds of fresh processes (0 skips them)",
    )
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.child, args.seed)
        return 0
    default_threads = benchlib.TORCH_DEFAULT_THREADS  # what num_threads: None leaves in place
    load = benchlib.LoadMonitor()
    splits = benchlib.fashion_mnist(seed=args.seed)
    work = {
        "mlp_step": train_steps("mlp", splits, PLAN["mlp_step"][0], args.seed),
        "lenet5_step": train_steps("lenet5", splits, PLAN["lenet5_step"][0], args.seed),
        "matmul_2048": matmul(2048, args.seed),
    }
    results: dict[str, Any] = {}
    for name, run in work.items():
        steps, rounds, budget = PLAN[name]
        candidates = {f"threads_{t}": with_threads(t, run) for t in THREADS}
        times = benchlib.interleaved(
            candidates, repeats=args.rounds or rounds, warmup=1, budget_seconds=budget
        )
        load.sample(f"after {name}")
        wall, cpu = times["wall"], times["cpu"]
        results[name] = {
            "steps_per_round": steps,
            "rounds": len(times["wall"]["threads_1"]),
            "budget_seconds": budget,
            "ms_per_step": {
                n: benchlib.spread([1000 * t / steps for t in v]) for n, v in wall.items()
            },
            "cpu_ms_per_step": {
                n: benchlib.spread([1000 * t / steps for t in v]) for n, v in cpu.items()
            },
            # > 1: two threads take longer than one (wall); CPU: how much more CPU they burn
            "wall_ratio_2_vs_1": benchlib.paired_ratios(wall, "threads_1")["threads_2"],
            "cpu_ratio_2_vs_1": benchlib.paired_ratios(cpu, "threads_1")["threads_2"],
            "times": times,
        }
    torch.set_num_threads(default_threads)
    fresh = in_fresh_processes(args.processes, args.seed) if args.processes else None
    load.sample("after the fresh processes")

    rows = []
    for name, r in results.items():
        one, two = r["ms_per_step"]["threads_1"], r["ms_per_step"]["threads_2"]
        rows.append(
            [
                name,
                f"{one['median']:.2f} ({one['min']:.2f}-{one['max']:.2f})",
                f"{two['median']:.2f} ({two['min']:.2f}-{two['max']:.2f})",
                benchlib.fmt_ratio(r["wall_ratio_2_vs_1"]),
                benchlib.fmt_ratio(r["cpu_ratio_2_vs_1"]),
            ]
        )
    if fresh:
        one, two = fresh["ms_per_step"]["threads_1"], fresh["ms_per_step"]["threads_2"]
        rows.append(
            [
                "mlp_step, fresh processes",
                f"{one['median']:.2f} ({one['min']:.2f}-{one['max']:.2f})",
                f"{two['median']:.2f} ({two['min']:.2f}-{two['max']:.2f})",
                benchlib.fmt_ratio(fresh["wall_ratio_2_vs_1"]),
                benchlib.fmt_ratio(fresh["cpu_ratio_2_vs_1"]),
            ]
        )
    headers = ["workload", "1 thread ms/step", "2 threads ms/step", "wall 2/1", "cpu 2/1"]
    engine_default = engine_default_threads()
    print(
        f"torch default threads {default_threads} (OMP_NUM_THREADS="
        f"{os.environ.get('OMP_NUM_THREADS')}); the engine's default num_threads:"
        f" {engine_default} (None keeps torch's)"
    )
    print(benchlib.format_table(headers, rows))
    payload = {
        "torch_default_threads": default_threads,
        "engine_default_num_threads": engine_default,  # utils.config.BaseConfig
        "threads_compared": list(THREADS),
        "results": results,
        "fresh_processes_mlp_step": fresh,
    }
    benchlib.finish(SCRIPT, payload, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
