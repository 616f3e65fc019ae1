"""Evaluate a trained BERT on its test split: SST-2's 1,821 test sentences (accuracy) for a
fine-tuned network, the held-out 5% of the pretraining sentences (masked-word loss) for a
pretrained one.

    python src/evaluate.py --checkpoint best --experiment finetune
    python src/evaluate.py --checkpoint latest --experiment pretrain
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
