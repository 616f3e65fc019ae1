"""The MLP's weakness, measured: test accuracy on digits shifted by 0..8 pixels.

    python src/train.py --experiment mnist
    python src/shift.py --checkpoint best --experiment mnist --json

Every test image is translated by k pixels right, left, down and up (zero fill, analysis.py);
the accuracy per direction and their mean go to
outputs/logs/<checkpoint>.<experiment>.shift.json and the curve to
outputs/visualizations/<experiment>_shift.png. Module 2's CNNs run the same test.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from analysis import plot_shift_curve, shift_robustness
from constants import LOGS_DIR, VISUALIZATIONS_DIR
from train import SPEC

from engine.workflow import load_trained, script_main, write_result
from utils.device import select_device

logger = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Accuracy of a trained MLP on shifted test images.")
    p.add_argument("--checkpoint", required=True, help="checkpoint path, or 'latest' / 'best'")
    p.add_argument("--experiment", help="data to test on (default: the checkpoint's)")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    return p


def run(args: argparse.Namespace) -> None:
    model, config, splits, state = load_trained(
        SPEC, args.checkpoint, args.experiment, args.data_dir, select_device(args.device)
    )
    result = {"experiment": config.experiment, "checkpoint": str(state["path"])}
    result.update(shift_robustness(model, splits))
    for k, acc in zip(result["shifts"], result["accuracy"]["mean"]):
        logger.info("shift %d px | test accuracy %.4f (mean of 4 directions)", k, acc)
    figure = plot_shift_curve(
        result,
        VISUALIZATIONS_DIR / f"{config.experiment}_shift.png",
        title=f"MLP on {splits.name}: accuracy on shifted test images",
    )
    logger.info("figure written to %s", figure)
    out = LOGS_DIR / f"{Path(state['path']).stem}.{config.experiment}.shift.json"
    write_result(result, out, args.json)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
