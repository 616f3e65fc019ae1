"""Side-by-side studies: several networks trained from scratch on one data subset and budget.

A study script (VGG's depth_study.py, GoogLeNet's compare.py, ResNet's degradation.py) says which
networks it trains and what its table and plot compare; the mechanics they share live here once:

    args = study_parser(description, "depth_study")   + the script's own options (the variants)
    config, device, splits = load_study(SPEC, args)   base experiment + overrides, seeded subset
    for each variant:
        trained = train_variant(SPEC, apply_overrides(config, {...}), splits, device)
        runs.append({...what names the variant..., **trained.record(...what it measured...)})
    save_study({**study_header(splits, config), ..., "runs": runs}, args, logs_dir, vis_dir, plot)

``--replot RESULT.json`` redraws a saved result without training: a script's run() opens with
``if replot_study(args, vis_dir, plot): return``.

Every network starts from the same seed (the same batch order, and the same initial draw for
equal shapes), trains through the engine's Trainer in memory (no checkpoints, no tracker), with
the model's augmentation of training batches if its config asks for it, and is evaluated once on
the test subset; a study that follows more than the validation curve names the splits to
evaluate after every epoch (``each_epoch``: AlexNet's ablations read training and test
accuracy). The result is one JSON file, ``<logs_dir>/<name>.json``, and one figure,
``<vis_dir>/<name>.png`` (``--name``).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

import torch

from data_utils import ArrayLoader, DatasetSplits, create_data_loaders, subsample_splits
from engine.trainer import Trainer
from engine.workflow import (
    ModelSpec,
    add_override_arguments,
    build_optimizer,
    build_scheduler,
    cli_overrides,
    load_data,
)
from utils.config import apply_overrides, load_config
from utils.device import select_device
from utils.exceptions import ConfigError
from utils.files import plain
from utils.model_stats import count_flops, count_parameters
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


def study_parser(
    description: str, experiment: str, set_help: str = "config overrides"
) -> argparse.ArgumentParser:
    """The options every study shares; the script adds its own (which variants) to the parser.

    Args:
        description: What the study compares, for ``--help``.
        experiment: The base experiment of the model's experiments.yaml, the default of both
            ``--experiment`` and ``--name``.
        set_help: Help of ``--set``, e.g. to say which of the networks the overrides reach.

    Returns:
        A parser whose namespace ``cli_overrides`` and ``load_study`` read.
    """
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--train-samples", type=int, default=10_000, help="random training subset")
    p.add_argument("--val-samples", type=int, default=2_000, help="random validation subset")
    p.add_argument("--test-samples", type=int, help="random test subset (default: all)")
    p.add_argument("--experiment", default=experiment, help="base experiment")
    p.add_argument("--name", default=experiment, help="file name of the JSON and the plot")
    add_override_arguments(p)  # --epochs, --batch-size, --learning-rate, --seed, --device
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help=set_help)
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    p.add_argument(
        "--replot", metavar="JSON", help="redraw the plot of a saved result; no training"
    )
    # the train.py options a study does not offer, so that cli_overrides reads these args
    p.set_defaults(grad_accum_steps=None, precision=None, max_steps=None)
    return p


def load_study(
    spec: ModelSpec, args: argparse.Namespace
) -> tuple[Any, torch.device, DatasetSplits]:
    """The base config (``--experiment`` plus the overrides), its device, and the data subset.

    The subset is drawn with the config's seed (``subsample_splits``), so every network of the
    study, and every rerun with the same options, sees the same examples.
    """
    config = load_config(spec.config_cls, spec.experiments_file, args.experiment)
    config = apply_overrides(config, cli_overrides(args))
    device = select_device(config.device)
    splits = subsample_splits(
        load_data(config, args.data_dir),
        args.train_samples,
        args.val_samples,
        args.test_samples,
        config.seed,
    )
    return config, device, splits


@dataclass
class TrainedVariant:
    """One network of a study after training.

    Attributes:
        model: The trained network (its structure answers model-specific questions, e.g. depth).
        parameters: Trainable parameters (utils.model_stats.count_parameters).
        flops: FLOPs of one inference on one example (utils.model_stats.count_flops).
        history: The Trainer's history: one value per epoch under "train_loss",
            "train_accuracy", "val_loss", "val_accuracy", "lr".
        test: The Evaluator's metrics on the test subset ("accuracy", "loss", ...).
        train_seconds: Wall-clock time of training, other work on a shared machine included.
        train_cpu_seconds: CPU time of this process while training.
        epoch_seconds: ``train_seconds`` so far at the end of each epoch (training and
            validation; the ``each_epoch`` evaluations are not counted).
        each_epoch: For each split asked of train_variant, the Evaluator's metrics after each
            epoch, e.g. ``each_epoch["train"][-1]["accuracy"]``.
    """

    model: Any
    parameters: int
    flops: int
    history: dict[str, list]
    test: dict[str, Any]
    train_seconds: float
    train_cpu_seconds: float
    epoch_seconds: list[float] = field(default_factory=list)
    each_epoch: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    def record(self, **measures: Any) -> dict[str, Any]:
        """The network's entry in the result JSON: its size, the given measures, its times.

        Times are rounded to 0.1 s; measures keep their order (it is the JSON's order).
        """
        return {
            "parameters": self.parameters,
            "flops": self.flops,
            **measures,
            "train_seconds": round(self.train_seconds, 1),
            "train_cpu_seconds": round(self.train_cpu_seconds, 1),
        }


def train_variant(
    spec: ModelSpec,
    config: Any,
    splits: DatasetSplits,
    device: torch.device,
    each_epoch: Sequence[str] = (),
) -> TrainedVariant:
    """Seed, build, train (timed) and test one network through the engine's Trainer, in memory.

    The Trainer runs one epoch per call, so that the splits in ``each_epoch`` can be evaluated
    between epochs (outside the timing); the numbers are those of one call for all epochs.

    Args:
        spec: How to build the network, its loss and its augmentation (another model's spec is
            fine: GoogLeNet's study trains VGG networks with VGG's spec).
        config: The network's config; its seed, optimiser, schedule, batch size and epochs
            make the budget, its own fields (e.g. ``augment``) the model's augmentation.
        splits: The study's data subset.
        device: Where the network trains.
        each_epoch: Splits to evaluate after every epoch, in eval mode and never augmented:
            "train" (the training subset, as evaluation sees it), "val", "test".

    Returns:
        The trained network with its size, per-epoch history, test metrics and times.
    """
    unknown = set(each_epoch) - {"train", "val", "test"}
    assert not unknown, f"each_epoch takes 'train', 'val' and 'test', not {sorted(unknown)}"
    set_random_seed(config.seed)  # the same initial draw and batch order for every network
    model = spec.create_model(config, splits).to(device)
    parameters, flops = count_parameters(model), count_flops(model, splits.input_shape)
    optimizer = build_optimizer(config, model)
    train_loader, val_loader, test_loader = create_data_loaders(
        spec.with_train_transform(config, splits), config.batch_size, seed=config.seed
    )
    clean_train = ArrayLoader(  # the training subset without augmentation, in order
        splits.x_train, splits.y_train, config.batch_size, transform=splits.transform
    )
    measured = {"train": clean_train, "val": val_loader, "test": test_loader}
    trainer = Trainer(
        model,
        optimizer,
        spec.create_criterion(config),
        device,
        config,
        build_scheduler(config, optimizer),
    )
    seconds, cpu_seconds, epoch_seconds = 0.0, 0.0, []
    per_epoch: dict[str, list[dict[str, Any]]] = {name: [] for name in each_epoch}
    for epoch in range(1, config.epochs + 1):
        start, cpu_start = time.perf_counter(), time.process_time()
        trainer.train(train_loader, val_loader, epoch)  # on from where the last call stopped
        seconds += time.perf_counter() - start
        cpu_seconds += time.process_time() - cpu_start
        if trainer.epoch < epoch:  # max_steps ended the run inside this epoch
            break
        epoch_seconds.append(seconds)
        for name in each_epoch:
            per_epoch[name].append(trainer.evaluator.evaluate(measured[name]))
        if _stopped(trainer, config):
            break
    test = trainer.evaluator.evaluate(test_loader)
    return TrainedVariant(
        model,
        parameters,
        flops,
        trainer.history,
        test,
        seconds,
        cpu_seconds,
        epoch_seconds,
        per_epoch,
    )


def _stopped(trainer: Trainer, config: Any) -> bool:
    """The Trainer ended the run before ``config.epochs``: early stopping or ``max_steps``."""
    patience = config.early_stopping_patience
    early = patience is not None and trainer.bad_epochs >= patience
    spent = config.max_steps is not None and trainer.global_step >= config.max_steps
    return early or spent


def study_header(splits: DatasetSplits, config: Any) -> dict[str, Any]:
    """What every study result opens with: the data set, the subset sizes and the epochs."""
    return {
        "dataset": splits.name,
        "train_samples": len(splits.y_train),
        "val_samples": len(splits.y_val),
        "test_samples": len(splits.y_test),
        "epochs": config.epochs,
    }


def save_study(
    result: dict[str, Any],
    args: argparse.Namespace,
    logs_dir: Path,
    vis_dir: Path,
    plot: Callable[[dict[str, Any], Path], Path],
) -> tuple[Path, Path]:
    """Write ``<logs_dir>/<name>.json`` and draw ``<vis_dir>/<name>.png``; with ``--json`` also
    print the result as the last line of stdout.

    Args:
        result: The study's result: dicts, lists, numbers and strings (NumPy and tensor numbers
            are converted by utils.files.plain).
        args: The parsed study options (``--name``, ``--json``).
        logs_dir: The model's outputs/logs folder (created if missing).
        vis_dir: The model's outputs/visualizations folder.
        plot: The study's figure, ``(result, path) -> path``.

    Returns:
        The paths of the JSON file and of the figure.
    """
    out = logs_dir / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    result = plain(result)  # NumPy or tensor numbers a script measured become JSON numbers
    out.write_text(json.dumps(result, indent=2) + "\n")
    figure = plot(result, vis_dir / f"{args.name}.png")
    logger.info("written %s and %s", out, figure)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return out, figure


def replot_study(
    args: argparse.Namespace, vis_dir: Path, plot: Callable[[dict[str, Any], Path], Path]
) -> Path | None:
    """With ``--replot RESULT.json``, redraw that saved result as ``<vis_dir>/<stem>.png``.

    Returns:
        The redrawn figure, or None when ``--replot`` was not given (the study then trains).

    Raises:
        ConfigError: If the saved result cannot be read.
    """
    if not args.replot:
        return None
    saved = Path(args.replot)
    figure = plot(read_result(saved), vis_dir / f"{saved.stem}.png")
    logger.info("redrawn %s", figure)
    return figure


def read_result(path: Path) -> dict[str, Any]:
    """A saved study result (to redraw its plot without training).

    Raises:
        ConfigError: If the file cannot be read or is not JSON.
    """
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ConfigError(f"{path}: not a readable result JSON ({err})") from err
