"""DDPM: the closed-form forward process against the step-by-step chain, the schedule, the U-Net,
sampling, the moving average, learning, resume, config, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from scipy import stats

from data_utils import ArrayLoader, load_dataset
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import (
    assert_config_error,
    assert_resumes_exactly,
    copy_model,
    needs_data,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("ddpm")
m, analysis = mods.model, mods.analysis
SPEC = mods.train.SPEC


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


def tiny_ddpm(num_steps: int = 20, side: int = 8, ema_decay: float = 0.9) -> m.DDPM:
    torch.manual_seed(0)
    net = m.UNet(1, 8, [1, 2], attention=True)
    return m.DDPM((1, side, side), net, num_steps, ema_decay=ema_decay)


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 8x8 digits as intensities in [0, 1], (N, 1, 8, 8)."""
    data = load_dataset("digits", seed=0, standardize=False)
    return (data.x_train / 16.0).float().view(-1, 1, 8, 8), data.y_train


# ------------------------------------------------------------------------ the forward process


def test_the_closed_form_matches_the_step_by_step_chain_in_distribution():
    """q(x_t | x_0) of eq. 4 against t steps of eq. 2, on the paper's schedule (T = 1000), for
    three pixel values at five t: the same mean and variance (to Monte-Carlo error), and a
    Kolmogorov-Smirnov two-sample test does not tell the draws apart."""
    ddpm = m.DDPM((1, 1, 3), m.UNet(1, 8, [1]), 1000).double()
    n = 10_000
    x0 = torch.tensor([-1.0, 0.0, 0.8], dtype=torch.float64).view(1, 1, 1, 3).expand(n, 1, 1, 3)
    gen = torch.Generator().manual_seed(0)
    x = x0.clone()
    checks = {1, 10, 100, 500, 1000}
    for t in range(1, 1001):
        x = ddpm.q_step(x, t - 1, torch.randn(x.shape, generator=gen, dtype=torch.float64))
        if t not in checks:
            continue
        i = torch.full((n,), t - 1)
        closed = ddpm.q_sample(x0, i, torch.randn(x.shape, generator=gen, dtype=torch.float64))
        a = ddpm.alpha_bar[t - 1]
        mean, var = a.sqrt() * x0[0].flatten(), (1 - a).expand(3)
        chain, direct = x.flatten(1), closed.flatten(1)  # (n, 3) each
        for draws in (chain, direct):
            se = (var / n).sqrt()
            assert torch.all((draws.mean(0) - mean).abs() < 5 * se + 1e-12), t
            torch.testing.assert_close(draws.var(0), var, rtol=0.05, atol=1e-9)
        for p in range(3):
            assert stats.ks_2samp(chain[:, p].numpy(), direct[:, p].numpy()).pvalue > 1e-3, (t, p)


def test_the_schedule_is_the_papers_and_ends_near_pure_noise():
    ddpm = m.DDPM((1, 4, 4), m.UNet(1, 8, [1]))
    assert ddpm.betas[0].item() == pytest.approx(1e-4, rel=1e-6)
    assert ddpm.betas[-1].item() == pytest.approx(0.02, rel=1e-6)
    assert ddpm.alpha_bar[-1] < 1e-4  # sqrt: x_T keeps < 1% of x_0, so x_T ~ N(0, I)
    assert torch.all(ddpm.alpha_bar[1:] < ddpm.alpha_bar[:-1])


def test_the_respaced_chain_keeps_the_marginals_at_its_steps():
    """Nichol and Dhariwal's respacing: the product of the new (1 - beta) up to each kept step
    is alpha_bar of that step; with all T steps it is the paper's chain."""
    ddpm = m.DDPM((1, 4, 4), m.UNet(1, 8, [1]))
    idx, betas, alpha_bar = ddpm.sampling_schedule(1000)
    assert torch.equal(betas, ddpm.betas) and len(idx) == 1000
    idx, betas, alpha_bar = ddpm.sampling_schedule(50)
    assert idx[0] == 0 and idx[-1] == 999 and len(idx) == 50
    torch.testing.assert_close(torch.cumprod(1 - betas.double(), 0).float(), ddpm.alpha_bar[idx])


def test_the_time_embedding_is_sinusoidal():
    emb = m.timestep_embedding(torch.tensor([0, 5]), 8)  # (2, 8)
    torch.testing.assert_close(emb[0], torch.tensor([0.0] * 4 + [1.0] * 4))
    freqs = torch.exp(-math.log(10000) * torch.arange(4) / 4)
    torch.testing.assert_close(emb[1, :4], torch.sin(5 * freqs))


def test_the_unet_keeps_the_shape_on_28x28_and_8x8():
    for side, mults in ((28, [1, 2, 2]), (8, [1, 2])):
        net = m.UNet(1, 8, mults)
        x = torch.randn(3, 1, side, side)
        out = net(x, torch.tensor([0, 10, 999]))
        assert out.shape == x.shape and torch.isfinite(out).all()


# ---------------------------------------------------------------------------- sampling


def test_sampling_is_deterministic_under_a_seed():
    ddpm = tiny_ddpm().eval()

    def draw(seed, **options):
        return ddpm.sample(5, torch.Generator().manual_seed(seed), **options)

    assert draw(1).shape == (5, 1, 8, 8)
    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))
    assert draw(1).min() >= 0 and draw(1).max() <= 1
    assert torch.equal(draw(1, steps=5), draw(1, steps=5))
    frames = draw(1, keep=[20, 10, 0])  # x_T, x_10, x_0
    assert frames.shape == (3, 5, 1, 8, 8) and torch.equal(frames[-1], draw(1))


def test_the_pictures_of_both_processes_have_one_frame_per_step(tmp_path):
    ddpm = tiny_ddpm().eval()
    images = digits()[0][:4]
    steps = analysis.shown_steps(ddpm.num_steps)
    frames = analysis.forward_process(ddpm, images, steps)
    assert frames.shape == (len(steps), 4, 1, 8, 8) and torch.equal(frames[0], images)
    frames, keep = analysis.reverse_process(ddpm, 3)
    assert keep[0] == 20 and keep[-1] == 0 and frames.shape == (len(keep), 3, 1, 8, 8)
    assert analysis.plot_process(frames, keep, tmp_path / "r.png", "reverse").is_file()


# ----------------------------------------------------------------------- learning, EMA, resume


def test_the_moving_average_follows_the_weights_with_its_warm_up():
    ddpm = tiny_ddpm(ema_decay=0.999)
    start = [p.clone() for p in ddpm.ema.parameters()]
    with torch.no_grad():
        for p in ddpm.net.parameters():
            p.add_(1.0)
    ddpm.update_ema()  # first update: decay min(0.999, 1 / 10) = 0.1
    for avg, s, p in zip(ddpm.ema.parameters(), start, ddpm.net.parameters()):
        torch.testing.assert_close(avg, 0.1 * s + 0.9 * p)
    assert all(not p.requires_grad for p in ddpm.ema.parameters())


def test_loss_falls_on_a_fixed_batch_and_the_optimizer_updates_the_average():
    x, _ = digits()
    batch = (x[:64], None)
    ddpm = tiny_ddpm(ema_decay=0.9)
    optimizer = ddpm.configure_optimizers(config(lr=3e-3))
    ema_before = [p.clone() for p in ddpm.ema.parameters()]

    def fixed_loss():  # the same t and noise every time
        with torch.no_grad(), torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            return ddpm.step(batch).loss.item()

    before = fixed_loss()
    for _ in range(60):
        optimizer.zero_grad()
        ddpm.step(batch).loss.backward()
        optimizer.step()
    assert fixed_loss() < 0.6 * before
    assert int(ddpm.ema_updates) == 60
    assert not torch.equal(next(ddpm.ema.parameters()), ema_before[0])


def test_training_resumes_exactly_with_the_moving_average(tmp_path):
    """t, the noise and the batch order come from the run's generators, the average is saved
    with the weights: stopped mid-epoch and resumed, the run is bit-identical."""
    x, y = digits()
    cfg = config(epochs=2, max_steps=None, batch_size=100, lr=3e-3)

    def make():
        return tiny_ddpm(num_steps=50)

    def loaders():
        return ArrayLoader(x[:800], y[:800], 100, shuffle=True, seed=1), ArrayLoader(
            x[800:1000], y[800:1000], 200
        )

    straight = assert_resumes_exactly(make, cfg, loaders, 11, tmp_path, steps=8)
    assert straight.history["val_loss"][-1] < straight.history["val_loss"][0]


# ------------------------------------------------------------------------- config, end to end


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"num_steps": 1}, ["num_steps must be >= 2"]),
        ({"beta_start": 0.05}, ["beta_start < beta_end"]),
        ({"base_channels": 7}, ["base_channels must be even"]),
        ({"channel_mults": [1, 0]}, ["channel_mults"]),
        ({"ema_decay": 1.0}, ["ema_decay must be in [0, 1)"]),
        ({"sample_steps": 51}, ["sample_steps must be in [0, num_steps]"]),
        ({"standardize": True}, ["standardize must be false"]),
    ],
)
def test_bad_configs_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


def test_every_experiment_loads():
    for name in ("mnist", "smoke"):
        load_config(SPEC.config_cls, SPEC.experiments_file, name)


@needs_data
def test_smoke_trains_samples_and_evaluates_from_the_command_line(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder, "step 4")
    assert metrics["model"] == "ddpm" and metrics["split"] == "test"
    assert metrics["num_samples"] == 10_000 and 0 < metrics["loss"] < 5
    vis = folder / "outputs" / "visualizations"
    drawn = {p.name for p in vis.glob("*")}
    assert {
        "smoke_train_forward.png",
        "smoke_train_reverse.png",
        "smoke_train_samples.png",
    } <= drawn
