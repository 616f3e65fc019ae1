"""Widrow and Hoff's ADALINE (1960), in NumPy, trained by the LMS (delta) rule.

Paper: B. Widrow and M. E. Hoff, "Adaptive Switching Circuits", IRE WESCON Convention Record,
Part 4, 96-104, 1960. Review: B. Widrow and M. A. Lehr, "30 Years of Adaptive Neural Networks:
Perceptron, Madaline, and Backpropagation", Proc. IEEE 78(9), 1990 (Sec. III-A, the LMS rule).

What is implemented:
- The adaptive linear element: an analog output y = w.x + b, and a quantizer that thresholds
  it for the decision (class 1 when y > 0).
- Learning on the analog output, not on the quantized one: the error is e = t - y against a
  target t = +1 or -1, and the rule descends the squared error e^2. Online (the 1960 rule,
  "LMS"): after every sample, w <- w + lr * e * x and b <- b + lr * e. Batch: one step along the
  mean of those corrections over a batch, which with the whole training split as one batch is
  steepest descent on the mean squared error and converges to the least-squares weights for a
  small enough step.
- More than two classes: one ADALINE per class trained one-vs-rest (+1 for its class, -1 for the
  others); the decision is the class whose analog output is largest.

Contrast with the perceptron (models/01_perceptron): the perceptron corrects only mistakes of
the quantized output, so on data that no line separates it never stops correcting; ADALINE
corrects the analog error of every sample, so it settles near the weights of least squared
error, which exist for any data, separable or not.

Deliberately left out: the alpha-LMS normalisation of the step by |x|^2 (for the +-1 inputs of
the 1960 hardware |x|^2 is constant, so it is the same rule with a rescaled step), MADALINE's
layers of ADALINEs with a fixed vote (Widrow 1962; multi-layer learning is the MLP's story), and
the memistor hardware.

Known outcomes, asserted in tests: batch descent reaches np.linalg.lstsq's weights on a small
problem; on XOR the least-squares line is w = 0, b = 0 (mean squared error 1, nothing
explained), so no threshold gets more than 3 of the 4 points right.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from config import AdalineConfig

from data_utils import DatasetSplits
from engine.modelio import array_state, load_array_state


def targets(y: np.ndarray, units: int) -> np.ndarray:
    """Class indices (B,) -> analog targets (B, units) of +1 and -1.

    One unit (two classes): +1 for class 1, -1 for class 0. One unit per class: +1 in the
    column of the sample's class, -1 elsewhere (one-vs-rest).
    """
    y = np.asarray(y, dtype=np.int64)
    if units == 1:
        return (2.0 * y - 1.0)[:, None]  # (B,) -> (B, 1)
    t = -np.ones((len(y), units))  # (B, C)
    t[np.arange(len(y)), y] = 1.0
    return t


def decide(outputs: np.ndarray) -> np.ndarray:
    """The quantizer: (B, 1) -> class 1 where y > 0; (B, C) -> the largest output's class."""
    if outputs.shape[1] == 1:
        return (outputs[:, 0] > 0).astype(np.int64)
    return outputs.argmax(axis=1)


def squared_error(outputs: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error of the analog outputs (B, units) against the +-1 targets of y (B,)."""
    return float(np.mean((targets(y, outputs.shape[1]) - outputs) ** 2))


class Adaline:
    """ADALINE trained by the delta rule through the shared Trainer.

    Args:
        num_features: Length D of a flattened input.
        num_classes: 2 for Widrow and Hoff's single element; more uses one element per class.
        lr: Step size of the correction.
        variant: "online" (one correction per sample) or "batch" (one per batch).
        init: "zeros" or "random" (small Gaussian weights).
        seed: Seed for the random initialisation.
    """

    def __init__(
        self,
        num_features: int,
        num_classes: int = 2,
        lr: float = 0.01,
        variant: str = "online",
        init: str = "zeros",
        seed: int = 0,
    ) -> None:
        assert num_features >= 1 and num_classes >= 2, "need at least one feature and two classes"
        assert variant in ("online", "batch"), f"variant must be online or batch, got {variant!r}"
        self.num_classes = num_classes
        self.lr = lr
        self.variant = variant
        units = 1 if num_classes == 2 else num_classes
        rng = np.random.default_rng(seed)
        if init == "zeros":
            self.weight = np.zeros((units, num_features))
        else:
            self.weight = rng.normal(0.0, 0.01, size=(units, num_features))
        self.bias = np.zeros(units)
        if variant == "online":
            # Read by the gradient audit (engine/audit.py): logged once at INFO, not warned about.
            self.audit_expected = {
                "unstable": "online LMS with a fixed step never settles (misadjustment): each "
                "sample moves the weights by lr * e * x, large next to weights whose least-squares "
                "value is near 0 (a bias on balanced classes, every weight on XOR)"
            }

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Analog outputs w.x + b: (B, ...) -> (B, 1) for two classes, (B, C) otherwise."""
        x = x.reshape(len(x), -1)  # (B, ...) -> (B, D), images are read as flat vectors
        return x @ self.weight.T + self.bias  # (B, D) @ (D, units) -> (B, units)

    __call__ = forward

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class indices (B,) from the quantizer."""
        return decide(self.forward(x))

    def train_step(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """The delta rule over a batch (the Trainer's extension point).

        Returns:
            ``loss``: mean squared error of the analog outputs, each sample measured with the
            weights it met (before its own correction); ``correct``: samples whose quantized
            output was already right at that moment.
        """
        x = x.reshape(len(x), -1).astype(np.float64)  # (B, ...) -> (B, D)
        t = targets(y, self.weight.shape[0])  # (B, units)
        if self.variant == "batch":
            outputs = self.forward(x)  # (B, units)
            error = t - outputs  # (B, units)
            correct = int((decide(outputs) == y).sum())
            self.weight += self.lr * error.T @ x / len(x)  # (units, B) @ (B, D) -> (units, D)
            self.bias += self.lr * error.mean(axis=0)
            return {"loss": float(np.mean(error**2)), "correct": float(correct)}
        squared, correct = 0.0, 0
        for xi, ti, yi in zip(x, t, y):  # online: each sample sees the previous one's weights
            output = self.weight @ xi + self.bias  # (units, D) @ (D,) -> (units,)
            error = ti - output  # (units,)
            squared += float(error @ error)
            correct += int(decide(output[None, :])[0] == yi)
            self.weight += self.lr * np.outer(error, xi)  # (units,) x (D,) -> (units, D)
            self.bias += self.lr * error
        return {"loss": squared / t.size, "correct": float(correct)}

    def state_dict(self) -> dict[str, np.ndarray]:
        return array_state(self, ["weight", "bias"])

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        load_array_state(self, state, {"weight": np.float64, "bias": np.float64})


def create_model(config: AdalineConfig, splits: DatasetSplits) -> Adaline:
    """Build ADALINE for a config and a dataset (the ModelSpec hook)."""
    return Adaline(
        num_features=splits.num_features,
        num_classes=splits.num_classes,
        lr=config.lr,
        variant=config.variant,
        init=config.init,
        seed=config.seed,
    )


def create_criterion(config: AdalineConfig) -> Callable[[np.ndarray, np.ndarray], float]:
    """The loss the Trainer and Evaluator report: the mean squared error the rule descends."""
    return squared_error
