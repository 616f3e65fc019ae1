"""Configuration of VGG: the paper's configurations as data, and the network's own fields."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName, SchedulerName

# Table 1 of the paper: the 3x3 convolutions of each of the five stages, by configuration; every
# stage ends in a 2x2 max-pool. Depth is data: A has 8 convolutions, B 10, D 13, E 16, each
# followed by the three fully connected layers (11, 13, 16 and 19 weight layers). C (D with
# 1x1 convolutions in place of three of the 3x3 ones) is left out: it is the paper's ablation of
# the receptive field, not of depth. Widths are the paper's, scaled by ``width_multiplier``.
CONFIGURATIONS: dict[str, tuple[tuple[int, ...], ...]] = {
    "A": ((64,), (128,), (256, 256), (512, 512), (512, 512)),
    "B": ((64, 64), (128, 128), (256, 256), (512, 512), (512, 512)),
    "D": ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512)),
    "E": ((64, 64), (128, 128), (256,) * 4, (512,) * 4, (512,) * 4),
}


@dataclass
class VGGConfig(BaseConfig):
    learns_by = BACKPROP  # BaseConfig then requires optimizer sgd, adam or adamw
    # Which column of Table 1: "A" (VGG-11), "B" (VGG-13), "D" (VGG-16), "E" (VGG-19).
    configuration: Literal["A", "B", "D", "E"] = "A"
    # The paper's widths (64 ... 512) are for 224x224 ImageNet; a quarter (16 ... 128) keeps the
    # five stages and fits 28/32-pixel images and a CPU budget.
    width_multiplier: float = 0.25
    # The paper's classifier is FC-4096, FC-4096, FC-1000 with dropout 0.5 on the first two;
    # scaled to the 128 features left after five poolings of a 32x32 image.
    fc_sizes: tuple[int, ...] = (256, 256)
    # Dropout after each hidden FC layer. The paper's 0.5 on 4096 units is harmless; on our 256
    # units it stalls short runs (VGG-B with BN, 5000 CIFAR-10 images, 4 epochs: 0.17 test
    # accuracy with 0.5, 0.50 with 0; README), so it is off for our budgets.
    dropout: float = 0.0
    # Batch normalisation (Ioffe & Szegedy, 2015) came a year after VGG; the paper has none.
    # On: BN after every convolution. Off: the "plain" net of the paper.
    batch_norm: bool = True
    # Initial weights: "normal" is the paper's N(0, 0.01^2) (Sec. 3.1; deeper nets then had to
    # start from net A's trained layers); "xavier" is Glorot & Bengio (2010), which the paper
    # found, after submission, trains the deep nets from scratch; "kaiming" is He et al. (2015).
    init: Literal["normal", "xavier", "kaiming"] = "kaiming"
    # The paper: SGD with momentum 0.9, batches of 256, weight decay 5e-4, lr 0.01 divided by 10
    # when validation accuracy stops improving. Our budgets are a few epochs: a cosine decay.
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
            (
                all(size >= 1 for size in self.fc_sizes),
                f"fc_sizes must all be >= 1 (got {self.fc_sizes})",
            ),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})"),
        ]
