"""Configuration of [MODEL_TITLE]: the shared fields plus the model's own, with their reasons.

One dataclass, one level below utils.config.BaseConfig (no chains). Every field has a default
and a comment: unit, paper source, and why we differ from the paper when we do. Override a
BaseConfig default only when this model needs another value, and say why. Named experiments
live in experiments.yaml; the command line changes fields with --epochs, --set key=value, ...
"""

from __future__ import annotations

from dataclasses import dataclass

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class SoftmaxRegressionConfig(BaseConfig):  # [MODEL_CLASS]Config
    # How the model learns (not a field): BACKPROP, or the name of its own rule ("the delta
    # rule") for a model that updates its weights in train_step. BaseConfig checks optimizer
    # against it: sgd, adam or adamw for BACKPROP, "none" for a rule.
    learns_by = BACKPROP
    # [FIELDS]: the model's own hyperparameters, each with its reason. Template example below.
    # The loss is convex in the weights, so plain SGD with a fixed step approaches the optimum;
    # with 0.1 on standardised iris the training accuracy reaches 96% by epoch 100 (README).
    optimizer: OptimizerName = "sgd"
    lr: float = 0.1
    batch_size: int = 16  # iris has 105 training flowers: about 7 steps per epoch
    epochs: int = 100
    # Standard deviation of the initial weights; 0 starts from zero, which is fine here because
    # a single linear layer has no symmetry to break (a hidden layer would need random weights).
    init_std: float = 0.01

    # The model's own constraints, added to BaseConfig's: (what must hold, the message if not).
    # validate() reports every one that fails, in one ConfigError.
    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.init_std >= 0, f"init_std must be >= 0 (got {self.init_std})"),
        ]
