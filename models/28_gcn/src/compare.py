"""The paper's table, measured: GCN against an MLP on the node features alone and label
propagation, over several seeds, on the fixed Planetoid split, in one run.

    python src/compare.py --dataset cora --seeds 10
    python src/compare.py --dataset citeseer --seeds 10

Each seed trains the GCN and the MLP (the same two layers with the identity in place of A_hat)
through the engine's Trainer in memory, one full-graph batch per epoch, with the experiment's
recipe (early stopping included); the test nodes are scored after every epoch (outside the
timing), so that two readings come from one run: test accuracy at the last epoch trained, and at
the epoch of the highest validation accuracy (the earliest, on ties). Label propagation has no
parameters and no randomness: it runs once. The mean and standard deviation over seeds go to
outputs/logs/compare_<dataset>.json and a figure to outputs/visualizations/compare_<dataset>.png.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from typing import Any

import matplotlib.pyplot as plt
import torch
from constants import LOGS_DIR, PAPER_GCN, PAPER_LABEL_PROPAGATION, VISUALIZATIONS_DIR
from model import label_propagation
from train import SPEC

import plotting
from data_utils import GraphData
from engine.trainer import Trainer
from engine.workflow import build_optimizer, cli_overrides, load_data, script_main, write_result
from utils.config import apply_overrides, load_config
from utils.device import select_device
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


def fit(config: Any, graph: GraphData, device: torch.device) -> dict[str, Any]:
    """Seed, build and train one network on the graph through the Trainer, in memory.

    Returns:
        {"epochs": trained, "last_test": test accuracy after the last epoch, "best_val_epoch",
         "best_val_test": test accuracy at the epoch of highest validation accuracy,
         "test_per_epoch", "train_accuracy", "val_accuracy" (lists, one per epoch),
         "train_seconds", "train_cpu_seconds"}.
    """
    set_random_seed(config.seed)
    model = SPEC.create_model(config, graph).to(device)
    trainer = Trainer(model, build_optimizer(config, model), None, device, config)
    train_loader, val_loader, test_loader = graph.loaders(config.batch_size, seed=config.seed)
    seconds, cpu_seconds, test = 0.0, 0.0, []
    for epoch in range(1, config.epochs + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        trainer.train(train_loader, val_loader, epoch)  # one more epoch, from where it stopped
        seconds += time.perf_counter() - start
        cpu_seconds += time.process_time() - cpu_start
        test.append(trainer.evaluator.evaluate(test_loader)["accuracy"])
        patience = config.early_stopping_patience
        if patience is not None and trainer.bad_epochs >= patience:
            break
    val = trainer.history["val_accuracy"]
    best = max(range(len(val)), key=lambda i: (val[i], -i))  # highest, earliest on ties
    return {
        "epochs": len(test),
        "last_test": test[-1],
        "best_val_epoch": best + 1,
        "best_val_test": test[best],
        "test_per_epoch": test,
        "train_accuracy": trainer.history["train_accuracy"],
        "val_accuracy": val,
        "train_seconds": round(seconds, 2),
        "train_cpu_seconds": round(cpu_seconds, 2),
        "model": model,
    }


def summary(values: list[float]) -> dict[str, float]:
    """Mean and sample standard deviation, in percent."""
    pct = [100 * v for v in values]
    return {
        "mean": round(statistics.mean(pct), 2),
        "std": round(statistics.stdev(pct), 2) if len(pct) > 1 else 0.0,
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="GCN vs MLP vs label propagation over seeds.")
    p.add_argument("--dataset", default="cora", choices=["cora", "citeseer"])
    p.add_argument("--seeds", type=int, default=10, help="number of seeds")
    p.add_argument("--first-seed", type=int, default=0, help="seeds first-seed, first-seed+1...")
    p.add_argument("--epochs", help="override the number of epochs")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
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
    base = load_config(SPEC.config_cls, SPEC.experiments_file, args.dataset)
    base = apply_overrides(base, cli_overrides(args))
    device = select_device(base.device)
    graph = load_data(base, args.data_dir)
    logger.info("%s | %s", args.dataset, graph.summary())
    result: dict[str, Any] = {"dataset": args.dataset, "config": {}, "models": {}}
    for kind in ("gcn", "mlp"):
        runs = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            config = apply_overrides(base, {"kind": kind, "seed": seed})
            fitted = fit(config, graph, device)
            fitted.pop("model")
            logger.info(
                "%s seed %d | %d epochs | test %.3f at the last epoch, %.3f at the best "
                "validation epoch (%d) | %.1f s, %.1f s CPU",
                kind,
                seed,
                fitted["epochs"],
                fitted["last_test"],
                fitted["best_val_test"],
                fitted["best_val_epoch"],
                fitted["train_seconds"],
                fitted["train_cpu_seconds"],
            )
            runs.append({"seed": seed, **fitted})
        result["models"][kind] = {
            "last_test": summary([r["last_test"] for r in runs]),
            "best_val_test": summary([r["best_val_test"] for r in runs]),
            "mean_epochs": statistics.mean(r["epochs"] for r in runs),
            "mean_seconds": round(statistics.mean(r["train_seconds"] for r in runs), 2),
            "mean_cpu_seconds": round(statistics.mean(r["train_cpu_seconds"] for r in runs), 2),
            "runs": runs,
        }
    start = time.perf_counter()
    predicted = label_propagation(graph.edge_index, graph.y, graph.train_mask, graph.num_classes)
    lp = (predicted[graph.test_mask] == graph.y[graph.test_mask]).float().mean().item()
    result["models"]["label_propagation"] = {
        "test": round(100 * lp, 2),
        "seconds": round(time.perf_counter() - start, 2),
    }
    result["paper"] = {"gcn": PAPER_GCN[args.dataset], "label_propagation": None}
    result["paper"]["label_propagation"] = PAPER_LABEL_PROPAGATION[args.dataset]
    result["config"] = {k: v for k, v in vars(base).items() if k not in ("kind", "seed")}
    for kind in ("gcn", "mlp"):
        m = result["models"][kind]
        logger.info(
            "%s | %s | test accuracy over %d seeds: last epoch %.1f +- %.1f, best validation "
            "epoch %.1f +- %.1f | %.1f epochs, %.1f s (%.1f s CPU) a run",
            args.dataset,
            kind,
            args.seeds,
            m["last_test"]["mean"],
            m["last_test"]["std"],
            m["best_val_test"]["mean"],
            m["best_val_test"]["std"],
            m["mean_epochs"],
            m["mean_seconds"],
            m["mean_cpu_seconds"],
        )
    logger.info("%s | label propagation | test accuracy %.1f", args.dataset, 100 * lp)
    write_result(result, LOGS_DIR / f"compare_{args.dataset}.json", args.json)
    plot_compare(result, VISUALIZATIONS_DIR / f"compare_{args.dataset}.png")
    return result


def plot_compare(result: dict[str, Any], path: Any) -> Any:
    """Test accuracy of every seed (dots) and the mean (bar) for GCN and MLP, label propagation
    as a bar, the paper's GCN number as a dashed line."""
    models = result["models"]
    fig, ax = plt.subplots(figsize=(6, 4))
    names = ["GCN", "MLP (features only)", "label propagation"]
    for i, kind in enumerate(("gcn", "mlp")):
        tests = [100 * r["last_test"] for r in models[kind]["runs"]]
        ax.bar(i, models[kind]["last_test"]["mean"], color="C0" if i == 0 else "C1", alpha=0.5)
        ax.scatter([i] * len(tests), tests, color="k", s=8, zorder=3)
        ax.errorbar(
            i,
            models[kind]["last_test"]["mean"],
            models[kind]["last_test"]["std"],
            color="k",
            capsize=6,
        )
    ax.bar(2, models["label_propagation"]["test"], color="C2", alpha=0.5)
    ax.axhline(result["paper"]["gcn"], ls="--", color="grey", label="paper's GCN")
    ax.set_xticks(range(3), names)
    ax.set_ylabel("test accuracy (%), last epoch")
    low = min(models["label_propagation"]["test"], models["mlp"]["last_test"]["mean"])
    ax.set_ylim(max(0, low - 15), 100)
    seeds = len(models["gcn"]["runs"])
    ax.set_title(
        f"{result['dataset']}: Planetoid split, {seeds} seeds (dots), mean +- std", fontsize=9
    )
    ax.legend(loc="upper right", fontsize=8)
    return plotting.save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
