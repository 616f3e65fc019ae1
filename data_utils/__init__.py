"""data_utils: the data layer shared by every model.

    from data_utils import load_dataset, batch_size_of
    splits = load_dataset("iris_binary", seed=42)      # any registered name: arrays, text, graphs
    train_loader, val_loader, test_loader = splits.loaders(16, seed=42)
    train_loader.set_epoch(0)
    for batch in train_loader:                          # (x, y), a dict, or (x, [targets])
        n = batch_size_of(batch)

The registry DATASETS (a plain dict) lists every data set; see docs/datasets.md for sources,
checksums and shapes. Files are looked up in --data-dir / $AIFS_DATA_DIR, then the user cache,
then system folders, then downloaded (data_utils/sources.py).
"""

from data_utils.base import DatasetSplits, Loader, RawDataset, Splits, TrainTransform
from data_utils.detection import DetectionData
from data_utils.graphs import GraphData, normalized_adjacency
from data_utils.loaders import (
    ArrayLoader,
    FullGraphLoader,
    ListTargetLoader,
    TokenWindows,
    batch_generator,
    batch_size_of,
    create_data_loaders,
    epoch_generator,
)
from data_utils.registry import DATASETS
from data_utils.sequences import SequenceTask
from data_utils.sources import cache_dir, fetch
from data_utils.splits import (
    load_dataset,
    standardization_stats,
    stratified_split,
    subsample_splits,
)
from data_utils.text import CharCorpus, Vocabulary, tokenize
from data_utils.vision import SegmentationData

__all__ = [
    "DATASETS",
    "ArrayLoader",
    "CharCorpus",
    "DatasetSplits",
    "DetectionData",
    "FullGraphLoader",
    "GraphData",
    "ListTargetLoader",
    "Loader",
    "RawDataset",
    "SegmentationData",
    "SequenceTask",
    "Splits",
    "TokenWindows",
    "TrainTransform",
    "Vocabulary",
    "batch_generator",
    "batch_size_of",
    "cache_dir",
    "create_data_loaders",
    "epoch_generator",
    "fetch",
    "load_dataset",
    "normalized_adjacency",
    "standardization_stats",
    "stratified_split",
    "subsample_splits",
    "tokenize",
]
