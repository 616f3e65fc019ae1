"""What VGG sees: its first-layer 3x3 filters and the last feature maps of each stage.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, confusion matrix, gradient audit).
"""

from __future__ import annotations

from pathlib import Path

import torch
from model import VGG
from torch import nn

import plotting
from data_utils import DatasetSplits
from engine.modelio import evaluating


def stage_outputs(model: VGG, image: torch.Tensor, num_stages: int = 5) -> dict[str, torch.Tensor]:
    """Activations (C, H, W) entering each of the first ``num_stages`` max-pools, for one image
    (C, H, W), in eval mode: ``{"stage1": ..., "stage2": ...}``."""
    outputs = {}
    with evaluating(model):
        x = image.unsqueeze(0).to(model.mean_rgb.device) - model.mean_rgb  # -> (1, C, H, W)
        for layer in model.features:
            if isinstance(layer, nn.MaxPool2d):
                outputs[f"stage{len(outputs) + 1}"] = x[0]  # (1, C_s, H_s, W_s) -> (C_s, H_s, W_s)
                if len(outputs) == num_stages:
                    break
            x = layer(x)
    return outputs


def visualize(model: VGG, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ModelSpec hook: first-layer filters, and each stage's maps for the first test image."""
    first = next(m for m in model.features if isinstance(m, nn.Conv2d))
    figures = {
        "filters": plotting.plot_conv_filters(
            first.weight,
            vis_dir / f"{prefix}_filters.png",
            title=f"VGG first layer: 3x3 filters on {splits.name}",
        )
    }
    stages = plotting.plot_stage_features(
        lambda image: stage_outputs(model, image, num_stages=3),  # later stages are 4x4 or less
        splits,
        vis_dir,
        prefix,
        "VGG",
    )
    return {**figures, **stages}
