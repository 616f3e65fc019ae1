"""Per-batch transforms for image tensors (B, C, H, W), as small composable functions.

Images are stored as uint8 and converted per batch, so a whole data set costs 1 byte per pixel
in memory. Random transforms take an explicit torch.Generator: the same generator state gives
the same augmentation, independent of the global RNG.

    gen = torch.Generator().manual_seed(0)
    augment = compose(to_float, partial(random_crop, padding=4, generator=gen),
                      partial(random_horizontal_flip, generator=gen),
                      Normalize.from_uint8(splits.x_train))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

Transform = Callable[[Tensor], Tensor]


def to_float(x: Tensor) -> Tensor:
    """uint8 pixels in 0..255 -> float32 in [0, 1]; float input is only cast to float32."""
    if x.dtype == torch.uint8:
        return x.to(torch.float32) / 255.0
    return x.to(torch.float32)


def flat_features(x: Tensor, transform: Transform | None, dtype: type = np.float64) -> np.ndarray:
    """Examples as NumPy and scikit-learn code reads them: the loaders' per-batch ``transform``
    applied, then each example flattened, (N, ...) -> (N, D) in ``dtype``."""
    if transform is not None:
        x = transform(x)
    return x.reshape(len(x), -1).numpy().astype(dtype)  # (N, ...) -> (N, D)


def compose(*transforms: Transform) -> Transform:
    """Apply the transforms left to right."""

    def composed(x: Tensor) -> Tensor:
        for transform in transforms:
            x = transform(x)
        return x

    return composed


def pad_to(x: Tensor, size: int = 32, value: float = 0.0) -> Tensor:
    """Zero-pad (B, C, H, W) symmetrically to (B, C, size, size), e.g. MNIST 28 -> 32 for LeNet-5.

    LeNet-5 (LeCun et al. 1998, Sec. II-B) feeds 32x32 inputs so that stroke end-points can reach
    the centre of the C1 receptive fields. Works for uint8 and float tensors.
    """
    h, w = x.shape[-2:]
    assert h <= size and w <= size, f"pad_to({size}) cannot pad a {h}x{w} image: use resize"
    top, left = (size - h) // 2, (size - w) // 2
    # (B, C, H, W) -> (B, C, size, size)
    return F.pad(x, (left, size - w - left, top, size - h - top), value=value)


def resize(x: Tensor, size: int = 32) -> Tensor:
    """Bilinear resize of (B, C, H, W) to (B, C, size, size); returns float32 (uint8 -> [0, 1])."""
    # (B, C, H, W) -> (B, C, size, size)
    return F.interpolate(to_float(x), size=(size, size), mode="bilinear", align_corners=False)


def channel_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Per-channel mean and std of (N, C, H, W) images on the [0, 1] scale (uint8 is scaled).

    Compute these on the training split only and pass them to Normalize.
    Returns tensors of shape (C,).
    """
    mean = torch.zeros(x.shape[1], dtype=torch.float64)
    sq = torch.zeros(x.shape[1], dtype=torch.float64)
    for start in range(0, x.shape[0], 4096):  # chunks keep the float copy small
        chunk = to_float(x[start : start + 4096]).to(torch.float64)
        mean += chunk.sum(dim=(0, 2, 3))
        sq += (chunk**2).sum(dim=(0, 2, 3))
    count = x.shape[0] * x.shape[2] * x.shape[3]
    mean /= count
    std = (sq / count - mean**2).clamp_min(0).sqrt()
    return mean.float(), std.float()


@dataclass
class Normalize:
    """(x - mean) / std per channel on float input in [0, 1] (uint8 input is converted first).

    Attributes:
        mean: Per-channel means, shape (C,), from the training split.
        std: Per-channel standard deviations, shape (C,).
    """

    mean: Tensor
    std: Tensor

    @classmethod
    def from_uint8(cls, x_train: Tensor) -> "Normalize":
        """Fit on training images (N, C, H, W) with channel_stats."""
        return cls(*channel_stats(x_train))

    def __call__(self, x: Tensor) -> Tensor:
        x = to_float(x)
        # (C,) -> (1, C, 1, 1) to broadcast over (B, C, H, W)
        return (x - self.mean.view(1, -1, 1, 1)) / self.std.view(1, -1, 1, 1)


def translate(x: Tensor, dy: int, dx: int) -> Tensor:
    """Shift images (N, C, H, W) by dy rows and dx columns, filling the vacated border with 0.

    Zero is the background of MNIST and Fashion-MNIST, so a shifted digit looks like a digit
    written off-centre. Pixels pushed past the border are lost (not wrapped around).
    """
    h, w = x.shape[-2:]
    assert abs(dy) < h and abs(dx) < w, f"cannot shift a {h}x{w} image by ({dy}, {dx})"
    out = torch.zeros_like(x)
    # the kept window of the source lands at the shifted window of the output, both (N, C, h', w')
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def random_crop(x: Tensor, padding: int = 4, *, generator: torch.Generator) -> Tensor:
    """Zero-pad by ``padding`` pixels, then crop each image back at a random offset.

    The standard CIFAR augmentation (He et al. 2016, Sec. 4.2). One offset per image.
    """
    b, _, h, w = x.shape
    padded = F.pad(x, (padding, padding, padding, padding))  # (B, C, H + 2p, W + 2p)
    dy = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    dx = torch.randint(0, 2 * padding + 1, (b,), generator=generator)
    rows = dy.view(b, 1) + torch.arange(h).view(1, h)  # (B, H) source row of each output row
    cols = dx.view(b, 1) + torch.arange(w).view(1, w)  # (B, W)
    batch = torch.arange(b).view(b, 1, 1)
    # advanced indexing picks (B, H, W, C); permute back to (B, C, H, W)
    cropped = padded.permute(0, 2, 3, 1)[batch, rows.view(b, h, 1), cols.view(b, 1, w)]
    return cropped.permute(0, 3, 1, 2).contiguous()


def random_horizontal_flip(x: Tensor, p: float = 0.5, *, generator: torch.Generator) -> Tensor:
    """Mirror each image left-right with probability p."""
    flip = torch.rand(x.shape[0], generator=generator) < p  # (B,)
    return torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)


def binarize(x: Tensor, threshold: float = 0.5, *, signed: bool = False) -> Tensor:
    """Threshold pixels (uint8 scaled to [0, 1] first): > threshold -> 1, else 0 (or -1 if signed).

    Hopfield networks use signed {-1, +1} states; Bernoulli VAEs and RBMs use {0, 1}.
    Returns float32.
    """
    on = to_float(x) > threshold
    if signed:
        return torch.where(on, 1.0, -1.0)
    return on.to(torch.float32)
