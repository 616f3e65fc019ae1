"""The train.py and evaluate.py workflows every model shares (architecture sections 6, 7, 9, 10).

A model folder is described by a ``ModelSpec`` (its name, config class, experiments file and how
to build the model and its loss), which ``spec_from_folder`` reads from the folder's conventional
names; its ``src/train.py`` / ``src/evaluate.py`` call ``train_main(SPEC)`` /
``evaluate_main(SPEC)``. The steps live here once:

    train:    args -> (--resume checkpoint) -> config -> seed, device, process group (torchrun)
              -> run name, logging -> data (this rank's shard) -> model (--load-checkpoint
              weights) -> optimizer, scheduler -> Trainer (--resume state) -> train
              -> final checkpoint + safetensors -> plots (--visualize)
    evaluate: checkpoint -> its config -> the same data split -> model with its weights
              -> Evaluator on the test split -> JSON (--json prints it last on stdout) -> plots

Errors of the project's own types end the program with one log line and exit code 1; no traceback.
Under torchrun every process runs this workflow; rank 0 alone writes logs, metrics, checkpoints,
wandb and plots (docs/engine.md).
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib
import json
import logging
import math
import sys
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from data_utils import ArrayLoader, DatasetSplits, Splits, TrainTransform, load_dataset
from engine import distributed
from engine.checkpoint import (
    CheckpointManager,
    check_compatible,
    export_safetensors,
    resolve_checkpoint,
)
from engine.evaluator import Evaluator
from engine.modelio import evaluating, load_model_state, model_state
from engine.tracking import Tracker
from engine.trainer import (
    RunContext,
    Trainer,
    TrainingInterrupted,
    resume_changes,
    resume_refusal,
)
from utils.config import (
    BaseConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    load_experiments,
)
from utils.device import select_device
from utils.exceptions import (
    AIFromScratchError,
    CheckpointError,
    ConfigError,
    ModelError,
    OutputError,
)
from utils.files import atomic_write, plain
from utils.log import setup_logging
from utils.metadata import save_run_metadata
from utils.paths import RunPaths
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ModelSpec:
    """How the shared workflow builds one model.

    Attributes:
        name: Model identity stored in checkpoints (e.g. "perceptron"); loading another's fails.
        model_dir: The model folder (its outputs/ go below it).
        config_cls: The model's config dataclass (subclass of utils.config.BaseConfig).
        experiments_file: YAML file of named experiments.
        create_model: ``(config, splits) -> model``.
        create_criterion: ``(config) -> criterion(scores, y)``.
        visualize: Optional ``(model, splits, vis_dir, prefix) -> {name: path}`` for model-specific
            plots, called after the standard ones with ``--visualize``.
        eval_data: Optional ``(model, config, splits) -> (x, y)``: what evaluate.py measures
            instead of the test split, for models whose test is defined by what they learned
            (a Hopfield network is tested on corrupted copies of its own memories). The JSON
            names it: ``"split": <function name>``.
        train_transform: Optional ``(config, splits) -> transform or None``: the model's
            augmentation of training batches (``data_utils.TrainTransform``), which the training
            loader applies and evaluation never does; None from the hook means none for this
            config (e.g. ``augment: false``).
    """

    name: str
    model_dir: Path
    config_cls: type
    experiments_file: Path
    create_model: Callable[[Any, Splits], Any]
    create_criterion: Callable[[Any], Callable]
    visualize: Callable[..., dict[str, Path]] | None = None
    eval_data: Callable[[Any, Any, DatasetSplits], tuple[torch.Tensor, torch.Tensor]] | None = None
    train_transform: Callable[[Any, DatasetSplits], TrainTransform | None] | None = None

    def with_train_transform(self, config: Any, splits: Splits) -> Splits:
        """``splits`` whose training loader applies this model's augmentation for ``config``.

        Data without a model hook, or of another kind than DatasetSplits, is returned as is.
        """
        if self.train_transform is None or not isinstance(splits, DatasetSplits):
            return splits
        transform = self.train_transform(config, splits)
        return dataclasses.replace(splits, train_transform=transform)


def spec_from_folder(model_dir: Path | str) -> ModelSpec:
    """A model folder's ``ModelSpec``, read from the names every folder defines (architecture 8).

    Called by the folder's own ``src/train.py`` (``SPEC = spec_from_folder(...)``), where the
    folder's ``src/`` modules are importable by their sibling names: run as a script, or imported
    by ``utils.modules.load_model_modules``. It reads

        constants.MODEL_NAME             the name stored in checkpoints
        config.py                        the one ``BaseConfig`` subclass it defines
        model.create_model               ``(config, splits) -> model``
        model.create_criterion           ``(config) -> criterion(scores, y)``
        model.train_transform (optional) its training-batch augmentation (``ModelSpec``)
        analysis.visualize (optional)    the model's own plots (``ModelSpec.visualize``)
        analysis.eval_data (optional)    what evaluate.py measures (``ModelSpec.eval_data``)
        src/experiments.yaml             the named experiments

    Raises:
        ModelError: A conventional name is missing, or ``src/`` is not the one being imported.
    """
    model_dir = Path(model_dir).resolve()
    src_dir = model_dir / "src"
    modules = {}
    for name in ("constants", "config", "model", "analysis"):
        if not (src_dir / f"{name}.py").is_file():
            continue
        module = importlib.import_module(name)
        if Path(module.__file__).resolve().parent != src_dir:
            raise ModelError(
                f"spec_from_folder({model_dir}) found {name} at {module.__file__}: call it from "
                "that folder's src/train.py (or load the folder with utils.modules)"
            )
        modules[name] = module
    missing = [name for name in ("constants", "config", "model") if name not in modules]
    if missing:
        raise ModelError(f"{src_dir} has no {', '.join(f'{name}.py' for name in missing)}")
    config = modules["config"]
    config_classes = [
        value
        for value in vars(config).values()
        if isinstance(value, type)
        and issubclass(value, BaseConfig)
        and value.__module__ == config.__name__
    ]
    if len(config_classes) != 1:
        raise ModelError(f"{config.__file__} must define one BaseConfig subclass")
    constants, model = modules["constants"], modules["model"]
    for module, attr in (
        (constants, "MODEL_NAME"),
        (model, "create_model"),
        (model, "create_criterion"),
    ):
        if not hasattr(module, attr):
            raise ModelError(f"{module.__file__} defines no {attr}")
    hooks = vars(modules["analysis"]) if "analysis" in modules else {}
    return ModelSpec(
        name=constants.MODEL_NAME,
        model_dir=model_dir,
        config_cls=config_classes[0],
        experiments_file=src_dir / "experiments.yaml",
        create_model=model.create_model,
        create_criterion=model.create_criterion,
        visualize=hooks.get("visualize"),
        eval_data=hooks.get("eval_data"),
        train_transform=getattr(model, "train_transform", None),
    )


# ------------------------------------------------------------------------------------ arguments


def add_override_arguments(p: argparse.ArgumentParser) -> None:
    """The config overrides that train.py and the study scripts (engine.study) both offer.

    ``cli_overrides`` reads them, together with --grad-accum-steps, --precision, --max-steps and
    --set.
    """
    p.add_argument("--epochs", help="override the number of epochs")
    p.add_argument("--batch-size", help="override the batch size")
    p.add_argument("--learning-rate", help="override the learning rate")
    p.add_argument("--seed", help="random seed (data split, init, shuffling)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")


def train_parser(spec: ModelSpec) -> argparse.ArgumentParser:
    """The train.py arguments of architecture section 10, plus resume and generic overrides."""
    p = argparse.ArgumentParser(description=f"Train {spec.name}.")
    p.add_argument("--experiment", required=True, help="experiment name from experiments.yaml")
    add_override_arguments(p)
    p.add_argument("--grad-accum-steps", help="batches accumulated into one optimizer step")
    p.add_argument("--precision", help="fp32 (default) or bf16 (autocast, CPU or GPU)")
    p.add_argument("--max-steps", help="stop after this many optimizer steps ('none': no limit)")
    start = p.add_mutually_exclusive_group()
    start.add_argument(
        "--load-checkpoint",
        help="load weights from this checkpoint, then train afresh: a path, 'latest' / 'best' of "
        "--experiment, or a wandb model artifact wandb:ENTITY/PROJECT/NAME:VERSION (fetched only "
        "when wandb is online: WANDB_MODE=online and logged in)",
    )
    start.add_argument(
        "--resume",
        help="continue a run exactly from a checkpoint path, or 'latest' of --experiment "
        "(options given with it change the stored config where docs/engine.md's resume table "
        "allows, e.g. --epochs, --max-steps, --learning-rate; others are refused)",
    )
    p.add_argument("--no-save-checkpoint", action="store_true", help="do not write checkpoints")
    p.add_argument("--no-wandb", action="store_true", help="disable wandb for this run")
    p.add_argument("--tags", nargs="*", default=[], help="wandb tags")
    p.add_argument("--visualize", action="store_true", help="save plots to outputs/visualizations")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    p.add_argument(
        "--set",
        nargs="*",
        default=[],
        metavar="KEY=VALUE",
        help="override any config field, e.g. --set grad_clip=1.0 early_stopping_patience=5",
    )
    return p


def evaluate_parser(spec: ModelSpec) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=f"Evaluate a trained {spec.name} checkpoint.")
    p.add_argument(
        "--checkpoint",
        required=True,
        help="checkpoint path (a .pt file), or 'latest' / 'best' of --experiment: 'latest' is "
        "the newest checkpoint, 'best' the best by the monitored validation metric over all "
        "runs of the experiment that monitor the same metric; or a wandb model artifact "
        "wandb:ENTITY/PROJECT/NAME:VERSION (fetched only when wandb is online: WANDB_MODE=online "
        "and logged in)",
    )
    p.add_argument(
        "--experiment",
        help="data to evaluate on (default: the checkpoint's own; another experiment is said "
        "in the log and the JSON's trained_on)",
    )
    p.add_argument("--visualize", action="store_true", help="save plots to outputs/visualizations")
    p.add_argument("--json", action="store_true", help="print the metrics JSON as the last line")
    p.add_argument(
        "--samples",
        type=int,
        default=0,
        metavar="N",
        help="also draw N samples from a generative model (text or images), seeded",
    )
    p.add_argument("--sample-seed", type=int, help="seed of the samples (default: the config's)")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR, then the cache)")
    return p


def cli_overrides(args: argparse.Namespace) -> dict[str, str]:
    """Collect the config overrides given on the command line (values stay strings)."""
    overrides = {
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.learning_rate,
        "seed": args.seed,
        "device": args.device,
        "grad_accum_steps": args.grad_accum_steps,
        "precision": args.precision,
        "max_steps": args.max_steps,
    }
    for item in args.set:
        key, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--set expects KEY=VALUE, got {item!r}")
        overrides[key.strip()] = value
    return {k: v for k, v in overrides.items() if v is not None}


def run_cli(main: Callable[[], int]) -> int:
    """Run an entry point, turning the project's errors into one log line and exit code 1.

    Ctrl-C inside the training loop is the Trainer's (an interrupt checkpoint, exit 0); anywhere
    else (start-up, data loading, evaluation, plots) it is one log line and exit code 130.
    """
    setup_logging()
    try:
        return main()
    except TrainingInterrupted as stop:
        return stop.exit_code
    except AIFromScratchError as err:
        logger.error("%s: %s", type(err).__name__, err)
        return 1
    except KeyboardInterrupt:
        logger.error("interrupted (Ctrl-C) outside the training loop: no interrupt checkpoint")
        return 130  # 128 + SIGINT, the shell's code for a command stopped by Ctrl-C


def script_main(
    parser: argparse.ArgumentParser,
    run: Callable[[argparse.Namespace], Any],
    argv: list[str] | None = None,
) -> int:
    """Entry point of a model folder's own scripts (compare.py, shift.py, capacity.py, studies).

    ``sys.exit(script_main(parser(), run))`` at the end of a script parses the command line and
    calls ``run(args)`` through :func:`run_cli`: the project's errors end the script with one log
    line and exit code 1; a ``run`` that returns, whatever it returns, is exit code 0.

    Args:
        parser: The script's options.
        run: What the script does with them.
        argv: The arguments (default: the command line).

    Returns:
        The process exit code.
    """
    args = parser.parse_args(argv)

    def run_with_args() -> int:
        run(args)
        return 0

    return run_cli(run_with_args)


def write_result(result: dict[str, Any], path: Path, print_json: bool = False) -> dict[str, Any]:
    """Save what a model's script measured as JSON; with ``print_json``, print it last on stdout.

    The values are made plain first (utils.files.plain: NumPy and tensor numbers become JSON
    numbers) and the file is replaced atomically (utils.files.atomic_write), so a reader never
    sees half a result. ``print_json`` is the scripts' ``--json``: the last line of stdout is
    then the result, where tests and tools read it.

    Args:
        result: What the script measured: dicts, lists, numbers and strings.
        path: The JSON file, usually below the model's outputs/logs (folders are created).
        print_json: Also write the result as one line to stdout.

    Returns:
        The plain result, as written.

    Raises:
        OutputError: The file cannot be written.
    """
    result = plain(result)
    try:
        with atomic_write(path, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(result, indent=2) + "\n")
    except OSError as err:
        raise OutputError(f"cannot write the result {path}: {err}") from err
    logger.info("result written to %s", path)
    if print_json:
        sys.stdout.write(json.dumps(result) + "\n")
    return result


# ------------------------------------------------------------------------------------ builders


def build_optimizer(
    config: Any,
    model: Any,
    params: list[dict[str, Any]] | None = None,
    betas: tuple[float, float] | None = None,
) -> torch.optim.Optimizer | dict[str, torch.optim.Optimizer] | None:
    """The optimizer named by ``config.optimizer``; None for NumPy models or 'none'.

    A model that needs more than one (a GAN's generator and discriminator) builds them itself:
    ``configure_optimizers(config) -> {name: optimizer}``, passed to its ``train_step``. One
    that needs other parameter groups (``decay_matrices_only``) or Adam's betas calls this
    function from its ``configure_optimizers`` with ``params`` and ``betas``.
    """
    if params is None and hasattr(model, "configure_optimizers"):
        return model.configure_optimizers(config)
    if config.optimizer == "none" or not isinstance(model, torch.nn.Module):
        return None
    params = params or [p for p in model.parameters() if p.requires_grad]
    impl = {"default": {}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    options = {"lr": config.lr, "weight_decay": config.weight_decay, **impl[config.optimizer_impl]}
    if config.optimizer == "sgd":
        options["momentum"] = config.momentum
    elif betas is not None:
        options["betas"] = betas
    cls = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "adamw": torch.optim.AdamW}
    try:
        return cls[config.optimizer](params, **options)
    except RuntimeError as err:  # e.g. fused on a device torch has no fused kernel for
        raise ConfigError(
            f"optimizer_impl {config.optimizer_impl!r} is not available for {config.optimizer} "
            f"here ({err}); use optimizer_impl=default"
        ) from err


def decay_matrices_only(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """Two parameter groups: weight decay on the weight matrices (dim 2: linear layers and
    embeddings), none on biases, norm gains, class tokens and position tables (GPT-2, BERT and
    DeiT's rule; nanoGPT's configure_optimizers)."""
    params = [p for p in model.parameters() if p.requires_grad]
    return [
        {"params": [p for p in params if p.dim() == 2], "weight_decay": weight_decay},
        {"params": [p for p in params if p.dim() != 2], "weight_decay": 0.0},
    ]


def build_scheduler(
    config: Any, optimizer: torch.optim.Optimizer | None, steps_per_epoch: int = 1
) -> Any | None:
    """The LR scheduler named by ``config.scheduler``.

    "step", "cosine" and "plateau" are stepped once per epoch; the "warmup_" two once per
    optimizer step (utils.config.PER_STEP_SCHEDULERS). Both rise linearly from lr / warmup_steps
    to lr over ``warmup_steps`` steps; then "warmup_cosine" decays along a cosine to
    ``min_lr_ratio * lr`` at the run's last step (``max_steps``, else ``epochs *
    steps_per_epoch``), and "warmup_inverse_sqrt" as 1 / sqrt(step), the Transformer's eq. 3
    (Vaswani et al. 2017) with ``lr`` its peak, which needs no run length.
    """
    if not isinstance(optimizer, torch.optim.Optimizer) or config.scheduler == "none":
        return None
    if config.scheduler == "warmup_cosine":
        total = config.max_steps or config.epochs * steps_per_epoch
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, partial(warmup_cosine, config.warmup_steps, total, config.min_lr_ratio)
        )
    if config.scheduler == "warmup_inverse_sqrt":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, partial(warmup_inverse_sqrt, config.warmup_steps)
        )
    if config.scheduler == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, config.step_size, gamma=config.gamma)
    if config.scheduler == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    return torch.optim.lr_scheduler.ReduceLROnPlateau(
        optimizer, mode=config.monitor_mode, factor=config.gamma, patience=config.step_size
    )


def warmup_cosine(warmup: int, total: int, floor: float, step: int) -> float:
    """The lr multiplier after ``step`` optimizer steps: linear warm-up, then cosine to floor."""
    if step < warmup:
        return (step + 1) / warmup
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))


def warmup_inverse_sqrt(warmup: int, step: int) -> float:
    """The lr multiplier after ``step`` optimizer steps: min(s / warmup, sqrt(warmup / s)).

    With s = step + 1 (the step being taken), this is eq. 3 of "Attention Is All You Need",
    d_model^-0.5 * min(s^-0.5, s * warmup^-1.5), divided by its peak d_model^-0.5 *
    warmup^-0.5: a linear rise to 1 at s = warmup, then a decay as 1 / sqrt(s).
    """
    s = step + 1
    if warmup == 0:
        return s**-0.5
    return min(s / warmup, (warmup / s) ** 0.5)


def apply_threads(config: Any) -> None:
    """Set torch's CPU thread count from ``config.num_threads`` (None keeps torch's default)."""
    if config.num_threads is not None:
        torch.set_num_threads(config.num_threads)
    logger.info("torch uses %d CPU threads", torch.get_num_threads())


def load_data(config: Any, data_dir: str | None, spec: ModelSpec | None = None) -> Splits:
    """The experiment's dataset, split exactly as every run with this config splits it.

    Given the model's spec, the training loader of the splits applies the model's augmentation
    (``ModelSpec.train_transform``); validation and test batches are never augmented.
    """
    splits = load_dataset(
        config.dataset,
        seed=config.seed,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        standardize=config.standardize,
        data_dir=data_dir,
        **config.data_options,
    )
    return spec.with_train_transform(config, splits) if spec is not None else splits


# ------------------------------------------------------------------------------------ training


def train_main(spec: ModelSpec, argv: list[str] | None = None) -> int:
    """Entry point of every model's ``src/train.py``; returns the process exit code."""
    args = train_parser(spec).parse_args(argv)
    return run_cli(lambda: _train(spec, args))


def _train(spec: ModelSpec, args: argparse.Namespace) -> int:
    resume = _resume_checkpoint(spec, args)
    config = _train_config(spec, args, resume)
    if resume and (done := _nothing_left(resume, config)):
        logger.info("%s; no checkpoint written", done)
        return 0
    apply_threads(config)
    set_random_seed(config.seed, deterministic=config.deterministic)
    device = distributed.setup(select_device(config.device))
    finished = False
    try:
        code = _train_in_process_group(spec, args, config, device, resume)
        finished = True
        return code
    finally:
        distributed.cleanup(finished)


def _train_in_process_group(spec, args, config, device, resume) -> int:
    main = distributed.is_main_process()
    paths = _run_paths(spec, config, resume)
    setup_logging(paths.log_file if main else None, level=logging.INFO if main else logging.WARNING)
    if resume:
        logger.info("resuming run %s from %s", paths.run_name, resume["path"])
    logger.info("run %s | model %s | experiment %s", paths.run_name, spec.name, config.experiment)

    splits = distributed.main_process_first(lambda: load_data(config, args.data_dir, spec))
    model = spec.create_model(config, splits)
    distributed.check_supported(model)
    train_loader, val_loader, _ = splits.loaders(
        distributed.per_rank_batch_size(config.batch_size),
        seed=config.seed,
        rank=distributed.rank(),
        world_size=distributed.world_size(),
    )
    logger.info("data %s | %s", splits.name, splits.summary())
    if hasattr(model, "to"):
        model = model.to(device)
    if args.load_checkpoint:
        state = resolve_checkpoint(args.load_checkpoint, _experiment_dir(spec, config.experiment))
        check_compatible(state, spec.name, model_state(model))
        load_model_state(model, state["model_state"])
        logger.info("loaded weights from %s; training afresh", state["path"])
    optimizer = build_optimizer(config, model)
    steps_per_epoch = math.ceil(len(train_loader) / config.grad_accum_steps)
    scheduler = build_scheduler(config, optimizer, steps_per_epoch)

    tracker = None
    if main:
        tracker = Tracker(
            paths.metrics_file,
            run_name=paths.run_name,
            config=config_to_dict(config),
            wandb_enabled=not args.no_wandb,
            wandb_dir=paths.logs_dir,
            tags=args.tags,
            resume_step=resume["global_step"] if resume else None,
            run_id=resume.get("run", {}).get("wandb_run_id") if resume else None,
        )
    run = RunContext(
        model_name=spec.name,
        tracker=tracker,
        checkpoints=(
            CheckpointManager(
                _experiment_dir(spec, config.experiment),
                paths.run_name,
                keep_last=config.keep_last,
                mode=config.monitor_mode,
                monitor=config.monitor,
            )
            if main and not args.no_save_checkpoint
            else None
        ),
        extra_state={
            "config": config_to_dict(config),
            "data": splits.facts(),
            "run": {
                "run_name": paths.run_name,
                "wandb_run_id": tracker.run_id if tracker else None,
                "world_size": distributed.world_size(),
            },
        },
    )
    if main:
        meta = paths.metadata_file
        if resume:  # the original run's metadata stays; each resume gets its own file
            meta = _resume_metadata_file(paths, resume["global_step"])
        save_run_metadata(meta, config, seed=config.seed, extra={"argv": sys.argv})
    trainer = Trainer(
        model, optimizer, spec.create_criterion(config), device, config, scheduler, run
    )
    if resume:
        trainer.load_state_dict(resume)
    try:
        history = trainer.train(train_loader, val_loader, config.epochs)
    finally:
        if tracker is not None:
            tracker.finish()
    _after_training(spec, args, config, paths, trainer, splits, history)
    return 0


def _experiment_dir(spec: ModelSpec, experiment: str) -> Path:
    """``outputs/models/<experiment>/``: one experiment's checkpoints and latest/best pointers.

    Raises:
        ConfigError: The experiment is not in the model's experiments file and has no folder
            (a typo, not "train it first"): the message lists the experiments. A folder of an
            experiment since removed from the file still counts, so its checkpoints stay usable.
    """
    folder = Path(spec.model_dir) / "outputs" / "models" / experiment
    if not folder.is_dir():
        experiments = load_experiments(spec.experiments_file)
        if experiment not in experiments:
            raise ConfigError(
                f"unknown experiment {experiment!r} in {spec.experiments_file}; "
                f"available: {', '.join(sorted(experiments)) or '(none)'}"
            )
    return folder


def _resume_checkpoint(spec: ModelSpec, args: argparse.Namespace) -> dict[str, Any] | None:
    """The checkpoint named by ``--resume`` (a path, or ``latest`` of ``--experiment``)."""
    if not args.resume:
        return None
    state = resolve_checkpoint(args.resume, _experiment_dir(spec, args.experiment))
    if state.get("model_name") != spec.name:
        raise CheckpointError(
            f"{state['path']} holds model {state.get('model_name')!r}, not {spec.name!r}"
        )
    return state


def _nothing_left(resume: dict[str, Any], config: Any) -> str | None:
    """Why a resumed run has nothing to train (all epochs done, budget spent, stopped early)."""
    run = resume.get("run", {}).get("run_name") or resume["path"]
    epoch, step, bad = resume["epoch"], resume["global_step"], resume.get("bad_epochs", 0)
    if epoch >= config.epochs:
        why = resume_refusal("epochs", config)
        more = (
            f"pass --epochs M (more than {epoch}) to train longer"
            if why is None
            else f"{why}; to train longer start a new run from its weights with "
            f"--load-checkpoint {resume['path']} --epochs M"
        )
        return (
            f"run {run} already finished (epoch {epoch} of {config.epochs}); nothing to do: {more}"
        )
    if config.max_steps is not None and step >= config.max_steps:
        return (
            f"run {run} already took its max_steps {config.max_steps} optimizer steps; nothing "
            f"to do: pass --max-steps M (more than {step}) or --max-steps none to continue"
        )
    patience = config.early_stopping_patience
    if patience is not None and bad >= patience:
        return (
            f"run {run} stopped early after epoch {epoch} ({config.monitor} did not improve for "
            f"{bad} epochs); nothing to do: pass --set early_stopping_patience=M (more than "
            f"{bad}) or early_stopping_patience=none to continue"
        )
    return None


def _resume_metadata_file(paths: RunPaths, step: int) -> Path:
    """``<run>.resumed-stepNNNNNNN.meta.yaml``, with ``-2``, ``-3``... for later resumes from the
    same step: one resume's metadata never replaces another's."""
    base = f"{paths.run_name}.resumed-step{step:07d}"
    meta, count = paths.logs_dir / f"{base}.meta.yaml", 1
    while meta.exists():
        count += 1
        meta = paths.logs_dir / f"{base}-{count}.meta.yaml"
    return meta


def _train_config(spec: ModelSpec, args: argparse.Namespace, resume: dict | None) -> Any:
    """The experiment's config with the CLI overrides; when resuming, the checkpoint's config.

    A resumed run continues with the config it was started with (a later edit of
    experiments.yaml does not change a run half-way); options given on the command line apply
    where ``engine.trainer.RESUME_RULES`` allows (e.g. ``--epochs`` to train longer) and are
    refused with a ConfigError elsewhere (e.g. ``--seed``).
    """
    overrides = cli_overrides(args)
    if resume is None:
        config = load_config(spec.config_cls, spec.experiments_file, args.experiment)
        return apply_overrides(config, overrides)
    if "config" not in resume:
        raise CheckpointError(
            f"{resume['path']} stores no config, so it cannot be resumed exactly: use "
            "--load-checkpoint to start a new run from its weights"
        )
    config = config_from_dict(spec.config_cls, resume["config"])
    if config.experiment != args.experiment:
        raise ConfigError(
            f"{resume['path']} is a checkpoint of experiment {config.experiment!r}, "
            f"not {args.experiment!r}: pass --experiment {config.experiment}"
        )
    config = apply_overrides(config, overrides)
    changes = resume_changes(resume["config"], config, checkpoint=str(resume["path"]))
    if changes:
        logger.info(
            "changed on resume: %s",
            ", ".join(f"{name} {old!r} -> {new!r}" for name, (old, new) in changes.items()),
        )
    return config


def _run_paths(spec: ModelSpec, config: Any, resume: dict | None) -> RunPaths:
    """A new run name, or the resumed run's (its log and metrics continue); rank 0 chooses."""
    run_name = resume.get("run", {}).get("run_name") if resume else None
    if distributed.is_main_process():
        run_name = RunPaths.create(spec.model_dir, config.experiment, run_name=run_name).run_name
    run_name = distributed.broadcast_object(run_name)
    return RunPaths.create(spec.model_dir, config.experiment, run_name=run_name)


def _after_training(spec, args, config, paths, trainer, splits, history) -> None:
    final = trainer.save("final")  # every process calls it; rank 0 writes
    if not distributed.is_main_process():
        return
    if final is not None:
        weights = export_safetensors(
            model_state(trainer.model), Path(final).with_suffix(".safetensors")
        )
        logger.info("checkpoint %s (weights only: %s)", final, weights.name)
        trainer.run.tracker.log_artifact(
            Path(final), f"{spec.name}-{config.experiment}", {"epoch": trainer.epoch}
        )
    logger.info(_summary(config, paths, trainer, history, final))
    if args.visualize:
        val_loader = splits.loaders(config.batch_size, seed=config.seed)[1]
        figures = make_plots(
            spec,
            trainer.model,
            trainer.evaluator,
            splits,
            val_loader,
            paths.vis_dir,
            history=history,
            prefix=f"{config.experiment}_train",
        )
        logger.info("plots: %s", ", ".join(str(p) for p in figures.values()))


def _summary(config, paths, trainer, history, final: str | None) -> str:
    """One line: the monitored metric's best and final values, and where the run's files are."""
    name = config.monitor
    rows = [(e, v) for e, v in zip(history["epoch"], history.get(name, [])) if v is not None]
    if rows:
        pick = max if config.monitor_mode == "max" else min
        best = pick(rows, key=lambda row: row[1])
        metric = f"{name} best {best[1]:.4f} (epoch {best[0]}), final {rows[-1][1]:.4f}"
    else:
        metric = f"{name}: no epoch completed"
    checkpoint = final if final is not None else "none (--no-save-checkpoint)"
    return (
        f"run {paths.run_name} ended: epoch {trainer.epoch}, step {trainer.global_step} | "
        f"{metric} | checkpoint {checkpoint} | log {paths.log_file} | "
        f"metrics {paths.metrics_file}"
    )


def make_plots(
    spec, model, evaluator, splits, loader, vis, history=None, prefix="", scored_split=None
) -> dict[str, Path]:
    """The standard plots (plus the model's own) for one model on one loader, written to ``vis``.

    The confusion matrix is of the loader. The decision boundary of a 2-D model shows the
    training points (at training time, ``scored_split`` None), or, given ``scored_split`` (the
    name of the split the loader holds, e.g. "test" in evaluate.py), the loader's points: what
    was scored. Its title names the points either way.
    """
    import plotting

    figures: dict[str, Path] = {}
    if history is not None and history["epoch"]:
        figures["learning_curves"] = plotting.plot_learning_curves(
            history, vis / f"{prefix}_curves.png"
        )
    audited = [
        v
        for r in (history or {}).get("audit", [])
        for layer in r["layers"].values()
        for v in layer.values()
        if v is not None
    ]
    if audited:  # e.g. weights that start at zero have no update ratio on the first audit
        figures["gradient_audit"] = plotting.plot_gradient_audit(
            history["audit"], vis / f"{prefix}_audit.png"
        )
    predicted = evaluator.predict(loader) if isinstance(splits, DatasetSplits) else None
    if predicted is None:  # not a classifier: no confusion matrix, no decision regions
        return _with_model_plots(spec, model, splits, vis, prefix, figures)
    y_true, y_pred = predicted
    figures["confusion_matrix"] = plotting.plot_confusion_matrix(
        y_true, y_pred, list(splits.class_names), vis / f"{prefix}_confusion.png"
    )
    if splits.input_shape == (2,):  # the points, under the regions the model predicts
        if scored_split is None:
            x, y, points = splits.x_train, splits.y_train, "training"
        else:  # as the loader gave them to the model (transformed, if the data has a transform)
            batches = list(loader)
            x = torch.cat([xb for xb, _ in batches])  # (N, 2)
            y = torch.cat([yb for _, yb in batches])  # (N,)
            points = scored_split
        figures["decision_boundary"] = plotting.plot_decision_boundary(
            lambda grid: _predict_array(evaluator, grid),
            x.numpy(),
            y.numpy(),
            vis / f"{prefix}_boundary.png",
            title=f"{spec.name}: {splits.name} ({points} points)",
            class_names=list(splits.class_names),
        )
    return _with_model_plots(spec, model, splits, vis, prefix, figures)


def _with_model_plots(spec, model, splits, vis, prefix, figures) -> dict[str, Path]:
    """Add the model's own plots (``spec.visualize``) to the shared ones."""
    if spec.visualize is not None:
        figures.update(spec.visualize(model, splits, vis, prefix))
    return figures


def _predict_array(evaluator: Evaluator, x: np.ndarray) -> np.ndarray:
    tensor = torch.as_tensor(x, dtype=torch.float32)
    return evaluator.predict([(tensor, torch.zeros(len(tensor), dtype=torch.int64))])[1]


# ---------------------------------------------------------------------------------- evaluation


def write_samples(model: Any, num: int, seed: int, stem: Path) -> Path:
    """Draw ``num`` samples from a generative model and write them where a learner looks.

    The model defines ``sample(num, generator) -> str | Tensor``: text (a language model's
    continuation) goes to ``<stem>.txt`` and into the log; images (N, C, H, W) in [0, 1] to
    ``<stem>.png`` as a grid. The same seed gives the same samples.

    Raises:
        ConfigError: The model does not generate (no ``sample``), or ``num`` < 1.
    """
    if not hasattr(model, "sample"):
        raise ConfigError(f"{type(model).__name__} does not generate samples: drop --samples")
    if num < 1:
        raise ConfigError(f"--samples takes a number of samples >= 1 (got {num})")
    generator = torch.Generator().manual_seed(seed)
    with evaluating(model):
        samples = model.sample(num, generator)
    if isinstance(samples, str):
        path = stem.with_suffix(".txt")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(samples + "\n", encoding="utf-8")
        logger.info("samples (seed %d), written to %s:\n%s", seed, path, samples)
        return path
    import plotting

    path = plotting.plot_samples(
        samples.cpu(), stem.with_suffix(".png"), f"{num} samples, seed {seed}"
    )
    logger.info("samples (seed %d) drawn in %s", seed, path)
    return path


def evaluate_main(spec: ModelSpec, argv: list[str] | None = None) -> int:
    """Entry point of every model's ``src/evaluate.py``; returns the process exit code."""
    args = evaluate_parser(spec).parse_args(argv)
    return run_cli(lambda: _evaluate(spec, args))


def load_trained(
    spec: ModelSpec,
    checkpoint: str,
    experiment: str | None = None,
    data_dir: str | None = None,
    device: torch.device | None = None,
) -> tuple[Any, Any, Splits, dict[str, Any]]:
    """A checkpoint's model with its weights, its config, its data splits, and the checkpoint.

    Never falls back to fresh weights: a missing, unreadable or mismatched checkpoint raises.
    A checkpoint evaluated on another experiment's data is said so in the log; the experiment
    it was trained on stays in ``state["config"]["experiment"]``.

    Args:
        spec: The model's spec.
        checkpoint: A path, or "latest" / "best" of ``experiment`` ("best": the best checkpoint
            over all runs of the experiment that monitor the same metric).
        experiment: Data to use; default the checkpoint's own experiment (with its stored seed
            and fractions, so the test split is exactly the one training held out).
        data_dir: Data directory (default $AIFS_DATA_DIR, then the cache).
        device: Where a torch model goes (default CPU).
    """
    folder = None
    if checkpoint in ("latest", "best"):
        if not experiment:
            raise ConfigError(f"--checkpoint {checkpoint} needs --experiment to know which run")
        folder = _experiment_dir(spec, experiment)
    state = resolve_checkpoint(checkpoint, folder)
    if state.get("model_name") != spec.name:
        raise CheckpointError(
            f"{state['path']} holds model {state.get('model_name')!r}, not {spec.name!r}"
        )
    if "config" not in state:
        raise CheckpointError(f"{state['path']} stores no config: it cannot be evaluated")
    config = config_from_dict(spec.config_cls, state["config"])
    trained_on = config.experiment
    if experiment and experiment != trained_on:
        config = load_config(spec.config_cls, spec.experiments_file, experiment)
        logger.warning(
            "%s was trained on experiment %r; it is evaluated on the data of experiment %r",
            state["path"],
            trained_on,
            experiment,
        )
    splits = load_data(config, data_dir)
    model = spec.create_model(config, splits)
    check_compatible(state, spec.name, model_state(model))
    load_model_state(model, state["model_state"])
    if hasattr(model, "to"):
        model = model.to(device or torch.device("cpu"))
    return model, config, splits, state


def _eval_prefix(experiment: str, trained_on: str | None) -> str:
    """Plot names of an evaluation: another experiment's checkpoint never replaces the own's."""
    if trained_on in (None, experiment):
        return f"{experiment}_eval"
    return f"{experiment}_eval_of_{trained_on}"


def _evaluate(spec: ModelSpec, args: argparse.Namespace) -> int:
    device = select_device(args.device)
    model, config, splits, state = load_trained(
        spec, args.checkpoint, args.experiment, args.data_dir, device
    )
    paths = RunPaths.create(spec.model_dir, config.experiment)
    setup_logging(paths.log_file)
    apply_threads(config)
    set_random_seed(config.seed)
    if spec.eval_data is None:
        split, test_loader = "test", splits.loaders(config.batch_size, seed=config.seed)[2]
    else:
        x, y = spec.eval_data(model, config, splits)
        split, test_loader = spec.eval_data.__name__, ArrayLoader(x, y, config.batch_size)
    evaluator = Evaluator(model, spec.create_criterion(config), device, precision=config.precision)
    metrics = evaluator.evaluate(test_loader)
    result = {
        "model": spec.name,
        "experiment": config.experiment,
        "trained_on": state["config"].get("experiment"),
        "checkpoint": str(state["path"]),
        "split": split,
        "epoch": state.get("epoch"),
        **metrics,
    }
    # One file per checkpoint, data and split: evaluating on another experiment or split never
    # replaces the checkpoint's own result.
    stem = Path(state["path"]).stem
    out = paths.logs_dir / f"{stem}.{config.experiment}.{split}.eval.json"
    result = plain(result)
    out.write_text(json.dumps(result, indent=2) + "\n")
    shown = " | ".join(f"{k} {v:.4f}" for k, v in metrics.items() if k != "num_samples")
    logger.info(
        "%s | %s on %d samples of experiment %s (checkpoint trained on %s) | written to %s",
        split,
        shown,
        metrics["num_samples"],
        config.experiment,
        result["trained_on"],
        out,
    )
    if args.visualize:
        figures = make_plots(
            spec,
            model,
            evaluator,
            splits,
            test_loader,
            paths.vis_dir,
            history=state.get("history"),
            prefix=_eval_prefix(config.experiment, result["trained_on"]),
            scored_split=split,
        )
        logger.info("plots: %s", ", ".join(str(p) for p in figures.values()))
    if args.samples:
        seed = config.seed if args.sample_seed is None else args.sample_seed
        sample_path = write_samples(model, args.samples, seed, paths.vis_dir / f"{stem}_samples")
        result["samples"] = str(sample_path)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return 0
