"""Configuration of GoogLeNet: Table 1's Inception modules as data, and the network's fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName, SchedulerName

# Table 1 of the paper: the nine Inception modules in order, each as
# (#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj). A max-pool (3x3, stride 2) follows
# 3b and 4e. The output has #1x1 + #3x3 + #5x5 + pool proj channels (3a: 256, 5b: 1024).
# Widths are the paper's, scaled by ``width_multiplier``.
INCEPTION_MODULES: dict[str, tuple[int, int, int, int, int, int]] = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
STEM_WIDTHS = (64, 64, 192)  # the paper's stem: conv 64, 1x1 reduce 64, conv 3x3 192
AUX_AFTER = ("4a", "4d")  # the paper's auxiliary classifiers (Sec. 5)


@dataclass
class GoogLeNetConfig(BaseConfig):
    learns_by = BACKPROP  # BaseConfig then requires optimizer sgd, adam or adamw
    # The paper's widths are for 224x224 ImageNet; a quarter keeps all nine modules and fits
    # 28/32-pixel images on a CPU (3a: 16 + 32 + 8 + 8 = 64 channels out).
    width_multiplier: float = 0.25
    # The third branch: "5x5" as in the paper, or "double_3x3", two stacked 3x3 convolutions
    # (reduce -> #5x5 -> #5x5) with the same 5x5 window and one more ReLU, as in BN-Inception
    # (Ioffe & Szegedy 2015); at equal widths 18 instead of 25 weights per channel pair.
    five_by_five: Literal["5x5", "double_3x3"] = "5x5"
    # The two auxiliary classifiers after 4a and 4d (Sec. 5), their loss weighted by 0.3 and
    # dropped at inference. The paper found their effect "relatively minor"; off by default.
    aux_classifiers: bool = False
    aux_weight: float = 0.3
    # Dropout 0.4 before the final linear layer (Sec. 5); 0.7 in the auxiliary heads.
    dropout: float = 0.4
    # BN after every convolution, which the paper does not have (Inception-v2 added it); on by
    # default so that the comparison with VGG (also with BN) is about the architecture.
    batch_norm: bool = True
    # The paper: asynchronous SGD, momentum 0.9, lr decreased 4% every 8 epochs. Our budgets are a
    # few epochs: synchronous SGD with a cosine decay, the same recipe as our VGG.
    optimizer: OptimizerName = "sgd"
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    epochs: int = 5
    scheduler: SchedulerName = "cosine"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                self.width_multiplier > 0,
                f"width_multiplier must be > 0 (got {self.width_multiplier})",
            ),
            (self.aux_weight >= 0, f"aux_weight must be >= 0 (got {self.aux_weight})"),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})"),
        ]
