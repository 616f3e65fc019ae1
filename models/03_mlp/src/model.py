"""The multi-layer perceptron trained by backpropagation (Rumelhart, Hinton & Williams, 1986).

Paper: D. E. Rumelhart, G. E. Hinton and R. J. Williams, "Learning representations by
back-propagating errors", Nature 323, 533-536, 1986 (equation numbers below are the paper's).

What is implemented, twice:
- ``NumpyMLP``: layers of units whose total input is a weighted sum of the layer below (eq. 1),
  passed through a non-linearity (the paper's logistic, eq. 2, or ReLU); the backward pass
  written by hand: the error derivative at the output, chained back through every layer
  (eqs. 4-7); and the paper's update, gradient descent with momentum (eq. 9). It learns through
  the shared Trainer's ``train_step`` extension point.
- ``TorchMLP``: the same layers as an ``nn.Module``; autograd does eqs. 4-7 and a torch optimizer
  (Adam by default) does the update, on the Trainer's ordinary backprop path.
Both use the same parameter names and shapes (``layers.{i}.weight`` is (out, in), as in
``nn.Linear``) and the same initialisation, so the tests can hand one's weights to the other and
compare gradients and updates exactly.

Deliberately left out or changed:
- The output error. The paper minimises squared error on logistic outputs (eq. 3). Here the
  output layer is a softmax read with cross-entropy, the standard classifier head since Bridle
  (1990): its error derivative at the output is simply ``softmax - one_hot``, without the
  logistic's ``y (1 - y)`` factor that stalls learning when an output unit saturates wrongly.
  Backpropagation itself, the paper's idea, does not depend on the choice.
- The paper's other architectures (shared weights for the family-tree task, recurrent nets
  unfolded in time): convolutions and recurrence get their own modules later.
- Dropout, batch normalisation and data augmentation: all decades later; the results in the
  README are what the 1986 recipe (plus ReLU and Adam where noted) reaches on its own.

Known outcomes, asserted in tests: the net solves XOR, which no perceptron can (Minsky & Papert,
1969); the hand-written gradients match finite differences and torch autograd.
"""

from __future__ import annotations

from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from config import MLPConfig
from torch import nn

from data_utils import DatasetSplits

# ---------------------------------------------------------------------------------- helpers


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The paper's logistic unit, eq. 2: y = 1 / (1 + exp(-x)), computed without overflow."""
    e = np.exp(-np.abs(z))  # exp of a non-positive number never overflows
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def relu(z: np.ndarray) -> np.ndarray:
    return np.maximum(z, 0.0)


def activation_derivative(name: str, z: np.ndarray, a: np.ndarray) -> np.ndarray:
    """dy/dx of a unit, from its total input z and output a: y (1 - y) for the logistic (eq. 5)."""
    if name == "sigmoid":
        return a * (1.0 - a)
    return (z > 0).astype(z.dtype)  # ReLU: 1 where the unit is on, 0 where it is off


ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {"sigmoid": sigmoid, "relu": relu}


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-softmax of (B, C) scores, shifted by the row maximum for stability."""
    shifted = logits - logits.max(axis=1, keepdims=True)  # (B, C)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def softmax_cross_entropy(logits: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy of (B, C) scores against (B,) class indices (the NumPy criterion)."""
    return float(-log_softmax(logits)[np.arange(len(y)), y].mean())


def init_layer(rng: np.random.Generator, fan_in: int, fan_out: int) -> tuple[np.ndarray, ...]:
    """Small random weights (the paper starts from "small random weights" to break symmetry).

    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weights and biases: PyTorch's nn.Linear default, so
    both implementations start from the same distribution.
    """
    bound = 1.0 / np.sqrt(fan_in)
    weight = rng.uniform(-bound, bound, size=(fan_out, fan_in))  # (out, in), as nn.Linear
    bias = rng.uniform(-bound, bound, size=fan_out)
    return weight, bias


# ------------------------------------------------------------------ the network, by hand


class NumpyMLP:
    """A fully connected net with backpropagation written out in NumPy (float64).

    Args:
        layer_sizes: Units per layer, input first and classes last, e.g. (784, 256, 128, 10).
        activation: "sigmoid" (the paper's logistic) or "relu" for every hidden layer.
        lr: Step size epsilon of eq. 9.
        momentum: alpha of eq. 9, the share of the previous step kept (0.9 in the paper).
        weight_decay: L2 coefficient added to each gradient, as torch.optim.SGD does.
        grad_clip: Max global L2 norm of the gradients before the step; None = no clipping.
        seed: Seed of the initial weights.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        lr: float = 0.1,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
        grad_clip: float | None = None,
        seed: int = 0,
    ) -> None:
        assert len(layer_sizes) >= 2, "need at least an input and an output layer"
        assert activation in ACTIVATIONS, f"activation must be one of {list(ACTIVATIONS)}"
        self.activation = activation
        self.lr, self.momentum = lr, momentum
        self.weight_decay, self.grad_clip = weight_decay, grad_clip
        rng = np.random.default_rng(seed)
        self.params: dict[str, np.ndarray] = {}
        for i, (fan_in, fan_out) in enumerate(zip(layer_sizes[:-1], layer_sizes[1:])):
            weight, bias = init_layer(rng, fan_in, fan_out)
            self.params[f"layers.{i}.weight"], self.params[f"layers.{i}.bias"] = weight, bias
        self.num_layers = len(layer_sizes) - 1
        # The previous step Delta w(t-1) of eq. 9. Not in state_dict (see the README): a resumed
        # run restarts it at zero.
        self.velocity = {name: np.zeros_like(p) for name, p in self.params.items()}

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Class scores (B, C) for inputs (B, ...)."""
        return self.forward_with_cache(x)[0]

    __call__ = forward

    def forward_with_cache(self, x: np.ndarray) -> tuple[np.ndarray, list[tuple[np.ndarray, ...]]]:
        """The forward pass, keeping each layer's input, total input and output for backward."""
        a = x.reshape(len(x), -1).astype(np.float64)  # (B, ...) -> (B, D), images as flat vectors
        cache = []
        for i in range(self.num_layers):
            w, b = self.params[f"layers.{i}.weight"], self.params[f"layers.{i}.bias"]
            z = a @ w.T + b  # eq. 1: (B, D_in) @ (D_in, D_out) -> (B, D_out) total inputs
            out = z if i == self.num_layers - 1 else ACTIVATIONS[self.activation](z)  # eq. 2
            cache.append((a, z, out))
            a = out
        return a, cache  # the last layer is linear: its outputs are the softmax's logits

    def backward(
        self, cache: list[tuple[np.ndarray, ...]], dlogits: np.ndarray
    ) -> dict[str, np.ndarray]:
        """Backpropagate dE/dlogits (B, C) through every layer; return dE/dw for each parameter."""
        grads: dict[str, np.ndarray] = {}
        delta = dlogits  # (B, D_out): dE/dx_j, the error derivative w.r.t. each unit's total input
        for i in reversed(range(self.num_layers)):
            a_in = cache[i][0]  # (B, D_in): outputs y_i of the layer below
            grads[f"layers.{i}.weight"] = delta.T @ a_in  # eq. 6: (D_out, B) @ (B, D_in)
            grads[f"layers.{i}.bias"] = delta.sum(axis=0)  # a bias is a weight from a unit at 1
            if i > 0:
                # eq. 7, dE/dy of the layer below: (B, D_out) @ (D_out, D_in) -> (B, D_in)
                d_out = delta @ self.params[f"layers.{i}.weight"]
                _, z_below, a_below = cache[i - 1]
                delta = d_out * activation_derivative(self.activation, z_below, a_below)  # eq. 5
        return grads

    def loss_and_gradients(
        self, x: np.ndarray, y: np.ndarray
    ) -> tuple[float, dict[str, np.ndarray], np.ndarray]:
        """Mean softmax cross-entropy of a batch, its gradients and the scores (B, C)."""
        logits, cache = self.forward_with_cache(x)
        log_p = log_softmax(logits)  # (B, C)
        loss = float(-log_p[np.arange(len(y)), y].mean())
        dlogits = np.exp(log_p)  # softmax - one_hot is dE/dlogits of cross-entropy (cf. eq. 4)
        dlogits[np.arange(len(y)), y] -= 1.0
        dlogits /= len(y)  # the loss is a mean over the batch
        return loss, self.backward(cache, dlogits), logits

    def train_step(self, x: np.ndarray, y: np.ndarray) -> dict:
        """Forward, backward and one step of gradient descent with momentum (the extension point).

        Returns:
            ``loss`` and ``correct`` of the batch before the step, and the ``grad_norms`` per
            parameter for the Trainer's gradient audit.
        """
        loss, grads, logits = self.loss_and_gradients(x, y)
        if self.weight_decay:
            grads = {n: g + self.weight_decay * self.params[n] for n, g in grads.items()}
        grad_norms = {n: float(np.linalg.norm(g)) for n, g in grads.items()}
        total = float(np.sqrt(sum(v**2 for v in grad_norms.values())))
        scale = self.grad_clip / total if self.grad_clip and total > self.grad_clip else 1.0
        for name, g in grads.items():
            # eq. 9: Delta w(t) = -epsilon dE/dw(t) + alpha Delta w(t-1)
            self.velocity[name] = self.momentum * self.velocity[name] - self.lr * scale * g
            self.params[name] += self.velocity[name]
        correct = float((logits.argmax(axis=1) == y).sum())
        return {"loss": loss, "correct": correct, "grad_norms": grad_norms}

    def parameters(self) -> dict[str, np.ndarray]:
        """The weights (what the engine's audit measures); the velocities are optimizer state."""
        return self.params

    def state_dict(self) -> dict[str, np.ndarray]:
        """Weights and momentum velocities (eq. 9's Delta w(t - 1)), so a resume is exact."""
        state = {name: p.copy() for name, p in self.params.items()}
        state.update({f"velocity.{name}": v.copy() for name, v in self.velocity.items()})
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        expected = set(self.params) | {f"velocity.{name}" for name in self.params}
        assert set(state) == expected, f"expected entries {sorted(expected)}"
        for name in self.params:
            value = state[name]
            assert value.shape == self.params[name].shape, f"{name}: shape {value.shape} differs"
            self.params[name] = np.asarray(value, dtype=np.float64).copy()
            self.velocity[name] = np.asarray(state[f"velocity.{name}"], dtype=np.float64).copy()


# --------------------------------------------------------------- the network, on autograd


class TorchMLP(nn.Module):
    """The same network as an nn.Module: autograd computes what NumpyMLP.backward writes out.

    Args:
        layer_sizes: Units per layer, input first and classes last.
        activation: "sigmoid" or "relu" for every hidden layer.
    """

    def __init__(self, layer_sizes: Sequence[int], activation: str = "relu") -> None:
        super().__init__()
        assert len(layer_sizes) >= 2, "need at least an input and an output layer"
        assert activation in ACTIVATIONS, f"activation must be one of {list(ACTIVATIONS)}"
        self.layers = nn.ModuleList(
            nn.Linear(fan_in, fan_out) for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:])
        )
        self.activation = torch.sigmoid if activation == "sigmoid" else torch.relu

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x.flatten(1)  # (B, ...) -> (B, D)
        for layer in self.layers[:-1]:
            h = self.activation(layer(h))  # (B, D_in) -> (B, D_out)
        return self.layers[-1](h)  # (B, C) logits


# -------------------------------------------------------------------------- the ModelSpec hooks


def layer_sizes(config: MLPConfig, splits: DatasetSplits) -> list[int]:
    return [splits.num_features, *config.hidden_sizes, splits.num_classes]


def create_model(config: MLPConfig, splits: DatasetSplits) -> NumpyMLP | TorchMLP:
    """Build the implementation the config names (the ModelSpec hook)."""
    sizes = layer_sizes(config, splits)
    if config.implementation == "numpy":
        return NumpyMLP(
            sizes,
            activation=config.activation,
            lr=config.lr,
            momentum=config.momentum,
            weight_decay=config.weight_decay,
            grad_clip=config.grad_clip,
            seed=config.seed,
        )
    return TorchMLP(sizes, activation=config.activation)  # torch is seeded by the workflow


def create_criterion(config: MLPConfig) -> Callable:
    """Mean softmax cross-entropy, on NumPy arrays or torch tensors to match the implementation."""
    return softmax_cross_entropy if config.implementation == "numpy" else F.cross_entropy
