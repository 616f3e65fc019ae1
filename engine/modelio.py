"""What the engine needs to treat PyTorch modules and NumPy models alike.

A NumPy model (perceptron, ADALINE, Hopfield) is any object with ``forward(x)`` on arrays,
``state_dict()`` returning a dict of arrays and ``load_state_dict(state)``; it learns through
``train_step(x, y)`` (the Trainer's extension point, see engine/trainer.py). ``array_state`` and
``load_array_state`` write those two methods once for models whose state is a few attributes.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch


def is_torch_model(model: Any) -> bool:
    return isinstance(model, torch.nn.Module)


def to_model_input(model: Any, x: torch.Tensor, device: torch.device) -> Any:
    """Move a batch where the model wants it: a device tensor, or a NumPy array."""
    if is_torch_model(model):
        return x.to(device, non_blocking=True)
    return x.numpy()


def model_state(model: Any) -> dict[str, torch.Tensor]:
    """The weights as CPU tensors (NumPy arrays converted), safe for weights_only loading."""
    state = model.state_dict()
    return {
        k: torch.as_tensor(np.array(v) if not isinstance(v, torch.Tensor) else v).cpu().clone()
        for k, v in state.items()
    }


def load_model_state(model: Any, state: dict[str, torch.Tensor]) -> None:
    """Load weights saved by ``model_state`` into a PyTorch or NumPy model (strict)."""
    if is_torch_model(model):
        model.load_state_dict(state, strict=True)
    else:
        model.load_state_dict({k: v.numpy().copy() for k, v in state.items()})


def set_mode(model: Any, training: bool) -> None:
    """train()/eval() for modules; NumPy models have no mode."""
    if is_torch_model(model):
        model.train(training)


@contextmanager
def evaluating(model: Any) -> Iterator[None]:
    """Eval mode and no gradients for a look inside a model; its own mode is restored after.

    For plots of what a network computes (feature maps of one image), called in the middle of
    training by the ``--visualize`` hooks: dropout off and batch-norm running statistics used,
    then the model goes back to training mode if it was in it.
    """
    was_training = model.training if is_torch_model(model) else False
    set_mode(model, False)
    try:
        with torch.no_grad():
            yield
    finally:
        set_mode(model, was_training)


def array_state(model: Any, names: Sequence[str]) -> dict[str, np.ndarray]:
    """A NumPy model's ``state_dict``: a copy of each named attribute, as an array.

    A Python int (a counter such as the perceptron's number of updates) becomes a 0-d int64
    array, so the state holds arrays only and survives a ``weights_only`` checkpoint.

    Args:
        model: The model.
        names: The attributes that make up its state, in the order they are saved.

    Returns:
        ``{name: array}``, independent of the model's own arrays.
    """
    return {name: np.array(getattr(model, name)) for name in names}


def load_array_state(model: Any, state: Mapping[str, Any], dtypes: Mapping[str, Any]) -> None:
    """A NumPy model's ``load_state_dict``: set each named attribute from a copy of ``state``.

    Args:
        model: The model; its current attributes give the shapes the saved arrays must have.
        state: The saved arrays, as ``array_state`` made them (after a checkpoint round trip).
        dtypes: Attribute name -> the dtype it is kept in (``np.float64``, ``np.int64``), or
            ``int`` for a Python int counter.
    """
    for name, dtype in dtypes.items():
        want, got = np.shape(getattr(model, name)), np.shape(state[name])
        assert got == want, f"{name} shape {got} does not match the model's {want}"
        if dtype is int:
            setattr(model, name, int(state[name]))
        else:
            setattr(model, name, np.asarray(state[name], dtype=dtype).copy())
