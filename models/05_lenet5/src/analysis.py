"""LeNet-5's own plots for ``--visualize``: what C1 learned and what C1 and C3 see.

Called by the shared workflow (ModelSpec ``visualize``) after the standard plots, for the
training run (prefix ``<experiment>_train``) and for evaluate.py (``<experiment>_eval``).
"""

from __future__ import annotations

from pathlib import Path

import torch

from data_utils import DatasetSplits
from plotting import plot_conv_filters, plot_feature_maps


def first_image(splits: DatasetSplits, device: torch.device) -> torch.Tensor:
    """The first validation example, transformed as the loaders do: (1, ...)."""
    x = splits.x_val[:1]
    if splits.transform is not None:
        x = splits.transform(x)
    return x.to(device)


def visualize(model, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """C1's six 5x5 kernels, and the C1 and C3 feature maps of the first validation image."""
    was_training = model.training
    model.eval()
    with torch.no_grad():
        maps = model.features(first_image(splits, model.c1.weight.device))
    model.train(was_training)
    label = splits.class_names[int(splits.y_val[0])]
    return {
        "c1_filters": plot_conv_filters(
            model.c1.weight,
            vis_dir / f"{prefix}_c1_filters.png",
            title="LeNet-5 C1: the six learned 5x5 kernels",
        ),
        "input": plot_feature_maps(
            maps["input"][0],
            vis_dir / f"{prefix}_input_field.png",
            title=f"32x32 input field (class {label})",
        ),
        "c1_maps": plot_feature_maps(
            maps["c1"][0], vis_dir / f"{prefix}_c1_maps.png", title=f"C1 maps, 28x28 ({label})"
        ),
        "c3_maps": plot_feature_maps(
            maps["c3"][0], vis_dir / f"{prefix}_c3_maps.png", title=f"C3 maps, 10x10 ({label})"
        ),
    }
