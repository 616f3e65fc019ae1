"""AlexNet (Krizhevsky, Sutskever & Hinton, 2012), scaled down for 28x28 and 32x32 images.

Paper: A. Krizhevsky, I. Sutskever and G. E. Hinton, "ImageNet Classification with Deep
Convolutional Neural Networks", NIPS 25, 2012. Section numbers below are the paper's.

What is kept, each idea where the paper puts it:
- Five convolutional layers then three fully connected ones (Sec. 3.5, Fig. 2): conv1 5x5,
  conv2 5x5, conv3-conv5 3x3, fc6, fc7, fc8, with the paper's proportions of channels (widths
  in config.py).
- ReLU non-linearities, f(x) = max(0, x), after every layer but the last (Sec. 3.1);
  ``activation: tanh`` gives the saturating baseline of the paper's Fig. 1.
- Local response normalisation after the ReLUs of conv1 and conv2 (Sec. 3.3), written by hand:
  b_i = a_i / (k + alpha * sum_{j near i} a_j^2)^beta over n = 5 neighbouring channels, with the
  paper's k = 2, alpha = 1e-4, beta = 0.75. A test checks it against torch.nn.LocalResponseNorm
  (which divides alpha by n).
- Overlapping max pooling, 3x3 windows with stride 2 (Sec. 3.4), after the two normalisations
  and after conv5; padded by 1 so that a 28x28 input still leaves conv5 a 4x4 map (unpadded,
  2x2, it learned more slowly in a short development run).
- Dropout with p = 0.5 on the inputs of fc6 and fc7 (Sec. 4.2). PyTorch's inverted dropout
  scales the kept units by 2 in training instead of halving all outputs at test time (the
  paper's wording); the expected activations are the same.
- Data augmentation (Sec. 4.1): random translations (zero-pad by ``crop_padding`` pixels, crop
  back at a random offset) and horizontal reflections of every training batch (``augment``,
  with data_utils.transforms), which the training loader applies (``train_transform``, the
  ModelSpec hook; validation and test batches are never augmented). Its random numbers come
  from a generator derived from (seed, epoch, batch), so a resumed run draws the same crops.
- Training (Sec. 5): SGD with momentum 0.9, weight decay 5e-4, batch 128, lr 0.01 (config.py,
  with a cosine decay instead of the paper's manual steps); inputs have the mean
  of the training images subtracted (and, here, are divided by their standard deviation).

What is left out, and why:
- The split over two GPUs (Sec. 3.2): half the kernels per GPU, conv2, conv4 and conv5 seeing
  only their own half. A 2011 memory limit, not an idea; the network here is one tower.
- The PCA colour augmentation (Sec. 4.1, second form): Fashion-MNIST is grayscale.
- Test-time averaging over ten crops (Sec. 4.1): one centred pass, as evaluate.py does for
  every model here.
- The paper's initialisation (N(0, 0.01) weights, biases 1 in conv2, conv4, conv5 and fc6-7,
  so that the ReLUs start with positive inputs): tuned for its widths. Here every layer is drawn
  to keep the variance of its signal for its non-linearity (He et al. 2015: gain sqrt(2) for
  ReLU, 5/3 for tanh), biases 0. With PyTorch's default, smaller, initialisation the ReLU
  network stayed at chance level for several epochs in a short development run.
- 224x224 inputs, 11x11 stride-4 first kernels and 1000 classes: the scale of ImageNet.

Measured outcomes (README, src/ablations.py): without dropout the gap between training and
test accuracy is larger (dropout and augmentation close it, at a cost in accuracy on a short
budget); the paper's ReLU speed-up over tanh is not reproduced at this depth and scale.
"""

from __future__ import annotations

import math
from functools import partial
from typing import Callable

import torch
import torch.nn.functional as F
from config import AlexNetConfig
from constants import LRN_ALPHA, LRN_BETA, LRN_K, LRN_SIZE
from torch import nn

from data_utils import DatasetSplits, TrainTransform
from data_utils.transforms import (
    channel_stats,
    random_crop,
    random_horizontal_flip,
    resize,
    to_float,
)

# ----------------------------------------------------------------------------------- helpers


def as_images(x: torch.Tensor, image_size: int) -> torch.Tensor:
    """Batches -> float (B, C, image_size, image_size); flat square inputs are one channel."""
    if x.dim() == 2:
        side = math.isqrt(x.shape[1])
        assert side * side == x.shape[1], f"flat input of {x.shape[1]} values is not a square"
        x = x.view(len(x), 1, side, side)  # (B, H * W) -> (B, 1, H, W)
    assert x.dim() == 4, f"AlexNet reads (B, C, H, W) images, got {tuple(x.shape)}"
    if x.shape[-2:] != (image_size, image_size):
        x = resize(x, image_size)  # (B, C, H, W) -> (B, C, image_size, image_size)
    return to_float(x)


# Zero padding of the 3x3/2 poolings. The paper pools 55 -> 27 -> 13 -> 6 without padding; at
# 28 pixels that leaves conv5 a 2x2 map, and fc6 only 4 positions. Padding 1 keeps 28 -> 14 ->
# 7 -> 4.
POOL_PADDING = 1


def pooled_size(side: int) -> int:
    """Side after a 3x3 max pooling with stride 2 (Sec. 3.4) and POOL_PADDING."""
    return (side + 2 * POOL_PADDING - 3) // 2 + 1


# -------------------------------------------------------------------------------- components


def augment(
    x: torch.Tensor, generator: torch.Generator, *, image_size: int, padding: int
) -> torch.Tensor:
    """Sec. 4.1: random shifts and horizontal reflections of a training batch.

    Applied by the training loader (train_transform below) before the batch reaches the network:
    at the network's input size, so that shifts are in its pixels, and before the normalisation,
    so that the zero padding is black, the background of Fashion-MNIST.

    Args:
        x: A batch as the loaders give it, (B, C, H, W) or flat (B, H * W).
        generator: Where every random number comes from (the loader's, per batch).
        image_size: The network's input side; other sizes are resized first.
        padding: Largest shift in pixels (0: reflections only).
    """
    x = as_images(x, image_size)  # (B, C, S, S) float
    if padding > 0:
        x = random_crop(x, padding, generator=generator)  # (B, C, S, S), shifted
    return random_horizontal_flip(x, generator=generator)  # (B, C, S, S), half mirrored


class LocalResponseNorm(nn.Module):
    """Sec. 3.3: b_i = a_i / (k + alpha * sum_j a_j^2)^beta, j over n channels around i.

    The window of channel i is i - n // 2 .. i + (n - 1) // 2, clipped at the first and last
    channel (for the paper's odd n = 5 exactly its i - 2 .. i + 2). The sum is one 1x1
    convolution with a banded 0/1 matrix, which is faster on CPU than a sliding window.

    Args:
        size: n, the number of adjacent channels summed.
        k, alpha, beta: The paper's hyper-parameters (its alpha, not divided by n).
    """

    def __init__(
        self,
        size: int = LRN_SIZE,
        k: float = LRN_K,
        alpha: float = LRN_ALPHA,
        beta: float = LRN_BETA,
    ) -> None:
        super().__init__()
        self.size, self.k, self.alpha, self.beta = size, k, alpha, beta

    def band(self, channels: int, like: torch.Tensor) -> torch.Tensor:
        """(C, C) matrix with 1 where channel j is in the window of channel i."""
        index = torch.arange(channels, device=like.device)
        offset = index.view(1, -1) - index.view(-1, 1)  # (C, C): j - i
        inside = (offset >= -(self.size // 2)) & (offset <= (self.size - 1) // 2)
        return inside.to(like.dtype)

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        c = a.shape[1]
        band = self.band(c, a).view(c, c, 1, 1)  # (C, C) -> (C_out, C_in, 1, 1) 1x1 kernel
        sum_sq = F.conv2d(a * a, band)  # (B, C, H, W): sum of a_j^2 over each window
        return a / (self.k + self.alpha * sum_sq).pow(self.beta)


# ----------------------------------------------------------------------------------- the model


class AlexNet(nn.Module):
    """conv1-LRN-pool, conv2-LRN-pool, conv3, conv4, conv5-pool, fc6, fc7, fc8.

    Args:
        config: Widths, activation, dropout and input size (config.py).
        in_channels: 1 for Fashion-MNIST, 3 for CIFAR-10.
        num_classes: Units of fc8.
        pixel_mean, pixel_std: Per-channel statistics of the training images, shape (C,),
            subtracted and divided before conv1 (buffers: they travel with the checkpoint).
    """

    def __init__(
        self,
        config: AlexNetConfig,
        in_channels: int,
        num_classes: int,
        pixel_mean: torch.Tensor,
        pixel_std: torch.Tensor,
    ) -> None:
        super().__init__()
        w1, w2, w3, w4, w5 = config.widths
        self.image_size = config.image_size
        self.act: Callable[[torch.Tensor], torch.Tensor] = (
            torch.relu if config.activation == "relu" else torch.tanh
        )
        self.register_buffer("pixel_mean", pixel_mean.reshape(1, in_channels, 1, 1).float())
        self.register_buffer("pixel_std", pixel_std.reshape(1, in_channels, 1, 1).float())
        self.conv1 = nn.Conv2d(in_channels, w1, kernel_size=5, padding=2)
        self.norm1 = LocalResponseNorm()
        self.conv2 = nn.Conv2d(w1, w2, kernel_size=5, padding=2)
        self.norm2 = LocalResponseNorm()
        self.conv3 = nn.Conv2d(w2, w3, kernel_size=3, padding=1)
        self.conv4 = nn.Conv2d(w3, w4, kernel_size=3, padding=1)
        self.conv5 = nn.Conv2d(w4, w5, kernel_size=3, padding=1)
        # overlapping pooling: windows z = 3 wider than the stride s = 2
        self.pool = nn.MaxPool2d(kernel_size=3, stride=2, padding=POOL_PADDING)
        side = pooled_size(pooled_size(pooled_size(config.image_size)))  # 28 -> 14 -> 7 -> 4
        self.dropout = nn.Dropout(config.dropout)
        self.fc6 = nn.Linear(w5 * side * side, config.fc_size)
        self.fc7 = nn.Linear(config.fc_size, config.fc_size)
        self.fc8 = nn.Linear(config.fc_size, num_classes)
        for layer in (
            self.conv1,
            self.conv2,
            self.conv3,
            self.conv4,
            self.conv5,
            self.fc6,
            self.fc7,
        ):
            nn.init.kaiming_normal_(
                layer.weight, nonlinearity=config.activation
            )  # N(0, g^2 / fan_in)
            nn.init.zeros_(layer.bias)
        nn.init.kaiming_normal_(self.fc8.weight, nonlinearity="linear")
        nn.init.zeros_(self.fc8.bias)

    def features(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every stage's output for a batch (for plots and tests); the logits under "fc8"."""
        x = as_images(x, self.image_size)  # (B, C, S, S), S = image_size
        out = {"input": (x - self.pixel_mean) / self.pixel_std}  # (B, C, S, S), normalised
        out["conv1"] = self.norm1(self.act(self.conv1(out["input"])))  # (B, w1, S, S)
        out["pool1"] = self.pool(out["conv1"])  # (B, w1, S, S) -> (B, w1, S1, S1), 28 -> 14
        out["conv2"] = self.norm2(self.act(self.conv2(out["pool1"])))  # (B, w2, S1, S1)
        out["pool2"] = self.pool(out["conv2"])  # (B, w2, S1, S1) -> (B, w2, S2, S2), 14 -> 7
        out["conv3"] = self.act(self.conv3(out["pool2"]))  # (B, w3, S2, S2)
        out["conv4"] = self.act(self.conv4(out["conv3"]))  # (B, w4, S2, S2)
        out["conv5"] = self.act(self.conv5(out["conv4"]))  # (B, w5, S2, S2)
        out["pool5"] = self.pool(out["conv5"])  # (B, w5, S2, S2) -> (B, w5, S3, S3), 7 -> 4
        flat = out["pool5"].flatten(1)  # (B, w5, S3, S3) -> (B, w5 * S3 * S3)
        out["fc6"] = self.act(self.fc6(self.dropout(flat)))  # (B, fc_size)
        out["fc7"] = self.act(self.fc7(self.dropout(out["fc6"])))  # (B, fc_size)
        out["fc8"] = self.fc8(out["fc7"])  # (B, num_classes) logits
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)["fc8"]


# -------------------------------------------------------------------------- the ModelSpec hooks


def create_model(config: AlexNetConfig, splits: DatasetSplits) -> AlexNet:
    """Build the network for a data set (the ModelSpec hook); torch is seeded by the workflow.

    The pixel statistics come from (up to 10,000 of) the training images only.
    """
    sample = splits.x_train[:10_000]
    if splits.transform is not None:
        sample = splits.transform(sample)  # e.g. uint8 -> float in [0, 1]
    images = as_images(sample, config.image_size)  # (N, C, S, S)
    mean, std = channel_stats(images)  # (C,) each
    return AlexNet(config, images.shape[1], splits.num_classes, mean, std.clamp_min(1e-6))


def train_transform(config: AlexNetConfig, splits: DatasetSplits) -> TrainTransform | None:
    """Sec. 4.1's augmentation, for the training loader only (the ModelSpec hook); None when
    ``augment`` is off."""
    if not config.augment:
        return None
    return partial(augment, image_size=config.image_size, padding=config.crop_padding)


def create_criterion(config: AlexNetConfig) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Mean softmax cross-entropy of fc8's scores: the paper's multinomial logistic regression."""
    return F.cross_entropy
