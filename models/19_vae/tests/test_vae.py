"""VAE: the ELBO and the IWAE bound against Monte Carlo and the exact likelihood, the
reparameterisation, sampling, learning, resume, the autoencoder against PCA, config, the CLI."""

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
    run_json,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("vae")
m, analysis = mods.model, mods.analysis
SPEC = mods.train.SPEC


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


def tiny_vae(latent_dim: int = 1, features: int = 6, hidden=()) -> m.VAE:
    torch.manual_seed(0)
    return m.VAE((features,), list(hidden), latent_dim, activation="tanh").double()


def digits() -> torch.Tensor:
    """scikit-learn's 1,797 8x8 digits as intensities in [0, 1], (N, 1, 8, 8)."""
    data = load_dataset("digits", seed=0, standardize=False)
    return (data.x_train / 16.0).float().view(-1, 1, 8, 8), data.y_train


# ------------------------------------------------------------------ the ELBO, the IWAE bound


def exact_log_likelihood(net: m.VAE, x: torch.Tensor) -> torch.Tensor:
    """log p(x) = log of the integral of p(x|z) p(z) dz over a 1-D latent, by the trapezoid
    rule on [-12, 12]: x (B, D) -> (B,)."""
    z = torch.linspace(-12, 12, 24001, dtype=torch.float64).view(-1, 1, 1)  # (Z, 1, 1)
    with torch.no_grad():
        log_joint = m.log_bernoulli(net.decoder(z), x) + m.log_normal(
            z, torch.zeros_like(z), torch.zeros_like(z)
        )  # (Z, B)
    dz = float(z[1, 0, 0] - z[0, 0, 0])
    return torch.logsumexp(log_joint, dim=0) + math.log(dz)


def test_the_elbo_is_a_monte_carlo_expectation_and_bounds_the_exact_likelihood():
    """On a model with one latent the integral log p(x) is computed exactly; the ELBO of the
    step (one reparameterised draw, analytic KL) averaged over draws equals the Monte-Carlo mean
    of log p(x, z) - log q(z|x), lies below log p(x), and the IWAE bound closes the gap with k."""
    net = tiny_vae()
    x = torch.tensor([[1.0, 0, 1, 1, 0, 0], [0, 0, 0, 1, 1, 1]], dtype=torch.float64)
    exact = exact_log_likelihood(net, x)  # (2,)
    torch.manual_seed(1)
    n = 200_000
    with torch.no_grad():
        recon, kl = net.elbo_terms(x.repeat(n, 1))  # (2n,)
        elbo = -(recon + kl).view(n, 2).mean(0)  # (2,)
        log_w = net.log_weights(x, n)  # (n, 2)
        # KL by Monte Carlo: E_q[log q(z|x) - log p(z)], against the closed form
        mu, log_var = net.encoder(x)
        z = m.reparameterize(mu, log_var, torch.randn(n, *mu.shape, dtype=torch.float64))
        kl_mc = (m.log_normal(z, mu, log_var) - m.log_normal(z, 0 * z, 0 * z)).mean(0)
    stderr = log_w.std(0) / math.sqrt(n)
    assert torch.all((elbo - log_w.mean(0)).abs() < 5 * stderr * math.sqrt(2))
    torch.testing.assert_close(kl_mc, m.gaussian_kl(mu, log_var), rtol=0, atol=0.01)
    assert torch.all(elbo < exact - 0.01)  # a strict gap: q is not the posterior
    with torch.no_grad():
        bounds = [
            torch.stack([net.iwae_bound(x, k, chunk=7) for _ in range(200)]).mean(0)
            for k in (1, 10, 100)
        ]
    assert torch.all(bounds[0] < bounds[1]) and torch.all(bounds[1] < bounds[2])
    assert torch.all(bounds[2] <= exact + 1e-3)
    with torch.no_grad():
        tight = net.iwae_bound(x, 200_000, chunk=20_000)
    # the gap falls with k, slowly here (q is narrower than this random model's posterior)
    assert torch.all((exact - tight).abs() < 0.03) and torch.all(tight > bounds[1])


def test_the_step_reports_nelbo_as_its_two_terms_and_iwae_only_when_scoring():
    net = tiny_vae(latent_dim=2, hidden=(8,))
    x = torch.bernoulli(torch.full((5, 6), 0.5, dtype=torch.float64))
    out = net.step((x, None))
    metrics = {k: float(v.total.detach()) / v.count for k, v in out.metrics.items()}
    assert metrics["nelbo"] == pytest.approx(metrics["recon"] + metrics["kl"])
    assert out.loss.item() == pytest.approx(metrics["nelbo"]) and "nll_iwae" not in metrics
    net.eval()
    net.iwae_k = 50
    with torch.no_grad():
        scored = net.step((x, None)).metrics
    assert float(scored["iwae_k"].total) / scored["iwae_k"].count == 50
    assert float(scored["nll_iwae"].total) < float(scored["nelbo"].total) + 5.0


def test_binarisation_draws_bernoulli_pixels_and_keeps_binary_data():
    intensities = torch.tensor([0.1, 0.5, 0.9]).repeat(20_000, 1)  # (N, 3)
    torch.manual_seed(0)
    drawn = m.binarize(intensities, "dynamic")
    torch.testing.assert_close(drawn.mean(0), torch.tensor([0.1, 0.5, 0.9]), rtol=0, atol=0.01)
    assert set(drawn.unique().tolist()) == {0.0, 1.0}
    assert m.binarize(intensities[:1], "threshold").tolist() == [[0.0, 0.0, 1.0]]
    binary = drawn[:100]
    assert torch.equal(m.binarize(binary, "dynamic"), binary)


# ------------------------------------------------------------------- the reparameterisation


def test_the_reparameterisation_gives_gradients_to_the_encoder():
    """The reconstruction term alone (no KL) reaches the encoder only through z = mu + sigma eps;
    and the reparameterised gradient of E[z^2] is the exact one, 2 mu and sigma^2."""
    net = tiny_vae(latent_dim=2, hidden=(8,))
    x = torch.bernoulli(torch.full((16, 6), 0.5, dtype=torch.float64))
    recon, _ = net.elbo_terms(x)
    recon.mean().backward()
    for name, p in net.encoder.named_parameters():
        assert p.grad is not None and p.grad.abs().sum() > 0, name

    mu = torch.tensor([0.7, -1.2], dtype=torch.float64, requires_grad=True)
    log_var = torch.tensor([0.3, -0.5], dtype=torch.float64, requires_grad=True)
    eps = torch.randn(400_000, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    m.reparameterize(mu, log_var, eps).pow(2).mean(0).sum().backward()
    torch.testing.assert_close(mu.grad, 2 * mu.detach(), rtol=0.02, atol=0.01)
    torch.testing.assert_close(log_var.grad, log_var.detach().exp(), rtol=0.02, atol=0.01)


# ---------------------------------------------------------------------------- sampling


@pytest.mark.parametrize("kind", ["vae", "autoencoder"])
def test_sampling_is_deterministic_under_a_seed(kind):
    torch.manual_seed(0)
    net = (m.VAE if kind == "vae" else m.Autoencoder)((1, 8, 8), [16], 3)

    def draw(seed):
        return net.sample(6, torch.Generator().manual_seed(seed))

    assert draw(1).shape == (6, 1, 8, 8)
    assert torch.equal(draw(1), draw(1)) and not torch.equal(draw(1), draw(2))
    assert draw(1).min() >= 0 and draw(1).max() <= 1


# ------------------------------------------------------------------------------ learning


@pytest.mark.parametrize("kind", ["vae", "autoencoder"])
def test_loss_falls_on_a_fixed_batch(kind):
    x, _ = digits()
    batch = (x[:64], None)
    torch.manual_seed(0)
    net = (m.VAE if kind == "vae" else m.Autoencoder)((1, 8, 8), [64], 4)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(300):
        optimizer.zero_grad()
        loss = net.step(batch).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    start, end = sum(losses[:10]) / 10, sum(losses[-10:]) / 10
    assert start > 40 and end < 0.7 * start  # 64 pixels at log 2 each: 44 nats at the start


def test_training_with_dynamic_binarisation_resumes_exactly(tmp_path):
    """Every batch draws new binary pixels and a new z from the global generator: stopped
    mid-epoch, saved and resumed, the run is bit-identical to one that never stopped."""
    x, y = digits()
    cfg = config(epochs=2, max_steps=None, batch_size=128, lr=0.01, monitor="val_nelbo")

    def make():
        return m.VAE((1, 8, 8), [16], 2)

    def loaders():
        return ArrayLoader(x[:1200], y[:1200], 128, shuffle=True, seed=1), ArrayLoader(
            x[1200:], y[1200:], 256
        )

    straight = assert_resumes_exactly(make, cfg, loaders, 13, tmp_path, steps=10)
    h = straight.history
    assert h["val_nelbo"][-1] < h["val_nelbo"][0]


# ----------------------------------------------------------------- the autoencoder and PCA


def test_a_linear_autoencoder_reaches_the_pca_reconstruction_error():
    """Baldi and Hornik (1989): trained with squared error, a linear autoencoder with a code of
    size c reconstructs as well as the top c principal components, and no better."""
    x, _ = digits()
    errors = analysis.linear_autoencoder_vs_pca(x.flatten(1), code_size=5, steps=2000)
    assert errors["autoencoder"] >= errors["pca"] * (1 - 1e-9)  # PCA is the optimum
    assert errors["autoencoder"] == pytest.approx(errors["pca"], rel=1e-4)


# ------------------------------------------------------------------------- config, end to end


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"latent_dim": 0}, ["latent_dim must be >= 1"]),
        ({"hidden_sizes": [32, 0]}, ["hidden_sizes must all be >= 1"]),
        ({"iwae_k": -1}, ["iwae_k must be >= 0"]),
        ({"iwae_chunk": 0}, ["iwae_chunk must be >= 1"]),
        ({"standardize": True}, ["standardize must be false"]),
        ({"binarize": "otsu"}, ["binarize"]),
        ({"kind": "gan"}, ["kind"]),
        ({"kind": "autoencoder"}, ["an autoencoder reports only recon: monitor val_recon"]),
    ],
)
def test_bad_configs_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


def test_every_experiment_loads():
    for name in ("mnist", "autoencoder", "latent2d", "autoencoder2d", "smoke"):
        load_config(SPEC.config_cls, SPEC.experiments_file, name)


@needs_data
def test_smoke_trains_samples_and_evaluates_from_the_command_line(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder, "step 4")
    assert metrics["model"] == "vae" and metrics["split"] == "binarized_test"
    assert metrics["num_samples"] == 10_000 and metrics["iwae_k"] == 5
    assert metrics["nelbo"] == pytest.approx(metrics["recon"] + metrics["kl"], rel=1e-6)
    assert metrics["nll_iwae"] < metrics["nelbo"]
    again = run_json(
        folder, "evaluate.py", "--checkpoint", "latest", "--experiment", "smoke", "--iwae-k", "0"
    )
    assert "nll_iwae" not in again
