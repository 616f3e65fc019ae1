"""Gradient and weight-update audits (the debugging guide, docs/debugging.md).

"If you don't audit the gradients, you are training on hope." Every ``audit_every`` steps the
Trainer records, per parameter tensor:

- the gradient norm ``||grad W||`` (PyTorch models; NumPy models have no gradients), and
- the weight-update ratio ``||W_after - W_before|| / ||W_before||`` measured from the real change
  of the weights across the step. This is right for every optimizer: for Adam the step is not
  ``lr * grad``, so the textbook ``lr * ||grad|| / ||W||`` would be wrong.

Healthy bands (debugging guide, section 1): update ratio near 1e-3; below 1e-5 the layer is frozen,
above 1e-1 it is unstable. Gradient norm exactly 0 means a broken graph, above 10 it is exploding.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import numpy as np
import torch

logger = logging.getLogger(__name__)

RATIO_FROZEN = 1e-5
RATIO_UNSTABLE = 1e-1
GRAD_EXPLODING = 10.0


def parameters_of(model: Any) -> dict[str, torch.Tensor | np.ndarray]:
    """The trainable tensors of a PyTorch module, or a NumPy model's weights.

    A NumPy model's weights are ``model.parameters()`` (name -> array) when it defines it, so
    that optimizer buffers kept in its state dict are not audited as weights; else the
    floating-point arrays of its state dict.
    """
    if isinstance(model, torch.nn.Module):
        return {n: p for n, p in model.named_parameters() if p.requires_grad}
    if hasattr(model, "parameters"):  # a NumPy model whose state also holds non-weights
        return dict(model.parameters())
    return {
        n: v
        for n, v in model.state_dict().items()
        if np.issubdtype(np.asarray(v).dtype, np.floating)
    }


def _norm(value: torch.Tensor | np.ndarray) -> float:
    if isinstance(value, torch.Tensor):
        return float(torch.linalg.vector_norm(value.detach().float()))
    return float(np.linalg.norm(np.asarray(value, dtype=np.float64)))


class GradientAuditor:
    """Measures per-layer gradient norms and update ratios and warns outside the healthy bands."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self._last_problems: frozenset[str] = frozenset()

    def snapshot(self) -> dict[str, torch.Tensor | np.ndarray]:
        """Copy the weights before a step, so the update can be measured after it."""
        return {
            n: (v.detach().clone() if isinstance(v, torch.Tensor) else np.array(v, copy=True))
            for n, v in parameters_of(self.model).items()
        }

    def grad_norms(self) -> dict[str, float | None]:
        """Per-layer gradient norms, read after backward and before clipping."""
        if not isinstance(self.model, torch.nn.Module):
            return {}
        return {
            n: (None if p.grad is None else _norm(p.grad))
            for n, p in self.model.named_parameters()
            if p.requires_grad
        }

    def record(
        self,
        before: dict[str, torch.Tensor | np.ndarray],
        grad_norms: dict[str, float | None],
        step: int,
        epoch: int,
    ) -> dict[str, Any]:
        """Build one audit record from a snapshot taken before the step, and warn if unhealthy.

        Returns:
            ``{"step", "epoch", "layers": {name: {"grad_norm", "update_ratio"}}}``; the update ratio
            is None where the weights were exactly zero before the step (undefined ratio).
        """
        layers = {}
        for name, after in parameters_of(self.model).items():
            w_norm = _norm(before[name])
            delta = (
                after.detach() - before[name]
                if isinstance(after, torch.Tensor)
                else after - before[name]
            )
            ratio = _norm(delta) / w_norm if w_norm > 0 else None
            layers[name] = {"grad_norm": grad_norms.get(name), "update_ratio": ratio}
        self._warn(layers, step)
        return {"step": step, "epoch": epoch, "layers": layers}

    def _warn(self, layers: dict[str, dict[str, float | None]], step: int) -> None:
        problems = []
        for name, values in layers.items():
            ratio, grad = values["update_ratio"], values["grad_norm"]
            if ratio is not None and ratio < RATIO_FROZEN:
                problems.append(f"{name} frozen (update ratio {ratio:.1e} < {RATIO_FROZEN:.0e})")
            elif ratio is not None and ratio > RATIO_UNSTABLE:
                problems.append(
                    f"{name} unstable (update ratio {ratio:.1e} > {RATIO_UNSTABLE:.0e})"
                )
            if grad is not None and grad == 0.0:
                problems.append(f"{name} has zero gradient (broken graph?)")
            elif grad is not None and math.isfinite(grad) and grad > GRAD_EXPLODING:
                problems.append(
                    f"{name} gradient exploding (norm {grad:.1f} > {GRAD_EXPLODING:.0f})"
                )
        # Repeat a warning only when the set of problems changes, so a long run stays readable.
        current = frozenset(p.split(" (")[0] for p in problems)
        if problems and current != self._last_problems:
            logger.warning("audit step %d: %s", step, "; ".join(problems))
        self._last_problems = current


def flatten_audit(record: dict[str, Any]) -> dict[str, float]:
    """Flatten an audit record into ``audit/grad_norm/<layer>`` keys for metric trackers."""
    flat = {}
    for name, values in record["layers"].items():
        for key, value in values.items():
            if value is not None:
                flat[f"audit/{key}/{name}"] = value
    return flat
