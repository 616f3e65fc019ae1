"""AlexNet's own plots for ``--visualize``: the learned conv1 kernels and feature maps.

Called by the shared workflow (ModelSpec ``visualize``) after the standard plots, for the
training run (prefix ``<experiment>_train``) and for evaluate.py (``<experiment>_eval``).
"""

from __future__ import annotations

from pathlib import Path

from data_utils import DatasetSplits
from engine.modelio import evaluating
from plotting import plot_conv_filters, plot_feature_maps


def visualize(model, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """conv1's kernels (cf. the paper's Fig. 3), conv1 and conv2 maps of one validation image."""
    x, label = splits.example("val")
    with evaluating(model):
        maps = model.features(x.to(model.conv1.weight.device))
    return {
        "conv1_filters": plot_conv_filters(
            model.conv1.weight,
            vis_dir / f"{prefix}_conv1_filters.png",
            title="AlexNet conv1: the learned 5x5 kernels",
        ),
        "conv1_maps": plot_feature_maps(
            maps["conv1"][0],
            vis_dir / f"{prefix}_conv1_maps.png",
            title=f"conv1 after ReLU and LRN ({label})",
        ),
        "conv2_maps": plot_feature_maps(
            maps["conv2"][0],
            vis_dir / f"{prefix}_conv2_maps.png",
            title=f"conv2 after ReLU and LRN ({label})",
        ),
    }
