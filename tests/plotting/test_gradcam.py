"""Grad-CAM: the map finds the evidence a hand-built CNN is known to use, and leaves no trace."""

from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from plotting import grad_cam, plot_grad_cam

SIDE = 16  # image side; the target layer (after a 2x2 max pool) is 8 x 8
PATCH = 4  # side of the bright square


@pytest.fixture(autouse=True)
def no_figure_left_open():
    """Every plotting call must close its figure, also when it raises."""
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a plotting function left a figure open"


def brightness_cnn() -> nn.Sequential:
    """A CNN whose class-1 evidence is, by construction, the bright pixels and nothing else.

    Channel 0 of the conv is the local mean brightness, channel 1 the local darkness (1 - mean);
    after ReLU and a 2x2 max pool (the target layer, 8 x 8), the head averages each channel over
    the map. Class 1's score is the mean of channel 0 (bright evidence), class 0's the mean of
    channel 1 (dark evidence), so on a dark image with one bright patch class 1's Grad-CAM is
    channel 0: the patch.
    """
    model = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)),  # features
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 2),
    )
    conv, head = model[0][0], model[3]
    with torch.no_grad():
        conv.weight[0] = 1.0 / 9  # mean brightness over the 3 x 3 window
        conv.weight[1] = -1.0 / 9
        conv.bias.copy_(torch.tensor([0.0, 1.0]))  # channel 1: 1 - mean brightness
        head.weight.copy_(torch.tensor([[0.0, 1.0], [1.0, 0.0]]))  # class 0 <- dark, 1 <- bright
        head.bias.zero_()
    return model


def patch_image(row: int, col: int) -> torch.Tensor:
    """A dark (1, 1, SIDE, SIDE) image with a bright PATCH x PATCH square at (row, col)."""
    image = torch.zeros(1, 1, SIDE, SIDE)
    image[..., row : row + PATCH, col : col + PATCH] = 1.0
    return image


def quadrant_ratio(cam: torch.Tensor, top: bool, left: bool) -> float:
    """Mean of the map in one quadrant over its mean in the other three."""
    half = SIDE // 2
    rows = slice(0, half) if top else slice(half, SIDE)
    cols = slice(0, half) if left else slice(half, SIDE)
    inside = torch.zeros_like(cam, dtype=torch.bool)
    inside[rows, cols] = True
    return float(cam[inside].mean() / cam[~inside].mean().clamp_min(1e-6))


def argmax_2d(cam: torch.Tensor) -> tuple[int, int]:
    index = int(cam.argmax())
    return index // cam.shape[1], index % cam.shape[1]


def test_map_for_the_bright_class_lies_on_the_patch_and_follows_it():
    model = brightness_cnn()
    corner = SIDE - PATCH
    x = torch.cat([patch_image(0, 0), patch_image(corner, corner)])  # (2, 1, 16, 16)
    cams = grad_cam(model, model[0], x, target_classes=1)
    assert cams.shape == (2, SIDE, SIDE)
    assert float(cams.min()) >= 0.0 and float(cams.max()) == pytest.approx(1.0)

    top_left, bottom_right = cams
    assert quadrant_ratio(top_left, top=True, left=True) > 5.0
    row, col = argmax_2d(top_left)
    assert row < PATCH and col < PATCH, f"argmax {row, col} outside the top-left patch"

    assert quadrant_ratio(bottom_right, top=False, left=False) > 5.0
    row, col = argmax_2d(bottom_right)
    assert row >= corner and col >= corner, f"argmax {row, col} outside the bottom-right patch"
    # The batch does not mix: each image's map is the same as alone.
    torch.testing.assert_close(grad_cam(model, model[0], x[1:], 1)[0], bottom_right)


def test_the_dark_class_looks_away_from_the_patch_and_default_targets_are_the_predictions():
    model = brightness_cnn()
    x = patch_image(0, 0)
    assert model(x).argmax(1).item() == 0  # mostly dark: class 0 wins
    dark = grad_cam(model, model[0], x)[0]  # default: the predicted class 0
    torch.testing.assert_close(dark, grad_cam(model, model[0], x, torch.tensor([0]))[0])
    # Weakest on the patch (not zero: zero padding reads as dark at the border), full far away.
    assert dark[:PATCH, :PATCH].max() < 0.8 * dark[SIDE // 2 :, SIDE // 2 :].min()
    assert dark[SIDE // 2 :, SIDE // 2 :].min() == pytest.approx(1.0)


def test_matches_the_equations_computed_by_hand_on_a_random_cnn():
    torch.manual_seed(0)
    features = nn.Sequential(nn.Conv2d(3, 8, 3, stride=2, padding=1), nn.ReLU())  # 12 -> 6
    model = nn.Sequential(
        features, nn.Conv2d(8, 4, 3), nn.ReLU(inplace=True), nn.Flatten(), nn.LazyLinear(5)
    )
    x = torch.randn(3, 3, 12, 12)
    model(x)  # materialise the lazy layer
    targets = torch.tensor([4, 0, 2])

    activation = features(x).detach().requires_grad_(True)  # (3, 8, 6, 6)
    scores = model[1:](activation)  # (3, 5)
    scores[torch.arange(3), targets].sum().backward()
    alpha = activation.grad.mean(dim=(2, 3), keepdim=True)  # Eq. 1: (3, 8, 1, 1)
    expected = torch.relu((alpha * activation).sum(1)).detach()  # Eq. 2: (3, 6, 6)
    expected = F.interpolate(expected[:, None], size=(12, 12), mode="bilinear")[:, 0]
    expected = expected / expected.amax(dim=(1, 2), keepdim=True)  # (3, 12, 12), max 1

    torch.testing.assert_close(grad_cam(model, features, x, targets), expected)


def test_model_mode_gradients_and_hooks_are_left_as_they_were():
    model = brightness_cnn()
    model.train()
    model[3].eval()  # a mixed state must come back exactly
    before = {name: m.training for name, m in model.named_modules()}
    model[3].weight.grad = torch.full_like(model[3].weight, 7.0)
    with torch.no_grad():  # Grad-CAM needs gradients and turns them on itself
        grad_cam(model, model[0], patch_image(0, 0), 1)
    assert {name: m.training for name, m in model.named_modules()} == before
    assert all(p.grad is None for name, p in model.named_parameters() if name != "3.weight")
    torch.testing.assert_close(model[3].weight.grad, torch.full_like(model[3].weight, 7.0))
    assert all(p.requires_grad for p in model.parameters())
    assert not model[0]._forward_hooks

    with pytest.raises(ValueError, match=r"target_classes must lie in \[0, 2\)"):
        grad_cam(model, model[0], patch_image(0, 0), 5)  # fails after the forward pass
    assert not model[0]._forward_hooks
    assert {name: m.training for name, m in model.named_modules()} == before


def test_frozen_model_and_a_class_without_evidence():
    model = brightness_cnn().requires_grad_(False)
    cam = grad_cam(model, model[0], torch.zeros(1, 1, SIDE, SIDE), 1)  # no bright pixel at all
    assert torch.equal(cam, torch.zeros(1, SIDE, SIDE))


@pytest.mark.parametrize(
    "layer, x, targets, match",
    [
        (nn.Conv2d(1, 2, 3), patch_image(0, 0), None, "not a submodule"),
        ("features", torch.zeros(1, SIDE, SIDE), None, r"\(B, C, H, W\)"),
        ("features", torch.zeros(0, 1, SIDE, SIDE), None, r"\(B, C, H, W\)"),
        ("features", np.zeros((1, 1, SIDE, SIDE)), None, r"\(B, C, H, W\)"),
        ("flatten", patch_image(0, 0), None, r"\(B, K, h, w\)"),
        ("features", patch_image(0, 0), [1, 1], r"one int or \(B,\)"),
        ("features", patch_image(0, 0), -1, r"\[0, 2\)"),
    ],
)
def test_bad_input_raises(layer, x, targets, match):
    model = brightness_cnn()
    layer = {"features": model[0], "flatten": model[2]}.get(layer, layer)
    with pytest.raises(ValueError, match=match):
        grad_cam(model, layer, x, targets)
    assert all(not m._forward_hooks for m in model.modules())


def test_a_layer_that_runs_twice_is_refused():
    conv = nn.Conv2d(1, 1, 3, padding=1)
    model = nn.Sequential(conv, conv, nn.Flatten(), nn.LazyLinear(2))
    with pytest.raises(ValueError, match="ran 2 times"):
        grad_cam(model, conv, patch_image(0, 0))


def read_png(path: Path) -> np.ndarray:
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and 200 <= min(pixels.shape[:2]) and max(pixels.shape[:2]) <= 2000
    return pixels


def test_plot_draws_one_row_per_image(tmp_path):
    model = brightness_cnn()
    x = torch.cat([patch_image(0, 0), patch_image(SIDE - PATCH, SIDE - PATCH)])
    cams = grad_cam(model, model[0], x, 1)
    path = plot_grad_cam(x, cams, [1, 1], tmp_path / "sub" / "cam.png", ["dark", "bright"])
    assert path == tmp_path / "sub" / "cam.png"
    two = read_png(path)
    one = read_png(plot_grad_cam(x[:1], cams[:1], [1], tmp_path / "one.png"))
    assert two.shape[0] > one.shape[0], "two images: two rows"
    rgb = torch.rand(3, 3, 10, 10)
    capped = plot_grad_cam(
        rgb, torch.rand(3, 10, 10), [0, 1, 2], tmp_path / "rgb.png", max_images=2
    )
    read_png(capped)


@pytest.mark.parametrize(
    "images, cams, classes, kwargs, match",
    [
        (np.zeros((2, 2, 8, 8)), np.zeros((2, 8, 8)), [0, 0], {}, r"\(N, 1 or 3, H, W\)"),
        (np.zeros((2, 8, 8)), np.zeros((2, 8, 8)), [0, 0], {}, r"\(N, 1 or 3, H, W\)"),
        (np.zeros((2, 1, 8, 8)), np.zeros((2, 4, 4)), [0, 0], {}, "to match images"),
        (np.zeros((2, 1, 8, 8)), np.full((2, 8, 8), np.nan), [0, 0], {}, "NaN or Inf"),
        (np.zeros((2, 1, 8, 8)), np.full((2, 8, 8), 2.0), [0, 0], {}, r"\[0, 1\]"),
        (np.zeros((2, 1, 8, 8)), np.zeros((2, 8, 8)), [0], {}, "one entry per image"),
        (np.zeros((2, 1, 8, 8)), np.zeros((2, 8, 8)), [0, 3], {"class_names": ["a"]}, "names"),
        (np.zeros((2, 1, 8, 8)), np.zeros((2, 8, 8)), [0, 0], {"max_images": 0}, "max_images"),
    ],
)
def test_plot_bad_input_raises(tmp_path, images, cams, classes, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_grad_cam(images, cams, classes, tmp_path / "cam.png", **kwargs)
