"""VGG: very deep stacks of 3x3 convolutions (Simonyan & Zisserman, 2014).

Paper: K. Simonyan and A. Zisserman, "Very Deep Convolutional Networks for Large-Scale Image
Recognition", arXiv:1409.1556, 2014 (ICLR 2015). Section and table numbers are the paper's.

What is implemented:
- The one building block (Sec. 2.1): 3x3 convolutions with stride 1 and padding 1 (the size
  of a map is kept), each followed by ReLU, stacked; a 2x2 max-pool with stride 2 after each
  of five stages. Two stacked 3x3 layers see a 5x5 window and three see 7x7, with fewer weights
  (3 * 9 C^2 against 49 C^2) and more non-linearities than one large filter (Sec. 2.3).
- Depth as data (Sec. 2.2, Table 1): configurations A, B, D and E are lists of the
  convolutions of each stage (config.CONFIGURATIONS), from 11 to 19 weight layers.
- The classifier (Sec. 2.1): fully connected layers with ReLU and dropout (the paper: 0.5; off
  by default here, config.py says why), then the class scores; softmax cross-entropy.
- Preprocessing (Sec. 2.1): the mean RGB value of the training set is subtracted from each pixel
  (a buffer, so a checkpoint carries it).
- Initialisation (Sec. 3.1): the paper's N(0, 0.01^2) with zero biases ("normal"), the Glorot &
  Bengio initialisation it recommends after submission ("xavier"), or He et al. 2015 ("kaiming").

Deliberately left out or changed:
- Widths are a quarter of the paper's and the classifier is 256-256 instead of 4096-4096, for
  28/32-pixel images on a CPU. Five poolings of 32 pixels leave 1x1 maps; 28-pixel images are
  pooled with ceil_mode (28, 14, 7, 4, 2, 1) so that the same five stages apply.
- Batch normalisation (Ioffe & Szegedy, 2015) is an option (config.batch_norm, on by default):
  the paper trains without it, and the depth study (depth_study.py) shows why it matters.
- Local response normalisation (configuration A-LRN: no gain, the paper says), configuration C
  (1x1 convolutions), scale jittering, multi-scale and dense (fully convolutional) evaluation,
  and initialising deep nets from net A: ImageNet-scale machinery around the idea of depth.

Known outcomes, asserted in tests: the configurations have the paper's layer counts (11, 13,
16, 19 weight layers); 3x3 padding keeps map sizes and each pool halves them, to 1x1 after five
stages for 28 and 32 pixels; with the paper's N(0, 0.01^2) initialisation and no BN the signal
shrinks by orders of magnitude through the 13 convolutions of D, far more than through A's 8.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import torch
import torch.nn.functional as F
from config import CONFIGURATIONS, VGGConfig
from torch import nn

from data_utils import DatasetSplits
from data_utils.transforms import channel_stats

# ---------------------------------------------------------------------------------- helpers


def scaled_stages(configuration: str, width_multiplier: float) -> tuple[tuple[int, ...], ...]:
    """The convolution widths of each stage of a Table 1 configuration, scaled (at least 1)."""
    return tuple(
        tuple(max(1, round(width * width_multiplier)) for width in stage)
        for stage in CONFIGURATIONS[configuration]
    )


def initialise(module: nn.Module, init: str) -> None:
    """Weights of every convolution and linear layer, biases zero (Sec. 3.1)."""
    for layer in module.modules():
        if isinstance(layer, (nn.Conv2d, nn.Linear)):
            if init == "normal":  # the paper: zero-mean normal, variance 10^-2
                nn.init.normal_(layer.weight, mean=0.0, std=0.01)
            elif init == "xavier":  # Glorot & Bengio 2010: Var = 2 / (fan_in + fan_out)
                nn.init.xavier_uniform_(layer.weight)
            else:  # He et al. 2015: Var = 2 / fan_in, for ReLU
                nn.init.kaiming_normal_(layer.weight, mode="fan_in", nonlinearity="relu")
            if layer.bias is not None:
                nn.init.zeros_(layer.bias)


# ------------------------------------------------------------------------------ the network


class VGG(nn.Module):
    """Five stages of 3x3 convolutions and max-pooling, then fully connected layers.

    Args:
        stages: The output channels of each 3x3 convolution, one tuple per stage, e.g.
            ((16,), (32,), (64, 64), (128, 128), (128, 128)) for configuration A at 1/4 width.
        in_channels: Image channels.
        image_size: Side of the (square) input images, to size the first FC layer.
        num_classes: Classes of the last layer.
        mean_rgb: Per-channel training mean (C,), subtracted from every input.
        fc_sizes: Hidden fully connected layers (the paper: 4096, 4096).
        dropout: Drop probability after each hidden FC layer (the paper: 0.5).
        batch_norm: BN after every convolution (not in the paper).
        init: "normal" (the paper), "xavier" or "kaiming".
    """

    def __init__(
        self,
        stages: Sequence[Sequence[int]],
        in_channels: int,
        image_size: int,
        num_classes: int,
        mean_rgb: torch.Tensor,
        fc_sizes: Sequence[int] = (256, 256),
        dropout: float = 0.0,
        batch_norm: bool = True,
        init: str = "kaiming",
    ) -> None:
        super().__init__()
        assert mean_rgb.shape == (in_channels,), "mean_rgb must hold one value per channel"
        self.register_buffer("mean_rgb", mean_rgb.view(-1, 1, 1).clone())  # (C,) -> (C, 1, 1)
        self.in_channels, self.image_size = in_channels, image_size
        layers: list[nn.Module] = []
        channels, side = in_channels, image_size
        for stage in stages:
            for width in stage:  # 3x3, stride 1, padding 1: (B, C, H, W) -> (B, width, H, W)
                layers.append(nn.Conv2d(channels, width, 3, padding=1, bias=not batch_norm))
                if batch_norm:
                    layers.append(nn.BatchNorm2d(width))
                layers.append(nn.ReLU())
                channels = width
            # 2x2 max-pool, stride 2: (B, C, H, W) -> (B, C, ceil(H/2), ceil(W/2))
            layers.append(nn.MaxPool2d(2, stride=2, ceil_mode=True))
            side = math.ceil(side / 2)
        self.features = nn.Sequential(*layers)
        classifier: list[nn.Module] = []
        width = channels * side * side  # flattened maps of the last stage
        for size in fc_sizes:
            classifier += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
            width = size
        classifier.append(nn.Linear(width, num_classes))
        self.classifier = nn.Sequential(*classifier)
        initialise(self, init)

    @property
    def num_weight_layers(self) -> int:
        """Convolutions plus fully connected layers: the depth the paper counts."""
        return sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in self.modules())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class scores (B, num_classes) for images (B, C, H, W)."""
        expected = (self.in_channels, self.image_size, self.image_size)
        assert x.dim() == 4 and tuple(x.shape[1:]) == expected, (
            f"expected images (B, {', '.join(map(str, expected))}), got {tuple(x.shape)}: "
            "was the model built for another data set?"
        )
        x = self.features(x - self.mean_rgb)  # (B, C, H, W) -> (B, C_5, H/32, W/32)
        return self.classifier(x.flatten(1))  # (B, C_5 * H/32 * W/32) -> (B, num_classes)


# -------------------------------------------------------------------------- the ModelSpec hooks


def create_model(config: VGGConfig, splits: DatasetSplits) -> VGG:
    """Build the configuration the config names, for an image data set."""
    shape = splits.input_shape
    assert len(shape) == 3 and shape[1] == shape[2], f"VGG needs square images, got {shape}"
    mean_rgb, _ = channel_stats(splits.x_train)  # on the [0, 1] scale, as to_float delivers
    return VGG(
        stages=scaled_stages(config.configuration, config.width_multiplier),
        in_channels=shape[0],
        image_size=shape[1],
        num_classes=splits.num_classes,
        mean_rgb=mean_rgb,
        fc_sizes=config.fc_sizes,
        dropout=config.dropout,
        batch_norm=config.batch_norm,
        init=config.init,
    )


def create_criterion(config: VGGConfig) -> Callable:
    """Mean softmax cross-entropy of the logits (the paper's multinomial logistic regression)."""
    return F.cross_entropy
