"""The shared test helpers of utils.testing that the models' tests lean on."""

from __future__ import annotations

import os
import subprocess
import types
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from data_utils import DatasetSplits
from engine.steps import Mean, StepOutput
from utils import testing
from utils.config import BaseConfig


def tiny_splits(n: int = 16) -> DatasetSplits:
    """Two well separated blobs in 4 dimensions."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 2
    x = torch.randn(n, 4, generator=gen) + 3.0 * y[:, None].float()
    return DatasetSplits("tiny", x, y, x[:4], y[:4], x[:4], y[:4], 2, ["a", "b"], None)


class Classifier(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.linear = nn.Linear(4, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x)


class StepNet(Classifier):
    """A classifier with its own step: the cross-entropy plus a penalty the criterion lacks."""

    def step(self, batch) -> StepOutput:
        x, y = batch
        loss = F.cross_entropy(self(x), y) + self.linear.weight.pow(2).sum()
        return StepOutput(loss, {"loss": Mean(loss.detach() * len(y), len(y))})


def spec_of(model_cls: type) -> types.SimpleNamespace:
    return types.SimpleNamespace(
        create_model=lambda config, splits: model_cls(),
        create_criterion=lambda config: F.cross_entropy,
    )


# ---- fixed_batch_losses ---------------------------------------------------------------------


def test_fixed_batch_losses_of_a_classifier_are_the_criterion_s() -> None:
    splits = tiny_splits()
    losses = testing.fixed_batch_losses(spec_of(Classifier), None, splits, 0.1, 5)
    # the same loop written out: seed 0, the model, SGD with momentum 0.9 on the whole split
    torch.manual_seed(0)
    model = Classifier()
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    expected = []
    for _ in range(5):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(splits.x_train), splits.y_train)
        loss.backward()
        optimizer.step()
        expected.append(loss.item())
    assert losses == expected


def test_fixed_batch_losses_go_through_a_model_s_own_step() -> None:
    splits = tiny_splits()
    losses = testing.fixed_batch_losses(spec_of(StepNet), None, splits, 0.1, 20)
    assert len(losses) == 20 and losses[-1] < 0.5 * losses[0]
    classifier = testing.fixed_batch_losses(spec_of(Classifier), None, splits, 0.1, 20)
    assert losses[0] > classifier[0]  # the step's penalty is in the loss: its step was used


# ---- trainer_losses_on_batch ----------------------------------------------------------------


def test_trainer_losses_on_batch_fall_with_the_config_s_optimizer() -> None:
    torch.manual_seed(0)
    model = nn.Linear(4, 2)
    splits = tiny_splits()
    config = BaseConfig(optimizer="adam", lr=0.05)
    batch = (splits.x_train, splits.y_train)
    before, after = testing.trainer_losses_on_batch(model, config, F.cross_entropy, batch, 20)
    assert after < 0.5 * before


def test_trainer_losses_on_batch_without_steps_change_nothing() -> None:
    splits = tiny_splits()
    batch = (splits.x_train, splits.y_train)
    before, after = testing.trainer_losses_on_batch(
        nn.Linear(4, 2), BaseConfig(), F.cross_entropy, batch, 0
    )
    assert before == after


# ---- train_and_evaluate_smoke ---------------------------------------------------------------


@pytest.fixture
def fake_scripts(tmp_path: Path, monkeypatch):
    """train.py and evaluate.py replaced by canned results (a final checkpoint is in place)."""
    (tmp_path / "outputs" / "models" / "smoke").mkdir(parents=True)
    (tmp_path / "outputs" / "models" / "smoke" / "run_final.pt").write_bytes(b"")
    train = subprocess.CompletedProcess([], 0, stdout="", stderr="epoch 1 | loss 0.5\n")
    monkeypatch.setattr(testing, "run_script", lambda *args, **kwargs: train)
    monkeypatch.setattr(testing, "run_json", lambda *args: {"model": "toy", "accuracy": 1.0})
    monkeypatch.setenv(testing.SMOKE_SHARE, str(tmp_path / "share"))  # not the session's folder
    return tmp_path


def test_train_and_evaluate_smoke_checks_what_training_logged(fake_scripts: Path) -> None:
    assert testing.train_and_evaluate_smoke(fake_scripts, "epoch 1 |")["model"] == "toy"
    assert testing.shared_smoke_checkpoint(fake_scripts.name).name == "run_final.pt"  # shared
    with pytest.raises(AssertionError, match=r"did not log \['epoch 2 \|'\]"):
        testing.train_and_evaluate_smoke(fake_scripts, "epoch 1 |", "epoch 2 |")


def test_a_shared_smoke_checkpoint_is_a_copy_found_by_model_folder(tmp_path, monkeypatch):
    assert os.environ.get(testing.SMOKE_SHARE)  # this session's folder, made by pytest_configure
    monkeypatch.setenv(testing.SMOKE_SHARE, str(tmp_path / "share"))
    (tmp_path / "share").mkdir()
    assert testing.shared_smoke_checkpoint("22_ddpm") is None
    runs = tmp_path / "copy" / "22_ddpm" / "outputs" / "models" / "smoke"
    runs.mkdir(parents=True)
    (runs / "smoke_20261207-010101_epoch001_step0000004_final.pt").write_bytes(b"weights")
    testing.share_smoke_checkpoint(tmp_path / "copy" / "22_ddpm")
    shared = testing.shared_smoke_checkpoint("22_ddpm")
    assert (
        shared
        == tmp_path / "share" / "22_ddpm" / "smoke_20261207-010101_epoch001_step0000004_final.pt"
    )
    assert shared.read_bytes() == b"weights" and testing.shared_smoke_checkpoint("26_yolo") is None
    assert sorted(p.name for p in shared.parent.iterdir()) == [shared.name]  # no partial file left
    monkeypatch.delenv(testing.SMOKE_SHARE)
    testing.share_smoke_checkpoint(tmp_path / "copy" / "22_ddpm")  # outside pytest: nothing shared
    assert testing.shared_smoke_checkpoint("22_ddpm") is None
