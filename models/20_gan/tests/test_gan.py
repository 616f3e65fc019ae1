"""GAN: the losses of eq. 1, the two optimizers each moving only its own network, the vanishing
gradient of the minimax generator loss, seeded sampling, learning, resume, config, the CLI."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

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
mods = model_modules("gan")
m = mods.model
SPEC = mods.train.SPEC


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


def tiny_gan(g_loss: str = "non_saturating", dropout: float = 0.0) -> m.GAN:
    torch.manual_seed(0)
    return m.GAN((1, 8, 8), 4, [16], [16], dropout=dropout, g_loss=g_loss)


def digits() -> tuple[torch.Tensor, torch.Tensor]:
    """scikit-learn's 1,797 8x8 digits as intensities in [0, 1], (N, 1, 8, 8)."""
    data = load_dataset("digits", seed=0, standardize=False)
    return (data.x_train / 16.0).float().view(-1, 1, 8, 8), data.y_train


# ----------------------------------------------------------------------------- the losses


def test_the_losses_are_the_cross_entropies_of_the_game():
    net = tiny_gan()
    real, fake = torch.rand(5, 1, 8, 8), torch.rand(5, 1, 8, 8)
    d_loss, d_real, d_fake = net.discriminator_loss(real, fake)
    p_real = torch.sigmoid(net.discriminator(real))  # D(x), (5,)
    p_fake = torch.sigmoid(net.discriminator(fake))  # D(G(z)), (5,)
    eq1 = -(p_real.log().mean() + (1 - p_fake).log().mean())  # -V(D, G) on the batch
    torch.testing.assert_close(d_loss, eq1)
    torch.testing.assert_close(d_real, p_real)
    torch.testing.assert_close(d_fake, p_fake)
    torch.testing.assert_close(net.generator_loss(fake), -p_fake.log().mean())
    minimax = tiny_gan("minimax")
    p_fake = torch.sigmoid(minimax.discriminator(fake))
    torch.testing.assert_close(minimax.generator_loss(fake), (1 - p_fake).log().mean())


def test_one_sided_label_smoothing_moves_only_the_datas_target():
    """real_label 0.9: D's target on data is 0.9 (cross-entropy -[0.9 log D(x) + 0.1 log(1 -
    D(x))]), on samples still 0; the generator's loss is unchanged."""
    net, smooth = tiny_gan(), tiny_gan()
    smooth.real_label = 0.9
    real, fake = torch.rand(5, 1, 8, 8), torch.rand(5, 1, 8, 8)
    p_real = torch.sigmoid(net.discriminator(real))
    p_fake = torch.sigmoid(net.discriminator(fake))
    expected = -(0.9 * p_real.log() + 0.1 * (1 - p_real).log()).mean() - (1 - p_fake).log().mean()
    torch.testing.assert_close(smooth.discriminator_loss(real, fake)[0], expected)
    torch.testing.assert_close(smooth.generator_loss(fake), net.generator_loss(fake))


def test_the_batch_normalised_generator_normalises_its_hidden_layers():
    torch.manual_seed(0)
    gen = m.Generator(4, [16, 32], (1, 8, 8), "leaky_relu", batch_norm=True)
    norms = [layer for layer in gen.net if isinstance(layer, torch.nn.BatchNorm1d)]
    assert [b.num_features for b in norms] == [16, 32]
    assert sum(isinstance(layer, torch.nn.LeakyReLU) for layer in gen.net) == 2
    hidden = gen.net[:3](torch.randn(256, 4))  # linear, batch norm, LeakyReLU: (256, 16)
    pre = gen.net[:2](torch.randn(256, 4))  # after batch norm (training mode): mean 0, std 1
    torch.testing.assert_close(pre.mean(0), torch.zeros(16), atol=1e-5, rtol=0)
    assert hidden.shape == (256, 16) and (hidden < 0).any()  # leaky: negative values pass


def test_the_generator_gradient_vanishes_only_with_the_minimax_loss():
    """Sec. 3: early in training D rejects the samples with confidence (D(G(z)) near 0). There
    log(1 - D(G(z))) is flat: through the logit l, its derivative is -sigmoid(l), against
    sigmoid(l) - 1 for -log D(G(z)). With D's logit biased to -10, the minimax loss gives the
    generator a gradient thousands of times smaller."""
    norms = {}
    for kind in ("minimax", "non_saturating"):
        net = tiny_gan(kind)
        with torch.no_grad():
            net.discriminator.net[-1].bias.fill_(-10.0)  # D(G(z)) about 5e-5
        net.generator_loss(net.generator(net.noise(16))).backward()
        norms[kind] = math.sqrt(sum(float(p.grad.pow(2).sum()) for p in net.generator.parameters()))
    assert norms["minimax"] < 1e-3 * norms["non_saturating"]


# ------------------------------------------------------------------------- the two updates


def test_each_optimizer_updates_only_its_own_network():
    net = tiny_gan(dropout=0.3)
    optimizers = net.configure_optimizers(config(lr=0.01))
    assert set(optimizers) == {"discriminator", "generator"}
    d_ids = {id(p) for p in net.discriminator.parameters()}
    g_ids = {id(p) for p in net.generator.parameters()}
    for name, ids in (("discriminator", d_ids), ("generator", g_ids)):
        owned = {id(p) for group in optimizers[name].param_groups for p in group["params"]}
        assert owned == ids
        assert optimizers[name].param_groups[0]["betas"] == (0.5, 0.999)

    # the discriminator's step alone moves D, not G; the generator's step moves G, not D
    real, _ = digits()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    fake = net.generator(net.noise(8)).detach()
    d_loss, _, _ = net.discriminator_loss(real[:8], fake)
    optimizers["discriminator"].zero_grad()
    d_loss.backward()
    optimizers["discriminator"].step()
    after_d = {k: v.clone() for k, v in net.state_dict().items()}
    assert all(torch.equal(before[k], after_d[k]) for k in before if k.startswith("generator"))
    assert any(not torch.equal(before[k], after_d[k]) for k in before if k.startswith("disc"))
    g_loss = net.generator_loss(net.generator(net.noise(8)))
    optimizers["generator"].zero_grad()
    g_loss.backward()
    optimizers["generator"].step()
    after_g = net.state_dict()
    assert all(torch.equal(after_d[k], after_g[k]) for k in before if k.startswith("disc"))
    assert any(not torch.equal(after_d[k], after_g[k]) for k in before if k.startswith("gen"))

    # and one whole train_step reports the game's numbers
    out = net.train_step((real[:8], None), optimizers)
    assert set(out) == {"loss", "d_loss", "g_loss", "d_real", "d_fake"}
    assert 0 < out["d_real"].total / out["d_real"].count < 1


def test_sampling_is_deterministic_under_a_seed():
    net = tiny_gan()

    def sample(seed):
        return net.sample(6, torch.Generator().manual_seed(seed))

    assert sample(1).shape == (6, 1, 8, 8)
    assert torch.equal(sample(1), sample(1)) and not torch.equal(sample(1), sample(2))
    assert sample(1).min() >= 0 and sample(1).max() <= 1


# ------------------------------------------------------------------------------ learning


def test_the_discriminator_learns_to_tell_data_from_a_fixed_generator():
    """With G frozen, D's loss on a fixed batch falls from 2 log 2 (chance) towards 0."""
    real, _ = digits()
    net = tiny_gan()
    optimizer = net.configure_optimizers(config(lr=3e-3))["discriminator"]
    fake = net.generator(net.noise(64)).detach()
    losses = []
    for _ in range(150):
        loss, _, _ = net.discriminator_loss(real[:64], fake)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] == pytest.approx(2 * math.log(2), abs=0.15)
    assert losses[-1] < 0.1


def test_training_with_two_optimizers_resumes_exactly(tmp_path):
    """Noise for both players comes from the global generator and dropout from the same:
    stopped mid-epoch, saved and resumed, the run is bit-identical to one that never stopped."""
    x, y = digits()
    cfg = config(epochs=2, max_steps=None, batch_size=128, lr=2e-3, dropout=0.3)

    def make():
        return m.GAN((1, 8, 8), 4, [16], [16], dropout=0.3)

    def loaders():
        return ArrayLoader(x[:1200], y[:1200], 128, shuffle=True, seed=1), ArrayLoader(
            x[1200:], y[1200:], 256
        )

    straight = assert_resumes_exactly(make, cfg, loaders, 13, tmp_path, steps=10)
    assert set(straight.state_dict()["optimizer_state"]) == {"discriminator", "generator"}
    for key in ("train_d_loss", "train_g_loss", "val_d_real", "val_d_fake"):
        assert len(straight.history[key]) == 2
        assert all(math.isfinite(v) for v in straight.history[key])


# ------------------------------------------------------------------------- config, end to end


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"latent_dim": 0}, ["latent_dim must be >= 1"]),
        ({"g_hidden": [32, 0]}, ["g_hidden and d_hidden must all be >= 1"]),
        ({"dropout": 1.0}, ["dropout must be in [0, 1)"]),
        ({"optimizer": "sgd"}, ["the GAN's two optimizers are adam"]),
        ({"standardize": True}, ["standardize must be false"]),
        ({"g_loss": "wasserstein"}, ["g_loss"]),
        ({"real_label": 0.4}, ["real_label must be in (0.5, 1]"]),
        ({"g_activation": "tanh"}, ["g_activation"]),
    ],
)
def test_bad_configs_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


def test_every_experiment_loads():
    for name in ("mnist", "mnist_collapse", "fashion_mnist", "smoke"):
        load_config(SPEC.config_cls, SPEC.experiments_file, name)


@needs_data
def test_smoke_trains_samples_and_evaluates_from_the_command_line(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder, "step 4")
    assert metrics["model"] == "gan" and metrics["num_samples"] == 10_000
    assert 0 < metrics["d_real"] < 1 and 0 < metrics["d_fake"] < 1
    assert metrics["d_loss"] > 0 and metrics["g_loss"] > 0
