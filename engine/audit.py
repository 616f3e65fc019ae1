"""Gradient and weight-update audits (the debugging guide, docs/debugging.md).

"If you don't audit the gradients, you are training on hope." Every ``audit_every`` steps the
Trainer records, per parameter tensor:

- the gradient norm ``||grad W||`` (PyTorch models; NumPy models have no gradients), and
- the weight-update ratio ``||W_after - W_before|| / ||W_before||`` measured from the real change
  of the weights across the step. This is right for every optimizer: for Adam the step is not
  ``lr * grad``, so the textbook ``lr * ||grad|| / ||W||`` would be wrong.

Healthy bands (debugging guide, section 1): update ratio near 1e-3; below 1e-5 the layer is frozen,
above 1e-1 it is unstable. Gradient norm exactly 0 means a broken graph, above 10 it is exploding.

Every value is recorded; two cases are recorded but not warned about, because there the ratio
says nothing about the health of training:

- **A model whose rule leaves the bands by design** declares it, with the reason, in one class
  (or instance) attribute read here, ``audit_expected``: a dict from a band, ``"frozen"`` or
  ``"unstable"``, to the reason. The perceptron rule makes unit steps on a mistake and none on a
  correct sample, so it declares both. The first time a declared band is left, the audit logs one
  INFO line with the reason instead of a WARNING, and then stays quiet about that band.
- **Adam's first update of a tensor.** With no history, Adam's (and AdamW's) first update is
  ``lr * g / sqrt(g^2) = lr * sign(g)`` for every weight, whatever the gradient's size (Kingma and
  Ba 2015, Sec. 2.1: the step is bounded by lr), so its ratio is ``lr * sqrt(n) / ||W||``: a
  function of lr and the initial weights only, large for small tensors such as biases. The ratio
  bands are not checked for a tensor whose optimizer state counts exactly one step (in a fresh
  run, audit step 1); its gradient norm is checked as usual. When such a ratio is outside the
  bands, one INFO line says why it is not a warning.
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
RATIO_BANDS = ("frozen", "unstable")  # the keys a model's ``audit_expected`` may use
# Optimizers whose first update is lr * sign(grad) (no moment history yet).
SIGN_FIRST_STEP = (torch.optim.Adam, torch.optim.AdamW)
SIGN_FIRST_STEP_REASON = "Adam's first update is lr * sign(grad) for every weight"


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


def _band(ratio: float | None) -> str | None:
    """Which band an update ratio leaves: "frozen", "unstable", or None when healthy."""
    if ratio is not None and ratio < RATIO_FROZEN:
        return "frozen"
    if ratio is not None and ratio > RATIO_UNSTABLE:
        return "unstable"
    return None


def _describe(name: str, band: str, ratio: float) -> str:
    if band == "frozen":
        return f"{name} frozen (update ratio {ratio:.1e} < {RATIO_FROZEN:.0e})"
    return f"{name} unstable (update ratio {ratio:.1e} > {RATIO_UNSTABLE:.0e})"


class GradientAuditor:
    """Measures per-layer gradient norms and update ratios and warns outside the healthy bands.

    Args:
        model: The model whose parameters are audited. Its optional ``audit_expected`` attribute
            (``{"frozen" | "unstable": reason}``) names the bands its rule leaves by design.
        optimizer: The torch optimizer, if any; with Adam or AdamW the ratio bands are not
            checked on a tensor's first update (see the module docstring).
    """

    def __init__(self, model: Any, optimizer: torch.optim.Optimizer | None = None) -> None:
        self.model = model
        self.optimizer = optimizer
        self.expected: dict[str, str] = dict(getattr(model, "audit_expected", None) or {})
        unknown = set(self.expected) - set(RATIO_BANDS)
        assert not unknown, (
            f"audit_expected of {type(model).__name__} has unknown bands {sorted(unknown)}; "
            f"use {list(RATIO_BANDS)}"
        )
        self._explained: set[str] = set()  # expected bands already explained in the log
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
        layers, sign_steps = {}, set()
        for name, after in parameters_of(self.model).items():
            w_norm = _norm(before[name])
            delta = (
                after.detach() - before[name]
                if isinstance(after, torch.Tensor)
                else after - before[name]
            )
            ratio = _norm(delta) / w_norm if w_norm > 0 else None
            layers[name] = {"grad_norm": grad_norms.get(name), "update_ratio": ratio}
            if self._first_sign_step(after):
                sign_steps.add(name)
        self._warn(layers, step, sign_steps)
        return {"step": step, "epoch": epoch, "layers": layers}

    def _first_sign_step(self, param: torch.Tensor | np.ndarray) -> bool:
        """True when the optimizer just made its first, lr * sign(grad), update of ``param``."""
        if not isinstance(self.optimizer, SIGN_FIRST_STEP) or not isinstance(param, torch.Tensor):
            return False
        steps = self.optimizer.state.get(param, {}).get("step")
        return steps is not None and float(steps) == 1

    def _warn(
        self, layers: dict[str, dict[str, float | None]], step: int, sign_steps: set[str]
    ) -> None:
        problems, notes, first_steps = [], [], []
        for name, values in layers.items():
            ratio, grad = values["update_ratio"], values["grad_norm"]
            band = _band(ratio)
            if band is not None and name in sign_steps:
                first_steps.append(_describe(name, band, ratio))
            elif band in self.expected:
                if band not in self._explained:
                    notes.append(
                        f"{_describe(name, band, ratio)} is expected for this model and not "
                        f"warned: {self.expected[band]}"
                    )
                    self._explained.add(band)
            elif band is not None:
                problems.append(_describe(name, band, ratio))
            if grad is not None and grad == 0.0:
                problems.append(f"{name} has zero gradient (broken graph?)")
            elif grad is not None and math.isfinite(grad) and grad > GRAD_EXPLODING:
                problems.append(
                    f"{name} gradient exploding (norm {grad:.1f} > {GRAD_EXPLODING:.0f})"
                )
        if first_steps:
            notes.append(f"{'; '.join(first_steps)}: not warned, {SIGN_FIRST_STEP_REASON}")
        for note in notes:
            logger.info("audit step %d: %s", step, note)
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
