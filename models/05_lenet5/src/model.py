"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998): the convolutional network of Sec. II-B.

Paper: Y. LeCun, L. Bottou, Y. Bengio and P. Haffner, "Gradient-Based Learning Applied to
Document Recognition", Proceedings of the IEEE 86(11), 2278-2324, 1998. Section, table and
appendix numbers below are the paper's.

What is implemented, in the paper's order:
- Input (Sec. II-B): a 32x32 field. MNIST's 28x28 images are zero-padded to 32x32 (the paper's
  20x20 digits sit centred in the 28x28 images, so strokes can reach the centre of every C1
  receptive field); pixels in [0, 1] are mapped to background -0.1 and ink 1.175, which makes
  the mean input roughly 0 and the variance roughly 1.
- The squashing function (Appendix A): f(a) = A tanh(S a) with A = 1.7159 and S = 2/3, so that
  f(1) = 1 and f(-1) = -1. Every layer up to F6 squashes its weighted sums.
- C1: 6 feature maps, 5x5 convolution, (B, 1, 32, 32) -> (B, 6, 28, 28); 156 parameters.
- S2: trainable subsampling, written by hand: each unit averages a 2x2 block (no overlap) of
  its map, multiplies by the map's trainable coefficient, adds the map's trainable bias and
  squashes. (B, 6, 28, 28) -> (B, 6, 14, 14); 12 parameters. The paper adds the four inputs;
  averaging is the same up to a factor 4 in the coefficient and lets it start at 1.
- C3: 16 maps, 5x5 convolution, each map connected only to the S2 maps that Table I marks, "to
  break the symmetry in the network" and keep the number of connections in bounds. Only the 60
  connected kernels are parameters: (B, 6, 14, 14) -> (B, 16, 10, 10); 1,516 parameters.
- S4: as S2, (B, 16, 10, 10) -> (B, 16, 5, 5); 32 parameters.
- C5: 120 maps, 5x5 convolution over all of S4, (B, 16, 5, 5) -> (B, 120, 1, 1); 48,120.
- F6: 84 fully connected units, (B, 120) -> (B, 84); 10,164 parameters.
- Initialisation (Appendix A): weights uniform in [-2.4 / F, 2.4 / F] with F the fan-in of the
  unit (for C3, the fan-in of each map under Table I); subsampling coefficients start at 1.

What differs from the paper, and why:
- Output layer: the paper's output is 10 Euclidean RBF units whose fixed parameter vectors are
  7x12 bitmaps of the ASCII characters, trained with the MAP criterion of eq. 9. Here the output
  is a linear layer of 10 units (850 parameters) read with softmax cross-entropy. The paper's
  criterion with the "rubbish class" constant j removed is exactly cross-entropy on the negated
  RBF distances; a trainable linear layer lets the targets be learned instead of drawn. The
  paper itself notes that its RBF codes matter for the full ASCII set, not for ten digits.
- Training: the paper uses the stochastic diagonal Levenberg-Marquardt method (Appendix C),
  one sample per update, with a hand-set learning-rate schedule over 20 passes. Here AdamW
  (decoupled weight decay) on mini-batches with a cosine schedule (config.py), 12 passes.
- Left out: the distorted training set of Sec. III-C (affine distortions; 0.8% instead of
  0.95%) and the boosted and tangent-distance variants: the experiments here are the plain
  LeNet-5 on the undistorted data, the paper's 0.95% row.

Known outcomes, asserted in tests or measured in README: the layer shapes and parameter counts
of Sec. II-B (60,000 trainable parameters up to F6; 60,850 with the linear output); S2/S4 equal
their PyTorch composition (average pooling, scale, bias, tanh); C3 equals the sum of ordinary
convolutions over the Table I inputs; MNIST test error at most 1.2% (paper 0.95%) with a quarter
of the MLP's parameters.
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from config import LeNet5Config
from constants import INPUT_SIZE
from torch import nn

from data_utils import DatasetSplits
from data_utils.transforms import pad_to, resize

# ----------------------------------------------------------------------------------- helpers

SQUASH_A = 1.7159  # Appendix A: amplitude, chosen with S so that f(+-1) = +-1
SQUASH_S = 2.0 / 3.0  # Appendix A: slope at the origin is A * S

# Table I: which S2 feature maps (rows) each C3 feature map (columns) combines. Maps 0-5 take
# three neighbouring S2 maps, 6-11 four neighbours, 12-14 four non-neighbours, 15 all six.
TABLE_I = (
    # C3 map: 0123456789012345
    "X...XXX..XXXX.XX",  # S2 map 0
    "XX...XXX..XXXX.X",  # S2 map 1
    "XXX...XXX..X.XXX",  # S2 map 2
    ".XXX..XXXX..X.XX",  # S2 map 3
    "..XXX..XXXX.XX.X",  # S2 map 4
    "...XXX..XXXX.XXX",  # S2 map 5
)


def connection_table() -> torch.Tensor:
    """Table I as a bool tensor (6 S2 maps, 16 C3 maps): True where a C3 map reads an S2 map."""
    return torch.tensor([[mark == "X" for mark in row] for row in TABLE_I])


def squash(a: torch.Tensor) -> torch.Tensor:
    """The paper's sigmoid: f(a) = A tanh(S a), A = 1.7159, S = 2/3 (Appendix A, eq. 7)."""
    return SQUASH_A * torch.tanh(SQUASH_S * a)


def fan_in_uniform_(tensor: torch.Tensor, fan_in: float | torch.Tensor) -> torch.Tensor:
    """Appendix A: uniform in [-2.4 / F, 2.4 / F], F the fan-in (a number or one per row)."""
    bound = 2.4 / torch.as_tensor(fan_in, dtype=tensor.dtype)
    bound = bound.view(-1, *[1] * (tensor.dim() - 1)) if bound.dim() else bound  # per row
    with torch.no_grad():
        return tensor.copy_((torch.rand_like(tensor) * 2.0 - 1.0) * bound)


def to_input_field(x: torch.Tensor) -> torch.Tensor:
    """Batches of images -> the paper's normalised 32x32 input field (Sec. II-B).

    (B, 1, 28, 28) MNIST-style images are zero-padded to 32x32 (the digit keeps its size);
    other sizes, e.g. the 8x8 scikit-learn digits of the smoke test, are resized. Flat square
    inputs (B, H * W) are read as one-channel images first.
    """
    if x.dim() == 2:
        side = math.isqrt(x.shape[1])
        assert side * side == x.shape[1], f"flat input of {x.shape[1]} values is not a square"
        x = x.view(len(x), 1, side, side)  # (B, H * W) -> (B, 1, H, W)
    assert x.dim() == 4 and x.shape[1] == 1, f"LeNet-5 reads (B, 1, H, W) images, got {x.shape}"
    if x.shape[-1] == 28:
        x = pad_to(x, INPUT_SIZE)  # (B, 1, 28, 28) -> (B, 1, 32, 32), background 0
    elif x.shape[-1] != INPUT_SIZE:
        x = resize(x, INPUT_SIZE)  # (B, 1, H, W) -> (B, 1, 32, 32)
    return x * 1.275 - 0.1  # background 0 -> -0.1, ink 1 -> 1.175


# -------------------------------------------------------------------------------- components


class Subsampling(nn.Module):
    """S2 and S4: per map, average of each 2x2 block, times a coefficient, plus a bias, squashed.

    Args:
        channels: Number of feature maps; each has its own coefficient and bias.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.coefficient = nn.Parameter(torch.ones(channels))
        self.bias = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        assert h % 2 == 0 and w % 2 == 0, f"2x2 subsampling needs even sizes, got {h}x{w}"
        blocks = x.view(b, c, h // 2, 2, w // 2, 2)  # (B, C, H, W) -> (B, C, H/2, 2, W/2, 2)
        mean = blocks.mean(dim=(3, 5))  # (B, C, H/2, W/2): the 4 inputs of each unit, averaged
        # (C,) -> (1, C, 1, 1) to broadcast one coefficient and one bias per map
        return squash(mean * self.coefficient.view(1, c, 1, 1) + self.bias.view(1, c, 1, 1))


class PartiallyConnectedConv(nn.Module):
    """C3: a convolution in which output map j reads only the input maps that Table I marks.

    Only the connected kernels are parameters (``weight`` is (connections, k, k)); each forward
    scatters them into a dense (C_out, C_in, k, k) kernel whose other entries are zero, and runs
    one ordinary convolution.

    Args:
        table: Bool (C_in, C_out), True where output map j reads input map i.
        kernel_size: Side k of the square kernels.
    """

    def __init__(self, table: torch.Tensor, kernel_size: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels = table.shape
        self.kernel_size = kernel_size
        out_index, in_index = table.T.nonzero(as_tuple=True)  # connections, by output map
        self.register_buffer("out_index", out_index, persistent=False)
        self.register_buffer("in_index", in_index, persistent=False)
        self.weight = nn.Parameter(torch.empty(len(out_index), kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.empty(self.out_channels))
        fan_in = table.sum(dim=0).float() * kernel_size**2  # (C_out,) inputs of each map's units
        fan_in_uniform_(self.weight, fan_in[out_index])
        fan_in_uniform_(self.bias, fan_in)

    def dense_weight(self) -> torch.Tensor:
        """The (C_out, C_in, k, k) kernel with zeros where Table I has no connection."""
        k = self.kernel_size
        dense = self.weight.new_zeros(self.out_channels, self.in_channels, k, k)
        dense[self.out_index, self.in_index] = self.weight  # differentiable scatter
        return dense

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.dense_weight(), self.bias)


# ----------------------------------------------------------------------------------- the model


class LeNet5(nn.Module):
    """C1 S2 C3 S4 C5 F6 and a linear output layer, on a 32x32 input field.

    Args:
        num_classes: Output units (10 for digits and Fashion-MNIST).
    """

    def __init__(self, num_classes: int = 10) -> None:
        super().__init__()
        self.c1 = nn.Conv2d(1, 6, kernel_size=5)
        self.s2 = Subsampling(6)
        self.c3 = PartiallyConnectedConv(connection_table(), kernel_size=5)
        self.s4 = Subsampling(16)
        self.c5 = nn.Conv2d(16, 120, kernel_size=5)
        self.f6 = nn.Linear(120, 84)
        self.output = nn.Linear(84, num_classes)
        for layer in (self.c1, self.c5, self.f6, self.output):
            fan_in = layer.weight[0].numel()  # inputs of one unit: C_in * k * k, or in_features
            fan_in_uniform_(layer.weight, fan_in)
            fan_in_uniform_(layer.bias, fan_in)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output for a batch, by the paper's layer names (for plots and tests)."""
        out = {"input": to_input_field(x)}  # (B, 1, 32, 32)
        out["c1"] = squash(self.c1(out["input"]))  # (B, 1, 32, 32) -> (B, 6, 28, 28)
        out["s2"] = self.s2(out["c1"])  # (B, 6, 28, 28) -> (B, 6, 14, 14)
        out["c3"] = squash(self.c3(out["s2"]))  # (B, 6, 14, 14) -> (B, 16, 10, 10)
        out["s4"] = self.s4(out["c3"])  # (B, 16, 10, 10) -> (B, 16, 5, 5)
        out["c5"] = squash(self.c5(out["s4"]))  # (B, 16, 5, 5) -> (B, 120, 1, 1)
        out["f6"] = squash(self.f6(out["c5"].flatten(1)))  # (B, 120, 1, 1) -> (B, 120) -> (B, 84)
        out["output"] = self.output(out["f6"])  # (B, 84) -> (B, num_classes) logits
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["output"]


# -------------------------------------------------------------------------- the ModelSpec hooks


def create_model(config: LeNet5Config, splits: DatasetSplits) -> LeNet5:
    """Build LeNet-5 for a data set (the ModelSpec hook); torch is seeded by the workflow."""
    return LeNet5(num_classes=splits.num_classes)


def create_criterion(config: LeNet5Config) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean softmax cross-entropy of the output layer's scores (see the docstring for eq. 9)."""
    return F.cross_entropy
