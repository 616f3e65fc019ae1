"""Configuration of Faster R-CNN: the shared fields plus anchors, the RPN, proposals and the head.

The defaults are the paper's choices scaled to 64x64 canvases of 1-4 digits (data_utils/
detection.py; their visible boxes are 3 to 20 pixels a side, median 12): a backbone at stride 4
(16x16 cells; stride 8 leaves small objects far from any anchor), anchors of 8, 12 and 16 pixels
at ratios 0.5, 1 and 2 (the paper: 128, 256, 512 on 600-pixel images; here 94% of the test
objects have an anchor of IoU >= 0.5, 50% one of IoU >= 0.7), the RPN's 256 anchors per image
half positive at most, IoU 0.7 / 0.3; fewer proposals (the paper: 2,000 in training, 300 at
test, for images with many objects; a canvas holds at most 4) and fewer RoIs per image (the
paper: 128 of 2 images; here 16, at most 4 foreground, by default; the canvases experiment
samples 64 and pools the head's RoIs from the stride-2 stage, head_stage 1).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class FasterRCNNConfig(BaseConfig):
    learns_by = BACKPROP
    dataset: str = "mnist_detection"
    # Channels of the backbone's stages (two 3x3 convolutions each); len - 1 poolings: stride 4.
    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    # Anchors per feature cell: sizes (square root of the area) x ratios h / w.
    anchor_sizes: list[float] = field(default_factory=lambda: [8.0, 12.0, 16.0])
    aspect_ratios: list[float] = field(default_factory=lambda: [0.5, 1.0, 2.0])
    rpn_hidden: int = 64
    # The RPN's minibatch (Sec. 3.1.3): anchors sampled per image, at most this share positive.
    rpn_batch: int = 256
    rpn_positive_fraction: float = 0.5
    rpn_pos_iou: float = 0.7
    rpn_neg_iou: float = 0.3
    # Proposals per image before and after NMS, [training, test].
    pre_nms_top_n: list[int] = field(default_factory=lambda: [300, 200])
    post_nms_top_n: list[int] = field(default_factory=lambda: [64, 32])
    proposal_nms_iou: float = 0.7
    # The head's RoIs per image in training, at most this share foreground (IoU >= fg_iou).
    roi_batch: int = 16
    roi_positive_fraction: float = 0.25
    fg_iou: float = 0.5
    pool: int = 7
    # Channels the head pools (a 1x1 convolution from the backbone's): RoI max pooling's cost
    # grows with them, and it dominates a training step.
    pool_channels: int = 16
    head_hidden: int = 256
    # The backbone stage the head pools: None is the last (the RPN's stride-4 map, as the
    # paper); 1 is the stride-2 stage (README, "Scaled to the canvases").
    head_stage: int | None = None
    # Detection: smallest class score kept (low, so that mAP sees the whole precision-recall
    # curve), per-class NMS IoU, boxes per image.
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
            (
                len(self.widths) >= 1 and all(w >= 1 for w in self.widths),
                f"widths must be a non-empty list of channels >= 1 (got {self.widths})",
            ),
            (
                len(self.anchor_sizes) >= 1 and all(s > 0 for s in self.anchor_sizes),
                f"anchor_sizes must be positive (got {self.anchor_sizes})",
            ),
            (
                len(self.aspect_ratios) >= 1 and all(r > 0 for r in self.aspect_ratios),
                f"aspect_ratios must be positive (got {self.aspect_ratios})",
            ),
            (
                0 <= self.rpn_neg_iou <= self.rpn_pos_iou <= 1,
                f"need 0 <= rpn_neg_iou <= rpn_pos_iou <= 1 (got {self.rpn_neg_iou}, "
                f"{self.rpn_pos_iou})",
            ),
            (
                0 < self.rpn_positive_fraction <= 1 and 0 < self.roi_positive_fraction <= 1,
                "rpn_positive_fraction and roi_positive_fraction must be in (0, 1]",
            ),
            (
                self.rpn_batch >= 1 and self.roi_batch >= 1,
                f"rpn_batch and roi_batch must be >= 1 (got {self.rpn_batch}, {self.roi_batch})",
            ),
            (
                len(self.pre_nms_top_n) == 2
                and len(self.post_nms_top_n) == 2
                and all(n >= 1 for n in self.pre_nms_top_n + self.post_nms_top_n),
                "pre_nms_top_n and post_nms_top_n are [training, test] counts >= 1",
            ),
            (
                0 < self.proposal_nms_iou <= 1 and 0 < self.nms_iou <= 1,
                "proposal_nms_iou and nms_iou must be in (0, 1]",
            ),
            (0 < self.fg_iou <= 1, f"fg_iou must be in (0, 1] (got {self.fg_iou})"),
            (
                self.pool >= 1 and self.pool_channels >= 1,
                f"pool and pool_channels must be >= 1 (got {self.pool}, {self.pool_channels})",
            ),
            (
                0 <= self.score_threshold < 1,
                f"score_threshold must be in [0, 1) (got {self.score_threshold})",
            ),
            (
                self.head_stage is None or 0 <= self.head_stage < len(self.widths),
                f"head_stage must be None or index a backbone stage, 0..{len(self.widths) - 1} "
                f"(got {self.head_stage})",
            ),
            (self.max_dets >= 1, f"max_dets must be >= 1 (got {self.max_dets})"),
            (not self.standardize, "standardize must be false: pixels are intensities"),
        ]
