"""Pytest plugin for the root tests and every model's tests (``-p utils.testing`` in pyproject).

It keeps tests off the network and off the screen, and gives end-to-end tests one way to run a
model's scripts as a user would; it also holds the small pieces several models' tests share
(an experiment trained in memory, a fixed-batch training loop, a synthetic image task).
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

import pytest

if TYPE_CHECKING:  # imported where used: pytest_configure sets the thread count before torch loads
    from data_utils import DatasetSplits
    from engine.workflow import ModelSpec

# End-to-end tests that train on real data sets (Fashion-MNIST, CIFAR-10) run only where they are.
needs_data = pytest.mark.skipif(
    not os.environ.get("AIFS_DATA_DIR"),
    reason="the command-line tests train on Fashion-MNIST: set AIFS_DATA_DIR to its folder",
)


# The session's folder of smoke checkpoints shared between tests (share_smoke_checkpoint): made
# by the controlling process before pytest-xdist starts its workers, which inherit the variable.
SMOKE_SHARE = "AIFS_TEST_SMOKE_SHARE"


def pytest_configure(config: pytest.Config) -> None:
    # wandb must never reach the network in tests; a test of offline mode sets it itself.
    os.environ["WANDB_MODE"] = "disabled"
    if not hasattr(config, "workerinput"):  # the controller, or a run without workers
        share = os.environ[SMOKE_SHARE] = tempfile.mkdtemp(prefix="aifs-smoke-")
        config.add_cleanup(lambda: shutil.rmtree(share, ignore_errors=True))
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Tests use tiny models: one thread each avoids oversubscribing a small shared machine
    # (subprocesses inherit OMP_NUM_THREADS), and keeps timings steady.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


# Data sets generated or bundled with a library: they never need files, so tests never skip them.
LOCAL_DATA_MODULES = ("data_utils.synthetic", "data_utils.tabular")


def needs_data_files(dataset: str) -> bool:
    """Whether a data set of data_utils.DATASETS is read from files (the data directory)."""
    from data_utils import DATASETS

    loader = DATASETS.get(dataset)
    return loader is not None and loader.__module__ not in LOCAL_DATA_MODULES


def run_script(
    model_dir: Path, script: str, *args: str, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``python src/<script> args...`` in a model folder as a user would (no raise on exit)."""
    return subprocess.run(
        [sys.executable, f"src/{script}", *args],
        cwd=model_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def copy_model(model_dir: Path, destination: Path) -> Path:
    """Copy a model's src/ to a temporary folder so an end-to-end run writes its outputs there."""
    target = destination / Path(model_dir).name
    shutil.copytree(
        Path(model_dir) / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    return target


def run_json(model_dir: Path, script: str, *args: str) -> dict[str, Any]:
    """Run ``python src/<script> args... --json``; assert success; parse its last stdout line."""
    result = run_script(model_dir, script, *args, "--json")
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_clean_failure(result: subprocess.CompletedProcess, error: str, *words: str) -> None:
    """A script run that failed as the workflow promises: a nonzero exit, ``<error>:`` (e.g.
    ``ConfigError:``) and each of ``words`` in stderr, and no traceback."""
    assert result.returncode != 0
    assert f"{error}:" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    for word in words:
        assert word in result.stderr, result.stderr


def assert_config_error(
    spec: ModelSpec, experiment: str, changes: dict[str, Any], words: list[str]
) -> None:
    """Loading ``experiment`` with ``changes`` (the ``--set`` path of train.py, in process) is a
    ``ConfigError`` whose message contains each of ``words``."""
    from utils.config import load_config
    from utils.exceptions import ConfigError

    with pytest.raises(ConfigError) as err:
        load_config(spec.config_cls, spec.experiments_file, experiment, changes)
    missing = [word for word in words if word not in str(err.value)]
    assert not missing, f"{missing} not in the message: {err.value}"


def load_script(model_dir: Path, script: str) -> types.ModuleType:
    """A model's own extra script (e.g. ``src/compare.py``) imported as a module, its sibling
    imports (``from config import ...``) bound to that folder's modules (utils.modules)."""
    from utils.modules import load_model_modules

    siblings = vars(load_model_modules(model_dir))
    path = Path(model_dir) / "src" / script
    with mock.patch.dict(sys.modules, siblings):
        spec = importlib.util.spec_from_file_location(f"{Path(model_dir).name}_{path.stem}", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return module


def train_in_memory(
    spec: ModelSpec, experiment: str, *, num_train: int | None = None, **changes: Any
) -> tuple[Any, DatasetSplits, dict[str, list]]:
    """Train one experiment in this process, without files, as train.py would on the CPU.

    Seeded with the config's seed; the model, its loss and its optimizer come from the model's
    spec; no checkpoints, tracker or plots.

    Args:
        spec: The model's ``train.SPEC``.
        experiment: A name from its experiments.yaml.
        num_train: Keep only the first this many training examples (val and test whole).
        changes: Config fields to override, e.g. ``epochs=2``.

    Returns:
        ``(model, splits, history)``: the trained model, the data, the Trainer's history.
    """
    import dataclasses

    import torch

    from data_utils import create_data_loaders, load_dataset
    from engine.trainer import Trainer
    from engine.workflow import build_optimizer
    from utils.config import load_config
    from utils.seed import set_random_seed

    config = load_config(spec.config_cls, spec.experiments_file, experiment, changes)
    set_random_seed(config.seed)
    splits = load_dataset(config.dataset, seed=config.seed, standardize=config.standardize)
    if num_train is not None:
        x_train, y_train = splits.x_train[:num_train], splits.y_train[:num_train]
        splits = dataclasses.replace(splits, x_train=x_train, y_train=y_train)
    model = spec.create_model(config, splits)
    train_loader, val_loader, _ = create_data_loaders(splits, config.batch_size, seed=config.seed)
    criterion = spec.create_criterion(config)
    trainer = Trainer(model, build_optimizer(config, model), criterion, torch.device("cpu"), config)
    history = trainer.train(train_loader, val_loader, config.epochs)
    return model, splits, history


def metrics_after_training(name: str, experiment: str, **changes: Any) -> dict[str, float]:
    """Train a registered model in memory (``utils.registry.create_model`` with ``changes``) and
    return every metric it reports on its test split: a model's "it learns" test in one line."""
    import torch

    from engine.evaluator import Evaluator
    from engine.trainer import Trainer
    from engine.workflow import build_optimizer
    from utils.registry import create_model, model_spec

    model, config, splits = create_model(name, experiment, **changes)
    train, val, test = splits.loaders(config.batch_size, seed=config.seed)
    criterion = model_spec(name).create_criterion(config)
    optimizer = build_optimizer(config, model)
    Trainer(model, optimizer, criterion, torch.device("cpu"), config).train(train, val)
    return Evaluator(model, criterion).evaluate(test)


def assert_beam_search_is_exact(net: Any, src: Any, vocab_size: int) -> None:
    """The oracle of a decoder's beam search (13_seq2seq's, and every model that reuses it):
    greedy decoding equals a beam of one, and over two output tokens a beam as wide as the
    vocabulary is exhaustive, so it must find the most likely pair of all V x V (a pair that
    starts with EOS is EOS then PAD), scored by the model's own ``sequence_log_prob``."""
    import pytest
    import torch

    from data_utils.sequences import EOS, PAD

    assert torch.equal(net.beam_search(src, 1, 13), net.generate(src, beam_size=1))
    best = net.beam_search(src, vocab_size, 2)  # (B, 2)
    pairs = torch.cartesian_prod(torch.arange(vocab_size), torch.arange(vocab_size))  # (V^2, 2)
    pairs = pairs[(pairs != PAD).all(1) | (pairs[:, 0] == EOS)]
    pairs[pairs[:, 0] == EOS, 1] = PAD
    for row in range(len(src)):
        scores = net.sequence_log_prob(src[row].repeat(len(pairs), 1), pairs)
        found = net.sequence_log_prob(src[row : row + 1], best[row : row + 1])
        assert found.item() == pytest.approx(scores.max().item(), abs=1e-5)


def trainer_for(make_model: Any, cfg: Any, steps_per_epoch: int = 1) -> Any:
    """A Trainer as a fresh process builds it: RNGs drawn anywhere, then seeded, then the model
    (``make_model()``), its optimizer(s) and scheduler from ``cfg``; in memory, no criterion."""
    import random

    import numpy as np
    import torch

    from engine.trainer import Trainer
    from engine.workflow import build_optimizer, build_scheduler
    from utils.seed import set_random_seed

    random.random(), np.random.rand(), torch.rand(3)
    set_random_seed(cfg.seed)
    model = make_model()
    optimizer = build_optimizer(cfg, model)
    scheduler = build_scheduler(cfg, optimizer, steps_per_epoch)
    return Trainer(model, optimizer, None, torch.device("cpu"), cfg, scheduler)


def same(a: Any, b: Any, where: str = "state") -> None:
    """Bit-identical nested structures of tensors and plain values."""
    import math

    import torch

    if isinstance(a, torch.Tensor):
        assert torch.equal(a, b), where
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{i}]")
    elif isinstance(a, float) and math.isnan(a):
        assert isinstance(b, float) and math.isnan(b), where
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_resumes_exactly(
    make_model: Any, cfg: Any, loaders: Any, stop_at: int, tmp_path: Path, steps: int = 1
) -> Any:
    """Resume parity: train straight; train to optimizer step ``stop_at`` (as a signal would
    stop it), save, resume in a new trainer: weights, optimizer state and history identical.

    Args:
        make_model: Builds a fresh model (called after seeding).
        cfg: The run's config (a BaseConfig or a model's config).
        loaders: Returns fresh ``(train, val)`` loaders.
        stop_at: The optimizer step of the interruption (mid-epoch is the hard case).
        tmp_path: Where the interrupt checkpoint goes.
        steps: Optimizer steps per epoch, for per-step schedules.

    Returns:
        The trainer that ran straight through.
    """
    import dataclasses

    from engine.checkpoint import CheckpointManager, load_checkpoint
    from engine.modelio import model_state

    straight = trainer_for(make_model, cfg, steps)
    straight.train(*loaders())
    first = trainer_for(make_model, cfg, steps)
    first.config = dataclasses.replace(cfg, max_steps=stop_at)  # stopped, as by a signal
    first.train(*loaders())
    assert first.global_step == stop_at
    path = CheckpointManager(tmp_path, "run").save(first.state_dict(), kind="interrupt")
    resumed = trainer_for(make_model, cfg, steps)
    resumed.load_state_dict(load_checkpoint(path))
    resumed.train(*loaders())
    same(model_state(resumed.model), model_state(straight.model), "weights")
    same(resumed.state_dict()["optimizer_state"], straight.state_dict()["optimizer_state"])
    same(resumed.history, straight.history, "history")
    return straight


def accuracy_on_test(model: Any, splits: DatasetSplits) -> float:
    """The model's accuracy on the whole test split, read as evaluate.py reads it."""
    from data_utils import ArrayLoader
    from engine.evaluator import Evaluator

    loader = ArrayLoader(splits.x_test, splits.y_test, 1000, transform=splits.transform)
    return Evaluator(model).evaluate(loader)["accuracy"]


def train_and_evaluate_smoke(model_dir: Path, *logged: str) -> dict[str, Any]:
    """The ``smoke`` experiment as a user runs it: train.py with --visualize (no wandb), then
    evaluate.py on the latest checkpoint. Asserts both succeed, the final checkpoint exists and
    train.py logged each of ``logged`` (e.g. ``"epoch 2 |"``); returns evaluate.py's metrics
    JSON."""
    result = run_script(model_dir, "train.py", "--experiment", "smoke", "--no-wandb", "--visualize")
    assert result.returncode == 0, result.stderr
    missing = [text for text in logged if text not in result.stderr]
    assert not missing, f"train.py did not log {missing}: {result.stderr}"
    assert list((Path(model_dir) / "outputs" / "models" / "smoke").glob("*_final.pt"))
    metrics = run_json(model_dir, "evaluate.py", "--checkpoint", "latest", "--experiment", "smoke")
    share_smoke_checkpoint(model_dir)
    return metrics


def share_smoke_checkpoint(model_dir: Path) -> None:
    """Offer the final checkpoint of a ``smoke`` run in a copy of a model folder to the later
    tests of this session that only need one (the notebook tests), so that they do not train the
    same experiment again. A copy of the file is shared, so nothing those tests write lands in
    the folder of the test that trained it."""
    share = os.environ.get(SMOKE_SHARE)
    if not share:
        return
    from utils.files import atomic_write  # imports torch: not before pytest_configure

    checkpoint = sorted((Path(model_dir) / "outputs" / "models" / "smoke").glob("*_final.pt"))[-1]
    with atomic_write(Path(share) / Path(model_dir).name / checkpoint.name) as handle:
        handle.write(checkpoint.read_bytes())  # a reader sees the whole file or none


def shared_smoke_checkpoint(folder: str) -> Path | None:
    """A smoke checkpoint of model folder ``folder`` (e.g. "22_ddpm") that an earlier test of
    this session trained and shared, or None."""
    share = os.environ.get(SMOKE_SHARE)
    found = sorted((Path(share) / folder).glob("*_final.pt")) if share else []
    return found[-1] if found else None


def run_study_smoke(model_dir: Path, script: str, *args: str) -> dict[str, Any]:
    """A side-by-side study script (engine.study) on tiny subsets of the ``smoke`` experiment's
    data (64 training, 32 validation, 200 test examples, no step limit); its result JSON.
    ``args`` choose the variants and the epochs."""
    subsets = ("--train-samples", "64", "--val-samples", "32", "--test-samples", "200")
    return run_json(
        model_dir, script, "--experiment", "smoke", *subsets, "--set", "max_steps=none", *args
    )


def fixed_batch_losses(
    spec: ModelSpec, config: Any, splits: DatasetSplits, lr: float, steps: int
) -> list[float]:
    """Train a fresh model on one fixed batch; the loss before each step.

    The model and its loss come from the model's spec (weights drawn after seeding with 0); the
    loss is the model's step (engine.steps.step_of: its own ``step``, e.g. GoogLeNet's with the
    auxiliary heads, or the classifier default ``criterion(model(x), y)``); the batch is the
    whole training split, transformed as the loaders do; the optimiser is SGD with momentum 0.9.
    The "loss goes down on a fixed batch" test of every model (STYLE.md rule 9).
    """
    import torch

    from engine.steps import step_of

    torch.manual_seed(0)
    model = spec.create_model(config, splits)
    step = step_of(model, spec.create_criterion(config))
    x, y = splits.x_train, splits.y_train
    transform = getattr(splits, "transform", None)  # images: uint8 -> float (sequences: none)
    if transform is not None:
        x = transform(x)
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = step((x, y)).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def trainer_losses_on_batch(
    model: Any, config: Any, criterion: Any, batch: tuple[Any, Any], steps: int
) -> tuple[float, float]:
    """The loss of one fixed batch before and after ``steps`` training steps of the Trainer on it.

    The optimizer is the config's, as train.py builds it (engine.workflow.build_optimizer), and
    every step is the Trainer's own (mode, precision, clipping), without gradient audits: the
    "loss goes down on a fixed batch" test of a model through the real training step.
    """
    import torch

    from engine.trainer import Trainer
    from engine.workflow import build_optimizer

    trainer = Trainer(model, build_optimizer(config, model), criterion, torch.device("cpu"), config)
    before = trainer.evaluator.evaluate([batch])["loss"]
    for _ in range(steps):
        model.train()
        trainer.training_step([batch], audit=False)
    return before, trainer.evaluator.evaluate([batch])["loss"]


def patch_image_splits(n: int = 32, channels: int = 1, side: int = 28) -> DatasetSplits:
    """Dark noise images with a bright patch whose place is the class (uint8, like the loaders).

    Ten places on a 2 x 5 grid, so ``side`` must be at least 28; train is all ``n`` images,
    val and test the first 8.
    """
    assert side >= 28, f"the ten patch places need images of at least 28x28 (got {side})"
    import torch

    from data_utils import DatasetSplits
    from data_utils.transforms import to_float

    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 10
    x = torch.randint(0, 64, (n, channels, side, side), dtype=torch.uint8, generator=gen)
    for i, label in enumerate(y.tolist()):
        row, col = divmod(label, 5)
        x[i, :, 4 + 10 * row : 10 + 10 * row, 1 + 5 * col : 5 + 5 * col] = 255
    names = [str(k) for k in range(10)]
    return DatasetSplits("tiny", x, y, x[:8], y[:8], x[:8], y[:8], 10, names, to_float)
