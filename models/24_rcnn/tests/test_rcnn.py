"""R-CNN: the proposer (components, grouping, windows, recall on canvases), warping with
context, the fine-tuning sampler, the box-regression round trip, detection, learning on a fixed
batch, the config, and the smoke experiment end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from engine.detection import decode_boxes, encode_boxes
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import assert_config_error, copy_model, needs_data, train_and_evaluate_smoke

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("rcnn")
m = mods.model
SPEC = mods.train.SPEC


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


def target(boxes: list[list[float]], labels: list[int], crowd: list[bool] | None = None) -> dict:
    k = len(labels)
    return {
        "boxes": torch.tensor(boxes, dtype=torch.float32).view(-1, 4),
        "labels": torch.tensor(labels, dtype=torch.long),
        "iscrowd": torch.tensor(crowd if crowd is not None else [False] * k),
    }


# ------------------------------------------------------------------ proposals


def test_components_give_tight_boxes_and_grouping_builds_the_hierarchy():
    image = np.zeros((64, 64), dtype=np.float32)
    image[10:20, 5:9] = 1.0  # two strokes close together, one far away
    image[10:20, 11:14] = 1.0
    image[40:50, 40:52] = 1.0
    boxes = m.component_boxes(image, 0.25)
    assert sorted(map(tuple, boxes.tolist())) == [
        (5, 10, 9, 20),
        (11, 10, 14, 20),
        (40, 40, 52, 50),
    ]
    groups = m.group_regions(boxes)
    assert len(groups) == 5  # 3 initial regions, 2 merges
    assert (5, 10, 14, 20) == tuple(groups[3].tolist())  # the close strokes merge first
    assert (5, 10, 52, 50) == tuple(groups[4].tolist())


def test_sliding_windows_cover_the_canvas_flush_with_the_border():
    w = m.sliding_windows(64, [16, 24], 8)
    assert len(w) == 7 * 7 + 6 * 6
    assert w[:, :2].min() == 0 and w[:, 2:].max() == 64


@needs_data
def test_the_proposer_covers_the_ground_truth_boxes_of_canvases():
    from data_utils import load_dataset

    data = load_dataset(
        "mnist_detection", seed=0, preset="medium", n_train=10, n_val=10, n_test=200
    )
    x, targets = data.split("test")
    net = m.RCNN(64, 1, 10)
    proposals = net.proposals(data.transform(x))
    assert m.proposal_recall(proposals, targets, 0.5) >= 0.97
    assert m.proposal_recall(proposals, targets, 0.7) >= 0.95
    assert all(len(p) < 150 for p in proposals)


# ------------------------------------------------------------------ warping, sampling, regression


def test_warping_with_context_puts_the_box_inside_the_margin():
    images = torch.zeros(1, 1, 64, 64)
    images[0, 0, 20:40, 10:30] = 1.0  # a 20x20 square, exactly the box
    regions, index = m.warp_regions(images, [torch.tensor([[10.0, 20, 30, 40]])], 28, 2.0)
    assert regions.shape == (1, 1, 28, 28) and index.tolist() == [0]
    r = regions[0, 0]
    assert r[3:25, 3:25].min() > 0.99  # the box fills the inner 24x24
    assert r[:1].max() < 0.01 and r[:, :1].max() < 0.01  # context: background around it


def test_box_regression_targets_round_trip_with_decoding():
    torch.manual_seed(0)
    ref = torch.rand(50, 2) * 40
    ref = torch.cat([ref, ref + 4 + torch.rand(50, 2) * 20], 1)
    gt = ref + torch.randn(50, 4) * 2
    gt[:, 2:] = torch.maximum(gt[:, 2:], gt[:, :2] + 1)
    deltas = encode_boxes(gt, ref, m.BOX_WEIGHTS)
    torch.testing.assert_close(decode_boxes(deltas, ref, m.BOX_WEIGHTS), gt, atol=1e-4, rtol=1e-4)


def test_sampling_labels_by_iou_keeps_one_in_four_positive_and_skips_crowd():
    net = m.RCNN(64, 1, 10, regions_per_image=8, fg_fraction=0.25)
    proposals = torch.tensor(
        [[10.0, 10, 20, 20], [11, 10, 21, 20], [40, 40, 50, 50], [0, 0, 5, 5], [30, 0, 40, 8]]
        + [[50.0, 50, 60, 60]] * 0
    )
    t = target([[10, 10, 20, 20], [40, 40, 50, 50]], [3, 7], crowd=[False, True])
    boxes, labels, deltas = net.sample(proposals, t, torch.Generator().manual_seed(0))
    n_fg = int((labels < 10).sum())
    assert n_fg == 2 and set(labels[:2].tolist()) == {3}  # the gt box itself, the shifted one
    assert (labels[2:] == 10).all()
    assert not any(b.tolist() == [40.0, 40, 50, 50] for b in boxes)  # on a crowd object: ignored
    torch.testing.assert_close(
        decode_boxes(deltas[:2], boxes[:2], m.BOX_WEIGHTS), t["boxes"][:1].expand(2, 4)
    )
    assert (deltas[2:] == 0).all()


def test_detection_drops_background_regresses_and_suppresses_per_class():
    net = m.RCNN(64, 1, 3, nms_iou=0.3).eval()
    props = [torch.tensor([[10.0, 10, 20, 20], [11, 10, 21, 20], [40, 40, 50, 50]])]
    logits = torch.log(
        torch.tensor([[0.8, 0.1, 0.05, 0.05], [0.6, 0.2, 0.1, 0.1], [0.0, 0.0, 0.0, 1.0]]) + 1e-9
    )
    deltas = torch.zeros(3, 3, 4)
    net.forward = lambda images, boxes: (logits, deltas)
    det = net.detect(torch.zeros(1, 1, 64, 64), props)[0]
    assert det["labels"][0] == 0 and abs(det["scores"][0].item() - 0.8) < 1e-5
    assert not ((det["labels"] == 0) & (det["scores"] < 0.7)).any()  # the overlapping 0.6: NMS
    assert not (det["boxes"] == torch.tensor([40.0, 40, 50, 50])).all(1).any()  # background


def test_the_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    images = torch.zeros(8, 1, 64, 64)
    targets = []
    for n in range(8):  # bright squares, class = which quadrant
        y, x = torch.randint(0, 44, (2,)).tolist()
        images[n, 0, y : y + 16, x : x + 16] = 1.0
        label = 2 * (y >= 22) + (x >= 22)
        targets.append(target([[x, y, x + 16, y + 16]], [label]))
    net = m.RCNN(64, 1, 4, widths=[8, 16, 16], hidden=32)
    optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(30):
        torch.manual_seed(1)  # the same sampled regions every step
        optimizer.zero_grad()
        loss = net.step((images, targets)).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses


# ------------------------------------------------------------------ config, end to end


def test_config_rejects_bad_values():
    assert_config_error(SPEC, "smoke", {"nms_iou": 0.0}, ["nms_iou"])
    assert_config_error(SPEC, "smoke", {"context": 20.0}, ["context"])
    assert_config_error(SPEC, "smoke", {"standardize": True}, ["standardize"])


@needs_data
def test_smoke_trains_evaluates_and_draws(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder)
    assert {"map", "map_50", "loss_cls", "loss_box"} <= set(metrics)
    vis = folder / "outputs" / "visualizations"
    assert (vis / "smoke_train_detections.png").is_file()
    assert (vis / "smoke_train_pr_curves.png").is_file()
