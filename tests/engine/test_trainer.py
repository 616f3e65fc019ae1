"""The loop: smoke runs, accumulation, bf16, failure policy, audits, schedules, early stopping."""

from __future__ import annotations

import logging
import math
import signal

import pytest
import torch
from torch import nn

from data_utils import create_data_loaders, load_dataset
from engine.audit import parameters_of
from engine.checkpoint import CheckpointManager, load_checkpoint
from engine.trainer import RunContext, Trainer, TrainingInterrupted
from engine.workflow import build_optimizer, build_scheduler
from utils.config import apply_overrides, load_config
from utils.exceptions import ConfigError, TrainingError
from utils.registry import model_modules


def params(model: nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


# ------------------------------------------------------------------------------------- smoke


def test_smoke_one_epoch_of_a_torch_model(kit):
    config = kit.config(epochs=1)
    x, y = kit.data()
    trainer = kit.trainer(config)
    loader = kit.loader(x, y, config.batch_size)
    history = trainer.train(loader, kit.loader(x, y, 16, shuffle=False))
    assert history["epoch"] == [1]
    assert math.isfinite(history["train_loss"][0]) and 0 <= history["val_accuracy"][0] <= 1
    assert trainer.global_step == len(loader) == 8  # 60 samples, batches of 8: 7 full + 1 of 4
    assert trainer.epoch == 1 and trainer.step_in_epoch == 0


def test_smoke_one_epoch_of_a_numpy_model_with_its_own_rule(kit):
    mods = model_modules("perceptron")
    config = load_config(
        mods.config.PerceptronConfig, mods.constants.EXPERIMENTS_FILE, "smoke", {"epochs": 1}
    )
    splits = load_dataset(config.dataset, seed=config.seed)
    model = mods.model.create_model(config, splits)
    train_loader, val_loader, _ = create_data_loaders(splits, config.batch_size, seed=config.seed)
    trainer = Trainer(model, None, mods.model.perceptron_criterion, torch.device("cpu"), config)
    history = trainer.train(train_loader, val_loader)
    assert history["epoch"] == [1] and trainer.global_step == len(splits.y_train)
    assert history["val_accuracy"][0] > 0.9  # blobs are separable
    assert history["audit"] and history["audit"][0]["step"] == 1  # steps are counted from 1


def test_options_that_need_backprop_are_refused_for_a_custom_rule(kit):
    mods = model_modules("perceptron")
    model = mods.model.Perceptron(num_features=2)
    for change in ({"grad_accum_steps": 2}, {"precision": "bf16"}, {"nan_policy": "skip"}):
        config = mods.config.PerceptronConfig(dataset="blobs", **change)
        with pytest.raises(ConfigError, match="own learning rule"):
            Trainer(model, None, mods.model.perceptron_criterion, torch.device("cpu"), config)


# ------------------------------------------------------------------------ gradient accumulation


@pytest.mark.parametrize("n", [46, 40], ids=["short-last-batch", "short-last-group"])
def test_accumulated_micro_batches_equal_one_large_batch(kit, n):
    """K batches of B, accumulated, give the parameters of batches of K*B (float64, tight).

    n=46: 12 batches of 4 (the last of 2) -> 4 groups, the last of 10 samples.
    n=40: 10 batches of 4 -> groups of 3, 3, 3 and 1 batch (4 samples).
    """
    x, y = kit.data(n=n, dtype=torch.float64)
    runs = {}
    for batch_size, accum in ((4, 3), (12, 1)):
        config = kit.config(batch_size=batch_size, grad_accum_steps=accum, momentum=0.9, epochs=2)
        trainer = kit.trainer(config, model=kit.model(config).double())
        trainer.train(kit.loader(x, y, batch_size), kit.loader(x, y, 64, shuffle=False))
        runs[accum] = trainer
    small, large = runs[3], runs[1]
    assert small.global_step == large.global_step == 8  # global_step counts optimizer steps
    for name, value in params(large.model).items():
        torch.testing.assert_close(params(small.model)[name], value, rtol=0, atol=1e-12)
    assert small.history["train_loss"] == pytest.approx(large.history["train_loss"], abs=1e-12)


# ----------------------------------------------------------------------------------------- bf16


def test_bf16_autocast_trains_a_tiny_model_with_finite_falling_loss(kit):
    config = kit.config(precision="bf16", epochs=6, optimizer="adam", lr=0.01)
    x, y = kit.data(n=128)
    trainer = kit.trainer(config)
    dtypes = set()
    trainer.model.fc1.register_forward_hook(lambda mod, inp, out: dtypes.add(out.dtype))
    history = trainer.train(kit.loader(x, y, 16), kit.loader(x, y, 64, shuffle=False))
    assert dtypes == {torch.bfloat16}  # the matmuls really ran in bf16, in training and eval
    assert all(math.isfinite(v) for v in history["train_loss"] + history["val_loss"])
    assert history["train_loss"][-1] < 0.7 * history["train_loss"][0]
    assert all(p.dtype == torch.float32 for p in trainer.model.parameters())  # master weights


# ------------------------------------------------------------------------------ failure policy


def poisoned(kit, bad_batches: list[int], batch_size: int = 8):
    """Data whose listed batches (in order, no shuffling) contain a NaN input."""
    x, y = kit.data(n=64)
    for b in bad_batches:
        x[b * batch_size, 0] = float("nan")
    return x, y


def test_nan_loss_stops_naming_the_step_and_saves_a_debug_checkpoint(kit, tmp_path):
    config = kit.config(optimizer="adam", lr=0.01)
    x, y = poisoned(kit, [2])
    run = RunContext("tiny_mlp", checkpoints=CheckpointManager(tmp_path, "run"))
    trainer = kit.trainer(config, run=run)
    with pytest.raises(TrainingError, match=r"loss is NaN or Inf at step 3 \(epoch 1, batch 3\)"):
        trainer.train(kit.loader(x, y, 8, shuffle=False), kit.loader(x, y, 64, shuffle=False))
    (debug,) = tmp_path.glob("*_debug.pt")
    state = load_checkpoint(debug)
    assert state["kind"] == "debug" and state["global_step"] == 2 and state["step_in_epoch"] == 2
    # The debug checkpoint holds the weights before the failing step: two clean steps.
    reference = kit.trainer(kit.config(optimizer="adam", lr=0.01, max_steps=2))
    reference.train(kit.loader(x, y, 8, shuffle=False), kit.loader(x, y, 64, shuffle=False))
    for name, value in params(reference.model).items():
        assert torch.equal(state["model_state"][name], value)
    assert not (tmp_path / "latest.json").exists()  # latest never points at a failed state


class SqrtAtZero(nn.Module):
    """Finite loss, NaN gradient: d sqrt(|w|)/dw at w = 0 is inf * 0."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.zeros(2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.w.abs().sqrt().expand(len(x), 2) + 0 * x[:, :2]  # (B, 2)


def test_nan_gradient_with_a_finite_loss_stops_too(kit):
    config = kit.config()
    x, y = kit.data(n=16)
    model = SqrtAtZero()
    trainer = Trainer(
        model,
        build_optimizer(config, model),
        nn.CrossEntropyLoss(),
        torch.device("cpu"),
        config,
    )
    with pytest.raises(TrainingError, match="gradient is NaN or Inf at step 1"):
        trainer.train(kit.loader(x, y, 8), kit.loader(x, y, 8))


def test_skip_policy_drops_bad_steps_without_touching_the_weights(kit):
    x, y = poisoned(kit, [1, 3])
    config = kit.config(optimizer="adam", lr=0.01, epochs=1, nan_policy="skip", max_skipped_steps=2)
    trainer = kit.trainer(config)
    history = trainer.train(kit.loader(x, y, 8, shuffle=False), kit.loader(x, y, 8, shuffle=False))
    assert trainer.skipped_steps == 2 and trainer.global_step == 8 - 2
    assert math.isfinite(history["train_loss"][0])
    # Skipping means no optimizer update at all: same as training without those two batches.
    keep = torch.cat([torch.arange(0, 8), torch.arange(16, 24), torch.arange(32, 64)])
    clean = kit.trainer(kit.config(optimizer="adam", lr=0.01, epochs=1))
    clean.train(kit.loader(x[keep], y[keep], 8, shuffle=False), kit.loader(x, y, 8, shuffle=False))
    for name, value in params(clean.model).items():
        assert torch.equal(params(trainer.model)[name], value)


def test_skip_policy_stops_when_the_limit_is_exceeded(kit):
    x, y = poisoned(kit, [1, 3])
    config = kit.config(nan_policy="skip", max_skipped_steps=1)
    trainer = kit.trainer(config)
    with pytest.raises(TrainingError, match="2 steps skipped, more than max_skipped_steps=1"):
        trainer.train(kit.loader(x, y, 8, shuffle=False), kit.loader(x, y, 8, shuffle=False))


# ------------------------------------------------------------------------- budget and signals


def test_max_steps_stops_inside_an_epoch_at_a_step_boundary(kit):
    config = kit.config(max_steps=5, grad_accum_steps=1)
    x, y = kit.data()
    trainer = kit.trainer(config)
    history = trainer.train(kit.loader(x, y, 8), kit.loader(x, y, 64, shuffle=False))
    assert (trainer.global_step, trainer.epoch, trainer.step_in_epoch) == (5, 0, 5)
    assert history["epoch"] == []  # no epoch was completed


@pytest.mark.parametrize("signum, code", [(signal.SIGTERM, 143), (signal.SIGINT, 0)])
def test_a_signal_finishes_the_step_saves_and_reports_the_exit_code(kit, tmp_path, signum, code):
    config = kit.config()
    x, y = kit.data()
    run = RunContext("tiny_mlp", checkpoints=CheckpointManager(tmp_path, "run"))
    trainer = kit.trainer(config, run=run)
    calls = []

    def send_at_third_batch(module, inputs):
        calls.append(1)
        if len(calls) == 3:
            signal.raise_signal(signum)  # handled by the Trainer: the step still completes

    trainer.model.register_forward_pre_hook(send_at_third_batch)
    handler_before = signal.getsignal(signum)
    with pytest.raises(TrainingInterrupted) as stop:
        trainer.train(kit.loader(x, y, 8), kit.loader(x, y, 64, shuffle=False))
    assert stop.value.exit_code == code
    state = load_checkpoint(stop.value.checkpoint)
    assert state["kind"] == "interrupt" and state["global_step"] == 3
    assert state["step_in_epoch"] == 3
    assert signal.getsignal(signum) is handler_before  # handlers restored


# -------------------------------------------------------------------------------------- audit


def test_update_ratio_is_the_measured_change_not_lr_times_grad(kit):
    """With Adam, ||dW|| / ||W|| differs from the textbook lr * ||g|| / ||W||."""
    config = kit.config(optimizer="adam", lr=0.01, audit_every=1, epochs=1)
    x, y = kit.data(n=8)
    trainer = kit.trainer(config)
    before = {n: p.detach().clone() for n, p in parameters_of(trainer.model).items()}
    trainer.train(kit.loader(x, y, 8), kit.loader(x, y, 8))
    (record,) = trainer.history["audit"]
    assert record["step"] == 1
    for name, p in parameters_of(trainer.model).items():
        measured = float((p.detach() - before[name]).norm() / before[name].norm())
        layer = record["layers"][name]
        assert layer["update_ratio"] == pytest.approx(measured, rel=1e-6)
        textbook = config.lr * layer["grad_norm"] / float(before[name].norm())
        assert abs(textbook - measured) > 0.1 * measured, name


@pytest.mark.parametrize("lr, word", [(1e-9, "frozen"), (50.0, "unstable")])
def test_audit_warns_outside_the_healthy_band(kit, caplog, lr, word):
    config = kit.config(lr=lr, audit_every=1, epochs=1)
    x, y = kit.data(n=16)
    with caplog.at_level(logging.WARNING, logger="engine.audit"):
        kit.trainer(config).train(kit.loader(x, y, 8), kit.loader(x, y, 8))
    assert any(word in r.getMessage() and "update ratio" in r.getMessage() for r in caplog.records)


def test_no_band_warning_for_a_healthy_step(kit, caplog):
    config = kit.config(optimizer="adam", lr=1e-3, audit_every=1, epochs=1)
    x, y = kit.data(n=16)
    with caplog.at_level(logging.WARNING, logger="engine.audit"):
        kit.trainer(config).train(kit.loader(x, y, 8), kit.loader(x, y, 8))
    assert not caplog.records


def test_gradient_clipping_bounds_the_global_norm(kit):
    config = kit.config(grad_clip=0.5, audit_every=1, epochs=1)
    x, y = kit.data(n=8)
    trainer = kit.trainer(config)
    trainer.train(kit.loader(100 * x, y, 8), kit.loader(x, y, 8))
    layers = trainer.history["audit"][0]["layers"].values()
    before_clip = math.sqrt(sum(v["grad_norm"] ** 2 for v in layers))
    after_clip = torch.nn.utils.get_total_norm([p.grad for p in trainer.model.parameters()])
    assert before_clip > 5.0  # the clip was needed
    assert float(after_clip) == pytest.approx(0.5, rel=1e-5)


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "adamw"])
def test_foreach_and_fused_optimizers_take_the_same_steps_up_to_rounding(kit, optimizer):
    x, y = kit.data()
    weights = {}
    momentum = 0.9 if optimizer == "sgd" else 0.0
    for impl in ("default", "foreach", "fused"):
        config = kit.config(optimizer=optimizer, optimizer_impl=impl, momentum=momentum, epochs=2)
        trainer = kit.trainer(config)
        assert trainer.optimizer.defaults.get(impl) is (True if impl != "default" else None)
        trainer.train(kit.loader(x, y, 8), kit.loader(x, y, 8))
        weights[impl] = params(trainer.model)
    for impl in ("foreach", "fused"):
        for name, value in weights["default"].items():
            torch.testing.assert_close(weights[impl][name], value, rtol=1e-5, atol=1e-6)


def test_unknown_optimizer_impl_is_a_config_error(kit):
    with pytest.raises(ConfigError, match="optimizer_impl"):
        apply_overrides(kit.config(), {"optimizer_impl": "turbo"})


# ----------------------------------------------------------------- schedules and early stopping


@pytest.mark.parametrize("kind", ["step", "cosine", "plateau"])
def test_lr_schedulers_step_once_per_epoch(kit, kind):
    config = kit.config(scheduler=kind, step_size=1, gamma=0.5, epochs=5, lr=0.1)
    x, y = kit.data()
    trainer = kit.trainer(config)
    history = trainer.train(kit.loader(x, y, 8), kit.loader(x, y, 64, shuffle=False))
    # Replay: a fresh scheduler stepped exactly once per epoch gives the logged learning rates.
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=config.lr)
    scheduler = build_scheduler(config, optimizer)
    expected = []
    for val_accuracy in history["val_accuracy"]:
        expected.append(optimizer.param_groups[0]["lr"])
        optimizer.step()  # no gradients: changes nothing, keeps the scheduler's order check happy
        scheduler.step(val_accuracy) if kind == "plateau" else scheduler.step()
    assert history["lr"] == pytest.approx(expected, rel=1e-12)
    assert history["lr"][0] == config.lr  # the lr the first epoch trained with
    if kind != "plateau":
        assert history["lr"][-1] < config.lr


def test_early_stopping_on_the_validation_metric(kit):
    config = kit.config(lr=1e-9, epochs=20, early_stopping_patience=2)  # nothing can improve
    x, y = kit.data()
    history = kit.trainer(config).train(kit.loader(x, y, 8), kit.loader(x, y, 64, shuffle=False))
    assert history["epoch"] == [1, 2, 3]  # best at epoch 1, then 2 epochs without improvement
    assert len(set(history["val_accuracy"])) == 1
