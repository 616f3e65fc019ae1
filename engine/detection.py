"""Object detection by hand: boxes, IoU, box encoding, NMS, anchors and COCO-style mAP.

The plumbing every detector of Module 6 shares (Faster R-CNN, Mask R-CNN, YOLO, SSD, RetinaNet,
DETR: models 24-27). The papers' heads, losses and matching rules live in the model folders;
what is here is geometry, feature pooling (RoI pooling of Fast R-CNN, RoIAlign of Mask R-CNN,
shared by several detectors) and evaluation, written once and tested against oracles
(tests/engine/test_detection.py: brute-force NMS, F.grid_sample for RoIAlign, pycocotools'
COCOeval for mAP on boxes and masks).

Conventions (also in docs/engine.md, "Detection"):

- boxes are float (N, 4) as (x1, y1, x2, y2) in pixels, continuous coordinates: pixel column j
  covers [j, j + 1), so a box around columns 3..5 is x1 = 3, x2 = 6 and its width is x2 - x1.
  The area is (x2 - x1) * (y2 - y1), with no "+1" (COCO's convention since 2015);
- a target (one image) is a dict with "boxes" (K, 4), "labels" int64 (K,) and optionally
  "iscrowd" (K,) (crowd regions are ignored: matching one is neither a hit nor a miss), "area"
  (K,) (COCO's ann["area"], used only for the small/medium/large ranges; default: the mask's
  pixel count for masks, the box area for boxes) and "masks" (K, H, W) bool/uint8;
- a prediction (one image) is a dict with "boxes" (D, 4), "scores" (D,), "labels" int64 (D,)
  and, for mask mAP, "masks" (D, H, W) (binary: threshold soft masks first).

Public functions: box_convert, box_area, clip_boxes, box_iou, mask_iou, encode_boxes,
decode_boxes, nms, batched_nms, grid_anchors, roi_pool, roi_align, mean_average_precision
(-> DetectionEval with .stats, .precision, .pr_curve(), .per_class_ap()), and
MeanAveragePrecision, the same as a set metric of the Evaluator.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

# ---------------------------------------------------------------- boxes

BOX_FORMATS = ("xyxy", "xywh", "cxcywh")


def box_convert(boxes: Tensor, in_fmt: str, out_fmt: str) -> Tensor:
    """Convert boxes between corner and centre formats.

    Args:
        boxes: (..., 4) boxes.
        in_fmt, out_fmt: "xyxy" (corners), "xywh" (top-left corner and size, COCO's json
            format) or "cxcywh" (centre and size, YOLO's and DETR's).

    Returns:
        (..., 4) boxes in ``out_fmt``.
    """
    assert in_fmt in BOX_FORMATS and out_fmt in BOX_FORMATS, f"formats are {BOX_FORMATS}"
    a, b, c, d = boxes.unbind(-1)
    if in_fmt == "xywh":
        a, b, c, d = a, b, a + c, b + d
    elif in_fmt == "cxcywh":
        a, b, c, d = a - c / 2, b - d / 2, a + c / 2, b + d / 2
    # (a, b, c, d) are now x1, y1, x2, y2
    if out_fmt == "xywh":
        return torch.stack([a, b, c - a, d - b], dim=-1)
    if out_fmt == "cxcywh":
        return torch.stack([(a + c) / 2, (b + d) / 2, c - a, d - b], dim=-1)
    return torch.stack([a, b, c, d], dim=-1)


def box_area(boxes: Tensor) -> Tensor:
    """(N, 4) xyxy boxes -> (N,) areas (x2 - x1) * (y2 - y1); degenerate boxes give <= 0."""
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def box_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """Pairwise intersection over union of two sets of xyxy boxes.

    Args:
        boxes1: (N, 4).
        boxes2: (M, 4).

    Returns:
        (N, M): IoU[i, j] = |b1_i n b2_j| / |b1_i u b2_j|, 0 where the union is empty.
    """
    area1, area2 = box_area(boxes1), box_area(boxes2)
    top_left = torch.maximum(boxes1[:, None, :2], boxes2[None, :, :2])  # (N, M, 2)
    bottom_right = torch.minimum(boxes1[:, None, 2:], boxes2[None, :, 2:])  # (N, M, 2)
    wh = (bottom_right - top_left).clamp(min=0)  # (N, M, 2), 0 when disjoint
    inter = wh[..., 0] * wh[..., 1]  # (N, M)
    union = area1[:, None] + area2[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(inter))


def mask_iou(masks1: Tensor, masks2: Tensor) -> Tensor:
    """Pairwise IoU of two sets of binary masks (counted in pixels).

    Args:
        masks1: (N, H, W), bool or {0, 1}.
        masks2: (M, H, W).

    Returns:
        (N, M) float64 IoU, 0 where both masks are empty.
    """
    a = masks1.reshape(len(masks1), -1).to(torch.float64)  # (N, H*W)
    b = masks2.reshape(len(masks2), -1).to(torch.float64)  # (M, H*W)
    inter = a @ b.T  # (N, M) pixels in both
    union = a.sum(1)[:, None] + b.sum(1)[None, :] - inter
    return torch.where(union > 0, inter / union.clamp(min=1), torch.zeros_like(inter))


# ---------------------------------------------------------------- box encoding (Faster R-CNN)

# Largest log-scale a decoded box may take, log(1000 / 16) as in Faster R-CNN's implementation:
# an untrained regressor cannot blow a box up to exp(50) pixels.
BBOX_XFORM_CLIP = math.log(1000.0 / 16)


def encode_boxes(
    boxes: Tensor, reference: Tensor, weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0)
) -> Tensor:
    """Regression targets of ``boxes`` relative to ``reference`` boxes (anchors or proposals).

    The R-CNN parameterisation (Girshick et al. 2014, Appendix C; Ren et al. 2015, Eq. 2):
    tx = wx (x - xa) / wa, ty = wy (y - ya) / ha, tw = ww log(w / wa), th = wh log(h / ha), with
    (x, y) the centre and (w, h) the size. Faster R-CNN's box head uses weights (10, 10, 5, 5),
    its RPN (1, 1, 1, 1).

    Args:
        boxes: (N, 4) xyxy ground-truth boxes, one per reference box.
        reference: (N, 4) xyxy anchors or proposals, positive width and height.
        weights: (wx, wy, ww, wh).

    Returns:
        (N, 4) targets (tx, ty, tw, th).
    """
    wx, wy, ww, wh = weights
    ref = box_convert(reference, "xyxy", "cxcywh")  # (N, 4) centre and size
    box = box_convert(boxes, "xyxy", "cxcywh")
    tx = wx * (box[:, 0] - ref[:, 0]) / ref[:, 2]
    ty = wy * (box[:, 1] - ref[:, 1]) / ref[:, 3]
    tw = ww * torch.log(box[:, 2] / ref[:, 2])
    th = wh * torch.log(box[:, 3] / ref[:, 3])
    return torch.stack([tx, ty, tw, th], dim=1)


def decode_boxes(
    deltas: Tensor,
    reference: Tensor,
    weights: Sequence[float] = (1.0, 1.0, 1.0, 1.0),
    clip: float = BBOX_XFORM_CLIP,
) -> Tensor:
    """Boxes from regression outputs: the inverse of encode_boxes.

    Args:
        deltas: (N, 4) predicted (tx, ty, tw, th).
        reference: (N, 4) xyxy anchors or proposals.
        weights: The weights used for encoding.
        clip: Upper bound on tw / ww and th / wh before exp (see BBOX_XFORM_CLIP).

    Returns:
        (N, 4) xyxy boxes.
    """
    wx, wy, ww, wh = weights
    ref = box_convert(reference, "xyxy", "cxcywh")  # (N, 4)
    cx = deltas[:, 0] / wx * ref[:, 2] + ref[:, 0]
    cy = deltas[:, 1] / wy * ref[:, 3] + ref[:, 1]
    w = torch.exp((deltas[:, 2] / ww).clamp(max=clip)) * ref[:, 2]
    h = torch.exp((deltas[:, 3] / wh).clamp(max=clip)) * ref[:, 3]
    return box_convert(torch.stack([cx, cy, w, h], dim=1), "cxcywh", "xyxy")


def clip_boxes(boxes: Tensor, height: int, width: int) -> Tensor:
    """Clamp xyxy boxes (N, 4) to the image [0, width] x [0, height]."""
    x = boxes[:, 0::2].clamp(0, width)  # (N, 2): x1, x2
    y = boxes[:, 1::2].clamp(0, height)
    return torch.stack([x[:, 0], y[:, 0], x[:, 1], y[:, 1]], dim=1)


# ---------------------------------------------------------------- non-maximum suppression


def nms(boxes: Tensor, scores: Tensor, iou_threshold: float) -> Tensor:
    """Greedy non-maximum suppression.

    Visit boxes by decreasing score (ties: the earlier index first); keep a box unless it
    overlaps an already kept box with IoU > iou_threshold. The IoU matrix is computed once, so
    this is O(N^2) memory: fine for the few thousand boxes of a 64x64 canvas.

    Args:
        boxes: (N, 4) xyxy.
        scores: (N,).
        iou_threshold: Suppress boxes whose IoU with a kept box is above this.

    Returns:
        int64 indices of the kept boxes, by decreasing score.
    """
    order = torch.sort(scores, descending=True, stable=True).indices  # (N,)
    iou = box_iou(boxes[order], boxes[order])  # (N, N) in visiting order
    # the greedy loop on NumPy arrays: a tensor's per-element indexing costs microseconds
    overlaps = (iou > iou_threshold).numpy()  # (N, N) bool
    suppressed = np.zeros(len(order), dtype=bool)
    keep = []
    for i in range(len(order)):
        if suppressed[i]:
            continue
        keep.append(i)
        suppressed |= overlaps[i]  # boxes after i that overlap it (and i itself)
    return order[torch.tensor(keep, dtype=torch.int64)]


def batched_nms(boxes: Tensor, scores: Tensor, labels: Tensor, iou_threshold: float) -> Tensor:
    """NMS within each class: boxes of different labels never suppress each other.

    Each class's boxes are shifted by label * (largest coordinate + 1) so that boxes of two
    classes cannot overlap; one NMS over the shifted boxes then equals one NMS per class.

    Args:
        boxes: (N, 4) xyxy.
        scores: (N,).
        labels: int64 (N,).
        iou_threshold: As in nms.

    Returns:
        int64 indices of the kept boxes, by decreasing score.
    """
    if boxes.numel() == 0:
        return torch.zeros(0, dtype=torch.int64)
    offset = labels.to(boxes.dtype)[:, None] * (boxes.max() - boxes.min() + 1)  # (N, 1)
    return nms(boxes + offset, scores, iou_threshold)


# ---------------------------------------------------------------- anchors


def grid_anchors(
    feature_size: tuple[int, int],
    stride: int | tuple[int, int],
    sizes: Sequence[float],
    aspect_ratios: Sequence[float] = (0.5, 1.0, 2.0),
) -> Tensor:
    """Anchor boxes of every size and aspect ratio, centred on every cell of a feature grid.

    Cell (i, j) of an (H, W) feature map sees the image around ((j + 0.5) * stride_x,
    (i + 0.5) * stride_y): anchors are centred there (Faster R-CNN, Sec. 3.1.1). An anchor of
    size s and ratio r = h / w has w = s / sqrt(r), h = s * sqrt(r): area s^2 for every ratio.

    Args:
        feature_size: (H, W) of the feature map.
        stride: Image pixels per feature cell, one int or (stride_y, stride_x).
        sizes: Anchor sizes in pixels (square root of the area).
        aspect_ratios: Ratios h / w.

    Returns:
        (H * W * A, 4) xyxy anchors, A = len(sizes) * len(aspect_ratios), ordered (i, j, a):
        a head's output (B, A * k, H, W) matches after .permute(0, 2, 3, 1).reshape(B, -1, k);
        within a cell, a = ratio index * len(sizes) + size index.
    """
    height, width = feature_size
    sy, sx = (stride, stride) if isinstance(stride, int) else stride
    ratios = torch.tensor(aspect_ratios, dtype=torch.float32)[:, None]  # (R, 1)
    scales = torch.tensor(sizes, dtype=torch.float32)[None, :]  # (1, S)
    ws = (scales / ratios.sqrt()).reshape(-1)  # (R * S,)
    hs = (scales * ratios.sqrt()).reshape(-1)
    base = torch.stack([-ws, -hs, ws, hs], dim=1) / 2  # (A, 4) centred on (0, 0)
    cy = (torch.arange(height, dtype=torch.float32) + 0.5) * sy  # (H,)
    cx = (torch.arange(width, dtype=torch.float32) + 0.5) * sx  # (W,)
    yy, xx = torch.meshgrid(cy, cx, indexing="ij")  # (H, W) each
    centres = torch.stack([xx, yy, xx, yy], dim=-1).reshape(-1, 1, 4)  # (H*W, 1, 4)
    return (centres + base[None]).reshape(-1, 4)  # (H*W, A, 4) -> (H*W*A, 4)


# ---------------------------------------------------------------- RoI pooling and RoIAlign


def _roi_boxes(rois: Tensor) -> tuple[Tensor, Tensor]:
    """(K, 5) rows (batch index, x1, y1, x2, y2) -> batch indices int64 (K,), boxes (K, 4)."""
    assert rois.dim() == 2 and rois.shape[1] == 5, "rois are (K, 5): (batch index, x1, y1, x2, y2)"
    return rois[:, 0].long(), rois[:, 1:]


def roi_pool(
    features: Tensor, rois: Tensor, output_size: tuple[int, int], spatial_scale: float
) -> Tensor:
    """RoI max pooling (Fast R-CNN, Girshick 2015, Sec. 2.1): each box to a fixed (ph, pw) grid.

    The box is scaled to the feature map and rounded to whole cells (halves away from zero, as
    the Caffe layer's C round(); the quantisation RoIAlign removes); its (h, w) cells,
    h = y2 - y1 + 1, are divided into ph x pw bins, bin i covering rows floor(i h / ph) ..
    ceil((i + 1) h / ph) - 1 from y1, clipped to the map; each bin takes the maximum of its
    cells, 0 for a bin that falls outside the map.

    Those bins are exactly adaptive max pooling's on the (h, w) crop, so the crops, cut from
    the map padded with the dtype's lowest value, are pooled by F.adaptive_max_pool2d, one
    call per crop size. The gradient goes to each bin's maximum (the first one on a tie).

    Args:
        features: (B, C, H, W) feature maps.
        rois: (K, 5) boxes as (batch index, x1, y1, x2, y2) in image pixels.
        output_size: (ph, pw), e.g. (7, 7).
        spatial_scale: Feature cells per image pixel (1 / stride).

    Returns:
        (K, C, ph, pw). Memory: the crops, K * C * h * w elements at most.
    """
    height, width = features.shape[-2:]
    ph, pw = output_size
    index, boxes = _roi_boxes(rois)
    scaled = boxes * spatial_scale
    q = (scaled.sign() * (scaled.abs() + 0.5).floor()).long()  # (K, 4) cells, C's round()
    q[:, 2] = torch.maximum(q[:, 2], q[:, 0])  # h, w = y2 - y1 + 1 at least 1
    q[:, 3] = torch.maximum(q[:, 3], q[:, 1])
    out = features.new_zeros(len(rois), features.shape[1], ph, pw)  # (K, C, ph, pw)
    if len(rois) == 0:
        return out
    # pad the map so that every crop lies inside: (B, C, H, W) -> (B, Hp, Wp, C)
    lo = int(max(0, -int(q[:, :2].min())))
    hi_y = int(max(0, int(q[:, 3].max()) + 1 - height))
    hi_x = int(max(0, int(q[:, 2].max()) + 1 - width))
    low = torch.finfo(features.dtype).min
    padded = F.pad(features, (lo, hi_x, lo, hi_y), value=low).permute(0, 2, 3, 1)
    sizes = torch.stack([q[:, 3] - q[:, 1] + 1, q[:, 2] - q[:, 0] + 1], dim=1)  # (K, 2) h, w
    for h, w in torch.unique(sizes, dim=0).tolist():
        group = ((sizes[:, 0] == h) & (sizes[:, 1] == w)).nonzero().squeeze(1)  # (n,)
        ys = q[group, 1, None] + lo + torch.arange(h)  # (n, h)
        xs = q[group, 0, None] + lo + torch.arange(w)  # (n, w)
        # (n, h, w, C) -> (n, C, h, w) -> (n, C, ph, pw)
        crops = padded[index[group, None, None], ys[:, :, None], xs[:, None, :]]
        out[group] = F.adaptive_max_pool2d(crops.permute(0, 3, 1, 2), (ph, pw))
    # a bin whose rows or columns all fall outside the map is 0 (its maximum is `low`)
    i = torch.arange(ph, dtype=torch.float64)
    j = torch.arange(pw, dtype=torch.float64)
    h_k, w_k = sizes[:, 0:1].double(), sizes[:, 1:2].double()  # (K, 1)
    r_lo = torch.floor(i * h_k / ph).long() + q[:, 1:2]  # (K, ph)
    r_hi = torch.ceil((i + 1) * h_k / ph).long() + q[:, 1:2]
    c_lo = torch.floor(j * w_k / pw).long() + q[:, 0:1]  # (K, pw)
    c_hi = torch.ceil((j + 1) * w_k / pw).long() + q[:, 0:1]
    rows_in = r_hi.clamp(0, height) > r_lo.clamp(0, height)  # (K, ph)
    cols_in = c_hi.clamp(0, width) > c_lo.clamp(0, width)  # (K, pw)
    empty = ~(rows_in[:, :, None] & cols_in[:, None, :])  # (K, ph, pw)
    return out.masked_fill(empty[:, None], 0.0)


def roi_align(
    features: Tensor,
    rois: Tensor,
    output_size: tuple[int, int],
    spatial_scale: float,
    sampling_ratio: int = 2,
    aligned: bool = True,
) -> Tensor:
    """RoIAlign (Mask R-CNN, He et al. 2017, Sec. 3): bilinear samples, no rounding.

    The box, scaled to the feature map (minus half a cell when ``aligned``, so that a box's
    continuous coordinates meet the cell centres: feature cell j's centre is at j + 0.5 in
    box coordinates), is divided into ph x pw bins; each bin averages sampling_ratio^2 bilinear
    samples at regularly spaced points. A sample more than one cell outside the map is 0; one
    within a cell of the border reads the border (Detectron's convention). Differentiable with
    respect to the features.

    Args:
        features: (B, C, H, W) feature maps.
        rois: (K, 5) boxes as (batch index, x1, y1, x2, y2) in image pixels.
        output_size: (ph, pw), e.g. (7, 7), or (14, 14) for Mask R-CNN's mask head.
        spatial_scale: Feature cells per image pixel (1 / stride).
        sampling_ratio: Samples per bin along each axis (fixed: Detectron's adaptive choice,
            ceil(bin size), would make the sample count differ between boxes).
        aligned: Shift by half a cell (the corrected RoIAlign of Detectron2); False is the
            paper's original, half a cell off.

    Returns:
        (K, C, ph, pw).
    """
    height, width = features.shape[-2:]
    ph, pw = output_size
    n = sampling_ratio
    index, boxes = _roi_boxes(rois)
    b = boxes * spatial_scale - (0.5 if aligned else 0.0)  # (K, 4) in cell-centre coordinates
    roi_w, roi_h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    if not aligned:  # the original forces boxes of at least one cell
        roi_w, roi_h = roi_w.clamp(min=1), roi_h.clamp(min=1)
    # sample points: bin i, sample s at y1 + (i + (s + 0.5) / n) * roi_h / ph
    steps_y = (torch.arange(ph * n, dtype=b.dtype) + 0.5) / (ph * n)  # (ph*n,) in (0, 1)
    steps_x = (torch.arange(pw * n, dtype=b.dtype) + 0.5) / (pw * n)
    ys = b[:, 1:2] + steps_y[None] * roi_h[:, None]  # (K, ph*n)
    xs = b[:, 0:1] + steps_x[None] * roi_w[:, None]  # (K, pw*n)
    y = ys[:, :, None].expand(-1, -1, pw * n)  # (K, ph*n, pw*n)
    x = xs[:, None, :].expand(-1, ph * n, -1)
    inside = (y >= -1) & (y <= height) & (x >= -1) & (x <= width)
    y, x = y.clamp(min=0), x.clamp(min=0)
    y0, x0 = y.floor().long(), x.floor().long()
    at_bottom, at_right = y0 >= height - 1, x0 >= width - 1  # no cell below / right: read edge
    y0, x0 = y0.clamp(max=height - 1), x0.clamp(max=width - 1)
    y = torch.where(at_bottom, y0.to(y.dtype), y)
    x = torch.where(at_right, x0.to(x.dtype), x)
    y1, x1 = (y0 + 1).clamp(max=height - 1), (x0 + 1).clamp(max=width - 1)
    ly, lx = y - y0, x - x0  # (K, ph*n, pw*n) fractional parts
    channels_last = features.permute(0, 2, 3, 1)  # (B, C, H, W) -> (B, H, W, C)
    image = index[:, None, None]  # (K, 1, 1): each box reads its own image's map

    def at(yy: Tensor, xx: Tensor) -> Tensor:  # (K, ph*n, pw*n) indices -> (K, ph*n, pw*n, C)
        return channels_last[image, yy, xx]

    value = (
        at(y0, x0) * ((1 - ly) * (1 - lx))[..., None]
        + at(y0, x1) * ((1 - ly) * lx)[..., None]
        + at(y1, x0) * (ly * (1 - lx))[..., None]
        + at(y1, x1) * (ly * lx)[..., None]
    )  # (K, ph*n, pw*n, C)
    value = value * inside[..., None]
    value = value.reshape(len(rois), ph, n, pw, n, -1)  # split each axis into (bin, sample)
    return value.mean(dim=(2, 4)).permute(0, 3, 1, 2)  # (K, ph, pw, C) -> (K, C, ph, pw)


# ---------------------------------------------------------------- mean average precision

# COCO's defaults (pycocotools cocoeval.Params), built the same way so that thresholds compare
# bit for bit: IoU 0.50:0.05:0.95, recall 0:0.01:1 (101 points), areas in pixels^2.
COCO_IOU_THRESHOLDS = np.linspace(0.5, 0.95, int(np.round((0.95 - 0.5) / 0.05)) + 1, endpoint=True)
COCO_RECALL_THRESHOLDS = np.linspace(0.0, 1.0, int(np.round((1.0 - 0.0) / 0.01)) + 1, endpoint=True)
COCO_AREA_RANGES = {
    "all": (0.0, 1e5**2),
    "small": (0.0, 32.0**2),
    "medium": (32.0**2, 96.0**2),
    "large": (96.0**2, 1e5**2),
}
COCO_MAX_DETS = (1, 10, 100)


def _numpy(value: Any, dtype: Any = np.float64) -> np.ndarray:
    if isinstance(value, Tensor):
        value = value.detach().cpu()
        if value.dtype in (torch.float16, torch.bfloat16):
            value = value.float()  # NumPy has no bfloat16
        value = value.numpy()
    return np.asarray(value, dtype=dtype)


@dataclass
class _Objects:
    """One image's objects of one class, as flat arrays (ground truth or detections)."""

    boxes: np.ndarray  # (K, 4) xyxy float64
    area: np.ndarray  # (K,) float64
    masks: np.ndarray | None  # (K, H*W) bool, for iou_type "segm"
    scores: np.ndarray | None = None  # (K,) detections only
    iscrowd: np.ndarray | None = None  # (K,) bool, ground truth only


def _split_by_class(item: Mapping[str, Any], iou_type: str, is_target: bool) -> dict[int, _Objects]:
    boxes = _numpy(item["boxes"]).reshape(-1, 4)
    labels = _numpy(item["labels"], np.int64).reshape(-1)
    masks = None
    if iou_type == "segm":
        assert "masks" in item, "iou_type='segm' needs 'masks' (K, H, W) in every item"
        raw = _numpy(item["masks"]).reshape(len(labels), -1)  # (K, H*W)
        assert np.isin(
            raw, (0.0, 1.0)
        ).all(), "masks must be binary for mask mAP: threshold soft masks first (e.g. masks > 0.5)"
        masks = raw.astype(bool)
    if is_target:
        iscrowd = _numpy(item.get("iscrowd", np.zeros(len(labels))), bool).reshape(-1)
        if "area" in item:
            area = _numpy(item["area"]).reshape(-1)
        elif masks is not None:
            area = masks.sum(1).astype(np.float64)
        else:
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        scores = None
    else:
        iscrowd = None
        scores = _numpy(item["scores"]).reshape(-1)
        # detections: like pycocotools' loadRes, box area for boxes, pixel count for masks
        if masks is not None:
            area = masks.sum(1).astype(np.float64)
        else:
            area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    out = {}
    for label in np.unique(labels):
        sel = labels == label
        out[int(label)] = _Objects(
            boxes=boxes[sel],
            area=area[sel],
            masks=None if masks is None else masks[sel],
            scores=None if scores is None else scores[sel],
            iscrowd=None if iscrowd is None else iscrowd[sel],
        )
    return out


def _iou_matrix(dt: _Objects, gt: _Objects, iou_type: str) -> np.ndarray:
    """(D, G) IoU; against a crowd region it is |d n g| / |d| (COCO: how much of d is crowd)."""
    if iou_type == "segm":
        assert dt.masks is not None and gt.masks is not None
        d, g = dt.masks.astype(np.float64), gt.masks.astype(np.float64)
        inter = d @ g.T  # (D, G)
        d_area, g_area = d.sum(1), g.sum(1)
    else:
        top_left = np.maximum(dt.boxes[:, None, :2], gt.boxes[None, :, :2])  # (D, G, 2)
        bottom_right = np.minimum(dt.boxes[:, None, 2:], gt.boxes[None, :, 2:])
        wh = np.clip(bottom_right - top_left, 0, None)
        inter = wh[..., 0] * wh[..., 1]
        d_area = (dt.boxes[:, 2] - dt.boxes[:, 0]) * (dt.boxes[:, 3] - dt.boxes[:, 1])
        g_area = (gt.boxes[:, 2] - gt.boxes[:, 0]) * (gt.boxes[:, 3] - gt.boxes[:, 1])
    assert gt.iscrowd is not None
    union = np.where(
        gt.iscrowd[None, :], d_area[:, None], d_area[:, None] + g_area[None, :] - inter
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


@dataclass
class _ImageEval:
    """Matches of one (image, class, area range): what COCOeval.evaluateImg returns."""

    scores: np.ndarray  # (D,) detections by decreasing score, at most max(max_dets)
    matched: np.ndarray  # (T, D) bool: detection matched a ground truth at threshold t
    ignored: np.ndarray  # (T, D) bool: matched a crowd / out-of-range object, or out of range
    gt_ignored: np.ndarray  # (G,) bool


def _match(
    dt: _Objects | None,
    gt: _Objects | None,
    iou: np.ndarray | None,
    area_range: tuple[float, float],
    iou_thresholds: np.ndarray,
) -> _ImageEval:
    """Greedy matching of score-sorted detections to ground truth at every IoU threshold.

    Each detection, best score first, takes the unmatched ground truth it overlaps most (IoU >=
    t); crowd regions can absorb any number of detections. Ground truth outside the area range
    or crowd is "ignored": a detection matched to it counts neither way, and a detection only
    falls back to it when no regular object qualifies (COCOeval.evaluateImg, line for line).
    """
    num_t = len(iou_thresholds)
    lo, hi = area_range
    if gt is None:
        gt_ignored = np.zeros(0, dtype=bool)
        crowd = np.zeros(0, dtype=bool)
    else:
        assert gt.iscrowd is not None
        gt_ignored = gt.iscrowd | (gt.area < lo) | (gt.area > hi)
        crowd = gt.iscrowd
    gt_order = np.argsort(gt_ignored, kind="mergesort")  # regular objects first
    gt_ignored, crowd = gt_ignored[gt_order], crowd[gt_order]
    num_d = 0 if dt is None else len(dt.area)
    scores = np.zeros(0) if dt is None else dt.scores
    assert scores is not None
    matched = np.zeros((num_t, num_d), dtype=bool)
    ignored = np.zeros((num_t, num_d), dtype=bool)
    if iou is not None and num_d > 0 and len(gt_order) > 0:
        ious = iou[:, gt_order].tolist()  # (D, G), python floats: the loops below are scalar
        ign = gt_ignored.tolist()
        is_crowd = crowd.tolist()
        for t, threshold in enumerate(iou_thresholds):
            gt_taken = [False] * len(ign)
            for d in range(num_d):
                best = min(threshold, 1 - 1e-10)
                m = -1
                for g in range(len(ign)):
                    if gt_taken[g] and not is_crowd[g]:
                        continue
                    if m > -1 and not ign[m] and ign[g]:
                        break  # a regular match beats any ignored object after it
                    if ious[d][g] < best:
                        continue
                    best, m = ious[d][g], g
                if m == -1:
                    continue
                ignored[t, d] = ign[m]
                matched[t, d] = True
                gt_taken[m] = True
    if dt is not None:
        out_of_range = (dt.area < lo) | (dt.area > hi)  # (D,)
        ignored |= ~matched & out_of_range[None, :]
    return _ImageEval(scores=scores, matched=matched, ignored=ignored, gt_ignored=gt_ignored)


@dataclass
class DetectionEval:
    """COCO-style evaluation results (the arrays of COCOeval.accumulate, and its summary).

    Attributes:
        stats: The 12 numbers of COCOeval.summarize by name: "map" (AP at IoU .50:.05:.95),
            "map_50", "map_75", "map_small", "map_medium", "map_large", "mar_1", "mar_10",
            "mar_100" (recall with at most 1, 10, 100 detections per image), "mar_small",
            "mar_medium", "mar_large". -1 where nothing could be measured (no ground truth
            in that area range), as COCO prints it. Non-default thresholds, areas or max_dets
            give the entries that exist.
        precision: (T, R, K, A, M) interpolated precision at each IoU threshold, recall
            threshold, class, area range and max_dets; -1 for classes without ground truth.
        recall: (T, K, A, M) recall reached.
        scores: (T, R, K, A, M) the score at which each precision was reached.
        iou_thresholds: (T,).
        recall_thresholds: (R,).
        labels: The K class indices, in order.
        area_names: The A area range names, in order ("all" first).
        max_dets: The M limits on detections per image.
    """

    stats: dict[str, float]
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    iou_thresholds: np.ndarray
    recall_thresholds: np.ndarray
    labels: list[int]
    area_names: list[str]
    max_dets: list[int]

    @property
    def _all(self) -> int:
        """Index of the area range "all" (else the first range)."""
        return self.area_names.index("all") if "all" in self.area_names else 0

    def _t(self, iou_threshold: float | None) -> slice | int:
        if iou_threshold is None:
            return slice(None)
        hits = np.flatnonzero(np.isclose(self.iou_thresholds, iou_threshold))
        assert len(hits) == 1, f"IoU {iou_threshold} is not one of {self.iou_thresholds}"
        return int(hits[0])

    def per_class_ap(self, iou_threshold: float | None = None) -> dict[int, float]:
        """AP of each class with ground truth (area "all", the largest max_dets).

        Args:
            iou_threshold: One of iou_thresholds, or None for the mean over all of them.
        """
        p = self.precision[self._t(iou_threshold), ..., self._all, -1]  # ([T,] R, K)
        p = p.reshape(-1, p.shape[-1])  # (T*R or R, K)
        out = {}
        for k, label in enumerate(self.labels):
            valid = p[:, k][p[:, k] > -1]
            if len(valid):
                out[label] = float(valid.mean())
        return out

    def pr_curve(
        self, iou_threshold: float = 0.5, label: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """The interpolated precision-recall curve COCO integrates (area "all", largest max_dets).

        Args:
            iou_threshold: One of iou_thresholds.
            label: A class index, or None for the mean over classes with ground truth.

        Returns:
            (recall_thresholds (R,), precision (R,)); the area under it, mean(precision), is
            that class's (or the mean) AP at this threshold.
        """
        p = self.precision[self._t(iou_threshold), :, :, self._all, -1]  # (R, K)
        if label is not None:
            k = self.labels.index(label)
            return self.recall_thresholds, p[:, k]
        valid = (p > -1).all(axis=0)  # classes with ground truth
        curve = p[:, valid].mean(axis=1) if valid.any() else np.full(len(p), -1.0)
        return self.recall_thresholds, curve


def mean_average_precision(
    predictions: Sequence[Mapping[str, Any]],
    targets: Sequence[Mapping[str, Any]],
    *,
    iou_type: str = "bbox",
    num_classes: int | None = None,
    iou_thresholds: Sequence[float] | None = None,
    area_ranges: Mapping[str, tuple[float, float]] | None = None,
    max_dets: Sequence[int] = COCO_MAX_DETS,
) -> DetectionEval:
    """COCO-style mean average precision for boxes or masks (pycocotools' COCOeval, by hand).

    Per class and image, detections (best score first, at most max(max_dets)) are matched
    greedily to ground truth at each IoU threshold; crowd objects and objects outside the area
    range are ignored. Per class, all images' detections are ranked by score; precision is made
    monotone (the best precision at any higher recall) and read at 101 recall points; AP is its
    mean, and mAP the mean over classes that have ground truth and thresholds. Matches
    COCOeval's numbers to 1e-6 (tests/engine/test_detection.py, boxes and masks).

    Args:
        predictions: One dict per image: "boxes" (D, 4) xyxy, "scores" (D,), "labels" (D,),
            and "masks" (D, H, W) binary for iou_type "segm".
        targets: One dict per image, same order: "boxes" (K, 4), "labels" (K,), optional
            "iscrowd" (K,), "area" (K,), and "masks" (K, H, W) for "segm".
        iou_type: "bbox" (box IoU) or "segm" (mask IoU).
        num_classes: Classes 0..num_classes-1; None: the labels seen. Classes without ground
            truth never count (their precision is -1).
        iou_thresholds: Default 0.50:0.05:0.95; e.g. (0.5,) for PASCAL-style AP50 alone.
        area_ranges: Name -> (min, max) area in pixels^2; default COCO's all/small/medium/large.
            The curves and per-class AP read the range "all" (else the first one).
        max_dets: Limits on detections per image for recall (AP uses the largest).

    Returns:
        A DetectionEval: .stats (COCO's 12 numbers by name), .precision, .recall, .pr_curve().
    """
    assert iou_type in ("bbox", "segm"), f"iou_type is 'bbox' or 'segm', got {iou_type!r}"
    assert len(predictions) == len(targets), (
        f"{len(predictions)} predictions for {len(targets)} images: give one dict per image, "
        "in the same order"
    )
    thresholds = COCO_IOU_THRESHOLDS if iou_thresholds is None else np.asarray(iou_thresholds)
    areas = dict(COCO_AREA_RANGES if area_ranges is None else area_ranges)
    max_dets = sorted(int(m) for m in max_dets)
    recall_thresholds = COCO_RECALL_THRESHOLDS

    gts = [_split_by_class(t, iou_type, is_target=True) for t in targets]
    dts = [_split_by_class(p, iou_type, is_target=False) for p in predictions]
    if num_classes is None:
        labels = sorted({k for per in gts + dts for k in per})
    else:
        labels = list(range(num_classes))
    # keep each image's best max(max_dets) detections per class, by score (stable)
    for per in dts:
        for label, objects in per.items():
            assert objects.scores is not None
            order = np.argsort(-objects.scores, kind="mergesort")[: max_dets[-1]]
            per[label] = _Objects(
                boxes=objects.boxes[order],
                area=objects.area[order],
                masks=None if objects.masks is None else objects.masks[order],
                scores=objects.scores[order],
            )

    num_t, num_r, num_k = len(thresholds), len(recall_thresholds), len(labels)
    num_a, num_m = len(areas), len(max_dets)
    precision = -np.ones((num_t, num_r, num_k, num_a, num_m))
    recall = -np.ones((num_t, num_k, num_a, num_m))
    score_at = -np.ones((num_t, num_r, num_k, num_a, num_m))
    for k, label in enumerate(labels):
        pairs = []  # (dt, gt, iou) of the images where this class appears
        for gt_per, dt_per in zip(gts, dts):
            gt, dt = gt_per.get(label), dt_per.get(label)
            if gt is None and dt is None:
                continue  # COCOeval skips images without this class entirely
            iou = _iou_matrix(dt, gt, iou_type) if gt is not None and dt is not None else None
            pairs.append((dt, gt, iou))
        for a, area_range in enumerate(areas.values()):
            evals = [_match(dt, gt, iou, area_range, thresholds) for dt, gt, iou in pairs]
            gt_ignored = np.concatenate([e.gt_ignored for e in evals] + [np.zeros(0, bool)])
            num_positive = int((~gt_ignored).sum())
            if num_positive == 0:
                continue
            for m, max_det in enumerate(max_dets):
                scores = np.concatenate([e.scores[:max_det] for e in evals] + [np.zeros(0)])
                order = np.argsort(-scores, kind="mergesort")  # (N,) all images, ranked
                hit = np.concatenate(
                    [e.matched[:, :max_det] for e in evals] + [np.zeros((num_t, 0), bool)], 1
                )[:, order]
                ign = np.concatenate(
                    [e.ignored[:, :max_det] for e in evals] + [np.zeros((num_t, 0), bool)], 1
                )[:, order]
                tp = np.cumsum(hit & ~ign, axis=1).astype(np.float64)  # (T, N)
                fp = np.cumsum(~hit & ~ign, axis=1).astype(np.float64)
                n = tp.shape[1]
                for t in range(num_t):
                    rc = tp[t] / num_positive
                    pr = tp[t] / (fp[t] + tp[t] + np.spacing(1))
                    recall[t, k, a, m] = rc[-1] if n else 0.0
                    # the best precision at this or any higher recall: a monotone envelope
                    pr = np.maximum.accumulate(pr[::-1])[::-1]
                    idx = np.searchsorted(rc, recall_thresholds, side="left")  # (R,)
                    valid = idx < n
                    q, s = np.zeros(num_r), np.zeros(num_r)
                    q[valid] = pr[idx[valid]]
                    s[valid] = scores[order][idx[valid]]
                    precision[t, :, k, a, m] = q
                    score_at[t, :, k, a, m] = s

    stats = _summarize(precision, recall, thresholds, list(areas), max_dets)
    return DetectionEval(
        stats=stats,
        precision=precision,
        recall=recall,
        scores=score_at,
        iou_thresholds=thresholds,
        recall_thresholds=recall_thresholds,
        labels=labels,
        area_names=list(areas),
        max_dets=max_dets,
    )


def _summarize(
    precision: np.ndarray,
    recall: np.ndarray,
    thresholds: np.ndarray,
    area_names: list[str],
    max_dets: list[int],
) -> dict[str, float]:
    """COCOeval.summarize's numbers: means over the entries > -1, -1 when there are none."""

    def mean(values: np.ndarray) -> float:
        valid = values[values > -1]
        return float(valid.mean()) if len(valid) else -1.0

    stats: dict[str, float] = {}
    big = len(max_dets) - 1
    if "all" in area_names:
        a = area_names.index("all")
        stats["map"] = mean(precision[:, :, :, a, big])
        for name, iou in (("map_50", 0.5), ("map_75", 0.75)):
            hits = np.flatnonzero(np.isclose(thresholds, iou))
            if len(hits):
                stats[name] = mean(precision[hits[0], :, :, a, big])
    for name in ("small", "medium", "large"):
        if name in area_names:
            stats[f"map_{name}"] = mean(precision[:, :, :, area_names.index(name), big])
    if "all" in area_names:
        for m, max_det in enumerate(max_dets):
            stats[f"mar_{max_det}"] = mean(recall[:, :, area_names.index("all"), m])
    for name in ("small", "medium", "large"):
        if name in area_names:
            stats[f"mar_{name}"] = mean(recall[:, :, area_names.index(name), big])
    return stats


class MeanAveragePrecision:
    """mean_average_precision as a SetMetric of the Evaluator (engine/steps.py).

    A detector lists ``{"map": MeanAveragePrecision()}`` in its ``set_metrics()`` and returns its
    per-image prediction dicts as the step's ``outputs``; batches are ``(x, [target, ...])``
    (ListTargetLoader). Predictions and targets are kept on the CPU until the end of the
    evaluation, then gathered from every process and scored once.

    Args:
        iou_type: "bbox" or "segm".
        num_classes: As in mean_average_precision.
        prefix: Put before every reported name, e.g. "mask_" gives "mask_map", "mask_map_50".
        names: Which of DetectionEval.stats to report (default: map, map_50, map_75, mar_100).
    """

    KEYS = {"bbox": ("boxes", "labels", "scores", "iscrowd", "area"), "segm": ("masks",)}

    def __init__(
        self,
        iou_type: str = "bbox",
        num_classes: int | None = None,
        prefix: str = "",
        names: Sequence[str] = ("map", "map_50", "map_75", "mar_100"),
    ) -> None:
        assert iou_type in ("bbox", "segm"), f"iou_type is 'bbox' or 'segm', got {iou_type!r}"
        self.iou_type, self.num_classes, self.prefix = iou_type, num_classes, prefix
        self.names = tuple(names)
        self.pairs: list[tuple[dict[str, Tensor], dict[str, Tensor]]] = []

    def _keep(self, item: Mapping[str, Any]) -> dict[str, Tensor]:
        keys = self.KEYS["bbox"] + (self.KEYS["segm"] if self.iou_type == "segm" else ())
        return {k: item[k].detach().cpu() for k in keys if k in item}

    def update(self, batch: Any, outputs: Sequence[Mapping[str, Any]]) -> None:
        """Keep the batch's targets (batch[1]) and the step's per-image predictions."""
        targets = batch[1]
        assert len(outputs) == len(targets), (
            f"{len(outputs)} predictions for {len(targets)} images: a detector's step returns "
            "one prediction dict per image as its outputs"
        )
        self.pairs += [(self._keep(p), self._keep(t)) for p, t in zip(outputs, targets)]

    def state(self) -> list[tuple[dict[str, Tensor], dict[str, Tensor]]]:
        return self.pairs

    def compute(self, states: list[Any]) -> dict[str, float]:
        pairs = [pair for state in states for pair in state]
        result = mean_average_precision(
            [p for p, _ in pairs],
            [t for _, t in pairs],
            iou_type=self.iou_type,
            num_classes=self.num_classes,
        )
        return {self.prefix + name: result.stats[name] for name in self.names}
