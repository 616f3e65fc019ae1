"""Evaluate a trained DDPM: its loss on the MNIST test set, samples, and sample quality.

    python src/evaluate.py --checkpoint latest --experiment mnist --samples 64
    python src/evaluate.py --checkpoint latest --experiment mnist --visualize
    python src/evaluate.py --checkpoint latest --experiment mnist --score 1000 --sample-steps 100

The test metric is L_simple (eq. 14), the mean squared error of the predicted noise per pixel at
one uniform t per image, with the moving-average weights. ``--samples N`` draws N images with the
paper's sampler (T network evaluations each). ``--score N`` draws N images, times them (seconds
of CPU per sample and network evaluations per sample) and scores them with the project's frozen
feature network (engine.sample_quality: Frechet distance, precision, recall, class histogram).
``--sample-steps S`` picks the sampler of the score: T (the default, the paper's Algorithm 2) or
S < T evenly spaced steps of the same chain (Nichol and Dhariwal 2021, not the paper's); the
JSON names it.
"""

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any

import torch
from train import SPEC

from engine.modelio import evaluating
from engine.sample_quality import score_samples
from engine.workflow import (
    evaluate_main,
    evaluate_parser,
    load_trained,
    run_cli,
    write_result,
)
from utils.paths import RunPaths

logger = logging.getLogger("evaluate")


def timed_samples(
    model: Any, num: int, steps: int, seed: int, chunk: int = 500
) -> tuple[torch.Tensor, dict[str, float]]:
    """``num`` samples in chunks from one seeded generator, with their cost: CPU and wall seconds
    per sample (this process's CPU time: user + sys) and network evaluations per sample."""
    generator = torch.Generator().manual_seed(seed)
    cpu, wall = time.process_time(), time.perf_counter()
    with evaluating(model):
        samples = torch.cat(
            [model.sample(len(c), generator, steps) for c in torch.arange(num).split(chunk)]
        )
    cost = {
        "network_evaluations_per_sample": steps,
        "cpu_seconds_per_sample": (time.process_time() - cpu) / num,
        "wall_seconds_per_sample": (time.perf_counter() - wall) / num,
    }
    return samples, cost


def score(args: argparse.Namespace) -> int:
    """Draw ``args.score`` samples, time them, score them, write the JSON beside the eval's."""
    model, config, _, state = load_trained(SPEC, args.checkpoint, args.experiment)
    steps = args.sample_steps or config.sample_steps or config.num_steps
    sampler = f"ancestral, all {steps} steps (Ho et al. 2020, Algorithm 2)"
    if steps < config.num_steps:
        sampler = (
            f"ancestral on {steps} of {config.num_steps} steps (respaced: Nichol and Dhariwal "
            "2021, not the paper's)"
        )
    seed = 0 if args.sample_seed is None else args.sample_seed
    samples, cost = timed_samples(model, args.score, steps, seed)
    scores = score_samples(samples, config.dataset)
    result = {
        "model": SPEC.name,
        "experiment": config.experiment,
        "checkpoint": str(state["path"]),
        "sampler": sampler,
        "sample_seed": seed,
        "threads": torch.get_num_threads(),
        **cost,
        **scores,
    }
    paths = RunPaths.create(SPEC.model_dir, config.experiment)
    stem = f"{Path(state['path']).stem}.score_n{args.score}_steps{steps}"
    write_result(result, paths.logs_dir / f"{stem}.json", args.json)
    logger.info(
        "%s | %d samples | frechet_distance %.2f | precision %.3f | recall %.3f | "
        "%d network evaluations and %.3f s of CPU per sample | written to %s",
        sampler,
        args.score,
        scores["frechet_distance"],
        scores["precision"],
        scores["recall"],
        steps,
        cost["cpu_seconds_per_sample"],
        paths.logs_dir / f"{stem}.json",
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = evaluate_parser(SPEC)
    parser.add_argument(
        "--score", type=int, default=0, metavar="N", help="draw N samples and score them"
    )
    parser.add_argument(
        "--sample-steps",
        type=int,
        default=0,
        metavar="S",
        help="network evaluations per sample of --score (default: the config's sample_steps, "
        "0 = T, the paper's sampler; S < T: respaced, not the paper's)",
    )
    args = parser.parse_args(argv)  # --help and every error list the two options
    if args.score and args.score < 4:
        parser.error("--score takes at least 4 samples (precision and recall use k = 3)")
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--score", type=int, default=0)
    own.add_argument("--sample-steps", type=int, default=0)
    _, rest = own.parse_known_args(argv)  # the shared workflow gets the rest
    code = evaluate_main(SPEC, rest)
    if code != 0 or not args.score:
        return code
    return run_cli(lambda: score(args))


if __name__ == "__main__":
    sys.exit(main())
