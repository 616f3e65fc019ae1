"""Configuration of the GAN: the shared fields plus the generator's and discriminator's own.

The defaults are the MNIST model of Goodfellow et al. (2014, Sec. 5) at a width a CPU trains in
minutes, with the optimiser settings that later work found stable for this game (Radford et al.
2015: Adam, lr 2e-4, beta1 0.5); the paper used SGD with momentum, tuned for its maxout nets.
The defaults are the plain recipe (a ReLU generator, targets 1 and 0), which collapses onto one
digit on MNIST; the ``mnist`` experiment adds batch norm and LeakyReLU units to the generator and
one-sided label smoothing (README, "Results").
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class GANConfig(BaseConfig):
    learns_by = BACKPROP
    # Dimension of the noise z ~ N(0, I) fed to the generator (the paper: 100, uniform noise).
    latent_dim: int = 100
    # Hidden widths of the generator G(z), noise side first (the paper: 1200-1200, ReLU and
    # sigmoid units). Its output is 784 sigmoid units: images in [0, 1], as the data.
    g_hidden: list[int] = field(default_factory=lambda: [256, 512])
    # The generator's hidden units: "relu" (the paper's) or "leaky_relu" (slope 0.2).
    g_activation: Literal["relu", "leaky_relu"] = "relu"
    # Batch normalisation before each hidden activation of the generator (a DCGAN guideline,
    # Radford et al. 2015, here in the MLP).
    g_batch_norm: bool = False
    # Hidden widths of the discriminator D(x), image side first (the paper: maxout 240x5 and
    # 240x5). LeakyReLU (slope 0.2) instead of maxout: a tenth of maxout's multiply-adds at
    # these widths, and, like maxout, a non-zero gradient for every input, so D keeps passing
    # gradient to G where it is sure an image is fake.
    d_hidden: list[int] = field(default_factory=lambda: [512, 256])
    # Dropout on the discriminator's hidden layers (the paper applies dropout to D).
    dropout: float = 0.3
    # The discriminator's target on data: 1, or 0.9 for one-sided label smoothing (Salimans et
    # al. 2016; the samples' target stays 0).
    real_label: float = 1.0
    # The generator's loss. "non_saturating": maximise log D(G(z)) (the paper's Sec. 3 advice,
    # what is trained here); "minimax": minimise log(1 - D(G(z))), the game's value, whose
    # gradient vanishes early in training when D rejects the samples with confidence.
    g_loss: Literal["non_saturating", "minimax"] = "non_saturating"
    # Adam's beta1 for both players (Radford et al. 2015: 0.5; the default 0.9 oscillates more).
    beta1: float = 0.5
    optimizer: OptimizerName = "adam"
    lr: float = 2e-4
    batch_size: int = 64
    # Pixels stay intensities in [0, 1]: the generator's sigmoid outputs live there too.
    standardize: bool = False
    val_fraction: float = 0.05
    # No loss of the game measures sample quality (engine/sample_quality.py does); the monitor
    # only names which checkpoint the engine calls "best". The README uses the latest.
    monitor: str = "val_d_loss"
    monitor_mode: Literal["max", "min"] = "max"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.latent_dim >= 1, f"latent_dim must be >= 1 (got {self.latent_dim})"),
            (
                all(h >= 1 for h in self.g_hidden + self.d_hidden),
                f"g_hidden and d_hidden must all be >= 1 (got {self.g_hidden}, {self.d_hidden})",
            ),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})"),
            (0.5 < self.real_label <= 1, f"real_label must be in (0.5, 1] (got {self.real_label})"),
            (0 <= self.beta1 < 1, f"beta1 must be in [0, 1) (got {self.beta1})"),
            (self.optimizer == "adam", f"the GAN's two optimizers are adam (got {self.optimizer})"),
            (
                not self.standardize,
                "standardize must be false: images stay in [0, 1], where G's samples are",
            ),
        ]
