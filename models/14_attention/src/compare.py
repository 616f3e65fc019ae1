"""The paper's Fig. 2 in miniature: exact match by source length, with and without attention.

    python src/compare.py                           # reverse, 5 to 30 digits, both models
    python src/compare.py --experiment sort         # another task of the same family
    python src/compare.py --epochs 1 --json         # a quick look
    python src/compare.py --replot outputs/logs/compare_reverse.json     # redraw a saved result

Both models, 13_seq2seq's encoder-decoder (the source read backwards into one fixed-size state)
and this folder's attention model, train from the same seed on the same task, split and budget
(the named experiment of each folder, with the same overrides), through the engine's Trainer
in memory. Each is then decoded greedily on the whole test set, and exact match (the decoded
string equal to the target) is counted per source length. The table also gives each model's
parameters and time per training step, measured in this run. The figure: exact match against
source length for both (the paper's BLEU against sentence length), and the attention weights of
a few test strings, which for reversal should run along the anti-diagonal.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
from constants import LOGS_DIR, VISUALIZATIONS_DIR

import plotting
from data_utils.sequences import PAD, decode
from engine.study import replot_study, save_study
from engine.trainer import Trainer
from engine.workflow import build_optimizer, script_main
from utils.model_stats import count_parameters
from utils.registry import create_model, model_modules
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)
MODELS = {"seq2seq": "encoder-decoder (13)", "attention": "with attention (14)"}
exact_matches = model_modules("seq2seq").model.exact_matches


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="reverse", help="experiment of both folders")
    p.add_argument("--epochs", type=int, help="override both experiments' epochs")
    p.add_argument("--seed", type=int, help="override both experiments' seed")
    p.add_argument("--name", help="file name of the JSON and the plot (default compare_<exp>)")
    p.add_argument("--replot", help="redraw a saved result JSON without training")
    p.add_argument("--json", action="store_true", help="print the result as the last line")
    return p


def exact_by_length(model: Any, loader: Any) -> dict[int, list[int]]:
    """Greedy decoding of every test string: source length -> [exact matches, count]."""
    model.eval()
    counts: dict[int, list[int]] = {}
    with torch.inference_mode():
        for src, tgt in loader:
            exact = exact_matches(model.generate(src), tgt)
            for length, hit in zip((src != PAD).sum(1).tolist(), exact.tolist()):
                pair = counts.setdefault(length, [0, 0])
                pair[0], pair[1] = pair[0] + int(hit), pair[1] + 1
    return counts


def attention_examples(model: Any, loader: Any, lengths: tuple[int, ...]) -> list[dict]:
    """The attention weights (output step x source position) of one test string per length."""
    src, _ = next(iter(loader))
    real = (src != PAD).sum(1)
    examples = []
    model.eval()
    for length in lengths:
        rows = (real == length).nonzero()
        if len(rows) == 0:
            continue
        one = src[rows[0]]  # (1, S)
        model.attention_maps = []
        with torch.inference_mode():
            output = model.generate(one)
        alpha = torch.stack(model.attention_maps)[:, 0, :length]  # (T, L)
        model.attention_maps = None
        examples.append(
            {"source": decode(one[0]), "output": decode(output[0]), "alpha": alpha.tolist()}
        )
    return examples


def train_one(name: str, args: argparse.Namespace) -> tuple[dict[str, Any], Any, Any]:
    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    model, config, splits = create_model(name, args.experiment, **overrides)
    set_random_seed(config.seed)  # the same batch order for both models
    train, val, test = splits.loaders(config.batch_size, seed=config.seed)
    trainer = Trainer(model, build_optimizer(config, model), None, torch.device("cpu"), config)
    start = time.perf_counter()
    trainer.train(train, val)
    seconds = time.perf_counter() - start
    counts = exact_by_length(model, test)
    hits, total = (sum(pair[i] for pair in counts.values()) for i in (0, 1))
    run = {
        "model": name,
        "label": MODELS[name],
        "parameters": count_parameters(model),
        "epochs": config.epochs,
        "steps": trainer.global_step,
        "train_seconds": seconds,
        "ms_per_step": 1000 * seconds / max(1, trainer.global_step),
        "exact_match": hits / total,
        "by_length": {str(k): v[0] / v[1] for k, v in sorted(counts.items())},
        "val_exact_match": trainer.history["val_exact_match"],
    }
    logger.info("%s: exact match %.4f in %.0f s", name, run["exact_match"], seconds)
    return run, model, test


def plot_compare(result: dict[str, Any], path: Path) -> Path:
    """Exact match against source length for both models; attention maps of a few strings."""
    examples = result.get("attention_examples", [])
    fig, axes = plt.subplots(
        1, 1 + len(examples), figsize=(5 + 3 * len(examples), 4), layout="constrained"
    )
    axes = axes if len(examples) else [axes]
    for run in result["runs"]:
        lengths = [int(k) for k in run["by_length"]]
        axes[0].plot(lengths, list(run["by_length"].values()), marker="o", label=run["label"])
    axes[0].set(xlabel="source length", ylabel="exact match (test)", ylim=(-0.02, 1.02))
    axes[0].set_title(f"{result['task']}: greedy decoding")
    axes[0].legend()
    for ax, example in zip(axes[1:], examples):
        ax.imshow(example["alpha"], cmap="gray_r", vmin=0, vmax=1)
        ax.set(xlabel=f"source {example['source']}", ylabel="output step")
        ax.set_title(f"length {len(example['source'])}")
        ax.set_xticks([])
    return plotting.save_figure(fig, path)


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    if replot_study(args, VISUALIZATIONS_DIR, plot_compare):
        return None
    args.name = args.name or f"compare_{args.experiment}"
    runs, trained = [], {}
    for name in MODELS:
        record, model, test = train_one(name, args)
        runs.append(record)
        trained[name] = (model, test)
    model, test = trained["attention"]
    result = {
        "task": args.experiment,
        "runs": runs,
        "attention_examples": attention_examples(model, test, (8, 16, 24)),
    }
    lengths = list(runs[0]["by_length"])
    rows = [f"{'length':>6} " + " ".join(f"{r['model']:>10}" for r in runs)]
    for k in lengths:
        rows.append(f"{k:>6} " + " ".join(f"{r['by_length'].get(k, 0):>10.3f}" for r in runs))
    for r in runs:
        rows.append(
            f"{r['model']}: exact match {r['exact_match']:.4f}, {r['parameters']:,} parameters, "
            f"{r['ms_per_step']:.0f} ms per step, {r['train_seconds']:.0f} s"
        )
    sys.stderr.write("\n".join(rows) + "\n")
    save_study(result, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_compare)
    return result


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
