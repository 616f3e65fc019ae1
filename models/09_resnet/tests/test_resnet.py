"""The ResNet's known outcomes: shapes, shortcuts, identity at init, and the command line."""

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data_utils import DatasetSplits
from data_utils.transforms import to_float
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import (
    assert_config_error,
    copy_model,
    fixed_batch_losses,
    needs_data,
    run_study_smoke,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("resnet")
ResNet, BasicBlock = mods.model.ResNet, mods.model.BasicBlock


def make_net(depth: int = 8, channels: int = 3, side: int = 32, **options) -> ResNet:
    torch.manual_seed(0)
    return ResNet(depth, channels, 10, torch.zeros(channels, side, side), **options)


def correlation(a: torch.Tensor, b: torch.Tensor) -> float:
    a, b = a.flatten() - a.mean(), b.flatten() - b.mean()
    return float(a @ b / (a.norm() * b.norm()))


# ------------------------------------------------------------------------- shapes and sizes


@pytest.mark.parametrize("channels, side", [(3, 32), (1, 28)])
@pytest.mark.parametrize("residual", [True, False])
def test_forward_gives_finite_scores_for_cifar_and_fashion_shapes(channels, side, residual):
    net = make_net(8, channels, side, residual=residual)
    for training in (True, False):
        net.train(training)
        out = net(torch.rand(4, channels, side, side))
        assert out.shape == (4, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("depth, millions", [(20, 0.27), (32, 0.46), (56, 0.85), (110, 1.7)])
def test_parameter_counts_match_the_paper_and_the_plain_net(depth, millions):
    """Table 6: 0.27M, 0.46M, 0.85M, 1.7M; option A adds no parameters to the plain net."""
    residual = sum(p.numel() for p in make_net(depth).parameters())
    plain = sum(p.numel() for p in make_net(depth, residual=False).parameters())
    assert residual == plain
    assert round(residual / 1e6, 2 if millions < 1 else 1) == millions
    projection = sum(p.numel() for p in make_net(depth, shortcut="B").parameters())
    assert projection > residual  # option B: two 1x1 projections with BN


def test_stages_work_on_32_16_and_8_pixel_maps_with_16_32_64_filters():
    net = make_net(20)
    x = net.stem(torch.rand(2, 3, 32, 32))
    assert x.shape == (2, 16, 32, 32)
    for stage, shape in zip(net.stages, [(16, 32, 32), (32, 16, 16), (64, 8, 8)]):
        x = stage(x)
        assert x.shape[1:] == shape


@pytest.mark.parametrize("shortcut", ["A", "B"])
def test_every_shortcut_matches_its_blocks_output_across_stages(shortcut):
    net = make_net(20, shortcut=shortcut).eval()
    x = net.stem(torch.rand(2, 3, 32, 32))
    changes = 0
    for block in (b for stage in net.stages for b in stage):
        assert block.shortcut(x).shape == block.residual_branch(x).shape
        if block.conv1.stride == (2, 2):
            changes += 1
            expected = mods.model.ZeroPadShortcut if shortcut == "A" else torch.nn.Sequential
            assert isinstance(block.shortcut, expected)
        else:
            assert isinstance(block.shortcut, torch.nn.Identity)
        x = block(x)
    assert changes == 2, "stages 2 and 3 each start with one subsampling block"


def test_option_a_is_the_strided_identity_with_zero_channels_appended():
    shortcut = mods.model.ZeroPadShortcut(16, 32, stride=2)
    x = torch.randn(2, 16, 8, 8)
    y = shortcut(x)
    assert y.shape == (2, 32, 4, 4)
    torch.testing.assert_close(y[:, :16], x[:, :, ::2, ::2])
    assert (y[:, 16:] == 0).all()


def test_plain_blocks_have_no_shortcut():
    net = make_net(14, residual=False)
    assert all(b.shortcut is None for stage in net.stages for b in stage)


# --------------------------------------------------------------------- signals at initialisation


def test_zero_initialised_residual_net_passes_the_identity_through_every_block():
    """With gamma = 0 in each last BN, F(x) = 0: each block is relu(x) = x on ReLU outputs, and
    the three stages reduce to option A's strided, zero-padded identity."""
    net = make_net(20, zero_init_residual=True)
    x = torch.rand(4, 16, 32, 32)  # non-negative, like the stem's ReLU output
    for training in (True, False):
        net.train(training)
        with torch.no_grad():
            out = net.stages(x)
        expected = F.pad(x[:, :, ::4, ::4], (0, 0, 0, 0, 0, 48))  # (B, 16, 8, 8) -> (B, 64, 8, 8)
        torch.testing.assert_close(out, expected)


def test_residual_blocks_keep_their_input_at_default_init_plain_blocks_do_not():
    """Each residual block's output correlates with its input (the shortcut carries it); a plain
    block's output is uncorrelated with its input (measured: > 0.5 against |r| < 0.05)."""
    x = torch.randn(16, 3, 32, 32)
    result = {}
    for residual in (True, False):
        net = make_net(56, residual=residual).train()
        with torch.no_grad():
            h, values = net.stem(x), []
            for block in net.stages[0]:  # nine blocks on 16 x 32 x 32 maps
                out = block(h)
                values.append(correlation(h, out))
                h = out
        result[residual] = values
    assert min(result[True]) > 0.4
    assert max(abs(v) for v in result[False]) < 0.15


# ------------------------------------------------------------------- preprocessing and training


def tiny_splits(n: int = 32, channels: int = 1, side: int = 8) -> DatasetSplits:
    gen = torch.Generator().manual_seed(0)
    x = torch.randint(0, 256, (n, channels, side, side), dtype=torch.uint8, generator=gen)
    y = torch.arange(n) % 10
    names = [str(k) for k in range(10)]
    return DatasetSplits("tiny", x, y, x[:8], y[:8], x[:8], y[:8], 10, names, to_float)


def test_the_subtracted_mean_is_the_per_pixel_training_mean():
    splits = tiny_splits()
    torch.testing.assert_close(
        mods.model.pixel_mean(splits, chunk=5), to_float(splits.x_train).mean(dim=0)
    )


def resnet_config(**changes):
    return load_config(mods.config.ResNetConfig, mods.constants.EXPERIMENTS_FILE, "smoke", changes)


def test_augmentation_pads_with_the_mean_pixel_crops_and_flips():
    """The network sees the crop of the zero-mean image, padded with 0 (Sec. 4.2), although the
    loader augments before the network subtracts the mean."""
    splits = tiny_splits(n=16, channels=3, side=8)
    config = resnet_config(augment=True, crop_padding=2)
    augment = mods.model.train_transform(config, splits)
    mean = mods.model.pixel_mean(splits)  # (3, 8, 8)
    x = to_float(splits.x_train)  # (16, 3, 8, 8), as the loaders give it
    seen = augment(x, torch.Generator().manual_seed(0)) - mean  # what the stem gets
    assert seen.shape == x.shape and not torch.allclose(seen, x - mean)
    padded = F.pad(x - mean, (2, 2, 2, 2))  # (16, 3, 12, 12), zero-mean padding
    for i in range(len(x)):
        windows = [padded[i, :, dy : dy + 8, dx : dx + 8] for dy in range(5) for dx in range(5)]
        candidates = windows + [w.flip(-1) for w in windows]
        assert any(torch.allclose(seen[i], c, atol=1e-6) for c in candidates), "not a crop"
    again = augment(x, torch.Generator().manual_seed(0)) - mean
    assert torch.equal(again, seen), "the generator fixes the draw"
    assert mods.model.train_transform(resnet_config(augment=False), splits) is None


def test_only_the_training_loader_augments_and_the_weights_are_unchanged():
    splits = tiny_splits(n=16, channels=1, side=8)
    spec = mods.train.SPEC
    augmented = spec.with_train_transform(resnet_config(augment=True), splits)
    train, val, test = augmented.loaders(16, seed=0)
    plain = splits.loaders(16, seed=0)
    assert not torch.equal(next(iter(train))[0], next(iter(plain[0]))[0])
    assert torch.equal(next(iter(val))[0], next(iter(plain[1]))[0])
    assert torch.equal(next(iter(test))[0], next(iter(plain[2]))[0])
    # the augmentation held no weights in the network: old checkpoints have the same tensors
    net = mods.model.create_model(resnet_config(augment=True), splits)
    assert not any("augment" in name for name in net.state_dict())
    assert set(net.state_dict()) == set(
        mods.model.create_model(resnet_config(augment=False), splits).state_dict()
    )


@pytest.mark.parametrize("residual", [True, False])
def test_loss_falls_on_a_fixed_batch(residual):
    config = load_config(
        mods.config.ResNetConfig,
        mods.constants.EXPERIMENTS_FILE,
        "smoke",
        {"residual": residual, "widths": (16, 32, 64)},
    )
    splits = tiny_splits(n=32, channels=1, side=16)
    losses = fixed_batch_losses(mods.train.SPEC, config, splits, lr=0.05, steps=30)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"depth": 21}, ["depth", "6n + 2"]),
        ({"widths": (64, 32, 16)}, ["widths", "shortcut A"]),
        ({"shortcut": "C"}, ["shortcut", "A", "B"]),
        ({"optimizer": "none"}, ["optimizer", "backprop"]),
    ],
)
def test_bad_config_values_are_config_errors(changes, words):
    assert_config_error(mods.train.SPEC, "smoke", changes, words)


def test_wrong_image_size_is_refused_with_a_message():
    net = make_net(8, 1, 28)
    with pytest.raises(AssertionError, match="another data set"):
        net(torch.zeros(2, 3, 32, 32))


# ------------------------------------------------------------------- as a user runs it


@needs_data
def test_train_evaluate_and_degradation_from_the_command_line(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder)
    assert metrics["model"] == "resnet" and metrics["num_samples"] == 10_000
    names = {p.name for p in (folder / "outputs" / "visualizations").glob("*.png")}
    assert {"smoke_train_filters.png", "smoke_train_features_stage3.png"} <= names

    study = run_study_smoke(folder, "degradation.py", "--depths", "8", "14", "--epochs", "2")
    assert [(r["residual"], r["depth"]) for r in study["runs"]] == [
        (False, 8),
        (False, 14),
        (True, 8),
        (True, 14),
    ]
    assert all(len(r["train_error"]) == 2 for r in study["runs"])
    assert (folder / "outputs" / "visualizations" / "degradation.png").is_file()
