"""[MODEL_TITLE] ([AUTHORS], [YEAR]), in PyTorch.

Paper: [PAPER]

What is implemented: [IMPLEMENTED: the paper's mechanism, component by component, in the
paper's order, with its equation or section numbers].

Deliberately left out: [LEFT_OUT: what the paper has that this file does not, and why].

Known outcomes, asserted in tests: [KNOWN_OUTCOMES: what the model can do and what it cannot].

Template example (replace this paragraph and the code below): multinomial logistic regression,
"softmax regression". Cox (1958) modelled the probability of a binary outcome as the logistic
function of a linear score; with C classes the scores of C linear units go through a softmax,
p(c | x) = exp(s_c) / sum_k exp(s_k) with s = W x + b, and the weights minimise the
cross-entropy -log p(y | x). One linear layer: it separates classes by hyperplanes, so it learns
iris (three species, linearly separable enough) and cannot learn XOR.

Read top-down (house style rule 1): helpers, then components in the paper's order, then the
model, then the two hooks the shared workflow calls (create_model, create_criterion). A shape
comment on every reshape; comments say why, not what.

How the model learns is said here, in its own file (engine/steps.py; docs/engine.md section 2).
This classifier needs only forward(x) -> scores and create_criterion: the engine's default step
reports loss and accuracy. Any other model defines one method, and the loop stays the same:

    def step(self, batch) -> StepOutput:  # batch: whatever the model's loader yields
        x, y = batch                                   # (B, T) token ids, (B, T) next ids
        logits = self(x)                               # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        n = y.numel()                                  # the loss is a mean over n tokens
        return StepOutput(loss, {"loss": Mean(loss * n, n)})

Training-time augmentation is a hook beside create_model, train_transform(config, splits) ->
(x, generator) -> x, applied to training batches only (see models/09_resnet/src/model.py). A
model whose learning rule is not backprop-then-step (perceptron rule, delta rule, Hebbian
storage) sets learns_by in its config and adds train_step(x, y) -> {"loss": ...}; see
models/01_perceptron/src/model.py.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from config import SoftmaxRegressionConfig
from torch import nn

from data_utils import DatasetSplits


class SoftmaxRegression(nn.Module):
    """[MODEL_CLASS]: one linear layer whose scores are read through a softmax.

    Args:
        num_features: Length D of a flattened input.
        num_classes: Number of classes C, one linear unit each.
        init_std: Standard deviation of the initial weights (biases start at zero).
    """

    def __init__(self, num_features: int, num_classes: int, init_std: float = 0.01) -> None:
        super().__init__()
        assert num_features >= 1 and num_classes >= 2, "need at least one feature and two classes"
        self.linear = nn.Linear(num_features, num_classes)
        nn.init.normal_(self.linear.weight, mean=0.0, std=init_std)
        nn.init.zeros_(self.linear.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (logits) s = W x + b: (B, ...) -> (B, C)."""
        x = x.flatten(1)  # (B, ...) -> (B, D): images are read as flat vectors
        assert x.shape[1] == self.linear.in_features, (
            f"expected {self.linear.in_features} features per sample, got {x.shape[1]}: "
            "was the model built for another data set?"
        )
        return self.linear(x)  # (B, D) @ (D, C) + (C,) -> (B, C)


def create_model(config: SoftmaxRegressionConfig, splits: DatasetSplits) -> SoftmaxRegression:
    """Build the model for a config and a dataset (the ModelSpec hook).

    The workflow seeds torch before calling this, so the initial weights depend on config.seed.
    """
    return SoftmaxRegression(
        num_features=splits.num_features,
        num_classes=splits.num_classes,
        init_std=config.init_std,
    )


def create_criterion(config: SoftmaxRegressionConfig) -> Callable:
    """The loss the Trainer minimises and the Evaluator reports: mean cross-entropy of the logits.

    F.cross_entropy applies log-softmax itself, so the model returns logits, not probabilities.
    """
    return F.cross_entropy
