"""Configuration of Mask R-CNN: Faster R-CNN's (models/25_faster_rcnn) plus the mask branch's.

Every field of Faster R-CNN keeps its meaning; the new ones choose how RoIs are pooled (the
paper's RoIAlign, or Fast R-CNN's RoI max pooling for the ablation), where the mask branch
reads its features, and its size. The paper's mask head on a ResNet-FPN: RoIAlign to 14x14 on
the stride-4 level of 256 channels, four 3x3 convolutions, a 2x deconvolution to 28x28 and one
28x28 mask per class. Here the objects are 3 to 20 pixels a side, so the branch reads the
backbone's stride-2 stage (32 channels): at stride 4 a 12-pixel digit is three cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.registry import model_modules

# 25's config module (not its class: this file must define exactly one config class by name).
faster_rcnn_config = model_modules("faster_rcnn").config


@dataclass
class MaskRCNNConfig(faster_rcnn_config.FasterRCNNConfig):
    # How both branches pool their RoIs: "align" (RoIAlign, bilinear samples, no rounding:
    # the paper) or "pool" (Fast R-CNN's RoI max pooling on cells rounded to the grid: the
    # paper's Table 2c ablation).
    pooling: Literal["align", "pool"] = "align"
    # RoIAlign's samples per bin along each axis (the paper: 2 x 2 = 4 per bin).
    sampling_ratio: int = 2
    # The backbone stage the mask branch pools from: 0 is stride 1, 1 stride 2, 2 stride 4
    # (the box head always reads the last stage, as in 25).
    mask_stage: int = 1
    # The mask branch: RoIs pooled to mask_pool x mask_pool (14), mask_convs 3x3 convolutions
    # of mask_hidden channels, a 2x deconvolution, one (2 mask_pool)^2 mask per class (28).
    mask_pool: int = 14
    mask_convs: int = 2
    mask_hidden: int = 32
    monitor: str = "val_mask_map"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                self.pooling in ("align", "pool"),
                f"pooling is 'align' or 'pool' (got {self.pooling!r})",
            ),
            (self.sampling_ratio >= 1, f"sampling_ratio must be >= 1 (got {self.sampling_ratio})"),
            (
                0 <= self.mask_stage < len(self.widths),
                f"mask_stage must index a backbone stage, 0..{len(self.widths) - 1} "
                f"(got {self.mask_stage})",
            ),
            (
                self.mask_pool >= 2 and self.mask_convs >= 0 and self.mask_hidden >= 1,
                f"need mask_pool >= 2, mask_convs >= 0, mask_hidden >= 1 (got {self.mask_pool}, "
                f"{self.mask_convs}, {self.mask_hidden})",
            ),
        ]
