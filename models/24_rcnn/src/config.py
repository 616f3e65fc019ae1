"""Configuration of R-CNN: the shared fields plus the proposer, the warping, the region CNN and
its fine-tuning sampling.

The defaults are the paper's choices scaled to 64x64 canvases of 1-4 digits of 12-28 pixels
(data_utils/detection.py): regions warped to 28x28 with 2 pixels of context (the paper: 227x227
with 16), positives at IoU >= 0.5 sampled 1:3 with background, per-class NMS at IoU 0.3.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class RCNNConfig(BaseConfig):
    learns_by = BACKPROP
    dataset: str = "mnist_detection"
    # The region CNN: channels of its convolution stages and the width of its fc layer.
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    hidden: int = 128
    # Warping (Appendix A): side of the warped region and context pixels at that scale.
    warp_size: int = 28
    context: float = 2.0
    # Proposals: sliding squares (sides, stride) and the ink-component grouping hierarchy.
    window_sizes: list[int] = field(default_factory=lambda: [16, 24])
    window_stride: int = 8
    grouping: bool = True
    # Fine-tuning (Sec. 2.3): positive IoU, regions per image, at most this fraction positive.
    fg_iou: float = 0.5
    regions_per_image: int = 16
    fg_fraction: float = 0.25
    reg_weight: float = 1.0
    # Detection: smallest class probability kept (low, so that mAP sees the whole
    # precision-recall curve), per-class NMS IoU (the paper: 0.3), boxes per image.
    score_threshold: float = 0.01
    nms_iou: float = 0.3
    max_dets: int = 100
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    batch_size: int = 32
    # Pixels stay intensities in [0, 1]: the proposer thresholds them.
    standardize: bool = False
    monitor: str = "val_map"
    monitor_mode: Literal["max", "min"] = "max"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                len(self.widths) >= 1 and all(w >= 1 for w in self.widths),
                f"widths must be a non-empty list of channels >= 1 (got {self.widths})",
            ),
            (
                self.warp_size >= 2 ** len(self.widths),
                f"warp_size {self.warp_size} is too small for {len(self.widths)} poolings",
            ),
            (
                0 <= 2 * self.context < self.warp_size,
                f"context must be in [0, warp_size / 2) (got {self.context})",
            ),
            (
                self.grouping or len(self.window_sizes) > 0,
                "no proposals: set grouping or window_sizes",
            ),
            (0 < self.fg_iou <= 1, f"fg_iou must be in (0, 1] (got {self.fg_iou})"),
            (self.regions_per_image >= 1, "regions_per_image must be >= 1"),
            (0 <= self.fg_fraction <= 1, "fg_fraction must be in [0, 1]"),
            (0 <= self.score_threshold < 1, "score_threshold must be in [0, 1)"),
            (0 < self.nms_iou <= 1, f"nms_iou must be in (0, 1] (got {self.nms_iou})"),
            (self.max_dets >= 1, f"max_dets must be >= 1 (got {self.max_dets})"),
            (not self.standardize, "standardize must be false: pixels are intensities"),
        ]
