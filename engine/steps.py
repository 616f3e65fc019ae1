"""How one batch becomes a loss and named metrics: the contract between a model and the engine.

A PyTorch model says it in its own file, nanoGPT-style, by defining ``step``::

    def step(self, batch) -> StepOutput:
        x, y = batch                                            # (B, T) token ids, (B, T) next ids
        logits = self(x)                                        # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        n = y.numel()                                           # the loss is a mean over n tokens
        return StepOutput(loss, {"loss": Mean(loss * n, n), "bpc": Mean(loss * n / math.log(2), n)})

The same ``step`` serves training (the Trainer calls ``backward`` on ``loss``) and evaluation
(under ``torch.inference_mode``; ``model.training`` says which). A model without ``step`` is a
classifier and gets :func:`classify`: ``forward(x) -> scores`` and ``criterion(scores, y)``,
reporting ``loss`` and ``accuracy``: the few lines the first nine models need.

Metrics come in two kinds:

- :class:`Mean`: a sum over the batch and the count it covers. The engine adds sums and counts
  over batches and processes and divides once, so a metric is a mean over items (samples, tokens,
  nodes), not a mean of batch means. ``loss`` is always reported: when a step does not name it,
  the engine records ``loss`` weighted by the batch's sample count.
- :class:`SetMetric`: a metric of the whole evaluated set (mean average precision, an adapted
  Rand error, a Frechet distance). A model lists fresh ones in ``set_metrics()``; the Evaluator
  feeds each the batches and the step's ``outputs``, gathers their states over processes and
  computes them once at the end.

Models whose learning rule is not backprop-then-step keep the Trainer's other extension point,
``train_step`` (engine/trainer.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Callable, Protocol

import numpy as np
import torch

from engine.modelio import is_torch_model


@dataclass
class Mean:
    """A metric the engine averages: ``total`` summed over the batch's items, and their count."""

    total: float | torch.Tensor
    count: float


@dataclass
class StepOutput:
    """What a model's ``step`` returns for one batch.

    Attributes:
        loss: Scalar tensor to minimise (a mean over the batch's items); backward() is called on
            it in training.
        metrics: Named :class:`Mean` metrics; ``loss`` is added by the engine when absent.
        outputs: What the model's set metrics and plots need from this batch (predictions,
            boxes); None when there is nothing to keep.
    """

    loss: torch.Tensor
    metrics: dict[str, Mean] = field(default_factory=dict)
    outputs: Any = None


class SetMetric(Protocol):
    """A metric computed over a whole evaluated set, from per-batch updates.

    ``state()`` returns plain values (lists, numbers, tensors) that can be gathered from every
    process; ``compute(states)`` combines the states of all processes into named values.
    """

    def update(self, batch: Any, outputs: Any) -> None: ...

    def state(self) -> Any: ...

    def compute(self, states: list[Any]) -> dict[str, float]: ...


def as_float(value: float | torch.Tensor) -> float:
    """A metric's value as a Python float: ``item()`` reads it with no autograd warning and no
    detached copy first (0.17 us against 0.66 for ``float(value.detach())`` here)."""
    return float(value.item()) if isinstance(value, torch.Tensor) else float(value)


def to_device(batch: Any, device: torch.device) -> Any:
    """Move every tensor of a batch of any structure (tuple, list, dict, nested) to ``device``.

    Tensors move with ``non_blocking``; other values (strings, numbers) stay as they are.
    """
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, dict):
        return {k: to_device(v, device) for k, v in batch.items()}
    if isinstance(batch, (tuple, list)):
        return type(batch)(to_device(v, device) for v in batch)
    return batch


def classify(
    model: Any, criterion: Callable | None, batch: Any, predict: Callable | None = None
) -> StepOutput:
    """The default step for classifiers: ``scores = model(x)``, ``criterion(scores, y)``.

    Reports ``loss`` (when there is a criterion) and ``accuracy``; ``outputs`` are the predicted
    classes, from ``predict(x)`` when given (the model's own ``predict``, e.g. the perceptron's
    sign; :func:`step_of` looks it up once), else the argmax of the scores. NumPy models
    (perceptron, ADALINE, Hopfield) get NumPy arrays.
    """
    x, y = batch
    n = len(y)
    if not is_torch_model(model):
        x, y = np.asarray(x), np.asarray(y)
        scores = model.forward(x)
        loss = float(criterion(scores, y)) if criterion is not None and n else math.nan
        pred = predict(x) if predict is not None else np.argmax(scores, axis=1)
        correct = float((pred == y).sum())
        metrics = {"accuracy": Mean(correct, n)}
        if criterion is not None:
            metrics["loss"] = Mean(loss * n, n)
        return StepOutput(torch.tensor(loss), metrics, outputs=pred)
    scores = model(x)
    if criterion is None:
        loss = torch.full((), math.nan)
    elif n == 0:  # a DDP padding batch: zero loss, but every parameter stays in the graph
        loss = scores.sum() * 0.0
    else:
        loss = criterion(scores, y)
    # The loss as a Python float first, then times n (float64): the sums the engine has always
    # logged, to the last digit.
    metrics = {"loss": Mean(loss.item() * n, n)} if criterion is not None else {}
    if predict is not None:
        pred = predict(x)
    elif scores.dim() == 2:
        pred = scores.detach().argmax(dim=1)
    else:
        pred = None
    if pred is not None:
        metrics["accuracy"] = Mean((pred == y).sum(), n)
    return StepOutput(loss, metrics, outputs=pred)


def token_metrics(loss: torch.Tensor, n: int) -> dict[str, Mean]:
    """A language model's metrics from its mean loss over ``n`` predicted tokens (nats each).

    ``loss`` in nats per token and ``bpc``, bits per token (per character for a character model):
    loss / ln 2. Both are means over tokens, summed over batches by the engine. The perplexity,
    exp of the mean loss, is not a mean of per-batch values: :class:`Perplexity` computes it.
    """
    total = loss.item() * n
    return {"loss": Mean(total, n), "bpc": Mean(total / math.log(2), n)}


class Perplexity:
    """exp(mean nats per token) over a whole evaluated set: a SetMetric (see the module docstring).

    It reads the step's ``outputs`` as ``{"nats": sum over the batch, "tokens": count}`` (what
    :func:`token_metrics`'s caller returns for it), so it is exact over uneven batches and ranks.
    """

    def __init__(self) -> None:
        self.nats, self.tokens = 0.0, 0.0

    def update(self, batch: Any, outputs: dict[str, float]) -> None:
        self.nats += float(outputs["nats"])
        self.tokens += float(outputs["tokens"])

    def state(self) -> list[float]:
        return [self.nats, self.tokens]

    def compute(self, states: list[list[float]]) -> dict[str, float]:
        nats, tokens = (sum(s[i] for s in states) for i in (0, 1))
        return {"perplexity": math.exp(nats / tokens) if tokens else math.nan}


def sample_next(
    logits: torch.Tensor,
    generator: torch.Generator,
    temperature: float = 1.0,
    top_k: int | None = None,
) -> torch.Tensor:
    """Draw one token per row from next-token logits: (B, V) -> int64 (B,).

    ``temperature`` divides the logits (below 1 sharpens, 0 takes the argmax); ``top_k`` keeps
    only the k most likely tokens. Every random number comes from ``generator``: the same seed
    gives the same text.
    """
    assert logits.dim() == 2, f"expected (B, V) logits, got {tuple(logits.shape)}"
    assert temperature >= 0, f"temperature must be >= 0, got {temperature}"
    if temperature == 0:
        return logits.argmax(dim=1)
    logits = logits.float() / temperature
    if top_k is not None and top_k < logits.shape[1]:
        kth = logits.topk(top_k, dim=1).values[:, -1:]  # (B, 1): the k-th largest logit
        logits = logits.masked_fill(logits < kth, -math.inf)
    probs = logits.softmax(dim=1)  # (B, V)
    return torch.multinomial(probs, 1, generator=generator).squeeze(1)


class StepModule(torch.nn.Module):
    """``forward(batch)`` is the model's step: the module DDP wraps and the loops call.

    DistributedDataParallel synchronises gradients through hooks on its own ``forward``; a loop
    that called ``model.step`` directly would bypass them. Wrapping the step as this module's
    forward keeps one path for one process and many. The wrapper holds no weights of its own:
    checkpoints save the model itself.
    """

    def __init__(self, model: torch.nn.Module, criterion: Callable | None = None) -> None:
        super().__init__()
        self.model = model
        self.step = step_of(model, criterion)  # looked up once: forward runs every batch

    def forward(self, batch: Any) -> StepOutput:
        return self.step(batch)


def step_of(model: Any, criterion: Callable | None) -> Callable[[Any], StepOutput]:
    """The function that turns a batch into a StepOutput for this model (torch or NumPy).

    In one process it is called directly: wrapping it in a module (StepModule, which DDP needs)
    cost the MLP about 3% of a training step in a side-by-side timing. What the step needs from
    the model is looked up here, once: ``hasattr`` on a torch module that lacks the attribute
    raises and catches an AttributeError, which per batch cost the MLP about 3% of a step.
    """
    if hasattr(model, "step"):
        return model.step
    return partial(classify, model, criterion, predict=getattr(model, "predict", None))


class MetricSums:
    """Running sums and counts of Mean metrics over batches (one process's share).

    ``add`` takes a step's metrics (converting tensors to floats once per batch), ``means``
    divides after the sums were added up over processes. ``state`` / ``from_state`` keep the
    partial sums in a checkpoint as plain values.
    """

    def __init__(self) -> None:
        self.sums: dict[str, list[float]] = {}

    def add(self, metrics: dict[str, Mean]) -> None:
        for name, metric in metrics.items():
            pair = self.sums.get(name)
            if pair is None:
                self.sums[name] = [as_float(metric.total), float(metric.count)]
            else:  # in place: this object's own lists (state() hands out copies)
                pair[0] += as_float(metric.total)
                pair[1] += float(metric.count)  # a count may come as a tensor

    def reduced(self, all_reduce: Callable[[list[float]], list[float]]) -> dict[str, list[float]]:
        """The sums over all processes (every process must call it with the same names)."""
        names = sorted(self.sums, key=lambda name: (name != "loss", name))  # loss first
        flat = all_reduce([v for name in names for v in self.sums[name]])
        return {name: [flat[2 * i], flat[2 * i + 1]] for i, name in enumerate(names)}

    @staticmethod
    def means(sums: dict[str, list[float]]) -> dict[str, float]:
        return {name: total / count if count else math.nan for name, (total, count) in sums.items()}

    def count(self, name: str = "loss") -> float:
        return self.sums.get(name, [0.0, 0.0])[1]

    def state(self) -> dict[str, list[float]]:
        return {name: list(pair) for name, pair in self.sums.items()}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> "MetricSums":
        """Partial sums from a checkpoint; also the older {"loss", "correct", "count"} form."""
        sums = cls()
        if "count" in state and not isinstance(state["count"], (list, tuple)):
            count = float(state["count"])
            sums.sums = {"loss": [float(state["loss"]), count]}
            if not math.isnan(float(state["correct"])):
                sums.sums["accuracy"] = [float(state["correct"]), count]
            return sums
        sums.sums = {name: [float(t), float(c)] for name, (t, c) in state.items()}
        return sums
