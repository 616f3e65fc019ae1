"""YOLO (Redmon et al. 2016): one network, one pass, a grid of boxes and class probabilities.

Paper: J. Redmon, S. Divvala, R. Girshick and A. Farhadi, "You Only Look Once: Unified,
Real-Time Object Detection", CVPR 2016 (arXiv:1506.02640).

What is implemented, in the paper's order:

- the grid (Sec. 2): the image is divided into S x S cells; the cell that holds an object's
  centre is responsible for it. Each cell predicts B boxes (x, y, w, h, confidence) and one set
  of C class probabilities Pr(class_i | object), so the output is S x S x (B * 5 + C). x, y are
  the centre's offset inside its cell, w, h fractions of the image side;
- the network (Sec. 2.1): convolutions with Leaky ReLU (slope 0.1), 1x1 reduction layers
  between 3x3 ones, max pooling down to the S x S grid (a small version of the paper's 24 layers,
  sized for 64x64 canvases);
- the loss (Sec. 2.2, eq. 3): sum-squared error with lambda_coord = 5 on the coordinates of
  responsible predictors, the square roots of w and h (so that an error counts more in a small
  box), confidence regressed to the IoU of the predicted box with its object for the responsible
  predictor (the one of the cell's B with the highest current IoU) and to 0, weighted
  lambda_noobj = 0.5, for every other predictor, and the class probabilities' squared error in
  cells that hold an object;
- detection (Sec. 2, eq. 1): class-specific confidence Pr(class_i | object) * confidence per box
  and class, a threshold, and non-maximum suppression per class (engine.detection).

Deliberately different, and why: batch normalisation after each convolution (YOLOv2's addition:
a few minutes of CPU are not the paper's week of ImageNet pre-training, and it trains several
times faster); a convolutional 1x1 head in place of the two fully connected layers (the
receptive field of a cell is 66 pixels, the whole 64x64 canvas, and the head has 2.6k
parameters rather than millions); a sigmoid on x, y, w, h and confidence (the paper's
linear outputs can leave [0, 1], where sqrt(w) is undefined) and a softmax on the class scores
(they are probabilities in eq. 1). Left out: ImageNet pre-training, the 448x448 input, data
augmentation and the paper's learning-rate schedule; the canvases are generated fresh and small.

Known outcomes, asserted in tests: the target encoding round-trips with decoding; the
responsible predictor is the one of highest IoU; the loss equals a hand computation on a tiny
grid; the loss falls on a fixed batch.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from engine.detection import MeanAveragePrecision, batched_nms
from engine.steps import Mean, StepOutput

# ------------------------------------------------------------------------------------ helpers


def cell_to_boxes(xywh: Tensor, image_size: int) -> Tensor:
    """Grid-relative boxes to pixel xyxy boxes: (N, S, S, ..., 4) -> the same shape.

    x, y are the centre's offset in its cell (0..1), w, h fractions of the image side; the cell
    (i, j) is row i, column j of the S x S grid (the second and third dimensions).
    """
    s = xywh.shape[1]
    cell = image_size / s
    rows = torch.arange(s, dtype=xywh.dtype, device=xywh.device).view(1, s, 1)
    cols = torch.arange(s, dtype=xywh.dtype, device=xywh.device).view(1, 1, s)
    extra = xywh.dim() - 4  # the B dimension of predictions, none for targets
    rows, cols = rows.view(1, s, 1, *[1] * extra), cols.view(1, 1, s, *[1] * extra)
    cx = (cols + xywh[..., 0]) * cell  # (N, S, S, ...)
    cy = (rows + xywh[..., 1]) * cell
    w, h = xywh[..., 2] * image_size, xywh[..., 3] * image_size
    return torch.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], dim=-1)


def paired_iou(boxes1: Tensor, boxes2: Tensor) -> Tensor:
    """IoU of xyxy boxes pair by pair, broadcasting: (..., 4) and (..., 4) -> (...); 0 for
    empty unions. (engine.detection.box_iou gives all pairs of two lists.)"""
    lo = torch.maximum(boxes1[..., :2], boxes2[..., :2])
    hi = torch.minimum(boxes1[..., 2:], boxes2[..., 2:])
    inter = (hi - lo).clamp(min=0).prod(-1)
    area1 = (boxes1[..., 2:] - boxes1[..., :2]).clamp(min=0).prod(-1)
    area2 = (boxes2[..., 2:] - boxes2[..., :2]).clamp(min=0).prod(-1)
    union = area1 + area2 - inter
    return torch.where(union > 0, inter / union.clamp(min=1e-12), torch.zeros_like(union))


def encode_targets(
    targets: list[dict[str, Tensor]], grid_size: int, num_classes: int, image_size: int
) -> Tensor:
    """The training target of each image on the S x S grid (Sec. 2): (N, S, S, 5 + C).

    Per cell: [has_object, x, y, w, h, one-hot class]; x, y the object's centre offset in the
    cell that holds it, w, h fractions of the image side. Crowd objects (mostly hidden, ignored
    by the evaluation) are left out. A cell holds one object: when two centres fall in one cell
    the larger object is kept (the paper's limit on crowded scenes; none of the medium canvases'
    objects share an 8-pixel cell).
    """
    s = grid_size
    out = torch.zeros(len(targets), s, s, 5 + num_classes)
    cell = image_size / s
    for n, target in enumerate(targets):
        boxes, labels = target["boxes"].float().cpu(), target["labels"].cpu()
        keep = ~target["iscrowd"].cpu() if "iscrowd" in target else torch.ones_like(labels).bool()
        boxes, labels = boxes[keep], labels[keep]
        sizes = (boxes[:, 2:] - boxes[:, :2]).prod(dim=1)  # (K,) box areas
        for k in sizes.argsort().tolist():  # the largest is written last: it wins a shared cell
            x1, y1, x2, y2 = boxes[k].tolist()
            cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
            j, i = min(int(cx // cell), s - 1), min(int(cy // cell), s - 1)
            out[n, i, j, :5] = torch.tensor(
                [1.0, cx / cell - j, cy / cell - i, (x2 - x1) / image_size, (y2 - y1) / image_size]
            )
            out[n, i, j, 5:] = 0.0
            out[n, i, j, 5 + int(labels[k])] = 1.0
    return out


def decode_targets(grid: Tensor, image_size: int) -> list[dict[str, Tensor]]:
    """The inverse of encode_targets: (N, S, S, 5 + C) -> per image {"boxes", "labels"}, in
    row-major cell order."""
    boxes = cell_to_boxes(grid[..., 1:5], image_size)  # (N, S, S, 4)
    out = []
    for n in range(len(grid)):
        has = grid[n, ..., 0] > 0.5  # (S, S)
        out.append({"boxes": boxes[n][has], "labels": grid[n, ..., 5:][has].argmax(-1)})
    return out


def responsible(pred_boxes: Tensor, target: Tensor, image_size: int) -> tuple[Tensor, Tensor]:
    """Which of each cell's B predictors is responsible for its object, and their IoUs.

    "YOLO predicts multiple bounding boxes per grid cell. At training time we only want one
    bounding box predictor to be responsible for each object ... the one whose prediction has
    the highest current IOU with the ground truth" (Sec. 2.2).

    Args:
        pred_boxes: Predicted (x, y, w, h) per cell and predictor, (N, S, S, B, 4).
        target: encode_targets' grid, (N, S, S, 5 + C).
        image_size: Side of the image in pixels.

    Returns:
        (mask (N, S, S, B) bool: 1_ij^obj of eq. 3, iou (N, S, S, B): each predictor's IoU with
        its cell's object, 0 in cells without one), both without gradient.
    """
    with torch.no_grad():
        pred_xyxy = cell_to_boxes(pred_boxes, image_size)  # (N, S, S, B, 4)
        true_xyxy = cell_to_boxes(target[..., 1:5], image_size)[..., None, :]  # (N, S, S, 1, 4)
        iou = paired_iou(pred_xyxy, true_xyxy) * target[..., :1]  # (N, S, S, B)
        best = iou.argmax(dim=-1, keepdim=True)  # (N, S, S, 1), ties: the first predictor
        mask = torch.zeros_like(iou, dtype=torch.bool).scatter_(-1, best, True)
        mask &= target[..., :1] > 0.5
    return mask, iou


def yolo_loss(
    boxes: Tensor,
    probs: Tensor,
    target: Tensor,
    image_size: int,
    lambda_coord: float = 5.0,
    lambda_noobj: float = 0.5,
) -> tuple[Tensor, dict[str, Tensor]]:
    """Eq. 3, summed over the grid and averaged over images.

    Args:
        boxes: Predicted (x, y, w, h, confidence) per cell and predictor, in [0, 1],
            (N, S, S, B, 5).
        probs: Pr(class | object) per cell, (N, S, S, C).
        target: encode_targets' grid, (N, S, S, 5 + C).
        image_size: Side of the image in pixels (for the IoUs).
        lambda_coord, lambda_noobj: The paper's weights (5 and 0.5).

    Returns:
        (loss, terms): terms "xy", "wh", "obj", "noobj", "cls", each summed over the grid and
        averaged over images, weights included; loss is their sum.
    """
    n = len(boxes)
    obj, iou = responsible(boxes[..., :4], target, image_size)  # (N, S, S, B) each
    obj_f = obj.to(boxes.dtype)
    true = target[..., None, 1:5]  # (N, S, S, 1, 4) broadcasts over B
    xy = ((boxes[..., :2] - true[..., :2]) ** 2).sum(-1)  # (N, S, S, B)
    wh = ((boxes[..., 2:4].sqrt() - true[..., 2:4].sqrt()) ** 2).sum(-1)
    conf = boxes[..., 4]  # (N, S, S, B)
    has_object = target[..., 0]  # (N, S, S), 1_i^obj
    terms = {
        "xy": lambda_coord * (obj_f * xy).sum() / n,
        "wh": lambda_coord * (obj_f * wh).sum() / n,
        "obj": (obj_f * (conf - iou) ** 2).sum() / n,  # confidence target: the IoU (Sec. 2)
        "noobj": lambda_noobj * ((1 - obj_f) * conf**2).sum() / n,
        "cls": (has_object[..., None] * (probs - target[..., 5:]) ** 2).sum() / n,
    }
    return sum(terms.values()), terms  # type: ignore[return-value]


# ------------------------------------------------------------------------------------ network


def conv(in_channels: int, out_channels: int, kernel: int, slope: float) -> nn.Sequential:
    """Convolution ('same' padding), batch norm, Leaky ReLU (the paper's activation, Sec. 2.2)."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel, padding=kernel // 2, bias=False),
        nn.BatchNorm2d(out_channels),
        nn.LeakyReLU(slope),
    )


class Backbone(nn.Module):
    """Stages of 3x3 convolutions, each after the first with a 1x1 reduction and a second 3x3
    (the paper's pattern, Fig. 3), each ending in 2x2 max pooling; the last stage ends at the
    S x S grid without pooling.

    Args:
        in_channels: Image channels.
        widths: Channels of each stage; len(widths) - 1 poolings divide the side.
        slope: Leaky ReLU slope (0.1 in the paper).
    """

    def __init__(self, in_channels: int, widths: list[int], slope: float) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for k, width in enumerate(widths):
            if k == 0:
                layers.append(conv(c, width, 3, slope))
            else:
                layers += [
                    conv(c, width, 3, slope),
                    conv(width, width // 2, 1, slope),
                    conv(width // 2, width, 3, slope),
                ]
            if k < len(widths) - 1:
                layers.append(nn.MaxPool2d(2))
            c = width
        self.net = nn.Sequential(*layers)
        self.out_channels = c

    def forward(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, widths[-1], H / 2^(stages - 1), W / 2^(stages - 1))."""
        return self.net(x)


class YOLO(nn.Module):
    """The grid detector: backbone, a 1x1 head giving B * 5 + C numbers per cell, eq. 3.

    Args:
        image_size: Side of the square input (64).
        in_channels: Image channels.
        num_classes: C.
        grid_size: S; the backbone must reduce image_size to it.
        boxes_per_cell: B.
        widths: Backbone stage widths.
        slope: Leaky ReLU slope.
        lambda_coord, lambda_noobj: Loss weights of eq. 3.
        score_threshold: Smallest class-specific confidence kept at detection.
        nms_iou: IoU above which a lower-scoring box of the same class is suppressed.
        max_dets: Detections kept per image (COCO's mAP reads 100).
    """

    def __init__(
        self,
        image_size: int,
        in_channels: int,
        num_classes: int,
        grid_size: int = 8,
        boxes_per_cell: int = 2,
        widths: list[int] | None = None,
        slope: float = 0.1,
        lambda_coord: float = 5.0,
        lambda_noobj: float = 0.5,
        score_threshold: float = 0.01,
        nms_iou: float = 0.5,
        max_dets: int = 100,
    ) -> None:
        super().__init__()
        widths = widths or [16, 32, 64, 128]
        assert image_size == grid_size * 2 ** (len(widths) - 1), (
            f"{len(widths)} stages take a {image_size}-pixel image to a "
            f"{image_size // 2 ** (len(widths) - 1)}-cell grid, not {grid_size}: change "
            "widths or grid_size"
        )
        self.image_size, self.num_classes = image_size, num_classes
        self.grid_size, self.boxes_per_cell = grid_size, boxes_per_cell
        self.lambda_coord, self.lambda_noobj = lambda_coord, lambda_noobj
        self.score_threshold, self.nms_iou, self.max_dets = score_threshold, nms_iou, max_dets
        self.backbone = Backbone(in_channels, widths, slope)
        self.head = nn.Conv2d(self.backbone.out_channels, boxes_per_cell * 5 + num_classes, 1)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Images (N, C, H, W) -> boxes (N, S, S, B, 5) as (x, y, w, h, confidence) in [0, 1],
        and class probabilities (N, S, S, C)."""
        out = self.head(self.backbone(x))  # (N, B * 5 + C, S, S)
        out = out.permute(0, 2, 3, 1)  # (N, S, S, B * 5 + C)
        b = self.boxes_per_cell
        boxes = out[..., : 5 * b].unflatten(-1, (b, 5)).sigmoid()  # (N, S, S, B, 5)
        probs = out[..., 5 * b :].softmax(dim=-1)  # (N, S, S, C)
        return boxes, probs

    @torch.no_grad()
    def detect(self, boxes: Tensor, probs: Tensor) -> list[dict[str, Tensor]]:
        """Per image, the boxes whose class-specific confidence Pr(class | object) * confidence
        (eq. 1) is at least score_threshold, after per-class NMS, best max_dets first."""
        xyxy = cell_to_boxes(boxes[..., :4], self.image_size)  # (N, S, S, B, 4)
        xyxy = xyxy.clamp(0, self.image_size)
        scores = boxes[..., 4:5] * probs[..., None, :]  # (N, S, S, B, C)
        out = []
        for n in range(len(boxes)):
            s = scores[n].reshape(-1, self.num_classes)  # (S*S*B, C)
            box_idx, labels = (s >= self.score_threshold).nonzero(as_tuple=True)
            cand_boxes, cand_scores = xyxy[n].reshape(-1, 4)[box_idx], s[box_idx, labels]
            keep = batched_nms(cand_boxes, cand_scores, labels, self.nms_iou)[: self.max_dets]
            out.append(
                {"boxes": cand_boxes[keep], "scores": cand_scores[keep], "labels": labels[keep]}
            )
        return out

    def predict(self, images: Tensor) -> list[dict[str, Tensor]]:
        """Detections of images (N, C, H, W) in [0, 1] (the model in eval mode)."""
        return self.detect(*self(images))

    def step(self, batch: Any) -> StepOutput:
        """Eq. 3 and its five terms; in evaluation also the detections, for mAP."""
        images, targets = batch  # (N, 1, 64, 64), N target dicts
        boxes, probs = self(images)
        grid = encode_targets(targets, self.grid_size, self.num_classes, self.image_size)
        loss, terms = yolo_loss(
            boxes,
            probs,
            grid.to(images.device),
            self.image_size,
            self.lambda_coord,
            self.lambda_noobj,
        )
        n = len(images)
        metrics = {f"loss_{name}": Mean(value.detach() * n, n) for name, value in terms.items()}
        outputs = None if self.training else self.detect(boxes, probs)
        return StepOutput(loss, metrics, outputs=outputs)

    def set_metrics(self) -> dict[str, MeanAveragePrecision]:
        """COCO-style box mAP over the evaluated set (map, map_50, map_75, mar_100)."""
        return {"map": MeanAveragePrecision("bbox", num_classes=self.num_classes)}


def create_model(config: Any, splits: Any) -> YOLO:
    """YOLO for the canvases' shape and classes (the ModelSpec hook)."""
    c, h, w = splits.input_shape
    assert h == w, f"square canvases only, got {h}x{w}"
    return YOLO(
        image_size=h,
        in_channels=c,
        num_classes=splits.num_classes,
        grid_size=config.grid_size,
        boxes_per_cell=config.boxes_per_cell,
        widths=config.widths,
        slope=config.leaky_slope,
        lambda_coord=config.lambda_coord,
        lambda_noobj=config.lambda_noobj,
        score_threshold=config.score_threshold,
        nms_iou=config.nms_iou,
        max_dets=config.max_dets,
    )


def create_criterion(config: Any) -> None:
    """None: the model's step computes eq. 3."""
    return None
