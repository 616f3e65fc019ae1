"""DATASETS: the registry of data sets, a plain dict from name to loader function.

Every loader is called as ``loader(seed=..., data_dir=..., **options)``. The CLI, the tests and
docs/datasets.md all enumerate this dict; adding a data set means adding one line here.

Use every data set through ``load_dataset(name, seed=..., **options)``, which returns a Splits
(data_utils.base) with ``loaders(batch_size, seed=...)``, ``facts()`` and ``summary()``:

    loader returns     load_dataset returns          loaders yield
    RawDataset         DatasetSplits (split here)    ArrayLoader: (x, y)
    CharCorpus         the CharCorpus                TokenWindows: (x, y) int64 (B, T)
    GraphData          the GraphData                 FullGraphLoader: {"x", "adj", ..., "mask"}
    SegmentationData   the SegmentationData          ArrayLoader: (image, mask (B, H, W))
    DetectionData      the DetectionData             ListTargetLoader: (image, [target dicts])
    SequenceTask       the SequenceTask              ArrayLoader: (x, y) sequences (sequences.py)

Most loaders return a RawDataset (N examples with one class each), which load_dataset splits
and standardises. Text (tiny_shakespeare), graphs (cora, citeseer, karate) and segmentation
(isbi_membrane) do not fit that shape; their loaders return their own container, which carries
its split and is itself a Splits. Calling a loader directly, ``DATASETS["cora"]()``, gives the
same container.
"""

from __future__ import annotations

from functools import partial
from typing import Callable, Union

from data_utils import detection, graphs, sequences, synthetic, tabular, text, vision
from data_utils.base import RawDataset
from data_utils.detection import DetectionData
from data_utils.graphs import GraphData
from data_utils.sequences import SequenceTask
from data_utils.text import CharCorpus
from data_utils.vision import SegmentationData

AnyDataset = Union[RawDataset, CharCorpus, GraphData, SegmentationData, SequenceTask, DetectionData]

DATASETS: dict[str, Callable[..., AnyDataset]] = {
    # synthetic 2-D (data_utils/synthetic.py)
    "xor": synthetic.load_xor,
    "blobs": synthetic.load_blobs,
    "circles": synthetic.load_circles,
    "moons": synthetic.load_moons,
    "spirals": synthetic.load_spirals,
    # generated sequence problems (data_utils/sequences.py), all -> SequenceTask
    "adding": sequences.load_adding,
    "reverse": partial(sequences.load_transduction, "reverse"),
    "sort": partial(sequences.load_transduction, "sort"),
    "addition": partial(sequences.load_transduction, "addition"),
    # scikit-learn bundled (data_utils/tabular.py)
    "iris": tabular.load_iris,
    "iris_binary": tabular.load_iris_binary,
    "iris_hard": tabular.load_iris_hard,
    "breast_cancer": tabular.load_breast_cancer,
    "digits": tabular.load_digits,
    "wine": tabular.load_wine,
    # images (data_utils/vision.py); files verified by checksum, see data_utils/sources.py
    "mnist": vision.load_mnist,
    "fashion_mnist": vision.load_fashion_mnist,
    "mnist1d": vision.load_mnist1d,
    "cifar10": vision.load_cifar10,
    "isbi_membrane": vision.load_isbi_membrane,  # -> SegmentationData
    # detection canvases generated from digits (data_utils/detection.py), -> DetectionData
    "mnist_detection": detection.load_detection,
    "fashion_mnist_detection": partial(detection.load_detection, source="fashion_mnist"),
    # text (data_utils/text.py)
    "tiny_shakespeare": text.load_tiny_shakespeare,  # -> CharCorpus
    "sst2": text.load_sst2,
    "sentences": text.load_sentences,  # unlabelled, for pretraining (17_bert)
    # graphs (data_utils/graphs.py), all -> GraphData
    "cora": graphs.load_cora,
    "citeseer": graphs.load_citeseer,
    "karate": graphs.load_karate,
}
