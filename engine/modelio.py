"""What the engine needs to treat PyTorch modules and NumPy models alike.

A NumPy model (perceptron, ADALINE, Hopfield) is any object with ``forward(x)`` on arrays,
``state_dict()`` returning a dict of arrays and ``load_state_dict(state)``; it learns through
``train_step(x, y)`` (the Trainer's extension point, see engine/trainer.py).
"""

from __future__ import annotations

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
