"""Evaluate a trained GAN on the test set, sample from it, and score its samples.

    python src/evaluate.py --checkpoint latest --experiment mnist --samples 64
    python src/evaluate.py --checkpoint latest --experiment mnist --score

The engine's evaluation reports the game's numbers on the test images (``d_loss``, ``g_loss``,
the mean D(x) ``d_real`` and D(G(z)) ``d_fake``); none of them measures sample quality.
``--score`` draws engine.sample_quality.NUM_SAMPLES (10,000) samples with the sample seed and
scores them with the frozen feature network of the data set (engine/sample_quality.py): Frechet
distance, precision, recall, and the class histogram with its entropy, which shows mode collapse.
The result goes to ``outputs/logs/<experiment>_sample_quality.json``.
"""

import argparse
import sys

from analysis import score_checkpoint
from train import SPEC

from engine.workflow import evaluate_main, evaluate_parser, run_cli


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = evaluate_parser(SPEC)
    parser.add_argument(
        "--score",
        action="store_true",
        help="also score 10,000 samples with the frozen feature network "
        "(engine/sample_quality.py; needs the scorer_<dataset> checkpoint of models/09_resnet)",
    )
    args = parser.parse_args(argv)  # --help and every error list --score
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--score", action="store_true")
    ours, rest = own.parse_known_args(argv)  # the shared workflow gets the rest
    code = evaluate_main(SPEC, rest)
    if code != 0 or not ours.score:
        return code

    def score() -> int:
        score_checkpoint(SPEC, args.checkpoint, args.experiment, args.sample_seed)
        return 0

    return run_cli(score)


if __name__ == "__main__":
    sys.exit(main())
