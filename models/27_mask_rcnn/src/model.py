"""Mask R-CNN (He et al. 2017): RoIAlign and a mask branch beside Faster R-CNN's box head, on
MNIST detection canvases.

Paper: K. He, G. Gkioxari, P. Dollar and R. Girshick, "Mask R-CNN", ICCV 2017
(arXiv:1703.06870).

What is implemented (the paper's Sec. 3), on top of models/25_faster_rcnn, whose backbone,
anchors, RPN, proposals, RoI sampling, box losses and detection are reused unchanged through
model_modules("faster_rcnn"):

- RoIAlign (Sec. 3, "RoIAlign"): RoIs are pooled with bilinear samples at unrounded positions
  (engine.detection.roi_align, 2 x 2 samples per bin) instead of Fast R-CNN's max over cells
  rounded to the feature grid; the box head pools 7x7, the mask branch 14x14;
- the mask branch (Sec. 3, Fig. 4 right): a small fully convolutional head on each RoI, 3x3
  convolutions with ReLU, a 2x deconvolution, and a 1x1 convolution giving one m x m mask
  logit map per class (m = 28): K m^2 outputs, classes do not compete;
- the mask loss L_mask (Sec. 3): per positive RoI (IoU >= 0.5 with a ground-truth object), the
  average binary cross-entropy of the ground-truth class's mask only; the target is the
  object's mask cropped to the RoI and resized to m x m (RoIAlign of the binary mask,
  thresholded at 0.5); L = L_cls + L_box + L_mask (plus the RPN's two terms);
- inference (Sec. 3.1): the box branch runs on the proposals, NMS, then the mask branch runs on
  the detected boxes only; the mask of the predicted class is pasted into the canvas at the box
  (bilinear resampling) and thresholded at 0.5.

Deliberately different, and why: the mask branch pools from the backbone's stride-2 stage (32
channels; mask_stage) rather than the box head's stride-4 map: the digits are 3 to 20 pixels,
three cells at stride 4, and their masks are two-pixel strokes (the paper's FPN picks a level
per RoI size for the same reason); two convolutions of 32 channels instead of four of 256;
training as 25 (approximate joint training, Adam, from scratch). The pooling is a config field
(pooling: "align" or "pool") so that the paper's Table 2c ablation is one experiment.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.detection import MeanAveragePrecision, box_iou, roi_align, roi_pool
from engine.steps import Mean, StepOutput
from utils.registry import model_modules

frcnn = model_modules("faster_rcnn").model  # Backbone, RPN, RoIHead, FasterRCNN, real_objects

ROI_CHUNK = 256  # RoIs pooled at once at inference (RoI max pooling materialises masked maps)

# ------------------------------------------------------------------------------------ pooling


def pool_rois(
    features: Tensor,
    rois: Tensor,
    size: int,
    spatial_scale: float,
    pooling: str,
    sampling_ratio: int = 2,
) -> Tensor:
    """RoIAlign ("align", the paper) or RoI max pooling ("pool", Fast R-CNN) of rois (K, 5)
    on features (N, C, H, W) -> (K, C, size, size); at inference in chunks of ROI_CHUNK RoIs."""
    assert pooling in ("align", "pool"), f"pooling is 'align' or 'pool', got {pooling!r}"

    def one(chunk: Tensor) -> Tensor:
        if pooling == "align":
            return roi_align(features, chunk, (size, size), spatial_scale, sampling_ratio)
        return roi_pool(features, chunk, (size, size), spatial_scale)

    if torch.is_grad_enabled() or len(rois) <= ROI_CHUNK:
        return one(rois)
    return torch.cat([one(rois[i : i + ROI_CHUNK]) for i in range(0, len(rois), ROI_CHUNK)])


# ------------------------------------------------------------------------------------ masks


def object_masks(target: dict[str, Tensor]) -> Tensor:
    """A target's masks (K, H, W) of the objects real_objects keeps (crowd objects left out)."""
    masks = target["masks"]
    if "iscrowd" in target:
        masks = masks[~target["iscrowd"].bool()]
    return masks


def mask_targets(masks: Tensor, boxes: Tensor, matched: Tensor, size: int) -> Tensor:
    """The mask branch's targets (Sec. 3): each RoI's object mask cropped to the RoI and resized
    to size x size, binary.

    The crop and resize is RoIAlign of the object's binary mask over the RoI (2 x 2 bilinear
    samples per target cell, on the pixel grid: spatial scale 1), thresholded at 0.5.

    Args:
        masks: (G, H, W) the objects' masks, bool or {0, 1}.
        boxes: (P, 4) RoIs xyxy in pixels.
        matched: (P,) the object of each RoI, an index into masks.
        size: m.

    Returns:
        (P, m, m) float {0, 1}.
    """
    assert len(boxes) == len(matched), f"{len(boxes)} RoIs but {len(matched)} matches"
    rois = torch.cat([matched[:, None].to(boxes.dtype), boxes], dim=1)  # (P, 5): mask index
    soft = roi_align(masks[:, None].to(boxes.dtype), rois, (size, size), 1.0)  # (P, 1, m, m)
    return (soft[:, 0] >= 0.5).to(boxes.dtype)


def paste_masks(probs: Tensor, boxes: Tensor, image_size: int) -> Tensor:
    """Masks (D, m, m) on their boxes (D, 4) pasted into image_size x image_size canvases: each
    pixel whose centre lies inside its box reads the mask bilinearly at that centre (the m x m
    grid spans the box); pixels outside the box are 0.

    Returns:
        (D, S, S) values of the masks (probabilities in, probabilities out).
    """
    d = len(boxes)
    if d == 0:
        return probs.new_zeros(0, image_size, image_size)
    centres = torch.arange(image_size, dtype=boxes.dtype) + 0.5  # (S,) pixel centres
    x1, y1, x2, y2 = boxes.unbind(dim=1)  # (D,) each
    w, h = (x2 - x1).clamp(min=1e-3), (y2 - y1).clamp(min=1e-3)
    u = 2 * (centres[None] - x1[:, None]) / w[:, None] - 1  # (D, S): -1, 1 at the box's edges
    v = 2 * (centres[None] - y1[:, None]) / h[:, None] - 1
    grid = torch.stack(torch.broadcast_tensors(u[:, None, :], v[:, :, None]), dim=-1)  # (D,S,S,2)
    pasted = F.grid_sample(
        probs[:, None], grid, mode="bilinear", padding_mode="border", align_corners=False
    )[
        :, 0
    ]  # (D, 1, m, m) -> (D, S, S)
    inside = (u.abs() <= 1)[:, None, :] & (v.abs() <= 1)[:, :, None]  # (D, S, S)
    return pasted * inside


def mask_loss(logits: Tensor, classes: Tensor, targets: Tensor) -> Tensor:
    """L_mask (Sec. 3): the average binary cross-entropy of each positive RoI's mask for its
    ground-truth class only (the other classes' masks get no gradient).

    Args:
        logits: (P, C, m, m) every class's mask logits of the positive RoIs.
        classes: (P,) the ground-truth class of each, 0..C-1.
        targets: (P, m, m) in {0, 1}.
    """
    if len(logits) == 0:
        return logits.sum() * 0  # keeps the graph: no positive RoI in the batch
    picked = logits[torch.arange(len(logits)), classes]  # (P, m, m)
    return F.binary_cross_entropy_with_logits(picked, targets)


# ------------------------------------------------------------------------------------ network


class BoxHead(frcnn.RoIHead):
    """25's Fast R-CNN head (the same layers) pooling its RoIs with RoIAlign, or with RoI max
    pooling for the ablation.

    Args:
        pooling: "align" or "pool".
        sampling_ratio: RoIAlign's samples per bin along each axis.
        The rest: as RoIHead.
    """

    def __init__(self, *args: Any, pooling: str = "align", sampling_ratio: int = 2, **kw: Any):
        super().__init__(*args, **kw)
        self.pooling, self.sampling_ratio = pooling, sampling_ratio

    def forward(self, features: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
        """Features (N, C, H, W), rois (K, 5) -> class logits (K, C + 1), deltas (K, C + 1, 4)."""
        pooled = pool_rois(
            self.reduce(features),
            rois,
            self.pool,
            self.spatial_scale,
            self.pooling,
            self.sampling_ratio,
        )  # (K, pool_channels, 7, 7)
        h = self.fc(pooled)
        return self.cls(h), self.deltas(h).view(len(rois), -1, 4)


class MaskHead(nn.Module):
    """The mask branch (Fig. 4): RoIs pooled to pool x pool, convs 3x3 convolutions with ReLU,
    a 2x2 deconvolution of stride 2 with ReLU, and a 1x1 convolution to one mask per class.

    Args:
        in_channels: Channels of the feature map it pools.
        num_classes: C.
        pool: Side of the pooled grid (14); the masks are 2 pool a side (28).
        hidden: Channels of the convolutions.
        convs: Number of 3x3 convolutions (the paper: 4).
        spatial_scale: Feature cells per image pixel.
        pooling, sampling_ratio: As BoxHead.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        pool: int,
        hidden: int,
        convs: int,
        spatial_scale: float,
        pooling: str = "align",
        sampling_ratio: int = 2,
    ) -> None:
        super().__init__()
        self.pool, self.spatial_scale = pool, spatial_scale
        self.pooling, self.sampling_ratio = pooling, sampling_ratio
        layers: list[nn.Module] = []
        c = in_channels
        for _ in range(convs):
            layers += [nn.Conv2d(c, hidden, 3, padding=1), nn.ReLU(inplace=True)]
            c = hidden
        layers += [nn.ConvTranspose2d(c, hidden, 2, stride=2), nn.ReLU(inplace=True)]
        self.net = nn.Sequential(*layers)
        self.logits = nn.Conv2d(hidden, num_classes, 1)
        self.mask_size = 2 * pool

    def forward(self, features: Tensor, rois: Tensor) -> Tensor:
        """Features (N, C, H, W), rois (K, 5) -> mask logits (K, num_classes, 2 pool, 2 pool)."""
        pooled = pool_rois(
            features, rois, self.pool, self.spatial_scale, self.pooling, self.sampling_ratio
        )  # (K, C, 14, 14)
        return self.logits(self.net(pooled))  # (K, C, 14, 14) -> (K, hidden, 28, 28) -> (K, C, ...)


class MaskRCNN(frcnn.FasterRCNN):
    """Faster R-CNN (25) with RoIAlign in its box head and the mask branch beside it.

    Args:
        image_size, in_channels, num_classes: As FasterRCNN.
        pooling: "align" (RoIAlign) or "pool" (RoI max pooling) for both branches.
        sampling_ratio: RoIAlign's samples per bin along each axis.
        mask_stage: The backbone stage the mask branch pools (0: stride 1, 1: stride 2, ...).
        mask_pool, mask_hidden, mask_convs: The mask branch (MaskHead).
        faster_rcnn: FasterRCNN's keyword arguments (anchors, RPN, proposals, head, detection).
    """

    def __init__(
        self,
        image_size: int,
        in_channels: int,
        num_classes: int,
        pooling: str = "align",
        sampling_ratio: int = 2,
        mask_stage: int = 1,
        mask_pool: int = 14,
        mask_hidden: int = 32,
        mask_convs: int = 2,
        **faster_rcnn: Any,
    ) -> None:
        super().__init__(image_size, in_channels, num_classes, **faster_rcnn)
        assert pooling in ("align", "pool"), f"pooling is 'align' or 'pool', got {pooling!r}"
        convs = [m for m in self.backbone.modules() if isinstance(m, nn.Conv2d)]
        widths = [m.out_channels for m in convs][1::2]  # each stage's second convolution
        assert 0 <= mask_stage < len(widths), f"mask_stage {mask_stage}: stages 0..{len(widths)}"
        head = self.head  # 25's head, rebuilt with the same sizes and this pooling
        self.head = BoxHead(
            head.reduce[0].in_channels,
            num_classes,
            head.pool,
            head.fc[1].out_features,
            head.spatial_scale,
            head.reduce[0].out_channels,
            pooling=pooling,
            sampling_ratio=sampling_ratio,
        )
        self.mask_stage, self.pooling = mask_stage, pooling
        self.mask_head = MaskHead(
            widths[mask_stage],
            num_classes,
            mask_pool,
            mask_hidden,
            mask_convs,
            1 / 2**mask_stage,
            pooling,
            sampling_ratio,
        )

    def features(self, images: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One backbone pass -> (the RPN's map (N, widths[-1], H / 4, W / 4), the box head's
        (widths[head_stage], 25's shared_maps), the mask branch's (N, widths[mask_stage],
        H / 2^mask_stage, ...))."""
        stages = frcnn.backbone_stages(self.backbone, images)
        return stages[-1], stages[self.head_stage], stages[self.mask_stage]

    # -------------------------------------------------------------------- the mask loss

    def positive_masks(
        self, rois: Tensor, labels: Tensor, targets: list[dict[str, Tensor]]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The positive (foreground) RoIs of sample_rois, their classes and mask targets: each
        RoI's object is the one of highest IoU in its image, as sample_rois labelled it.

        Returns:
            rois (P, 5), classes (P,) in 0..C-1, targets (P, m, m).
        """
        fg = labels > 0
        pos = rois[fg]  # (P, 5)
        masks, matched = [], torch.zeros(len(pos), dtype=torch.int64)
        offset = 0
        for n, target in enumerate(targets):
            gt_boxes, _ = frcnn.real_objects(target)
            gt_masks = object_masks(target)
            in_image = pos[:, 0] == n
            if in_image.any():
                iou = box_iou(pos[in_image, 1:], gt_boxes.to(pos))  # (p, G)
                matched[in_image] = iou.argmax(dim=1) + offset
            masks.append(gt_masks)
            offset += len(gt_masks)
        all_masks = torch.cat(masks) if masks else torch.zeros(0, 1, 1)
        goal = mask_targets(all_masks, pos[:, 1:], matched, self.mask_head.mask_size)
        return pos, labels[fg] - 1, goal

    # -------------------------------------------------------------------- inference

    @torch.no_grad()
    def add_masks(self, mask_features: Tensor, detections: list[dict[str, Tensor]]) -> None:
        """Sec. 3.1: the mask branch on the detected boxes; the predicted class's mask, pasted
        into the canvas and thresholded at 0.5, is each detection's "masks" (D, H, W) bool."""
        rois = self.rois_of([d["boxes"] for d in detections])
        if len(rois) == 0:
            for d in detections:
                d["masks"] = torch.zeros(0, self.image_size, self.image_size, dtype=torch.bool)
            return
        labels = torch.cat([d["labels"] for d in detections])
        logits = self.mask_head(mask_features, rois)  # (D, C, m, m)
        probs = logits[torch.arange(len(rois)), labels].sigmoid()  # (D, m, m)
        masks = paste_masks(probs, rois[:, 1:], self.image_size) >= 0.5  # (D, S, S)
        start = 0
        for d in detections:
            d["masks"] = masks[start : start + len(d["boxes"])]
            start += len(d["boxes"])

    def predict(self, images: Tensor) -> list[dict[str, Tensor]]:
        """Detections with masks of images (N, C, H, W) in [0, 1] (the model in eval mode)."""
        features, head_map, mask_features = self.features(images)
        logits, deltas = self.rpn(features)
        proposals = self.proposals(logits, deltas)
        cls_logits, box_deltas = self.head(head_map, self.rois_of(proposals))
        detections = self.detect(cls_logits, box_deltas, proposals)
        self.add_masks(mask_features, detections)
        return detections

    def step(self, batch: Any) -> StepOutput:
        """Faster R-CNN's four losses and L_mask, summed; in evaluation also the detections with
        their masks, for box and mask mAP."""
        images, targets = batch
        features, head_map, mask_features = self.features(images)
        logits, deltas = self.rpn(features)
        rpn_cls, rpn_box = self.rpn_loss(logits, deltas, targets)
        proposals = self.proposals(logits.detach(), deltas.detach())
        rois, labels, goals = self.sample_rois(proposals, targets)
        cls_logits, box_deltas = self.head(head_map, rois)
        head_cls, head_box = self.head_loss(cls_logits, box_deltas, labels, goals)
        pos, classes, mask_goal = self.positive_masks(rois, labels, targets)
        mask = mask_loss(self.mask_head(mask_features, pos), classes, mask_goal)
        terms = {"rpn_cls": rpn_cls, "rpn_box": rpn_box, "cls": head_cls, "box": head_box}
        terms["mask"] = mask
        loss = sum(terms.values())
        n = len(images)
        metrics = {f"loss_{k}": Mean(v.detach() * n, n) for k, v in terms.items()}
        outputs = None
        if not self.training:
            with torch.no_grad():
                cls_all, deltas_all = self.head(head_map, self.rois_of(proposals))
                outputs = self.detect(cls_all, deltas_all, proposals)
                self.add_masks(mask_features, outputs)
        return StepOutput(loss, metrics, outputs=outputs)  # type: ignore[arg-type]

    def set_metrics(self) -> dict[str, MeanAveragePrecision]:
        """COCO-style box mAP (map, map_50, map_75, mar_100) and mask mAP (mask_map, ...)."""
        return {
            "map": MeanAveragePrecision("bbox", num_classes=self.num_classes),
            "mask_map": MeanAveragePrecision("segm", num_classes=self.num_classes, prefix="mask_"),
        }


def create_model(config: Any, splits: Any) -> MaskRCNN:
    """Mask R-CNN for the canvases' shape and classes (the ModelSpec hook)."""
    c, h, w = splits.input_shape
    assert h == w, f"square canvases only, got {h}x{w}"
    return MaskRCNN(
        image_size=h,
        in_channels=c,
        num_classes=splits.num_classes,
        pooling=config.pooling,
        sampling_ratio=config.sampling_ratio,
        mask_stage=config.mask_stage,
        mask_pool=config.mask_pool,
        mask_hidden=config.mask_hidden,
        mask_convs=config.mask_convs,
        **frcnn.detector_options(config),
    )


def create_criterion(config: Any) -> None:
    """None: the model's step computes the losses."""
    return None
