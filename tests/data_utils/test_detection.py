"""The detection canvases (issue 19): boxes match masks, nothing leaves the canvas, seeds repeat.

Most tests generate canvases from scikit-learn's bundled 8x8 digits (upscaled to 28x28), so they
need no files; the MNIST tests read $AIFS_DATA_DIR and are skipped without it. pycocotools (a
test-only oracle) checks the COCO-style export.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from data_utils import (
    DATASETS,
    DetectionData,
    ListTargetLoader,
    Loader,
    Splits,
    batch_size_of,
    load_dataset,
)
from data_utils.detection import (
    INK_THRESHOLD,
    PRESETS,
    make_canvases,
    mask_to_rle,
    to_coco,
)
from utils.exceptions import ConfigError

needs_data = pytest.mark.skipif(
    not os.environ.get("AIFS_DATA_DIR"),
    reason="AIFS_DATA_DIR is not set: point it at the verified data copies (../shared/datasets)",
)


@pytest.fixture(scope="module")
def pool() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 1,797 digits, 8x8 in 0..16, as uint8 28x28 images in 0..255."""
    digits = load_digits()
    x = torch.from_numpy(digits.images).float()[:, None] * (255 / 16)  # (N, 1, 8, 8)
    x = F.interpolate(x, size=(28, 28), mode="bilinear").round().clamp(0, 255)
    return x[:, 0].to(torch.uint8).numpy(), digits.target.astype(np.int64)


def canvases(pool, n: int = 200, **options):
    images, labels = pool
    return make_canvases(images, labels, n, **options)


@pytest.mark.parametrize("preset", list(PRESETS))
def test_boxes_match_masks_and_stay_on_the_canvas(pool, preset: str) -> None:
    x, targets = canvases(pool, preset=preset, seed=1)
    assert x.shape == (200, 1, 64, 64) and x.dtype == torch.uint8
    limits = PRESETS[preset]
    for image, t in zip(x, targets):
        k = len(t["labels"])
        assert k <= limits.max_objects
        assert t["boxes"].dtype == torch.float32 and t["boxes"].shape == (k, 4)
        assert t["masks"].dtype == torch.bool and t["masks"].shape == (k, 64, 64)
        assert t["labels"].dtype == torch.int64 and t["iscrowd"].dtype == torch.bool
        assert bool((t["boxes"] >= 0).all() and (t["boxes"] <= 64).all()), "box off the canvas"
        for box, mask, area in zip(t["boxes"], t["masks"], t["area"]):
            ys, xs = torch.nonzero(mask, as_tuple=True)
            assert len(ys) == int(area) > 0
            tight = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]  # x2, y2 exclusive
            assert box.tolist() == [float(v) for v in tight], "box is not the mask's tight box"
            assert bool((image[0][mask] >= INK_THRESHOLD).all()), "mask on a dark pixel"
        # visible masks of one canvas never share a pixel
        assert bool(t["masks"].sum(0).le(1).all())


def test_presets_limit_counts_and_overlap(pool) -> None:
    _, easy = canvases(pool, preset="easy", seed=2)
    assert all(1 <= len(t["labels"]) <= 2 for t in easy)
    assert not any(bool(t["iscrowd"].any()) for t in easy)  # objects never touch
    for t in easy:
        b = t["boxes"]
        if len(b) == 2:  # disjoint squares: the tight boxes cannot overlap either
            overlap = (torch.minimum(b[0, 2:], b[1, 2:]) - torch.maximum(b[0, :2], b[1, :2])).clamp(
                min=0
            )
            assert float(overlap.prod()) == 0.0
    _, crowded = canvases(pool, n=600, preset="overlapping", seed=2)
    counts = [len(t["labels"]) for t in crowded]
    assert max(counts) == 4 and np.mean(counts) > 2
    assert sum(int(t["iscrowd"].sum()) for t in crowded) > 0, "overlap should hide some objects"


def test_hidden_objects_are_crowd_or_dropped(pool) -> None:
    x_crowd, crowd = canvases(pool, n=600, preset="overlapping", seed=3)
    x_drop, dropped = canvases(pool, n=600, preset="overlapping", seed=3, hidden="drop")
    assert torch.equal(x_crowd, x_drop)  # the same images, only the annotations differ
    for c, d in zip(crowd, dropped):
        assert not bool(d["iscrowd"].any())
        assert torch.equal(d["boxes"], c["boxes"][~c["iscrowd"]])
        assert torch.equal(d["labels"], c["labels"][~c["iscrowd"]])
    with pytest.raises(ConfigError, match="hidden"):
        canvases(pool, n=2, hidden="keep")
    with pytest.raises(ConfigError, match="preset"):
        canvases(pool, n=2, preset="chaotic")


def test_same_seed_same_set(pool) -> None:
    a, ta = canvases(pool, n=50, preset="overlapping", seed=[4, 0])
    b, tb = canvases(pool, n=50, preset="overlapping", seed=[4, 0])
    assert torch.equal(a, b)
    for u, v in zip(ta, tb):
        assert all(torch.equal(u[key], v[key]) for key in u)
    c, _ = canvases(pool, n=50, preset="overlapping", seed=[5, 0])
    assert not torch.equal(a, c)


def test_objects_are_labelled_with_their_source_digit(pool) -> None:
    images, labels = pool
    _, targets = canvases(pool, n=100, preset="easy", seed=6)
    for t in targets:
        assert torch.equal(t["labels"], torch.from_numpy(labels[t["source_index"].numpy()]))
    used = torch.cat([t["source_index"] for t in targets])
    assert len(used) == len(set(used.tolist())), "a digit repeats before the pool is used up"


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # pycocotools'
def test_mask_to_rle_matches_pycocotools(pool) -> None:
    mask_utils = pytest.importorskip("pycocotools.mask")
    _, targets = canvases(pool, n=5, seed=7)
    masks = [m for t in targets for m in t["masks"]] + [torch.ones(64, 64, dtype=torch.bool)]
    for m in masks:
        rle = mask_to_rle(m.numpy())
        decoded = mask_utils.decode(mask_utils.frPyObjects(rle, 64, 64))
        assert np.array_equal(decoded.astype(bool), m.numpy())
        assert sum(rle["counts"]) == 64 * 64


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")
def test_coco_export_loads_in_pycocotools(pool) -> None:
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO

    _, targets = canvases(pool, n=20, preset="overlapping", seed=8)
    names = [str(d) for d in range(10)]
    data = to_coco(targets, names, 64)
    json.dumps(data)  # plain values: can be written as a json file
    coco = COCO()
    coco.dataset = data
    coco.createIndex()
    assert len(coco.getImgIds()) == 20 and len(coco.getCatIds()) == 10
    for i, t in enumerate(targets):
        anns = coco.loadAnns(coco.getAnnIds(imgIds=[i]))
        assert len(anns) == len(t["labels"])
        for ann, box, mask, crowd in zip(anns, t["boxes"], t["masks"], t["iscrowd"]):
            x1, y1, w, h = ann["bbox"]
            assert [x1, y1, x1 + w, y1 + h] == box.tolist()
            assert np.array_equal(coco.annToMask(ann).astype(bool), mask.numpy())
            assert ann["iscrowd"] == int(crowd) and ann["id"] >= 1


def _detection_data(pool) -> DetectionData:
    parts = [canvases(pool, n=n, seed=[9, i]) for i, n in enumerate((30, 10, 10))]
    return DetectionData(
        name="tiny_detection",
        x_train=parts[0][0],
        y_train=parts[0][1],
        x_val=parts[1][0],
        y_val=parts[1][1],
        x_test=parts[2][0],
        y_test=parts[2][1],
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        preset="medium",
    )


def test_detection_data_is_a_splits_with_list_target_loaders(pool) -> None:
    data = _detection_data(pool)
    assert isinstance(data, Splits)
    facts = data.facts()
    json.dumps(facts)
    assert facts["dataset"] == "tiny_detection" and facts["input_shape"] == [1, 64, 64]
    assert "train 30 canvases" in data.summary()
    train, val, test = data.loaders(4, seed=0)
    for loader in (train, val, test):
        assert isinstance(loader, Loader) and isinstance(loader, ListTargetLoader)
        loader.set_epoch(1)
        batches = list(loader)
        assert len(batches) == len(loader)
        for x, targets in batches:
            assert x.dtype == torch.float32 and x.shape[1:] == (1, 64, 64) and x.max() <= 1
            assert len(targets) == len(x) == batch_size_of((x, targets))
    train.set_epoch(0)
    first = [t["boxes"] for _, ts in train for t in ts]
    train.set_epoch(0)
    assert all(
        torch.equal(a, b) for a, b in zip(first, [t["boxes"] for _, ts in train for t in ts])
    )
    assert data.coco("val")["images"][-1]["id"] == 9


def test_registered_loaders_take_their_options() -> None:
    assert {"mnist_detection", "fashion_mnist_detection"} <= set(DATASETS)
    with pytest.raises(ConfigError, match="preset"):
        DATASETS["mnist_detection"](preset="chaotic")
    with pytest.raises(ConfigError, match="n_train"):
        DATASETS["mnist_detection"](n_train=0)


@needs_data
@pytest.mark.parametrize("name", ["mnist_detection", "fashion_mnist_detection"])
def test_detection_sets_through_load_dataset(name: str) -> None:
    options = dict(n_train=300, n_val=60, n_test=60, preset="overlapping")
    data = load_dataset(name, seed=3, **options)
    assert isinstance(data, DetectionData) and data.name == name
    assert data.x_train.shape == (300, 1, 64, 64) and len(data.y_test) == 60
    train_digits = set(torch.cat([t["source_index"] for t in data.y_train]).tolist())
    val_digits = set(torch.cat([t["source_index"] for t in data.y_val]).tolist())
    assert not train_digits & val_digits, "a val digit is also in a training canvas"
    assert max(torch.cat([t["source_index"] for t in data.y_test]).tolist()) < 10_000  # test set
    json.dumps(data.facts())
    if name == "mnist_detection":  # the whole pipeline is seeded (one source is enough)
        again = load_dataset(name, seed=3, **options)
        assert torch.equal(again.x_train, data.x_train) and torch.equal(again.x_val, data.x_val)
        assert all(torch.equal(a["masks"], b["masks"]) for a, b in zip(again.y_test, data.y_test))
        other = load_dataset(name, seed=4, **options)
        assert not torch.equal(other.x_train, data.x_train)
