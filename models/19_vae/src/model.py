"""The variational autoencoder (Kingma and Welling 2013), and a plain autoencoder as its baseline.

Papers: D. P. Kingma and M. Welling, "Auto-Encoding Variational Bayes", ICLR 2014
(arXiv:1312.6114, 2013); Y. Burda, R. Grosse and R. Salakhutdinov, "Importance Weighted
Autoencoders", ICLR 2016 (the IWAE bound used here to estimate log p(x)).

What is implemented, in the paper's order:

- the helpers: the binarisation of MNIST's grey pixels (dynamic: x ~ Bernoulli(intensity) per
  batch, Burda et al.'s protocol; or a fixed threshold), the log-densities of a Bernoulli and a
  diagonal Gaussian, and the analytic KL(N(mu, sigma^2) || N(0, I)) of Kingma and Welling App. B;
- the Gaussian encoder q(z|x) = N(mu(x), diag sigma^2(x)) (App. C.2) and the Bernoulli decoder
  p(x|z) = Bernoulli(sigmoid(f(z))) (App. C.1), MLPs;
- the reparameterisation z = mu + sigma * eps, eps ~ N(0, I) (Sec. 2.4), which makes a sample of
  z a differentiable function of the encoder's outputs;
- the ELBO with one sample of z and the analytic KL (the SGVB estimator of eq. 10), the loss
  being -ELBO in nats per image;
- the IWAE bound L_k = E[log (1/k) sum_i p(x, z_i) / q(z_i|x)] (Burda et al. eq. 8), computed with
  logsumexp in chunks of importance samples: with k = 500 it is the test-set estimate of
  log p(x) that the papers report;
- sampling: z ~ N(0, I), then the decoder's Bernoulli means;
- the baseline, a deterministic autoencoder with the same MLPs, trained on the same Bernoulli
  reconstruction loss. Its codes are not drawn from anything: decoding z ~ N(0, I) is what shows
  that a plain autoencoder's latent space does not sample.

Deliberately left out: the paper's Frey Face model (a Gaussian decoder), its wake-sleep and
Monte-Carlo EM comparisons, the IWAE training objective (only its bound as an estimator) and
convolutional encoders; the one-layer MLPs are the paper's model.

Known outcomes, asserted in tests: the ELBO equals a Monte-Carlo computation of
E_q[log p(x, z) - log q(z|x)] on a tiny model, and both bound the exact log p(x) (numerical
integration over a 1-D latent) from below, the IWAE bound more tightly as k grows; the encoder
gets gradients through the reparameterisation; samples are deterministic under a seed; the loss
falls on a fixed batch; training resumes exactly; a linear autoencoder trained with squared error
reaches PCA's reconstruction error (Baldi and Hornik 1989).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.steps import Mean, StepOutput

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh}
LOG_2PI = math.log(2 * math.pi)


# ------------------------------------------------------------------------------------ helpers


def binarize(x: Tensor, how: str) -> Tensor:
    """Grey images (B, C, H, W) in [0, 1] -> flat {0, 1} pixels (B, D), D = C * H * W.

    "dynamic" draws each pixel as Bernoulli(intensity) from torch's global generator (seeded by
    the run, restored on resume), a new draw every call; "threshold" keeps intensity > 0.5. Data
    that is already binary passes through either unchanged.
    """
    x = x.flatten(1)  # (B, C, H, W) -> (B, D)
    if how == "dynamic":
        return torch.bernoulli(x)
    assert how == "threshold", f"binarize is 'dynamic' or 'threshold' (got {how!r})"
    return (x > 0.5).to(x.dtype)


def log_bernoulli(logits: Tensor, x: Tensor) -> Tensor:
    """log p(x | logits) summed over the last dimension: (..., D) -> (...).

    x log sigmoid(l) + (1 - x) log(1 - sigmoid(l)), which is minus the binary cross-entropy.
    """
    logits, x = torch.broadcast_tensors(logits, x)  # e.g. (k, B, D) logits for x (B, D)
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def log_normal(z: Tensor, mu: Tensor, log_var: Tensor) -> Tensor:
    """log N(z; mu, diag exp(log_var)) summed over the last dimension: (..., L) -> (...)."""
    return -0.5 * (LOG_2PI + log_var + (z - mu).pow(2) / log_var.exp()).sum(-1)


def gaussian_kl(mu: Tensor, log_var: Tensor) -> Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) in closed form (Kingma and Welling App. B): (B, L) -> (B,).

    -KL = 1/2 sum_j (1 + log sigma_j^2 - mu_j^2 - sigma_j^2).
    """
    return 0.5 * (mu.pow(2) + log_var.exp() - 1.0 - log_var).sum(-1)


def mlp(sizes: list[int], activation: str) -> nn.Sequential:
    """Linear layers of the given widths, the activation between them (none after the last)."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            layers.append(ACTIVATIONS[activation]())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


# ------------------------------------------------------------------------- encoder, decoder


class GaussianEncoder(nn.Module):
    """q(z|x) = N(mu(x), diag sigma^2(x)): an MLP whose last layer gives mu and log sigma^2
    (App. C.2; predicting the log-variance keeps sigma positive without a constraint)."""

    def __init__(
        self, in_features: int, hidden_sizes: list[int], latent_dim: int, activation: str
    ) -> None:
        super().__init__()
        self.net = mlp([in_features, *hidden_sizes, 2 * latent_dim], activation)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """(B, D) -> mu (B, L), log_var (B, L)."""
        mu, log_var = self.net(x).chunk(2, dim=-1)  # (B, 2L) -> 2 x (B, L)
        return mu, log_var


class BernoulliDecoder(nn.Module):
    """p(x|z) = prod_d Bernoulli(x_d; sigmoid(f(z))_d): an MLP giving one logit per pixel
    (App. C.1)."""

    def __init__(
        self, latent_dim: int, hidden_sizes: list[int], out_features: int, activation: str
    ) -> None:
        super().__init__()
        self.net = mlp([latent_dim, *hidden_sizes, out_features], activation)

    def forward(self, z: Tensor) -> Tensor:
        """(..., L) -> logits (..., D)."""
        return self.net(z)


# ----------------------------------------------------------------------------------- the VAE


def reparameterize(mu: Tensor, log_var: Tensor, eps: Tensor) -> Tensor:
    """z = mu + sigma * eps (Sec. 2.4): a draw of q(z|x) that gradients flow through to mu and
    sigma. eps (..., B, L) broadcasts over mu and log_var (B, L)."""
    return mu + (0.5 * log_var).exp() * eps


class VAE(nn.Module):
    """A Gaussian encoder, a standard normal prior on z and a Bernoulli decoder.

    Args:
        image_shape: (C, H, W) of the images; the model sees them flat.
        hidden_sizes: Encoder hidden widths, input side first; the decoder mirrors them.
        latent_dim: Dimension L of z.
        activation: "relu" or "tanh".
        binarize: "dynamic" or "threshold" (``binarize`` above).
        iwae_k: Importance samples of the IWAE estimate the step reports in evaluation (0: none;
            evaluate.py sets it, so that validation during training stays cheap).
        iwae_chunk: Importance samples drawn at a time.
    """

    def __init__(
        self,
        image_shape: tuple[int, ...],
        hidden_sizes: list[int],
        latent_dim: int,
        activation: str = "relu",
        binarize: str = "dynamic",
        iwae_k: int = 0,
        iwae_chunk: int = 100,
    ) -> None:
        super().__init__()
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.binarize, self.iwae_k, self.iwae_chunk = binarize, iwae_k, iwae_chunk
        features = math.prod(self.image_shape)
        self.encoder = GaussianEncoder(features, hidden_sizes, latent_dim, activation)
        self.decoder = BernoulliDecoder(
            latent_dim, list(reversed(hidden_sizes)), features, activation
        )

    def elbo_terms(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The two terms of -ELBO for binary x (B, D), one draw of z (eq. 10): the expected
        reconstruction cost -log p(x|z) (B,) and KL(q(z|x) || p(z)) (B,), in nats."""
        mu, log_var = self.encoder(x)  # (B, L) each
        z = reparameterize(mu, log_var, torch.randn_like(mu))  # (B, L)
        recon = -log_bernoulli(self.decoder(z), x)  # (B,)
        return recon, gaussian_kl(mu, log_var)

    def log_weights(self, x: Tensor, k: int) -> Tensor:
        """log p(x, z_i) - log q(z_i|x) for k draws z_i ~ q(z|x): x (B, D) -> (k, B)."""
        mu, log_var = self.encoder(x)  # (B, L)
        eps = torch.randn((k, *mu.shape), dtype=mu.dtype, device=mu.device)  # (k, B, L)
        z = reparameterize(mu, log_var, eps)  # (k, B, L)
        log_px_z = log_bernoulli(self.decoder(z), x)  # (k, B, D) logits -> (k, B)
        log_pz = log_normal(z, torch.zeros_like(z), torch.zeros_like(z))  # (k, B)
        return log_px_z + log_pz - log_normal(z, mu, log_var)

    def iwae_bound(self, x: Tensor, k: int, chunk: int | None = None) -> Tensor:
        """L_k = log (1/k) sum_i w_i (Burda et al. eq. 8) per image: x (B, D) -> (B,).

        A lower bound on log p(x) that tightens as k grows (L_1 is the ELBO); -L_k with large k
        is the papers' estimate of the negative log-likelihood. The k weights are drawn
        ``chunk`` at a time and combined with a running logsumexp, so memory does not grow
        with k.
        """
        chunk = chunk or self.iwae_chunk
        total = torch.full((len(x),), -math.inf, dtype=x.dtype, device=x.device)  # log sum w
        for start in range(0, k, chunk):
            log_w = self.log_weights(x, min(chunk, k - start))  # (c, B)
            total = torch.logaddexp(total, torch.logsumexp(log_w, dim=0))
        return total - math.log(k)

    def step(self, batch: Any) -> StepOutput:
        """-ELBO (nats per image) and its two terms; in evaluation with iwae_k > 0 also the IWAE
        estimate of -log p(x) on the same binarised images."""
        images, _ = batch  # (B, C, H, W) intensities in [0, 1] (or already binary)
        x = binarize(images, self.binarize)  # (B, D)
        recon, kl = self.elbo_terms(x)  # (B,) each
        nelbo = recon + kl  # (B,) -ELBO, an upper bound on -log p(x)
        n = len(x)
        metrics = {
            "nelbo": Mean(nelbo.sum(), n),
            "recon": Mean(recon.sum(), n),
            "kl": Mean(kl.sum(), n),
        }
        if not self.training and self.iwae_k > 0:
            nll = -self.iwae_bound(x, self.iwae_k)  # (B,)
            metrics["nll_iwae"] = Mean(nll.sum(), n)
            metrics["iwae_k"] = Mean(torch.tensor(float(self.iwae_k * n)), n)  # k, in the JSON
        return StepOutput(nelbo.mean(), metrics)

    def encode(self, images: Tensor) -> Tensor:
        """The posterior means mu(x) of images (B, C, H, W), binarised as in training: (B, L)."""
        return self.encoder(binarize(images, self.binarize))[0]

    def decode(self, z: Tensor) -> Tensor:
        """The Bernoulli means sigmoid(f(z)) as images: z (N, L) -> (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decoder(z)).view(len(z), *self.image_shape)

    def sample(self, num: int, generator: torch.Generator) -> Tensor:
        """z ~ N(0, I), decoded to Bernoulli means (the grey images papers show, not a binary
        draw): (num, C, H, W). The same generator state gives the same images."""
        device = next(self.parameters()).device
        z = torch.randn(num, self.latent_dim, generator=generator).to(device)  # (num, L)
        return self.decode(z)


# --------------------------------------------------------------------------- the baseline


class Autoencoder(nn.Module):
    """A deterministic autoencoder: code = f(x), reconstruction logits = g(code).

    The same MLPs as the VAE (the encoder gives L numbers, not 2L), trained to minimise the
    Bernoulli reconstruction cost -log p(x | g(f(x))), the VAE's ``recon`` term without a
    sampled z and without the KL term. With no hidden layers it is linear: trained with squared
    error on ``reconstruct``, it spans the principal subspace (Baldi and Hornik 1989).
    """

    def __init__(
        self,
        image_shape: tuple[int, ...],
        hidden_sizes: list[int],
        latent_dim: int,
        activation: str = "relu",
        binarize: str = "dynamic",
    ) -> None:
        super().__init__()
        self.image_shape, self.latent_dim, self.binarize = tuple(image_shape), latent_dim, binarize
        features = math.prod(self.image_shape)
        self.encoder = mlp([features, *hidden_sizes, latent_dim], activation)
        self.decoder = mlp([latent_dim, *reversed(hidden_sizes), features], activation)

    def reconstruct(self, x: Tensor) -> Tensor:
        """g(f(x)) for flat x (B, D): logits (B, D), or the reconstruction of a linear one."""
        return self.decoder(self.encoder(x))

    def step(self, batch: Any) -> StepOutput:
        """The reconstruction cost -log p(x | g(f(x))) in nats per image."""
        images, _ = batch  # (B, C, H, W)
        x = binarize(images, self.binarize)  # (B, D)
        recon = -log_bernoulli(self.reconstruct(x), x)  # (B,)
        return StepOutput(recon.mean(), {"recon": Mean(recon.sum(), len(x))})

    def encode(self, images: Tensor) -> Tensor:
        """The codes f(x) of images (B, C, H, W), binarised as in training: (B, L)."""
        return self.encoder(binarize(images, self.binarize))

    def decode(self, z: Tensor) -> Tensor:
        """sigmoid(g(z)) as images: z (N, L) -> (N, C, H, W) in [0, 1]."""
        return torch.sigmoid(self.decoder(z)).view(len(z), *self.image_shape)

    def sample(self, num: int, generator: torch.Generator) -> Tensor:
        """Decode z ~ N(0, I), as the VAE samples: the autoencoder never learned what codes
        are likely, so these are mostly not digits (the weakness the VAE answers)."""
        device = next(self.parameters()).device
        z = torch.randn(num, self.latent_dim, generator=generator).to(device)  # (num, L)
        return self.decode(z)


def create_model(config: Any, splits: Any) -> VAE | Autoencoder:
    """The VAE or the autoencoder for the data's image shape (the ModelSpec hook)."""
    shape = tuple(splits.input_shape)
    if config.kind == "autoencoder":
        return Autoencoder(
            shape, config.hidden_sizes, config.latent_dim, config.activation, config.binarize
        )
    return VAE(
        shape,
        config.hidden_sizes,
        config.latent_dim,
        config.activation,
        config.binarize,
        iwae_chunk=config.iwae_chunk,
    )


def create_criterion(config: Any) -> None:
    """None: the model's step computes its loss."""
    return None
