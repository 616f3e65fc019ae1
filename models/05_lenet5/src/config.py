"""Configuration of LeNet-5: the shared fields with the defaults this network trains well with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BaseConfig
from utils.exceptions import ConfigError


@dataclass
class LeNet5Config(BaseConfig):
    # The architecture is fixed by the paper (Sec. II-B); only the training recipe is chosen here.
    # The paper trains with stochastic diagonal Levenberg-Marquardt, one sample per update, for
    # 20 passes (Appendix C). Adam on mini-batches of 64 with a cosine decay reaches the paper's
    # error in about a dozen passes; one MNIST pass takes about 30 s on 2 CPU cores.
    optimizer: Literal["sgd", "adam", "adamw", "none"] = "adam"
    lr: float = 2e-3
    batch_size: int = 64
    epochs: int = 12
    scheduler: Literal["none", "step", "cosine", "plateau"] = "cosine"
    # Images arrive as uint8 and become floats in [0, 1] per batch; the model maps them to the
    # paper's -0.1 (background) .. 1.175 (ink). Float features (the smoke digits) are
    # standardised with training-split statistics.
    standardize: bool = True
    audit_every: int = 200  # optimizer steps between gradient audits (about 4 per MNIST epoch)

    def validate(self) -> None:
        super().validate()
        if self.optimizer == "none":
            raise ConfigError("LeNet-5 learns by backpropagation: optimizer must be sgd, adam or adamw")
