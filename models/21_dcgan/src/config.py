"""Configuration of the DCGAN: the shared fields plus the generator's and discriminator's widths.

The defaults are the paper's training recipe (Radford et al. 2015, Sec. 4): mini-batches of 128,
Adam with lr 2e-4 and beta1 0.5, weights drawn from N(0, 0.02), LeakyReLU slope 0.2, a 100-D z.
The paper draws z uniformly (Fig. 1); here z ~ N(0, I), as in 20_gan. The networks are the
paper's Fig. 1 shrunk to 28x28 (7 -> 14 -> 28) and to a CPU budget (widths 128 and 64 in the
generator, 32 and 64 in the discriminator, instead of the paper's 1024 down to 128).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class DCGANConfig(BaseConfig):
    learns_by = BACKPROP
    # Dimension of z (the paper: 100).
    latent_dim: int = 100
    # Channels of the generator's last hidden layer; the layers before it double it per
    # halving of the side (28x28: 2 * g_width at 7x7, g_width at 14x14). The paper: 128 at
    # 32x32 of its 64x64 LSUN model, 1024 at 4x4.
    g_width: int = 64
    # Channels of the discriminator's first layer, doubled per halving of the side (the paper:
    # 128 at 32x32).
    d_width: int = 32
    # Standard deviation of the normal initialisation of every conv weight (Sec. 4: 0.02).
    init_std: float = 0.02
    # Slope of the discriminator's LeakyReLU for negative inputs (Sec. 4: 0.2).
    leaky_slope: float = 0.2
    # Adam's beta1 for both networks (Sec. 4: 0.9 made training oscillate and unstable; 0.5).
    beta1: float = 0.5
    optimizer: OptimizerName = "adam"
    lr: float = 2e-4  # both networks (Sec. 4: 0.001 was too high)
    batch_size: int = 128  # Sec. 4
    # Pixels stay intensities in [0, 1]; the model maps them to the generator's tanh range
    # [-1, 1] itself (Sec. 4: "no pre-processing besides scaling to the range of tanh").
    standardize: bool = False
    val_fraction: float = 0.05
    # A GAN's losses say little about sample quality; the discriminator's validation loss is
    # what is recorded (and ranks checkpoints) for want of a better number during training.
    monitor: str = "val_d_loss"
    monitor_mode: Literal["max", "min"] = "min"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.latent_dim >= 1, f"latent_dim must be >= 1 (got {self.latent_dim})"),
            (self.g_width >= 1, f"g_width must be >= 1 (got {self.g_width})"),
            (self.d_width >= 1, f"d_width must be >= 1 (got {self.d_width})"),
            (self.init_std > 0, f"init_std must be > 0 (got {self.init_std})"),
            (0 <= self.leaky_slope < 1, f"leaky_slope must be in [0, 1) (got {self.leaky_slope})"),
            (0 <= self.beta1 < 1, f"beta1 must be in [0, 1) (got {self.beta1})"),
            (self.optimizer == "adam", f"optimizer must be adam (got {self.optimizer!r})"),
            (
                not self.standardize,
                "standardize must be false: the model scales [0, 1] pixels to tanh's [-1, 1]",
            ),
        ]
