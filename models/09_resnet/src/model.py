"""The CIFAR-style residual network (He, Zhang, Ren & Sun, 2015), and its plain counterpart.

Paper: K. He, X. Zhang, S. Ren and J. Sun, "Deep Residual Learning for Image Recognition",
arXiv:1512.03385, 2015 (CVPR 2016). Section numbers below are the paper's.

What is implemented, in the paper's order:
- Residual learning (Sec. 3.1-3.2): a block computes y = F(x) + x, so that its layers fit the
  residual F(x) = H(x) - x instead of the mapping H(x) itself; the identity is free to keep.
- The basic block (Fig. 2, Sec. 3.4): conv3x3 - BN - ReLU - conv3x3 - BN, plus the shortcut,
  then ReLU. BN right after each convolution, before the activation.
- Shortcuts where the shape changes (Sec. 3.3): option A, the identity on every second pixel
  with zero channels appended (no parameters, the paper's choice on CIFAR-10), or option B, a
  strided 1x1 projection with BN (``config.shortcut``).
- The CIFAR-10 network of Sec. 4.2: a 3x3 convolution, then 3 stages of n blocks (2n layers) on
  maps of 32, 16 and 8 pixels with 16, 32 and 64 filters, the first block of stages 2 and 3
  subsampling by a stride-2 convolution; global average pooling and a fully connected layer:
  6n + 2 weighted layers. ``residual=False`` removes every shortcut: the "plain" net of the
  same depth, width and parameter count, the control of the degradation experiment (Fig. 6).
- Weight initialisation of He et al. 2015 (their ref. [13]): N(0, 2 / fan_in) for convolutions.
- Input preprocessing of Sec. 4.2: the per-pixel mean of the training images is subtracted
  (stored as a buffer, so a checkpoint carries it); and in training, optionally, the paper's
  augmentation: pad by 4 pixels, take a random 32x32 crop, flip left-right with probability 1/2
  (``config.augment``; ``augment`` below, which the training loader applies through the
  ``train_transform`` hook). Nothing is augmented in evaluation (single view, as the paper tests).

Deliberately left out or changed:
- The ImageNet networks (Sec. 4.1: 7x7 stem, bottleneck blocks, 18 to 152 layers): the CIFAR
  family carries the paper's argument (Fig. 6) at a size a CPU can train.
- The schedule: the paper divides lr 0.1 by 10 at 32k and 48k of 64k iterations; our budgets are
  a few epochs with a cosine decay (config.py). The 110-layer net's warm-up is not needed.
- Fashion-MNIST runs use the same network on 28x28 maps (28, 14, 7): nothing depends on 32.

Known outcomes, asserted in tests: every shortcut matches its block's output shape across the
stage changes (option A's appended channels are exactly zero); with zero-initialised last BNs
a residual net is exactly the identity per block at initialisation, and with the default
initialisation a residual block's output stays close to its input while a plain block's does
not; the parameter counts of a plain net and a residual net with option A are equal.
"""

from __future__ import annotations

from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from config import ResNetConfig
from torch import nn

from data_utils import DatasetSplits, TrainTransform
from data_utils.transforms import random_crop, random_horizontal_flip

# ---------------------------------------------------------------------------------- helpers


def conv3x3(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    """3x3 convolution, padding 1 ("same" size at stride 1); no bias, BN follows (Sec. 3.4)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False)


def pixel_mean(splits: DatasetSplits, chunk: int = 4096) -> torch.Tensor:
    """Mean training image (C, H, W), on the scale the loaders deliver (after splits.transform)."""
    total = torch.zeros(splits.input_shape, dtype=torch.float64)
    for start in range(0, len(splits.x_train), chunk):  # chunks keep the float copy small
        x = splits.x_train[start : start + chunk]
        x = splits.transform(x) if splits.transform is not None else x
        total += x.to(torch.float64).sum(dim=0)
    return (total / len(splits.x_train)).float()


def augment(
    x: torch.Tensor, generator: torch.Generator, *, mean_image: torch.Tensor, padding: int
) -> torch.Tensor:
    """The training augmentation of Sec. 4.2: random crop after padding, random horizontal flip.

    The paper pads the mean-subtracted images, so a padded pixel is the mean pixel (0). The
    training loader applies this before the network subtracts the mean, so it subtracts the mean
    image, crops and flips, and adds the mean back: the network then sees exactly the padded
    zero-mean crop, up to float rounding. The crop and flip are data_utils.transforms'.

    Args:
        x: A training batch (B, C, H, W) on the loaders' scale.
        generator: Where every random number comes from (the loader's, per batch).
        mean_image: The per-pixel training mean (C, H, W) the network subtracts.
        padding: Pixels of zero-mean padding before the crop.
    """
    centred = x - mean_image  # (B, C, H, W), the mean pixel is 0
    centred = random_crop(centred, padding, generator=generator)  # (B, C, H, W), shifted
    centred = random_horizontal_flip(centred, generator=generator)  # (B, C, H, W), half mirrored
    return centred + mean_image  # (B, C, H, W), on the loaders' scale again


# ----------------------------------------------------------------------------- the shortcuts


class ZeroPadShortcut(nn.Module):
    """Option A (Sec. 3.3): the identity, subsampled by ``stride``, with zero channels appended.

    Parameter-free, so a residual net has exactly the parameters of its plain counterpart.
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        assert out_channels >= in_channels, "option A can only add channels"
        self.extra_channels = out_channels - in_channels
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[:, :, :: self.stride, :: self.stride]  # (B, C, H, W) -> (B, C, H/s, W/s)
        return F.pad(x, (0, 0, 0, 0, 0, self.extra_channels))  # -> (B, C + extra, H/s, W/s)


def projection_shortcut(in_channels: int, out_channels: int, stride: int) -> nn.Sequential:
    """Option B (Sec. 3.3, eq. 2): y = W_s x, a strided 1x1 convolution followed by BN."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False),
        nn.BatchNorm2d(out_channels),
    )


# ---------------------------------------------------------------------------- the basic block


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with BN and ReLU, plus the shortcut (Fig. 2): relu(F(x) + x).

    Args:
        in_channels, out_channels: Channels into and out of the block.
        stride: 2 in the first block of stages 2 and 3 (subsampling by a strided convolution).
        residual: False drops the shortcut: relu(F(x)), a block of the plain network.
        shortcut: "A" (zero-padding identity) or "B" (projection) where the shape changes;
            where it does not, the shortcut is always the identity.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        stride: int = 1,
        residual: bool = True,
        shortcut: str = "A",
    ) -> None:
        super().__init__()
        self.conv1 = conv3x3(in_channels, out_channels, stride)
        self.bn1 = nn.BatchNorm2d(out_channels)
        self.conv2 = conv3x3(out_channels, out_channels)
        self.bn2 = nn.BatchNorm2d(out_channels)
        self.shortcut: nn.Module | None = None
        if residual and stride == 1 and in_channels == out_channels:
            self.shortcut = nn.Identity()
        elif residual and shortcut == "A":
            self.shortcut = ZeroPadShortcut(in_channels, out_channels, stride)
        elif residual:
            self.shortcut = projection_shortcut(in_channels, out_channels, stride)

    def residual_branch(self, x: torch.Tensor) -> torch.Tensor:
        """F(x): (B, C_in, H, W) -> (B, C_out, H/s, W/s)."""
        out = F.relu(self.bn1(self.conv1(x)))
        return self.bn2(self.conv2(out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.residual_branch(x)
        if self.shortcut is not None:
            out = out + self.shortcut(x)  # eq. 1: y = F(x, {W_i}) + x
        return F.relu(out)


# ------------------------------------------------------------------------------ the network


class ResNet(nn.Module):
    """The 6n+2-layer network for small images of Sec. 4.2, residual or plain.

    Args:
        depth: Weighted layers, 6n + 2 (8, 14, 20, 32, 44, 56, 110).
        in_channels: Image channels (3 for CIFAR-10, 1 for Fashion-MNIST).
        num_classes: Classes of the final fully connected layer.
        mean_image: Per-pixel training mean (C, H, W) subtracted from every input (Sec. 4.2).
        widths: Filters of the three stages (16, 32, 64 in the paper).
        residual: False builds the plain counterpart (no shortcuts).
        shortcut: "A" or "B" where the shape changes.
        zero_init_residual: Set the last BN's gamma of each residual block to 0.
    """

    def __init__(
        self,
        depth: int,
        in_channels: int,
        num_classes: int,
        mean_image: torch.Tensor,
        widths: tuple[int, int, int] = (16, 32, 64),
        residual: bool = True,
        shortcut: str = "A",
        zero_init_residual: bool = False,
    ) -> None:
        super().__init__()
        assert depth >= 8 and (depth - 2) % 6 == 0, f"depth must be 6n + 2, got {depth}"
        assert mean_image.shape[0] == in_channels, "mean_image must be (C, H, W)"
        n = (depth - 2) // 6
        self.register_buffer("mean_image", mean_image.clone())  # (C, H, W)
        # the first layer: 3x3 convolutions to widths[0] filters, at full resolution
        self.stem = nn.Sequential(
            conv3x3(in_channels, widths[0]), nn.BatchNorm2d(widths[0]), nn.ReLU()
        )
        stages, channels = [], widths[0]
        for index, width in enumerate(widths):
            blocks = []
            for block in range(n):
                stride = 2 if index > 0 and block == 0 else 1  # subsample at each stage change
                blocks.append(BasicBlock(channels, width, stride, residual, shortcut))
                channels = width
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        self.fc = nn.Linear(widths[-1], num_classes)
        self._initialise(zero_init_residual)

    def _initialise(self, zero_init_residual: bool) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):  # He et al. 2015 ([13]): std = sqrt(2 / (k^2 c))
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu")
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if zero_init_residual:
            for module in self.modules():
                if isinstance(module, BasicBlock) and module.shortcut is not None:
                    nn.init.zeros_(module.bn2.weight)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (B, num_classes) for images (B, C, H, W)."""
        assert x.dim() == 4 and x.shape[1:] == self.mean_image.shape, (
            f"expected images (B, {', '.join(map(str, self.mean_image.shape))}), got "
            f"{tuple(x.shape)}: was the model built for another data set?"
        )
        x = x - self.mean_image  # zero-mean pixels (training batches come augmented: augment)
        x = self.stem(x)  # (B, C, H, W) -> (B, 16, H, W)
        x = self.stages(x)  # -> (B, 64, H/4, W/4)
        x = F.adaptive_avg_pool2d(x, 1).flatten(1)  # global average pool: -> (B, 64)
        return self.fc(x)  # -> (B, num_classes)


# -------------------------------------------------------------------------- the ModelSpec hooks


def create_model(config: ResNetConfig, splits: DatasetSplits) -> ResNet:
    """Build the residual or plain network for a config and an image data set."""
    assert (
        len(splits.input_shape) == 3
    ), f"the ResNet needs images (C, H, W), not {splits.input_shape}"
    return ResNet(
        depth=config.depth,
        in_channels=splits.input_shape[0],
        num_classes=splits.num_classes,
        mean_image=pixel_mean(splits),
        widths=config.widths,
        residual=config.residual,
        shortcut=config.shortcut,
        zero_init_residual=config.zero_init_residual,
    )


def train_transform(config: ResNetConfig, splits: DatasetSplits) -> TrainTransform | None:
    """Sec. 4.2's augmentation, for the training loader only (the ModelSpec hook); None when
    ``augment`` is off."""
    if not config.augment:
        return None
    return partial(augment, mean_image=pixel_mean(splits), padding=config.crop_padding)


def create_criterion(config: ResNetConfig) -> Callable:
    """Mean softmax cross-entropy of the logits (the 10-way softmax of Sec. 4.2)."""
    return F.cross_entropy
