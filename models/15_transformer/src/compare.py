"""Recurrence against attention alone: 13, 14 and 15 on one task, split and budget.

    python src/compare.py                           # reverse, 5 to 30 digits, the three models
    python src/compare.py --models transformer      # one of them
    python src/compare.py --epochs 1 --json         # a quick look
    python src/compare.py --replot outputs/logs/compare_reverse.json     # redraw a saved result

13_seq2seq's encoder-decoder (the source read backwards into one fixed-size state), 14's
Bahdanau attention and this folder's Transformer train from the same seed on the same strings
for the same budget (the named experiment of each folder, with the same overrides; each with
its own optimiser settings and schedule), through the engine's Trainer in memory. Each is then
decoded greedily on the whole test set and on a second test set of longer strings than any it
trained on (31 to 40 digits by default), and exact match (the decoded string equal to the
target) is counted per source length with 13's ExactMatchByLength. The table gives each model's
parameters and milliseconds per training step, measured in this run. The figure: exact match
against source length, and the Transformer's cross-attention weights, head by head, for a test
string.
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
from data_utils import load_dataset
from data_utils.sequences import BOS, PAD, decode
from engine.study import replot_study, save_study
from engine.trainer import Trainer
from engine.workflow import build_optimizer, build_scheduler, script_main
from utils.model_stats import count_parameters
from utils.registry import create_model, model_config, model_modules
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)
MODELS = {
    "seq2seq": "encoder-decoder (13)",
    "attention": "Bahdanau attention (14)",
    "transformer": "Transformer (15)",
}
ExactMatchByLength = model_modules("seq2seq").model.ExactMatchByLength


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--experiment", default="reverse", help="experiment of the three folders")
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--epochs", type=int, help="override every experiment's epochs")
    p.add_argument("--seed", type=int, help="override every experiment's seed")
    p.add_argument(
        "--beyond",
        type=int,
        nargs=2,
        default=(31, 40),
        metavar=("MIN", "MAX"),
        help="source lengths of the second test set, beyond training (0 0: none)",
    )
    p.add_argument("--beyond-size", type=int, default=1000, help="strings of the second test set")
    p.add_argument("--name", help="file name of the JSON and the plot (default compare_<exp>)")
    p.add_argument("--replot", help="redraw a saved result JSON without training")
    p.add_argument("--json", action="store_true", help="print the result as the last line")
    return p


def exact_by_length(model: Any, loader: Any, longest: int) -> tuple[float, dict[str, float]]:
    """Greedy decoding of every string, up to ``longest`` tokens: exact match over all strings,
    and by source length."""
    metric, kept = ExactMatchByLength(), model.max_target
    model.max_target = longest  # the decoders stop after max_target + 1 tokens
    model.eval()
    with torch.inference_mode():
        for batch in loader:
            metric.update(batch, model.step(batch).outputs)  # 13's step: greedy, exact, length
    model.max_target = kept
    by_length = {str(k): hits / n for k, (hits, n) in sorted(metric.state().items())}
    return metric.compute([metric.state()])["exact_match"], by_length


def decoded(model: Any, src: torch.Tensor, longest: int) -> list[dict[str, str]]:
    """Greedy decodings of a few sources (B, S), up to ``longest`` tokens, beside them."""
    model.eval()
    output = model.generate(src, max_len=longest + 1)  # (B, T)
    return [{"source": decode(s), "output": decode(o)} for s, o in zip(src, output)]


def head_maps(model: Any, src: torch.Tensor) -> dict[str, Any]:
    """Each decoder block's cross-attention weights, head by head, over one greedy decoding:
    the teacher-forced pass over the decoded tokens gives the same weights as the decoding."""
    model.eval()
    with torch.inference_mode():
        output = model.generate(src[None])  # (1, T)
        tgt_in = torch.cat([torch.tensor([[BOS]]), output[:, :-1]], dim=1)  # (1, T)
        for block in model.decoder:
            block.keep_weights = True
        model(src[None], tgt_in)
        length = int((src != PAD).sum())
        maps = [block.attention_weights[0, :, :, :length].tolist() for block in model.decoder]
        for block in model.decoder:
            block.keep_weights, block.attention_weights = False, None
    return {"source": decode(src), "output": decode(output[0]), "weights": maps}  # (N, h, T, L)


def train_one(name: str, args: argparse.Namespace, beyond: Any) -> tuple[dict[str, Any], Any]:
    """Train one model on its experiment; its exact match by length on both test sets."""
    overrides = {k: v for k, v in (("epochs", args.epochs), ("seed", args.seed)) if v is not None}
    model, config, splits = create_model(name, args.experiment, **overrides)
    set_random_seed(config.seed)  # the same batch order for every model
    train, val, test = splits.loaders(config.batch_size, seed=config.seed)
    optimizer = build_optimizer(config, model)
    scheduler = build_scheduler(config, optimizer, len(train))  # the Transformer's warm-up
    trainer = Trainer(model, optimizer, None, torch.device("cpu"), config, scheduler)
    wall, cpu = time.perf_counter(), time.process_time()
    trainer.train(train, val)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    record = {
        "model": name,
        "label": MODELS[name],
        "parameters": count_parameters(model),
        "epochs": config.epochs,
        "steps": trainer.global_step,
        "train_seconds": wall,
        "train_cpu_seconds": cpu,
        "ms_per_step": 1000 * wall / max(1, trainer.global_step),
        "val_exact_match": trainer.history["val_exact_match"],
    }
    record["exact_match"], record["by_length"] = exact_by_length(model, test, model.max_target)
    if beyond is not None:
        loader = beyond.loaders(config.batch_size, seed=config.seed)[2]
        longest = beyond.y_test.shape[1] - 2  # targets are BOS, the string, EOS
        record["beyond_exact_match"], record["beyond_by_length"] = exact_by_length(
            model, loader, longest
        )
        record["beyond_examples"] = decoded(model, beyond.x_test[:3], longest)
    logger.info("%s: exact match %.4f in %.0f s", name, record["exact_match"], wall)
    return record, (model, test)


def plot_compare(result: dict[str, Any], path: Path) -> Path:
    """Exact match against source length (training lengths and beyond); the Transformer's
    cross-attention weights, one panel per block and head."""
    maps = result.get("head_maps")
    blocks = len(maps["weights"]) if maps else 0
    heads = len(maps["weights"][0]) if maps else 0
    fig = plt.figure(figsize=(6 + 2.2 * heads, max(4, 2.2 * blocks)), layout="constrained")
    grid = fig.add_gridspec(max(1, blocks), 1 + heads, width_ratios=[2.6] + [1] * heads)
    ax = fig.add_subplot(grid[:, 0])
    for run in result["runs"]:
        curve = {**run["by_length"], **run.get("beyond_by_length", {})}
        lengths = [int(k) for k in curve]
        ax.plot(lengths, list(curve.values()), marker="o", markersize=3, label=run["label"])
    if any("beyond_by_length" in run for run in result["runs"]):
        trained = max(int(k) for k in result["runs"][0]["by_length"])
        ax.axvline(trained + 0.5, color="gray", linestyle="--", linewidth=1)
        ax.text(trained + 1, 0.5, "longer than\nany training string", fontsize=8)
    ax.set(xlabel="source length", ylabel="exact match (test)", ylim=(-0.02, 1.02))
    ax.set_title(f"{result['task']}: greedy decoding")
    ax.legend(loc="lower left")
    for b in range(blocks):
        for h in range(heads):
            panel = fig.add_subplot(grid[b, 1 + h])
            panel.imshow(maps["weights"][b][h], cmap="gray_r", vmin=0, vmax=1)
            panel.set_title(f"block {b + 1}, head {h + 1}", fontsize=9)
            panel.set_xticks([]), panel.set_yticks([])
            if h == 0:
                panel.set_ylabel("output step")
            if b == blocks - 1:
                panel.set_xlabel(f"source {maps['source']}", fontsize=7)
    return plotting.save_figure(fig, path)


def report(runs: list[dict[str, Any]]) -> str:
    """The printed table: exact match by length (training lengths, then beyond), then sizes
    and times."""
    lines = []
    for key in ("by_length", "beyond_by_length"):
        lengths = sorted({int(k) for r in runs for k in r.get(key, {})})
        lines += [f"{'length':>6} " + " ".join(f"{r['model']:>12}" for r in runs)] * bool(lengths)
        lines += [
            f"{k:>6} " + " ".join(f"{r[key].get(str(k), 0):>12.3f}" for r in runs) for k in lengths
        ]
    lines += [
        f"{r['model']}: exact match {r['exact_match']:.4f}, {r['parameters']:,} parameters, "
        f"{r['ms_per_step']:.0f} ms per step, {r['train_seconds']:.0f} s"
        for r in runs
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> dict[str, Any] | None:
    if replot_study(args, VISUALIZATIONS_DIR, plot_compare):
        return None
    args.name = args.name or f"compare_{args.experiment}"
    beyond = None
    if args.beyond[0] > 0:  # the same task, longer strings, from the experiment's seed
        config = model_config(
            "transformer", args.experiment, **({"seed": args.seed} if args.seed is not None else {})
        )
        low, high = args.beyond
        beyond = load_dataset(
            config.dataset,
            seed=config.seed,
            min_length=low,
            max_length=high,
            train_size=1,
            val_size=1,
            test_size=args.beyond_size,
        )
    runs, trained = [], {}
    for name in args.models:
        record, trained[name] = train_one(name, args, beyond)
        runs.append(record)
    result: dict[str, Any] = {"task": args.experiment, "runs": runs}
    if "transformer" in trained:
        model, test = trained["transformer"]
        row = ((test.x != PAD).sum(1) - 20).abs().argmin()  # a test string of 20 digits
        result["head_maps"] = head_maps(model, test.x[row])
    sys.stderr.write(report(runs))
    save_study(result, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_compare)
    return result


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
