"""Configuration of YOLO: the shared fields plus the grid, the network and eq. 3's weights.

The defaults are the paper's choices scaled to 64x64 canvases of 1-4 digits of 12-28 pixels
(data_utils/detection.py): S = 8 cells of 8 pixels, so that an object's centre is alone in its
cell (on the medium canvases no two of 24,760 training objects share one; S = 4 would put
several there, S = 16 makes cells smaller than the objects, with little context per cell), and
B = 2 boxes per cell, the paper's value (its predictors specialise in shapes: tall, narrow
"1"s against rounder digits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class YOLOConfig(BaseConfig):
    learns_by = BACKPROP
    dataset: str = "mnist_detection"
    # S: the grid side (the paper: 7 on 448x448 images, 64-pixel cells; here 8-pixel cells).
    grid_size: int = 8
    # B: boxes per cell (the paper: 2).
    boxes_per_cell: int = 2
    # Channels of the backbone's stages; len - 1 max poolings take 64 pixels to S = 8 cells.
    widths: list[int] = field(default_factory=lambda: [16, 32, 64, 128])
    # Leaky ReLU slope (the paper: 0.1).
    leaky_slope: float = 0.1
    # Eq. 3's weights (the paper: 5 and 0.5): coordinates count more, empty cells less.
    lambda_coord: float = 5.0
    lambda_noobj: float = 0.5
    # Detection: smallest class-specific confidence kept (low, so that mAP sees the whole
    # precision-recall curve; the paper's demo shows boxes above 0.2), NMS IoU, boxes per image.
    score_threshold: float = 0.01
    nms_iou: float = 0.5
    max_dets: int = 100
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    batch_size: int = 32
    # Pixels stay intensities in [0, 1] (uint8 canvases -> floats per batch).
    standardize: bool = False
    monitor: str = "val_map"
    monitor_mode: Literal["max", "min"] = "max"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.grid_size >= 1, f"grid_size must be >= 1 (got {self.grid_size})"),
            (self.boxes_per_cell >= 1, f"boxes_per_cell must be >= 1 (got {self.boxes_per_cell})"),
            (
                len(self.widths) >= 1 and all(w >= 2 for w in self.widths),
                f"widths must be a non-empty list of channels >= 2 (got {self.widths})",
            ),
            (
                self.lambda_coord >= 0 and self.lambda_noobj >= 0,
                f"lambda_coord and lambda_noobj must be >= 0 (got {self.lambda_coord}, "
                f"{self.lambda_noobj})",
            ),
            (
                0 <= self.score_threshold < 1,
                f"score_threshold must be in [0, 1) (got {self.score_threshold})",
            ),
            (0 < self.nms_iou <= 1, f"nms_iou must be in (0, 1] (got {self.nms_iou})"),
            (self.max_dets >= 1, f"max_dets must be >= 1 (got {self.max_dets})"),
            (not self.standardize, "standardize must be false: pixels are intensities"),
        ]
