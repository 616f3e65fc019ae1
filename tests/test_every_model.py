"""Every registered model, automatically (house style rule 9).

utils.modules.model_dirs() lists every models/NN_name folder with a src/, and each test below is
parametrised over that dict; the registry by name, utils.registry.MODELS, must name exactly these
folders, each under its MODEL_NAME. For each model, on CPU:

- the folder has the files every model has (docs/templates/README.md), a ``smoke`` experiment,
  requirements pinning the project's torch, a ``SPEC`` in train.py, and no template placeholder;
- on one batch of its smoke data, the forward pass keeps the batch dimension and is finite;
- a few steps of the engine's own training step on that fixed batch lower the loss (or reach 0)
  and move the weights.

A model whose "loss" is not a training objective (a Hopfield network storing patterns) sets
``SMOKE_LOSS_DECREASES = False`` in its model module; for it the last test checks instead that
the steps change the weights, that they stay finite and that every reported loss is finite.

Smoke data sets are loaded offline, with a private data cache. One that needs data files
(MNIST, CIFAR-10, ...) is skipped, with the reason, when $AIFS_DATA_DIR is not set; when it is
set, the data must load.
"""

from __future__ import annotations

import math
import os
import re
import types
from pathlib import Path
from typing import Any, Callable
from unittest import mock

import numpy as np
import pytest
import torch

from data_utils import DatasetSplits
from engine.modelio import is_torch_model, set_mode
from engine.steps import as_float
from engine.trainer import Trainer
from engine.workflow import ModelSpec, build_optimizer, load_data
from utils.config import BaseConfig, load_config, load_experiments
from utils.exceptions import DataError
from utils.modules import REPO_ROOT, load_model_modules, model_dirs
from utils.registry import MODELS as REGISTRY
from utils.registry import create_model, model_spec
from utils.seed import set_random_seed
from utils.testing import needs_data_files

MODELS = model_dirs()
REQUIRED_FILES = (
    "src/__init__.py",
    "src/constants.py",
    "src/config.py",
    "src/experiments.yaml",
    "src/model.py",
    "src/train.py",
    "src/evaluate.py",
    "requirements.txt",
    "README.md",
    "notebooks/analysis.ipynb",
)
TORCH_PIN = "torch==2.13.0"
BATCH_SIZE = 16  # samples in the fixed batch (fewer if the training split is smaller)
STEPS = 30  # training steps on the fixed batch
# "[YEAR]" or "[HISTORY: ...]", the template's placeholders (documented in its README).
PLACEHOLDER = re.compile(r"\[([A-Z][A-Z_]+)[]:]")
TEMPLATE_PLACEHOLDERS = frozenset(
    PLACEHOLDER.findall((REPO_ROOT / "docs" / "templates" / "README.md").read_text())
)

parametrize_models = pytest.mark.parametrize("name", list(MODELS))


# ------------------------------------------------------------------------------ helpers


def spec_of(name: str) -> tuple[types.SimpleNamespace, ModelSpec]:
    mods = load_model_modules(MODELS[name])
    spec = getattr(mods.train, "SPEC", None)
    assert isinstance(spec, ModelSpec), f"{name}: src/train.py must define SPEC = ModelSpec(...)"
    return mods, spec


def load_smoke(name: str) -> tuple[ModelSpec, BaseConfig, DatasetSplits]:
    """The model's spec, its smoke config and the smoke data; skipped if the files are absent."""
    _, spec = spec_of(name)
    config = load_config(spec.config_cls, spec.experiments_file, "smoke")
    try:
        splits = load_data(config, None)
    except DataError as err:
        if needs_data_files(config.dataset) and not os.environ.get("AIFS_DATA_DIR"):
            pytest.skip(
                f"{name}: the smoke experiment uses data set {config.dataset!r}, whose files are "
                f"not in AIFS_DATA_DIR (not set); set it to run this test "
                f"({str(err).splitlines()[0]})"
            )
        raise
    return spec, config, splits


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> Callable[[str], tuple[ModelSpec, BaseConfig, DatasetSplits]]:
    """``smoke(name)``: load_smoke once per model, offline and with a private data cache."""
    offline_data = {
        "AIFS_OFFLINE": "1",  # tests never download
        "AIFS_CACHE_DIR": str(tmp_path_factory.mktemp("aifs-cache")),  # nor write to ~/.cache
    }
    loaded: dict[str, tuple[ModelSpec, BaseConfig, DatasetSplits]] = {}

    def load(name: str) -> tuple[ModelSpec, BaseConfig, DatasetSplits]:
        if name not in loaded:
            with mock.patch.dict(os.environ, offline_data):
                loaded[name] = load_smoke(name)
        return loaded[name]

    return load


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """Run these tiny models on one CPU thread, then restore the count.

    On a CPU shared with other processes, torch's intra-op threads wait on each other: one step of
    the ResNet smoke model took 2.3 s with two threads and 25 ms with one on a loaded 2-core box.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def fixed_batch(config: BaseConfig, splits: DatasetSplits) -> Any:
    """The first shuffled training batch, transformed as the Trainer sees it: (x, y), or a dict
    (a whole graph with its training mask, data_utils.FullGraphLoader)."""
    # Arrays: at most the training set. A token stream (CharCorpus) draws windows at any size.
    size = min(BATCH_SIZE, len(splits.y_train)) if hasattr(splits, "y_train") else BATCH_SIZE
    train_loader, _, _ = splits.loaders(size, seed=config.seed)  # any Splits (data_utils.base)
    return next(iter(train_loader))


def new_model(spec: ModelSpec, config: BaseConfig, splits: DatasetSplits) -> Any:
    set_random_seed(config.seed)  # as the workflow does: the same initial weights every run
    return spec.create_model(config, splits)


def has_own_step(model: Any) -> bool:
    """A torch model that says itself how a batch becomes a loss (engine/steps.py): tested
    through its step, since its forward may need more than x (a decoder reads the targets)."""
    return is_torch_model(model) and hasattr(model, "step")


def as_array(value: Any) -> np.ndarray:
    if isinstance(value, torch.Tensor):
        return value.detach().float().cpu().numpy()
    return np.asarray(value)


def outputs_of(out: Any) -> list[np.ndarray]:
    """The arrays a forward pass returned: one tensor or array, or a tuple, list or dict of them."""
    if isinstance(out, dict):
        out = list(out.values())
    return [as_array(item) for item in (out if isinstance(out, (tuple, list)) else [out])]


# ------------------------------------------------------------------------------ the tests


def test_models_are_registered_and_named_uniquely():
    assert "01_perceptron" in MODELS, "model_dirs() must list models/01_perceptron"
    names = [spec_of(name)[1].name for name in MODELS]
    assert len(names) == len(set(names)), f"MODEL_NAME must be unique (checkpoints): {names}"
    registered = {folder: name for name, folder in REGISTRY.items()}
    assert sorted(registered) == list(MODELS), (
        f"utils/registry.py MODELS must list every model folder: {sorted(registered)} "
        f"!= {list(MODELS)}"
    )
    for folder, name in zip(MODELS, names):
        assert registered[folder] == name, f"MODELS[{name!r}] should be {folder!r}"
        assert model_spec(name) is spec_of(folder)[1]


def test_a_model_is_created_by_name():
    model, config, splits = create_model("perceptron", "xor", epochs=3)
    assert config.experiment == "xor" and config.epochs == 3 and splits.name == "xor"
    assert type(model).__name__ == "Perceptron" and model.weight.shape[-1] == 2


@parametrize_models
def test_folder_has_the_required_files(name):
    folder = MODELS[name]
    missing = [f for f in REQUIRED_FILES if not (folder / f).is_file()]
    assert not missing, f"{name} lacks {missing} (copy docs/templates/model)"
    assert list((folder / "tests").glob("test_*.py")), f"{name}: tests/ needs a test_*.py file"
    pins = (folder / "requirements.txt").read_text().split()
    assert TORCH_PIN in pins, f"{name}: requirements.txt must pin {TORCH_PIN}"
    experiments = load_experiments(folder / "src" / "experiments.yaml")
    assert "smoke" in experiments, f"{name}: experiments.yaml needs a tiny 'smoke' experiment"
    texts = [folder / "README.md", *sorted((folder / "src").glob("*.py"))]
    left = {
        f"{path.name}: [{hit}]"
        for path in texts
        for hit in PLACEHOLDER.findall(path.read_text())
        if hit in TEMPLATE_PLACEHOLDERS
    }
    assert not left, f"{name} still has template placeholders: {sorted(left)}"


@parametrize_models
def test_spec_describes_this_folder(name):
    mods, spec = spec_of(name)
    folder = MODELS[name]
    assert Path(spec.model_dir).resolve() == folder.resolve()
    assert Path(spec.experiments_file).resolve() == (folder / "src" / "experiments.yaml").resolve()
    assert spec.name == mods.constants.MODEL_NAME
    defined = [
        value
        for value in vars(mods.config).values()
        if isinstance(value, type)
        and issubclass(value, BaseConfig)
        and value is not BaseConfig
        and value.__module__ == mods.config.__name__
    ]
    assert defined == [spec.config_cls], (
        f"{name}: config.py must define exactly one BaseConfig subclass and SPEC must use it "
        f"(found {[c.__name__ for c in defined]})"
    )
    assert callable(getattr(mods.evaluate, "main", None)), f"{name}: evaluate.py needs main()"


@parametrize_models
def test_forward_keeps_the_batch_dimension_and_is_finite(name, smoke):
    spec, config, splits = smoke(name)
    batch = fixed_batch(config, splits)
    model = new_model(spec, config, splits)
    set_mode(model, training=False)
    with torch.no_grad():
        if has_own_step(model):  # batch -> loss and metrics (a decoder needs more than x)
            out = model.step(batch)
            losses = [out.loss, *(as_float(m.total) / m.count for m in out.metrics.values())]
            assert all(math.isfinite(float(v)) for v in losses), f"NaN or Inf in {out.metrics}"
            return
        x, _ = batch
        out = model(x) if is_torch_model(model) else model.forward(x.numpy())
    for array in outputs_of(out):
        assert array.shape[:1] == (len(x),), f"output {array.shape} lost the batch of {len(x)}"
        assert np.isfinite(array).all(), "the forward pass produced NaN or Inf"


@parametrize_models
def test_training_steps_on_a_fixed_batch_lower_the_loss(name, smoke):
    spec, config, splits = smoke(name)
    batch = fixed_batch(config, splits)
    model = new_model(spec, config, splits)
    trainer = Trainer(
        model,
        build_optimizer(config, model),
        spec.create_criterion(config),
        torch.device("cpu"),
        config,
    )
    loss_decreases = getattr(spec_of(name)[0].model, "SMOKE_LOSS_DECREASES", True)

    def batch_loss() -> float:
        """The objective the steps minimise, in training mode (batch statistics, dropout), with
        the same dropout masks every time; eval mode would also test BatchNorm's running
        statistics, which 30 steps do not settle."""
        if has_own_step(model):  # any batch structure: the step reads it
            set_mode(model, training=True)
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(config.seed)
                return float(model.step(batch).loss)
        x, y = batch
        if not is_torch_model(model):
            return float(trainer.criterion(model.forward(x.numpy()), y.numpy()))
        set_mode(model, training=True)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(config.seed)
            return float(trainer.criterion(model(x), y))

    loss_before = batch_loss() if loss_decreases else None
    weights_before = trainer.auditor.snapshot()  # copies of every trainable tensor
    set_mode(model, training=True)
    for _ in range(STEPS):
        out = trainer.training_step([batch], audit=False)
        assert out["stepped"], "a step on a finite batch was skipped"
        assert math.isfinite(out["metrics"]["loss"].total), "the step reported a NaN or Inf loss"
    weights_after = trainer.auditor.snapshot()

    before = {layer: as_array(value) for layer, value in weights_before.items()}
    after = {layer: as_array(value) for layer, value in weights_after.items()}
    changed = [layer for layer in after if not np.array_equal(before[layer], after[layer])]
    assert changed, f"{STEPS} steps left every weight as it was (a broken graph or a no-op rule?)"
    for layer, value in after.items():
        assert np.isfinite(value).all(), f"{layer} became NaN or Inf"
    if loss_decreases:
        loss_after = batch_loss()
        assert loss_after < loss_before or loss_after == 0.0, (
            f"loss on one batch went from {loss_before:.6f} to {loss_after:.6f} in {STEPS} steps "
            f"(lr {config.lr}): check the gradient path, the learning rate and the criterion"
        )
