"""data_utils: the data layer shared by every model.

    from data_utils import load_dataset, create_data_loaders
    splits = load_dataset("iris_binary", seed=42)
    train_loader, val_loader, test_loader = create_data_loaders(splits, batch_size=16)

The registry DATASETS (a plain dict) lists every data set; see docs/datasets.md.
"""

from data_utils.base import DatasetSplits, RawDataset
from data_utils.loaders import ArrayLoader, create_data_loaders, epoch_generator
from data_utils.registry import DATASETS
from data_utils.splits import load_dataset, standardization_stats, stratified_split

__all__ = [
    "DATASETS",
    "ArrayLoader",
    "DatasetSplits",
    "RawDataset",
    "create_data_loaders",
    "epoch_generator",
    "load_dataset",
    "standardization_stats",
    "stratified_split",
]
