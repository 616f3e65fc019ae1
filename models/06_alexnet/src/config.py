"""Configuration of the scaled-down AlexNet: its widths, its ideas as switches, and the recipe."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName, SchedulerName


@dataclass
class AlexNetConfig(BaseConfig):
    learns_by = BACKPROP  # BaseConfig then requires optimizer sgd, adam or adamw
    # Side of the square input the network is built for: 28 for Fashion-MNIST (used as is), 32
    # for CIFAR-10; other sizes are resized (the 8x8 smoke digits). The paper: 224 (Sec. 2).
    image_size: int = 28
    # Channels of conv1..conv5. The paper has 96, 256, 384, 384, 256 (Sec. 3.5); 1/6 of that,
    # rounded, keeps its 1 : 2.7 : 4 : 4 : 2.7 shape. Sized so that one Fashion-MNIST epoch takes
    # about a minute on 2 shared CPU cores.
    widths: tuple[int, ...] = (16, 48, 64, 64, 48)
    fc_size: int = 256  # units of fc6 and fc7 (the paper: 4096)
    # Sec. 3.1: ReLU trains several times faster than tanh; "tanh" is the ablation.
    activation: Literal["relu", "tanh"] = "relu"
    # Sec. 4.2: dropout 0.5 on the inputs of fc6 and fc7 (the first two fully connected
    # layers); 0 switches it off (the ablation).
    dropout: float = 0.5
    # Sec. 4.1: random translations and horizontal reflections of the training images. The
    # paper crops 224 of 256 pixels (up to 32 px shifts); here shifts of up to crop_padding
    # pixels (zero-padded, then cropped back). Off in evaluation.
    augment: bool = True
    crop_padding: int = 2
    # Sec. 5: SGD, batch 128, momentum 0.9, weight decay 5e-4, lr 0.01 divided by 10 by hand
    # three times in 90 epochs; here a cosine decay over 12 epochs (about 45 s each on CPU).
    optimizer: OptimizerName = "sgd"
    lr: float = 0.01
    momentum: float = 0.9
    weight_decay: float = 5e-4
    batch_size: int = 128
    epochs: int = 12
    scheduler: SchedulerName = "cosine"
    audit_every: int = 100  # optimizer steps between gradient audits (about 4 per epoch)

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                len(self.widths) == 5 and min(self.widths) >= 1,
                f"widths must be 5 positive channel counts (got {self.widths})",
            ),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1) (got {self.dropout})"),
            (
                self.image_size >= 16,
                f"image_size must be >= 16 for three 3x3/2 poolings (got {self.image_size})",
            ),
            (
                self.crop_padding >= 0 and self.fc_size >= 1,
                "crop_padding must be >= 0 and fc_size >= 1",
            ),
        ]
