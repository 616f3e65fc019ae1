"""The adding problem at growing lengths: the Elman network against the LSTM, the same budget.

    python src/compare.py adding                      # T = 50, 100, 200; both networks
    python src/compare.py adding --lengths 50 --set max_steps=20 --name quick   # a quick look
    python src/compare.py adding --replot outputs/logs/adding.json   # redraw a saved result

Hochreiter and Schmidhuber's experiment 4 (1997), in the form of Le et al. 2015: a sequence of
T (value, marker) pairs, two of them marked, one in each half; the target is the sum of the two
marked values. Predicting the mean, 1, scores an MSE of 1/6 (the variance of the sum), so a
network only does better once it carries a marked value across up to T - 1 steps. Each network
is trained from its own experiment ``adding_<T>`` (models/10_rnn and this folder: the same
recipe, 128 units, Adam 1e-3, clip 1, batches of 64, 10,000 sequences, the same epochs), from
the same seed, on the same generated sequences, through the engine's Trainer in memory; the two
networks differ only in the cell. The table gives the test MSE, the share of test sequences
predicted within 0.04 (the paper's criterion for "solved") and the training seconds. Results go
to outputs/logs/<name>.json and the plot (test MSE against T, the 1/6 baseline drawn) to
outputs/visualizations/<name>.png (docs/make_figures.py copies it to the README's figures/).
"""

from __future__ import annotations

import argparse
import logging
import math
import sys
import time
from typing import Any

from analysis import BASELINE_MSE, MODELS, plot_adding, table
from constants import ADDING_LENGTHS, LOGS_DIR, VISUALIZATIONS_DIR

from engine.study import replot_study, save_study
from engine.trainer import Trainer
from engine.workflow import build_optimizer, build_scheduler, load_data, script_main
from utils.device import select_device
from utils.model_stats import count_parameters
from utils.registry import model_config, model_spec
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


def train_adding(
    name: str, length: int, data_dir: str | None, overrides: dict[str, str]
) -> dict[str, Any]:
    """Train the registered model ``name`` on its ``adding_<length>`` experiment and test it.

    As train.py would, but in memory (no checkpoints or tracker): seeded, the model's own spec,
    optimiser and schedule, the Trainer's loop. Returns the run's entry of the result JSON.
    """
    spec = model_spec(name)
    config = model_config(name, f"adding_{length}", **overrides)
    set_random_seed(config.seed)
    splits = load_data(config, data_dir)
    model = spec.create_model(config, splits)
    train_loader, val_loader, test_loader = splits.loaders(config.batch_size, seed=config.seed)
    optimizer = build_optimizer(config, model)
    scheduler = build_scheduler(config, optimizer, len(train_loader))
    device = select_device(config.device)
    trainer = Trainer(
        model.to(device), optimizer, spec.create_criterion(config), device, config, scheduler
    )
    start = time.perf_counter()
    history = trainer.train(train_loader, val_loader, config.epochs)
    seconds = time.perf_counter() - start
    test = trainer.evaluator.evaluate(test_loader)
    return {
        "model": name,
        "length": length,
        "parameters": count_parameters(model),
        "epochs": config.epochs,
        "steps": trainer.global_step,
        "test_mse": test["loss"],
        "test_solved": test["solved"],
        "val_mse": history.get("val_loss", []),  # per epoch (none if max_steps cut epoch 1)
        "train_seconds": round(seconds, 1),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Side-by-side studies of the LSTM.")
    p.add_argument("study", choices=["adding"], help="adding: Elman against LSTM at each T")
    p.add_argument("--lengths", nargs="+", type=int, default=list(ADDING_LENGTHS))
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--name", default="adding", help="file name of the JSON and the plot")
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for both networks"
    )
    p.add_argument("--data-dir", help="unused by the adding problem (generated from the seed)")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    p.add_argument("--replot", metavar="JSON", help="redraw the plot of a saved result")
    return p


def run(args: argparse.Namespace) -> None:
    unknown = [t for t in args.lengths if t not in ADDING_LENGTHS]
    assert not unknown, f"no adding experiment for T = {unknown}; there are {ADDING_LENGTHS}"
    pairs = [item.partition("=") for item in args.set]
    assert all(sep for _, sep, _ in pairs), f"--set takes KEY=VALUE items, got {args.set}"
    overrides = {key: value for key, _, value in pairs}
    if not replot_study(args, VISUALIZATIONS_DIR, plot_adding):
        runs = []
        for length in args.lengths:
            for name in args.models:
                run_result = train_adding(name, length, args.data_dir, overrides)
                logger.info(
                    "T %d | %s | test MSE %.4f | solved %.3f | %.0f s",
                    length,
                    MODELS[name],
                    run_result["test_mse"],
                    run_result["test_solved"],
                    run_result["train_seconds"],
                )
                runs.append(run_result)
        epochs = sorted({r["epochs"] for r in runs})
        note = f"{', '.join(map(str, epochs))} epochs of 10,000 sequences"
        result = {"study": "adding", "baseline_mse": BASELINE_MSE, "epochs_note": note}
        save_study({**result, "runs": runs}, args, LOGS_DIR, VISUALIZATIONS_DIR, plot_adding)
        logger.info("table (baseline MSE %.4f):\n%s", BASELINE_MSE, table({"runs": runs}))
        assert all(math.isfinite(r["test_mse"]) for r in runs), "a run ended with a NaN loss"


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
