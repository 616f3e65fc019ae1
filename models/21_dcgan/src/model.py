"""DCGAN: the deep convolutional generative adversarial network (Radford et al. 2015).

Paper: A. Radford, L. Metz and S. Chintala, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", ICLR 2016 (arXiv:1511.06434, 2015). The game and
its losses are Goodfellow et al. (2014), the 20_gan model; what DCGAN adds is the architecture.

What is implemented, in the paper's order (Sec. 3, "Approach and model architecture"):

- the initialisation of Sec. 4: every convolution's weights from N(0, 0.02); batch norm's scale
  from N(1, 0.02) and its shift 0 (the paper says "all weights"; a scale around 0 would switch
  the layers off, so the scale is drawn around 1, as the authors' code does);
- the generator: z (100-D) projected by a fractionally-strided convolution whose kernel covers
  the whole first feature map ("the first layer ... could be called fully connected as it is
  just a matrix multiplication, but the result is reshaped into a 4-dimensional tensor"), then
  fractionally-strided 4x4 convolutions of stride 2 that double the side; batch norm and ReLU on
  every layer but the output, which is tanh. For 28x28 images the sides are 7 -> 14 -> 28 (the
  paper's 64x64 model: 4 -> 8 -> 16 -> 32 -> 64); for 32x32 (CIFAR-10), 4 -> 8 -> 16 -> 32;
- the discriminator, the generator's mirror: strided 4x4 convolutions of stride 2 in place of
  pooling, LeakyReLU (slope 0.2) everywhere, batch norm on every layer but the input layer, and
  a last convolution whose kernel covers the whole last feature map, giving one logit: no fully
  connected hidden layer anywhere;
- the losses: the discriminator's cross-entropy on real (label 1) and generated (label 0)
  batches, and the generator's non-saturating loss -log D(G(z)) (Goodfellow et al. Sec. 3);
- one training step: a discriminator update on a real and a generated batch (each its own batch,
  so batch norm never mixes them), then a generator update through the updated discriminator,
  each with its own Adam (lr 2e-4, beta1 0.5);
- sampling and straight lines in z (Sec. 6.1, "walking in the latent space");
- the discriminator's features for the paper's own evaluation (Sec. 5.1): each hidden conv
  layer's output max-pooled to a 4x4 grid, flattened and concatenated, for a linear classifier
  (features.py).

Deliberately left out: the paper's 64x64 LSUN, ImageNet and face models and their widths (1024
channels at 4x4 do not train on a CPU budget; the widths here are config.g_width and d_width),
the uniform z (a Gaussian z, as in 20_gan), vector arithmetic on faces (Sec. 6.3) and the L2-SVM
of Sec. 5.1 (a logistic regression, features.py).

Known outcomes, asserted in tests: a generated batch has the data's shape and lies in [0, 1];
samples are deterministic under a seed; a training step's discriminator update leaves the
generator unchanged and the generator update the discriminator; the discriminator learns to
separate a fixed real batch from the generator's; training resumes exactly.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.steps import Mean, StepOutput
from engine.workflow import build_optimizer

# A GAN's summed losses are two players' objectives, not one that falls: the every-model test
# checks that a few steps move the weights and keep them finite instead (tests/test_every_model);
# tests/test_dcgan.py checks the discriminator's loss falls on a fixed batch.
SMOKE_LOSS_DECREASES = False

FEATURE_GRID = 4  # Sec. 5.1: each layer's maps max-pooled to a 4x4 spatial grid


# ----------------------------------------------------------------------------------- helpers


def stage_sides(side: int) -> list[int]:
    """The sides of the feature maps from the generator's first to the image, e.g. 28 -> [7, 14,
    28] and 32 -> [4, 8, 16, 32]: halve while the side is even and the half at least 4."""
    sides = [side]
    while sides[0] % 2 == 0 and sides[0] // 2 >= 4:
        sides.insert(0, sides[0] // 2)
    assert len(sides) >= 2, f"images of side {side} cannot be halved to a side >= 4"
    return sides


def init_weights(module: nn.Module, std: float) -> None:
    """Sec. 4: conv weights ~ N(0, std); batch norm scale ~ N(1, std), shift 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, std)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)


def to_tanh_range(images: Tensor) -> Tensor:
    """Pixels in [0, 1] -> [-1, 1], the range of the generator's tanh (Sec. 4)."""
    return images * 2.0 - 1.0


def to_unit_range(images: Tensor) -> Tensor:
    """The generator's [-1, 1] -> [0, 1] pixels."""
    return (images + 1.0) / 2.0


# ------------------------------------------------------------------- generator, discriminator


class Generator(nn.Module):
    """z (B, L) -> images (B, C, H, W) in [-1, 1] by fractionally-strided convolutions.

    Args:
        latent_dim: Dimension L of z.
        image_shape: (C, H, W); H == W.
        width: Channels of the last hidden layer; each earlier layer has twice as many.
    """

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], width: int) -> None:
        super().__init__()
        channels, side, _ = image_shape
        sides = stage_sides(side)
        widths = [width * 2 ** (len(sides) - 2 - i) for i in range(len(sides) - 1)]  # [2w, w]
        self.latent_dim = latent_dim
        # The projection: (B, L, 1, 1) -> (B, widths[0], s0, s0), one kernel as large as the map.
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, widths[0], sides[0], 1, 0, bias=False),
            nn.BatchNorm2d(widths[0]),
            nn.ReLU(),
        ]
        for c_in, c_out in zip(widths[:-1], widths[1:]):  # (B, c_in, s, s) -> (B, c_out, 2s, 2s)
            layers += [
                nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False),
                nn.BatchNorm2d(c_out),
                nn.ReLU(),
            ]
        # The output layer: no batch norm (Sec. 3), tanh; (B, w, H/2, W/2) -> (B, C, H, W).
        layers += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z.view(*z.shape, 1, 1))  # (B, L) -> (B, L, 1, 1) -> (B, C, H, W)


class Discriminator(nn.Module):
    """Images (B, C, H, W) in [-1, 1] -> one logit each (B,), by strided convolutions.

    Args:
        image_shape: (C, H, W); H == W.
        width: Channels of the first layer; each later layer has twice as many.
        leaky_slope: LeakyReLU's slope for negative inputs.
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int, leaky_slope: float) -> None:
        super().__init__()
        channels, side, _ = image_shape
        sides = stage_sides(side)[::-1]  # [28, 14, 7]
        widths = [width * 2**i for i in range(len(sides) - 1)]  # [w, 2w]
        # Hidden layers, kept apart for features(): (B, c_in, s, s) -> (B, c_out, s/2, s/2).
        # No batch norm on the input layer (Sec. 3: it made samples oscillate).
        self.hidden = nn.ModuleList()
        for i, (c_in, c_out) in enumerate(zip([channels, *widths[:-1]], widths)):
            norm = nn.BatchNorm2d(c_out) if i > 0 else nn.Identity()
            self.hidden.append(
                nn.Sequential(
                    nn.Conv2d(c_in, c_out, 4, 2, 1, bias=i == 0),
                    norm,
                    nn.LeakyReLU(leaky_slope),
                )
            )
        # (B, w_last, s_last, s_last) -> (B, 1, 1, 1): one kernel as large as the last map.
        self.out = nn.Conv2d(widths[-1], 1, sides[-1], 1, 0)

    def forward(self, images: Tensor) -> Tensor:
        h = images
        for layer in self.hidden:
            h = layer(h)
        return self.out(h).flatten()  # (B, 1, 1, 1) -> (B,)

    def features(self, images: Tensor) -> Tensor:
        """Sec. 5.1: every hidden layer's maps max-pooled to a 4x4 grid, flattened and
        concatenated: (B, C, H, W) -> (B, 16 * (w + 2w + ...)), 1,536 numbers for w = 32."""
        pooled, h = [], images
        for layer in self.hidden:
            h = layer(h)  # (B, c, s, s)
            grid = F.adaptive_max_pool2d(h, FEATURE_GRID)  # (B, c, 4, 4)
            pooled.append(grid.flatten(1))  # (B, 16c)
        return torch.cat(pooled, dim=1)


# ------------------------------------------------------------------------------------ DCGAN


class DCGAN(nn.Module):
    """A generator and a discriminator, trained in turn by two Adam optimizers.

    Args:
        image_shape: (C, H, W) of the data, pixels in [0, 1].
        latent_dim: Dimension of z.
        g_width: The generator's last hidden width.
        d_width: The discriminator's first width.
        leaky_slope: The discriminator's LeakyReLU slope.
        init_std: Standard deviation of the weights' normal initialisation.
    """

    def __init__(
        self,
        image_shape: tuple[int, int, int],
        latent_dim: int = 100,
        g_width: int = 64,
        d_width: int = 32,
        leaky_slope: float = 0.2,
        init_std: float = 0.02,
    ) -> None:
        super().__init__()
        assert (
            len(image_shape) == 3 and image_shape[1] == image_shape[2]
        ), f"DCGAN needs square images (C, H, W), got {tuple(image_shape)}"
        self.image_shape, self.latent_dim = tuple(image_shape), latent_dim
        self.generator = Generator(latent_dim, self.image_shape, g_width)
        self.discriminator = Discriminator(self.image_shape, d_width, leaky_slope)
        self.apply(lambda module: init_weights(module, init_std))

    def configure_optimizers(self, config: Any) -> dict[str, torch.optim.Optimizer]:
        """One Adam per network, each over its own parameters only (Sec. 4: lr 2e-4, beta1 0.5)."""
        betas = (config.beta1, 0.999)
        return {
            name: build_optimizer(config, self, [{"params": list(net.parameters())}], betas=betas)
            for name, net in (("discriminator", self.discriminator), ("generator", self.generator))
        }

    def noise(self, num: int, generator: torch.Generator | None = None) -> Tensor:
        """z ~ N(0, I): (num, L), on the model's device."""
        device = next(self.parameters()).device
        return torch.randn(num, self.latent_dim, generator=generator).to(device)

    def losses(self, real: Tensor, fake: Tensor) -> dict[str, Tensor]:
        """The discriminator's loss on a real and a generated batch (each its own forward pass,
        so batch norm never mixes them) and the generator's non-saturating loss, both mean
        cross-entropies; plus D(x) and D(G(z)), the mean probabilities D gives each batch.

        ``fake`` keeps its graph: the generator's loss reaches the generator through it, while
        the discriminator's sees it detached.
        """
        ones, zeros = torch.ones(len(real), device=real.device), torch.zeros(
            len(fake), device=real.device
        )
        real_logits = self.discriminator(real)  # (B,)
        fake_logits = self.discriminator(fake.detach())  # (B,)
        d_loss = F.binary_cross_entropy_with_logits(
            real_logits, ones
        ) + F.binary_cross_entropy_with_logits(fake_logits, zeros)
        return {
            "d_loss": d_loss,
            "d_real": torch.sigmoid(real_logits).mean(),
            "d_fake": torch.sigmoid(fake_logits).mean(),
        }

    def generator_loss(self, fake: Tensor) -> Tensor:
        """-log D(G(z)), the non-saturating loss (Goodfellow et al. Sec. 3), a mean over B."""
        logits = self.discriminator(fake)  # (B,)
        return F.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))

    def train_step(self, batch: Any, optimizers: dict[str, torch.optim.Optimizer]) -> dict:
        """One discriminator update, then one generator update through the updated
        discriminator, on the same generated batch (the engine's multi-optimizer extension)."""
        images, _ = batch  # (B, C, H, W) in [0, 1]
        real = to_tanh_range(images)
        fake = self.generator(self.noise(len(real)))  # (B, C, H, W) in [-1, 1]

        d_out = self.losses(real, fake)
        optimizers["discriminator"].zero_grad(set_to_none=True)
        d_out["d_loss"].backward()
        optimizers["discriminator"].step()

        g_loss = self.generator_loss(fake)
        optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()  # also fills the discriminator's grads; its next zero_grad clears them
        optimizers["generator"].step()

        n = len(real)
        values = {k: float(v.detach()) for k, v in d_out.items()} | {
            "g_loss": float(g_loss.detach())
        }
        return {
            "loss": values["d_loss"] + values["g_loss"],
            **{k: Mean(v * n, n) for k, v in values.items()},
        }

    def step(self, batch: Any) -> StepOutput:
        """Evaluation: both losses and D's mean outputs on a real batch and as many samples."""
        images, _ = batch
        real = to_tanh_range(images)
        fake = self.generator(self.noise(len(real)))
        out = self.losses(real, fake)
        out["g_loss"] = self.generator_loss(fake)
        n = len(real)
        metrics = {k: Mean(v * n, n) for k, v in out.items()}
        return StepOutput(out["d_loss"] + out["g_loss"], metrics)

    def decode(self, z: Tensor) -> Tensor:
        """G(z) as pixels: z (N, L) -> (N, C, H, W) in [0, 1]."""
        return to_unit_range(self.generator(z))

    def sample(self, num: int, generator: torch.Generator) -> Tensor:
        """z ~ N(0, I) from ``generator``, through G: (num, C, H, W) in [0, 1]. In eval mode
        (batch norm's running statistics) a sample does not depend on the others drawn with
        it; the same generator state gives the same images."""
        return self.decode(self.noise(num, generator))

    def features(self, images: Tensor) -> Tensor:
        """The discriminator's pooled conv features of images in [0, 1]: (B, C, H, W) -> (B, F)."""
        return self.discriminator.features(to_tanh_range(images))


def create_model(config: Any, splits: Any) -> DCGAN:
    """The DCGAN for the data's image shape (the ModelSpec hook)."""
    return DCGAN(
        tuple(splits.input_shape),
        config.latent_dim,
        config.g_width,
        config.d_width,
        config.leaky_slope,
        config.init_std,
    )


def create_criterion(config: Any) -> None:
    """None: the model's steps compute their losses."""
    return None
