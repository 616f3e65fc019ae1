"""Evaluate a trained DCGAN: its losses on the test images, samples, and the paper's measures.

    python src/evaluate.py --checkpoint latest --experiment fashion_mnist --samples 64 --visualize
    python src/evaluate.py --checkpoint latest --experiment fashion_mnist --features
    python src/evaluate.py --checkpoint latest --experiment fashion_mnist --score

The shared part (engine.workflow.evaluate_main) reports the discriminator's and the generator's
losses and D(x), D(G(z)) on the test images, and ``--samples N`` draws N images, seeded.
``--features`` is the paper's own evaluation (Sec. 5.1): a logistic regression on the frozen
discriminator's pooled conv features against the same classifier on raw pixels, both fitted on
the 60,000 labelled training images and scored on the 10,000 test images (analysis.py).
``--score`` draws ``--score-samples`` images (seed 0) and scores them with the project's frozen
feature network (engine.sample_quality: Frechet distance, precision, recall, class histogram;
MNIST and Fashion-MNIST only). ``--visualize`` also draws the two players' losses per epoch.
Results go to outputs/logs/<checkpoint>.<experiment>.{features,scores}.json.
"""

import argparse
import logging
import sys
from pathlib import Path

from analysis import feature_evaluation, plot_losses, sample_scores
from constants import LOGS_DIR, VISUALIZATIONS_DIR
from train import SPEC

from engine.workflow import evaluate_main, evaluate_parser, load_trained, run_cli, write_result

logger = logging.getLogger(__name__)


def extra_parser(add_help: bool = True) -> argparse.ArgumentParser:
    """The options of this model's own measures, on top of the shared evaluate.py ones."""
    p = evaluate_parser(SPEC) if add_help else argparse.ArgumentParser(add_help=False)
    p.add_argument(
        "--features", action="store_true", help="linear probe on D's features (Sec. 5.1)"
    )
    p.add_argument("--probe-iters", type=int, default=200, help="L-BFGS iterations of the probe")
    p.add_argument("--score", action="store_true", help="Frechet distance, precision, recall")
    p.add_argument(
        "--score-samples", type=int, default=10_000, help="samples scored (every row: the same)"
    )
    return p


def measure(args: argparse.Namespace) -> int:
    """The paper's feature evaluation and the shared sample scores of one checkpoint."""
    model, config, splits, state = load_trained(
        SPEC, args.checkpoint, args.experiment, args.data_dir
    )
    stem = f"{Path(state['path']).stem}.{config.experiment}"
    if args.visualize and state.get("history"):
        plot_losses(
            state["history"],
            VISUALIZATIONS_DIR / f"{config.experiment}_eval_losses.png",
            f"DCGAN on {config.dataset}: the two players per epoch (dotted: equilibrium)",
        )
    if args.features:
        result = feature_evaluation(model, splits, args.probe_iters)
        logger.info(
            "linear probe | pixels %.4f | discriminator features %.4f (%d numbers)",
            result["pixels_accuracy"],
            result["discriminator_accuracy"],
            result["discriminator_dim"],
        )
        write_result(
            {"checkpoint": str(state["path"]), **result}, LOGS_DIR / f"{stem}.features.json"
        )
    if args.score:
        result = sample_scores(model, config.dataset, args.score_samples, seed=0)
        logger.info(
            "samples %d | frechet_distance %.2f | precision %.4f | recall %.4f | classes %s",
            args.score_samples,
            result["frechet_distance"],
            result["precision"],
            result["recall"],
            result["class_histogram"],
        )
        write_result({"checkpoint": str(state["path"]), **result}, LOGS_DIR / f"{stem}.scores.json")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = extra_parser().parse_args(argv)  # --help and every error list the options
    own, rest = extra_parser(add_help=False).parse_known_args(argv)
    code = evaluate_main(SPEC, rest)  # the shared evaluation of the checkpoint
    if code != 0 or not (own.features or own.score or args.visualize):
        return code
    return run_cli(lambda: measure(args))


if __name__ == "__main__":
    sys.exit(main())
