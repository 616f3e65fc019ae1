"""Rosenblatt's perceptron (1957), in NumPy, with the perceptron learning rule.

Paper: F. Rosenblatt, "The Perceptron: A Probabilistic Model for Information Storage and
Organization in the Brain", Psychological Review 65(6), 386-408, 1958. Convergence theorem:
A. Novikoff, "On convergence proofs on perceptrons", 1962.

What is implemented:
- A linear threshold unit: predict 1 if w.x + b > 0 else 0 (the "A-unit to R-unit" response of
  the paper, reduced to its learning core).
- The error-correcting rule, online, one sample at a time: on a mistake, w <- w + lr * t * x and
  b <- b + lr * t with t = +1 or -1 the wanted response. Correct answers change nothing.
- For more than two classes, Kesler's construction (Duda & Hart, 1973, Sec. 5.12): one weight
  vector per class; on a mistake the true class's vector moves toward x and the predicted class's
  away from it. With two classes it is exactly Rosenblatt's single unit.

Deliberately left out: the random S-to-A association layer of the Mark I hardware (it is a fixed
random feature map; the learning rule, which is the paper's idea, acts on the A-units alone), and
any sigmoid or gradient descent: that is ADALINE's and the MLP's story.

Known outcomes, asserted in tests: on linearly separable data the rule makes a finite number of
mistakes and then classifies every training point correctly; on XOR no weights get more than 3 of
the 4 points right, so it never settles (Minsky & Papert, 1969).
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from config import PerceptronConfig

from data_utils import DatasetSplits
from engine.modelio import array_state, load_array_state


def perceptron_criterion(scores: np.ndarray, y: np.ndarray) -> float:
    """What the rule still has to correct: the share of mistakes plus how far they are wrong.

    Duda & Hart's perceptron criterion, the mean amount by which samples are on the wrong side,
    is zero on the decision boundary too (Pattern Classification, 2nd ed., Sec. 5.5.1), so at
    w = 0, where every score ties and the rule corrects every sample, it would read 0. Each
    sample the rule would correct therefore adds 1 to that amount.

    Args:
        scores: (B, 1) for two classes, (B, C) with Kesler's construction.
        y: (B,) class indices.
    Returns:
        The mean over samples of [mistake] * (1 + amount on the wrong side); 0 exactly when the
        rule, as train_step applies it, would correct no sample. With two classes a tie
        (w.x + b = 0) is a mistake; with Kesler's construction a sample is a mistake when the
        argmax (ties to the lowest index, as in predict) is not its class.
    """
    if scores.shape[1] == 1:
        margin = (2.0 * y - 1.0) * scores[:, 0]  # (B,) t * (w.x + b), targets t = -1/+1
        wrong = margin <= 0  # a tie counts as wrong, as in train_step
        return float(np.mean(wrong * (1.0 - margin)))
    true_scores = scores[np.arange(len(y)), y]  # (B,)
    wrong = scores.argmax(axis=1) != y  # (B,)
    return float(np.mean(wrong * (1.0 + scores.max(axis=1) - true_scores)))


class Perceptron:
    """A perceptron trained by the error-correcting rule through the shared Trainer.

    Args:
        num_features: Length D of a flattened input.
        num_classes: 2 for Rosenblatt's single unit; more uses Kesler's construction.
        lr: Step size of the correction (irrelevant to decisions when starting from zero weights).
        init: "zeros" (the textbook start) or "random" (small Gaussian weights).
        seed: Seed for the random initialisation.
    """

    # Read by the gradient audit (engine/audit.py): update ratios outside the healthy bands that
    # are the rule itself, logged once at INFO with the reason instead of warned about.
    audit_expected = {
        "unstable": "the perceptron rule steps by lr * x on every mistake, by design",
        "frozen": "the perceptron rule changes nothing on a correctly classified sample",
    }

    def __init__(
        self,
        num_features: int,
        num_classes: int = 2,
        lr: float = 1.0,
        init: str = "zeros",
        seed: int = 0,
    ) -> None:
        assert num_features >= 1 and num_classes >= 2, "need at least one feature and two classes"
        self.num_classes = num_classes
        self.lr = lr
        units = 1 if num_classes == 2 else num_classes
        rng = np.random.default_rng(seed)
        if init == "zeros":
            self.weight = np.zeros((units, num_features))
        else:
            self.weight = rng.normal(0.0, 0.01, size=(units, num_features))
        self.bias = np.zeros(units)
        self.num_updates = 0  # corrections made so far (finite on separable data)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Scores w.x + b: (B, ...) -> (B, 1) for two classes, (B, C) otherwise."""
        x = x.reshape(len(x), -1)  # (B, ...) -> (B, D), images are read as flat vectors
        return x @ self.weight.T + self.bias  # (B, D) @ (D, units) -> (B, units)

    __call__ = forward

    def predict(self, x: np.ndarray) -> np.ndarray:
        """Class indices (B,): the threshold unit fires (class 1) when w.x + b > 0."""
        scores = self.forward(x)
        if self.num_classes == 2:
            return (scores[:, 0] > 0).astype(np.int64)
        return scores.argmax(axis=1)

    def train_step(self, x: np.ndarray, y: np.ndarray) -> dict[str, float]:
        """The perceptron rule over a batch, one sample at a time (the Trainer's extension point).

        Returns:
            ``loss``: the perceptron criterion of the batch before the updates; ``correct``: how
            many samples were already right when their turn came; ``updates``: corrections made.
        """
        x = x.reshape(len(x), -1).astype(np.float64)  # (B, ...) -> (B, D)
        loss = perceptron_criterion(self.forward(x), y)
        mistakes = 0
        for xi, yi in zip(x, y):  # online: each sample sees the weights the previous one left
            if self.num_classes == 2:
                t = 1.0 if yi == 1 else -1.0
                if t * (xi @ self.weight[0] + self.bias[0]) <= 0:  # a tie is a mistake
                    self.weight[0] += self.lr * t * xi
                    self.bias[0] += self.lr * t
                    mistakes += 1
            else:
                pred = int(np.argmax(self.weight @ xi + self.bias))
                if pred != yi:
                    self.weight[yi] += self.lr * xi
                    self.bias[yi] += self.lr
                    self.weight[pred] -= self.lr * xi
                    self.bias[pred] -= self.lr
                    mistakes += 1
        self.num_updates += mistakes
        return {"loss": loss, "correct": float(len(y) - mistakes), "updates": float(mistakes)}

    def state_dict(self) -> dict[str, np.ndarray]:
        return array_state(self, ["weight", "bias", "num_updates"])

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        dtypes = {"weight": np.float64, "bias": np.float64, "num_updates": int}
        load_array_state(self, state, dtypes)


def create_model(config: PerceptronConfig, splits: DatasetSplits) -> Perceptron:
    """Build the perceptron for a config and a dataset (the ModelSpec hook)."""
    return Perceptron(
        num_features=splits.num_features,
        num_classes=splits.num_classes,
        lr=config.lr,
        init=config.init,
        seed=config.seed,
    )


def create_criterion(config: PerceptronConfig) -> Callable[[np.ndarray, np.ndarray], float]:
    """The loss the Trainer and Evaluator report: the perceptron criterion."""
    return perceptron_criterion
