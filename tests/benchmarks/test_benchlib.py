"""The benchmarks' measuring helpers: orders, per-step clock and the position-median estimate.

The benchmark scripts are not tests (they time things), but what they compute from the timings
is: a wrong order or a wrong estimate would print a wrong ratio.
"""

import collections
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from data_utils import ArrayLoader

BENCHLIB = Path(__file__).resolve().parents[2] / "benchmarks" / "benchlib.py"


@pytest.fixture(scope="module")
def benchlib():
    spec = importlib.util.spec_from_file_location("benchlib", BENCHLIB)
    module = importlib.util.module_from_spec(spec)
    sys.modules["benchlib"] = module
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("benchlib", None)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5, 6, 7])
def test_balanced_orders_are_a_balanced_latin_square(benchlib, n):
    rows = benchlib.balanced_orders(n)
    assert len(rows) == (n if n % 2 == 0 else 2 * n)
    assert all(sorted(row) == list(range(n)) for row in rows)  # each row runs every candidate
    for place in zip(*rows):  # every candidate takes every place equally often
        assert collections.Counter(place) == {i: len(rows) // n for i in range(n)}
    follows = collections.Counter((row[i], row[i + 1]) for row in rows for i in range(n - 1))
    assert len(follows) == n * (n - 1)  # every ordered pair of neighbours occurs ...
    assert len(set(follows.values())) <= 1  # ... equally often (rotation would fail this)


def test_balanced_orders_rejects_zero(benchlib):
    with pytest.raises(AssertionError, match="n must be >= 1"):
        benchlib.balanced_orders(0)


def test_interleaved_runs_each_candidate_after_every_other(benchlib):
    log = []
    candidates = {name: (lambda name=name: log.append(name)) for name in "abcd"}
    times = benchlib.interleaved(candidates, repeats=4, warmup=1)
    assert {name: len(v) for name, v in times["wall"].items()} == dict.fromkeys("abcd", 4)
    timed = log[4:]  # after the warm-up round
    pairs = collections.Counter(zip(timed, timed[1:]))
    assert all(pairs[(x, y)] >= 1 for x in "abcd" for y in "abcd" if x != y)


def test_interleaved_continues_a_design_from_first_order(benchlib):
    whole, parts = [], []
    names = "abc"
    benchlib.interleaved({n: (lambda n=n: whole.append(n)) for n in names}, repeats=6, warmup=0)
    for first in (0, 2, 4):  # three calls of two rounds each
        candidates = {n: (lambda n=n: parts.append(n)) for n in names}
        benchlib.interleaved(candidates, repeats=2, warmup=0, first_order=first)
    assert parts == whole


def test_step_clock_splits_an_epoch_into_head_steps_and_tail(benchlib):
    x, y = torch.zeros(10, 3, dtype=torch.uint8), torch.arange(10)
    loader = ArrayLoader(x, y, batch_size=3, shuffle=True, seed=0)
    clock = benchlib.StepClock(loader)
    assert len(clock) == 4 and clock.num_samples == 10  # delegated to the loader

    def epoch():
        clock.set_epoch(1)  # delegated: the same permutation as the bare loader's
        return [b[1].tolist() for b in clock]

    batches = clock.timed(epoch)()
    loader.set_epoch(1)
    assert batches == [b[1].tolist() for b in loader]
    assert len(clock.epochs) == 1 and len(clock.epochs[0]) == len(loader) + 1
    assert all(seconds >= 0 for seconds in clock.epochs[0])


def test_position_median_ignores_a_burst_that_an_epoch_total_feels(benchlib):
    quiet = [[1.0, 2.0, 3.0]] * 5
    burst = [row[:] for row in quiet]
    burst[2][1] = 50.0  # one slow step in one epoch
    assert benchlib.position_median_seconds(quiet) == pytest.approx(6.0)
    assert benchlib.position_median_seconds(burst) == pytest.approx(6.0)
    assert np.mean([sum(r) for r in burst]) > 15  # the mean epoch time moves by 2.6x


def test_position_median_rejects_ragged_or_empty_epochs(benchlib):
    with pytest.raises((AssertionError, ValueError)):
        benchlib.position_median_seconds([[1.0, 2.0], [1.0]])
    with pytest.raises(AssertionError, match="same segments"):
        benchlib.position_median_seconds([])


@pytest.mark.parametrize("text", ["0", "-3", "two", "1.5"])
def test_model_parser_rejects_counts_below_one(benchlib, text, capsys):
    parser = benchlib.model_parser("test", {"mlp": (128, 2)})
    with pytest.raises(SystemExit) as error:
        parser.parse_args(["--rounds", text])
    assert error.value.code == 2  # argparse's usage error, not a traceback mid-run
    assert "expected an integer >= 1" in capsys.readouterr().err


def test_model_parser_accepts_valid_counts(benchlib):
    args = benchlib.model_parser("test", {"mlp": (128, 2)}).parse_args(["--rounds", "3"])
    assert args.rounds == 3 and args.threads == 1 and args.models == ["mlp"]
    assert benchlib.int_at_least(0)("0") == 0
    assert benchlib.positive_float("0.5") == 0.5
    with pytest.raises(Exception, match="expected a number > 0"):
        benchlib.positive_float("0")
