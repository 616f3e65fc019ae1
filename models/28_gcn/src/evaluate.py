"""Evaluate a trained GCN (or its MLP baseline) on the test nodes of its graph.

    python src/evaluate.py --checkpoint latest --experiment cora --json
    python src/evaluate.py --checkpoint best --experiment citeseer

The split is the fixed Planetoid one (1,000 test nodes), the same for every checkpoint; the
forward pass still covers the whole graph, and only the test nodes are scored.
"""

import sys

from train import SPEC

from engine.workflow import evaluate_main


def main(argv: list[str] | None = None) -> int:
    return evaluate_main(SPEC, argv)


if __name__ == "__main__":
    sys.exit(main())
