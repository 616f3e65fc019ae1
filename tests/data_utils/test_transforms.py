"""Per-batch image transforms: padding, resizing, normalisation, seeded augmentation, binarising."""

from __future__ import annotations

from functools import partial

import numpy as np
import pytest
import torch

from data_utils.transforms import (
    Normalize,
    binarize,
    channel_stats,
    compose,
    flat_features,
    pad_to,
    random_crop,
    random_horizontal_flip,
    resize,
    to_float,
)


@pytest.fixture
def images() -> torch.Tensor:
    return torch.randint(0, 256, (6, 3, 28, 28), generator=torch.Generator().manual_seed(0)).to(
        torch.uint8
    )


def test_to_float_scales_uint8() -> None:
    x = torch.tensor([0, 51, 255], dtype=torch.uint8)
    torch.testing.assert_close(to_float(x), torch.tensor([0.0, 0.2, 1.0]))


def test_pad_to_32_centres_the_image(images) -> None:
    padded = pad_to(images, 32)
    assert padded.shape == (6, 3, 32, 32) and padded.dtype == torch.uint8
    assert torch.equal(padded[:, :, 2:30, 2:30], images)
    assert padded[:, :, :2].sum() == 0 and padded[:, :, :, 30:].sum() == 0
    with pytest.raises(AssertionError, match="resize"):
        pad_to(torch.zeros(1, 1, 40, 40), 32)


def test_resize_to_32(images) -> None:
    out = resize(images, 32)
    assert out.shape == (6, 3, 32, 32) and out.dtype == torch.float32
    flat = resize(torch.full((1, 1, 28, 28), 255, dtype=torch.uint8))
    torch.testing.assert_close(flat, torch.ones(1, 1, 32, 32))


def test_normalize_uses_the_statistics_it_is_given(images) -> None:
    mean, std = channel_stats(images)
    as_float = images.float() / 255
    torch.testing.assert_close(mean, as_float.mean(dim=(0, 2, 3)))
    torch.testing.assert_close(std, as_float.std(dim=(0, 2, 3), unbiased=False))
    out = Normalize.from_uint8(images)(images)
    torch.testing.assert_close(out.mean(dim=(0, 2, 3)), torch.zeros(3), atol=1e-5, rtol=0)
    torch.testing.assert_close(out.std(dim=(0, 2, 3), unbiased=False), torch.ones(3))
    other = Normalize(torch.tensor([0.5, 0.5, 0.5]), torch.tensor([0.25, 0.25, 0.25]))
    torch.testing.assert_close(other(images), (as_float - 0.5) / 0.25)


def test_random_crop_is_seeded_and_a_shifted_window(images) -> None:
    a = random_crop(images, 4, generator=torch.Generator().manual_seed(1))
    b = random_crop(images, 4, generator=torch.Generator().manual_seed(1))
    c = random_crop(images, 4, generator=torch.Generator().manual_seed(2))
    assert a.shape == images.shape and a.dtype == images.dtype
    assert torch.equal(a, b) and not torch.equal(a, c)
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i in range(len(images)):  # every crop is one 28x28 window of the padded image
        windows = [
            torch.equal(a[i], padded[i, :, dy : dy + 28, dx : dx + 28])
            for dy in range(9)
            for dx in range(9)
        ]
        assert any(windows)
    assert torch.equal(random_crop(images, 0, generator=torch.Generator()), images)


def test_random_horizontal_flip(images) -> None:
    gen = torch.Generator().manual_seed(0)
    assert torch.equal(random_horizontal_flip(images, 1.0, generator=gen), images.flip(-1))
    assert torch.equal(random_horizontal_flip(images, 0.0, generator=gen), images)
    out = random_horizontal_flip(images, generator=torch.Generator().manual_seed(3))
    again = random_horizontal_flip(images, generator=torch.Generator().manual_seed(3))
    assert torch.equal(out, again)
    for i in range(len(images)):
        assert torch.equal(out[i], images[i]) or torch.equal(out[i], images[i].flip(-1))


def test_binarize_both_codings() -> None:
    x = torch.tensor([0, 100, 128, 255], dtype=torch.uint8)
    assert binarize(x).tolist() == [0.0, 0.0, 1.0, 1.0]
    assert binarize(x, signed=True).tolist() == [-1.0, -1.0, 1.0, 1.0]
    assert binarize(torch.tensor([0.2, 0.9]), threshold=0.1).tolist() == [1.0, 1.0]


def test_compose_chains_left_to_right(images) -> None:
    gen = torch.Generator().manual_seed(0)
    pipeline = compose(
        partial(pad_to, size=32), partial(random_crop, padding=2, generator=gen), to_float
    )
    out = pipeline(images)
    assert out.shape == (6, 3, 32, 32) and out.dtype == torch.float32


def test_flat_features_apply_the_transform_then_flatten(images) -> None:
    flat = flat_features(images, to_float)
    assert flat.shape == (6, 3 * 28 * 28) and flat.dtype == np.float64
    np.testing.assert_array_equal(flat[1], to_float(images[1]).numpy().ravel())
    assert flat_features(images, None, np.float32).max() == 255.0  # no transform: raw values
