"""The Hopfield network's own plots and evaluation data, found by engine.workflow.spec_from_folder.

visualize   with --visualize: recall of every memory from corrupted cues (grid and rates),
            the energy along recall, the Hebbian weights
eval_data   what evaluate.py measures: the stored memories, corrupted (corrupted_memories)
"""

from __future__ import annotations

import logging
import math
from pathlib import Path

import numpy as np
import plots
import torch
from config import HopfieldConfig
from model import HopfieldNetwork, corrupt, recall, recall_from_cues

from data_utils import DatasetSplits

logger = logging.getLogger(__name__)

# The corruptions of the recall figure: flip 20% or 40% of the pixels, or blank the bottom half.
CUES = (("flip", 0.2), ("flip", 0.4), ("mask", 0.5))
COPIES = 50  # corrupted cues per memory and corruption behind each reported rate


def image_shape_of(splits: DatasetSplits) -> tuple[int, int] | None:
    """(H, W) of the inputs: from (1, H, W) images, or a square vector; None otherwise."""
    shape = splits.input_shape
    if len(shape) == 3 and shape[0] == 1:
        return shape[1], shape[2]
    side = math.isqrt(splits.num_features)
    return (side, side) if side * side == splits.num_features else None


def visualize(
    model: HopfieldNetwork, splits: DatasetSplits, vis_dir: Path, prefix: str
) -> dict[str, Path]:
    """Recall of every memory from corrupted cues (grid and rates), the energy, the weights."""
    image_shape = image_shape_of(splits)
    if model.num_stored == 0 or image_shape is None:
        return {}
    rng = np.random.default_rng(model.seed)
    memories, labels = model.stored()
    columns, captions, titles = [memories], [["stored"] * len(memories)], ["stored memory"]
    for kind, fraction in CUES:
        run = recall_from_cues(model, kind, fraction, COPIES, rng, image_shape)
        exact = run["overlap"] == 1.0
        name = f"{kind} {fraction:.0%}"
        logger.info(
            "recall from %s cues: %d of %d exact (%.3f), mean overlap %.3f",
            name,
            exact.sum(),
            len(exact),
            exact.mean(),
            run["overlap"].mean(),
        )
        first = np.arange(len(memories)) * COPIES  # the first cue of each memory
        columns += [run["cues"][first], run["final"][first]]
        captions += [
            [""] * len(memories),
            [f"m = {m:.2f}" for m in run["overlap"][first]],
        ]
        titles += [f"cue: {name}", f"recall ({exact.mean():.0%} exact)"]
    grid = np.stack(columns, axis=1)  # (P, columns, N)
    figures = {
        "recall": plots.plot_pattern_grid(
            grid,
            image_shape,
            vis_dir / f"{prefix}_recall.png",
            col_titles=titles,
            row_titles=[f"class {splits.class_names[c]}" for c in labels],
            cell_titles=[list(row) for row in zip(*captions)],
            title=f"{len(memories)} memories of {splits.name}: cue and recall "
            f"(rates over {COPIES} cues per memory)",
        )
    }
    traces: dict[str, np.ndarray] = {}
    for kind, fraction in CUES:
        trace: list[np.ndarray] = []
        cues = recall_from_cues(model, kind, fraction, 1, rng, image_shape)["cues"]  # (P, N)
        recall(model.weight, cues, rng, model.max_sweeps, trace=trace)
        traces[f"cue: {kind} {fraction:.0%} ({len(cues)} recalls)"] = np.stack(trace)
    figures["energy"] = plots.plot_energy_traces(
        traces, vis_dir / f"{prefix}_energy.png", model.weight.shape[0]
    )
    figures["weights"] = plots.plot_weight_matrix(
        model.weight, vis_dir / f"{prefix}_weights.png", title=f"Hebbian weights, {splits.name}"
    )
    return figures


def corrupted_memories(
    model: HopfieldNetwork, config: HopfieldConfig, splits: DatasetSplits
) -> tuple[torch.Tensor, torch.Tensor]:
    """What evaluate.py measures: every memory with 20% of its pixels flipped, COPIES times.

    The cues go back to the pixel scale (threshold +- 1), so the network's own binarisation
    turns them into exactly the corrupted states; the labels are the memories' classes. The
    Evaluator's accuracy is then the share of cues that end nearest their own memory and its
    loss the mean recall error 1 - m.
    """
    memories, labels = model.stored()
    rng = np.random.default_rng(config.seed)
    cues = corrupt(np.repeat(memories, COPIES, axis=0), "flip", 0.2, rng)  # (P * COPIES, N)
    x = np.where(cues > 0, model.threshold + 1.0, model.threshold - 1.0)
    y = np.repeat(labels, COPIES)  # (P * COPIES,)
    return torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.int64)


# The hook spec_from_folder reads; its function name is the "split" of evaluate.py's JSON.
eval_data = corrupted_memories
