"""Evaluate a trained VAE (or autoencoder) on the binarised MNIST test set, and sample from it.

    python src/evaluate.py --checkpoint latest --experiment mnist --samples 64
    python src/evaluate.py --checkpoint latest --experiment mnist --iwae-k 50

The test set is binarised once, with the config's seed (analysis.binarized_test), so every
evaluation scores the same 10,000 binary images. A VAE reports -ELBO (``nelbo``), its two terms
and the IWAE estimate of -log p(x) (``nll_iwae``, Burda et al. eq. 8) with ``iwae_k``
importance samples (the config's, default 500; ``--iwae-k`` overrides it, 0 skips it), all in
nats per image. An autoencoder reports its reconstruction cost (``recon``). ``--samples N``
decodes N draws of z ~ N(0, I), seeded.
"""

import argparse
import dataclasses
import sys
from functools import partial
from typing import Any

from model import VAE, create_model
from train import SPEC

from engine.workflow import evaluate_main, evaluate_parser


def scoring_model(iwae_k: int | None, config: Any, splits: Any) -> Any:
    """The model as create_model builds it, with the IWAE estimate switched on for scoring."""
    model = create_model(config, splits)
    if isinstance(model, VAE):
        model.iwae_k = config.iwae_k if iwae_k is None else iwae_k
    return model


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = evaluate_parser(SPEC)
    parser.add_argument(
        "--iwae-k",
        type=int,
        help="importance samples of the IWAE estimate of -log p(x) (default: the config's "
        "iwae_k, 500; 0: none)",
    )
    if (parser.parse_args(argv).iwae_k or 0) < 0:  # --help and every error list --iwae-k
        parser.error("--iwae-k must be >= 0 (0: no IWAE estimate)")
    own = argparse.ArgumentParser(add_help=False)
    own.add_argument("--iwae-k", type=int)
    args, rest = own.parse_known_args(argv)  # the shared workflow gets the rest
    spec = dataclasses.replace(SPEC, create_model=partial(scoring_model, args.iwae_k))
    return evaluate_main(spec, rest)


if __name__ == "__main__":
    sys.exit(main())
