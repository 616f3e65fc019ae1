"""The adding problem at growing lengths: the Elman network against the LSTM, the same budget.

    python src/compare.py adding                      # T = 50, 100, 200; both networks
    python src/compare.py adding --lengths 50 --set max_steps=20 --name quick   # a quick look
    python src/compare.py adding --replot outputs/logs/adding.json   # redraw a saved result
    python src/compare.py speed                       # autograd, by hand, by hand folded

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

``speed`` times one training step (forward, backward, Adam) of the ``shakespeare`` network on a
batch of Tiny Shakespeare windows in three variants: autograd through the cell step by step,
the hand-written backward pass through time (``bptt_by_hand``, model.py's LSTMSequence), and
that with the embedding folded into the first layer's input projection (``fold_embedding``),
alternately in one process on one thread, from the same weights; it checks that the three give
the same loss and gradients and logs the median CPU milliseconds of each and the ratios.
"""

from __future__ import annotations

import argparse
import logging
import math
import statistics
import sys
import time
from typing import Any

import torch
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


SPEED_VARIANTS = {  # name -> (bptt_by_hand, fold_embedding)
    "autograd": (False, False),
    "by_hand": (True, False),
    "by_hand_folded": (True, True),
}


def time_steps(data_dir: str | None, repeats: int, overrides: dict[str, str]) -> dict[str, Any]:
    """Median CPU milliseconds of a training step of the shakespeare LSTM, in three variants.

    Autograd through the cell step by step; the backward pass through time by hand
    (``bptt_by_hand``); and by hand with the embedding folded into the first projection
    (``fold_embedding``). CPU time of this one thread, not wall time: the machine is shared.
    """
    torch.set_num_threads(1)  # deliberately: the variants side by side on one core
    config = model_config("lstm", "shakespeare", **overrides)
    splits = load_data(config, data_dir)
    x, y = next(iter(splits.loaders(config.batch_size, seed=config.seed)[0]))
    spec, models, optimizers = model_spec("lstm"), {}, {}
    for name, (by_hand, folded) in SPEED_VARIANTS.items():
        set_random_seed(config.seed)  # the same initial weights for all
        variant = model_config(
            "lstm",
            "shakespeare",
            **{**overrides, "bptt_by_hand": by_hand, "fold_embedding": folded},
        )
        models[name] = spec.create_model(variant, splits)
        optimizers[name] = build_optimizer(variant, models[name])
    grads = {}
    for name, model in models.items():  # the check: one step's loss and gradients agree
        loss = model.step((x, y)).loss
        loss.backward()
        grads[name] = [p.grad.clone() for p in model.parameters()]
        model.zero_grad(set_to_none=True)
    for name in models:
        for a, b in zip(grads[name], grads["autograd"]):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-6)
    seconds: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(repeats + 1):  # alternately, so that a busy machine slows all alike
        for name, model in models.items():
            start = time.process_time()
            model.step((x, y)).loss.backward()
            optimizers[name].step()
            optimizers[name].zero_grad(set_to_none=True)
            seconds[name].append(time.process_time() - start)
    result: dict[str, Any] = {"batch": list(x.shape)}
    for name, times in seconds.items():  # the first of each: warm-up
        result[f"{name}_ms"] = 1e3 * statistics.median(times[1:])
    return result


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Side-by-side studies of the LSTM.")
    p.add_argument(
        "study",
        choices=["adding", "speed"],
        help="adding: Elman against LSTM at each T; speed: autograd, by hand, by hand folded",
    )
    p.add_argument("--repeats", type=int, default=20, help="speed: timed steps of each variant")
    p.add_argument("--lengths", nargs="+", type=int, default=list(ADDING_LENGTHS))
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--name", default="adding", help="file name of the JSON and the plot")
    p.add_argument(
        "--set", nargs="*", default=[], metavar="KEY=VALUE", help="overrides for both networks"
    )
    p.add_argument("--data-dir", help="speed: Tiny Shakespeare's folder (unused by adding)")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    p.add_argument("--replot", metavar="JSON", help="redraw the plot of a saved result")
    return p


def run(args: argparse.Namespace) -> None:
    pairs = [item.partition("=") for item in args.set]
    assert all(sep for _, sep, _ in pairs), f"--set takes KEY=VALUE items, got {args.set}"
    overrides = {key: value for key, _, value in pairs}
    if args.study == "speed":
        result = time_steps(args.data_dir, args.repeats, overrides)
        logger.info(
            "a training step on a batch %s, one thread, median CPU time of %d: autograd %.1f ms, "
            "backward by hand %.1f ms (%.2fx), by hand with the embedding folded %.1f ms (%.2fx); "
            "the same loss and gradients",
            result["batch"],
            args.repeats,
            result["autograd_ms"],
            result["by_hand_ms"],
            result["autograd_ms"] / result["by_hand_ms"],
            result["by_hand_folded_ms"],
            result["autograd_ms"] / result["by_hand_folded_ms"],
        )
        return
    unknown = [t for t in args.lengths if t not in ADDING_LENGTHS]
    assert not unknown, f"no adding experiment for T = {unknown}; there are {ADDING_LENGTHS}"
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
