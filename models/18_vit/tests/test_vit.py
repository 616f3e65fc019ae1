"""ViT: the patch embedding, the class token and positions, the kernel, learning, resume, config."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data_utils import create_data_loaders
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import (
    assert_config_error,
    assert_resumes_exactly,
    copy_model,
    needs_data,
    patch_image_splits,
    run_study_smoke,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("vit")
m = mods.model
SPEC = mods.train.SPEC


def vit(dtype=torch.float64, fused=False, dropout=0.0, shape=(3, 12, 16), **changes) -> m.ViT:
    torch.manual_seed(0)
    options = dict(patch_size=4, num_layers=2, d_model=16, n_heads=4, dropout=dropout, fused=fused)
    return m.ViT(shape, 10, **{**options, **changes}).to(dtype)


def images(batch: int, shape=(3, 12, 16), seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, *shape, generator=torch.Generator().manual_seed(seed)).double()


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


# -------------------------------------------------------------------------- patch embedding


def test_patches_are_a_reshape_and_the_embedding_is_a_stride_p_convolution():
    """Eq. 1: N = HW / P^2 patches of P^2 C values; x_p E equals a P x P convolution of stride P
    whose kernel is E reshaped (the oracle), patch by patch in row-major order."""
    net = vit()
    x = images(2)  # (B, C, H, W) = (2, 3, 12, 16): a 3 x 4 grid of 4x4 patches
    patches = m.patchify(x, 4)
    assert patches.shape == (2, 12, 3 * 4 * 4)
    torch.testing.assert_close(patches[0, 5], x[0, :, 4:8, 4:8].flatten())  # row 1, column 1
    tokens = net.embed(x)  # (B, N + 1, D)
    assert tokens.shape == (2, 13, 16)
    kernel = net.embed.proj.weight.view(16, 3, 4, 4)  # (D, P^2 C) -> (D, C, P, P)
    conv = F.conv2d(x, kernel, net.embed.proj.bias, stride=4)  # (B, D, H/P, W/P)
    torch.testing.assert_close(tokens[:, 1:], conv.flatten(2).transpose(1, 2))  # (B, N, D)
    torch.testing.assert_close(tokens[:, 0], net.embed.cls_token[0].expand(2, -1))


def test_the_class_token_leads_and_the_head_reads_it():
    net = vit()
    x = images(3)
    assert net(x).shape == (3, 10) and net.positions.shape == (1, 13, 16)
    torch.testing.assert_close(net(x), net.head(net.encode(x)[:, 0]))


def permute_patches(x: torch.Tensor, order: torch.Tensor, p: int = 4) -> torch.Tensor:
    """The image whose k-th patch (row-major) is patch order[k] of x."""
    b, c, h, w = x.shape
    grid = x.view(b, c, h // p, p, w // p, p).permute(0, 2, 4, 1, 3, 5).reshape(b, -1, c, p, p)
    grid = grid[:, order].view(b, h // p, w // p, c, p, p)  # (B, H/P, W/P, C, P, P)
    return grid.permute(0, 3, 1, 4, 2, 5).reshape(b, c, h, w)


def test_permuting_the_patches_changes_the_output_only_through_the_positions():
    """Attention is permutation-equivariant: without position embeddings the class token's
    output ignores where each patch was; permuting the patch positions along with the patches
    gives the same output exactly; with the learned positions alone it changes."""
    net = vit().eval()
    x = images(2)
    order = torch.randperm(12, generator=torch.Generator().manual_seed(3))
    shuffled = permute_patches(x, order)
    assert not torch.allclose(shuffled, x)
    before = net(x)
    assert not torch.allclose(net(shuffled), before, atol=1e-6)  # the positions tell them apart
    with torch.no_grad():  # move each position embedding with its patch: the same output
        net.positions[:, 1:] = net.positions[:, 1:][:, order]
    torch.testing.assert_close(net(shuffled), before, rtol=1e-10, atol=1e-12)
    with torch.no_grad():  # no positions at all: order-blind
        net.positions.zero_()
    torch.testing.assert_close(net(shuffled), net(x), rtol=1e-10, atol=1e-12)


def test_fused_attention_matches_the_hand_written_path_with_gradients():
    hand, fused = vit(fused=False), vit(fused=True)
    x, y = images(4), torch.arange(4)
    loss_hand, loss_fused = F.cross_entropy(hand(x), y), F.cross_entropy(fused(x), y)
    loss_hand.backward()
    loss_fused.backward()
    torch.testing.assert_close(loss_fused, loss_hand, rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(hand.named_parameters(), fused.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_input_is_standardised_with_the_training_statistics():
    splits = patch_image_splits(32)
    net = m.create_model(config(), splits)
    x = splits.transform(splits.x_train).double()
    assert net.mean.shape == (1,) and net.std.shape == (1,)
    assert net.mean.item() == pytest.approx(x.mean().item(), rel=1e-5)
    assert net.std.item() == pytest.approx(x.std(unbiased=False).item(), rel=1e-4)


def test_weight_decay_reaches_the_matrices_only():
    net = vit(dtype=torch.float32)
    decay, rest = net.configure_optimizers(config()).param_groups
    assert decay["weight_decay"] == 0.05 and rest["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"])
    assert any(p is net.positions for p in rest["params"])
    assert any(p is net.embed.cls_token for p in rest["params"])
    assert len(decay["params"]) + len(rest["params"]) == len(list(net.parameters()))


# ------------------------------------------------------------------------------- learning


def test_loss_falls_on_a_fixed_batch():
    """32 images whose class is where a bright patch is: the ViT learns them by heart."""
    splits = patch_image_splits(32)
    net = m.create_model(config(d_model=32, num_layers=2, n_heads=4, d_ff=64), splits)
    x, y = splits.transform(splits.x_train), splits.y_train
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0.9 * math.log(10) and losses[-1] < 0.1 * losses[0]


def test_training_with_dropout_and_augmentation_resumes_exactly(tmp_path):
    """Straight through 2 epochs vs stopped at step 3 (mid-epoch 2), saved, resumed: identical
    weights, optimizer state and history, with dropout 0.1 and random crops and flips drawing
    random numbers all along, and the per-step warm-up cosine."""
    splits = patch_image_splits(40)
    cfg = config(epochs=2, max_steps=None, dropout=0.1, augment=True, batch_size=16)
    splits = SPEC.with_train_transform(cfg, splits)

    def make():
        return m.create_model(cfg, splits)

    def loaders():
        train, val, _ = create_data_loaders(splits, cfg.batch_size, seed=cfg.seed)
        return train, val

    straight = assert_resumes_exactly(make, cfg, loaders, 4, tmp_path, steps=3)
    assert straight.global_step == 6


# ------------------------------------------------------------------------- config, bad input


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"n_heads": 3}, ["d_model (16) must be a multiple of n_heads (3)"]),
        ({"patch_size": 0}, ["patch_size must be >= 1"]),
        ({"dropout": 1.0}, ["dropout must be in [0, 1)"]),
        ({"optimizer": "sgd"}, ["a Transformer is trained with adam or adamw"]),
        ({"crop_padding": -1}, ["crop_padding must be >= 0"]),
    ],
)
def test_bad_configs_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


def test_a_patch_size_that_does_not_divide_the_image_is_a_config_error():
    from utils.exceptions import ConfigError

    with pytest.raises(ConfigError, match=r"patch_size 5 does not divide the 28x28.*\[1, 2, 4, 7"):
        m.create_model(config(patch_size=5), patch_image_splits(16))
    with pytest.raises(AssertionError, match="does not cut into patches of 5"):
        m.ViT((1, 28, 28), 10, 5, 1, 16, 2)
    net = m.create_model(config(), patch_image_splits(16))
    with pytest.raises(AssertionError, match="expected images"):
        net(torch.zeros(2, 3, 28, 28))  # colour images into a grey-image ViT


def test_every_experiment_loads():
    for name in ("fashion_mnist", "cifar10", "compare", "smoke"):
        load_config(SPEC.config_cls, SPEC.experiments_file, name)


@needs_data
def test_smoke_trains_evaluates_and_compares_from_the_command_line(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder, "step 4")
    assert metrics["model"] == "vit" and 0.0 <= metrics["accuracy"] <= 1.0
    # 3 steps of 16 are less than an epoch of the 64 images: no whole epoch, no train accuracy
    budget = ("--steps", "vit=3", "resnet=2", "--resnet-experiment", "smoke", "--batch-size", "16")
    study = run_study_smoke(folder, "compare.py", "--fractions", "0.5", "1", *budget)
    assert [(r["network"], r["train_samples"], r["steps"]) for r in study["runs"]] == [
        ("vit", 32, 3),
        ("resnet", 32, 2),
        ("vit", 64, 3),
        ("resnet", 64, 2),
    ]
    assert study["runs"][-2]["final_train_accuracy"] is None
    assert (folder / "outputs" / "visualizations" / "compare.png").is_file()
