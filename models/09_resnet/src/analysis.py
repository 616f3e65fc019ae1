"""What the ResNet sees: its first-layer filters and the feature maps of each stage for one image.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, confusion matrix, gradient audit).
"""

from __future__ import annotations

from pathlib import Path

import torch
from model import ResNet

import plotting
from data_utils import DatasetSplits
from engine.modelio import evaluating


def stage_outputs(model: ResNet, image: torch.Tensor) -> dict[str, torch.Tensor]:
    """Activations (C, H, W) of the stem and of each stage for one image (C, H, W), eval mode."""
    device = model.fc.weight.device
    outputs = {}
    with evaluating(model):
        x = image.unsqueeze(0).to(device) - model.mean_image  # (C, H, W) -> (1, C, H, W)
        x = model.stem(x)
        outputs["stem"] = x[0]
        for index, stage in enumerate(model.stages):
            x = stage(x)
            outputs[f"stage{index + 1}"] = x[0]  # (1, C_s, H_s, W_s) -> (C_s, H_s, W_s)
    return outputs


def visualize(model: ResNet, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ModelSpec hook: stem filters, and the feature maps of the first test image."""
    figures = {
        "filters": plotting.plot_conv_filters(
            model.stem[0].weight,
            vis_dir / f"{prefix}_filters.png",
            title=f"ResNet stem: 3x3 filters on {splits.name}",
        )
    }
    stages = plotting.plot_stage_features(
        lambda image: stage_outputs(model, image), splits, vis_dir, prefix, "ResNet"
    )
    return {**figures, **stages}
