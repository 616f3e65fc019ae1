"""The containers of the data layer, and the two small interfaces the engine relies on.

A registered loader of labelled examples returns a RawDataset (all examples, plus the source's
canonical test split when it has one); load_dataset turns it into a DatasetSplits (train/val/test,
standardised). Data of other shapes (a token stream, a graph, segmentation masks) come in their
own containers; all of them satisfy ``Splits``, and all their loaders satisfy ``Loader``.

Conventions shared by the whole project:
    features  torch.float32 (N, ...), or torch.uint8 images (N, C, H, W) turned into floats per
              batch by ``transform``;
    labels    torch.int64 class indices of shape (N,), 0..num_classes-1, also for binary tasks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Iterator, Protocol, runtime_checkable

import torch
from torch import Tensor

if TYPE_CHECKING:
    from data_utils.loaders import ArrayLoader

Transform = Callable[[Tensor], Tensor]
# A random transform of training batches only (augmentation): (x, generator) -> x, drawing every
# random number from the generator the loader passes (data_utils.loaders.batch_generator).
TrainTransform = Callable[[Tensor, torch.Generator], Tensor]


@runtime_checkable
class Loader(Protocol):
    """What the Trainer needs from a loader of any kind of batch.

    Iterating gives one epoch of batches (a tuple, a dict or a list; ``batch_size_of`` counts
    the samples of each). The order is a function of (seed, epoch) only: the Trainer calls
    ``set_epoch(epoch)`` before every epoch, so a resumed run replays exactly the same batches.

    Attributes:
        batch_size: Samples per full batch (the last batch of an epoch may be smaller).
    """

    batch_size: int

    def set_epoch(self, epoch: int) -> None:
        """Select the order of this epoch."""

    def __iter__(self) -> Iterator[Any]:
        """The batches of the current epoch."""

    def __len__(self) -> int:
        """Number of batches per epoch for this rank."""


@runtime_checkable
class Splits(Protocol):
    """What ``load_dataset`` returns for every registered name.

    DatasetSplits (arrays of labelled examples), CharCorpus (a token stream), GraphData (one
    graph with node masks) and SegmentationData (images with per-pixel masks) all implement it.

    Attributes:
        name: Registry name of the data set.
    """

    name: str

    def loaders(
        self,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        eval_batch_size: int | None = None,
    ) -> tuple[Loader, Loader, Loader]:
        """(train, val, test) loaders; only train is shuffled, all are sharded by rank."""

    def facts(self) -> dict[str, Any]:
        """Plain values (str, int, float, lists) that a checkpoint records about its data."""

    def summary(self) -> str:
        """One log line: the split sizes and the data's key numbers."""


def check_labels(y: Tensor, num_classes: int, what: str) -> None:
    """Assert the label convention: int64 class indices of shape (N,) in 0..num_classes-1."""
    assert y.dtype == torch.int64, f"{what}: labels must be torch.int64, got {y.dtype}"
    assert y.dim() == 1, f"{what}: labels must have shape (N,), got {tuple(y.shape)}"
    if y.numel() > 0:
        assert int(y.min()) >= 0 and int(y.max()) < num_classes, (
            f"{what}: labels must lie in 0..{num_classes - 1}, "
            f"got {int(y.min())}..{int(y.max())}"
        )


def class_facts(data: Any) -> dict[str, Any]:
    """What a checkpoint records of labelled data: its name, classes and one example's shape."""
    return {
        "dataset": data.name,
        "num_classes": data.num_classes,
        "class_names": list(data.class_names),
        "input_shape": list(data.input_shape),
    }


@dataclass
class RawDataset:
    """All examples of one data set, as returned by a registered loader (before splitting).

    Attributes:
        x: Features, float32 (N, ...) or uint8 images (N, C, H, W).
        y: Labels, int64 (N,).
        num_classes: Number of classes.
        class_names: One name per class index.
        x_test: The source's canonical test features, if it has a fixed test split (MNIST, ...).
        y_test: The canonical test labels.
        fixed_split: True when train = val = test = x (the 4-point XOR truth table).
        transform: Per-batch transform applied by the loaders (e.g. uint8 -> float in [0, 1]).
        x_val: The source's canonical validation features (SST-2's dev set), kept by
            load_dataset instead of carving val from train. Needs x_test as well.
        y_val: The canonical validation labels.
        metadata: Anything else a model needs (SST-2's vocabulary and sentences); passed on to
            DatasetSplits.metadata unchanged.
    """

    x: Tensor
    y: Tensor
    num_classes: int
    class_names: list[str]
    x_test: Tensor | None = None
    y_test: Tensor | None = None
    fixed_split: bool = False
    transform: Transform | None = None
    x_val: Tensor | None = None
    y_val: Tensor | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        assert (
            self.x.shape[0] == self.y.shape[0]
        ), f"x has {self.x.shape[0]} rows but y has {self.y.shape[0]}"
        assert (
            len(self.class_names) == self.num_classes
        ), f"{len(self.class_names)} class names for {self.num_classes} classes"
        check_labels(self.y, self.num_classes, "RawDataset.y")
        assert (self.x_test is None) == (self.y_test is None), "give both x_test and y_test"
        if self.x_test is not None and self.y_test is not None:
            assert (
                self.x_test.shape[1:] == self.x.shape[1:]
            ), f"test features {tuple(self.x_test.shape[1:])} != train {tuple(self.x.shape[1:])}"
            check_labels(self.y_test, self.num_classes, "RawDataset.y_test")
        assert (self.x_val is None) == (self.y_val is None), "give both x_val and y_val"
        if self.x_val is not None and self.y_val is not None:
            assert self.x_test is not None, "a canonical val split needs a canonical test split"
            assert self.x_val.shape[1:] == self.x.shape[1:], "val features differ in shape"
            check_labels(self.y_val, self.num_classes, "RawDataset.y_val")


@dataclass
class DatasetSplits:
    """Deterministic train/val/test splits of one data set, ready for the loaders.

    Attributes:
        name: Registry name of the data set.
        x_train, y_train, x_val, y_val, x_test, y_test: The three splits (labels int64 (N,)).
        num_classes: Number of classes.
        class_names: One name per class index.
        transform: Per-batch transform the loaders apply to features (None for float features).
        mean: Per-feature (or per-channel) training-set mean used for standardisation, or None
            when the features were not standardised. Broadcasts against x_train[0].
        std: The matching training-set standard deviation (zeros replaced by 1), or None.
        metadata: RawDataset.metadata of the source (e.g. SST-2's vocabulary).
        train_transform: A random transform of training batches only (a model's augmentation,
            ``ModelSpec.train_transform``), applied by the training loader after ``transform``;
            validation and test batches never get it. None: no augmentation.
    """

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    x_test: Tensor
    y_test: Tensor
    num_classes: int
    class_names: list[str]
    transform: Transform | None = None
    mean: Tensor | None = None
    std: Tensor | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    train_transform: TrainTransform | None = None

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one example, x_train.shape[1:]."""
        return tuple(self.x_train.shape[1:])

    @property
    def num_features(self) -> int:
        """Number of scalar features per example, prod(input_shape)."""
        return math.prod(self.input_shape)

    def example(self, split: str, index: int = 0) -> tuple[Tensor, str]:
        """One example as the loaders hand it to a model, and the name of its class (for plots).

        Args:
            split: "train", "val" or "test".
            index: Which example of the split.

        Returns:
            ``(x, class_name)``: x (1, ...) with ``transform`` applied.
        """
        splits = {
            "train": (self.x_train, self.y_train),
            "val": (self.x_val, self.y_val),
            "test": (self.x_test, self.y_test),
        }
        assert split in splits, f"split must be one of {sorted(splits)}, got {split!r}"
        x, y = splits[split]
        x = x[index : index + 1]  # (N, ...) -> (1, ...)
        if self.transform is not None:
            x = self.transform(x)
        return x, self.class_names[int(y[index])]

    def loaders(
        self,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        eval_batch_size: int | None = None,
    ) -> tuple[ArrayLoader, ArrayLoader, ArrayLoader]:
        """ArrayLoaders (train shuffled per epoch and augmented by ``train_transform``, val and
        test in order): create_data_loaders."""
        from data_utils.loaders import create_data_loaders  # loaders.py imports this module

        return create_data_loaders(
            self,
            batch_size,
            seed=seed,
            eval_batch_size=eval_batch_size,
            rank=rank,
            world_size=world_size,
        )

    def facts(self) -> dict[str, Any]:
        """Data set name, number and names of the classes, and the shape of one example."""
        return class_facts(self)

    def summary(self) -> str:
        """E.g. "train 51000 | val 9000 | test 10000 | 10 classes"."""
        return (
            f"train {len(self.y_train)} | val {len(self.y_val)} | test {len(self.y_test)} | "
            f"{self.num_classes} classes"
        )
