"""The weakness, measured: accuracy as layers are added (over-smoothing).

    python src/depth_study.py --dataset cora --depths 1 2 4 8 16 --seeds 3

Every layer averages each node with its neighbours (A_hat is a smoothing operator: its largest
eigenvalue is 1, with eigenvector D~^1/2 1), so k layers mix k-hop neighbourhoods and, as k
grows, pull all nodes of a connected component towards the same representation (Li, Han and Wu
2018). Two numbers per depth: the test (and training) accuracy of GCNs of that many layers, 16
hidden units each, trained with the paper's recipe for a fixed 200 epochs without early stopping
(as Kipf and Welling's Appendix B does, there for 400 epochs); and, with no training at all, the
mean cosine similarity between the rows of A_hat^k X, the features after k propagations, which
tends to 1 as the rows become indistinguishable. Result: outputs/logs/<name>.json and
outputs/visualizations/<name>.png (``--name``, default depth_<dataset>).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from typing import Any

import matplotlib.pyplot as plt
import torch
from compare import fit
from constants import DEPTHS, LOGS_DIR, VISUALIZATIONS_DIR
from train import SPEC

import plotting
from engine.evaluator import Evaluator
from engine.workflow import cli_overrides, load_data, script_main, write_result
from utils.config import apply_overrides, load_config
from utils.device import select_device

logger = logging.getLogger(__name__)


@torch.no_grad()
def mean_cosine_similarity(h: torch.Tensor) -> float:
    """Mean cosine similarity over all pairs of distinct rows of h (N, D), zero rows left out.

    With unit rows u_i, sum_{i != j} u_i . u_j = ||sum_i u_i||^2 - N: no N x N matrix is formed.
    """
    norms = h.norm(dim=1)
    u = h[norms > 0] / norms[norms > 0, None]  # (N', D) unit rows
    n = len(u)
    return float((u.sum(0).pow(2).sum() - n) / (n * (n - 1)))


@torch.no_grad()
def smoothing_curve(adj: torch.Tensor, x: torch.Tensor, depths: list[int]) -> dict[int, float]:
    """Mean cosine similarity of the rows of A_hat^k X for every k in depths (and k = 0)."""
    curve, h, k = {0: mean_cosine_similarity(x)}, x, 0
    for depth in sorted(depths):
        while k < depth:
            h, k = torch.sparse.mm(adj, h), k + 1  # (N, N) @ (N, F) -> (N, F)
        curve[depth] = mean_cosine_similarity(h)
    return curve


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="GCN accuracy against the number of layers.")
    p.add_argument("--dataset", default="cora", choices=["cora", "citeseer"])
    p.add_argument("--depths", type=int, nargs="+", default=list(DEPTHS), help="layers")
    p.add_argument("--seeds", type=int, default=3, help="seeds per depth: 0, 1, ...")
    p.add_argument("--epochs", default="200", help="epochs of every network (no early stopping)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--name", help="file name of the JSON and the plot (default: depth_DATASET)")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    # the train.py overrides this script does not offer, so that cli_overrides reads these args
    p.set_defaults(
        batch_size=None,
        learning_rate=None,
        seed=None,
        grad_accum_steps=None,
        precision=None,
        max_steps=None,
    )
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    assert all(d >= 1 for d in args.depths), f"depths must be >= 1 (got {args.depths})"
    base = load_config(SPEC.config_cls, SPEC.experiments_file, args.dataset)
    base = apply_overrides(base, {"early_stopping_patience": None, **cli_overrides(args)})
    device = select_device(base.device)
    graph = load_data(base, args.data_dir)
    train_loader, _, _ = graph.loaders(base.batch_size, seed=base.seed)
    rows = []
    for depth in args.depths:
        runs = []
        for seed in range(args.seeds):
            config = apply_overrides(base, {"hidden_sizes": [16] * (depth - 1), "seed": seed})
            fitted = fit(config, graph, device)
            train_acc = Evaluator(fitted["model"], None, device).evaluate(train_loader)
            runs.append(
                {
                    "seed": seed,
                    "test": fitted["last_test"],
                    "train": train_acc["accuracy"],  # in eval mode: no dropout
                    "train_seconds": fitted["train_seconds"],
                    "train_cpu_seconds": fitted["train_cpu_seconds"],
                }
            )
        tests, trains = [r["test"] for r in runs], [r["train"] for r in runs]
        row = {
            "layers": depth,
            "test_mean": round(100 * statistics.mean(tests), 2),
            "test_std": round(100 * statistics.stdev(tests), 2) if len(tests) > 1 else 0.0,
            "train_mean": round(100 * statistics.mean(trains), 2),
            "runs": runs,
        }
        logger.info(
            "%s | %2d layers | test %.1f +- %.1f | train %.1f | %.1f s (%.1f s CPU) a run",
            args.dataset,
            depth,
            row["test_mean"],
            row["test_std"],
            row["train_mean"],
            statistics.mean(r["train_seconds"] for r in runs),
            statistics.mean(r["train_cpu_seconds"] for r in runs),
        )
        rows.append(row)
    curve = smoothing_curve(graph.adj, graph.x, args.depths)
    for k, value in curve.items():
        logger.info("%s | A_hat^%d X | mean cosine similarity of rows %.3f", args.dataset, k, value)
    result = {
        "dataset": args.dataset,
        "epochs": base.epochs,
        "seeds": args.seeds,
        "dropout": base.dropout,
        "depths": rows,
        "cosine_similarity": {str(k): round(v, 4) for k, v in curve.items()},
    }
    name = args.name or f"depth_{args.dataset}"
    write_result(result, LOGS_DIR / f"{name}.json", args.json)
    plot_depth(result, VISUALIZATIONS_DIR / f"{name}.png")
    return result


def plot_depth(result: dict[str, Any], path: Any) -> Any:
    """Left: test and training accuracy against layers; right: cosine similarity of A_hat^k X."""
    rows = result["depths"]
    layers = [r["layers"] for r in rows]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    left.errorbar(
        layers,
        [r["test_mean"] for r in rows],
        [r["test_std"] for r in rows],
        marker="o",
        capsize=4,
        label="test",
    )
    left.plot(layers, [r["train_mean"] for r in rows], marker="s", ls="--", label="train")
    left.set_xscale("log", base=2)
    left.set_xticks(layers, [str(k) for k in layers])
    left.set_xlabel("layers")
    left.set_ylabel("accuracy (%)")
    left.set_title(
        f"{result['dataset']}: GCN, 16 hidden units, dropout {result.get('dropout', 0.5)}, "
        f"{result['epochs']} epochs, {result['seeds']} seeds",
        fontsize=9,
    )
    left.legend()
    ks = sorted(int(k) for k in result["cosine_similarity"])
    right.plot(ks, [result["cosine_similarity"][str(k)] for k in ks], marker="o", color="C3")
    right.set_xlabel("propagations k")
    right.set_ylabel("mean cosine similarity of node rows")
    right.set_title("rows of A_hat^k X become alike (no training)", fontsize=9)
    right.set_ylim(0, 1)
    return plotting.save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
