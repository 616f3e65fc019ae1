"""Tests of the U-Net: shapes, every hand-written operation against its oracle, crops that keep
image and mask aligned, the loss falling on a fixed batch, the threshold baseline.

scikit-image (``skimage.metrics.adapted_rand_error``) is a test-only oracle (requirements-dev.txt);
the model never imports it.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import ndimage

from utils.config import load_config
from utils.modules import load_model_modules
from utils.registry import model_dir

mods = load_model_modules(model_dir("unet"))
model_lib = mods.model
UNet = model_lib.UNet


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiles(seed: int, size: int = 48, cell: int = 12) -> np.ndarray:
    """A mask of square cells of side ``cell`` - membrane width, on a grid with random membrane
    widths of 1 to 3 pixels: (size, size) int64, 1 = cell, 0 = membrane."""
    rng = np.random.default_rng(seed)
    mask = np.ones((size, size), dtype=np.int64)
    for start in range(0, size, cell):
        width = int(rng.integers(1, 4))
        mask[start : start + width, :] = 0
        mask[:, start : start + width] = 0
    return mask


def membrane_images(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Grey slices whose membranes are darker than their cells, with noise: x (n, 1, 48, 48) in
    [0, 1], masks (n, 48, 48)."""
    g = torch.Generator().manual_seed(seed)
    masks = torch.stack([torch.from_numpy(tiles(seed + i)) for i in range(n)])
    x = 0.3 + 0.4 * masks.float() + 0.15 * torch.randn(masks.shape, generator=g)
    return x.clamp(0, 1).unsqueeze(1), masks


# ------------------------------------------------------------------------------ the network


def test_output_keeps_the_size_and_gives_two_classes() -> None:
    torch.manual_seed(0)
    net = UNet(1, 2, [4, 8, 16], crop_size=16, crops_per_image=2).eval()
    out = net(torch.rand(3, 1, 64, 96))
    assert out.shape == (3, 2, 64, 96) and torch.isfinite(out).all()
    # four levels: pooled three times, three up-convolutions and skip concatenations
    net = UNet(1, 2, [2, 4, 8, 16])
    assert len(net.down) == 4 and len(net.up) == 3
    assert [m.in_channels for m in net.up] == [16, 8, 4]
    assert net.merge[0][0].in_channels == 16  # 8 from the skip + 8 from the up-convolution


def test_double_conv_matches_plain_torch_layers() -> None:
    torch.manual_seed(0)
    block = model_lib.DoubleConv(3, 5, batch_norm=False)
    x = torch.randn(2, 3, 9, 9)
    conv1, conv2 = block[0], block[2]
    hidden = F.relu(F.conv2d(x, conv1.weight, conv1.bias, padding=1))
    expected = F.relu(F.conv2d(hidden, conv2.weight, conv2.bias, padding=1))
    torch.testing.assert_close(block(x), expected)


# ------------------------------------------------------------------------------ the helpers


def test_dihedral_gives_the_eight_symmetries_of_the_square() -> None:
    x = torch.arange(9).view(3, 3)
    images = [model_lib.dihedral(x, k) for k in range(8)]
    assert len({tuple(im.flatten().tolist()) for im in images}) == 8
    np.testing.assert_array_equal(model_lib.dihedral(x, 1).numpy(), np.rot90(x.numpy(), 1))
    np.testing.assert_array_equal(
        model_lib.dihedral(x, 6).numpy(), np.fliplr(np.rot90(x.numpy(), 2))
    )


def test_test_time_flips_average_the_eight_symmetries_mapped_back() -> None:
    x = torch.arange(9).view(3, 3)
    for k in range(8):
        assert torch.equal(model_lib.undo_dihedral(model_lib.dihedral(x, k), k), x)
    torch.manual_seed(0)
    images, _ = membrane_images(2, seed=2)
    net = UNet(1, 2, [4, 8], test_time_flips=True).eval()
    with torch.no_grad():
        probs = net.log_probabilities(images).exp()  # (2, 2, S, S)
        by_hand = np.zeros(probs.shape)
        for k in range(4):
            for flip in (False, True):
                turned = np.rot90(images.numpy(), k, axes=(2, 3))
                turned = turned[..., ::-1] if flip else turned
                p = F.softmax(net(torch.from_numpy(turned.copy())), dim=1).numpy()
                p = p[..., ::-1] if flip else p
                by_hand += np.rot90(p, -k, axes=(2, 3)) / 8
    np.testing.assert_allclose(probs.numpy(), by_hand, atol=1e-5)
    np.testing.assert_allclose(probs.sum(1).numpy(), 1.0, atol=1e-5)
    assert torch.equal(net.predict_proba(images), probs[:, model_lib.MEMBRANE])


def test_random_crops_keep_image_mask_and_weights_aligned() -> None:
    torch.manual_seed(0)
    masks = torch.randint(0, 2, (3, 40, 40))
    images = masks.unsqueeze(1).float() * 10 + torch.arange(3).view(3, 1, 1, 1)  # id in images
    weights = masks.float() * 2
    torch.manual_seed(1)
    x, y, w = model_lib.random_crops(images, masks, 16, 5, weights)
    assert x.shape == (15, 1, 16, 16) and y.shape == (15, 16, 16) and w.shape == (15, 16, 16)
    # each crop keeps its slice (5 crops per slice, in order) and image and mask move together
    slice_ids = (x % 10).round().long()[:, 0, 0, 0]
    assert slice_ids.tolist() == [0] * 5 + [1] * 5 + [2] * 5
    torch.testing.assert_close(((x[:, 0] - slice_ids.view(-1, 1, 1)) / 10).long(), y)
    torch.testing.assert_close(w, y.float() * 2)
    # the same generator state cuts the same crops (global RNG: saved in checkpoints)
    torch.manual_seed(1)
    torch.testing.assert_close(model_lib.random_crops(images, masks, 16, 5, weights)[0], x)


def test_elastic_deform_moves_image_mask_and_weights_together(monkeypatch) -> None:
    torch.manual_seed(0)
    masks = torch.from_numpy(np.stack([tiles(0, 64, 16), tiles(1, 64, 16)]))  # (2, 64, 64)
    images = masks.unsqueeze(1).float() * 10 + torch.arange(2).view(2, 1, 1, 1)
    weights = masks.float() * 2
    # std 0: the identity
    x, y, w = model_lib.elastic_deform(images, masks, 0.0, weights=weights)
    torch.testing.assert_close(x, images, atol=1e-4, rtol=0)
    assert torch.equal(y, masks) and w is not None
    torch.testing.assert_close(w, weights, atol=1e-4, rtol=0)
    # a random field: every slice keeps its id, the mask is the deformed image's classes
    torch.manual_seed(1)
    x, y, w = model_lib.elastic_deform(images, masks, 4.0, weights=weights)
    assert x.shape == images.shape and y.shape == masks.shape and y.dtype == torch.int64
    assert not torch.equal(y, masks)
    slices = torch.arange(2).view(2, 1, 1)
    assert torch.equal(((x[:, 0] - slices) >= 5).long(), y)
    assert torch.equal((w >= 1).long(), y)
    torch.manual_seed(1)  # the global generator: the same state deforms alike
    torch.testing.assert_close(model_lib.elastic_deform(images, masks, 4.0)[0], x)
    # equal displacements of (2, 2) pixels at every lattice point: a shift of the slice
    monkeypatch.setattr(model_lib.torch, "randn", lambda *shape: torch.ones(*shape))
    x, y, _ = model_lib.elastic_deform(images, masks, 2.0)
    torch.testing.assert_close(x[..., :-2, :-2], images[..., 2:, 2:], atol=1e-4, rtol=0)
    assert torch.equal(y[:, :-2, :-2], masks[:, 2:, 2:])


# ------------------------------------------------------------------------------- the losses


def test_cross_entropy_matches_torch() -> None:
    torch.manual_seed(0)
    scores, masks = torch.randn(2, 2, 5, 7), torch.randint(0, 2, (2, 5, 7))
    weights = torch.rand(2, 5, 7)
    torch.testing.assert_close(
        model_lib.weighted_cross_entropy(scores, masks, None), F.cross_entropy(scores, masks)
    )
    per_pixel = F.cross_entropy(scores, masks, reduction="none")  # (2, 5, 7)
    torch.testing.assert_close(
        model_lib.weighted_cross_entropy(scores, masks, weights), (per_pixel * weights).mean()
    )


def test_class_balance_gives_each_class_half_the_weight() -> None:
    mask = tiles(0)
    w = model_lib.class_balance(mask)
    assert w[mask == 0].sum() == pytest.approx(w.size / 2)
    assert w[mask == 1].sum() == pytest.approx(w.size / 2)


def brute_force_weight_map(mask: np.ndarray, w0: float, sigma: float) -> np.ndarray:
    """Eq. 2 with a full-image distance transform per cell, sorted per pixel."""
    labels, n = ndimage.label(mask == 1)
    distances = np.stack([ndimage.distance_transform_edt(labels != i) for i in range(1, n + 1)])
    distances.sort(axis=0)  # (n, H, W): nearest first
    border = w0 * np.exp(-((distances[0] + distances[1]) ** 2) / (2 * sigma**2))
    return model_lib.class_balance(mask) + np.where(mask == 0, border, 0.0)


@pytest.mark.parametrize("sigma", [2.0, 5.0])
def test_weight_map_matches_full_distance_transforms(sigma: float) -> None:
    mask = tiles(1, size=60)
    fast = model_lib.weight_map(mask, w0=10.0, sigma=sigma)
    np.testing.assert_allclose(fast, brute_force_weight_map(mask, 10.0, sigma), atol=1e-6)
    # thin membranes between two cells weigh most: a 1-pixel membrane has d1 = d2 = 1
    thinnest = 10.0 * math.exp(-4 / (2 * sigma**2))
    assert fast.max() == pytest.approx(model_lib.class_balance(mask).max() + thinnest)


# ------------------------------------------------------------------------------ the metrics


def test_adapted_rand_error_matches_scikit_image() -> None:
    from skimage.metrics import adapted_rand_error  # test-only oracle

    rng = np.random.default_rng(0)
    for _ in range(5):
        true = rng.integers(0, 6, (30, 40))
        test = rng.integers(0, 9, (30, 40))
        expected = adapted_rand_error(true, test)[0]
        assert model_lib.adapted_rand_error(true, test) == pytest.approx(expected, abs=1e-12)
    # on cells of membrane masks, as the step uses it
    true_mask, noisy = tiles(2), tiles(2).copy()
    noisy[rng.random(noisy.shape) < 0.05] ^= 1
    true_cells, test_cells = model_lib.cells(true_mask)[0], model_lib.cells(noisy)[0]
    expected = adapted_rand_error(true_cells, test_cells)[0]
    assert model_lib.adapted_rand_error(true_cells, test_cells) == pytest.approx(expected)
    assert model_lib.adapted_rand_error(true_cells, true_cells) == 0.0


def test_pixel_error_and_membrane_iou_by_counting() -> None:
    pred = torch.tensor([[[0, 0, 1], [1, 1, 0]]])
    truth = torch.tensor([[[0, 1, 1], [1, 0, 0]]])
    assert float(model_lib.pixel_error(pred, truth)) == pytest.approx(2 / 6)
    assert model_lib.intersection_union(pred, truth) == (2, 4)  # membrane = class 0


def test_set_metric_combines_batches_and_processes() -> None:
    masks = torch.stack([torch.from_numpy(tiles(i)) for i in range(4)])
    pred = masks.clone()
    pred[0, :5] = 0  # a wrong strip in slice 0
    scores = model_lib.SegmentationScores("unet")
    for b in (slice(0, 1), slice(1, 4)):
        scores.update((None, masks[b]), {"unet": pred[b]})
    other = model_lib.SegmentationScores("unet")
    other.update((None, masks[:1]), {"unet": pred[:1]})
    result = scores.compute([scores.state(), other.state()])
    inter, union = model_lib.intersection_union(
        torch.cat([pred, pred[:1]]), torch.cat([masks, masks[:1]])
    )
    assert result["membrane_iou"] == pytest.approx(inter / union)
    errors = model_lib.rand_errors(pred, masks)
    assert errors[1:] == [0.0, 0.0, 0.0] and errors[0] > 0
    assert result["rand_error"] == pytest.approx((2 * errors[0]) / 5)


def test_best_threshold_matches_a_search_over_all_levels() -> None:
    x, masks = membrane_images(3, seed=0)
    levels = (x * 255).round().to(torch.uint8)
    t, error = model_lib.best_threshold(levels, masks)
    errors = [
        float(model_lib.pixel_error(model_lib.threshold_predict(x, torch.tensor(s)), masks))
        for s in range(256)
    ]
    assert error == pytest.approx(min(errors)) and errors[t] == pytest.approx(min(errors))
    assert error < 0.2  # the membranes are darker: a threshold separates most pixels


# ---------------------------------------------------------------------------- training


def test_loss_falls_on_a_fixed_batch_and_beats_the_threshold() -> None:
    torch.manual_seed(0)
    x, masks = membrane_images(4, seed=0)
    t, _ = model_lib.best_threshold((x * 255).round().to(torch.uint8), masks)
    net = UNet(1, 2, [8, 16], crop_size=32, crops_per_image=2, threshold=t)
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    net.eval()
    with torch.no_grad():
        before = net.step((x, masks))
    net.train()
    for _ in range(40):
        optimizer.zero_grad()
        net.step((x, masks)).loss.backward()
        optimizer.step()
    net.eval()
    with torch.no_grad():
        after = net.step((x, masks))
    assert float(after.loss) < 0.5 * float(before.loss)
    error = after.metrics["pixel_error"].total / after.metrics["pixel_error"].count
    base = after.metrics["threshold_pixel_error"]
    assert error < base.total / base.count  # the U-Net sees context; the threshold one pixel
    assert set(after.outputs) == {"unet", "threshold"}


def test_weighted_loss_trains_and_caches_each_weight_map() -> None:
    torch.manual_seed(0)
    x, masks = membrane_images(2, seed=1)
    net = UNet(1, 2, [4, 8], loss="weighted", crop_size=16, crops_per_image=2)
    net.train()
    loss = net.step((x, masks)).loss
    loss.backward()
    assert torch.isfinite(loss) and len(net._weights) == 2
    net.step((x, masks))
    assert len(net._weights) == 2  # the same masks: no new maps


def test_config_rejects_crops_the_levels_cannot_halve() -> None:
    from utils.exceptions import ConfigError

    spec = mods.train.SPEC
    with pytest.raises(ConfigError, match="multiple of 8"):
        load_config(spec.config_cls, spec.experiments_file, "membranes", {"crop_size": "100"})
