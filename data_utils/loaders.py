"""ArrayLoader: a seeded in-memory batch loader, and create_data_loaders for a DatasetSplits.

Small and medium data sets live as whole tensors in memory; slicing them is much faster than a
torch DataLoader with per-example __getitem__ and collation. Data that does not fit in memory
still uses torch.utils.data.DataLoader.
"""

from __future__ import annotations

import math
from typing import Iterator

import numpy as np
import torch
from torch import Tensor

from data_utils.base import DatasetSplits, Transform


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A torch.Generator whose state depends only on (seed, epoch).

    The two numbers are mixed through numpy's SeedSequence instead of being added, so that
    (seed=42, epoch=1) and (seed=43, epoch=0) give unrelated permutations.
    """
    assert seed >= 0 and epoch >= 0, f"seed and epoch must be >= 0, got {seed}, {epoch}"
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


class ArrayLoader:
    """Iterate over (x, y) batches of in-memory tensors, optionally shuffled and sharded.

    The order of an epoch is a function of (seed, epoch) only: call ``set_epoch(epoch)`` before
    each epoch (the loader never advances the epoch by itself), and resuming at epoch k replays
    exactly the batches of an uninterrupted run.

    With ``world_size > 1`` rank r takes the strided shard ``perm[r::world_size]`` of the same
    epoch permutation, so the shards are disjoint and together cover every example once. No
    padding is done (unlike DistributedSampler): when N % world_size != 0 the first
    N % world_size ranks see one example more, and may get one batch more, than the others.

    Args:
        x: Features (N, ...), float32 or uint8.
        y: Labels, int64 (N,).
        batch_size: Examples per batch.
        shuffle: Draw a new permutation every epoch; otherwise keep the stored order.
        seed: Seed of the per-epoch permutations.
        transform: Applied to each feature batch (e.g. uint8 -> float), not to labels.
        drop_last: Drop this rank's final incomplete batch.
        rank: Index of this process in 0..world_size-1.
        world_size: Number of processes sharing the data.
    """

    def __init__(
        self,
        x: Tensor,
        y: Tensor,
        batch_size: int,
        *,
        shuffle: bool = False,
        seed: int = 0,
        transform: Transform | None = None,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        assert x.shape[0] == y.shape[0], f"x has {x.shape[0]} rows but y has {y.shape[0]}"
        assert batch_size >= 1, f"batch_size must be >= 1, got {batch_size}"
        assert (
            world_size >= 1 and 0 <= rank < world_size
        ), f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}"
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.transform = transform
        self.drop_last = drop_last
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        n = x.shape[0]
        # rank r gets indices r, r + W, r + 2W, ... of a length-n sequence
        self.num_samples: int = len(range(rank, n, world_size))

    def set_epoch(self, epoch: int) -> None:
        """Select the permutation of this epoch (a function of (seed, epoch) only)."""
        self.epoch = epoch

    def indices(self) -> Tensor:
        """This rank's example indices for the current epoch, in iteration order (int64)."""
        n = self.x.shape[0]
        if self.shuffle:
            order = torch.randperm(n, generator=epoch_generator(self.seed, self.epoch))
        else:
            order = torch.arange(n)
        return order[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        idx = self.indices()
        for batch in range(len(self)):
            batch_idx = idx[batch * self.batch_size : (batch + 1) * self.batch_size]
            # index_select: the same rows as x[batch_idx], several times faster on CPU
            xb, yb = self.x.index_select(0, batch_idx), self.y.index_select(0, batch_idx)
            if self.transform is not None:
                xb = self.transform(xb)
            yield xb, yb

    def __len__(self) -> int:
        """Number of batches per epoch for this rank."""
        if self.drop_last:
            return self.num_samples // self.batch_size
        return math.ceil(self.num_samples / self.batch_size)


def create_data_loaders(
    splits: DatasetSplits,
    batch_size: int,
    *,
    seed: int = 42,
    shuffle: bool = True,
    eval_batch_size: int | None = None,
    rank: int = 0,
    world_size: int = 1,
) -> tuple[ArrayLoader, ArrayLoader, ArrayLoader]:
    """Train, val and test loaders for one DatasetSplits.

    The train loader shuffles (seeded per epoch, see ArrayLoader); val and test keep their order.
    All three apply ``splits.transform`` per batch and are sharded the same way when
    world_size > 1, so metrics must be summed across ranks (correct counts, not means) to get
    whole-split numbers. No loader drops examples.

    Args:
        splits: The output of load_dataset.
        batch_size: Training batch size.
        seed: Seed of the training permutations.
        shuffle: Shuffle the training split every epoch.
        eval_batch_size: Batch size for val/test (default: batch_size).
        rank: Index of this process.
        world_size: Number of processes.

    Returns:
        (train_loader, val_loader, test_loader).
    """
    eval_bs = eval_batch_size or batch_size
    common = dict(transform=splits.transform, rank=rank, world_size=world_size)
    train = ArrayLoader(
        splits.x_train, splits.y_train, batch_size, shuffle=shuffle, seed=seed, **common
    )
    val = ArrayLoader(splits.x_val, splits.y_val, eval_bs, shuffle=False, **common)
    test = ArrayLoader(splits.x_test, splits.y_test, eval_bs, shuffle=False, **common)
    return train, val, test
