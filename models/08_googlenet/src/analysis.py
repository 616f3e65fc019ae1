"""What GoogLeNet sees: its first-layer filters and the output of each Inception stage.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, confusion matrix, gradient audit).
"""

from __future__ import annotations

from pathlib import Path

import torch
from model import POOL_AFTER, GoogLeNet

import plotting
from data_utils import DatasetSplits
from engine.modelio import evaluating


def stage_outputs(model: GoogLeNet, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Activations (C, H, W) after the stem and after modules 3b, 4e and 5b, for one image."""
    outputs = {}
    with evaluating(model):
        x = image.unsqueeze(0).to(model.mean_rgb.device) - model.mean_rgb  # -> (1, C, H, W)
        x = model.stem(x)
        outputs["stem"] = x[0]  # (1, C, h, w) -> (C, h, w)
        for name, module in model.inception.items():
            x = module(x)
            if name in POOL_AFTER or name == "5b":
                outputs[f"inception{name}"] = x[0]
                x = model.pool(x) if name in POOL_AFTER else x
    return outputs


def visualize(
    model: GoogLeNet, splits: DatasetSplits, vis_dir: Path, prefix: str
) -> dict[str, Path]:
    """The ModelSpec hook: first-layer filters, and each stage's maps for the first test image."""
    figures = {
        "filters": plotting.plot_conv_filters(
            model.stem[0][0].weight,
            vis_dir / f"{prefix}_filters.png",
            title=f"GoogLeNet first layer: 3x3 filters on {splits.name}",
        )
    }
    stages = plotting.plot_stage_features(
        lambda image: stage_outputs(model, image), splits, vis_dir, prefix, "GoogLeNet"
    )
    return {**figures, **stages}
