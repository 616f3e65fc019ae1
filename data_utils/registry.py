"""DATASETS: the registry of data sets, a plain dict from name to loader function.

Every loader is called as ``loader(seed=..., data_dir=..., **options)``. The CLI, the tests and
docs/datasets.md all enumerate this dict; adding a data set means adding one line here.
"""

from __future__ import annotations

from typing import Callable

from data_utils import synthetic, tabular
from data_utils.base import RawDataset

DATASETS: dict[str, Callable[..., RawDataset]] = {
    # synthetic 2-D (data_utils/synthetic.py)
    "xor": synthetic.load_xor,
    "blobs": synthetic.load_blobs,
    "circles": synthetic.load_circles,
    "moons": synthetic.load_moons,
    "spirals": synthetic.load_spirals,
    # scikit-learn bundled (data_utils/tabular.py)
    "iris": tabular.load_iris,
    "iris_binary": tabular.load_iris_binary,
    "iris_hard": tabular.load_iris_hard,
    "breast_cancer": tabular.load_breast_cancer,
    "digits": tabular.load_digits,
    "wine": tabular.load_wine,
}
