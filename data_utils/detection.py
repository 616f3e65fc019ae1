"""Detection and instance segmentation canvases generated from MNIST or Fashion-MNIST digits.

Each canvas is a 64x64 grey image holding one to four digits (or clothes) of random size, 12 to
28 pixels, placed with limited overlap and combined by a pixel-wise maximum. Every object has a
class label, a visible-pixel mask and the tight box around that mask, in COCO's conventions, so
the detectors of Module 6 (models 24-27) train and evaluate on small, fast, exactly labelled
data, and pycocotools can serve as the oracle of the hand-written mAP (engine/detection.py).

    from data_utils import load_dataset
    data = load_dataset("mnist_detection", seed=0, preset="medium")     # a DetectionData
    train, val, test = data.loaders(32, seed=0)
    for x, targets in train:          # x float32 (B, 1, 64, 64); targets: B dicts (below)
        ...
    coco = data.coco("val")           # COCO-style annotation dict (pycocotools.coco.COCO)

One target per canvas (K objects; K varies, so targets stay a list, see ListTargetLoader):
    boxes         float32 (K, 4)      tight box of the visible mask, xyxy pixels, x2/y2 exclusive
    labels        int64 (K,)          the digit's class 0..9
    masks         bool (K, 64, 64)    visible pixels: the object's ink where it is the brightest
    area          float32 (K,)        visible pixel count (COCO's ann["area"])
    iscrowd       bool (K,)           mostly hidden or sliver objects (with hidden="crowd")
    source_index  int64 (K,)          the digit's index in its source split (MNIST train or test)

Splits never share a digit: train and val canvases draw from two disjoint parts of MNIST's
training images (val from ``VAL_DIGITS`` of them, chosen by the seed), test canvases from
MNIST's own test images. Generation is vectorised (10,000 canvases in a few seconds), so
nothing is cached: the same (seed, options) always gives the same canvases.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from data_utils.base import RawDataset, Transform
from data_utils.loaders import ListTargetLoader
from data_utils.transforms import to_float
from data_utils.vision import load_fashion_mnist, load_mnist
from utils.exceptions import ConfigError

logger = logging.getLogger(__name__)

IMAGE_SIZE = 64  # canvas side in pixels
VAL_DIGITS = 10_000  # MNIST training digits set aside for the val canvases (never in train)
INK_THRESHOLD = 64  # a pixel (0..255) belongs to an object's mask from this intensity on
MIN_VISIBLE = 0.5  # an object with less than this fraction of its ink visible is "mostly hidden"
MIN_SIDE = 4  # an occluded object whose visible box is narrower than this is a sliver
SPLIT_IDS = {"train": 0, "val": 1, "test": 2}  # mixed into the seed: one stream per split


@dataclass(frozen=True)
class Preset:
    """How crowded the canvases are.

    Attributes:
        min_objects, max_objects: Objects attempted per canvas (uniform in this range).
        min_size, max_size: Side of an object's square in pixels (uniform, inclusive).
        max_iou: Largest IoU allowed between the squares of two objects of one canvas; a
            placement that breaks it is redrawn (up to ``tries`` times, then the object is
            left out, so a canvas may hold fewer objects than drawn, never zero).
    """

    min_objects: int
    max_objects: int
    min_size: int = 12
    max_size: int = 28
    max_iou: float = 0.0
    tries: int = 30


PRESETS: dict[str, Preset] = {
    "easy": Preset(1, 2, max_iou=0.0),  # one or two objects that never touch
    "medium": Preset(1, 4, max_iou=0.1),  # up to four, squares overlap a little
    "overlapping": Preset(1, 4, max_iou=0.4),  # up to four, often occluding each other
}


# ---------------------------------------------------------------- generation


def _square_iou(
    pos: np.ndarray, size: np.ndarray, other_pos: np.ndarray, other_size: np.ndarray
) -> np.ndarray:
    """IoU of axis-aligned squares, elementwise: pos (N, 2) top-left (y, x), size (N,)."""
    lo = np.maximum(pos, other_pos)  # (N, 2)
    hi = np.minimum(pos + size[:, None], other_pos + other_size[:, None])
    inter = np.clip(hi - lo, 0, None).prod(axis=1)  # (N,)
    union = size**2 + other_size**2 - inter
    return inter / union


def _place(
    n: int, preset: Preset, image_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sizes and top-left corners of every object of n canvases, overlap limited by max_iou.

    Returns:
        sizes int (n, max_objects), corners int (n, max_objects, 2) as (y, x), and valid bool
        (n, max_objects): which slots hold an object. Slot 0 always does.
    """
    m = preset.max_objects
    counts = rng.integers(preset.min_objects, m + 1, size=n)  # (n,)
    sizes = rng.integers(preset.min_size, preset.max_size + 1, size=(n, m))  # (n, m)
    corners = np.zeros((n, m, 2), dtype=np.int64)
    valid = np.zeros((n, m), dtype=bool)
    for j in range(m):  # one slot at a time, all canvases at once
        pending = np.flatnonzero(counts > j)
        for _ in range(preset.tries):
            if len(pending) == 0:
                break
            span = image_size - sizes[pending, j] + 1  # (P,) positions that fit
            pos = (rng.random((len(pending), 2)) * span[:, None]).astype(np.int64)  # (P, 2)
            ok = np.ones(len(pending), dtype=bool)
            for i in range(j):  # against every object already placed
                iou = _square_iou(
                    pos, sizes[pending, j], corners[pending, i], sizes[pending, i]
                )  # (P,)
                ok &= ~valid[pending, i] | (iou <= preset.max_iou)
            corners[pending[ok], j] = pos[ok]
            valid[pending[ok], j] = True
            pending = pending[~ok]
    return sizes, corners, valid


def _resized(images: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Each image (N, 28, 28) uint8 resized to its own square size (antialiased bilinear)."""
    out: list[np.ndarray] = [np.zeros(0)] * len(images)
    for s in np.unique(sizes):
        idx = np.flatnonzero(sizes == s)
        x = torch.from_numpy(images[idx]).float()[:, None]  # (n, 28, 28) -> (n, 1, 28, 28)
        y = F.interpolate(x, size=(int(s), int(s)), mode="bilinear", antialias=True)
        y = y[:, 0].round().clamp(0, 255).to(torch.uint8).numpy()  # (n, s, s)
        for i, image in zip(idx, y):
            out[i] = image
    return out


def _box_of(masks: np.ndarray) -> np.ndarray:
    """Tight xyxy boxes (x2, y2 exclusive) of masks (K, H, W) -> (K, 4) float32 (junk if empty)."""
    rows, cols = masks.any(axis=2), masks.any(axis=1)  # (K, H), (K, W)
    h, w = rows.shape[1], cols.shape[1]
    y1, x1 = rows.argmax(1), cols.argmax(1)
    y2, x2 = h - rows[:, ::-1].argmax(1), w - cols[:, ::-1].argmax(1)
    return np.stack([x1, y1, x2, y2], axis=1).astype(np.float32)


def make_canvases(
    images: np.ndarray,
    labels: np.ndarray,
    n: int,
    *,
    preset: str | Preset = "medium",
    seed: int | Sequence[int] = 0,
    image_size: int = IMAGE_SIZE,
    hidden: str = "crowd",
    chunk: int = 1000,
) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Generate n canvases from a pool of small images, with their detection targets.

    Objects are drawn from the pool in a seeded random order (each image once before any
    repeats), resized to their square, and combined by a pixel-wise maximum. An object owns
    the pixels where it is the brightest (ties: the object drawn first) and its ink is at least
    INK_THRESHOLD; its mask is those pixels and its box their tight box. Objects with no
    visible pixel are dropped; objects with less than MIN_VISIBLE of their ink visible, or
    whose visible box is under MIN_SIDE pixels on a side that occlusion shortened, are marked
    crowd (hidden="crowd", ignored by COCO's mAP) or dropped (hidden="drop"). Their pixels stay
    in the image either way.

    Args:
        images: Pool of uint8 images (N, h, w), e.g. MNIST digits (N, 28, 28).
        labels: int64 (N,) class of each pool image.
        n: Number of canvases.
        preset: A name in PRESETS, or a Preset.
        seed: Seed (or seed sequence) of placement and digit order.
        image_size: Side of the square canvas.
        hidden: "crowd" or "drop": what happens to mostly hidden objects and slivers.
        chunk: Canvases composed at once (memory: chunk * max_objects * image_size^2 bytes).

    Returns:
        (canvases uint8 (n, 1, S, S), targets): one dict per canvas, as in the module docstring.
    """
    if isinstance(preset, str):
        if preset not in PRESETS:
            raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
        preset = PRESETS[preset]
    if hidden not in ("crowd", "drop"):
        raise ConfigError(f"hidden must be 'crowd' or 'drop', got {hidden!r}")
    assert preset.max_size <= image_size, "objects must fit on the canvas"
    assert images.ndim == 3 and len(images) == len(labels) > 0, "images (N, h, w), labels (N,)"
    rng = np.random.default_rng(seed)
    sizes, corners, valid = _place(n, preset, image_size, rng)
    slots = np.argwhere(valid)  # (O, 2) (canvas, slot) of every object, canvas-major
    # the pool in random order, each image once before any repeats
    reps = -(-len(slots) // len(images))
    order = np.concatenate([rng.permutation(len(images)) for _ in range(reps)])[: len(slots)]
    source = np.full(valid.shape, -1, dtype=np.int64)
    source[valid] = order
    pasted = _resized(images[order], sizes[valid])  # one (s, s) image per object
    patch = {tuple(slot): p for slot, p in zip(slots.tolist(), pasted)}

    canvases = np.zeros((n, image_size, image_size), dtype=np.uint8)
    targets: list[dict[str, Tensor]] = []
    m = preset.max_objects
    for start in range(0, n, chunk):
        stop = min(n, start + chunk)
        layers = np.zeros((stop - start, m, image_size, image_size), dtype=np.uint8)
        for c in range(start, stop):
            for j in np.flatnonzero(valid[c]):
                (y, x), s = corners[c, j], sizes[c, j]
                layers[c - start, j, y : y + s, x : x + s] = patch[(c, int(j))]
        canvases[start:stop] = layers.max(axis=1)  # pixel-wise maximum of the objects
        # owner: the brightest object at each pixel, the first drawn on ties
        owner = np.zeros((stop - start, image_size, image_size), dtype=np.int64)
        best = layers[:, 0].copy()
        for j in range(1, m):
            brighter = layers[:, j] > best
            owner[brighter] = j
            np.maximum(best, layers[:, j], out=best)
        ink = layers >= INK_THRESHOLD  # (B, m, S, S)
        visible = ink & (owner[:, None] == np.arange(m)[None, :, None, None])
        vis_count = visible.sum(axis=(2, 3))  # (B, m)
        ink_count = ink.sum(axis=(2, 3))
        flat = (-1, image_size, image_size)
        boxes = _box_of(visible.reshape(flat)).reshape(stop - start, m, 4)  # (B, m, 4)
        full = _box_of(ink.reshape(flat)).reshape(stop - start, m, 4)
        sides = boxes[..., 2:] - boxes[..., :2]  # (B, m, 2) visible width, height
        shortened = sides < full[..., 2:] - full[..., :2]  # occlusion cut this side
        sliver = ((sides < MIN_SIDE) & shortened).any(axis=2)  # (B, m)
        keep = valid[start:stop] & (vis_count > 0)
        crowd = keep & ((vis_count < MIN_VISIBLE * ink_count) | sliver)
        if hidden == "drop":
            keep &= ~crowd
            crowd[:] = False
        for c in range(start, stop):
            k = keep[c - start]  # (m,) slots that become annotations
            targets.append(
                {
                    "boxes": torch.from_numpy(boxes[c - start, k]),
                    "labels": torch.from_numpy(labels[source[c, k]].astype(np.int64)),
                    "masks": torch.from_numpy(visible[c - start, k]),
                    "area": torch.from_numpy(vis_count[c - start, k].astype(np.float32)),
                    "iscrowd": torch.from_numpy(crowd[c - start, k]),
                    "source_index": torch.from_numpy(source[c, k]),
                }
            )
    return torch.from_numpy(canvases)[:, None], targets  # (n, S, S) -> (n, 1, S, S)


# ---------------------------------------------------------------- COCO-style export


def mask_to_rle(mask: np.ndarray | Tensor) -> dict[str, Any]:
    """COCO's uncompressed run-length encoding of one binary mask (H, W).

    Runs are counted in column-major (Fortran) order and start with a run of zeros (possibly
    empty): {"size": [H, W], "counts": [zeros, ones, zeros, ...]}.
    """
    m = np.asarray(mask, dtype=bool)
    flat = m.T.reshape(-1)  # column-major
    change = np.flatnonzero(np.diff(flat.astype(np.int8))) + 1  # where the value flips
    bounds = np.concatenate([[0], change, [flat.size]])
    counts = np.diff(bounds).tolist()
    if flat.size and flat[0]:
        counts = [0] + counts  # the first run counts zeros
    return {"size": [int(m.shape[0]), int(m.shape[1])], "counts": counts}


def to_coco(
    targets: Sequence[dict[str, Tensor]], class_names: Sequence[str], image_size: int
) -> dict[str, Any]:
    """A COCO-style annotation dict of a list of targets (for pycocotools or a json file).

    Image i has id i; annotation ids count from 1 (COCOeval reads 0 as "unmatched"); category
    ids are the class indices. Boxes become [x, y, width, height]; masks (if present)
    uncompressed RLE; area is target["area"] if present, else the box area.
    """
    images = [{"id": i, "height": image_size, "width": image_size} for i in range(len(targets))]
    categories = [{"id": k, "name": name} for k, name in enumerate(class_names)]
    annotations = []
    for i, target in enumerate(targets):
        boxes = target["boxes"].to(torch.float64)
        xywh = torch.cat([boxes[:, :2], boxes[:, 2:] - boxes[:, :2]], dim=1).tolist()
        area = target.get("area")
        crowd = target.get("iscrowd")
        for j, label in enumerate(target["labels"].tolist()):
            ann = {
                "id": len(annotations) + 1,
                "image_id": i,
                "category_id": int(label),
                "bbox": xywh[j],
                "area": float(area[j]) if area is not None else xywh[j][2] * xywh[j][3],
                "iscrowd": int(crowd[j]) if crowd is not None else 0,
            }
            if "masks" in target:
                ann["segmentation"] = mask_to_rle(target["masks"][j].numpy())
            annotations.append(ann)
    return {"images": images, "annotations": annotations, "categories": categories}


# ---------------------------------------------------------------- the data set


@dataclass
class DetectionData:
    """Canvases with a variable number of objects each: a Splits with ListTargetLoaders.

    Attributes:
        name: Registry name.
        x_train, x_val, x_test: Canvases, uint8 (N, 1, S, S).
        y_train, y_val, y_test: One target dict per canvas (module docstring).
        num_classes: Object classes (10).
        class_names: Name of each class.
        preset: Name of the preset the canvases were drawn with.
        transform: Per-batch image transform (uint8 -> float in [0, 1]).
    """

    name: str
    x_train: Tensor
    y_train: list[dict[str, Tensor]]
    x_val: Tensor
    y_val: list[dict[str, Tensor]]
    x_test: Tensor
    y_test: list[dict[str, Tensor]]
    num_classes: int
    class_names: list[str]
    preset: str
    transform: Transform | None = to_float

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one canvas, (1, S, S)."""
        return tuple(self.x_train.shape[1:])

    def split(self, name: str) -> tuple[Tensor, list[dict[str, Tensor]]]:
        """(canvases, targets) of "train", "val" or "test"."""
        assert name in SPLIT_IDS, f"split must be one of {list(SPLIT_IDS)}, got {name!r}"
        return getattr(self, f"x_{name}"), getattr(self, f"y_{name}")

    def coco(self, split: str) -> dict[str, Any]:
        """The split's annotations as a COCO-style dict (see to_coco)."""
        return to_coco(self.split(split)[1], self.class_names, self.input_shape[-1])

    def loaders(
        self,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        eval_batch_size: int | None = None,
    ) -> tuple[ListTargetLoader, ListTargetLoader, ListTargetLoader]:
        """(canvases, [targets]) ListTargetLoaders: train shuffled per (seed, epoch), val and
        test in order."""
        eval_bs = eval_batch_size or batch_size
        common = dict(transform=self.transform, rank=rank, world_size=world_size)
        train = ListTargetLoader(
            self.x_train, self.y_train, batch_size, shuffle=True, seed=seed, **common
        )
        val = ListTargetLoader(self.x_val, self.y_val, eval_bs, **common)
        test = ListTargetLoader(self.x_test, self.y_test, eval_bs, **common)
        return train, val, test

    def facts(self) -> dict[str, Any]:
        """Data set name, classes, canvas shape and preset."""
        return {
            "dataset": self.name,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
            "input_shape": list(self.input_shape),
            "preset": self.preset,
        }

    def summary(self) -> str:
        """E.g. "train 10000 canvases (25123 objects, 312 crowd) | val 1000 (...) | ..."."""

        def count(targets: list[dict[str, Tensor]]) -> str:
            objects = sum(len(t["labels"]) for t in targets)
            crowd = sum(int(t["iscrowd"].sum()) for t in targets)
            return f"{len(targets)} canvases ({objects} objects, {crowd} crowd)"

        return (
            f"train {count(self.y_train)} | val {count(self.y_val)} | test {count(self.y_test)} "
            f"| input {self.input_shape} | {self.num_classes} classes | preset {self.preset}"
        )


SOURCES = {"mnist": load_mnist, "fashion_mnist": load_fashion_mnist}


def split_pools(raw: RawDataset, seed: int) -> dict[str, tuple[np.ndarray, ...]]:
    """The source images each split draws from, disjoint between splits.

    Train and val are disjoint parts of the source's training images (val: VAL_DIGITS of them,
    chosen by the seed), test is the source's test set.

    Returns:
        split name -> (images uint8 (N, 28, 28), labels int64 (N,), index int64 (N,)): index is
        each image's position in its source split (training or test images).
    """
    assert raw.x_test is not None and raw.y_test is not None, "the source needs a test split"
    x, y = raw.x[:, 0].numpy(), raw.y.numpy()  # (60000, 28, 28), (60000,)
    perm = np.random.default_rng([seed, 7]).permutation(len(x))
    val_idx, train_idx = np.sort(perm[:VAL_DIGITS]), np.sort(perm[VAL_DIGITS:])
    test_idx = np.arange(len(raw.y_test))
    return {
        "train": (x[train_idx], y[train_idx], train_idx),
        "val": (x[val_idx], y[val_idx], val_idx),
        "test": (raw.x_test[:, 0].numpy(), raw.y_test.numpy(), test_idx),
    }


def load_detection(
    *,
    seed: int = 42,
    data_dir: str | Path | None = None,
    source: str = "mnist",
    preset: str = "medium",
    n_train: int = 10_000,
    n_val: int = 1_000,
    n_test: int = 2_000,
    hidden: str = "crowd",
) -> DetectionData:
    """64x64 detection canvases of MNIST (or Fashion-MNIST) objects, generated from a seed.

    Registered as "mnist_detection" and "fashion_mnist_detection". ``source_index`` in the
    targets indexes the source's own training images for train and val (so the two are
    visibly disjoint) and its test images for test.

    Args:
        seed: Generation seed (the val digits, placements, sizes, digit order).
        data_dir: Data directory holding the source's files.
        source: "mnist" or "fashion_mnist".
        preset: "easy", "medium" or "overlapping" (PRESETS).
        n_train, n_val, n_test: Canvases per split.
        hidden: "crowd" (mark mostly hidden objects and slivers iscrowd) or "drop".
    """
    if source not in SOURCES:
        raise ConfigError(f"unknown source {source!r}; valid: {', '.join(SOURCES)}")
    if preset not in PRESETS:
        raise ConfigError(f"unknown preset {preset!r}; valid: {', '.join(PRESETS)}")
    for what, count in (("n_train", n_train), ("n_val", n_val), ("n_test", n_test)):
        if not (isinstance(count, int) and count >= 1):
            raise ConfigError(f"{what} must be an integer >= 1, got {count!r}")
    raw = SOURCES[source](seed=seed, data_dir=data_dir)
    pools = split_pools(raw, seed)
    out: dict[str, tuple[Tensor, list[dict[str, Tensor]]]] = {}
    for split, n in (("train", n_train), ("val", n_val), ("test", n_test)):
        images, labels, index = pools[split]
        x, targets = make_canvases(
            images, labels, n, preset=preset, seed=[seed, SPLIT_IDS[split]], hidden=hidden
        )
        for t in targets:  # pool positions -> positions in the source's own split
            t["source_index"] = torch.from_numpy(index)[t["source_index"]]
        out[split] = (x, targets)
    return DetectionData(
        name=f"{source}_detection",
        x_train=out["train"][0],
        y_train=out["train"][1],
        x_val=out["val"][0],
        y_val=out["val"][1],
        x_test=out["test"][0],
        y_test=out["test"][1],
        num_classes=raw.num_classes,
        class_names=list(raw.class_names),
        preset=preset,
    )
