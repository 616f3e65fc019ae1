"""Shared pieces of the engine tests: a tiny MLP, synthetic data, trainers built in one line.

The MLP is the fixture model folder ``fixtures/tiny_mlp`` (a models-like folder, so that the
end-to-end tests can also run its train.py, under torchrun too); the NumPy path is covered with
models/01_perceptron.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import pytest
import torch

from data_utils import ArrayLoader
from engine.trainer import RunContext, Trainer
from engine.workflow import build_optimizer, build_scheduler
from utils.modules import REPO_ROOT, load_model_modules

FIXTURE_DIR = Path(__file__).resolve().parent / "fixtures" / "tiny_mlp"
PERCEPTRON_DIR = REPO_ROOT / "models" / "01_perceptron"


@pytest.fixture(autouse=True)
def one_torch_thread():
    """Tiny models run fastest on one thread; several threads only fight over two cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def restore_logging():
    """Undo what an in-process train_main does to the root logger (handlers, level)."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in [h for h in root.handlers if h not in handlers]:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(level)


class Kit:
    """Builds configs, data, loaders, models and trainers of the tiny MLP in one line each."""

    fixture_dir = FIXTURE_DIR
    perceptron_dir = PERCEPTRON_DIR
    # Subprocesses: one thread each (tiny models; several threads only fight over the cores).
    env = {"OMP_NUM_THREADS": "1"}

    def subprocess_env(self, **extra: str) -> dict[str, str]:
        return {**os.environ, **self.env, **extra}

    def __init__(self) -> None:
        self.mods = load_model_modules(FIXTURE_DIR)

    def config(self, **changes: Any):
        base = dict(dataset="synthetic", epochs=3, batch_size=8, lr=0.05, audit_every=1000)
        config = self.mods.config.TinyMLPConfig(**{**base, **changes})
        config.validate()
        return config

    @staticmethod
    def data(n: int = 60, features: int = 4, seed: int = 0, dtype=torch.float32):
        """(n, features) gaussian inputs, label 1 where x0 + x1 > 0."""
        g = torch.Generator().manual_seed(seed)
        x = torch.randn(n, features, generator=g, dtype=dtype)
        return x, (x[:, 0] + x[:, 1] > 0).long()

    @staticmethod
    def loader(x, y, batch_size: int, shuffle: bool = True, seed: int = 0) -> ArrayLoader:
        return ArrayLoader(x, y, batch_size, shuffle=shuffle, seed=seed)

    def model(self, config, features: int = 4):
        torch.manual_seed(config.seed)
        return self.mods.model.TinyMLP(features, config.hidden, 2, config.dropout)

    def trainer(self, config, model=None, run: RunContext | None = None) -> Trainer:
        model = model if model is not None else self.model(config)
        optimizer = build_optimizer(config, model)
        return Trainer(
            model,
            optimizer,
            torch.nn.CrossEntropyLoss(),
            torch.device("cpu"),
            config,
            scheduler=build_scheduler(config, optimizer),
            run=run,
        )


@pytest.fixture(scope="session")
def kit() -> Kit:
    return Kit()
