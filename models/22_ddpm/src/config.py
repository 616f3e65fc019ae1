"""Configuration of the DDPM: the shared fields plus the diffusion's and the U-Net's own.

The diffusion is the paper's (Ho et al. 2020, Sec. 4): T = 1000 steps, betas linear from 1e-4
to 0.02, the simple loss, sigma_t^2 = beta_t. The U-Net is the paper's design (App. B) at a
fraction of its width (CIFAR-10: 128 channels, 35.7M parameters) so that it trains on a CPU in
minutes; Adam at 2e-4 as in the paper, a shorter moving average of the weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class DDPMConfig(BaseConfig):
    learns_by = BACKPROP
    # Diffusion steps T and the linear schedule's ends (Sec. 4).
    num_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    # U-Net width at 28x28 and per resolution (28, 14, 7), as multiples.
    base_channels: int = 32
    channel_mults: list[int] = field(default_factory=lambda: [1, 2, 2])
    # Self-attention at the lowest resolution (the paper: at 16x16 of 32x32).
    attention: bool = True
    # Dropout in the residual blocks (the paper: 0.1 on CIFAR-10, 0 on its other data sets).
    dropout: float = 0.0
    # Moving average of the weights that evaluation and sampling use (the paper: 0.9999 over
    # 800k steps; 0.999 suits a few thousand; 0: none).
    ema_decay: float = 0.999
    # Network evaluations per sample that evaluate.py --score uses (0: T, the paper's sampler;
    # fewer is the respaced sampler of Nichol and Dhariwal 2021, not the paper's).
    sample_steps: int = 0
    optimizer: OptimizerName = "adam"
    lr: float = 2e-4
    batch_size: int = 128
    # Pixels stay intensities in [0, 1] (the step scales them to [-1, 1], Sec. 4).
    standardize: bool = False
    # 3,000 of MNIST's 60,000 training images for validation; the canonical 10,000 are the test.
    val_fraction: float = 0.05
    monitor: str = "val_loss"
    monitor_mode: Literal["max", "min"] = "min"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.num_steps >= 2, f"num_steps must be >= 2 (got {self.num_steps})"),
            (
                0 < self.beta_start < self.beta_end < 1,
                f"need 0 < beta_start < beta_end < 1 (got {self.beta_start}, {self.beta_end})",
            ),
            (self.base_channels >= 2, f"base_channels must be >= 2 (got {self.base_channels})"),
            (
                self.base_channels % 2 == 0,
                f"base_channels must be even: it is the time embedding's size "
                f"(got {self.base_channels})",
            ),
            (
                len(self.channel_mults) >= 1 and all(m >= 1 for m in self.channel_mults),
                f"channel_mults must be one or more integers >= 1 (got {self.channel_mults})",
            ),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})"),
            (0 <= self.ema_decay < 1, f"ema_decay must be in [0, 1) (got {self.ema_decay})"),
            (
                0 <= self.sample_steps <= self.num_steps,
                f"sample_steps must be in [0, num_steps] (0: all T) (got {self.sample_steps})",
            ),
            (not self.standardize, "standardize must be false: the step scales pixels to [-1, 1]"),
        ]
