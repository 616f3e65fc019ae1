"""YOLO: the grid encoding round trip, the responsible predictor, eq. 3 against a hand
computation, detection (class-specific confidence, threshold, NMS), learning on a fixed batch,
the config, and the smoke experiment end to end."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from engine.detection import box_iou
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import assert_config_error, copy_model, needs_data, train_and_evaluate_smoke

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("yolo")
m = mods.model
SPEC = mods.train.SPEC


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


def target(boxes: list[list[float]], labels: list[int], crowd: list[bool] | None = None) -> dict:
    t = {"boxes": torch.tensor(boxes).view(-1, 4), "labels": torch.tensor(labels)}
    if crowd is not None:
        t["iscrowd"] = torch.tensor(crowd)
    return t


# ------------------------------------------------------------------ the grid and its targets


def test_an_object_goes_to_the_cell_of_its_centre_with_offsets_and_image_fractions():
    # centre (20, 36) on a 64-pixel image with S = 8: column 2, row 4, halfway into the cell
    grid = m.encode_targets([target([[14, 30, 26, 42]], [7])], 8, 10, 64)
    assert grid.shape == (1, 8, 8, 15)
    assert grid[..., 0].sum() == 1 and grid[0, 4, 2, 0] == 1
    torch.testing.assert_close(grid[0, 4, 2, 1:5], torch.tensor([0.5, 0.5, 12 / 64, 12 / 64]))
    assert grid[0, 4, 2, 5:].argmax() == 7 and grid[0, 4, 2, 5:].sum() == 1


def test_encoding_round_trips_with_decoding():
    torch.manual_seed(0)
    targets = []
    for _ in range(20):  # one object per cell: centres on distinct cells of an 8x8 grid
        cells = torch.randperm(64)[:4]
        centre = torch.stack([cells % 8, cells // 8], 1) * 8.0 + 1 + 6 * torch.rand(4, 2)
        size = 4 + 16 * torch.rand(4, 2)
        boxes = torch.cat([centre - size / 2, centre + size / 2], 1)
        targets.append(target(boxes.tolist(), torch.randint(0, 10, (4,)).tolist()))
    decoded = m.decode_targets(m.encode_targets(targets, 8, 10, 64), 64)
    for t, d in zip(targets, decoded):
        centre = (t["boxes"][:, :2] + t["boxes"][:, 2:]) / 2
        order = ((centre[:, 1] // 8) * 8 + centre[:, 0] // 8).argsort()  # row-major cells
        torch.testing.assert_close(d["boxes"], t["boxes"][order])
        assert torch.equal(d["labels"], t["labels"][order])


def test_crowd_objects_are_not_targets_and_a_shared_cell_keeps_the_larger_object():
    t = target([[0, 0, 6, 6], [1, 1, 7, 9], [40, 40, 50, 50]], [1, 2, 3], [False, False, True])
    grid = m.encode_targets([t], 8, 10, 64)
    assert grid[..., 0].sum() == 1  # the two objects of cell (0, 0) give one target, crowd none
    assert grid[0, 0, 0, 5:].argmax() == 2  # the larger box (6x8) wins the cell


def test_the_responsible_predictor_has_the_highest_iou_with_the_object():
    grid = m.encode_targets([target([[14, 30, 26, 42]], [7])], 8, 10, 64)
    pred = torch.full((1, 8, 8, 2, 4), 0.5)
    pred[0, 4, 2, 0] = torch.tensor([0.2, 0.2, 0.30, 0.10])  # off-centre and the wrong shape
    pred[0, 4, 2, 1] = torch.tensor([0.5, 0.6, 0.20, 0.18])  # close to the object
    mask, iou = m.responsible(pred, grid, 64)
    assert mask.sum() == 1 and mask[0, 4, 2, 1]
    boxes = m.cell_to_boxes(pred, 64)[0, 4, 2]  # (2, 4) pixel boxes of the two predictors
    expected = box_iou(boxes, torch.tensor([[14.0, 30, 26, 42]]))[:, 0]
    torch.testing.assert_close(iou[0, 4, 2], expected)
    assert iou.sum() == iou[0, 4, 2].sum()  # cells without an object: IoU 0


def test_paired_iou_is_the_diagonal_of_box_iou():
    torch.manual_seed(1)
    a = torch.rand(30, 2) * 40
    b = torch.rand(30, 2) * 40
    boxes1 = torch.cat([a, a + 1 + torch.rand(30, 2) * 20], 1)
    boxes2 = torch.cat([b, b + 1 + torch.rand(30, 2) * 20], 1)
    torch.testing.assert_close(m.paired_iou(boxes1, boxes2), box_iou(boxes1, boxes2).diagonal())


# ------------------------------------------------------------------ eq. 3 by hand


def test_the_loss_equals_a_hand_computation_of_eq_3():
    # S = 2, B = 2, C = 2 on a 16-pixel image (cells of 8): one object, class 1, box
    # [2, 2, 10, 8]: centre (6, 5) in cell (0, 0), offsets (0.75, 0.625), w = 0.5, h = 0.375
    grid = m.encode_targets([target([[2, 2, 10, 8]], [1])], 2, 2, 16)
    boxes = torch.full((1, 2, 2, 2, 5), 0.25)  # (x, y, w, h, conf) everywhere 0.25
    boxes[0, 0, 0, 0] = torch.tensor([0.5, 0.5, 0.25, 0.25, 0.6])  # box [2, 2, 6, 6]
    boxes[0, 0, 0, 1] = torch.tensor([0.75, 0.5, 0.49, 0.36, 0.8])  # near the object
    probs = torch.full((1, 2, 2, 2), 0.5)
    probs[0, 0, 0] = torch.tensor([0.3, 0.7])
    loss, terms = m.yolo_loss(boxes, probs, grid, 16, lambda_coord=5.0, lambda_noobj=0.5)

    # predictor 1 is responsible: its box, centre (6, 4), 7.84 x 5.76 pixels
    x1, y1, x2, y2 = 6 - 3.92, 4 - 2.88, 6 + 3.92, 4 + 2.88
    inter = (min(x2, 10) - max(x1, 2)) * (min(y2, 8) - max(y1, 2))
    iou_1 = inter / (7.84 * 5.76 + 8 * 6 - inter)
    iou_0 = (4 * 4) / (4 * 4 + 8 * 6 - 4 * 4)  # predictor 0's box lies inside the object
    assert iou_1 > iou_0
    xy = 5 * ((0.75 - 0.75) ** 2 + (0.5 - 0.625) ** 2)
    wh = 5 * ((0.49**0.5 - 0.5**0.5) ** 2 + (0.36**0.5 - 0.375**0.5) ** 2)
    obj = (0.8 - iou_1) ** 2  # confidence target: the IoU
    noobj = 0.5 * (0.6**2 + 6 * 0.25**2)  # predictor 0 of the object's cell, 3 empty cells x 2
    cls = (0.3 - 0.0) ** 2 + (0.7 - 1.0) ** 2  # only the cell with the object
    expected = {"xy": xy, "wh": wh, "obj": obj, "noobj": noobj, "cls": cls}
    for name, value in expected.items():
        assert terms[name].item() == pytest.approx(value, rel=1e-5), name
    assert loss.item() == pytest.approx(sum(expected.values()), rel=1e-5)


def test_the_loss_is_averaged_over_images_and_zero_for_a_perfect_prediction():
    grid = m.encode_targets([target([[2, 2, 10, 8]], [1])] * 3, 2, 2, 16)
    boxes = torch.zeros(3, 2, 2, 2, 5)
    boxes[..., 2:4] = 0.1  # a positive size everywhere (sqrt is taken)
    boxes[:, 0, 0, 1] = torch.tensor([0.75, 0.625, 0.5, 0.375, 1.0])  # exact box, IoU 1
    probs = torch.zeros(3, 2, 2, 2)
    probs[:, 0, 0, 1] = 1.0
    loss, _ = m.yolo_loss(boxes, probs, grid, 16)
    assert loss.item() == pytest.approx(0.0, abs=1e-10)


# ------------------------------------------------------------------ detection


def test_detection_scores_are_class_probability_times_confidence_after_nms():
    net = m.YOLO(16, 1, 2, grid_size=2, widths=[4, 4, 4, 4], score_threshold=0.1)
    boxes = torch.zeros(1, 2, 2, 2, 5)
    boxes[..., 2:4] = 0.25
    boxes[0, 0, 0, 0] = torch.tensor([0.5, 0.5, 0.5, 0.5, 0.9])  # box [0, 0, 8, 8]
    boxes[0, 0, 0, 1] = torch.tensor([0.5, 0.5, 0.45, 0.5, 0.5])  # nearly the same box
    boxes[0, 1, 1, 0] = torch.tensor([0.5, 0.5, 0.25, 0.25, 0.4])  # box [10, 10, 14, 14]
    probs = torch.tensor([0.5, 0.5]).repeat(1, 2, 2, 1)
    probs[0, 0, 0] = torch.tensor([0.2, 0.8])
    probs[0, 1, 1] = torch.tensor([0.9, 0.1])
    (det,) = net.detect(boxes, probs)
    # cell (0, 0): class 1 at 0.72, its twin (0.4) suppressed, class 0 at 0.18 (another class:
    # kept); cell (1, 1): class 0 at 0.36, class 1 at 0.04 < 0.1 dropped
    torch.testing.assert_close(det["scores"], torch.tensor([0.72, 0.36, 0.18]))
    assert det["labels"].tolist() == [1, 0, 0]
    torch.testing.assert_close(det["boxes"][1], torch.tensor([10.0, 10, 14, 14]))


def test_the_forward_pass_gives_boxes_in_0_1_and_class_probabilities():
    net = m.YOLO(64, 1, 10)
    boxes, probs = net(torch.rand(3, 1, 64, 64))
    assert boxes.shape == (3, 8, 8, 2, 5) and probs.shape == (3, 8, 8, 10)
    assert ((boxes > 0) & (boxes < 1)).all()
    torch.testing.assert_close(probs.sum(-1), torch.ones(3, 8, 8))


def test_the_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    images = torch.zeros(8, 1, 64, 64)
    targets = []
    for n in range(8):  # bright squares, class = which quadrant
        y, x = torch.randint(0, 44, (2,)).tolist()
        images[n, 0, y : y + 16, x : x + 16] = 1.0
        label = 2 * (y >= 22) + (x >= 22)
        targets.append(target([[x, y, x + 16, y + 16]], [label]))
    net = m.YOLO(64, 1, 4, widths=[8, 16, 16, 32])
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(40):
        optimizer.zero_grad()
        loss = net.step((images, targets)).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses


# ------------------------------------------------------------------ config, end to end


def test_config_rejects_bad_values():
    assert_config_error(SPEC, "smoke", {"grid_size": 0}, ["grid_size"])
    assert_config_error(SPEC, "smoke", {"nms_iou": 0.0}, ["nms_iou"])
    assert_config_error(SPEC, "smoke", {"standardize": True}, ["standardize"])


def test_a_grid_the_backbone_does_not_reach_is_refused():
    with pytest.raises(AssertionError, match="grid"):
        m.YOLO(64, 1, 10, grid_size=7)


@needs_data
def test_smoke_trains_evaluates_and_draws(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder)
    assert {"map", "map_50", "loss_xy", "loss_noobj"} <= set(metrics)
    vis = folder / "outputs" / "visualizations"
    assert (vis / "smoke_train_detections.png").is_file()
    assert (vis / "smoke_train_pr_curves.png").is_file()
