"""Filter and feature-map grids: a readable PNG for every layout, clear errors for bad input."""

from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from torch import nn

from plotting import plot_conv_filters, plot_feature_maps, plot_stage_features
from plotting.features import _rescale
from utils.testing import patch_image_splits


@pytest.fixture(autouse=True)
def no_figure_left_open():
    """Every plotting call must close its figure, also when it raises."""
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a plotting function left a figure open"


def read_png(path: Path, max_side: int = 2000) -> np.ndarray:
    """Assert ``path`` is a PNG of bounded size and return its pixels (H, W, C)."""
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and 200 <= min(pixels.shape[:2]) and max(pixels.shape[:2]) <= max_side
    return pixels


def test_rgb_filters_of_a_conv_layer_are_drawn_in_colour(tmp_path):
    conv = nn.Conv2d(3, 16, 5)
    with torch.no_grad():
        conv.weight.zero_()
        conv.weight[:, 0] = 1.0  # every filter is pure red after rescaling
    path = plot_conv_filters(conv.weight, tmp_path / "sub" / "rgb.png", title="C1")
    assert path == tmp_path / "sub" / "rgb.png"
    pixels = read_png(path)
    red = (pixels[..., 0] > 0.9) & (pixels[..., 1] < 0.1) & (pixels[..., 2] < 0.1)
    assert red.sum() > 100, "the red filters must appear in colour"


def test_grayscale_and_multichannel_filters(tmp_path):
    read_png(plot_conv_filters(torch.randn(6, 1, 5, 5), tmp_path / "lenet_c1.png"))
    read_png(plot_conv_filters(np.zeros((4, 1, 3, 3)), tmp_path / "zeros.png"))
    pixels = read_png(plot_conv_filters(torch.randn(16, 6, 5, 5), tmp_path / "c3.png"))
    assert pixels.shape[0] > pixels.shape[1], "16 filter rows x 6 channel columns: taller"


def test_max_filters_limits_the_grid_and_large_layers_stay_bounded(tmp_path):
    few = read_png(plot_conv_filters(torch.randn(48, 3, 11, 11), tmp_path / "few.png", 5))
    many = read_png(plot_conv_filters(torch.randn(48, 3, 11, 11), tmp_path / "many.png", 48))
    assert few.shape[0] < many.shape[0]
    read_png(plot_conv_filters(torch.randn(64, 64, 3, 3), tmp_path / "deep.png"))


def test_feature_maps_grid(tmp_path):
    maps = torch.relu(torch.randn(40, 14, 14))
    maps[3] = 0.0  # a dead channel is drawn, not an error
    read_png(plot_feature_maps(maps, tmp_path / "maps.png", max_maps=32, title="S2"))
    read_png(plot_feature_maps(np.ones((1, 5, 5)), tmp_path / "one.png"))


def test_rescale_maps_each_image_to_unit_range():
    out = _rescale(np.array([[2.0, 4.0], [6.0, 10.0]]))
    np.testing.assert_allclose(out, [[0.0, 0.25], [0.5, 1.0]])
    np.testing.assert_allclose(_rescale(np.full((2, 2), 7.0)), 0.5)


@pytest.mark.parametrize(
    "weight, kwargs, match",
    [
        (np.zeros((4, 5, 5)), {}, r"\(C_out, C_in, k, k\)"),
        (np.zeros((0, 1, 5, 5)), {}, r"\(C_out, C_in, k, k\)"),
        (np.zeros((4, 1, 5, 3)), {}, "square"),
        (np.full((4, 1, 5, 5), np.nan), {}, "NaN"),
        (np.zeros((4, 1, 5, 5)), {"max_filters": 0}, "max_filters"),
    ],
)
def test_conv_filters_bad_input_raises(tmp_path, weight, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_conv_filters(weight, tmp_path / "w.png", **kwargs)


@pytest.mark.parametrize(
    "maps, kwargs, match",
    [
        (np.zeros((2, 4, 5, 5)), {}, r"\(C, H, W\)"),
        (np.zeros((0, 5, 5)), {}, r"\(C, H, W\)"),
        (np.full((2, 5, 5), np.inf), {}, "NaN or Inf"),
        (np.zeros((2, 5, 5)), {"max_maps": 0}, "max_maps"),
    ],
)
def test_feature_maps_bad_input_raises(tmp_path, maps, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_feature_maps(maps, tmp_path / "m.png", **kwargs)


def test_path_must_be_png(tmp_path):
    with pytest.raises(ValueError, match=".png"):
        plot_feature_maps(np.zeros((2, 5, 5)), tmp_path / "m.jpg")


def test_stage_features_draw_each_stage_of_the_first_test_image(tmp_path):
    splits = patch_image_splits(n=8, channels=3, side=28)
    seen = []

    def stages(image: torch.Tensor) -> dict[str, torch.Tensor]:
        seen.append(image)
        return {"stem": image[:2], "stage1": image[:, ::2, ::2]}

    figures = plot_stage_features(stages, splits, tmp_path, "run_eval", "Net")
    assert figures == {
        "features_stem": tmp_path / "run_eval_features_stem.png",
        "features_stage1": tmp_path / "run_eval_features_stage1.png",
    }
    for path in figures.values():
        read_png(path)
    # the first test image, transformed as the loaders do (uint8 -> float in [0, 1])
    torch.testing.assert_close(seen[0], splits.transform(splits.x_test[:1])[0])
