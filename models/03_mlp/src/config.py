"""Configuration of the MLP: the shared fields plus the network's own, with their reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BaseConfig, OptimizerName


@dataclass
class MLPConfig(BaseConfig):
    # Units per hidden layer, input side first; () is a linear softmax classifier. Two layers of
    # 256 and 128 take 1-2 s per MNIST epoch on one CPU thread (399 batches of 2.5-5 ms). The
    # paper's nets were tiny (XOR: 2-2-1); LeCun et al. 1998 list 300 and 300-100 for MNIST.
    hidden_sizes: tuple[int, ...] = (256, 128)
    # The paper's units are logistic ("sigmoid"); ReLU (Nair & Hinton 2010) trains deep stacks
    # faster because its derivative does not shrink the backpropagated error.
    activation: Literal["sigmoid", "relu"] = "relu"
    # "numpy": forward, backward and the SGD update written by hand (model.NumpyMLP), trained
    # through the Trainer's train_step extension point. "torch": the same layers as an nn.Module
    # on the Trainer's backprop path, with any torch optimizer.
    implementation: Literal["torch", "numpy"] = "torch"
    # Modern defaults (Kingma & Ba 2015) for the torch net; the paper used SGD with momentum,
    # which is what the NumPy implementation does (set optimizer: sgd and momentum: 0.9).
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    batch_size: int = 128
    epochs: int = 20
    early_stopping_patience: int | None = 4  # epochs without a better val_accuracy
    # Images arrive as uint8 and become floats in [0, 1] per batch; float features (digits,
    # mnist1d) are standardised with training-split statistics.
    standardize: bool = True

    # learns_by is not set: the NumPy net has its own update, the torch net an optimizer, so
    # the pairing of implementation and optimizer is checked here.
    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                all(size >= 1 for size in self.hidden_sizes),
                f"hidden_sizes must all be >= 1 (got {self.hidden_sizes})",
            ),
            (
                self.implementation != "numpy" or self.optimizer == "sgd",
                "implementation 'numpy' writes its own SGD-with-momentum update (the paper's "
                f"eq. 9): set optimizer=sgd, or implementation=torch (got {self.optimizer!r})",
            ),
            (
                self.implementation != "torch" or self.optimizer != "none",
                "implementation 'torch' needs an optimizer: sgd, adam or adamw",
            ),
        ]
