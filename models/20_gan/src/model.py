"""The generative adversarial network (Goodfellow et al. 2014): two MLPs playing a minimax game.

Paper: I. J. Goodfellow, J. Pouget-Abadie, M. Mirza, B. Xu, D. Warde-Farley, S. Ozair,
A. Courville and Y. Bengio, "Generative Adversarial Nets", NeurIPS 2014 (arXiv:1406.2661).
Section and algorithm numbers below are the paper's.

What is implemented, in the paper's order:

- the two players (Sec. 3): a generator G(z) mapping noise z ~ N(0, I) to an image through an
  MLP with sigmoid outputs, and a discriminator D(x), an MLP giving the probability (as a logit)
  that x came from the data rather than from G;
- the value of the game, eq. 1: min_G max_D E_x[log D(x)] + E_z[log(1 - D(G(z)))]. D ascends it:
  its loss is the binary cross-entropy of "real" on data and "fake" on samples;
- the generator's loss: the game's log(1 - D(G(z))) saturates when D rejects the samples (its
  gradient vanishes exactly when G is worst), so the paper trains G to maximise log D(G(z))
  instead (Sec. 3, the "non-saturating" loss, trained here); the minimax form is kept as an
  option, and a test shows the vanishing gradient;
- Algorithm 1: alternating updates with k = 1, a discriminator step on a batch of data and a
  batch of samples, then a generator step on fresh noise against the updated discriminator, each
  with its own optimizer (``configure_optimizers``, ``train_step``: the engine's documented
  extension point for models with several optimizers).

Deliberately left out or changed (config.py says why): maxout units in D (LeakyReLU here),
1200-unit layers (256-512 here), SGD with momentum (Adam, beta1 0.5); added as options, used by
the ``mnist`` experiment: batch normalisation and LeakyReLU units in G (a DCGAN guideline) and
one-sided label smoothing (Salimans et al. 2016), without which G collapses onto one digit; the
Parzen-window log-likelihood of Table 1 (a poor estimator in 784 dimensions, Theis et al. 2016;
the samples are
scored by engine/sample_quality.py instead), the CIFAR-10 and TFD experiments.

Known outcomes, asserted in tests: each optimizer moves only its own network; the losses are the
binary cross-entropies of eq. 1; the minimax generator loss has a vanishing gradient where the
non-saturating one has not; samples are deterministic under a seed; training resumes exactly.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.steps import Mean, StepOutput
from engine.workflow import build_optimizer

# ------------------------------------------------------------------------------------ helpers


def mlp(
    sizes: list[int], activation: nn.Module, dropout: float = 0.0, batch_norm: bool = False
) -> nn.Sequential:
    """Linear layers of the given widths; (batch norm,) activation (and dropout) between them,
    none after the last."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        if i > 0:
            if batch_norm:
                layers.append(nn.BatchNorm1d(n_in))
            layers.append(activation)
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers)


# --------------------------------------------------------------------------------- the players


class Generator(nn.Module):
    """G(z): noise (B, L) -> images (B, C, H, W) in [0, 1] (sigmoid outputs, as the paper's).

    Hidden units are ReLU (the paper's) or LeakyReLU (slope 0.2); ``batch_norm`` normalises each
    hidden layer before its activation (a DCGAN guideline, Radford et al. 2015, used here in the
    MLP: without it this generator collapses onto one digit, README "Results")."""

    def __init__(
        self,
        latent_dim: int,
        hidden: list[int],
        image_shape: tuple[int, ...],
        activation: str = "relu",
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        self.image_shape = tuple(image_shape)
        act = nn.ReLU() if activation == "relu" else nn.LeakyReLU(0.2)
        self.net = mlp([latent_dim, *hidden, math.prod(self.image_shape)], act, 0.0, batch_norm)

    def forward(self, z: Tensor) -> Tensor:
        return torch.sigmoid(self.net(z)).view(len(z), *self.image_shape)  # (B, D) -> (B, C, H, W)


class Discriminator(nn.Module):
    """D(x): images (B, C, H, W) in [0, 1] -> logit of "x is real" (B,)."""

    def __init__(self, image_shape: tuple[int, ...], hidden: list[int], dropout: float) -> None:
        super().__init__()
        self.net = mlp([math.prod(image_shape), *hidden, 1], nn.LeakyReLU(0.2), dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(2 * x.flatten(1) - 1).squeeze(
            1
        )  # (B, C, H, W) -> (B, D) in [-1, 1] -> (B,)


# ------------------------------------------------------------------------------------ the GAN


class GAN(nn.Module):
    """A generator and a discriminator trained by Algorithm 1 with k = 1.

    Args:
        image_shape: (C, H, W) of the data.
        latent_dim: Dimension of z.
        g_hidden: Generator hidden widths, noise side first.
        d_hidden: Discriminator hidden widths, image side first.
        dropout: Dropout on the discriminator's hidden layers.
        g_loss: "non_saturating" (-log D(G(z))) or "minimax" (log(1 - D(G(z)))).
        g_activation: The generator's hidden units, "relu" or "leaky_relu".
        g_batch_norm: Batch normalisation on the generator's hidden layers.
        real_label: D's target on data: 1, or 0.9 for one-sided label smoothing.
    """

    def __init__(
        self,
        image_shape: tuple[int, ...],
        latent_dim: int,
        g_hidden: list[int],
        d_hidden: list[int],
        dropout: float = 0.3,
        g_loss: str = "non_saturating",
        g_activation: str = "relu",
        g_batch_norm: bool = False,
        real_label: float = 1.0,
    ) -> None:
        super().__init__()
        assert g_loss in ("non_saturating", "minimax"), f"unknown g_loss {g_loss!r}"
        self.latent_dim, self.g_loss_kind, self.real_label = latent_dim, g_loss, real_label
        self.generator = Generator(latent_dim, g_hidden, image_shape, g_activation, g_batch_norm)
        self.discriminator = Discriminator(image_shape, d_hidden, dropout)

    def configure_optimizers(self, config: Any) -> dict[str, torch.optim.Optimizer]:
        """One optimizer per player (the engine's multi-optimizer path), same settings."""
        betas = (config.beta1, 0.999)
        return {
            "discriminator": build_optimizer(
                config, self, [{"params": list(self.discriminator.parameters())}], betas=betas
            ),
            "generator": build_optimizer(
                config, self, [{"params": list(self.generator.parameters())}], betas=betas
            ),
        }

    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I): (n, L), from ``generator`` or torch's global one (seeded by the run)."""
        device = next(self.parameters()).device
        return torch.randn(n, self.latent_dim, generator=generator).to(device)

    def discriminator_loss(self, real: Tensor, fake: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """-[log D(x) + log(1 - D(G(z)))], mean over the batch (D's side of eq. 1); with D(x)
        and D(G(z)) as probabilities (B,) each. With ``real_label`` < 1 (one-sided label
        smoothing, Salimans et al. 2016) the data's target is that value instead of 1."""
        real_logits, fake_logits = self.discriminator(real), self.discriminator(fake)  # (B,)
        loss = F.binary_cross_entropy_with_logits(
            real_logits, torch.full_like(real_logits, self.real_label)
        ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))
        return loss, torch.sigmoid(real_logits), torch.sigmoid(fake_logits)

    def generator_loss(self, fake: Tensor) -> Tensor:
        """Non-saturating: -log D(G(z)); minimax: log(1 - D(G(z))) (Sec. 3). Mean over the batch.

        -log(1 - sigmoid(l)) is the cross-entropy of l with the label 0, so the minimax loss is
        minus that cross-entropy.
        """
        logits = self.discriminator(fake)  # (B,)
        if self.g_loss_kind == "non_saturating":
            return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))
        return -F.binary_cross_entropy_with_logits(logits, torch.zeros_like(logits))

    def train_step(self, batch: Any, optimizers: dict[str, torch.optim.Optimizer]) -> dict:
        """One iteration of Algorithm 1 (k = 1): ascend D's objective, then G's, in turn."""
        real, _ = batch  # (B, C, H, W) in [0, 1]
        n = len(real)
        # the discriminator: a batch of data and a batch of samples (G is not updated: detach)
        fake = self.generator(self.noise(n)).detach()
        d_loss, d_real, d_fake = self.discriminator_loss(real, fake)
        optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["discriminator"].step()
        # the generator: fresh noise, against the updated discriminator; D's gradients from
        # this backward are cleared by its own zero_grad before its next step
        g_loss = self.generator_loss(self.generator(self.noise(n)))
        optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["generator"].step()
        d, g = float(d_loss.detach()), float(g_loss.detach())
        return {
            "loss": d + g,
            "d_loss": Mean(d * n, n),
            "g_loss": Mean(g * n, n),
            "d_real": Mean(float(d_real.detach().sum()), n),  # mean D(x)
            "d_fake": Mean(float(d_fake.detach().sum()), n),  # mean D(G(z)), before D's update
        }

    def step(self, batch: Any) -> StepOutput:
        """Evaluation: both losses and D's mean outputs on a batch and as many samples."""
        real, _ = batch  # (B, C, H, W)
        n = len(real)
        fake = self.generator(self.noise(n))
        d_loss, d_real, d_fake = self.discriminator_loss(real, fake)
        g_loss = self.generator_loss(fake)
        return StepOutput(
            d_loss + g_loss,
            {
                "d_loss": Mean(d_loss * n, n),
                "g_loss": Mean(g_loss * n, n),
                "d_real": Mean(d_real.sum(), n),
                "d_fake": Mean(d_fake.sum(), n),
            },
        )

    def sample(self, num: int, generator: torch.Generator) -> Tensor:
        """G(z) for z ~ N(0, I) drawn from ``generator``: (num, C, H, W) in [0, 1]. The same
        generator state gives the same images."""
        return self.generator(self.noise(num, generator))


def create_model(config: Any, splits: Any) -> GAN:
    """The GAN for the data's image shape (the ModelSpec hook)."""
    return GAN(
        tuple(splits.input_shape),
        config.latent_dim,
        config.g_hidden,
        config.d_hidden,
        config.dropout,
        config.g_loss,
        config.g_activation,
        config.g_batch_norm,
        config.real_label,
    )


def create_criterion(config: Any) -> None:
    """None: the model's step computes its losses."""
    return None
