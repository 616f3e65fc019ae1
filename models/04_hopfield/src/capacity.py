"""The Hopfield network's weakness, measured: capacity curves and spurious states.

    python src/capacity.py --data-dir /path/to/datasets

Capacity (outputs/visualizations/capacity.png): N = 784 neurons store P patterns by the Hebbian
rule and each stored pattern is used as its own cue; the curve is the mean final overlap m and
the share of exact recalls against the load P / N. Two kinds of patterns: random +-1 patterns,
for which Amit, Gutfreund and Sompolinsky (1985) predict retrieval up to P / N = 0.138, and
binarised MNIST training digits (any class), which share most of their pixels.

Spurious states (outputs/visualizations/spurious.png): the network of the ``mnist`` experiment
(its first 2 digits of distinct classes, then 3) is started from random states and from test
digits, and the fixed points it ends in are counted: stored digits, their inversions (E(-s) =
E(s), so they are minima too), and mixtures that are none of them. For random patterns the
symmetric 3-mixture sign(xi_1 + xi_2 + xi_3) is checked directly.

Writes outputs/logs/capacity.json and logs every number it reports.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import sys
from typing import Any, Callable

import numpy as np
import plots
from config import HopfieldConfig
from constants import CRITICAL_LOAD, EXPERIMENTS_FILE, LOGS_DIR, VISUALIZATIONS_DIR
from model import binarize, create_model, energy, hebbian_weights, overlaps, recall

from data_utils import DatasetSplits, create_data_loaders
from engine.workflow import load_data, script_main, write_result
from utils.config import apply_overrides, load_config

logger = logging.getLogger(__name__)

NUM_NEURONS = 784  # 28 x 28: random patterns get the same network size as the digits
RANDOM_LOADS = np.round(np.arange(0.01, 0.305, 0.01), 2)  # P / N for random patterns
DIGIT_COUNTS = np.arange(1, 21)  # P for digits: 1 to 20 patterns
STARTS = 200  # random starting states (and test digits) in the search for attractors


def images(x, splits: DatasetSplits, threshold: float) -> np.ndarray:
    """Binarised images (N_images, 784) as the network sees them."""
    if splits.transform is not None:
        x = splits.transform(x)
    return binarize(x.numpy(), threshold)


def capacity_curve(
    draw: Callable[[int, np.random.Generator], np.ndarray],
    counts: np.ndarray,
    trials: int,
    rng: np.random.Generator,
) -> dict[str, np.ndarray]:
    """Store P patterns, start from each, measure: mean overlap and share exact, per P.

    Args:
        draw: ``draw(P, rng) -> (P, N)`` patterns of +-1.
        counts: The values of P.
        trials: Independent draws per P, averaged.
        rng: Source of the draws and of the update orders.
    """
    overlap, exact = [], []
    for count in counts:
        m = []
        for _ in range(trials):
            patterns = draw(int(count), rng)  # (P, N)
            final, _ = recall(hebbian_weights(patterns), patterns, rng)
            m.append(np.sum(final * patterns, axis=1) / patterns.shape[1])  # (P,)
        m = np.concatenate(m)
        overlap.append(m.mean())
        exact.append(np.mean(m == 1.0))
    return {
        "load": np.asarray(counts) / NUM_NEURONS,
        "overlap": np.array(overlap),
        "exact": np.array(exact),
    }


def attractors(
    weight: np.ndarray, memories: np.ndarray, starts: np.ndarray, rng: np.random.Generator
) -> list[dict[str, Any]]:
    """The fixed points reached from each start, most frequent first, each named.

    A state with overlap +1 (-1) with memory k is "memory" ("inverted") k. For an odd number
    of memories, a "mixture" is a majority vote sign(+-xi_1 +- ... +- xi_P) of all of them with
    any signs (Amit, Gutfreund and Sompolinsky's symmetric mixture states; the sign pattern is
    stored). Any other fixed point is "other spurious".
    """
    final, _ = recall(weight, starts, rng)
    unique, counts = np.unique(final, axis=0, return_counts=True)
    signs = np.array(list(itertools.product([1.0, -1.0], repeat=len(memories))))  # (2^P, P)
    # (2^P, P) @ (P, N) -> (2^P, N); for an even P the ties are 0 and never match a state
    mixtures = np.sign(signs @ memories) if len(memories) % 2 else np.zeros((0, 0))
    found = []
    for state, count in sorted(zip(unique, counts), key=lambda pair: -pair[1]):
        m = overlaps(state[None, :], memories)[0]  # (P,)
        k = int(np.argmax(np.abs(m)))
        match = np.flatnonzero((mixtures == state).all(axis=1)) if mixtures.size else []
        if abs(m[k]) == 1.0:
            kind = "memory" if m[k] > 0 else "inverted"
        elif len(match):
            kind = "mixture " + "".join("+" if e > 0 else "-" for e in signs[match[0]])
        else:
            kind = "other spurious"
        found.append(
            {
                "state": state,
                "share": float(count / len(starts)),
                "kind": kind,
                "memory": k,
                "overlaps": np.round(m, 3).tolist(),
                "energy": float(energy(weight, state[None, :])[0]),
            }
        )
    return found


def name_of(found: dict[str, Any], labels: np.ndarray, splits: DatasetSplits) -> str:
    """'memory 6', 'inverted 0', 'mixture', ...: a fixed point as the figure captions it."""
    if found["kind"] in ("memory", "inverted"):
        return f"{found['kind']} {splits.class_names[labels[found['memory']]]}"
    return found["kind"]


def random_mixture(rng: np.random.Generator) -> dict[str, Any]:
    """Three random patterns: is the symmetric mixture sign(xi_1 + xi_2 + xi_3) a fixed point?"""
    patterns = rng.choice([-1.0, 1.0], size=(3, NUM_NEURONS))
    weight = hebbian_weights(patterns)
    mixture = np.sign(patterns.sum(axis=0))[None, :]  # (1, N); a sum of 3 odd numbers is not 0
    final, _ = recall(weight, mixture, rng)
    starts = rng.choice([-1.0, 1.0], size=(STARTS, NUM_NEURONS))
    kinds: dict[str, float] = {}
    for found in attractors(weight, patterns, starts, rng):
        kind = found["kind"].split()[0]  # "mixture +-+" -> "mixture"
        kinds[kind] = round(kinds.get(kind, 0.0) + found["share"], 4)
    return {
        "mixture_bits_changed_by_recall": int(np.sum(final != mixture)),
        "mixture_overlaps": np.round(overlaps(mixture, patterns)[0], 3).tolist(),
        "mixture_energy": float(energy(weight, mixture)[0]),
        "memory_energy": np.round(energy(weight, patterns), 1).tolist(),
        "random_starts_end_in": kinds,
    }


def stream_memories(config: HopfieldConfig, splits: DatasetSplits, num_patterns: int):
    """The memories the ``mnist`` experiment stores: the Trainer's first epoch order."""
    config = apply_overrides(config, {"num_patterns": num_patterns})
    network = create_model(config, splits)
    loader, _, _ = create_data_loaders(splits, config.batch_size, seed=config.seed)
    loader.set_epoch(0)
    for x, y in loader:
        network.train_step(x.numpy(), y.numpy())
        if network.num_stored == num_patterns:
            break
    return network


def run(data_dir: str | None = None) -> dict[str, Any]:
    config = load_config(HopfieldConfig, EXPERIMENTS_FILE, "mnist")
    rng = np.random.default_rng(config.seed)
    splits = load_data(config, data_dir)
    digits = images(splits.x_train, splits, config.threshold)  # (57000, 784)
    assert digits.shape[1] == NUM_NEURONS, "the capacity study is sized for 28 x 28 images"

    curves = {
        "random patterns": capacity_curve(
            lambda p, g: g.choice([-1.0, 1.0], size=(p, NUM_NEURONS)),
            np.unique(np.round(RANDOM_LOADS * NUM_NEURONS).astype(int)),
            trials=2,
            rng=rng,
        ),
        "MNIST digits": capacity_curve(
            lambda p, g: digits[g.choice(len(digits), size=p, replace=False)],
            DIGIT_COUNTS,
            trials=5,
            rng=rng,
        ),
    }
    summary: dict[str, Any] = {"num_neurons": NUM_NEURONS, "curves": {}}
    for name, curve in curves.items():
        summary["curves"][name] = {k: np.round(v, 4).tolist() for k, v in curve.items()}
        for load, m, exact in zip(curve["load"], curve["overlap"], curve["exact"]):
            logger.info("%s | P/N %.4f | mean overlap %.3f | exact %.3f", name, load, m, exact)
    plots.plot_capacity_curves(curves, VISUALIZATIONS_DIR / "capacity.png", CRITICAL_LOAD)

    summary["random_3_mixture"] = random_mixture(rng)
    logger.info("random patterns, P = 3: %s", summary["random_3_mixture"])
    probes = images(splits.x_test[:STARTS], splits, config.threshold)  # (STARTS, 784)
    rows, row_titles, captions = [], [], []
    for num_patterns in (2, 3):
        network = stream_memories(config, splits, num_patterns)
        memories, labels = network.stored()
        settled, _ = recall(network.weight, memories, rng)
        stable = (settled == memories).all(axis=1)  # (P,): is each memory a fixed point?
        summary[f"{num_patterns} digits stored"] = {
            "classes": [splits.class_names[c] for c in labels],
            "memories_that_are_fixed_points": int(stable.sum()),
            "memory_energy": np.round(energy(network.weight, memories), 1).tolist(),
        }
        logger.info("%d digits stored: %s", num_patterns, summary[f"{num_patterns} digits stored"])
        for start_name, starts in (
            ("random states", rng.choice([-1.0, 1.0], size=(STARTS, NUM_NEURONS))),
            ("test digits", probes),
        ):
            found = attractors(network.weight, memories, starts, rng)
            key = f"{num_patterns} digits stored, from {STARTS} {start_name}"
            summary[key] = [{k: v for k, v in f.items() if k != "state"} for f in found]
            names = [name_of(f, labels, splits) for f in found]
            for f, name in list(zip(found, names))[:6]:
                logger.info(
                    "%s | %s | share %.3f | energy %.1f | overlaps %s",
                    key,
                    name,
                    f["share"],
                    f["energy"],
                    f["overlaps"],
                )
            rows.append(list(memories) + [f["state"] for f in found[:5]])
            captions.append(
                [f"stored {splits.class_names[c]}" for c in labels]
                + [f"{name}, {f['share']:.0%}" for f, name in zip(found[:5], names)]
            )
            row_titles.append(f"{num_patterns} stored,\nfrom {start_name}")
    width = max(len(row) for row in rows)
    blank = -np.ones(NUM_NEURONS)
    grid = np.stack([row + [blank] * (width - len(row)) for row in rows])  # (R, C, N)
    plots.plot_pattern_grid(
        grid,
        (28, 28),
        VISUALIZATIONS_DIR / "spurious.png",
        col_titles=[""] * width,
        row_titles=row_titles,
        cell_titles=[c + [""] * (width - len(c)) for c in captions],
        title="Where recall ends: stored digits, inversions and mixtures (share of starts)",
    )
    return write_result(summary, LOGS_DIR / "capacity.json")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR)")
    return p


if __name__ == "__main__":
    sys.exit(script_main(parser(), lambda args: run(args.data_dir)))
