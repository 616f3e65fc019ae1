"""Ternary against full precision: three GPTs on Tiny Shakespeare at equal iterations.

    python src/compare.py                                   # the three networks, 2,000 steps each
    python src/compare.py --experiments smoke --name quick  # a look at the mechanics
    python src/compare.py --reuse                           # train only what has no checkpoint
    python src/compare.py --replot outputs/logs/compare.json

The networks are the experiments of constants.COMPARED: ``shakespeare`` (ternary, width 128),
``shakespeare_fp32`` (the same GPT in full precision: models/16_gpt's run) and
``shakespeare_wide`` (ternary, width 256), all with 16's recipe (2,000 steps of 12 windows of
64 characters, AdamW, warm-up and cosine, float32) and the same seed. Each is trained by
train.py's own entry point, one after the other in this process, so each leaves its checkpoint
for evaluate.py, and its record is written at once to outputs/logs/<name>.<experiment>.json
(``--reuse`` reads those, or the latest checkpoints, instead of training again). The result,
outputs/logs/<name>.json, holds each network's validation curve, its final validation loss,
its weight memory (model.memory_bytes) and its training wall and CPU seconds; the plot,
outputs/visualizations/<name>.png, draws the curves and the memory. The targets (the issue's):
ternary within 0.25 nats of fp32 at equal width; ternary at double width at or below fp32 at the
original width.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
from constants import COMPARED, LOGS_DIR, MODELS_DIR, VISUALIZATIONS_DIR
from model import memory_bytes
from train import SPEC
from train import main as train

import plotting
from engine.checkpoint import resolve_checkpoint
from engine.study import read_result
from engine.workflow import load_data, script_main
from utils.config import config_from_dict

logger = logging.getLogger(__name__)

LABELS = {
    "shakespeare": "ternary, width 128",
    "shakespeare_fp32": "fp32, width 128",
    "shakespeare_wide": "ternary, width 256",
}


def record(experiment: str, seconds: float | None, cpu_seconds: float | None) -> dict[str, Any]:
    """One network's entry: its curve and loss from its latest checkpoint, memory, times."""
    state = resolve_checkpoint("latest", MODELS_DIR / experiment)
    config = config_from_dict(SPEC.config_cls, state["config"])
    model = SPEC.create_model(config, load_data(config, None))
    history = state["history"]
    val_loss = [v for v in history.get("val_loss", []) if v is not None]
    return {
        "experiment": experiment,
        "network": LABELS.get(experiment, experiment),
        "ternary": config.ternary,
        "d_model": config.d_model,
        "steps": state.get("global_step"),
        "steps_per_epoch": config.data_options["windows_per_epoch"] // config.batch_size,
        "checkpoint": str(state["path"]),
        "epoch": history["epoch"][: len(val_loss)],
        "val_loss": val_loss,
        "final_val_loss": val_loss[-1] if val_loss else float("nan"),
        "memory_bytes": memory_bytes(model),
        "train_seconds": None if seconds is None else round(seconds, 1),
        "train_cpu_seconds": None if cpu_seconds is None else round(cpu_seconds, 1),
    }


def measure(experiment: str, train_args: list[str], saved: Path) -> dict[str, Any]:
    """Train one experiment through train.py (timed); its record, also written to ``saved``."""
    start, cpu_start = time.perf_counter(), time.process_time()
    code = train(["--experiment", experiment, "--no-wandb", *train_args])
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
    assert code == 0, f"training {experiment} failed (exit code {code}): see its log"
    entry = record(experiment, seconds, cpu_seconds)
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(entry, indent=2) + "\n")
    return entry


def reused(experiment: str, saved: Path) -> dict[str, Any]:
    """The record an earlier call wrote, or, without one, the latest checkpoint (no times)."""
    if saved.is_file():
        return read_result(saved)
    logger.info(
        "%s: no record %s; reading its latest checkpoint (times unknown)", experiment, saved
    )
    return record(experiment, None, None)


def seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f} s"


def markdown_table(runs: list[dict[str, Any]]) -> str:
    """One row per network: validation loss, weight memory, training times."""
    lines = [
        "| Network | Parameters | Validation loss | Weights fp32 / bf16 / packed | "
        "Training wall / CPU |",
        "| --- | ---: | ---: | ---: | ---: |",
    ]
    for run in runs:
        mem = run["memory_bytes"]
        packed = f"{mem['packed_bf16_rest'] / 1e6:.3f} MB" if run["ternary"] else "-"
        lines.append(
            f"| {run['network']} | {mem['parameters']:,} | {run['final_val_loss']:.4f} "
            f"| {mem['fp32'] / 1e6:.3f} / {mem['bf16'] / 1e6:.3f} MB / {packed} "
            f"| {seconds(run['train_seconds'])} / {seconds(run['train_cpu_seconds'])} |"
        )
    return "\n".join(lines)


def plot_comparison(result: dict[str, Any], path: Path) -> Path:
    """Validation loss per epoch (left) and the weights' bytes per format (right)."""
    fig, (curves, bars) = plt.subplots(1, 2, figsize=(11, 4.2), layout="constrained")
    for run in result["runs"]:
        curves.plot(run["epoch"], run["val_loss"], marker="o", label=run["network"])
    curves.set_xlabel(f"epoch ({result['steps_per_epoch']} steps each)")
    curves.set_ylabel("validation loss (nats per character)")
    curves.grid(alpha=0.3)
    curves.legend()
    formats = ("fp32", "bf16", "packed_bf16_rest")
    width = 0.8 / len(result["runs"])
    for i, run in enumerate(result["runs"]):
        mem = run["memory_bytes"]
        heights = [
            mem[f] / 1e6 if (f != "packed_bf16_rest" or run["ternary"]) else 0 for f in formats
        ]
        bars.bar([j + i * width for j in range(len(formats))], heights, width, label=run["network"])
    bars.set_xticks([j + width for j in range(len(formats))])
    bars.set_xticklabels(["fp32", "bf16", "2-bit packed\n(rest bf16)"])
    bars.set_ylabel("weights (MB)")
    bars.legend(fontsize="small")
    fig.suptitle("Ternary (BitNet b1.58) against full-precision GPT on Tiny Shakespeare")
    return plotting.save_figure(fig, path)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Ternary against fp32 GPT at equal iterations.")
    p.add_argument("--experiments", nargs="*", default=list(COMPARED), help="networks to train")
    p.add_argument("--max-steps", help="stop each network after this many steps")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for all")
    p.add_argument("--name", default="compare", help="file name of the JSON and the plot")
    p.add_argument(
        "--reuse",
        action="store_true",
        help="keep the networks already trained (their record, else their latest checkpoint)",
    )
    p.add_argument("--replot", metavar="JSON", help="redraw a saved result; no training")
    return p


def run(args: argparse.Namespace) -> None:
    if args.replot:
        saved = Path(args.replot)
        logger.info(
            "redrawn %s",
            plot_comparison(read_result(saved), VISUALIZATIONS_DIR / f"{saved.stem}.png"),
        )
        return
    train_args = ["--max-steps", args.max_steps] if args.max_steps else []
    train_args += ["--set", *args.set] if args.set else []
    runs = []
    for experiment in args.experiments:  # trained in this order; each record saved at once
        saved = LOGS_DIR / f"{args.name}.{experiment}.json"
        if args.reuse and (saved.is_file() or (MODELS_DIR / experiment).is_dir()):
            runs.append(reused(experiment, saved))
        else:
            runs.append(measure(experiment, train_args, saved))
    result: dict[str, Any] = {"steps_per_epoch": runs[0]["steps_per_epoch"], "runs": runs}
    by_name = {run["experiment"]: run["final_val_loss"] for run in runs}
    if {"shakespeare", "shakespeare_fp32"} <= by_name.keys():
        result["gap_equal_width"] = by_name["shakespeare"] - by_name["shakespeare_fp32"]
    if {"shakespeare_wide", "shakespeare_fp32"} <= by_name.keys():
        result["gap_double_width"] = by_name["shakespeare_wide"] - by_name["shakespeare_fp32"]
    result["table"] = markdown_table(runs)
    logger.info("comparison:\n%s", result["table"])
    out = LOGS_DIR / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    figure = plot_comparison(result, VISUALIZATIONS_DIR / f"{args.name}.png")
    logger.info("written %s and %s", out, figure)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
