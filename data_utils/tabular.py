"""scikit-learn's bundled tabular data sets (shipped inside the package, no download).

Each loader takes keyword-only ``seed`` and ``data_dir`` (both unused: the data are fixed files),
so that all registered loaders share one signature.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from data_utils.base import RawDataset


def _from_bunch(x: np.ndarray, y: np.ndarray, class_names: list[str]) -> RawDataset:
    return RawDataset(
        x=torch.as_tensor(np.asarray(x, dtype=np.float32)),
        y=torch.as_tensor(np.asarray(y, dtype=np.int64)),
        num_classes=len(class_names),
        class_names=class_names,
    )


def _sklearn_datasets() -> Any:
    """scikit-learn's bundled data sets, imported when first needed: importing scikit-learn
    takes about a second, which every script's start-up (and every test subprocess) would pay."""
    from sklearn import datasets

    return datasets


def _iris_pair(keep: tuple[int, int]) -> RawDataset:
    bunch = _sklearn_datasets().load_iris()
    mask = np.isin(bunch.target, keep)
    y = (bunch.target[mask] == keep[1]).astype(np.int64)  # keep[0] -> 0, keep[1] -> 1
    return _from_bunch(bunch.data[mask], y, [str(bunch.target_names[k]) for k in keep])


def load_iris(*, seed: int = 42, data_dir: str | Path | None = None) -> RawDataset:
    """Fisher's iris: 150 flowers, 4 measurements in cm, 3 species (setosa/versicolor/virginica)."""
    bunch = _sklearn_datasets().load_iris()
    return _from_bunch(bunch.data, bunch.target, [str(n) for n in bunch.target_names])


def load_iris_binary(*, seed: int = 42, data_dir: str | Path | None = None) -> RawDataset:
    """Iris setosa (0) vs versicolor (1): 100 flowers, linearly separable."""
    return _iris_pair((0, 1))


def load_iris_hard(*, seed: int = 42, data_dir: str | Path | None = None) -> RawDataset:
    """Iris versicolor (0) vs virginica (1): 100 flowers, NOT linearly separable."""
    return _iris_pair((1, 2))


def load_breast_cancer(*, seed: int = 42, data_dir: str | Path | None = None) -> RawDataset:
    """Wisconsin diagnostic breast cancer: 569 tumours, 30 features, malignant (0) / benign (1)."""
    bunch = _sklearn_datasets().load_breast_cancer()
    return _from_bunch(bunch.data, bunch.target, [str(n) for n in bunch.target_names])


def load_digits(*, seed: int = 42, data_dir: str | Path | None = None) -> RawDataset:
    """UCI optical digits: 1797 images of 8x8 pixels (values 0..16), flattened to 64 features."""
    bunch = _sklearn_datasets().load_digits()
    return _from_bunch(bunch.data, bunch.target, [str(n) for n in bunch.target_names])


def load_wine(*, seed: int = 42, data_dir: str | Path | None = None) -> RawDataset:
    """UCI wine: 178 wines, 13 chemical measurements, 3 cultivars."""
    bunch = _sklearn_datasets().load_wine()
    return _from_bunch(bunch.data, bunch.target, [str(n) for n in bunch.target_names])
