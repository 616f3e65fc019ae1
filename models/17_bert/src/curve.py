"""Does pretraining pay when labels are few? Accuracy on SST-2 against the number of labelled
sentences: BERT fine-tuned from the pretrained weights, the same network from scratch, and a
bag-of-words logistic regression.

    python src/curve.py --pretrained latest                       # 500, 2,000, 6,920 labels
    python src/curve.py --pretrained latest --seeds 0 1 2 --labelled 500 2000
    python src/curve.py --replot outputs/logs/curve.json          # redraw a saved result
    python src/curve.py --merge outputs/logs/a.json outputs/logs/b.json --name curve   # join

For each number of labelled sentences N and each seed, the N sentences are a seeded random draw
from SST-2's 6,920 training sentences (the same draw for the three learners). The ``finetune``
experiment starts from the pretrained checkpoint (``--pretrained``: a path, or latest / best of
the ``pretrain`` experiment), the ``scratch`` experiment from the same seed's random
initialisation; both train through the engine's Trainer in memory for the experiment's epochs
(at least ``--min-steps`` optimizer steps: a few hundred labels are a few batches), with early
stopping on dev accuracy, once for each peak learning rate of ``--lrs``. Dev (872 sentences)
picks the rate and the epoch; the test accuracy reported is the one of that run at that epoch
(1,821 sentences, never used to choose anything). The baseline: binary
word counts (unigrams) into scikit-learn's LogisticRegression, its C chosen on dev.

The result: outputs/logs/<name>.json and outputs/visualizations/<name>.png (mean over seeds,
with the range), and a table on stderr. The machine may be shared: times are wall and CPU.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import logging
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from constants import LOGS_DIR, MODEL_NAME, VISUALIZATIONS_DIR

import plotting
from data_utils import DatasetSplits
from engine.checkpoint import check_compatible, resolve_checkpoint
from engine.modelio import load_model_state, model_state
from engine.study import read_result, replot_study, save_study
from engine.trainer import Trainer
from engine.workflow import build_optimizer, build_scheduler, load_data, script_main
from utils.model_stats import count_parameters
from utils.registry import model_config, model_spec
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)
LEARNERS = {
    "bow": "bag of words, logistic regression",
    "scratch": "BERT network from scratch",
    "pretrained": "BERT pretrained (MLM), fine-tuned",
}
C_GRID = (0.03, 0.1, 0.3, 1.0, 3.0, 10.0)  # inverse regularisation strengths tried on dev


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pretrained", default="latest", help="a path, or latest / best of pretrain")
    p.add_argument("--labelled", type=int, nargs="+", default=[500, 2000, 6920])
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--learners", nargs="+", choices=list(LEARNERS), default=list(LEARNERS))
    p.add_argument("--epochs", type=int, help="override both experiments' epochs")
    p.add_argument("--lrs", type=float, nargs="+", default=[3e-4], help="peak rates; dev picks one")
    p.add_argument(
        "--freezes",
        nargs="+",
        choices=["none", "embeddings", "encoder"],
        default=["none"],
        help="what fine-tuning keeps fixed (config freeze); dev picks, with the rate",
    )
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="config of both networks"
    )
    p.add_argument("--min-steps", type=int, default=400, help="fewest optimizer steps per run")
    p.add_argument("--name", default="curve", help="file name of the JSON and the plot")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR)")
    p.add_argument("--replot", help="redraw a saved result JSON without training")
    p.add_argument(
        "--merge",
        nargs="+",
        metavar="JSON",
        help="join saved results (e.g. scratch and pretrained run apart) into --name, no training",
    )
    p.add_argument("--json", action="store_true", help="print the result as the last line")
    return p


def labelled_subset(splits: DatasetSplits, n: int, seed: int) -> tuple[DatasetSplits, list[int]]:
    """``n`` training sentences drawn at random with ``seed`` (all when n >= 6,920); dev and
    test whole. Returns the subset and the indices of the kept sentences."""
    total = len(splits.y_train)
    keep = torch.randperm(total, generator=torch.Generator().manual_seed(seed))[: min(n, total)]
    subset = dataclasses.replace(splits, x_train=splits.x_train[keep], y_train=splits.y_train[keep])
    return subset, keep.tolist()


def bag_of_words(splits: DatasetSplits, keep: list[int]) -> dict[str, Any]:
    """Binary word counts and a logistic regression; C chosen on dev, then scored on test."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    sentences = splits.metadata["sentences"]
    train = [sentences["train"][i] for i in keep]
    vectorizer = CountVectorizer(binary=True, lowercase=True, token_pattern=r"\S+")
    x_train = vectorizer.fit_transform(train)
    x_val, x_test = (vectorizer.transform(sentences[s]) for s in ("val", "test"))
    y_train = splits.y_train.numpy()
    wall, cpu = time.perf_counter(), time.process_time()
    best = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=2000).fit(x_train, y_train)
        val = float((clf.predict(x_val) == splits.y_val.numpy()).mean())
        if best is None or val > best[0]:
            best = (val, c, clf)
    val, c, clf = best
    return {
        "val_accuracy": val,
        "test_accuracy": float((clf.predict(x_test) == splits.y_test.numpy()).mean()),
        "C": c,
        "train_seconds": time.perf_counter() - wall,
        "train_cpu_seconds": time.process_time() - cpu,
    }


def fine_tune(
    experiment: str,
    seed: int,
    lr: float,
    freeze: str,
    splits: DatasetSplits,
    args: argparse.Namespace,
    weights: Any,
) -> dict[str, Any]:
    """One network trained on the subset (from ``weights`` when given); its dev-chosen test."""
    overrides: dict[str, Any] = {
        **dict(kv.split("=", 1) for kv in args.set),
        "seed": seed,
        "lr": lr,
        "freeze": freeze,
    }
    if args.epochs is not None:
        overrides["epochs"] = args.epochs
    config = model_config(MODEL_NAME, experiment, **overrides)
    steps = math.ceil(len(splits.y_train) / config.batch_size)
    config = dataclasses.replace(config, epochs=max(config.epochs, -(-args.min_steps // steps)))
    set_random_seed(config.seed)  # the same initial draw and batch order for both networks
    model = model_spec(MODEL_NAME).create_model(config, splits)
    if weights is not None:
        check_compatible(weights, MODEL_NAME, model_state(model))
        load_model_state(model, weights["model_state"])
    train, val, test = splits.loaders(config.batch_size, seed=config.seed)
    optimizer = build_optimizer(config, model)
    trainer = Trainer(
        model,
        optimizer,
        None,
        torch.device("cpu"),
        config,
        build_scheduler(config, optimizer, steps),
    )
    wall, cpu, best_state = 0.0, 0.0, None
    for epoch in range(1, config.epochs + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        trainer.train(train, val, epoch)  # on from where the last call stopped
        wall += time.perf_counter() - start
        cpu += time.process_time() - cpu_start
        vals = trainer.history["val_accuracy"]
        if vals[-1] > max(vals[:-1], default=-math.inf):  # the first best dev epoch so far
            best_state = copy.deepcopy(model.state_dict())
        if trainer.bad_epochs >= (config.early_stopping_patience or math.inf):
            break
    best = max(range(len(vals)), key=lambda i: (vals[i], -i))
    model.load_state_dict(best_state)  # test is scored once, at the epoch dev chose
    return {
        "val_accuracy": vals[best],
        "test_accuracy": trainer.evaluator.evaluate(test)["accuracy"],
        "lr": lr,
        "freeze": freeze,
        "epoch": best + 1,
        "epochs_run": len(vals),
        "steps": trainer.global_step,
        "val_curve": vals,
        "parameters": count_parameters(model),
        "train_seconds": wall,
        "train_cpu_seconds": cpu,
    }


def summary(runs: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Test accuracy by learner and label count (the rate dev chose): mean, min and max over
    seeds."""
    table: dict[str, dict[str, dict[str, float]]] = {}
    for learner in LEARNERS:
        for n in sorted({r["labelled"] for r in runs}):
            accs = [
                r["test_accuracy"]
                for r in runs
                if r["learner"] == learner and r["labelled"] == n and r["chosen"]
            ]
            if accs:
                table.setdefault(learner, {})[str(n)] = {
                    "mean": statistics.mean(accs),
                    "min": min(accs),
                    "max": max(accs),
                    "seeds": len(accs),
                }
    return table


def report(table: dict[str, dict[str, dict[str, float]]]) -> str:
    """labelled | each learner's mean test accuracy | pretrained minus scratch, in points."""
    counts = sorted({int(n) for rows in table.values() for n in rows})
    lines = [f"{'labelled':>8} " + " ".join(f"{name:>11}" for name in table) + "  pre-scratch"]
    for n in counts:
        means = {name: rows.get(str(n), {}).get("mean", math.nan) for name, rows in table.items()}
        gap = 100 * (means.get("pretrained", math.nan) - means.get("scratch", math.nan))
        lines.append(
            f"{n:>8} " + " ".join(f"{means[name]:>11.4f}" for name in table) + f"  {gap:+10.1f}"
        )
    return "\n".join(lines) + "\n"


def plot_curve(result: dict[str, Any], path: Any) -> Any:
    """Test accuracy against labelled sentences (log scale): mean over seeds, range as bars."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2), layout="constrained")
    for learner, rows in result["summary"].items():
        counts = sorted(int(n) for n in rows)
        mean = np.array([rows[str(n)]["mean"] for n in counts])
        low = mean - np.array([rows[str(n)]["min"] for n in counts])
        high = np.array([rows[str(n)]["max"] for n in counts]) - mean
        ax.errorbar(counts, mean, yerr=[low, high], marker="o", capsize=3, label=LEARNERS[learner])
    ax.set_xscale("log")
    ax.set_xlabel("labelled training sentences (SST-2)")
    ax.set_ylabel("test accuracy (epoch chosen on dev)")
    seeds = max(r["seeds"] for rows in result["summary"].values() for r in rows.values())
    ax.set_title(f"Pretraining against labels: mean of {seeds} seed(s), range as bars")
    ax.grid(alpha=0.3)
    ax.legend()
    return plotting.save_figure(fig, path)


def merge(args: argparse.Namespace) -> dict[str, Any]:
    """The runs of several saved results as one (the learners may run in separate processes).

    Only the networks' runs whose rate is in ``--lrs`` and whose freeze is in ``--freezes`` are
    kept, and dev picks again among them for each learner, label count and seed."""
    parts = [read_result(Path(path)) for path in args.merge]
    runs = [
        record
        for part in parts
        for record in part["runs"]
        if record["learner"] == "bow"
        or (record["lr"] in args.lrs and record["freeze"] in args.freezes)
    ]
    for record in runs:
        rivals = [
            r
            for r in runs
            if (r["learner"], r["labelled"], r["seed"])
            == (record["learner"], record["labelled"], record["seed"])
        ]
        record["chosen"] = record is max(rivals, key=lambda r: r["val_accuracy"])
    pretraining = next((p["pretraining"] for p in parts if p["pretraining"]), None)
    result = {"pretraining": pretraining, "summary": summary(runs), "runs": runs}
    sys.stderr.write(report(result["summary"]))
    save_study(result, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_curve)
    return result


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    if replot_study(args, VISUALIZATIONS_DIR, plot_curve):
        return None
    if args.merge:
        return merge(args)
    spec = model_spec(MODEL_NAME)
    weights = None
    if "pretrained" in args.learners:
        weights = resolve_checkpoint(args.pretrained, spec.model_dir / "outputs/models/pretrain")
        logger.info("pretrained weights: %s", weights["path"])
    splits = load_data(model_config(MODEL_NAME, "finetune"), args.data_dir)
    runs = []
    for seed in args.seeds:
        for n in args.labelled:
            subset, keep = labelled_subset(splits, n, seed)
            for learner in args.learners:
                if learner == "bow":
                    tried = [bag_of_words(subset, keep)]
                else:
                    experiment = "finetune" if learner == "pretrained" else "scratch"
                    start = weights if learner == "pretrained" else None
                    tried = [
                        fine_tune(experiment, seed, lr, freeze, subset, args, start)
                        for freeze in args.freezes
                        for lr in args.lrs
                    ]
                best = max(tried, key=lambda r: r["val_accuracy"])  # dev picks the recipe
                for record in tried:
                    runs.append(
                        {
                            "learner": learner,
                            "labelled": len(keep),
                            "seed": seed,
                            "chosen": record is best,
                            **record,
                        }
                    )
                    logger.info(
                        "%s | labelled %d | seed %d | lr %s | freeze %s | test %.4f (dev %.4f) | "
                        "epoch %s | %.0f s",
                        learner,
                        len(keep),
                        seed,
                        record.get("lr", "-"),
                        record.get("freeze", "-"),
                        record["test_accuracy"],
                        record["val_accuracy"],
                        record.get("epoch", "-"),
                        record["train_seconds"],
                    )
    pretraining = None
    if weights is not None:
        history = weights.get("history", {})
        pretraining = {
            "checkpoint": str(weights["path"]),
            "steps": weights.get("global_step"),
            "val_loss": history.get("val_loss", [None])[-1],
            "val_mlm_accuracy": history.get("val_mlm_accuracy", [None])[-1],
        }
    table = summary(runs)
    result = {"pretraining": pretraining, "summary": table, "runs": runs}
    sys.stderr.write(report(table))
    save_study(result, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_curve)
    return result


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
