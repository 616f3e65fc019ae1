"""The Evaluator: a model's metrics over a loader, the same for train.py and evaluate.py."""

from __future__ import annotations

import contextlib
import logging
from typing import Any, Callable, Iterable, Iterator

import numpy as np
import torch

from data_utils import batch_size_of
from engine import distributed
from engine.modelio import is_torch_model, set_mode
from engine.steps import MetricSums, StepOutput, step_of, to_device

logger = logging.getLogger(__name__)


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """bf16 autocast for the forward pass and loss when ``precision`` is "bf16", else nothing.

    Matmuls and convolutions run in bfloat16; losses and reductions stay in float32 (PyTorch's
    autocast op lists). bf16 has float32's exponent range, so no loss scaling is needed.
    """
    assert precision in ("fp32", "bf16"), f"precision is 'fp32' or 'bf16', got {precision!r}"
    if precision == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


def cpu_has_native_bf16() -> bool:
    """Whether this CPU computes bf16 matrix products natively (AVX-512 BF16 or AMX). Without
    them PyTorch emulates bf16, and a matrix product is tens of times slower than in float32
    (about 60x on an AVX2-only AMD EPYC here): bf16 autocast is a lever only where they exist."""
    cpu = torch.cpu
    checks = ("_is_avx512_bf16_supported", "_is_amx_tile_supported")
    return any(getattr(cpu, name, lambda: False)() for name in checks)


def warn_if_slow_bf16(device: torch.device, precision: str) -> None:
    """Log a warning when bf16 autocast is asked for on a CPU without native bf16: the numbers
    stay right, but training can take many times longer than in float32."""
    if precision == "bf16" and device.type == "cpu" and not cpu_has_native_bf16():
        logger.warning(
            "precision bf16 on a CPU without native bf16 (capability %s): matrix products are "
            "emulated and run tens of times slower than fp32; use --precision fp32 here",
            torch.backends.cpu.get_cpu_capability(),
        )


class Evaluator:
    """Runs a model's step (engine/steps.py) over every batch of a loader, in inference mode.

    Mean metrics (``loss``, ``accuracy``, a language model's ``bpc``...) are summed over batches
    and processes and divided once; the model's set metrics (``set_metrics()``) are fed every
    batch and computed at the end. The same code serves validation in train.py and evaluate.py.

    Args:
        model: A PyTorch module or a NumPy model. Without its own ``step`` it is a classifier:
            predictions come from ``model.predict(x)`` when it defines it (the perceptron's sign),
            else from the argmax of the scores.
        criterion: ``criterion(scores, y) -> mean loss`` for classifiers; None reports no loss.
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
        warn_if_slow_bf16(self.device, self.precision)
        self.step = step_of(model, criterion)

    def _outputs(self, loader: Iterable) -> Iterator[tuple[Any, StepOutput]]:
        """Yield (batch, the step's output) for each batch, in inference mode."""
        set_mode(self.model, training=False)
        with torch.inference_mode(), autocast(self.device, self.precision):
            for batch in loader:
                if is_torch_model(self.model):
                    batch = to_device(batch, self.device)
                yield batch, self.step(batch)

    def evaluate(self, loader: Iterable) -> dict[str, float]:
        """Every metric the model reports over the loader (summed over ranks under DDP).

        Returns:
            The Mean metrics by name, the set metrics' values, and ``num_samples``.
        """
        sums, count = MetricSums(), 0
        set_metrics = self.model.set_metrics() if hasattr(self.model, "set_metrics") else {}
        for batch, out in self._outputs(loader):
            sums.add(out.metrics)
            count += batch_size_of(batch)
            for metric in set_metrics.values():
                metric.update(batch, out.outputs)
        (count,) = distributed.all_reduce_sum([float(count)])
        assert count > 0, "the evaluation loader is empty: check the split sizes"
        metrics = MetricSums.means(sums.reduced(distributed.all_reduce_sum))
        for metric in set_metrics.values():
            metrics.update(metric.compute(distributed.gather_objects(metric.state())))
        metrics["num_samples"] = int(count)
        return metrics

    def predict(self, loader: Iterable) -> tuple[np.ndarray, np.ndarray] | None:
        """True labels and predicted classes for every sample of the loader.

        Returns:
            ``(y_true, y_pred)`` as NumPy arrays, or None when the model's step gives no class
            predictions (its ``outputs`` are not one label per sample: a VAE, a detector).
        """
        trues, preds = [], []
        for batch, out in self._outputs(loader):
            pred = out.outputs
            if isinstance(pred, torch.Tensor):
                pred = pred.cpu().numpy()
            target = batch[1] if isinstance(batch, (tuple, list)) else None
            if (
                not _labels(pred)
                or not isinstance(target, torch.Tensor)
                or len(pred) != len(target)
            ):
                return None
            trues.append(target.cpu().numpy())
            preds.append(np.asarray(pred))
        return np.concatenate(trues), np.concatenate(preds)


def _labels(pred: Any) -> bool:
    """Whether a step's outputs are one class label per sample (B,) of integers."""
    return isinstance(pred, np.ndarray) and pred.ndim == 1 and np.issubdtype(pred.dtype, np.integer)
