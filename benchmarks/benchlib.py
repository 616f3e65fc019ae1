"""What every benchmark script shares: machine facts, interleaved timing, ratios, tables, JSON.

The machine these scripts were written for has 2 CPU cores shared with other jobs, so a single
timing means little. Every script therefore:

- sets torch's thread count explicitly (``set_threads``) and records it;
- runs its candidates side by side in one process, interleaved (``interleaved``, in the orders
  of a balanced Latin square, after one untimed warm-up round), so that a burst of load from
  another process hits every candidate alike, and each runs after every other equally often;
- reports medians with their spread, and ratios paired within a round (``paired_ratios``):
  candidate time / baseline time of the same round, then the median of those;
- records the load average before and after (``LoadMonitor``) and writes everything to
  ``benchmarks/results/<script>.json`` (``write_results``, or ``finish`` which also prints it).

The per-model scripts (bench_engine_overhead.py, bench_lightning.py) share more: their options
(``model_parser``), their run over the models (``bench_models``) and their table
(``epoch_table``).

Run the scripts from the repository root (``python benchmarks/bench_engine_overhead.py``); they
import the shared packages (data_utils, engine, utils) like any model folder does.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from data_utils import ArrayLoader, DatasetSplits, load_dataset
from engine.trainer import Trainer
from engine.workflow import build_optimizer
from utils.config import load_config
from utils.files import plain
from utils.metadata import git_info
from utils.registry import model_spec

REPO_ROOT = Path(__file__).resolve().parent.parent
RESULTS_DIR = Path(__file__).resolve().parent / "results"
# torch's own choice before any script changes it (one thread per core unless OMP_NUM_THREADS).
TORCH_DEFAULT_THREADS = torch.get_num_threads()


# ------------------------------------------------------------------------------- the machine


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo ("unknown" elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def ram_gib() -> float | None:
    """Total memory in GiB from /proc/meminfo (None elsewhere)."""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 2**20, 1)  # kB -> GiB
    except OSError:
        pass
    return None


def machine_info() -> dict[str, Any]:
    """CPU, cores, memory, library versions and thread settings, for the JSON and the README."""
    import sklearn

    return {
        "cpu_model": cpu_model(),
        "logical_cores": os.cpu_count(),
        "cores_available": (
            len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
        ),
        "ram_gib": ram_gib(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": torch.__version__,
        "numpy": np.__version__,
        "sklearn": sklearn.__version__,
        "torch_default_threads": TORCH_DEFAULT_THREADS,
        "torch_threads": torch.get_num_threads(),
        "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS"),
        "git": git_info(),
    }


def set_threads(threads: int) -> int:
    """Set torch's intra-op thread count and return it (every script states what it used)."""
    assert threads >= 1, f"threads must be >= 1, got {threads}"
    torch.set_num_threads(threads)
    return torch.get_num_threads()


class LoadMonitor:
    """Samples ``os.getloadavg()`` (1, 5 and 15-minute averages) at the points a script chooses."""

    def __init__(self) -> None:
        self.samples: list[dict[str, Any]] = []
        self.sample("start")

    def sample(self, label: str) -> tuple[float, float, float]:
        load = os.getloadavg()
        self.samples.append({"at": label, "loadavg_1_5_15": [round(v, 2) for v in load]})
        return load

    def summary(self) -> dict[str, Any]:
        self.sample("end")
        return {
            "before": self.samples[0]["loadavg_1_5_15"],
            "after": self.samples[-1]["loadavg_1_5_15"],
            "samples": self.samples,
        }


# ------------------------------------------------------------------------------------- timing


def balanced_orders(n: int) -> list[list[int]]:
    """A balanced Latin square (Williams, 1949): rows of ``range(n)`` in which every item takes
    every place once and runs right after every other item equally often (n rows for even n,
    2n for odd).

    Plain rotation (A B C, B C A, C A B) keeps the cyclic order, so B would always follow A: a
    candidate that leaves the caches or the allocator in a state that helps or hurts the next
    one would then always help or hurt the same one.
    """
    assert n >= 1, f"n must be >= 1, got {n}"
    first, low, high = [0], 1, n - 1
    while low <= high:
        first.append(low)
        low += 1
        if low <= high:
            first.append(high)
            high -= 1
    rows = [[(item + shift) % n for item in first] for shift in range(n)]
    return rows if n % 2 == 0 else rows + [row[::-1] for row in rows]


def interleaved(
    candidates: dict[str, Callable[[], Any]],
    repeats: int,
    warmup: int = 1,
    budget_seconds: float | None = None,
    min_repeats: int = 3,
    first_order: int = 0,
) -> dict[str, dict[str, list[float]]]:
    """Time each candidate ``repeats`` times, interleaved, after ``warmup`` untimed rounds.

    Round r runs the candidates in row ``first_order + r`` of ``balanced_orders`` (cycling
    through its rows), so that no candidate always runs first or right after the same
    neighbour; a multiple of its row count balances them fully. Calls that continue one design
    in several parts pass the rounds done so far as ``first_order``.

    With ``budget_seconds``, no new round starts once that much time has been spent (warm-up
    included) and at least ``min_repeats`` rounds are done: a candidate that turns
    pathologically slow under load cannot push the script past its time limit (the number of
    rounds done is the length of the lists).

    Returns:
        ``{"wall": {name: [seconds per round]}, "cpu": {name: [...]}}``: wall-clock time and this
        process's CPU time (all its threads), one entry per round.
    """
    names = list(candidates)
    orders = balanced_orders(len(names))
    start = time.perf_counter()
    for _ in range(warmup):
        for name in names:
            candidates[name]()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(repeats):
        spent = time.perf_counter() - start
        if budget_seconds is not None and r >= min_repeats and spent > budget_seconds:
            break
        for name in (names[i] for i in orders[(first_order + r) % len(orders)]):
            w0, c0 = time.perf_counter(), time.process_time()
            candidates[name]()
            wall[name].append(time.perf_counter() - w0)
            cpu[name].append(time.process_time() - c0)
    return {"wall": wall, "cpu": cpu}


def spread(values: Sequence[float]) -> dict[str, float]:
    """Median, min, max, and the relative spread (max - min) / median of a list of timings."""
    med = statistics.median(values)
    return {
        "median": med,
        "min": min(values),
        "max": max(values),
        "rel_spread": (max(values) - min(values)) / med if med else float("nan"),
        "n": len(values),
    }


def paired_ratios(times: dict[str, list[float]], baseline: str) -> dict[str, dict[str, float]]:
    """Per round, candidate / baseline; then the median and range of those ratios per candidate."""
    base = times[baseline]
    return {
        name: spread([t / b for t, b in zip(values, base)])
        for name, values in times.items()
        if name != baseline
    }


def time_epochs(
    candidates: Mapping[str, Any], rounds: int, load: LoadMonitor, name: str
) -> dict[str, dict[str, list[float]]]:
    """``interleaved`` epochs (one ``run_epoch`` call each) after one warm-up round, then a
    load sample named after the model."""
    times = interleaved({n: c.run_epoch for n, c in candidates.items()}, repeats=rounds, warmup=1)
    load.sample(f"after {name}")
    return times


class StepClock:
    """Times every part of an epoch, by wrapping a candidate's training loader.

    It marks the time when the epoch's call starts, whenever the loader hands out a batch, and
    when the call returns. An epoch of n batches so falls into n + 1 segments at fixed positions:
    the head (call to first batch: the loop's set-up), n - 1 steps (batch i handed out to batch
    i + 1 handed out: step i, then producing the next batch) and the tail (the last step, then
    validation and the epoch's bookkeeping). Periodic work such as an audit every 50 steps lands
    at the same positions in every epoch when the epoch's batch count is a multiple of it.

    ``position_median_seconds`` turns the epochs into one time that a burst of load from another
    process, which hits a few segments of a few epochs, hardly moves.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.epochs: list[list[float]] = []  # per timed call, the seconds of each segment
        self._marks: list[float] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self.__dict__["loader"], name)  # set_epoch, num_samples, batch_size

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator:
        for batch in self.loader:
            self._marks.append(time.perf_counter())
            yield batch

    def timed(self, run_epoch: Callable[[], Any]) -> Callable[[], Any]:
        """``run_epoch`` with its segments recorded in ``epochs``."""

        def run() -> Any:
            self._marks = [time.perf_counter()]
            result = run_epoch()
            self._marks.append(time.perf_counter())
            self.epochs.append(np.diff(self._marks).tolist())
            return result

        return run


def position_median_seconds(epochs: Sequence[Sequence[float]]) -> float:
    """An epoch's time from ``StepClock.epochs``: per segment position the median over the
    epochs, summed over the positions."""
    segments = np.asarray(epochs, dtype=float)  # (epochs, segments)
    assert segments.ndim == 2 and len(segments) > 0, "epochs must all have the same segments"
    return float(np.median(segments, axis=0).sum())


# ------------------------------------------------------------------------------ data, models


def fashion_mnist(seed: int = 42, val_fraction: float = 0.15) -> DatasetSplits:
    """The shared Fashion-MNIST split (51,000 train, 9,000 val, 10,000 test at the defaults).

    Files come from ``$AIFS_DATA_DIR`` (or the cache), as for every model: pass it in the
    environment, e.g. ``AIFS_DATA_DIR=/path/to/datasets python benchmarks/...``.
    """
    return load_dataset(
        "fashion_mnist", seed=seed, val_fraction=val_fraction, test_fraction=0.15, standardize=True
    )


def experiment_config(name: str, experiment: str = "fashion_mnist", **changes: Any) -> Any:
    """A model's config for one of its experiments, with fields replaced (no CLI parsing).

    ``name`` is a registered model name (utils.registry.MODELS), e.g. "mlp" or "lenet5".
    """
    spec = model_spec(name)
    config = load_config(spec.config_cls, spec.experiments_file, experiment)
    return dataclasses.replace(config, **changes)


@dataclass
class Setup:
    """One candidate's own model, optimizer, loss and loaders, built exactly like the others'."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    criterion: Callable
    train_loader: ArrayLoader
    val_loader: ArrayLoader
    config: Any


def user_optimizer(config: Any, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The optimizer a user writes by hand for the config: torch's class with its defaults."""
    params = model.parameters()
    if config.optimizer == "sgd":
        return torch.optim.SGD(
            params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
        )
    if config.optimizer == "adam":
        return torch.optim.Adam(params, lr=config.lr, weight_decay=config.weight_decay)
    assert config.optimizer == "adamw", f"no torch optimizer for {config.optimizer!r}"
    return torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)


def build_setup(
    name: str,
    splits: DatasetSplits,
    n_train: int,
    n_val: int,
    seed: int = 42,
    optimizer: str = "engine",
    **changes: Any,
) -> Setup:
    """Model ``name`` with its fashion_mnist optimizer and batch size, on the first ``n_train``
    training and ``n_val`` validation images. The same seed gives every candidate the same
    initial weights and the same batch order.

    ``optimizer="engine"`` builds it with ``engine.workflow.build_optimizer`` (what train.py
    uses); ``"torch_default"`` as a user would by hand (``user_optimizer``).
    """
    assert optimizer in ("engine", "torch_default"), f"unknown optimizer source {optimizer!r}"
    config = experiment_config(name, early_stopping_patience=None, **changes)
    torch.manual_seed(seed)
    spec = model_spec(name)
    model = spec.create_model(config, splits)
    train = ArrayLoader(
        splits.x_train[:n_train],
        splits.y_train[:n_train],
        config.batch_size,
        shuffle=True,
        seed=seed,
        transform=splits.transform,
    )
    val = ArrayLoader(
        splits.x_val[:n_val], splits.y_val[:n_val], config.batch_size, transform=splits.transform
    )
    built = (
        build_optimizer(config, model) if optimizer == "engine" else user_optimizer(config, model)
    )
    return Setup(model, built, spec.create_criterion(config), train, val, config)


def describe(setup: Setup) -> dict[str, Any]:
    """What a result row was measured on."""
    c = setup.config
    return {
        "model": type(setup.model).__name__,
        "parameters": sum(p.numel() for p in setup.model.parameters()),
        "optimizer": f"{c.optimizer} lr {c.lr} weight_decay {c.weight_decay}",
        "optimizer_defaults": {
            k: v for k, v in setup.optimizer.defaults.items() if k in ("foreach", "fused")
        },
        "batch_size": c.batch_size,
        "train_samples": setup.train_loader.num_samples,
        "batches_per_epoch": len(setup.train_loader),
        "val_samples": setup.val_loader.num_samples,
    }


class RawLoop:
    """A minimal hand-written PyTorch loop: what the Trainer is measured against.

    Per batch: zero-grad, forward, loss, backward, step, and the epoch's loss and accuracy
    (``.item()``); after the epoch the same validation the Trainer runs (inference mode, loss
    and accuracy).
    """

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.model = setup.model
        self.epoch = 0

    def run_epoch(self) -> dict[str, float]:
        s = self.setup
        s.model.train()
        s.train_loader.set_epoch(self.epoch)  # the same permutation as the Trainer's
        loss_sum, correct, count = 0.0, 0, 0
        for x, y in s.train_loader:
            s.optimizer.zero_grad(set_to_none=True)
            scores = s.model(x)
            loss = s.criterion(scores, y)
            loss.backward()
            s.optimizer.step()
            loss_sum += loss.item() * len(y)
            correct += (scores.argmax(dim=1) == y).sum().item()
            count += len(y)
        self.epoch += 1
        s.model.eval()
        val_correct, val_count = 0, 0
        with torch.inference_mode():
            for x, y in s.val_loader:
                scores = s.model(x)
                s.criterion(scores, y).item()
                val_correct += (scores.argmax(dim=1) == y).sum().item()
                val_count += len(y)
        return {"train_loss": loss_sum / count, "val_accuracy": val_correct / val_count}


class EngineLoop:
    """The shared Trainer, one epoch per call (``train`` continues from the epochs done)."""

    def __init__(self, setup: Setup) -> None:
        self.setup = setup
        self.trainer = Trainer(
            setup.model, setup.optimizer, setup.criterion, torch.device("cpu"), setup.config
        )
        self.model = setup.model

    def run_epoch(self) -> dict[str, float]:
        s = self.setup
        history = self.trainer.train(s.train_loader, s.val_loader, self.trainer.epoch + 1)
        return {
            "train_loss": history["train_loss"][-1],
            "val_accuracy": history["val_accuracy"][-1],
        }


def int_at_least(minimum: int) -> Callable[[str], int]:
    """argparse type: an integer >= ``minimum`` (a count of threads, rounds, blocks, epochs)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an integer >= {minimum}, got {text!r}"
            ) from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected an integer >= {minimum}, got {value}")
        return value

    return parse


positive_int = int_at_least(1)


def positive_float(text: str) -> float:
    """argparse type: a number > 0 (a time budget in seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a number > 0, got {value}")
    return value


def model_parser(description: str, plan: Mapping[str, tuple[int, int]]) -> argparse.ArgumentParser:
    """The options of a per-model benchmark; ``plan`` maps each model to (training images per
    epoch, default timed rounds)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--threads", type=positive_int, default=1, help="torch threads (default 1)")
    parser.add_argument("--models", nargs="*", default=list(plan), choices=list(plan))
    parser.add_argument(
        "--rounds", type=positive_int, help="timed rounds per model (default: per model)"
    )
    parser.add_argument("--seed", type=int, default=42)
    return parser


def bench_models(
    args: argparse.Namespace,
    plan: Mapping[str, tuple[int, int]],
    bench_model: Callable[[str, DatasetSplits, int, int, LoadMonitor], dict[str, Any]],
) -> tuple[int, LoadMonitor, dict[str, dict[str, Any]]]:
    """Set the threads, start the load monitor, load the data, then benchmark each model.

    Args:
        args: The options of ``model_parser``.
        plan: As for ``model_parser``.
        bench_model: ``(name, splits, seed, rounds, load) -> the model's result``.

    Returns:
        ``(threads, load, {model: result})``.
    """
    threads = set_threads(args.threads)
    load = LoadMonitor()
    splits = fashion_mnist(seed=args.seed)
    results = {
        name: bench_model(name, splits, args.seed, args.rounds or plan[name][1], load)
        for name in args.models
    }
    return threads, load, results


def same_weights(*models: torch.nn.Module) -> bool:
    """True when every model holds bit-identical parameters and buffers."""
    first = models[0].state_dict()
    return all(all(torch.equal(first[k], v) for k, v in m.state_dict().items()) for m in models[1:])


# ---------------------------------------------------------------------------- tables and JSON


def format_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A plain fixed-width text table (numbers already formatted by the caller)."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(row, widths)).rstrip() for row in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def epoch_table(results: Mapping[str, Any], ratios: Mapping[str, tuple[str, str]]) -> str:
    """The per-model, per-candidate table of seconds per epoch (median, min-max) and ratios.

    Args:
        results: ``{model: result}`` with ``result["epoch_seconds"][candidate]`` a ``spread``.
        ratios: Column header -> (result key of paired ratios, its baseline candidate); the
            baseline's own cell is "1".
    """
    rows = []
    for name, r in results.items():
        for cand, s in r["epoch_seconds"].items():
            row = [name, cand, f"{s['median']:.3f}", f"{s['min']:.3f}-{s['max']:.3f}"]
            row += [
                fmt_ratio(r[key][cand]) if cand != base else "1" for key, base in ratios.values()
            ]
            rows.append(row)
    return format_table(["model", "candidate", "s/epoch", "min-max", *ratios], rows)


def write_results(script: str, payload: dict[str, Any], load: LoadMonitor) -> Path:
    """Write ``benchmarks/results/<script>.json`` with the machine, the load and the payload."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = RESULTS_DIR / f"{script}.json"
    document = {
        "script": script,
        "command": " ".join(["python", *sys.argv]),
        "finished_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine_info(),
        "load": load.summary(),
        **payload,
    }
    path.write_text(json.dumps(plain(document), indent=2) + "\n")
    return path


def fmt_ratio(stats: dict[str, float]) -> str:
    """``1.031 [0.998-1.062]``: the median paired ratio and its range over the rounds."""
    return f"{stats['median']:.3f} [{stats['min']:.3f}-{stats['max']:.3f}]"


def finish(script: str, payload: dict[str, Any], load: LoadMonitor) -> Path:
    """``write_results``, then print the last line: the load average before and after, and
    where the JSON went."""
    path = write_results(script, payload, load)
    print(
        f"load average (1/5/15 min) {load.samples[0]['loadavg_1_5_15']} -> "
        f"{load.samples[-1]['loadavg_1_5_15']}; {path.relative_to(REPO_ROOT)}"
    )
    return path
