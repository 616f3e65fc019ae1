"""Why an Elman network forgets: the gradient that reaches step t from a loss at the end.

Backpropagation through time multiplies, for every step back, by the Jacobian
dh_t / dh_{t-1} = diag(1 - h_t^2) W_hh; when its norm is below one the product shrinks
geometrically with the distance T - t (Bengio, Simard and Frasconi 1994; Pascanu et al. 2013).
``gradient_by_distance`` measures ||dL/dh_t|| for a loss that reads only the last step, by asking
autograd for the gradient with respect to each step's output (RecurrentStack's ``steps``).
``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots:
it draws that norm against T - t on a log scale, for the trained network and for the same network
at initialisation.
"""

from __future__ import annotations

import copy
import logging
import math
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from model import AddingRegressor, CharLM, SequenceClassifier, uniform_init
from torch import Tensor, nn

import plotting
from engine.modelio import evaluating

logger = logging.getLogger(__name__)

EVAL_SEQUENCES = 64  # sequences (windows) of the test split that the measurement averages over


def end_loss_and_steps(model: nn.Module, x: Tensor, y: Tensor) -> tuple[Tensor, list[Tensor]]:
    """The head's loss on the last step only, and the last layer's output at every step.

    Classifier: cross-entropy of the class read from h_T; adding problem: squared error of the
    sum read from h_T; language model: cross-entropy of the character after the last one.
    """
    steps: list[Tensor] = []
    if isinstance(model, CharLM):
        outputs, _ = model.rnn(model.embed(x), steps=steps)  # (B, T) -> (B, T, H)
        loss = F.cross_entropy(model.head(outputs[:, -1]), y[:, -1])
    elif isinstance(model, AddingRegressor):
        outputs, _ = model.rnn(x, steps=steps)  # (B, T, 2) -> (B, T, H)
        loss = F.mse_loss(model.head(outputs[:, -1]).squeeze(1), y)
    else:
        assert isinstance(model, SequenceClassifier), f"no end loss for {type(model).__name__}"
        x = x.reshape(len(x), -1, model.input_size)  # (B, T, I)
        outputs, _ = model.rnn(x, steps=steps)  # (B, T, H)
        loss = F.cross_entropy(model.head(outputs[:, -1]), y)
    return loss, steps


def gradient_by_distance(model: nn.Module, x: Tensor, y: Tensor) -> list[float]:
    """||dL/dh_t|| for t = T-1, ..., 0, i.e. indexed by the distance T - 1 - t to the loss.

    The norm is over the whole batch (Frobenius norm of the (B, H) gradient), in eval mode.
    """
    with evaluating(model), torch.enable_grad():
        loss, steps = end_loss_and_steps(model, x, y)
        grads = torch.autograd.grad(loss, steps, allow_unused=True)
    norms = [0.0 if g is None else float(g.norm()) for g in grads]
    return norms[::-1]  # distance 0 (the last step) first


def reinitialised(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with fresh weights drawn as at construction (seeded)."""
    fresh = copy.deepcopy(model)
    with torch.random.fork_rng(devices=[]):  # the caller's random state is left as it was
        torch.manual_seed(seed)
        for module in fresh.modules():
            if hasattr(module, "reset_parameters"):
                module.reset_parameters()
        for cell in fresh.rnn.cells:
            uniform_init(cell, fresh.rnn.hidden_size)
    return fresh


def first_test_batch(splits: Any, size: int = EVAL_SEQUENCES) -> tuple[Tensor, Tensor]:
    """The first ``size`` test sequences, as the test loader gives them (transformed)."""
    test = splits.loaders(size, seed=0)[2]
    return next(iter(test))


def plot_gradient_decay(curves: dict[str, list[float]], path: Path, title: str) -> Path:
    """||dL/dh_t|| against the distance T - t, log scale, one line per network."""
    fig, ax = plt.subplots(figsize=(7, 4.2), layout="constrained")
    for label, norms in curves.items():
        # an exact 0 is float32 underflow (below 1e-45): not drawn, rather than drawn as a floor
        ax.plot(range(len(norms)), [v if v > 0 else math.nan for v in norms], label=label)
    ax.set_yscale("log")
    ax.set_xlabel("distance to the loss, T - t (steps)")
    ax.set_ylabel("||dL/dh_t||")
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.3)
    ax.legend()
    return plotting.save_figure(fig, path)


def visualize(model: nn.Module, splits: Any, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ModelSpec hook: the gradient reaching each step, trained and at initialisation."""
    x, y = first_test_batch(splits)
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    curves = {
        "trained": gradient_by_distance(model, x, y),
        "at initialisation": gradient_by_distance(reinitialised(model), x, y),
    }
    for label, norms in curves.items():
        shown = [d for d in (10, 20, 50, 100, 199) if d < len(norms)] + [len(norms) - 1]
        logger.info(
            "gradient reaching T - t, relative to T - t = 0 (%s): %s",
            label,
            ", ".join(f"{d}: {norms[d] / (norms[0] or math.nan):.1e}" for d in sorted(set(shown))),
        )
    title = f"Elman network on {splits.name}: gradient of the last step's loss, T = {x.shape[1]}"
    path = plot_gradient_decay(curves, vis_dir / f"{prefix}_gradients.png", title)
    return {"gradients": path}
