"""Faster R-CNN (Ren et al. 2015): a region proposal network sharing the backbone, RoI pooling
and the Fast R-CNN head, on MNIST detection canvases.

Paper: S. Ren, K. He, R. Girshick and J. Sun, "Faster R-CNN: Towards Real-Time Object Detection
with Region Proposal Networks", NeurIPS 2015 (arXiv:1506.01497); the head is Fast R-CNN's
(R. Girshick, ICCV 2015).

What is implemented, in the paper's order:

- a shared convolutional backbone (here small, at stride 4: at stride 8 the 12-pixel objects
  have no anchor with IoU above 0.34, docs/engine.md 9b);
- anchors (Sec. 3.1.1): at every cell of the feature map, sizes x aspect ratios (here 3 x 3:
  8, 12, 16 pixels, ratios 0.5, 1, 2, for the canvases' visible boxes of 3-20 pixels, median
  12; sizes 12, 20, 28, the digits' squares, reach only 83% of the objects at IoU 0.5 against
  94%), engine.detection.grid_anchors;
- the RPN (Sec. 3.1): a 3x3 convolution, then two sibling 1x1 convolutions: an objectness score
  and 4 box deltas per anchor (the R-CNN parameterisation, eq. 2, engine.detection.encode_boxes);
- its training targets (Sec. 3.1.2): positive an anchor with IoU >= 0.7 with a ground-truth box
  or the anchor(s) of highest IoU for a box, negative a non-positive anchor with IoU < 0.3 for
  every box, the rest ignored; 256 anchors sampled per image, up to half positive; the loss
  (eq. 1): classification over the sampled anchors, smooth L1 on the positives' deltas;
- proposals (Sec. 3.3): deltas decoded on the anchors, clipped to the image, tiny boxes dropped,
  the best pre_nms_top_n by objectness, NMS at IoU 0.7, the best post_nms_top_n kept;
- the Fast R-CNN head: RoI max pooling to 7x7 (engine.detection.roi_pool, Fast R-CNN Sec. 2.1)
  on the shared backbone's last map or, with head_stage, an earlier and finer stage of it (the
  canvases experiment pools the stride-2 stage: README, "The head reads a finer map"),
  two fully connected layers, an (C + 1)-way softmax and class-specific box regression (targets
  scaled by (10, 10, 5, 5)); its training RoIs: the proposals plus the ground-truth boxes,
  sampled per image with up to 25% foreground (IoU >= 0.5), the rest background (IoU < 0.5);
- detection: per class, decoded boxes scored by the softmax, a threshold, per-class NMS at 0.5.

Deliberately different, and why: the four losses are summed and trained together ("approximate
joint training", Sec. 3.2, the paper's own faster alternative; proposals carry no gradient), not
with the 4-step alternating scheme; batch norm in the backbone and Adam (minutes of CPU, no
ImageNet pre-training); objectness is one logistic output per anchor rather than a two-way
softmax (the same model with half the outputs); anchors crossing the canvas border are kept in
training (on a 64-pixel canvas digits touch the border, and ignoring the anchors that cross it
would leave those objects without positives); background RoIs are IoU in
[0, 0.5) rather than Fast R-CNN's [0.1, 0.5) (few proposals on a near-empty canvas overlap
nothing at 0.1); the head may pool a finer stage than the RPN reads (head_stage; the paper's
both read conv5, whose cells are small against its objects, unlike stride 4 against a digit).

Mask R-CNN (27) reuses Backbone, RPN and the helpers through model_modules("faster_rcnn").
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.detection import (
    MeanAveragePrecision,
    batched_nms,
    box_iou,
    clip_boxes,
    decode_boxes,
    encode_boxes,
    grid_anchors,
    nms,
    roi_pool,
)
from engine.steps import Mean, StepOutput

HEAD_WEIGHTS = (10.0, 10.0, 5.0, 5.0)  # Fast R-CNN's box-target scaling; the RPN's is (1, 1, 1, 1)

# ------------------------------------------------------------------------------------ targets


def real_objects(target: dict[str, Tensor]) -> tuple[Tensor, Tensor]:
    """A target's boxes (K, 4) and labels (K,) without crowd objects (mostly hidden digits,
    which the evaluation ignores)."""
    boxes, labels = target["boxes"].float(), target["labels"]
    if "iscrowd" in target:
        keep = ~target["iscrowd"].bool()
        boxes, labels = boxes[keep], labels[keep]
    return boxes, labels


def label_anchors(
    anchors: Tensor, gt_boxes: Tensor, pos_iou: float = 0.7, neg_iou: float = 0.3
) -> tuple[Tensor, Tensor]:
    """The RPN's anchor labels (Sec. 3.1.2): 1 positive, 0 negative, -1 ignored.

    Positive: IoU >= pos_iou with some ground-truth box, or an anchor of highest IoU for some box
    (ties: all of them; only boxes that overlap some anchor). Negative: not positive and IoU <
    neg_iou with every box.

    Returns:
        (labels (A,) int64, matched (A,) int64: index of the box of highest IoU, 0 without boxes).
    """
    labels = torch.full((len(anchors),), -1, dtype=torch.int64)
    if len(gt_boxes) == 0:
        labels[:] = 0
        return labels, torch.zeros(len(anchors), dtype=torch.int64)
    iou = box_iou(anchors, gt_boxes)  # (A, K)
    best, matched = iou.max(dim=1)  # (A,)
    labels[best < neg_iou] = 0
    labels[best >= pos_iou] = 1
    per_box = iou.max(dim=0).values  # (K,) best anchor IoU of each box
    is_best = (iou == per_box[None]) & (per_box[None] > 0)  # (A, K)
    anchor_idx, box_idx = is_best.nonzero(as_tuple=True)
    labels[anchor_idx] = 1
    matched[anchor_idx] = box_idx  # a best anchor regresses to the box it is best for
    return labels, matched


def sample_labels(
    labels: Tensor, num: int, positive_fraction: float, generator: torch.Generator | None = None
) -> Tensor:
    """A random minibatch of labelled items: at most num * positive_fraction positives (labels
    >= 1), filled with negatives (label 0) up to num; the rest set to -1. Returns new labels."""
    pos = (labels >= 1).nonzero().flatten()
    neg = (labels == 0).nonzero().flatten()
    n_pos = min(len(pos), int(num * positive_fraction))
    n_neg = min(len(neg), num - n_pos)
    pos = pos[torch.randperm(len(pos), generator=generator)[:n_pos]]
    neg = neg[torch.randperm(len(neg), generator=generator)[:n_neg]]
    out = torch.full_like(labels, -1)
    out[pos], out[neg] = labels[pos], 0
    return out


# ------------------------------------------------------------------------------------ network


def conv(in_channels: int, out_channels: int) -> nn.Sequential:
    """3x3 convolution ('same'), batch norm, ReLU."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.ReLU(inplace=True),
    )


class Backbone(nn.Module):
    """The shared convolutional features: stages of two 3x3 convolutions, max pooling between
    them; len(widths) - 1 poolings give stride 2^(len - 1) (4 by default).

    Args:
        in_channels: Image channels.
        widths: Channels of each stage.
    """

    def __init__(self, in_channels: int, widths: list[int]) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for k, width in enumerate(widths):
            layers += [conv(c, width), conv(width, width)]
            if k < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c = width
        self.net = nn.Sequential(*layers)
        self.out_channels = c
        self.stride = 2 ** (len(widths) - 1)

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, widths[-1], H / stride, W / stride)."""
        return self.net(x)


def backbone_stages(backbone: Backbone, images: Tensor) -> list[Tensor]:
    """The output of every stage of a Backbone (before each max pooling, and the last):
    [(N, widths[0], H, W), (N, widths[1], H / 2, W / 2), ...]; the last is backbone(images)."""
    stages, h = [], images
    for layer in backbone.net:
        if isinstance(layer, nn.MaxPool2d):
            stages.append(h)
        h = layer(h)
    return stages + [h]


class RPN(nn.Module):
    """The region proposal network (Sec. 3.1): a 3x3 convolution and ReLU, then per anchor one
    objectness logit and 4 deltas (1x1 convolutions).

    Args:
        in_channels: Backbone channels.
        num_anchors: A, anchors per feature cell.
        hidden: Channels of the 3x3 convolution.
    """

    def __init__(self, in_channels: int, num_anchors: int, hidden: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, hidden, 3, padding=1)
        self.objectness = nn.Conv2d(hidden, num_anchors, 1)
        self.deltas = nn.Conv2d(hidden, num_anchors * 4, 1)
        for layer in (self.conv, self.objectness, self.deltas):  # the paper's N(0, 0.01^2)
            nn.init.normal_(layer.weight, std=0.01)
            nn.init.zeros_(layer.bias)

    def forward(self, features: Tensor) -> tuple[Tensor, Tensor]:
        """(N, C, H, W) -> objectness logits (N, H*W*A) and deltas (N, H*W*A, 4), in
        grid_anchors' (i, j, a) order."""
        h = F.relu(self.conv(features))
        n = len(features)
        logits = self.objectness(h).permute(0, 2, 3, 1).reshape(n, -1)
        deltas = self.deltas(h).permute(0, 2, 3, 1).reshape(n, -1, 4)
        return logits, deltas


class RoIHead(nn.Module):
    """Fast R-CNN's head: a 1x1 convolution narrowing the shared features to pool_channels,
    RoI max pooling to pool x pool, two fully connected layers with ReLU, a (C + 1)-way
    classifier (0 is background) and class-specific deltas (4 per class).

    Args:
        in_channels: Backbone channels.
        pool_channels: Channels pooled (RoI pooling's cost grows with them).
        num_classes: C, object classes (background excluded).
        pool: Side of the pooled grid (7).
        hidden: Width of the fully connected layers.
        spatial_scale: Feature cells per image pixel.
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        pool: int,
        hidden: int,
        spatial_scale: float,
        pool_channels: int = 16,
    ) -> None:
        super().__init__()
        self.pool, self.spatial_scale, self.num_classes = pool, spatial_scale, num_classes
        self.reduce = nn.Sequential(nn.Conv2d(in_channels, pool_channels, 1), nn.ReLU(inplace=True))
        self.fc = nn.Sequential(
            nn.Flatten(),
            nn.Linear(pool_channels * pool * pool, hidden),
            nn.ReLU(inplace=True),
            nn.Linear(hidden, hidden),
            nn.ReLU(inplace=True),
        )
        self.cls = nn.Linear(hidden, num_classes + 1)
        self.deltas = nn.Linear(hidden, (num_classes + 1) * 4)
        nn.init.normal_(self.cls.weight, std=0.01)  # Fast R-CNN's initialisation
        nn.init.normal_(self.deltas.weight, std=0.001)
        nn.init.zeros_(self.cls.bias)
        nn.init.zeros_(self.deltas.bias)

    def forward(self, features: Tensor, rois: Tensor) -> tuple[Tensor, Tensor]:
        """Features (N, C, H, W), rois (K, 5) as (image index, x1, y1, x2, y2) -> class logits
        (K, C + 1) and deltas (K, C + 1, 4)."""
        pooled = roi_pool(self.reduce(features), rois, (self.pool, self.pool), self.spatial_scale)
        h = self.fc(pooled)
        return self.cls(h), self.deltas(h).view(len(rois), -1, 4)


class FasterRCNN(nn.Module):
    """Backbone, anchors, RPN, proposals, RoI pooling and the head; the four losses of
    approximate joint training.

    Args:
        image_size: Side of the square input (64).
        in_channels: Image channels.
        num_classes: C.
        widths: Backbone stage widths (3 stages: stride 4).
        anchor_sizes, aspect_ratios: Anchors per cell, len(sizes) * len(ratios).
        rpn_hidden: Channels of the RPN's 3x3 convolution.
        rpn_batch, rpn_positive_fraction: Anchors sampled per image (256) and their positive
            share (0.5).
        rpn_pos_iou, rpn_neg_iou: The RPN's thresholds (0.7, 0.3).
        pre_nms_top_n, post_nms_top_n: Proposals before and after NMS, (train, test).
        proposal_nms_iou: NMS among proposals (0.7).
        roi_batch, roi_positive_fraction: RoIs sampled per image for the head and their
            foreground share (0.25).
        fg_iou: Foreground RoI threshold (0.5).
        pool, pool_channels, head_hidden: RoI pooling's side and channels, the head's width.
        head_stage: The backbone stage the head pools (None: the last, the RPN's map, as the
            paper; 1: the stride-2 stage, whose cells are finer than the objects' edges).
        score_threshold, nms_iou, max_dets: Detection.
    """

    def __init__(
        self,
        image_size: int,
        in_channels: int,
        num_classes: int,
        widths: list[int] | None = None,
        anchor_sizes: tuple[float, ...] = (8.0, 12.0, 16.0),
        aspect_ratios: tuple[float, ...] = (0.5, 1.0, 2.0),
        rpn_hidden: int = 64,
        rpn_batch: int = 256,
        rpn_positive_fraction: float = 0.5,
        rpn_pos_iou: float = 0.7,
        rpn_neg_iou: float = 0.3,
        pre_nms_top_n: tuple[int, int] = (300, 200),
        post_nms_top_n: tuple[int, int] = (64, 32),
        proposal_nms_iou: float = 0.7,
        roi_batch: int = 16,
        roi_positive_fraction: float = 0.25,
        fg_iou: float = 0.5,
        pool: int = 7,
        pool_channels: int = 16,
        head_hidden: int = 256,
        head_stage: int | None = None,
        score_threshold: float = 0.01,
        nms_iou: float = 0.5,
        max_dets: int = 100,
    ) -> None:
        super().__init__()
        widths = widths or [16, 32, 64]
        self.image_size, self.num_classes = image_size, num_classes
        self.backbone = Backbone(in_channels, widths)
        stride = self.backbone.stride
        side = image_size // stride
        self.register_buffer(
            "anchors", grid_anchors((side, side), stride, anchor_sizes, aspect_ratios), False
        )
        num_anchors = len(anchor_sizes) * len(aspect_ratios)
        self.rpn = RPN(self.backbone.out_channels, num_anchors, rpn_hidden)
        self.head_stage = len(widths) - 1 if head_stage is None else head_stage
        assert 0 <= self.head_stage < len(widths), f"head_stage {head_stage}: 0..{len(widths) - 1}"
        self.head = RoIHead(
            widths[self.head_stage],
            num_classes,
            pool,
            head_hidden,
            1 / 2**self.head_stage,
            pool_channels,
        )
        self.rpn_batch, self.rpn_positive_fraction = rpn_batch, rpn_positive_fraction
        self.rpn_pos_iou, self.rpn_neg_iou = rpn_pos_iou, rpn_neg_iou
        self.pre_nms_top_n, self.post_nms_top_n = tuple(pre_nms_top_n), tuple(post_nms_top_n)
        self.proposal_nms_iou = proposal_nms_iou
        self.roi_batch, self.roi_positive_fraction, self.fg_iou = (
            roi_batch,
            roi_positive_fraction,
            fg_iou,
        )
        self.score_threshold, self.nms_iou, self.max_dets = score_threshold, nms_iou, max_dets

    # -------------------------------------------------------------------- proposals

    @torch.no_grad()
    def proposals(self, logits: Tensor, deltas: Tensor) -> list[Tensor]:
        """Per image, the RPN's proposals (P, 4) xyxy, best objectness first (Sec. 3.3)."""
        phase = 0 if self.training else 1
        pre, post = self.pre_nms_top_n[phase], self.post_nms_top_n[phase]
        out = []
        for n in range(len(logits)):
            scores, order = logits[n].topk(min(pre, len(self.anchors)))
            boxes = decode_boxes(deltas[n][order], self.anchors[order])
            boxes = clip_boxes(boxes, self.image_size, self.image_size)
            wh = boxes[:, 2:] - boxes[:, :2]
            keep = (wh >= 1).all(dim=1)  # drop boxes under a pixel a side
            boxes, scores = boxes[keep], scores[keep]
            keep = nms(boxes, scores, self.proposal_nms_iou)[:post]
            out.append(boxes[keep])
        return out

    # -------------------------------------------------------------------- losses

    def rpn_loss(
        self, logits: Tensor, deltas: Tensor, targets: list[dict[str, Tensor]]
    ) -> tuple[Tensor, Tensor]:
        """Eq. 1 of the paper over the sampled anchors: binary cross-entropy of the objectness
        (mean over the sampled anchors) and smooth L1 of the positives' deltas (summed over
        positives, divided by the number sampled)."""
        cls_terms, box_terms = [], []
        for n, target in enumerate(targets):
            gt_boxes, _ = real_objects(target)
            labels, matched = label_anchors(
                self.anchors, gt_boxes.to(self.anchors), self.rpn_pos_iou, self.rpn_neg_iou
            )
            labels = sample_labels(labels, self.rpn_batch, self.rpn_positive_fraction)
            sampled = labels >= 0
            count = max(int(sampled.sum()), 1)
            cls_terms.append(
                F.binary_cross_entropy_with_logits(
                    logits[n][sampled], labels[sampled].to(logits.dtype), reduction="sum"
                )
                / count
            )
            pos = labels == 1
            if pos.any():
                goal = encode_boxes(gt_boxes.to(deltas)[matched[pos]], self.anchors[pos])
                box_terms.append(
                    F.smooth_l1_loss(deltas[n][pos], goal, beta=1 / 9, reduction="sum") / count
                )
            else:
                box_terms.append(deltas[n].sum() * 0)
        return torch.stack(cls_terms).mean(), torch.stack(box_terms).mean()

    def sample_rois(
        self, proposals: list[Tensor], targets: list[dict[str, Tensor]]
    ) -> tuple[Tensor, Tensor, Tensor]:
        """The head's training RoIs (Fast R-CNN Sec. 2.3): per image the proposals and the
        ground-truth boxes, labelled with the class of the box of highest IoU (+1) when IoU >=
        fg_iou, else background 0; roi_batch sampled with up to roi_positive_fraction
        foreground.

        Returns:
            rois (K, 5), labels (K,) in 0..C, regression targets (K, 4) (zeros for background).
        """
        rois, labels, goals = [], [], []
        for n, (props, target) in enumerate(zip(proposals, targets)):
            gt_boxes, gt_labels = real_objects(target)
            gt_boxes = gt_boxes.to(props)
            boxes = torch.cat([props, gt_boxes])
            if len(gt_boxes):
                best, matched = box_iou(boxes, gt_boxes).max(dim=1)
                lab = torch.where(best >= self.fg_iou, gt_labels.to(boxes.device)[matched] + 1, 0)
            else:
                matched = torch.zeros(len(boxes), dtype=torch.int64)
                lab = torch.zeros(len(boxes), dtype=torch.int64)
            lab = sample_labels(lab, self.roi_batch, self.roi_positive_fraction)
            keep = lab >= 0
            boxes, lab, matched = boxes[keep], lab[keep], matched[keep]
            goal = torch.zeros_like(boxes)
            fg = lab > 0
            if fg.any():
                goal[fg] = encode_boxes(gt_boxes[matched[fg]], boxes[fg], HEAD_WEIGHTS)
            index = torch.full((len(boxes), 1), float(n), dtype=boxes.dtype)
            rois.append(torch.cat([index, boxes], dim=1))
            labels.append(lab)
            goals.append(goal)
        return torch.cat(rois), torch.cat(labels), torch.cat(goals)

    def head_loss(
        self, cls_logits: Tensor, deltas: Tensor, labels: Tensor, goals: Tensor
    ) -> tuple[Tensor, Tensor]:
        """Fast R-CNN's multi-task loss (its eq. 1): cross-entropy over C + 1 classes, and smooth
        L1 of the true class's deltas on foreground RoIs (divided by all RoIs, as Detectron)."""
        cls = F.cross_entropy(cls_logits, labels)
        fg = labels > 0
        picked = deltas[fg, labels[fg]]  # (F, 4) the deltas of each RoI's true class
        box = F.smooth_l1_loss(picked, goals[fg], beta=1.0, reduction="sum") / max(len(labels), 1)
        return cls, box

    # -------------------------------------------------------------------- detection

    @torch.no_grad()
    def detect(
        self, cls_logits: Tensor, deltas: Tensor, proposals: list[Tensor]
    ) -> list[dict[str, Tensor]]:
        """Per image: every (proposal, class) with softmax score >= score_threshold, its box
        decoded with that class's deltas and clipped, per-class NMS, the best max_dets."""
        probs = cls_logits.softmax(dim=1)[:, 1:]  # (K, C) without background
        out, start = [], 0
        for props in proposals:
            k = len(props)
            p, d = probs[start : start + k], deltas[start : start + k, 1:]  # (k, C), (k, C, 4)
            start += k
            idx, labels = (p >= self.score_threshold).nonzero(as_tuple=True)
            boxes = decode_boxes(d[idx, labels], props[idx], HEAD_WEIGHTS)
            boxes = clip_boxes(boxes, self.image_size, self.image_size)
            scores = p[idx, labels]
            keep = batched_nms(boxes, scores, labels, self.nms_iou)[: self.max_dets]
            out.append({"boxes": boxes[keep], "scores": scores[keep], "labels": labels[keep]})
        return out

    @staticmethod
    def rois_of(proposals: list[Tensor]) -> Tensor:
        """Per-image boxes -> (K, 5) rows (image index, x1, y1, x2, y2)."""
        return torch.cat(
            [
                torch.cat([torch.full((len(p), 1), float(n), dtype=p.dtype), p], dim=1)
                for n, p in enumerate(proposals)
            ]
        )

    def shared_maps(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """One backbone pass -> (the RPN's map (N, widths[-1], H / 4, W / 4), the head's map
        (N, widths[head_stage], H / 2^head_stage, W / 2^head_stage)); the same map by default."""
        stages = backbone_stages(self.backbone, images)
        return stages[-1], stages[self.head_stage]

    def predict(self, images: Tensor) -> list[dict[str, Tensor]]:
        """Detections of images (N, C, H, W) in [0, 1] (the model in eval mode)."""
        features, head_map = self.shared_maps(images)
        logits, deltas = self.rpn(features)
        proposals = self.proposals(logits, deltas)
        cls_logits, box_deltas = self.head(head_map, self.rois_of(proposals))
        return self.detect(cls_logits, box_deltas, proposals)

    def step(self, batch: Any) -> StepOutput:
        """The four losses (RPN objectness and boxes, head classes and boxes), summed; in
        evaluation also the detections, for mAP."""
        images, targets = batch
        features, head_map = self.shared_maps(images)
        logits, deltas = self.rpn(features)
        rpn_cls, rpn_box = self.rpn_loss(logits, deltas, targets)
        proposals = self.proposals(logits.detach(), deltas.detach())
        rois, labels, goals = self.sample_rois(proposals, targets)
        cls_logits, box_deltas = self.head(head_map, rois)
        head_cls, head_box = self.head_loss(cls_logits, box_deltas, labels, goals)
        terms = {"rpn_cls": rpn_cls, "rpn_box": rpn_box, "cls": head_cls, "box": head_box}
        loss = sum(terms.values())
        n = len(images)
        metrics = {f"loss_{k}": Mean(v.detach() * n, n) for k, v in terms.items()}
        outputs = None
        if not self.training:
            cls_all, deltas_all = self.head(head_map, self.rois_of(proposals))
            outputs = self.detect(cls_all, deltas_all, proposals)
        return StepOutput(loss, metrics, outputs=outputs)  # type: ignore[arg-type]

    def set_metrics(self) -> dict[str, MeanAveragePrecision]:
        """COCO-style box mAP over the evaluated set (map, map_50, map_75, mar_100)."""
        return {"map": MeanAveragePrecision("bbox", num_classes=self.num_classes)}


def detector_options(config: Any) -> dict[str, Any]:
    """FasterRCNN's keyword arguments from a config (its fields of the same names): the one
    place that maps them, for this model and for 27_mask_rcnn's subclass."""
    return dict(
        widths=config.widths,
        anchor_sizes=tuple(config.anchor_sizes),
        aspect_ratios=tuple(config.aspect_ratios),
        rpn_hidden=config.rpn_hidden,
        rpn_batch=config.rpn_batch,
        rpn_positive_fraction=config.rpn_positive_fraction,
        rpn_pos_iou=config.rpn_pos_iou,
        rpn_neg_iou=config.rpn_neg_iou,
        pre_nms_top_n=tuple(config.pre_nms_top_n),
        post_nms_top_n=tuple(config.post_nms_top_n),
        proposal_nms_iou=config.proposal_nms_iou,
        roi_batch=config.roi_batch,
        roi_positive_fraction=config.roi_positive_fraction,
        fg_iou=config.fg_iou,
        pool=config.pool,
        pool_channels=config.pool_channels,
        head_hidden=config.head_hidden,
        head_stage=config.head_stage,
        score_threshold=config.score_threshold,
        nms_iou=config.nms_iou,
        max_dets=config.max_dets,
    )


def create_model(config: Any, splits: Any) -> FasterRCNN:
    """Faster R-CNN for the canvases' shape and classes (the ModelSpec hook)."""
    c, h, w = splits.input_shape
    assert h == w, f"square canvases only, got {h}x{w}"
    return FasterRCNN(h, c, splits.num_classes, **detector_options(config))


def create_criterion(config: Any) -> None:
    """None: the model's step computes the losses."""
    return None
