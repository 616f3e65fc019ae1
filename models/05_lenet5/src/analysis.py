"""LeNet-5's own plots and its size next to the MLP's.

``visualize`` is called by the shared workflow (ModelSpec ``visualize``) after the standard
plots, for the training run (prefix ``<experiment>_train``) and for evaluate.py
(``<experiment>_eval``). ``size_table`` is what ``src/compare.py`` prints.
"""

from __future__ import annotations

from pathlib import Path

from config import LeNet5Config
from constants import EXPERIMENTS_FILE
from model import LeNet5, create_model

from data_utils import DatasetSplits
from engine.modelio import evaluating
from engine.workflow import load_data
from plotting import plot_conv_filters, plot_feature_maps
from utils import count_flops, count_parameters, load_config
from utils.registry import model_spec


def visualize(model, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """C1's six 5x5 kernels, and the C1 and C3 feature maps of the first validation image."""
    x, label = splits.example("val")
    with evaluating(model):
        maps = model.features(x.to(model.c1.weight.device))
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


def c3_flops(model: LeNet5) -> int:
    """FLOPs of C3 per image: 2 x 60 kernels x 5 x 5 weights x 10 x 10 output positions.

    utils.count_flops sees nn.Conv2d and nn.Linear modules only; C3 is written by hand.
    """
    return 2 * model.c3.weight.numel() * 10 * 10


def size_table(experiment: str, data_dir: str | None = None) -> list[dict]:
    """LeNet-5 and the MLP of ../03_mlp on the same data: trainable parameters, FLOPs per image.

    Each network is built from its own experiments.yaml entry named ``experiment``.
    """
    config = load_config(LeNet5Config, EXPERIMENTS_FILE, experiment)
    splits = load_data(config, data_dir)
    mlp = model_spec("mlp")
    mlp_config = load_config(mlp.config_cls, mlp.experiments_file, experiment)
    lenet = create_model(config, splits)
    mlp_model = mlp.create_model(mlp_config, splits)
    return [
        {
            "model": "lenet5",
            "parameters": count_parameters(lenet),
            "flops": count_flops(lenet, splits.input_shape) + c3_flops(lenet),
        },
        {
            "model": f"mlp {list(mlp_config.hidden_sizes)}",
            "parameters": count_parameters(mlp_model),
            "flops": count_flops(mlp_model, splits.input_shape),
        },
    ]
