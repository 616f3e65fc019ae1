"""Parameter and FLOP counts against numbers worked out by hand."""

import pytest
import torch
from torch import nn

from utils import count_flops, count_parameters


def tiny_conv_net() -> nn.Sequential:
    # (1, 1, 8, 8) -> conv 3x3 valid (1 -> 4) -> (1, 4, 6, 6) -> ReLU -> maxpool 2 -> (1, 4, 3, 3)
    # -> conv 3x3 pad 1 (4 -> 2, no bias) -> (1, 2, 3, 3) -> flatten 18 -> linear 18 -> 5
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 2, 3, padding=1, bias=False),
        nn.Flatten(),
        nn.Linear(18, 5),
    )


def test_parameters_of_a_tiny_conv_net_by_hand():
    net = tiny_conv_net()
    # conv1: 4 * 1 * 3 * 3 + 4 = 40; conv2: 2 * 4 * 3 * 3 = 72; linear: 18 * 5 + 5 = 95
    assert count_parameters(net) == 40 + 72 + 95


def test_frozen_parameters_and_buffers():
    net = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))  # BN: 2 weights, 2 biases, 3 buffers
    assert count_parameters(net) == 6 + 2 + 2 + 2
    net[0].weight.requires_grad_(False)
    assert count_parameters(net) == 2 + 2 + 2
    assert count_parameters(net, trainable_only=False) == 6 + 2 + 2 + 2


def test_tied_weights_count_once():
    a = nn.Linear(4, 4, bias=False)
    b = nn.Linear(4, 4, bias=False)
    b.weight = a.weight
    assert count_parameters(nn.Sequential(a, b)) == 16


def test_flops_of_a_tiny_conv_net_by_hand():
    net = tiny_conv_net()
    conv1 = 4 * 6 * 6 * (1 * 3 * 3)  # 144 outputs x 9 MACs = 1296
    conv2 = 2 * 3 * 3 * (4 * 3 * 3)  # 18 outputs x 36 MACs = 648
    linear = 5 * 18  # 90
    assert count_flops(net, (1, 8, 8)) == 2 * (conv1 + conv2 + linear)


def test_flops_of_grouped_and_strided_convolutions():
    # (3, 9, 9) -> 3x3, stride 2, pad 1, groups 3 (3 -> 6) -> (6, 5, 5); each output sees
    # C_in / groups = 1 channel x 3 x 3 = 9 inputs
    net = nn.Conv2d(3, 6, 3, stride=2, padding=1, groups=3)
    assert count_flops(net, (3, 9, 9)) == 2 * (6 * 5 * 5 * 9)


def test_flops_count_one_sample_and_restore_the_mode():
    net = tiny_conv_net().train()
    flops = count_flops(net, (1, 8, 8))
    assert net.training, "count_flops must restore training mode"
    assert count_flops(net.eval(), (1, 8, 8)) == flops
    assert not net.training
    net.train()
    with pytest.raises(RuntimeError):
        count_flops(net, (1, 10, 10))  # 32 features reach the 18-input linear layer: it fails
    assert net.training, "the mode is restored also when the forward fails"


def test_a_module_called_twice_counts_twice():
    layer = nn.Linear(4, 4)

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.layer = layer

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.layer(self.layer(x))

    assert count_flops(Twice(), (4,)) == 2 * 2 * 16
