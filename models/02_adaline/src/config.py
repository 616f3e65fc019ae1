"""Configuration of ADALINE: the shared fields plus the delta rule's own, with their reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BaseConfig, OptimizerName


@dataclass
class AdalineConfig(BaseConfig):
    learns_by = "the delta rule"  # its own rule: BaseConfig requires optimizer "none"
    # Samples handed to the rule at once. With variant "online" the rule still adapts after every
    # single sample inside the batch (Widrow and Hoff's LMS), so this only sets the logging grain.
    batch_size: int = 1
    # LMS step size (2 * mu in Widrow's notation). Online LMS is stable only for
    # lr < 2 / |x|^2 (bias input included): about 0.3 for standardised 2-D data, about 0.01 for
    # 784 pixels in [0, 1]; smaller steps settle closer to the least-squares weights.
    lr: float = 0.01
    epochs: int = 50
    # There is no torch optimizer: the delta rule updates the weights itself.
    optimizer: OptimizerName = "none"
    # "online": one correction per sample, the 1960 rule (stochastic gradient of the squared
    # error). "batch": one step along the mean gradient of each batch; with batch_size covering
    # the training split it is steepest descent on the mean squared error.
    variant: Literal["online", "batch"] = "online"
    # Zero weights are the textbook start; the least-squares optimum does not depend on it.
    init: Literal["zeros", "random"] = "zeros"
    monitor: str = "val_accuracy"
