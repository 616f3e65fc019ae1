"""R-CNN (Girshick et al. 2014): region proposals, a CNN on each warped region, box regression.

Paper: R. Girshick, J. Donahue, T. Darrell and J. Malik, "Rich feature hierarchies for accurate
object detection and semantic segmentation", CVPR 2014 (arXiv:1311.2524).

What is implemented, in the paper's order (Sec. 2):

- region proposals, class-agnostic, computed on the image alone (the paper: about 2,000 from
  selective search's "fast mode"). Here two sources, merged and deduplicated: a
  selective-search-like grouping (the ink's 8-connected components at the canvases' own ink
  threshold are the initial regions; the two regions whose union box is smallest are merged,
  again and again, and every region of the hierarchy is a proposal: size and fill similarity,
  the two of selective search's measures that mean something on grey digits), and multi-scale
  sliding windows (squares of 16 and 24 pixels, stride 8), which catch digits whose ink touches
  a neighbour's. About 110 proposals per 64x64 canvas;
- warping (Sec. 2.1, Appendix A): each proposal is dilated so that the warped region holds
  ``context`` pixels of image context around the box (the paper: 16 of 227), then warped
  anisotropically to a fixed square (the paper: 227x227; here 28x28, bilinear, by
  engine.detection.roi_align on the image itself);
- the CNN: a small network (three 3x3 convolution stages with max pooling, a fully connected
  layer) classifies each warped region into C + 1 classes (10 digits and background), trained
  as the paper fine-tunes: proposals of IoU >= 0.5 with a ground-truth box are positives of
  its class, the rest background, mini-batches sampled 1:3 positive to background (the paper:
  32 positive and 96 background windows of 128), ground-truth boxes among the positives;
- class-specific bounding-box regression (Appendix C): the targets of engine.detection's
  encode_boxes (the paper's tx, ty, tw, th) of each positive proposal to its ground-truth box;
- test time (Sec. 2.2): every proposal is warped and scored, each class's boxes are regressed,
  and greedy non-maximum suppression per class at IoU 0.3 keeps the best.

Deliberately different, and why: the per-class linear SVMs on fc7 features are replaced by the
network's softmax (the paper's own ablation, Appendix B, finds softmax a few points of mAP
below the SVMs on VOC; the SVMs were needed there because fine-tuning used loose positives);
the box regressor is a linear layer on the CNN's last features trained jointly with a smooth L1
loss (the paper fits a ridge regression on pool5 features after training, on proposals of
IoU >= 0.6) with Fast R-CNN's target weights (10, 10, 5, 5); batch normalisation after each
convolution and no ImageNet pre-training (a few minutes of CPU; the digits are simple). Left
out: hard-negative mining (no SVMs to mine for) and the 2,000-proposal scale.

Known outcomes, asserted in tests: the proposer covers the ground-truth boxes (recall at IoU
0.5 on canvases); the regression targets round-trip with decoding; the loss falls on a fixed
batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy import ndimage
from torch import Tensor, nn
from torch.nn import functional as F

from engine.detection import (
    MeanAveragePrecision,
    batched_nms,
    box_iou,
    clip_boxes,
    decode_boxes,
    encode_boxes,
    roi_align,
)
from engine.steps import Mean, StepOutput

BOX_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # regression target weights (Fast R-CNN's box head)
EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)  # 8-connectivity of the ink components

# ------------------------------------------------------------------------------------ proposals


def sliding_windows(image_size: int, sizes: list[int], stride: int) -> np.ndarray:
    """Square windows of each side in sizes, every stride pixels, the last flush with the
    border: (W, 4) xyxy float32."""
    out = []
    for s in sizes:
        starts = sorted(set(range(0, image_size - s + 1, stride)) | {image_size - s})
        for y in starts:
            for x in starts:
                out.append((x, y, x + s, y + s))
    return np.asarray(out, dtype=np.float32).reshape(-1, 4)


def component_boxes(image: np.ndarray, ink_threshold: float, min_pixels: int = 2) -> np.ndarray:
    """Tight xyxy boxes (x2, y2 exclusive) of the 8-connected ink components of a (H, W)
    image, components of fewer than min_pixels pixels left out: (K, 4) float32."""
    ink = image >= ink_threshold
    labels, n = ndimage.label(ink, structure=EIGHT_NEIGHBOURS)
    if n == 0:
        return np.zeros((0, 4), dtype=np.float32)
    counts = np.bincount(labels.ravel(), minlength=n + 1)[1:]  # (n,) pixels per component
    boxes = [
        (sl[1].start, sl[0].start, sl[1].stop, sl[0].stop)
        for sl, count in zip(ndimage.find_objects(labels), counts)
        if count >= min_pixels
    ]
    return np.asarray(boxes, dtype=np.float32).reshape(-1, 4)


def group_regions(boxes: np.ndarray) -> np.ndarray:
    """Selective search's hierarchical grouping on boxes: merge the two regions whose union box
    is smallest (size and fill similarity), until one is left; every region met is returned,
    the initial ones first: (2K - 1, 4) for K >= 1 initial boxes."""
    regions = [b for b in boxes]
    out = list(regions)
    while len(regions) > 1:
        stacked = np.stack(regions)  # (R, 4)
        lo = np.minimum(stacked[:, None, :2], stacked[None, :, :2])  # (R, R, 2)
        hi = np.maximum(stacked[:, None, 2:], stacked[None, :, 2:])
        area = (hi - lo).prod(-1)  # (R, R) area of each pair's union box
        np.fill_diagonal(area, np.inf)
        i, j = np.unravel_index(np.argmin(area), area.shape)
        merged = np.concatenate([lo[i, j], hi[i, j]])
        regions = [r for k, r in enumerate(regions) if k not in (i, j)] + [merged]
        out.append(merged)
    return np.asarray(out, dtype=np.float32).reshape(-1, 4)


def propose(
    image: np.ndarray, windows: np.ndarray, ink_threshold: float, grouping: bool = True
) -> np.ndarray:
    """The proposals of one (H, W) image: the grouping hierarchy of its ink components (when
    grouping) and the given sliding windows, deduplicated: (P, 4) xyxy float32."""
    parts = [windows]
    if grouping:
        parts.insert(0, group_regions(component_boxes(image, ink_threshold)))
    boxes = np.concatenate(parts)
    _, first = np.unique(boxes, axis=0, return_index=True)
    return boxes[np.sort(first)]


# ------------------------------------------------------------------------------------ warping


def warp_regions(
    images: Tensor, boxes: list[Tensor], size: int, context: float
) -> tuple[Tensor, Tensor]:
    """Each image's boxes dilated for context and warped to size x size (Appendix A).

    The box is scaled about its centre by size / (size - 2 context), so that after the
    anisotropic warp ``context`` pixels of the size x size region surround the box (the
    paper's p = 16 of 227). Pixels outside the image read 0 (the canvases' background).

    Args:
        images: (N, C, H, W).
        boxes: N tensors (P_n, 4) xyxy.
        size: Side of the warped region.
        context: Pixels of context on each side, at the warped scale.

    Returns:
        (sum P_n, C, size, size) regions, and the image index of each (sum P_n,).
    """
    index = torch.cat([torch.full((len(b),), n, dtype=torch.long) for n, b in enumerate(boxes)])
    flat = torch.cat(boxes).to(images.dtype)  # (P, 4)
    scale = size / (size - 2 * context)
    centre = (flat[:, :2] + flat[:, 2:]) / 2
    half = (flat[:, 2:] - flat[:, :2]) / 2 * scale
    dilated = torch.cat([centre - half, centre + half], dim=1)
    rois = torch.cat([index[:, None].to(images.dtype), dilated], dim=1)  # (P, 5)
    return roi_align(images, rois, (size, size), 1.0, sampling_ratio=2), index


# ------------------------------------------------------------------------------------ network


class RegionCNN(nn.Module):
    """The CNN that scores a warped region: convolution stages (3x3, batch norm, ReLU, 2x2 max
    pooling), a fully connected layer (the paper's fc7, its features), and two linear heads:
    C + 1 class scores (background last) and 4 box-regression outputs per class.

    Args:
        in_channels: Image channels.
        size: Side of the warped region.
        num_classes: C, background excluded.
        widths: Channels of the convolution stages.
        hidden: Width of the fully connected layer.
    """

    def __init__(
        self, in_channels: int, size: int, num_classes: int, widths: list[int], hidden: int
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c, side = in_channels, size
        for width in widths:
            layers += [
                nn.Conv2d(c, width, 3, padding=1, bias=False),
                nn.BatchNorm2d(width),
                nn.ReLU(),
                nn.MaxPool2d(2),
            ]
            c, side = width, side // 2
        self.features = nn.Sequential(*layers, nn.Flatten())
        self.fc = nn.Sequential(nn.Linear(c * side * side, hidden), nn.ReLU())
        self.classifier = nn.Linear(hidden, num_classes + 1)
        self.regressor = nn.Linear(hidden, 4 * num_classes)
        nn.init.normal_(self.regressor.weight, std=0.001)
        nn.init.zeros_(self.regressor.bias)

    def forward(self, regions: Tensor) -> tuple[Tensor, Tensor]:
        """(P, C, size, size) -> class logits (P, C + 1) and box deltas (P, C, 4)."""
        h = self.fc(self.features(regions))
        return self.classifier(h), self.regressor(h).unflatten(1, (-1, 4))


class RCNN(nn.Module):
    """Proposals, warped regions, the region CNN, class-specific box regression, per-class NMS.

    Args:
        image_size: Side of the square input.
        in_channels: Image channels.
        num_classes: C (the background class is added).
        widths, hidden: The region CNN's convolution channels and fully connected width.
        warp_size: Side of the warped regions (the paper: 227).
        context: Context pixels around a box at the warped scale (the paper: 16).
        window_sizes, window_stride: The sliding windows among the proposals.
        grouping: Whether the ink-component hierarchy is among the proposals.
        ink_threshold: Intensity (0..1) from which a pixel is ink, for the components.
        fg_iou: A proposal of IoU >= fg_iou with a ground-truth box is a positive of its class.
        regions_per_image, fg_fraction: Regions sampled per training image, at most this
            fraction positive (the paper: 128 per batch, 1:3).
        reg_weight: Weight of the box-regression loss beside the classification loss.
        score_threshold, nms_iou, max_dets: Detection: smallest class probability kept, per-class
            NMS IoU (the paper: 0.3), detections kept per image.
    """

    def __init__(
        self,
        image_size: int,
        in_channels: int,
        num_classes: int,
        widths: list[int] | None = None,
        hidden: int = 128,
        warp_size: int = 28,
        context: float = 2.0,
        window_sizes: list[int] | None = None,
        window_stride: int = 8,
        grouping: bool = True,
        ink_threshold: float = 64 / 255,
        fg_iou: float = 0.5,
        regions_per_image: int = 16,
        fg_fraction: float = 0.25,
        reg_weight: float = 1.0,
        score_threshold: float = 0.01,
        nms_iou: float = 0.3,
        max_dets: int = 100,
    ) -> None:
        super().__init__()
        self.image_size, self.num_classes = image_size, num_classes
        self.warp_size, self.context = warp_size, context
        self.grouping, self.ink_threshold = grouping, ink_threshold
        self.fg_iou, self.regions_per_image, self.fg_fraction = (
            fg_iou,
            regions_per_image,
            fg_fraction,
        )
        self.reg_weight = reg_weight
        self.score_threshold, self.nms_iou, self.max_dets = score_threshold, nms_iou, max_dets
        self.windows = sliding_windows(image_size, window_sizes or [16, 24], window_stride)
        self.cnn = RegionCNN(in_channels, warp_size, num_classes, widths or [16, 32, 64], hidden)

    # -------------------------------------------------------------------------- proposals

    def proposals(self, images: Tensor) -> list[Tensor]:
        """Each image's proposals (P_n, 4) xyxy, from its first channel."""
        ink = images[:, 0].detach().cpu().numpy()
        return [
            torch.from_numpy(propose(im, self.windows, self.ink_threshold, self.grouping))
            for im in ink
        ]

    def forward(self, images: Tensor, boxes: list[Tensor]) -> tuple[Tensor, Tensor]:
        """Class logits (P, C + 1) and deltas (P, C, 4) of the given boxes of each image."""
        regions, _ = warp_regions(images, boxes, self.warp_size, self.context)
        return self.cnn(regions)

    # -------------------------------------------------------------------------- training

    def sample(
        self, proposals: Tensor, target: dict[str, Tensor], generator: torch.Generator | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The training regions of one image (Sec. 2.3): proposals and ground-truth boxes,
        labelled by their best IoU with a (non-crowd) ground-truth box, sampled at most
        fg_fraction positive.

        Returns:
            boxes (R, 4), labels (R,) (num_classes for background), and regression targets
            (R, 4) (zeros for background).
        """
        gt = target["boxes"].float()
        crowd = target.get("iscrowd", torch.zeros(len(gt), dtype=torch.bool)).bool()
        gt_boxes, gt_labels = gt[~crowd], target["labels"][~crowd]
        boxes = torch.cat([gt_boxes, proposals.float()])
        if len(gt_boxes):
            iou, match = box_iou(boxes, gt_boxes).max(dim=1)  # (P,)
        else:
            iou, match = torch.zeros(len(boxes)), torch.zeros(len(boxes), dtype=torch.long)
        if crowd.any():  # a region mostly on an ignored object is neither class nor background
            ignore = (box_iou(boxes, gt[crowd]).max(dim=1).values >= self.fg_iou) & (
                iou < self.fg_iou
            )
        else:
            ignore = torch.zeros(len(boxes), dtype=torch.bool)
        fg = (iou >= self.fg_iou).nonzero().flatten()
        bg = ((iou < self.fg_iou) & ~ignore).nonzero().flatten()
        n_fg = min(len(fg), int(round(self.regions_per_image * self.fg_fraction)))
        fg = fg[torch.randperm(len(fg), generator=generator)[:n_fg]]
        bg = bg[torch.randperm(len(bg), generator=generator)[: self.regions_per_image - n_fg]]
        keep = torch.cat([fg, bg])
        labels = torch.full((len(keep),), self.num_classes, dtype=torch.long)
        labels[:n_fg] = gt_labels[match[fg]]
        deltas = torch.zeros(len(keep), 4)
        if n_fg:
            deltas[:n_fg] = encode_boxes(gt_boxes[match[fg]], boxes[fg], BOX_WEIGHTS)
        return boxes[keep], labels, deltas

    def losses(
        self, logits: Tensor, deltas: Tensor, labels: Tensor, targets: Tensor
    ) -> dict[str, Tensor]:
        """Cross-entropy over C + 1 classes, and smooth L1 on the true class's deltas of the
        positive regions (averaged over all regions, as Fast R-CNN)."""
        fg = labels < self.num_classes
        reg = deltas[fg, labels[fg]]  # (F, 4)
        box = F.smooth_l1_loss(reg, targets[fg], beta=1.0, reduction="sum") / max(len(labels), 1)
        return {"cls": F.cross_entropy(logits, labels), "box": self.reg_weight * box}

    # -------------------------------------------------------------------------- detection

    @torch.no_grad()
    def detect(self, images: Tensor, proposals: list[Tensor] | None = None) -> list[dict]:
        """Every proposal warped and scored, regressed per class, per-class NMS (Sec. 2.2)."""
        proposals = self.proposals(images) if proposals is None else proposals
        logits, deltas = self(images, proposals)
        probs = logits.softmax(dim=1)[:, : self.num_classes]  # (P, C), background dropped
        out, start = [], 0
        for n, props in enumerate(proposals):
            p, d = probs[start : start + len(props)], deltas[start : start + len(props)]
            start += len(props)
            box_idx, labels = (p >= self.score_threshold).nonzero(as_tuple=True)
            ref = props.to(d.dtype)[box_idx]
            boxes = decode_boxes(d[box_idx, labels], ref, BOX_WEIGHTS)
            boxes = clip_boxes(boxes, self.image_size, self.image_size)
            scores = p[box_idx, labels]
            keep = batched_nms(boxes, scores, labels, self.nms_iou)[: self.max_dets]
            out.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return out

    def predict(self, images: Tensor) -> list[dict[str, Tensor]]:
        """Detections of images (N, C, H, W) in [0, 1] (the model in eval mode)."""
        return self.detect(images)

    def step(self, batch: Any) -> StepOutput:
        """Training: sampled regions, their classification and box losses. Evaluation: the
        same losses on sampled regions, and the detections of every proposal, for mAP."""
        images, targets = batch  # (N, 1, 64, 64), N target dicts
        proposals = self.proposals(images)
        samples = [
            self.sample(p, {k: v.cpu() for k, v in t.items()}) for p, t in zip(proposals, targets)
        ]
        boxes = [s[0] for s in samples]
        labels = torch.cat([s[1] for s in samples]).to(images.device)
        reg_targets = torch.cat([s[2] for s in samples]).to(images.device)
        logits, deltas = self(images, boxes)
        terms = self.losses(logits, deltas, labels, reg_targets)
        loss = terms["cls"] + terms["box"]
        n = len(images)
        metrics = {f"loss_{name}": Mean(value.detach() * n, n) for name, value in terms.items()}
        accuracy = (logits.argmax(1) == labels).float()
        metrics["region_accuracy"] = Mean(accuracy.sum(), len(accuracy))
        outputs = None if self.training else self.detect(images, proposals)
        return StepOutput(loss, metrics, outputs=outputs)

    @staticmethod
    def proposal_recall(
        proposals: list[Tensor], targets: list[dict[str, Tensor]], iou: float
    ) -> float:
        """The module's proposal_recall (here for callers that hold only the model)."""
        return proposal_recall(proposals, targets, iou)

    def set_metrics(self) -> dict[str, MeanAveragePrecision]:
        """COCO-style box mAP over the evaluated set (map, map_50, map_75, mar_100)."""
        return {"map": MeanAveragePrecision("bbox", num_classes=self.num_classes)}


def proposal_recall(proposals: list[Tensor], targets: list[dict[str, Tensor]], iou: float) -> float:
    """Fraction of the (non-crowd) ground-truth boxes that some proposal covers at IoU >= iou."""
    hit = total = 0
    for props, target in zip(proposals, targets):
        gt = target["boxes"][~target["iscrowd"].bool()].float()
        total += len(gt)
        if len(gt) and len(props):
            hit += int((box_iou(gt, props.float()).max(dim=1).values >= iou).sum())
    return hit / max(total, 1)


def create_model(config: Any, splits: Any) -> RCNN:
    """R-CNN for the canvases' shape and classes (the ModelSpec hook)."""
    c, h, w = splits.input_shape
    assert h == w, f"square canvases only, got {h}x{w}"
    return RCNN(
        image_size=h,
        in_channels=c,
        num_classes=splits.num_classes,
        widths=config.widths,
        hidden=config.hidden,
        warp_size=config.warp_size,
        context=config.context,
        window_sizes=config.window_sizes,
        window_stride=config.window_stride,
        grouping=config.grouping,
        fg_iou=config.fg_iou,
        regions_per_image=config.regions_per_image,
        fg_fraction=config.fg_fraction,
        reg_weight=config.reg_weight,
        score_threshold=config.score_threshold,
        nms_iou=config.nms_iou,
        max_dets=config.max_dets,
    )


def create_criterion(config: Any) -> None:
    """None: the model's step computes the losses."""
    return None
