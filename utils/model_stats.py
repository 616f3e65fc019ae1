"""How big a network is: trainable parameters and floating-point operations per sample.

The CNN models compare themselves on these two numbers (LeNet-5 against the MLP, GoogLeNet
against VGG), so they are counted once, here, the same way for every model.

FLOPs convention: ``FLOPs = 2 * MACs``, one multiply and one add per multiply-accumulate, for
one sample, counted only in ``nn.Conv2d`` and ``nn.Linear`` layers (including their bias adds,
which are folded into the MAC count as the usual approximation). Activations, pooling,
normalisation, dropout and element-wise additions are ignored: on every network in this
project they are a few percent of the total. Hand-written layers that call ``F.conv2d`` or
matrix products directly, outside an ``nn.Conv2d``/``nn.Linear`` module, are not seen.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn


def count_parameters(model: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalar parameters of a module.

    Args:
        model: Any ``nn.Module``.
        trainable_only: Count only parameters with ``requires_grad`` (the default); False counts
            frozen ones too. Buffers (BatchNorm running statistics, fixed masks) never count.

    Returns:
        The total number of scalars. Shared (tied) parameters are counted once.
    """
    seen: set[int] = set()
    total = 0
    for param in model.parameters():  # parameters() already yields a tied tensor only once
        if id(param) in seen or (trainable_only and not param.requires_grad):
            continue
        seen.add(id(param))
        total += param.numel()
    return total


def _conv_macs(module: nn.Conv2d, output: torch.Tensor) -> int:
    """MACs of one Conv2d call for its first sample: outputs x (C_in / groups) x k_h x k_w."""
    k_h, k_w = module.kernel_size
    per_output = (module.in_channels // module.groups) * k_h * k_w
    return math.prod(output.shape[1:]) * per_output  # (C_out, H_out, W_out) outputs per sample


def _linear_macs(module: nn.Linear, output: torch.Tensor) -> int:
    """MACs of one Linear call for its first sample: outputs x in_features."""
    outputs_per_sample = math.prod(output.shape[1:])  # (out,) or (T, out) for sequences
    return outputs_per_sample * module.in_features


def count_flops(model: nn.Module, input_shape: tuple[int, ...]) -> int:
    """Floating-point operations of one forward pass for a single sample (FLOPs = 2 * MACs).

    Runs the model once, in eval mode and without gradients, on a zero batch of one sample, and
    adds up the multiply-accumulates of every ``nn.Conv2d`` and ``nn.Linear`` call through
    forward hooks (a module called twice counts twice). See the module docstring for what is
    ignored. The model's training mode is restored afterwards.

    Args:
        model: The network.
        input_shape: Shape of one sample without the batch dimension, e.g. ``(1, 28, 28)``.

    Returns:
        ``2 * MACs`` for one sample.
    """
    assert len(input_shape) >= 1, "input_shape is one sample's shape, e.g. (3, 32, 32)"
    macs = 0

    def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(module, nn.Conv2d):
            macs += _conv_macs(module, output)
        else:
            macs += _linear_macs(module, output)

    handles = [
        m.register_forward_hook(hook)
        for m in model.modules()
        if isinstance(m, (nn.Conv2d, nn.Linear))
    ]
    was_training = model.training
    try:
        param = next(model.parameters(), None)
        device = param.device if param is not None else torch.device("cpu")
        dtype = param.dtype if param is not None and param.is_floating_point() else torch.float32
        model.eval()
        with torch.no_grad():
            model(torch.zeros((1, *input_shape), device=device, dtype=dtype))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return 2 * macs
