"""Small synthetic 2-D data sets, generated from a seed (no files, no network).

Every loader takes keyword-only ``seed`` (the generation seed, passed down by load_dataset) and
``data_dir`` (ignored here, accepted so that all registered loaders share one signature), plus
options such as ``n_samples`` and ``noise``.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import torch

from data_utils.base import RawDataset

logger = logging.getLogger(__name__)


def _to_raw(x: np.ndarray, y: np.ndarray, class_names: list[str]) -> RawDataset:
    return RawDataset(
        x=torch.as_tensor(x, dtype=torch.float32),
        y=torch.as_tensor(y, dtype=torch.int64),
        num_classes=len(class_names),
        class_names=class_names,
    )


def load_xor(*, seed: int = 42, data_dir: str | Path | None = None) -> RawDataset:
    """The XOR truth table: the 4 points of {0,1}^2, label = x1 xor x2.

    There is nothing to split, so ``fixed_split`` is True and train = val = test = these points.
    A single-layer perceptron cannot exceed 3/4 of them (Minsky and Papert, 1969).
    """
    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=np.float32)  # (4, 2)
    y = np.array([0, 1, 1, 0], dtype=np.int64)  # (4,)
    raw = _to_raw(x, y, ["0", "1"])
    raw.fixed_split = True
    return raw


def load_blobs(
    *,
    seed: int = 42,
    data_dir: str | Path | None = None,
    n_samples: int = 200,
    noise: float = 1.0,
    margin: float = 0.5,
    separation: float = 4.0,
) -> RawDataset:
    """Two gaussian blobs in 2-D that are guaranteed linearly separable.

    The blob centres are +-(separation / 2) * (1, 1) / sqrt(2); the separating line is
    x1 + x2 = 0. Points closer than ``margin`` to that line, or on the wrong side of it, are
    rejected and redrawn, so the perceptron convergence theorem applies with margin >= ``margin``.

    Args:
        seed: Generation seed.
        data_dir: Unused.
        n_samples: Total number of points, split evenly between the two classes.
        noise: Standard deviation of each blob.
        margin: Minimum distance of every point from the separating line (must be > 0).
        separation: Distance between the two blob centres.
    """
    assert n_samples >= 2, f"blobs needs n_samples >= 2, got {n_samples}"
    assert margin > 0, f"blobs needs margin > 0 to be separable, got {margin}"
    assert noise > 0, f"blobs needs noise > 0, got {noise}"
    rng = np.random.default_rng(seed)
    normal = np.array([1.0, 1.0]) / math.sqrt(2.0)  # unit normal of the line x1 + x2 = 0
    counts = [n_samples // 2, n_samples - n_samples // 2]
    xs, ys = [], []
    for label, (count, sign) in enumerate(zip(counts, (-1.0, 1.0))):
        centre = sign * separation / 2.0 * normal
        kept: list[np.ndarray] = []
        n_kept = 0
        while n_kept < count:
            pts = centre + noise * rng.standard_normal((2 * count, 2))  # (2 * count, 2)
            signed_distance = sign * (pts @ normal)  # > 0 on this class's side
            good = pts[signed_distance >= margin]
            kept.append(good)
            n_kept += len(good)
        xs.append(np.concatenate(kept)[:count])
        ys.append(np.full(count, label, dtype=np.int64))
    return _to_raw(np.concatenate(xs), np.concatenate(ys), ["0", "1"])


def load_circles(
    *,
    seed: int = 42,
    data_dir: str | Path | None = None,
    n_samples: int = 400,
    noise: float = 0.1,
    factor: float = 0.5,
) -> RawDataset:
    """Two concentric circles (scikit-learn make_circles): not linearly separable.

    Args:
        seed: Generation seed.
        data_dir: Unused.
        n_samples: Total number of points.
        noise: Standard deviation of gaussian noise added to each point.
        factor: Radius of the inner circle relative to the outer one (0 < factor < 1).
    """
    from sklearn.datasets import make_circles  # here: importing scikit-learn takes a second

    x, y = make_circles(n_samples=n_samples, noise=noise, factor=factor, random_state=seed)
    return _to_raw(x, y, ["outer", "inner"])


def load_moons(
    *,
    seed: int = 42,
    data_dir: str | Path | None = None,
    n_samples: int = 400,
    noise: float = 0.2,
) -> RawDataset:
    """Two interleaving half circles (scikit-learn make_moons).

    Args:
        seed: Generation seed.
        data_dir: Unused.
        n_samples: Total number of points.
        noise: Standard deviation of gaussian noise added to each point.
    """
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=n_samples, noise=noise, random_state=seed)
    return _to_raw(x, y, ["0", "1"])


def load_spirals(
    *,
    seed: int = 42,
    data_dir: str | Path | None = None,
    n_samples: int = 400,
    noise: float = 0.2,
    num_classes: int = 2,
    turns: float = 1.0,
) -> RawDataset:
    """Interleaved spiral arms in 2-D, one arm per class (as in CS231n's spiral example).

    Arm k at radius r in (0, 1] sits at angle 2*pi*(turns*r + k/num_classes) + noise.

    Args:
        seed: Generation seed.
        data_dir: Unused.
        n_samples: Total number of points, split evenly between the arms.
        noise: Standard deviation of the angular noise, in radians.
        num_classes: Number of arms.
        turns: How many full turns each arm makes.
    """
    assert num_classes >= 2, f"spirals needs num_classes >= 2, got {num_classes}"
    rng = np.random.default_rng(seed)
    xs, ys = [], []
    for k in range(num_classes):
        count = n_samples // num_classes + (1 if k < n_samples % num_classes else 0)
        r = np.linspace(0.0, 1.0, count + 1)[1:]  # (count,), r > 0: the arms meet only at 0
        theta = 2 * math.pi * (turns * r + k / num_classes) + noise * rng.standard_normal(count)
        xs.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))  # (count, 2)
        ys.append(np.full(count, k, dtype=np.int64))
    return _to_raw(np.concatenate(xs), np.concatenate(ys), [str(k) for k in range(num_classes)])
