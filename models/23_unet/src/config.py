"""Configuration of the U-Net: the shared fields plus the network's own.

The paper's network has five levels of 64 to 1024 filters, valid (unpadded) convolutions and
the overlap-tile strategy, and trains with SGD (momentum 0.99, one 572x572 tile per batch) for
hours on a GPU. The defaults here are a CPU-sized version: four levels of 16 to 128 filters,
padded convolutions (the output has the input's size, so a whole 512x512 slice is predicted in
one pass and no tiling is needed), batch norm, Adam, and random 128x128 crops of the training
slices with flips and rotations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName, SchedulerName


@dataclass
class UNetConfig(BaseConfig):
    learns_by = BACKPROP
    # Filters of each level of the contracting path, top first; the expanding path mirrors them
    # (the paper: 64, 128, 256, 512, 1024). Each level halves the resolution, so the crops and
    # slices must be divisible by 2^(len(widths) - 1).
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    # Batch norm after every 3x3 convolution (not in the paper, which predates it; it lets Adam
    # train the small net in minutes).
    batch_norm: bool = True
    # "plain": pixel-wise cross-entropy; "weighted": the paper's eq. 2 with the weight map of
    # eq. 3, w = w_c + w0 exp(-(d1 + d2)^2 / (2 sigma^2)) on membrane pixels, w_c balancing the
    # two classes (model.weight_map).
    loss: Literal["plain", "weighted"] = "plain"
    w0: float = 10.0  # the paper's w0
    sigma: float = 5.0  # the paper's sigma, in pixels
    # Training batches are batch_size slices; the step cuts crops_per_image random crops of
    # crop_size x crop_size from each and turns each by one of the 8 flips and rotations of the
    # square (the paper's shifts and rotations; its elastic deformations below).
    crop_size: int = 128
    # The paper's elastic deformation of each training slice before cropping (Sec. 3.1): random
    # displacements of std elastic_std pixels on an elastic_grid x elastic_grid lattice,
    # interpolated bicubically (the paper: 3 x 3, 10 pixels). 0: off.
    elastic_std: float = 0.0
    elastic_grid: int = 3
    crops_per_image: int = 8
    # Evaluation (and every epoch's validation) averages the class probabilities of the 8 flips
    # and rotations of each slice, mapped back: 8 forward passes instead of one. The paper
    # averages overlapping tiles instead (its overlap-tile strategy).
    test_time_flips: bool = False
    optimizer: OptimizerName = "adam"
    lr: float = 3e-3
    batch_size: int = 2
    epochs: int = 30
    scheduler: SchedulerName = "cosine"
    # The masks are the labels and the pixels intensities in [0, 1]: nothing to standardise.
    standardize: bool = False
    # 6 of the 30 labelled slices, one contiguous block (data_utils.load_isbi_membrane): the
    # validation and the reported split (ISBI's test masks are not public).
    val_fraction: float = 0.2
    monitor: str = "val_pixel_error"
    monitor_mode: Literal["max", "min"] = "min"

    def checks(self) -> list[tuple[bool, str]]:
        factor = 2 ** (len(self.widths) - 1)
        return super().checks() + [
            (len(self.widths) >= 2, f"widths needs at least two levels (got {self.widths})"),
            (all(w >= 1 for w in self.widths), f"widths must all be >= 1 (got {self.widths})"),
            (
                self.crop_size >= factor and self.crop_size % factor == 0,
                f"crop_size must be a multiple of {factor} for {len(self.widths)} levels "
                f"(got {self.crop_size})",
            ),
            (self.crops_per_image >= 1, f"crops_per_image must be >= 1 ({self.crops_per_image})"),
            (
                self.elastic_std >= 0 and self.elastic_grid >= 2,
                f"need elastic_std >= 0, elastic_grid >= 2 ({self.elastic_std}, "
                f"{self.elastic_grid})",
            ),
            (self.w0 >= 0 and self.sigma > 0, f"need w0 >= 0, sigma > 0 ({self.w0}, {self.sigma})"),
            (not self.standardize, "standardize must be false: pixels stay in [0, 1]"),
        ]
