"""The Evaluator: loss and accuracy over a loader, the same for train.py and evaluate.py."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable

import numpy as np
import torch

from engine import distributed
from engine.modelio import is_torch_model, set_mode, to_model_input


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for the forward pass and loss when ``precision`` is "bf16", else nothing.

    Matmuls and convolutions run in bfloat16; losses and reductions stay in float32 (PyTorch's
    autocast op lists). bf16 has float32's exponent range, so no loss scaling is needed.
    """
    assert precision in ("fp32", "bf16"), f"precision is 'fp32' or 'bf16', got {precision!r}"
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


class Evaluator:
    """Computes mean loss and accuracy over every batch of a loader.

    Args:
        model: A PyTorch module or a NumPy model. Predictions come from ``model.predict(x)`` when
            the model defines it (e.g. the perceptron's sign), else from the argmax of the scores.
        criterion: ``criterion(scores, y) -> mean loss``; None reports no loss.
        device: Where PyTorch batches go.
        precision: "fp32", or "bf16" to evaluate under the same autocast as training.
    """

    def __init__(
        self,
        model: Any,
        criterion: Callable | None = None,
        device: torch.device | None = None,
        precision: str = "fp32",
    ):
        self.model = model
        self.criterion = criterion
        self.device = device or torch.device("cpu")
        self.precision = precision if is_torch_model(model) else "fp32"

    def _predict(self, x: Any, scores: Any) -> Any:
        if hasattr(self.model, "predict"):
            return self.model.predict(x)
        return (
            scores.argmax(dim=1) if isinstance(scores, torch.Tensor) else np.argmax(scores, axis=1)
        )

    def _batches(self, loader: Iterable) -> Iterable[tuple[Any, Any, Any, Any]]:
        """Yield (x, y, scores, predictions) for each batch, in inference mode."""
        set_mode(self.model, training=False)
        with torch.inference_mode(), autocast(self.device, self.precision):
            for x, y in loader:
                inputs = to_model_input(self.model, x, self.device)
                target = y.to(self.device) if is_torch_model(self.model) else y.numpy()
                scores = (
                    self.model(inputs) if is_torch_model(self.model) else self.model.forward(inputs)
                )
                yield inputs, target, scores, self._predict(inputs, scores)

    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Mean loss, accuracy and sample count over the loader (summed over ranks under DDP)."""
        loss_sum, correct, count = 0.0, 0.0, 0.0
        for _, target, scores, pred in self._batches(loader):
            n = len(target)
            if self.criterion is not None:
                loss_sum += float(self.criterion(scores, target)) * n
            correct += float((pred == target).sum())
            count += n
        loss_sum, correct, count = distributed.all_reduce_sum([loss_sum, correct, count])
        assert count > 0, "the evaluation loader is empty: check the split sizes"
        metrics = {"accuracy": correct / count, "num_samples": int(count)}
        if self.criterion is not None:
            metrics["loss"] = loss_sum / count
        return metrics

    def predict(self, loader: Iterable) -> tuple[np.ndarray, np.ndarray]:
        """True labels and predicted labels for every sample of the loader, as NumPy arrays."""
        trues, preds = [], []
        for _, target, _, pred in self._batches(loader):
            trues.append(np.asarray(target.cpu() if isinstance(target, torch.Tensor) else target))
            preds.append(np.asarray(pred.cpu() if isinstance(pred, torch.Tensor) else pred))
        return np.concatenate(trues), np.concatenate(preds)
