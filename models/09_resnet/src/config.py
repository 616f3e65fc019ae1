"""Configuration of the CIFAR-style ResNet: the shared fields plus the network's own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName, SchedulerName


@dataclass
class ResNetConfig(BaseConfig):
    learns_by = BACKPROP  # BaseConfig then requires optimizer sgd, adam or adamw
    # Weighted layers 6n + 2 (Sec. 4.2): the stem, 3 stages of n blocks of two 3x3 convolutions,
    # the classifier. The paper trains 20, 32, 44, 56 and 110; 8 (n = 1) is our CPU-sized net.
    depth: int = 20
    # Filters of the three stages, on 32x32, 16x16 and 8x8 maps (28, 14, 7 for Fashion-MNIST).
    widths: tuple[int, int, int] = (16, 32, 64)
    # False removes every shortcut: the paper's "plain" counterpart, same layers and parameters.
    residual: bool = True
    # Shortcut where the shape changes (Sec. 3.3): "A" zero-pads the channels of a strided
    # identity (no parameters; the paper's choice on CIFAR-10), "B" is a 1x1 projection + BN.
    shortcut: Literal["A", "B"] = "A"
    # Start each block's last BN at gamma = 0, so every residual block is the identity at
    # initialisation (Goyal et al. 2017). Not in the paper; off by default.
    zero_init_residual: bool = False
    # Training-time augmentation of Sec. 4.2 (from Lee et al. 2015): pad by crop_padding pixels,
    # take a random crop of the original size, flip left-right with probability 1/2.
    augment: bool = False
    crop_padding: int = 4
    # The paper's optimiser: SGD, momentum 0.9, weight decay 1e-4, batches of 128, lr 0.1. It
    # divides lr by 10 at 32k and 48k of 64k iterations (164 epochs); our budgets are a few
    # epochs, so the lr follows a cosine to 0 over the epochs we can afford instead.
    optimizer: OptimizerName = "sgd"
    lr: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 1e-4
    batch_size: int = 128
    epochs: int = 5
    scheduler: SchedulerName = "cosine"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                self.depth >= 8 and (self.depth - 2) % 6 == 0,
                f"depth must be 6n + 2 with n >= 1: 8, 14, 20, 32, 56 (got {self.depth})",
            ),
            (all(w >= 1 for w in self.widths), f"widths must all be >= 1 (got {self.widths})"),
            (
                self.shortcut != "A" or list(self.widths) == sorted(self.widths),
                f"shortcut A zero-pads channels: widths must not shrink ({self.widths})",
            ),
            (self.crop_padding >= 0, f"crop_padding must be >= 0 (got {self.crop_padding})"),
        ]
