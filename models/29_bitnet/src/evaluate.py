"""Evaluate a trained BitNet GPT twice: quantising on the fly, and from its packed weights.

    python src/evaluate.py --checkpoint latest --experiment shakespeare --samples 500

The validation stream (the last 10% of Tiny Shakespeare, test = val) is scored in consecutive
windows of the block size, as models/16_gpt's evaluate.py does. For a ternary checkpoint it is
scored twice: by the trained model, whose BitLinear layers quantise their latent weights at each
call; and by a fresh model that holds no latent weights at all (they are set to NaN, so any use
would show) and reads only the packed state, 2-bit codes and one gamma per matrix, written to
outputs/models/<experiment>/packed/<checkpoint>.packed.pt (a subfolder: "latest" never
picks it up). The two must give the same logits bit for bit on every
window: the JSON records the largest difference and the loss of each path, and the bytes of the
packed file beside fp32 and bf16 (model.memory_bytes). ``--samples N`` draws from the packed
model, with GPT's key-value cache, seeded.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import torch
from model import BitNetGPT, memory_bytes
from train import SPEC

from engine.evaluator import Evaluator, autocast
from engine.workflow import (
    apply_threads,
    evaluate_parser,
    load_trained,
    run_cli,
    write_samples,
)
from utils.device import select_device
from utils.files import plain
from utils.log import setup_logging
from utils.paths import RunPaths
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


def packed_copy(model: BitNetGPT, config: Any, splits: Any, path: Path) -> BitNetGPT:
    """A fresh model loaded from the packed state of ``model``, saved to ``path``; its latent
    weights are NaN, so inference that read them would show."""
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(model.packed_state(), path)
    packed = SPEC.create_model(config, splits).to(next(model.parameters()).device)
    for layer in packed.bit_layers().values():
        layer.weight.data.fill_(float("nan"))  # inference must not read them
    packed.load_packed_state(torch.load(path, weights_only=True))
    return packed


@torch.inference_mode()
def largest_difference(a: BitNetGPT, b: BitNetGPT, loader: Any, precision: str) -> float:
    """The largest |logit difference| of two models over every window of ``loader``."""
    a.eval(), b.eval()
    device = next(a.parameters()).device
    worst = 0.0
    with autocast(device, precision):
        for x, _ in loader:
            x = x.to(device)  # (B, T)
            worst = max(worst, float((a(x).float() - b(x).float()).abs().max()))  # (B, T, V)
    return worst


def evaluate(args: Any) -> int:
    device = select_device(args.device)
    model, config, splits, state = load_trained(
        SPEC, args.checkpoint, args.experiment, args.data_dir, device
    )
    paths = RunPaths.create(SPEC.model_dir, config.experiment)
    setup_logging(paths.log_file)
    apply_threads(config)
    set_random_seed(config.seed)
    loader = splits.loaders(config.batch_size, seed=config.seed)[2]  # test = val, sequential
    metrics = Evaluator(model, None, device, precision=config.precision).evaluate(loader)
    stem = Path(state["path"]).stem
    result: dict[str, Any] = {
        "model": SPEC.name,
        "experiment": config.experiment,
        "checkpoint": str(state["path"]),
        "split": "test",
        "ternary": config.ternary,
        "on_the_fly": metrics,
        "memory_bytes": memory_bytes(model),
    }
    sampler = model
    if config.ternary:
        packed_file = Path(state["path"]).parent / "packed" / f"{stem}.packed.pt"
        sampler = packed_copy(model, config, splits, packed_file)
        result["packed"] = Evaluator(sampler, None, device, precision=config.precision).evaluate(
            loader
        )
        result["packed_file"], result["packed_file_bytes"] = (
            str(packed_file),
            packed_file.stat().st_size,
        )
        result["largest_logit_difference"] = largest_difference(
            model, sampler, loader, config.precision
        )
        logger.info(
            "test | on the fly: loss %.4f | packed: loss %.4f | largest logit difference %g | "
            "packed file %d bytes",
            metrics["loss"],
            result["packed"]["loss"],
            result["largest_logit_difference"],
            result["packed_file_bytes"],
        )
    else:
        logger.info("test | loss %.4f (full precision: nothing to pack)", metrics["loss"])
    if args.samples:
        seed = config.seed if args.sample_seed is None else args.sample_seed
        result["samples"] = str(
            write_samples(sampler, args.samples, seed, paths.vis_dir / f"{stem}_samples")
        )
    out = paths.logs_dir / f"{stem}.{config.experiment}.test.eval.json"
    out.write_text(json.dumps(plain(result), indent=2) + "\n")
    logger.info("written to %s", out)
    if args.json:
        sys.stdout.write(json.dumps(plain(result)) + "\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = evaluate_parser(SPEC).parse_args(argv)
    return run_cli(lambda: evaluate(args))


if __name__ == "__main__":
    sys.exit(main())
