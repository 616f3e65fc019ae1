"""Configuration of the perceptron: the shared fields plus the rule's own, with their reasons."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BaseConfig, OptimizerName


@dataclass
class PerceptronConfig(BaseConfig):
    # How the perceptron learns: by its own rule, not a torch optimizer. A class attribute, not a
    # field (no experiment changes it); BaseConfig checks that optimizer is "none".
    learns_by = "the perceptron rule"
    # Rosenblatt's rule is online: one sample, one decision, one possible correction.
    batch_size: int = 1
    # The step size only rescales the weights when they start at zero (the decision w.x + b > 0 is
    # scale-free), so 1.0 is the textbook choice; it matters with random initial weights.
    lr: float = 1.0
    epochs: int = 50
    # There is no gradient and no optimizer: the rule updates the weights itself.
    optimizer: OptimizerName = "none"
    # Zero weights make the convergence proof's bound (R / gamma)^2 apply directly.
    init: Literal["zeros", "random"] = "zeros"
    # The perceptron criterion on a separable set reaches 0, so watch validation accuracy.
    monitor: str = "val_accuracy"
