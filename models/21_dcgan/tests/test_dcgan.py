"""DCGAN: the architecture guidelines, sampling, the two optimizers, learning on a fixed batch,
resume, the discriminator's features, config, the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from data_utils import ArrayLoader
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import (
    assert_config_error,
    assert_resumes_exactly,
    copy_model,
    needs_data,
    patch_image_splits,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("dcgan")
m, analysis = mods.model, mods.analysis
SPEC = mods.train.SPEC


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


def tiny(shape=(1, 28, 28)) -> m.DCGAN:
    torch.manual_seed(0)
    return m.DCGAN(shape, latent_dim=8, g_width=8, d_width=4)


def images(n: int = 16) -> torch.Tensor:
    """The patch images of utils.testing as pixels in [0, 1]: (n, 1, 28, 28)."""
    splits = patch_image_splits(n)
    return splits.transform(splits.x_train)


# -------------------------------------------------------------------------- the architecture


@pytest.mark.parametrize(
    "shape, sides", [((1, 28, 28), [7, 14, 28]), ((3, 32, 32), [4, 8, 16, 32])]
)
def test_the_networks_follow_the_guidelines_at_both_sizes(shape, sides):
    """Strided and fractionally-strided convolutions only (no pooling, no linear layer), batch
    norm everywhere but G's output and D's input, ReLU in G, LeakyReLU in D, tanh output."""
    assert m.stage_sides(shape[1]) == sides
    net = tiny(shape)
    kinds = {type(module) for module in net.modules()}
    assert not kinds & {nn.Linear, nn.MaxPool2d, nn.AvgPool2d}
    g_layers = list(net.generator.net)
    assert isinstance(g_layers[-1], nn.Tanh) and isinstance(g_layers[-2], nn.ConvTranspose2d)
    assert sum(isinstance(x, nn.BatchNorm2d) for x in g_layers) == len(sides) - 1
    assert {type(x) for x in g_layers} == {nn.ConvTranspose2d, nn.BatchNorm2d, nn.ReLU, nn.Tanh}
    d_first, *d_rest = net.discriminator.hidden
    assert not any(isinstance(x, nn.BatchNorm2d) for x in d_first)
    assert all(isinstance(layer[1], nn.BatchNorm2d) for layer in d_rest)
    assert all(isinstance(layer[2], nn.LeakyReLU) for layer in net.discriminator.hidden)
    z = torch.randn(5, 8)
    fake = net.generator(z)
    assert fake.shape == (5, *shape) and fake.abs().max() <= 1
    assert net.discriminator(fake).shape == (5,)
    # Sec. 5.1: every hidden layer max-pooled to 4x4 and concatenated: 16 * (4 + 8 [+ 16])
    widths = [4 * 2**i for i in range(len(sides) - 1)]
    assert net.features(net.decode(z)).shape == (5, 16 * sum(widths))


def test_weights_start_as_the_paper_draws_them():
    net = m.DCGAN((1, 28, 28), latent_dim=100, g_width=64, d_width=32).requires_grad_(False)
    convs = [x.weight for x in net.modules() if isinstance(x, (nn.Conv2d, nn.ConvTranspose2d))]
    weights = torch.cat([w.flatten() for w in convs])
    assert abs(weights.mean()) < 1e-3 and weights.std() == pytest.approx(0.02, rel=0.02)
    scales = torch.cat([x.weight for x in net.modules() if isinstance(x, nn.BatchNorm2d)])
    assert scales.mean() == pytest.approx(1.0, abs=0.01)


# ------------------------------------------------------------------------------- sampling


def test_sampling_is_deterministic_under_a_seed():
    net = tiny().eval()

    def draw(seed, num=6):
        return net.sample(num, torch.Generator().manual_seed(seed))

    assert draw(1).shape == (6, 1, 28, 28)
    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))
    assert draw(1).min() >= 0 and draw(1).max() <= 1
    # in eval mode a sample does not depend on how many are drawn with it
    torch.testing.assert_close(draw(1, 12)[:6], draw(1))


def test_interpolations_run_from_one_sample_to_another():
    net = tiny().eval()
    grid = analysis.interpolations(net, 3, 5, torch.Generator().manual_seed(0))
    assert grid.shape == (3, 5, 1, 28, 28)
    ends = net.noise(6, torch.Generator().manual_seed(0)).view(3, 2, -1)
    with torch.no_grad():
        torch.testing.assert_close(grid[:, 0], net.decode(ends[:, 0]))
        torch.testing.assert_close(grid[:, -1], net.decode(ends[:, 1]))


# ---------------------------------------------------------------------- the two optimizers


def test_the_two_optimizers_update_only_their_own_network():
    """Each optimizer holds exactly its network's parameters; in a training step the
    discriminator's update moves no generator weight and the generator's no discriminator
    weight, and each moves every weight of its own."""
    net = tiny()
    optimizers = net.configure_optimizers(config())
    assert list(optimizers) == ["discriminator", "generator"]
    for name, optimizer in optimizers.items():
        held = {id(p) for group in optimizer.param_groups for p in group["params"]}
        assert held == {id(p) for p in getattr(net, name).parameters()}
        assert optimizer.param_groups[0]["betas"] == (0.5, 0.999)
        assert optimizer.param_groups[0]["lr"] == 2e-4
    moved: dict[str, set[str]] = {}

    def recording(name, optimizer):
        original = optimizer.step

        def step(*args, **kwargs):
            before = {k: v.detach().clone() for k, v in net.named_parameters()}
            out = original(*args, **kwargs)
            moved[name] = {k for k, v in net.named_parameters() if not torch.equal(v, before[k])}
            return out

        optimizer.step = step

    for name, optimizer in optimizers.items():
        recording(name, optimizer)
    out = net.train_step((images(), None), optimizers)
    for name in optimizers:
        own = {k for k, _ in net.named_parameters() if k.startswith(name + ".")}
        assert moved[name] == own, name
    assert out["loss"] == pytest.approx(out["d_loss"].total / 16 + out["g_loss"].total / 16)


# ------------------------------------------------------------------------------ learning


def test_the_discriminator_learns_to_tell_a_fixed_batch_from_the_generators():
    """Trained alone on a fixed real batch and a fixed generated one, D's loss falls from
    about 2 log 2 (it cannot tell) and D(x) rises above D(G(z))."""
    net = tiny()
    real = m.to_tanh_range(images())
    with torch.no_grad():
        fake = net.generator(torch.randn(16, 8))
    optimizer = net.configure_optimizers(config(lr=2e-3))["discriminator"]
    losses = []
    for _ in range(60):
        out = net.losses(real, fake)
        optimizer.zero_grad()
        out["d_loss"].backward()
        optimizer.step()
        losses.append(out["d_loss"].item())
    assert losses[0] == pytest.approx(2 * 0.6931, abs=0.3)
    assert losses[-1] < 0.3 * losses[0] and out["d_real"] > 0.8 > 0.2 > out["d_fake"]


def test_the_generator_learns_to_fool_a_fixed_discriminator():
    """Trained alone against a fixed D, G's non-saturating loss -log D(G(z)) falls."""
    net = tiny()
    z = torch.randn(16, 8)
    optimizer = net.configure_optimizers(config(lr=2e-3))["generator"]
    losses = []
    for _ in range(40):
        loss = net.generator_loss(net.generator(z))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0]


def test_training_resumes_exactly(tmp_path):
    """Two optimizers, batch norm, z drawn from the global generator every step: stopped
    mid-epoch, saved and resumed, the run is bit-identical to one that never stopped."""
    x = images(64)
    y = torch.zeros(64, dtype=torch.int64)
    cfg = config(epochs=2, max_steps=None, batch_size=16)

    def loaders():
        return ArrayLoader(x[:48], y[:48], 16, shuffle=True, seed=1), ArrayLoader(
            x[48:], y[48:], 16
        )

    straight = assert_resumes_exactly(tiny, cfg, loaders, 4, tmp_path)  # mid-epoch 2
    assert set(straight.state_dict()["optimizer_state"]) == {"discriminator", "generator"}
    assert len(straight.history["train_d_loss"]) == 2


# ------------------------------------------------------------------ the paper's evaluation


def test_the_feature_evaluation_scores_pixels_and_features_with_one_classifier():
    splits = patch_image_splits(40)
    result = analysis.feature_evaluation(tiny(), splits, max_iter=50)
    assert result["train_images"] == 48 and result["test_images"] == 8  # train + val, test
    assert result["pixels_dim"] == 784 and result["discriminator_dim"] == 16 * (4 + 8)
    for name in ("pixels", "discriminator"):
        assert 0 <= result[f"{name}_accuracy"] <= 1
    assert result["pixels_accuracy"] == 1.0  # the patch's place is the class: linear in pixels


# ------------------------------------------------------------------------- config, end to end


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"latent_dim": 0}, ["latent_dim must be >= 1"]),
        ({"g_width": 0}, ["g_width must be >= 1"]),
        ({"d_width": 0}, ["d_width must be >= 1"]),
        ({"leaky_slope": 1.0}, ["leaky_slope must be in [0, 1)"]),
        ({"beta1": 1.0}, ["beta1 must be in [0, 1)"]),
        ({"optimizer": "sgd"}, ["optimizer must be adam"]),
        ({"standardize": True}, ["standardize must be false"]),
    ],
)
def test_bad_configs_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


def test_every_experiment_loads():
    for name in ("fashion_mnist", "mnist", "cifar10", "smoke"):
        load_config(SPEC.config_cls, SPEC.experiments_file, name)


@needs_data
def test_smoke_trains_samples_and_evaluates_from_the_command_line(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder, "step 4")
    assert metrics["model"] == "dcgan" and metrics["split"] == "test"
    assert metrics["num_samples"] == 10_000
    assert 0 < metrics["d_real"] < 1 and 0 < metrics["d_fake"] < 1
