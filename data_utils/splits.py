"""load_dataset: registry look-up, deterministic stratified splits, train-only standardisation.

Every registered name goes through load_dataset and comes back as a Splits (data_utils.base):
arrays of labelled examples as a DatasetSplits, text as a CharCorpus, graphs as a GraphData,
segmentation as a SegmentationData.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from data_utils.base import DatasetSplits, RawDataset, Splits
from utils.exceptions import DataError

logger = logging.getLogger(__name__)


def stratified_split(
    y: Tensor, val_fraction: float, test_fraction: float, seed: int
) -> tuple[Tensor, Tensor, Tensor]:
    """Split example indices into disjoint train/val/test sets, stratified by label.

    Each example gets a key equal to its quantile within its own class, (j + 0.5) / n_c, where j
    is its position in a seeded random order of that class; sorting by key interleaves the
    classes in proportion, so any prefix of the sorted order is stratified. The first
    round(test_fraction * N) go to test, the next round(val_fraction * N) to val, the rest to
    train. A non-zero fraction always gets at least one example.

    Args:
        y: Labels, int64 (N,).
        val_fraction: Fraction of the N examples for validation (0 <= f < 1).
        test_fraction: Fraction of the N examples for test (0 <= f < 1).
        seed: Seed of the random order; the same (y, fractions, seed) gives the same split.

    Returns:
        Sorted int64 index tensors (train, val, test) that partition range(N).
    """
    assert (
        0 <= val_fraction < 1 and 0 <= test_fraction < 1
    ), f"fractions must lie in [0, 1): val_fraction={val_fraction}, test_fraction={test_fraction}"
    labels = y.numpy()
    n = len(labels)
    n_test = max(1, round(test_fraction * n)) if test_fraction > 0 else 0
    n_val = max(1, round(val_fraction * n)) if val_fraction > 0 else 0
    if n - n_test - n_val < 1:
        raise DataError(
            f"cannot split {n} examples into val {n_val} + test {n_test} and keep a training "
            f"example: lower val_fraction/test_fraction or use more samples"
        )
    rng = np.random.default_rng(seed)
    perm = rng.permutation(n)  # random order; ties in the key below keep this order
    key = np.empty(n, dtype=np.float64)
    for c in np.unique(labels):
        members = perm[labels[perm] == c]  # class c in random order
        key[members] = (np.arange(len(members)) + 0.5) / len(members)
    order = perm[np.argsort(key[perm], kind="stable")]
    test_idx = np.sort(order[:n_test])
    val_idx = np.sort(order[n_test : n_test + n_val])
    train_idx = np.sort(order[n_test + n_val :])
    return tuple(torch.as_tensor(i, dtype=torch.int64) for i in (train_idx, val_idx, test_idx))


def standardization_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of float features, per feature for (N, D), else per channel.

    For (N, D) the statistics have shape (D,); for (N, C, ...) they are taken over every axis but
    the channel axis and have shape (C, 1, ...) so that they broadcast against one example.
    Standard deviations below 1e-8 (constant features, e.g. the border pixels of digits) are
    replaced by 1 so that the feature is only centred.
    """
    assert x.is_floating_point(), f"standardisation needs float features, got {x.dtype}"
    assert x.shape[0] > 0, "cannot compute statistics of an empty training split"
    if x.dim() <= 2:
        mean, std = x.mean(dim=0), x.std(dim=0, unbiased=False)
    else:
        dims = [0] + list(range(2, x.dim()))
        mean = x.mean(dim=dims, keepdim=True)[0]  # (C, 1, ..., 1)
        std = x.std(dim=dims, unbiased=False, keepdim=True)[0]
    std = torch.where(std < 1e-8, torch.ones_like(std), std)
    return mean, std


DEFAULT_VAL_FRACTION = 0.15  # of the examples of an array data set (see load_dataset)


def _check_options(name: str, loader: object, options: dict[str, object]) -> None:
    params = inspect.signature(loader).parameters  # type: ignore[arg-type]
    accepted = [p for p in params if p not in ("seed", "data_dir", "val_fraction")]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise DataError(
            f"data set '{name}' does not accept option(s) {unknown}; "
            f"accepted options: {accepted if accepted else 'none'}"
        )


def load_dataset(
    name: str,
    *,
    seed: int = 42,
    val_fraction: float | None = None,
    test_fraction: float = 0.15,
    standardize: bool = True,
    data_dir: str | Path | None = None,
    **options: object,
) -> Splits:
    """Load a registered data set, split into train/val/test, with its loaders.

    Every registered name returns a Splits (data_utils.base): ``splits.loaders(batch_size,
    seed=...)`` gives (train, val, test) loaders, ``splits.facts()`` what a checkpoint records,
    ``splits.summary()`` one log line. What comes back depends on the data:

    - labelled examples (a registered loader returning a RawDataset): a DatasetSplits, split as
      described below, with ArrayLoaders;
    - text (tiny_shakespeare): a CharCorpus, split by position (val_fraction, default 0.1 as in
      nanoGPT; a model's config always passes its own, BaseConfig's 0.15 unless it sets one),
      with TokenWindows; options block_size, windows_per_epoch, train_mode;
    - graphs (cora, citeseer, karate): a GraphData with its fixed node masks, with
      FullGraphLoaders;
    - segmentation (isbi_membrane): a SegmentationData whose val slices are a contiguous block
      of val_fraction (default 0.2) of the labelled ones, its start seeded, with ArrayLoaders of
      (image, mask).

    For these last three, ``val_fraction`` is passed to the data set's loader when it has one
    (text, segmentation) and not used otherwise; ``test_fraction`` and ``standardize`` are not
    used (no test split is carved from them; features are not standardised).

    Labelled examples: deterministic, the same (name, seed, fractions, options) always gives
    identical splits, so train.py and evaluate.py see the same test set. Splits are stratified by
    label and disjoint. When the source has a canonical test split (MNIST, CIFAR-10, ...) it is
    kept as the test set, ``test_fraction`` is ignored and val is ``val_fraction`` of the
    canonical training set. When it also has a canonical validation split (SST-2) all three are
    kept and both fractions are ignored. For ``fixed_split`` sets (xor) train = val = test = all
    points. Float features are standardised with the mean and standard deviation of the
    training split only (stored in ``splits.mean`` / ``splits.std``); uint8 images are left as
    they are and converted per batch by ``splits.transform``.

    Args:
        name: Registry name, a key of DATASETS.
        seed: Seed of the split and, for synthetic sets, of the generator.
        val_fraction: Fraction for validation; None: the data set's default (0.15 for labelled
            examples, of all examples or of the canonical train set).
        test_fraction: Fraction for test, when labelled examples have no canonical test split.
        standardize: Standardise float features with training-split statistics.
        data_dir: Directory holding downloaded data files (overrides AIFS_DATA_DIR).
        **options: Loader-specific options, e.g. n_samples and noise for the synthetic sets,
            block_size for tiny_shakespeare.

    Returns:
        The splits (labels int64 (N,) for labelled examples).

    Raises:
        DataError: Unknown name or option, or data files that are missing or corrupt.
        ConfigError: An option value that cannot work (block_size < 1, an unknown window mode).
    """
    from data_utils.registry import DATASETS  # the registry imports every loader module

    if name not in DATASETS:
        raise DataError(f"unknown data set '{name}'; registered: {', '.join(sorted(DATASETS))}")
    loader = DATASETS[name]
    _check_options(name, loader, options)
    if val_fraction is not None and "val_fraction" in inspect.signature(loader).parameters:
        options = {**options, "val_fraction": val_fraction}
    data = loader(seed=seed, data_dir=data_dir, **options)
    if not isinstance(data, RawDataset):
        assert isinstance(data, Splits), f"DATASETS['{name}'] returned a {type(data).__name__}"
        logger.info("dataset %s | %s", name, data.summary())
        return data
    raw = data
    if val_fraction is None:
        val_fraction = DEFAULT_VAL_FRACTION

    if raw.fixed_split:
        x_train = x_val = x_test = raw.x
        y_train = y_val = y_test = raw.y
    elif raw.x_val is not None and raw.y_val is not None:
        assert raw.x_test is not None and raw.y_test is not None
        x_train, y_train = raw.x, raw.y
        x_val, y_val = raw.x_val, raw.y_val
        x_test, y_test = raw.x_test, raw.y_test
    elif raw.x_test is not None and raw.y_test is not None:
        train_idx, val_idx, _ = stratified_split(raw.y, val_fraction, 0.0, seed)
        x_train, y_train = raw.x[train_idx], raw.y[train_idx]
        x_val, y_val = raw.x[val_idx], raw.y[val_idx]
        x_test, y_test = raw.x_test, raw.y_test
    else:
        train_idx, val_idx, test_idx = stratified_split(raw.y, val_fraction, test_fraction, seed)
        x_train, y_train = raw.x[train_idx], raw.y[train_idx]
        x_val, y_val = raw.x[val_idx], raw.y[val_idx]
        x_test, y_test = raw.x[test_idx], raw.y[test_idx]

    mean = std = None
    if standardize and raw.x.is_floating_point():
        mean, std = standardization_stats(x_train)
        x_train, x_val, x_test = ((t - mean) / std for t in (x_train, x_val, x_test))

    logger.info(
        "dataset %s | train %d | val %d | test %d | input %s | classes %d",
        name,
        len(y_train),
        len(y_val),
        len(y_test),
        tuple(x_train.shape[1:]),
        raw.num_classes,
    )
    return DatasetSplits(
        name=name,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        num_classes=raw.num_classes,
        class_names=list(raw.class_names),
        transform=raw.transform,
        mean=mean,
        std=std,
        metadata=raw.metadata,
    )


def subsample_splits(
    splits: DatasetSplits,
    train_samples: int,
    val_samples: int | None,
    test_samples: int | None,
    seed: int,
) -> DatasetSplits:
    """Seeded random subsets of the three splits, for studies that train many networks.

    Random rather than the first N: some sources (the CIFAR-10 JPEG copy) store their images
    sorted by class. One generator draws the train, then the val, then the test order, so the
    same seed and sizes always give the same subsets; a split kept whole (None) draws nothing
    and keeps its order. Everything but the examples (transform, standardisation statistics,
    class names) is kept.

    Args:
        splits: The output of load_dataset.
        train_samples: Training examples to keep (all if the split is smaller).
        val_samples: Validation examples to keep (all if the split is smaller); None keeps the
            whole validation split in its order.
        test_samples: Test examples to keep; None keeps the whole test split in its order.
        seed: Seed of the generator.

    Returns:
        A new DatasetSplits holding the subsets.
    """
    assert train_samples > 0, "keep at least one training example"
    assert val_samples is None or val_samples > 0, "val_samples must be > 0 (None: all)"
    assert test_samples is None or test_samples > 0, "test_samples must be > 0 (None: all)"
    gen = torch.Generator().manual_seed(seed)
    train = torch.randperm(len(splits.y_train), generator=gen)[:train_samples]
    val = torch.arange(len(splits.y_val))
    if val_samples is not None:
        val = torch.randperm(len(splits.y_val), generator=gen)[:val_samples]
    test = torch.arange(len(splits.y_test))
    if test_samples is not None:
        test = torch.randperm(len(splits.y_test), generator=gen)[:test_samples]
    return dataclasses.replace(
        splits,
        x_train=splits.x_train[train],
        y_train=splits.y_train[train],
        x_val=splits.x_val[val],
        y_val=splits.y_val[val],
        x_test=splits.x_test[test],
        y_test=splits.y_test[test],
    )
