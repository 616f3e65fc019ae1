"""Our validation loss beside nanoGPT's estimate of it, for one checkpoint.

    python src/estimate.py --checkpoint latest --experiment shakespeare

Ours (train.py's val_loss, evaluate.py's loss): every character of the validation stream (the
last 10% of the text, 111,540 characters) predicted once, in consecutive windows of block_size
characters: an exact mean. nanoGPT's ``estimate_loss()``: the mean over ``eval_iters`` batches
of ``batch_size`` random windows (eval_iters = 20 in its CPU recipe): 20 x 12 x 64 = 15,360
predictions, a sample. Both score every position of a window, from 0 to 63 characters of
context, so both estimate the same quantity; nanoGPT's is noisier. This script draws that
estimate ``--draws`` times (seeds 0, 1, ...) and reports its mean, standard deviation and range
beside ours, and the same estimate on the train split (nanoGPT prints both). Results:
outputs/logs/<experiment>_estimate.json (``--name`` to choose another).
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
from typing import Any

import torch
from constants import LOGS_DIR, MODEL_NAME

from engine.workflow import load_trained, script_main, write_result
from utils.registry import model_spec

logger = logging.getLogger(__name__)


@torch.inference_mode()
def nanogpt_estimate(
    model: Any, corpus: Any, batches: int, batch_size: int, seed: int, split: str = "val"
) -> float:
    """nanoGPT's estimate_loss() on one split: the mean loss of random windows."""
    generator = torch.Generator().manual_seed(seed)
    losses = []
    for _ in range(batches):
        x, y = corpus.get_batch(split, batch_size, corpus.block_size, generator=generator)
        losses.append(float(model.step((x, y)).loss))
    return sum(losses) / len(losses)


@torch.inference_mode()
def exact_loss(model: Any, corpus: Any, batch_size: int) -> float:
    """Ours: every character of the val stream once, in consecutive windows."""
    nats, count = 0.0, 0
    for x, y in corpus.loaders(batch_size, seed=0)[1]:
        nats += float(model.step((x, y)).loss) * y.numel()
        count += y.numel()
    return nats / count


def run(args: argparse.Namespace) -> dict[str, Any]:
    model, config, corpus, state = load_trained(
        model_spec(MODEL_NAME), args.checkpoint, args.experiment, args.data_dir
    )
    model.eval()
    draws = [
        nanogpt_estimate(model, corpus, args.eval_iters, config.batch_size, seed)
        for seed in range(args.draws)
    ]
    train_draws = [
        nanogpt_estimate(model, corpus, args.eval_iters, config.batch_size, seed, "train")
        for seed in range(args.draws)
    ]
    result = {
        "checkpoint": str(state["path"]),
        "seed": config.seed,
        "ours_whole_val_stream": exact_loss(model, corpus, config.batch_size),
        "nanogpt_estimate": summary(draws, args.eval_iters, config.batch_size, args.target),
        "nanogpt_train_estimate": summary(
            train_draws, args.eval_iters, config.batch_size, args.target
        ),
    }
    est, train = result["nanogpt_estimate"], result["nanogpt_train_estimate"]
    logger.info(
        "val loss: ours (whole stream) %.4f | nanoGPT's estimate (%d batches of %d) mean %.4f, "
        "std %.4f, range %.4f-%.4f, %d of %d draws <= %.2f | its train-split estimate mean %.4f",
        result["ours_whole_val_stream"],
        args.eval_iters,
        config.batch_size,
        est["mean"],
        est["std"],
        *est["range"],
        est["at_or_below_target"],
        len(draws),
        args.target,
        train["mean"],
    )
    name = args.name or f"{config.experiment}_estimate"
    return write_result(result, LOGS_DIR / f"{name}.json", args.json)


def summary(draws: list[float], eval_iters: int, batch_size: int, target: float) -> dict[str, Any]:
    """Mean, standard deviation and range of the drawn estimates, and how many reach target."""
    return {
        "eval_iters": eval_iters,
        "batch_size": batch_size,
        "draws": draws,
        "mean": statistics.mean(draws),
        "std": statistics.stdev(draws) if len(draws) > 1 else 0.0,
        "range": [min(draws), max(draws)],
        "at_or_below_target": sum(d <= target for d in draws),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--checkpoint", default="latest", help="a path, or latest / best")
    p.add_argument("--experiment", default="shakespeare", help="whose latest / best")
    p.add_argument("--eval-iters", type=int, default=20, help="nanoGPT's eval_iters (CPU: 20)")
    p.add_argument("--draws", type=int, default=20, help="estimates drawn, seeds 0, 1, ...")
    p.add_argument("--target", type=float, default=1.88, help="count the draws at or below")
    p.add_argument("--name", help="result file outputs/logs/<name>.json (<experiment>_estimate)")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="print the result JSON last on stdout")
    return p


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
