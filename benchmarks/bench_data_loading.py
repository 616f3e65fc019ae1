"""The in-memory ArrayLoader against torch's DataLoader over a per-sample Dataset.

    AIFS_DATA_DIR=/path/to/datasets python benchmarks/bench_data_loading.py [--threads 1]

All candidates deliver the same thing: every one of the 51,000 Fashion-MNIST training images of
the shared split once per epoch, shuffled, in batches of 128, as float32 (B, 1, 28, 28) in
[0, 1] with int64 labels, from the same uint8 tensors in memory. Nothing is trained: this is the
cost of the data pipeline alone, in batches per second.

- ``array_loader``: ``data_utils.ArrayLoader`` (what create_data_loaders gives every model):
  one permutation per epoch, then a slice of the whole tensors and one uint8 -> float
  conversion per batch;
- ``dataloader_w0``: ``torch.utils.data.DataLoader`` over a Dataset whose ``__getitem__``
  returns one converted image and its label (the torchvision pattern), ``shuffle=True``, the
  default collation, ``num_workers=0``;
- ``dataloader_w2``: the same with ``num_workers=2`` (default settings: workers start at every
  epoch, and their start is part of the epoch's time);
- ``dataloader_w2_persistent``: ``num_workers=2, persistent_workers=True`` (started once, in the
  warm-up round).

Interleaved epochs, ``--rounds`` times after one warm-up round; about a minute on 2 cores.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, Callable

import benchlib
import torch
from torch.utils.data import DataLoader, Dataset

from data_utils import ArrayLoader

SCRIPT = "bench_data_loading"
BATCH_SIZE = 128


class PerSampleDataset(Dataset):
    """One image and its label per ``__getitem__``, converted per sample (torchvision-style)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, transform: Callable) -> None:
        self.x, self.y, self.transform = x, y, transform

    def __len__(self) -> int:
        return len(self.y)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.transform(self.x[index]), self.y[index]  # (1, 28, 28) float32, () int64


def consume(loader: Any, epoch: list[int]) -> Callable[[], None]:
    """One epoch over the loader (the ArrayLoader's permutation follows the epoch counter)."""

    def run() -> None:
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch[0])
            epoch[0] += 1
        batches = 0
        for x, y in loader:
            assert x.dtype == torch.float32 and y.dtype == torch.int64
            batches += 1
        assert batches == len(loader)

    return run


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--threads", type=benchlib.positive_int, default=1, help="torch threads (default 1)"
    )
    parser.add_argument("--rounds", type=benchlib.positive_int, default=8)
    parser.add_argument("--seed", type=int, default=42)
    args = parser.parse_args(argv)
    threads = benchlib.set_threads(args.threads)
    load = benchlib.LoadMonitor()
    splits = benchlib.fashion_mnist(seed=args.seed)
    x, y, transform = splits.x_train, splits.y_train, splits.transform
    dataset = PerSampleDataset(x, y, transform)

    def dataloader(**options: Any) -> DataLoader:
        generator = torch.Generator().manual_seed(args.seed)
        return DataLoader(dataset, BATCH_SIZE, shuffle=True, generator=generator, **options)

    loaders = {
        "array_loader": ArrayLoader(
            x, y, BATCH_SIZE, shuffle=True, seed=args.seed, transform=transform
        ),
        "dataloader_w0": dataloader(num_workers=0),
        "dataloader_w2": dataloader(num_workers=2),
        "dataloader_w2_persistent": dataloader(num_workers=2, persistent_workers=True),
    }
    counters = {name: [0] for name in loaders}
    times = benchlib.interleaved(
        {name: consume(loader, counters[name]) for name, loader in loaders.items()},
        repeats=args.rounds,
        warmup=1,
    )
    batches = len(loaders["array_loader"])
    wall = times["wall"]
    epoch = {n: benchlib.spread(v) for n, v in wall.items()}
    # How many times longer than the ArrayLoader each one takes (= how much faster ours is).
    slower = benchlib.paired_ratios(wall, "array_loader")

    rows = [
        [
            name,
            f"{s['median']:.3f}",
            f"{s['min']:.3f}-{s['max']:.3f}",
            f"{batches / s['median']:,.0f}",
            "1" if name == "array_loader" else benchlib.fmt_ratio(slower[name]),
        ]
        for name, s in epoch.items()
    ]
    print(f"torch threads {threads}; {len(y):,} images, batch {BATCH_SIZE}, {batches} batches")
    print(benchlib.format_table(["loader", "s/epoch", "min-max", "batches/s", "time ratio"], rows))
    payload = {
        "torch_threads": threads,
        "batch_size": BATCH_SIZE,
        "samples": len(y),
        "batches_per_epoch": batches,
        "rounds": args.rounds,
        "epoch_seconds": epoch,
        "batches_per_second": {n: batches / s["median"] for n, s in epoch.items()},
        "time_ratio_vs_array_loader": slower,
        "times": times,
    }
    benchlib.finish(SCRIPT, payload, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
