"""Draw the figure of docs/datasets.md: a few detection canvases of every preset.

    python docs/draw_detection_canvases.py [--source mnist] [--out PATH]

The first canvases of each preset with their boxes and visible masks, and a last row with the
first overlapping canvases that hold a crowd object (dashed). Needs AIFS_DATA_DIR or the MNIST
files in the data cache.
"""

from __future__ import annotations

import argparse

from data_utils.detection import PRESETS, SOURCES, make_canvases, split_pools
from plotting.detection import plot_detection_rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/figures/detection_canvases.png")
    parser.add_argument("--source", default="mnist", choices=list(SOURCES))
    parser.add_argument("--per-preset", type=int, default=5)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data-dir", default=None)
    args = parser.parse_args(argv)
    raw = SOURCES[args.source](seed=args.seed, data_dir=args.data_dir)
    images, labels, _ = split_pools(raw, args.seed)["train"]
    k = args.per_preset
    rows = {}
    for name in PRESETS:
        x, targets = make_canvases(images, labels, k, preset=name, seed=[args.seed, 0])
        rows[name] = (x, targets)
    # crowd objects are rare (about 1 in 200 overlapping canvases): search 400 per picture
    x, targets = make_canvases(images, labels, 400 * k, preset="overlapping", seed=[args.seed, 0])
    chosen = [i for i, t in enumerate(targets) if bool(t["iscrowd"].any())][:k]
    rows["with crowd"] = (x[chosen], [targets[i] for i in chosen])
    title = f"{args.source}_detection: boxes and visible masks (dashed: crowd)"
    print(plot_detection_rows(rows, raw.class_names, args.out, title))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
