"""Seeded in-memory loaders for every kind of batch, and batch_size_of to count a batch's samples.

    ArrayLoader        (x, y) batches of labelled examples (y (B,) classes or (B, H, W) masks)
    ListTargetLoader   (x, [target, ...]) batches: images with a variable number of boxes each
    TokenWindows       (x, y) windows (B, T) of one long token stream, y = x shifted by one
    FullGraphLoader    one {"x", "adj", "edge_index", "y", "mask"} batch per epoch: a whole graph

All of them satisfy data_utils.base.Loader: iterable, ``len()`` batches per epoch, a
``batch_size``, and ``set_epoch(epoch)``; the order of an epoch is a function of (seed, epoch)
only, so a resumed run replays exactly the batches of an uninterrupted one. With
``world_size > 1`` rank r takes the strided share ``[r::world_size]`` of the epoch's samples
(examples, windows or masked nodes): the shares are disjoint and together cover the epoch.
A training ArrayLoader may also augment its batches (``train_transform``), with random numbers
that depend on (seed, epoch, batch, rank) only, so a resumed run draws the same ones.

Small and medium data sets live as whole tensors in memory; slicing them is much faster than a
torch DataLoader with per-example __getitem__ and collation. Data that does not fit in memory
still uses torch.utils.data.DataLoader.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np
import torch
from torch import Tensor

from data_utils.base import DatasetSplits, TrainTransform, Transform
from utils.exceptions import ConfigError, DataError

if TYPE_CHECKING:
    from data_utils.graphs import GraphData

WINDOW_MODES = ("random", "sequential")


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A torch.Generator whose state depends only on (seed, epoch).

    The two numbers are mixed through numpy's SeedSequence instead of being added, so that
    (seed=42, epoch=1) and (seed=43, epoch=0) give unrelated permutations.
    """
    assert seed >= 0 and epoch >= 0, f"seed and epoch must be >= 0, got {seed}, {epoch}"
    state = np.random.SeedSequence([seed, epoch]).generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def batch_generator(seed: int, epoch: int, batch: int, rank: int = 0) -> torch.Generator:
    """A torch.Generator for one training batch's augmentation: a function of (seed, epoch,
    batch, rank) only.

    A child stream of epoch_generator's (numpy's SeedSequence spawn key), so its numbers are
    unrelated to the epoch's permutation. Derived from the batch's position rather than carried
    from batch to batch, it draws the same crops for batch b whether the epoch runs straight or
    a resumed run skips batches 0..b-1, and it leaves torch's global generator (dropout's) alone.
    """
    assert min(seed, epoch, batch, rank) >= 0, "seed, epoch, batch and rank must be >= 0"
    sequence = np.random.SeedSequence([seed, epoch], spawn_key=(rank, batch))
    state = sequence.generate_state(1, dtype=np.uint64)[0]
    return torch.Generator().manual_seed(int(state) & 0x7FFF_FFFF_FFFF_FFFF)


def epoch_indices(
    n: int, *, shuffle: bool, seed: int, epoch: int, rank: int = 0, world_size: int = 1
) -> Tensor:
    """One rank's sample indices for one epoch, in iteration order (int64).

    A permutation drawn from epoch_generator(seed, epoch) (or range(n) without shuffling), of
    which rank r takes the strided share ``[r::world_size]``.
    """
    order = (
        torch.randperm(n, generator=epoch_generator(seed, epoch)) if shuffle else torch.arange(n)
    )
    return order[rank::world_size]


def _check_rank(rank: int, world_size: int) -> None:
    assert (
        world_size >= 1 and 0 <= rank < world_size
    ), f"need 0 <= rank < world_size, got rank={rank}, world_size={world_size}"


def batch_size_of(batch: Any) -> int:
    """The number of samples in a batch of any structure the loaders yield.

    - a tensor: its length (B, ...) -> B;
    - a tuple or list whose first element is a tensor: that tensor's length, e.g. (x, y) from
      ArrayLoader or TokenWindows (B windows), (x, [targets]) from ListTargetLoader;
    - a dict with "mask" (FullGraphLoader): the number of masked nodes, ``mask.sum()``;
    - a dict with "x" (and no "mask"): ``len(x)``.

    The Trainer weights per-batch losses and metrics by this number.

    Raises:
        TypeError: A batch of none of these structures.
    """
    first = batch[0] if isinstance(batch, (tuple, list)) and batch else batch
    if isinstance(first, Tensor) and first.dim():
        return first.shape[0]  # len(tensor) is a Python method around it: 0.3 us more per batch
    if isinstance(batch, Mapping):
        if "mask" in batch:
            return int(batch["mask"].sum())
        if "x" in batch:
            return len(batch["x"])
    raise TypeError(
        "batch_size_of counts a tensor, a tuple/list whose first element is a tensor, or a dict "
        "with 'mask' or 'x'; got "
        + (
            "a 0-d tensor (no batch dimension)"
            if isinstance(first, Tensor)
            else type(batch).__name__
        )
        + (f" with keys {sorted(batch)}" if isinstance(batch, Mapping) else "")
    )


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
        y: Labels, int64 (N,), or any per-example tensor (N, ...) such as segmentation masks
            int64 (N, H, W): rows of y travel with the rows of x, nothing else is assumed.
        batch_size: Examples per batch.
        shuffle: Draw a new permutation every epoch; otherwise keep the stored order.
        seed: Seed of the per-epoch permutations.
        transform: Applied to each feature batch (e.g. uint8 -> float), not to labels.
        train_transform: A random transform applied after ``transform`` (augmentation; only
            training loaders get one), called as ``train_transform(x, batch_generator(seed,
            epoch, batch, rank))``: batch b of an epoch is augmented the same way in every run
            with the same seed and batch size, also when a resumed run skips to it. Labels are
            not transformed, so it must keep them valid (crops and flips of classified images).
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
        train_transform: TrainTransform | None = None,
        drop_last: bool = False,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        assert x.shape[0] == y.shape[0], f"x has {x.shape[0]} rows but y has {y.shape[0]}"
        assert batch_size >= 1, f"batch_size must be >= 1, got {batch_size}"
        _check_rank(rank, world_size)
        self.x, self.y = x, y
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.transform = transform
        self.train_transform = train_transform
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
        return epoch_indices(
            self.x.shape[0],
            shuffle=self.shuffle,
            seed=self.seed,
            epoch=self.epoch,
            rank=self.rank,
            world_size=self.world_size,
        )

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        idx = self.indices()
        for batch in range(len(self)):
            batch_idx = idx[batch * self.batch_size : (batch + 1) * self.batch_size]
            # index_select: the same rows as x[batch_idx], several times faster on CPU
            xb, yb = self.x.index_select(0, batch_idx), self.y.index_select(0, batch_idx)
            if self.transform is not None:
                xb = self.transform(xb)
            if self.train_transform is not None:
                gen = batch_generator(self.seed, self.epoch, batch, self.rank)
                xb = self.train_transform(xb, gen)
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

    The train loader shuffles (seeded per epoch, see ArrayLoader) and applies
    ``splits.train_transform`` (the model's augmentation, if any); val and test keep their order
    and are never augmented. All three apply ``splits.transform`` per batch and are sharded the
    same way when world_size > 1, so metrics must be summed across ranks (correct counts, not
    means) to get whole-split numbers. No loader drops examples.

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
        splits.x_train,
        splits.y_train,
        batch_size,
        shuffle=shuffle,
        seed=seed,
        train_transform=splits.train_transform,
        **common,
    )
    val = ArrayLoader(splits.x_val, splits.y_val, eval_bs, shuffle=False, **common)
    test = ArrayLoader(splits.x_test, splits.y_test, eval_bs, shuffle=False, **common)
    return train, val, test


class ListTargetLoader(ArrayLoader):
    """Iterate over (x, targets) batches: images and a list of per-image targets of any size.

    For detection, each image has its own number K_i of objects, so the targets cannot be
    stacked into one tensor; a batch is ``(x (B, C, H, W), [targets[i] for i in the batch])``.
    Order, shuffling, ``set_epoch``, sharding and length are ArrayLoader's (it is one, over the
    images and their indices). Images are one tensor (resize or pad them to one size first).

    Args:
        x: Images (N, C, H, W), float32 or uint8.
        targets: One dict per image with "boxes", float32 (K_i, 4) as (x1, y1, x2, y2) pixels,
            and "labels", int64 (K_i,); other keys (e.g. "masks") are passed on unchanged.
        batch_size: Images per batch.
        **options: ArrayLoader's shuffle, seed, transform, drop_last, rank, world_size.
    """

    def __init__(
        self, x: Tensor, targets: list[dict[str, Tensor]], batch_size: int, **options: Any
    ) -> None:
        assert x.shape[0] == len(targets), f"{x.shape[0]} images but {len(targets)} targets"
        for i, target in enumerate(targets):
            assert "boxes" in target and "labels" in target, f"target {i} needs boxes and labels"
            boxes, labels = target["boxes"], target["labels"]
            assert boxes.dim() == 2 and boxes.shape[1] == 4, f"target {i}: boxes must be (K, 4)"
            assert labels.dtype == torch.int64 and labels.shape == (
                boxes.shape[0],
            ), f"target {i}: labels must be int64 (K,) with K = {boxes.shape[0]} boxes"
        super().__init__(x, torch.arange(len(targets)), batch_size, **options)
        self.targets = targets

    def __iter__(self) -> Iterator[tuple[Tensor, list[dict[str, Tensor]]]]:
        for xb, index in super().__iter__():  # (B, C, H, W), the images' indices (B,)
            yield xb, [self.targets[i] for i in index.tolist()]


def check_window_options(block_size: int, mode: str, windows_per_epoch: int | None) -> None:
    """Raise ConfigError for a block size, window mode or windows per epoch that cannot work."""
    if not (isinstance(block_size, int) and block_size >= 1):
        raise ConfigError(
            f"block_size must be an integer >= 1 (tokens per window), got {block_size!r}"
        )
    if mode not in WINDOW_MODES:
        raise ConfigError(f"unknown window mode {mode!r}; valid: {', '.join(WINDOW_MODES)}")
    if windows_per_epoch is not None:
        if mode != "random":
            raise ConfigError(
                "windows_per_epoch applies to mode 'random' only: sequential windows are the "
                f"stream's consecutive blocks (got windows_per_epoch={windows_per_epoch!r})"
            )
        if not (isinstance(windows_per_epoch, int) and windows_per_epoch >= 1):
            raise ConfigError(
                f"windows_per_epoch must be an integer >= 1 or None, got {windows_per_epoch!r}"
            )


class TokenWindows:
    """Iterate over (x, y) windows of one long token stream for language modelling.

    A window starting at offset s is ``x = tokens[s : s + T]`` and ``y = tokens[s + 1 : s + T + 1]``
    (T = block_size): y[:, t] is the token that follows x[:, t]. Batches are x, y int64 (B, T).

    Modes:
        "random": each epoch draws ``windows_per_epoch`` start offsets uniformly from
            0..len - T - 1 with epoch_generator(seed, epoch), as nanoGPT's get_batch does
            (windows may overlap). Default windows_per_epoch: (len - 1) // T, so that an epoch
            holds as many target tokens as the stream.
        "sequential": the non-overlapping windows at offsets 0, T, 2T, ... in order, for
            evaluation: each of the tokens 1 .. n*T (n = (len - 1) // T full windows) is predicted
            exactly once. The last (len - 1) mod T tokens, fewer than one window, are dropped, so
            every batch is (B, T) and every window weighs the same in a mean.

    With ``world_size > 1`` rank r takes windows ``[r::world_size]`` of the epoch's windows, so
    shards are disjoint and together cover the epoch. The last batch of a rank may be smaller.

    Args:
        tokens: The stream, int64 (L,).
        block_size: Tokens per window T.
        batch_size: Windows per batch B.
        mode: "random" or "sequential".
        windows_per_epoch: Windows drawn per epoch in random mode (None: (L - 1) // T).
        seed: Seed of the random windows.
        rank: Index of this process in 0..world_size-1.
        world_size: Number of processes sharing the windows.

    Raises:
        ConfigError: block_size < 1, an unknown mode, or windows_per_epoch < 1.
        DataError: A stream too short for one window, or fewer windows than processes.
    """

    def __init__(
        self,
        tokens: Tensor,
        block_size: int,
        batch_size: int,
        *,
        mode: str = "random",
        windows_per_epoch: int | None = None,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        assert tokens.dim() == 1, f"tokens must be one stream (L,), got {tuple(tokens.shape)}"
        assert tokens.dtype == torch.int64, f"tokens must be int64, got {tokens.dtype}"
        assert batch_size >= 1, f"batch_size must be >= 1, got {batch_size}"
        _check_rank(rank, world_size)
        check_window_options(block_size, mode, windows_per_epoch)
        if len(tokens) < block_size + 1:
            raise DataError(
                f"block_size {block_size} is too long for a stream of {len(tokens)} tokens: a "
                f"window needs block_size + 1 tokens (its inputs and the next token)"
            )
        full_windows = (len(tokens) - 1) // block_size
        num_windows = windows_per_epoch or full_windows
        if num_windows < world_size:
            raise DataError(
                f"{num_windows} windows per epoch cannot be shared by {world_size} processes: "
                f"lower block_size or world_size"
            )
        self.tokens = tokens
        self.block_size = block_size
        self.batch_size = batch_size
        self.mode = mode
        self.num_windows = num_windows  # of the whole epoch, all ranks together
        self.seed = seed
        self.rank, self.world_size = rank, world_size
        self.epoch = 0
        self.num_samples: int = len(range(rank, num_windows, world_size))  # this rank's windows

    def set_epoch(self, epoch: int) -> None:
        """Select the random windows of this epoch (a function of (seed, epoch) only)."""
        self.epoch = epoch

    def starts(self) -> Tensor:
        """This rank's window start offsets for the current epoch, in iteration order (int64)."""
        if self.mode == "random":
            high = len(self.tokens) - self.block_size  # s + T <= L - 1 keeps y inside the stream
            gen = epoch_generator(self.seed, self.epoch)
            starts = torch.randint(0, high, (self.num_windows,), generator=gen)
        else:
            starts = torch.arange(self.num_windows) * self.block_size
        return starts[self.rank :: self.world_size]

    def __iter__(self) -> Iterator[tuple[Tensor, Tensor]]:
        starts = self.starts()
        offsets = torch.arange(self.block_size)
        for batch in range(len(self)):
            s = starts[batch * self.batch_size : (batch + 1) * self.batch_size]
            idx = s.view(-1, 1) + offsets  # (B, 1) + (T,) -> (B, T)
            yield self.tokens[idx], self.tokens[idx + 1]  # x, y (B, T), y shifted by one

    def __len__(self) -> int:
        """Number of batches per epoch for this rank."""
        return math.ceil(self.num_samples / self.batch_size)


class FullGraphLoader:
    """One batch per epoch: the whole graph, with the mask of one split's nodes.

    Full-batch transductive training (GCN, Kipf and Welling 2017): every forward pass sees all
    nodes and edges; the loss and metrics use only the masked nodes. The batch is the dict
    ``{"x": (N, F), "adj": sparse (N, N), "edge_index": (2, E), "y": (N,), "mask": bool (N,)}``
    (adj is GraphData.adj, the normalised propagation matrix; edge_index for message passing).

    With ``world_size > 1`` every rank gets the whole graph and the strided share
    ``[rank::world_size]`` of the split's nodes in its mask: the forward pass is repeated on
    every rank, the loss terms are disjoint and together cover the split, so summed counts
    across ranks give whole-split metrics (and averaged gradients the full-batch gradient when
    the shares are equal in size).

    Args:
        graph: The graph.
        mask: The split's nodes, bool (N,).
        rank: Index of this process in 0..world_size-1.
        world_size: Number of processes.

    Raises:
        DataError: A mask with fewer nodes than processes (a rank would have no loss term).
    """

    def __init__(
        self, graph: GraphData, mask: Tensor, *, rank: int = 0, world_size: int = 1
    ) -> None:
        assert mask.dtype == torch.bool and mask.shape == (
            graph.num_nodes,
        ), f"mask must be bool ({graph.num_nodes},), got {mask.dtype} {tuple(mask.shape)}"
        _check_rank(rank, world_size)
        nodes = mask.nonzero().squeeze(1)  # (M,) indices of the split's nodes
        if len(nodes) < world_size:
            raise DataError(
                f"{graph.name}: a mask of {len(nodes)} nodes cannot be shared by {world_size} "
                f"processes"
            )
        self.graph = graph
        self.mask = torch.zeros_like(mask)
        self.mask[nodes[rank::world_size]] = True
        self.batch_size = int(self.mask.sum())
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Recorded only: every epoch is the same single batch."""
        self.epoch = epoch

    def __iter__(self) -> Iterator[dict[str, Tensor]]:
        g = self.graph
        yield {"x": g.x, "adj": g.adj, "edge_index": g.edge_index, "y": g.y, "mask": self.mask}

    def __len__(self) -> int:
        """One batch per epoch."""
        return 1
