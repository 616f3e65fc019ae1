"""The hand-written detection operations against their oracles (issue 19).

IoU against hand-made boxes and a per-pair loop, NMS against a brute-force greedy reference,
box encoding against its inverse, anchors against the canvas they must cover, and mean average
precision against pycocotools' COCOeval (boxes and masks, crowd and area ranges) on hand-made
cases with known answers and on random ones. pycocotools is a test-only oracle
(requirements-dev.txt); the product code never imports it.
"""

from __future__ import annotations

import contextlib
import io
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from data_utils.detection import make_canvases, to_coco
from engine.detection import (
    MeanAveragePrecision,
    batched_nms,
    box_area,
    box_convert,
    box_iou,
    clip_boxes,
    decode_boxes,
    encode_boxes,
    grid_anchors,
    mask_iou,
    mean_average_precision,
    nms,
    roi_align,
    roi_pool,
)

coco_mask = pytest.importorskip("pycocotools.mask", reason="pycocotools is the mAP oracle")
from pycocotools.coco import COCO  # noqa: E402
from pycocotools.cocoeval import COCOeval  # noqa: E402

STAT_NAMES = [
    "map",
    "map_50",
    "map_75",
    "map_small",
    "map_medium",
    "map_large",
    "mar_1",
    "mar_10",
    "mar_100",
    "mar_small",
    "mar_medium",
    "mar_large",
]


# ---------------------------------------------------------------- the oracle


def coco_stats(
    predictions: list[dict], targets: list[dict], iou_type: str, num_classes: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """COCOeval's 12 summary numbers and its precision array for the same inputs."""
    names = [str(k) for k in range(num_classes)]
    gt = COCO()
    gt.dataset = to_coco(targets, names, size)
    with contextlib.redirect_stdout(io.StringIO()):  # pycocotools prints its progress
        gt.createIndex()
        results = []
        for i, p in enumerate(predictions):
            xywh = box_convert(p["boxes"].to(torch.float64), "xyxy", "xywh").tolist()
            for j in range(len(p["scores"])):
                r = {
                    "image_id": i,
                    "category_id": int(p["labels"][j]),
                    "score": float(p["scores"][j]),
                }
                if iou_type == "segm":
                    r["segmentation"] = coco_mask.encode(
                        np.asfortranarray(p["masks"][j].numpy().astype(np.uint8))
                    )
                else:
                    r["bbox"] = xywh[j]
                results.append(r)
        dt = gt.loadRes(results)
        ev = COCOeval(gt, dt, iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return np.array(ev.stats), ev.eval["precision"]


def ours(predictions, targets, iou_type, num_classes) -> tuple[np.ndarray, np.ndarray]:
    result = mean_average_precision(
        predictions, targets, iou_type=iou_type, num_classes=num_classes
    )
    return np.array([result.stats[name] for name in STAT_NAMES]), result.precision


def random_boxes(n: int, size: float, gen: torch.Generator) -> torch.Tensor:
    xy = torch.rand(n, 2, generator=gen) * size * 0.8
    wh = 2 + torch.rand(n, 2, generator=gen) * size * 0.4
    return torch.cat([xy, (xy + wh).clamp(max=size)], dim=1)


def jitter(boxes: torch.Tensor, scale: float, gen: torch.Generator) -> torch.Tensor:
    return boxes + scale * torch.randn(boxes.shape, generator=gen)


# ---------------------------------------------------------------- boxes and IoU


def test_box_formats_round_trip_and_area() -> None:
    boxes = torch.tensor([[1.0, 2.0, 4.0, 8.0], [0.0, 0.0, 10.0, 5.0]])
    assert torch.equal(box_convert(boxes, "xyxy", "xywh")[0], torch.tensor([1.0, 2.0, 3.0, 6.0]))
    assert torch.equal(box_convert(boxes, "xyxy", "cxcywh")[0], torch.tensor([2.5, 5.0, 3.0, 6.0]))
    for fmt in ("xywh", "cxcywh"):
        torch.testing.assert_close(box_convert(box_convert(boxes, "xyxy", fmt), fmt, "xyxy"), boxes)
    assert box_area(boxes).tolist() == [18.0, 50.0]
    clipped = clip_boxes(torch.tensor([[-3.0, 2.0, 70.0, 80.0]]), 64, 64)
    assert clipped.tolist() == [[0.0, 2.0, 64.0, 64.0]]


def test_box_iou_known_cases() -> None:
    a = torch.tensor([[0.0, 0.0, 2.0, 2.0]])
    b = torch.tensor(
        [
            [0.0, 0.0, 2.0, 2.0],  # identical: 1
            [1.0, 0.0, 3.0, 2.0],  # half shifted: 2 / 6
            [2.0, 0.0, 4.0, 2.0],  # touching: 0
            [0.0, 0.0, 4.0, 4.0],  # contains it: 4 / 16
            [5.0, 5.0, 5.0, 5.0],  # empty box, disjoint: 0
        ]
    )
    torch.testing.assert_close(box_iou(a, b)[0], torch.tensor([1.0, 1 / 3, 0.0, 0.25, 0.0]))


def test_box_iou_matches_a_pair_by_pair_loop() -> None:
    gen = torch.Generator().manual_seed(0)
    a, b = random_boxes(7, 50, gen), random_boxes(5, 50, gen)
    iou = box_iou(a, b)
    for i in range(7):
        for j in range(5):
            w = max(0.0, min(a[i, 2], b[j, 2]) - max(a[i, 0], b[j, 0]))
            h = max(0.0, min(a[i, 3], b[j, 3]) - max(a[i, 1], b[j, 1]))
            union = float(box_area(a[i : i + 1]) + box_area(b[j : j + 1])) - w * h
            assert math.isclose(float(iou[i, j]), w * h / union, rel_tol=1e-5, abs_tol=1e-7)


def test_mask_iou_counts_pixels_and_matches_pycocotools() -> None:
    gen = torch.Generator().manual_seed(1)
    m1 = torch.rand(4, 12, 10, generator=gen) > 0.5
    m2 = torch.rand(3, 12, 10, generator=gen) > 0.6
    ours_iou = mask_iou(m1, m2).numpy()
    rle = lambda m: coco_mask.encode(np.asfortranarray(m.numpy().astype(np.uint8)))  # noqa: E731
    theirs = coco_mask.iou([rle(m) for m in m1], [rle(m) for m in m2], [0, 0, 0])
    np.testing.assert_allclose(ours_iou, theirs, atol=1e-12)
    square = torch.zeros(1, 4, 4, dtype=torch.bool)
    square[0, :2, :2] = True
    half = torch.zeros(1, 4, 4, dtype=torch.bool)
    half[0, :2, :1] = True
    assert float(mask_iou(square, half)) == 0.5


# ---------------------------------------------------------------- encoding, NMS, anchors


@pytest.mark.parametrize("weights", [(1.0, 1.0, 1.0, 1.0), (10.0, 10.0, 5.0, 5.0)])
def test_box_encoding_round_trip(weights) -> None:
    gen = torch.Generator().manual_seed(2)
    anchors = random_boxes(50, 64, gen).double()
    boxes = random_boxes(50, 64, gen).double()
    deltas = encode_boxes(boxes, anchors, weights)
    torch.testing.assert_close(decode_boxes(deltas, anchors, weights), boxes)
    assert torch.equal(encode_boxes(anchors, anchors, weights), torch.zeros(50, 4).double())
    # a unit shift of the centre is one anchor width in tx (times wx)
    shifted = anchors + torch.tensor([1.0, 0.0, 1.0, 0.0]).double() * (
        anchors[:, 2:3] - anchors[:, :1]
    )
    tx = encode_boxes(shifted, anchors, weights)[:, 0]
    torch.testing.assert_close(tx, torch.full((50,), weights[0]).double())


def test_decoding_clips_the_log_scale() -> None:
    anchor = torch.tensor([[0.0, 0.0, 10.0, 10.0]])
    huge = decode_boxes(torch.tensor([[0.0, 0.0, 100.0, 100.0]]), anchor)
    assert torch.isfinite(huge).all() and float(huge[0, 2] - huge[0, 0]) <= 10 * 1000 / 16 + 1e-3


def brute_force_nms(boxes: torch.Tensor, scores: torch.Tensor, threshold: float) -> list[int]:
    """Greedy NMS as written in the papers: take the best remaining box, drop its overlaps."""
    remaining = sorted(range(len(scores)), key=lambda i: (-float(scores[i]), i))
    keep = []
    while remaining:
        best = remaining.pop(0)
        keep.append(best)
        remaining = [
            i
            for i in remaining
            if float(box_iou(boxes[best : best + 1], boxes[i : i + 1])) <= threshold
        ]
    return keep


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("threshold", [0.3, 0.5, 0.7])
def test_nms_matches_brute_force(seed: int, threshold: float) -> None:
    gen = torch.Generator().manual_seed(seed)
    centres = random_boxes(6, 64, gen)
    boxes = jitter(centres.repeat(8, 1), 3.0, gen)  # clusters of overlapping boxes
    boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)], dim=1)
    scores = torch.rand(len(boxes), generator=gen)
    assert nms(boxes, scores, threshold).tolist() == brute_force_nms(boxes, scores, threshold)


def test_nms_known_case_and_ties() -> None:
    boxes = torch.tensor(
        [
            [0.0, 0.0, 10.0, 10.0],
            [1.0, 0.0, 11.0, 10.0],
            [20.0, 20.0, 30.0, 30.0],
            [0.0, 0.0, 10.0, 10.0],
        ]
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.9])
    assert nms(boxes, scores, 0.5).tolist() == [0, 2]  # tie 0/3: the earlier index wins
    assert nms(boxes, scores, 0.95).tolist() == [0, 1, 2]  # IoU(0, 1) = 0.82 is kept
    assert nms(boxes[:0], scores[:0], 0.5).tolist() == []


def test_batched_nms_is_nms_per_class() -> None:
    gen = torch.Generator().manual_seed(7)
    boxes = jitter(random_boxes(4, 64, gen).repeat(10, 1), 2.0, gen)
    boxes = torch.cat([boxes[:, :2], torch.maximum(boxes[:, 2:], boxes[:, :2] + 1)], dim=1)
    scores = torch.rand(40, generator=gen)
    labels = torch.randint(0, 3, (40,), generator=gen)
    kept = set(batched_nms(boxes, scores, labels, 0.5).tolist())
    expected = set()
    for c in range(3):
        idx = torch.nonzero(labels == c).flatten()
        expected |= {int(idx[i]) for i in brute_force_nms(boxes[idx], scores[idx], 0.5)}
    assert kept == expected
    order = batched_nms(boxes, scores, labels, 0.5)
    assert torch.all(scores[order][:-1] >= scores[order][1:])  # by decreasing score


def test_anchors_layout_and_shapes() -> None:
    anchors = grid_anchors((2, 3), 8, sizes=(16, 32), aspect_ratios=(0.5, 1.0, 2.0))
    assert anchors.shape == (2 * 3 * 6, 4)
    cell = anchors.reshape(2, 3, 6, 4)  # (H, W, A, 4)
    centres = (cell[..., :2] + cell[..., 2:]) / 2
    assert torch.allclose(centres[1, 2], torch.tensor([2.5 * 8, 1.5 * 8]).expand(6, 2))
    areas = box_area(anchors).reshape(2, 3, 3, 2)  # (H, W, ratio, size)
    torch.testing.assert_close(areas[0, 0, :, 0], torch.full((3,), 256.0))  # s^2 for all ratios
    wh = cell[0, 0, :, 2:] - cell[0, 0, :, :2]  # (A, 2)
    torch.testing.assert_close(wh[:, 1] / wh[:, 0], torch.tensor([0.5, 0.5, 1.0, 1.0, 2.0, 2.0]))


def test_anchors_cover_the_canvas() -> None:
    """Anchor centres tile the canvas, one per stride x stride cell, and on a stride-4 grid every
    canvas object (12 to 28 pixels, ratio 1:2 to 2:1, anywhere) has an anchor with IoU >= 0.5.
    (On a stride-8 grid a 12-pixel object can sit 4 pixels off every centre: IoU 0.34.)"""
    for stride in (4, 8):
        side = 64 // stride
        anchors = grid_anchors((side, side), stride, sizes=(12, 20, 28))
        centres = (anchors[:, :2] + anchors[:, 2:]) / 2
        cells = set(map(tuple, (centres // stride).long().tolist()))
        assert cells == {(i, j) for i in range(side) for j in range(side)}
        assert centres.min() == stride / 2 and centres.max() == 64 - stride / 2
    gen = torch.Generator().manual_seed(3)
    side = 12 + 16 * torch.rand(2000, 1, generator=gen)
    ratio = 2 ** (2 * torch.rand(2000, 1, generator=gen) - 1)  # h / w in [1/2, 2]
    wh = torch.cat([side / ratio.sqrt(), side * ratio.sqrt()], dim=1).clamp(max=64)
    xy = torch.rand(2000, 2, generator=gen) * (64 - wh)
    objects = torch.cat([xy, xy + wh], dim=1)
    anchors = grid_anchors((16, 16), 4, sizes=(12, 20, 28), aspect_ratios=(0.5, 1.0, 2.0))
    best = box_iou(objects, anchors).max(dim=1).values
    assert float(best.min()) >= 0.5, f"an object is covered only at IoU {float(best.min()):.3f}"


# ---------------------------------------------------------------- RoI pooling and RoIAlign


def grid_sample_roi_align(features, rois, output_size, scale, n, aligned):
    """RoIAlign's oracle: F.grid_sample at the bin points, then the mean of each bin's n x n.

    padding_mode="border" clamps a point to the edge exactly as RoIAlign does within one cell of
    the map; points further out are zeroed, as RoIAlign does.
    """
    height, width = features.shape[-2:]
    ph, pw = output_size
    out = []
    for roi in rois:
        b = int(roi[0])
        x1, y1, x2, y2 = (roi[1:] * scale - (0.5 if aligned else 0.0)).tolist()
        w, h = x2 - x1, y2 - y1
        if not aligned:
            w, h = max(w, 1.0), max(h, 1.0)
        ys = y1 + (torch.arange(ph * n, dtype=torch.float64) + 0.5) / (ph * n) * h
        xs = x1 + (torch.arange(pw * n, dtype=torch.float64) + 0.5) / (pw * n) * w
        gy, gx = torch.meshgrid(ys, xs, indexing="ij")  # (ph*n, pw*n) in cell-index units
        # align_corners=False: cell j's centre is at normalised (2 j + 1) / W - 1
        grid = torch.stack([(2 * gx + 1) / width - 1, (2 * gy + 1) / height - 1], dim=-1)
        sampled = F.grid_sample(
            features[b : b + 1],
            grid[None],
            mode="bilinear",
            padding_mode="border",
            align_corners=False,
        )  # (1, C, ph*n, pw*n)
        inside = (gy >= -1) & (gy <= height) & (gx >= -1) & (gx <= width)
        out.append(F.avg_pool2d(sampled * inside, n))  # (1, C, ph, pw)
    return torch.cat(out)


@pytest.mark.parametrize("aligned", [True, False])
@pytest.mark.parametrize("n", [1, 2, 3])
def test_roi_align_matches_grid_sample_at_the_bin_points(aligned: bool, n: int) -> None:
    gen = torch.Generator().manual_seed(n)
    features = torch.randn(2, 3, 16, 16, generator=gen, dtype=torch.float64)
    boxes = random_boxes(12, 64, gen).double()
    boxes[:3] = torch.tensor([[-6.0, -6.0, 20.0, 20.0], [50.0, 40.0, 70.0, 75.0], [0, 0, 64, 64]])
    rois = torch.cat([torch.randint(0, 2, (12, 1), generator=gen).double(), boxes], dim=1)
    got = roi_align(features, rois, (7, 7), 0.25, sampling_ratio=n, aligned=aligned)
    expected = grid_sample_roi_align(features, rois, (7, 7), 0.25, n, aligned)
    torch.testing.assert_close(got, expected)


def test_roi_align_known_values_and_gradient() -> None:
    ramp = torch.arange(8, dtype=torch.float64).repeat(8, 1)[None, None]  # value = column index
    whole = torch.tensor([[0.0, 0.0, 0.0, 8.0, 8.0]], dtype=torch.float64)
    out = roi_align(ramp, whole, (2, 2), 1.0, sampling_ratio=2)
    # aligned: bin 0 samples columns 1 and 3 minus half a cell -> 0.5, 2.5 -> mean 1.5
    torch.testing.assert_close(
        out[0, 0], torch.tensor([[1.5, 5.5], [1.5, 5.5]], dtype=torch.float64)
    )
    features = torch.randn(1, 2, 6, 6, dtype=torch.float64, requires_grad=True)
    rois = torch.tensor([[0.0, 1.3, 0.7, 4.9, 5.2]], dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda f: roi_align(f, rois, (3, 3), 1.0), (features,))


def brute_force_roi_pool(features, rois, output_size, scale):
    """RoI pooling cell by cell, as Fast R-CNN's Caffe layer loops."""
    height, width = features.shape[-2:]
    ph, pw = output_size
    out = torch.zeros(len(rois), features.shape[1], ph, pw, dtype=features.dtype)
    for k, roi in enumerate(rois):
        # C's round(): halves away from zero (Python's round() would take them to even)
        x1, y1, x2, y2 = [
            int(math.copysign(math.floor(abs(float(v) * scale) + 0.5), v)) for v in roi[1:]
        ]
        h, w = max(y2 - y1 + 1, 1), max(x2 - x1 + 1, 1)
        for i in range(ph):
            for j in range(pw):
                hs = min(max(math.floor(i * h / ph) + y1, 0), height)
                he = min(max(math.ceil((i + 1) * h / ph) + y1, 0), height)
                ws = min(max(math.floor(j * w / pw) + x1, 0), width)
                we = min(max(math.ceil((j + 1) * w / pw) + x1, 0), width)
                if he > hs and we > ws:
                    region = features[int(roi[0]), :, hs:he, ws:we]
                    out[k, :, i, j] = region.amax(dim=(1, 2))
    return out


def test_roi_pool_matches_the_cell_by_cell_loop() -> None:
    gen = torch.Generator().manual_seed(4)
    features = torch.randn(2, 3, 16, 16, generator=gen)
    boxes = random_boxes(15, 64, gen)
    boxes[:2] = torch.tensor([[-10.0, -10.0, 8.0, 8.0], [60.0, 60.0, 90.0, 90.0]])  # off the map
    boxes[2] = torch.tensor([2.0, 6.0, 10.0, 18.0])  # halves at scale 1/4: 0.5, 1.5, 2.5, 4.5
    rois = torch.cat([torch.randint(0, 2, (15, 1), generator=gen).float(), boxes], dim=1)
    for size in ((7, 7), (2, 3)):
        expected = brute_force_roi_pool(features, rois, size, 0.25)
        torch.testing.assert_close(roi_pool(features, rois, size, 0.25), expected)
    grid = torch.arange(16.0).reshape(1, 1, 4, 4)
    whole = torch.tensor([[0.0, 0.0, 0.0, 3.0, 3.0]])
    assert roi_pool(grid, whole, (2, 2), 1.0)[0, 0].tolist() == [[5.0, 7.0], [13.0, 15.0]]


def masked_roi_pool(features, rois, output_size, scale):
    """The earlier engine implementation, kept as a second oracle: masks of every bin's cells
    over the whole map, max over the masked (K, C, H, pw, W) and (K, C, ph, pw, H) tensors."""
    height, width = features.shape[-2:]
    ph, pw = output_size
    index, boxes = rois[:, 0].long(), rois[:, 1:] * scale
    q = (boxes.sign() * (boxes.abs() + 0.5).floor()).long()
    roi_w = (q[:, 2] - q[:, 0] + 1).clamp(min=1).to(features.dtype)
    roi_h = (q[:, 3] - q[:, 1] + 1).clamp(min=1).to(features.dtype)

    def members(start, size, bins, limit):
        i = torch.arange(bins, dtype=features.dtype)
        lo = torch.floor(i[None] * size[:, None] / bins).long() + start[:, None]
        hi = torch.ceil((i[None] + 1) * size[:, None] / bins).long() + start[:, None]
        cells = torch.arange(limit)[None, None, :]
        return (cells >= lo[..., None].clamp(0, limit)) & (cells < hi[..., None].clamp(0, limit))

    rows = members(q[:, 1], roi_h, ph, height)
    cols = members(q[:, 0], roi_w, pw, width)
    low = torch.finfo(features.dtype).min
    by_col = torch.where(cols[:, None, None], features[index][:, :, :, None, :], low).amax(-1)
    out = torch.where(rows[:, None, :, None, :], by_col.transpose(2, 3)[:, :, None], low)
    empty = ~(rows.any(-1)[:, :, None] & cols.any(-1)[:, None, :])
    return out.amax(dim=-1).masked_fill(empty[:, None], 0.0)


def test_roi_pool_equals_the_masked_implementation_in_values_and_gradients() -> None:
    gen = torch.Generator().manual_seed(11)
    boxes = random_boxes(200, 64, gen)
    edges = [
        [-30.0, -30.0, -20.0, -20.0],  # wholly outside, above-left: all bins 0
        [70.0, 70.0, 95.0, 99.0],  # wholly outside, below-right
        [-10.0, 20.0, 12.0, 40.0],  # partly outside on the left
        [50.0, 55.0, 80.0, 70.0],  # partly outside below-right
        [-20.0, -20.0, 90.0, 90.0],  # larger than the map
        [30.0, 30.0, 30.0, 30.0],  # a point: one cell
        [40.0, 40.0, 30.0, 30.0],  # inverted: one cell at (x1, y1)
        [2.0, 6.0, 10.0, 18.0],  # halves at scale 1/4
        [0.0, 0.0, 64.0, 64.0],  # the canvas: one row and column past the map
    ]
    boxes[: len(edges)] = torch.tensor(edges)
    rois = torch.cat([torch.randint(0, 3, (200, 1), generator=gen).float(), boxes], dim=1)
    for size in ((7, 7), (2, 3), (14, 14)):
        features = torch.randn(3, 4, 16, 16, generator=gen, dtype=torch.float64)
        weights = torch.randn(200, 4, *size, generator=gen, dtype=torch.float64)
        grads = []
        for pool in (roi_pool, masked_roi_pool):
            leaf = features.clone().requires_grad_(True)
            out = pool(leaf, rois, size, 0.25)
            (out * weights).sum().backward()
            grads.append((out.detach(), leaf.grad))
        torch.testing.assert_close(grads[0][0], grads[1][0], rtol=0, atol=0)
        torch.testing.assert_close(grads[0][1], grads[1][1])
        assert (grads[0][0][:2] == 0).all()
    empty = roi_pool(torch.randn(1, 2, 4, 4), torch.zeros(0, 5), (7, 7), 1.0)
    assert empty.shape == (0, 2, 7, 7)


# ---------------------------------------------------------------- mAP: known answers


def target(boxes, labels, iscrowd=None) -> dict:
    t = {"boxes": torch.tensor(boxes, dtype=torch.float32), "labels": torch.tensor(labels)}
    if iscrowd is not None:
        t["iscrowd"] = torch.tensor(iscrowd, dtype=torch.bool)
    return t


def prediction(boxes, scores, labels) -> dict:
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4),
        "scores": torch.tensor(scores, dtype=torch.float32),
        "labels": torch.tensor(labels, dtype=torch.int64),
    }


def test_map_known_answers() -> None:
    gt = [target([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 0])]
    perfect = [prediction([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], [0, 0])]
    assert mean_average_precision(perfect, gt).stats["map"] == pytest.approx(1.0)
    # one of two found, at the top: precision 1 up to recall 0.5, then nothing: 51/101
    half = [prediction([[0, 0, 10, 10]], [0.9], [0])]
    result = mean_average_precision(half, gt)
    assert result.stats["map"] == pytest.approx(51 / 101)
    assert result.stats["mar_100"] == pytest.approx(0.5)
    # a false positive ranked first: precision 1/2 at recall 1/2, 2/3 at recall 1
    fp_first = [
        prediction([[40, 40, 50, 50], [0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8, 0.7], [0, 0, 0])
    ]
    assert mean_average_precision(fp_first, gt).stats["map"] == pytest.approx(2 / 3)
    # a box of IoU 2/3 (shifted by 2 of 10 pixels) counts at IoU 0.50..0.65: 4 of 10 thresholds
    shifted = [prediction([[2, 0, 12, 10], [22, 20, 32, 30]], [0.9, 0.8], [0, 0])]
    result = mean_average_precision(shifted, gt)
    assert result.stats["map"] == pytest.approx(0.4)
    assert result.stats["map_50"] == pytest.approx(1.0) and result.stats["map_75"] == 0.0
    # the wrong class is a miss for one class and a false positive for the other
    wrong = [prediction([[0, 0, 10, 10], [20, 20, 30, 30]], [0.9, 0.8], [1, 1])]
    assert mean_average_precision(wrong, gt, num_classes=2).stats["map"] == 0.0


def test_map_crowd_regions_are_neither_hits_nor_misses() -> None:
    gt = [target([[0, 0, 10, 10], [30, 30, 60, 60]], [0, 0], iscrowd=[False, True])]
    # detections inside the crowd region do not count as false positives
    preds = [
        prediction([[32, 32, 40, 40], [0, 0, 10, 10], [45, 45, 55, 55]], [0.95, 0.9, 0.8], [0] * 3)
    ]
    assert mean_average_precision(preds, gt).stats["map"] == pytest.approx(1.0)
    # and missing the crowd region costs nothing
    assert mean_average_precision([prediction([[0, 0, 10, 10]], [0.9], [0])], gt).stats[
        "map"
    ] == pytest.approx(1.0)


def test_map_area_ranges_and_empty_classes() -> None:
    small, medium = [0, 0, 10, 10], [0, 0, 40, 40]  # 100 and 1600 pixels^2
    gt = [target([small], [0]), target([medium], [0])]
    preds = [prediction([small], [0.9], [0]), prediction([], [], [])]
    stats = mean_average_precision(preds, gt, num_classes=3).stats
    assert stats["map_small"] == pytest.approx(1.0) and stats["map_medium"] == 0.0
    assert stats["map_large"] == -1.0  # no large object: COCO's -1
    assert stats["map"] == pytest.approx(51 / 101)  # classes 1 and 2 have no ground truth


def test_pr_curve_and_per_class_ap() -> None:
    gt = [target([[0, 0, 10, 10], [20, 20, 30, 30]], [0, 1])]
    preds = [prediction([[0, 0, 10, 10], [50, 50, 60, 60]], [0.9, 0.8], [0, 1])]
    result = mean_average_precision(preds, gt)
    recall, precision = result.pr_curve(0.5, label=0)
    assert recall.shape == precision.shape == (101,)
    assert precision.min() == pytest.approx(1.0)  # tp / (tp + fp + eps), as COCO
    assert result.pr_curve(0.5, label=1)[1].max() == 0.0
    assert result.per_class_ap() == pytest.approx({0: 1.0, 1: 0.0})
    assert np.mean(result.pr_curve(0.5)[1]) == pytest.approx(result.stats["map_50"])


# ---------------------------------------------------------------- mAP: COCOeval on random cases


def random_case(seed: int, num_images: int, num_classes: int, size: int = 64):
    """Ground truth with crowd objects and all area ranges; detections near some objects (with
    label noise), anywhere else, and on images without objects."""
    gen = torch.Generator().manual_seed(seed)
    targets, predictions = [], []
    for i in range(num_images):
        k = int(torch.randint(0, 5, (1,), generator=gen))
        boxes = random_boxes(k, size, gen)
        labels = torch.randint(0, num_classes, (k,), generator=gen)
        crowd = torch.rand(k, generator=gen) < 0.15
        targets.append({"boxes": boxes, "labels": labels, "iscrowd": crowd})
        near = jitter(boxes.repeat(2, 1), 2.5, gen)
        far = random_boxes(int(torch.randint(0, 4, (1,), generator=gen)), size, gen)
        p_boxes = torch.cat([near, far])
        p_labels = torch.cat(
            [labels.repeat(2), torch.randint(0, num_classes, (len(far),), generator=gen)]
        )
        flip = torch.rand(len(p_labels), generator=gen) < 0.2
        p_labels = torch.where(
            flip, torch.randint(0, num_classes, p_labels.shape, generator=gen), p_labels
        )
        predictions.append(
            {
                "boxes": p_boxes,
                "labels": p_labels,
                "scores": torch.rand(len(p_boxes), generator=gen),
            }
        )
    predictions[0]["boxes"] = torch.cat([predictions[0]["boxes"], random_boxes(1, size, gen)])
    predictions[0]["labels"] = torch.cat([predictions[0]["labels"], torch.tensor([0])])
    predictions[0]["scores"] = torch.cat([predictions[0]["scores"], torch.tensor([0.5])])
    return predictions, targets


@pytest.mark.parametrize("seed", range(4))
def test_box_map_matches_cocoeval_on_random_cases(seed: int) -> None:
    size = 200  # boxes up to 80 pixels: small, medium and large objects
    predictions, targets = random_case(seed, num_images=25, num_classes=3, size=size)
    expected, expected_precision = coco_stats(predictions, targets, "bbox", 3, size)
    got, precision = ours(predictions, targets, "bbox", 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(precision, expected_precision, atol=1e-6)


def test_box_map_matches_cocoeval_with_many_detections() -> None:
    """More than 100 detections on an image: the max_dets limits of 1, 10 and 100 bite."""
    gen = torch.Generator().manual_seed(11)
    boxes = random_boxes(30, 64, gen)
    targets = [{"boxes": boxes, "labels": torch.zeros(30, dtype=torch.int64)}]
    p_boxes = jitter(boxes.repeat(5, 1), 2.0, gen)
    predictions = [
        {
            "boxes": p_boxes,
            "labels": torch.zeros(150, dtype=torch.int64),
            "scores": torch.rand(150, generator=gen),
        }
    ]
    expected, _ = coco_stats(predictions, targets, "bbox", 1, 64)
    got, _ = ours(predictions, targets, "bbox", 1)
    np.testing.assert_allclose(got, expected, atol=1e-6)


@pytest.mark.parametrize("seed", range(2))
def test_mask_map_matches_cocoeval_on_generated_canvases(seed: int) -> None:
    """Masks of real canvases (crowd objects included) against predicted masks: the true ones
    with pixels flipped and the true ones of a neighbouring canvas; a fifth of the objects are
    made crowd regions."""
    rng = np.random.default_rng(seed)
    images = (rng.random((40, 28, 28)) > 0.6).astype(np.uint8) * 255  # blobs as objects
    labels = rng.integers(0, 3, 40)
    _, targets = make_canvases(images, labels, 20, preset="overlapping", seed=seed)
    gen = torch.Generator().manual_seed(seed)
    predictions = []
    for t in targets:
        t["iscrowd"] = torch.rand(len(t["labels"]), generator=gen) < 0.2
    for i, t in enumerate(targets):
        other = targets[(i + 1) % len(targets)]
        masks = torch.cat([t["masks"], other["masks"][:1]])
        flip = torch.rand(masks.shape, generator=gen) < 0.03
        masks = masks ^ flip
        labels_i = torch.cat([t["labels"], other["labels"][:1]])
        predictions.append(
            {
                "masks": masks,
                "labels": labels_i,
                "scores": torch.rand(len(labels_i), generator=gen),
                "boxes": torch.zeros(len(labels_i), 4),
            }
        )
    assert sum(int(t["iscrowd"].sum()) for t in targets) >= 5
    expected, expected_precision = coco_stats(predictions, targets, "segm", 3, 64)
    got, precision = ours(predictions, targets, "segm", 3)
    np.testing.assert_allclose(got, expected, atol=1e-6)
    np.testing.assert_allclose(precision, expected_precision, atol=1e-6)


def test_set_metric_gathers_batches_and_processes() -> None:
    """MeanAveragePrecision fed batch by batch, on two 'processes', equals one direct call."""
    predictions, targets = random_case(5, num_images=12, num_classes=3)
    direct = mean_average_precision(predictions, targets, num_classes=3).stats
    ranks = [MeanAveragePrecision(num_classes=3), MeanAveragePrecision(num_classes=3)]
    for start in range(0, 12, 4):  # batches of 4 images, alternating between the two ranks
        metric = ranks[(start // 4) % 2]
        x = torch.zeros(4, 1, 8, 8)
        metric.update((x, targets[start : start + 4]), predictions[start : start + 4])
    got = ranks[0].compute([r.state() for r in ranks])
    assert set(got) == {"map", "map_50", "map_75", "mar_100"}
    for name, value in got.items():
        assert value == pytest.approx(direct[name], abs=1e-12)
    with pytest.raises(AssertionError, match="one prediction dict per image"):
        ranks[0].update((x, targets[:2]), predictions[:1])


def test_the_targets_as_predictions_score_one() -> None:
    """Generated canvases scored against themselves: mAP 1 for boxes and masks, crowd or not."""
    rng = np.random.default_rng(3)
    images = (rng.random((60, 28, 28)) > 0.5).astype(np.uint8) * 255
    _, targets = make_canvases(images, rng.integers(0, 4, 60), 30, preset="overlapping", seed=3)
    predictions = [{**t, "scores": torch.linspace(1, 0.5, len(t["labels"]))} for t in targets]
    for iou_type in ("bbox", "segm"):
        stats = mean_average_precision(predictions, targets, iou_type=iou_type).stats
        assert stats["map"] == pytest.approx(1.0) and stats["mar_100"] == pytest.approx(1.0)
