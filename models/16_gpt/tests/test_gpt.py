"""GPT: causality, the fused kernel, learning, the key-value cache, sampling, resume, config."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from data_utils.text import char_corpus
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import (
    assert_config_error,
    assert_resumes_exactly,
    copy_model,
    needs_data,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("gpt")
m = mods.model
SPEC = mods.train.SPEC
CHARS = list("\nabcdefgh ")


def gpt(dtype=torch.float64, fused=False, dropout=0.0, block_size=12, **changes) -> m.GPT:
    torch.manual_seed(0)
    options = dict(num_layers=2, d_model=16, n_heads=4, dropout=dropout, fused=fused)
    return m.GPT(CHARS, block_size, **{**options, **changes}).to(dtype)


def tokens(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(len(CHARS), (batch, length), generator=torch.Generator().manual_seed(seed))


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


# ---------------------------------------------------------------------- causality, the kernel


@pytest.mark.parametrize("fused", [False, True])
def test_changing_a_later_token_leaves_every_earlier_output_unchanged(fused):
    net = gpt(fused=fused).eval()
    x = tokens(3, 12)
    before = net(x)  # (B, T, V)
    for t in (0, 5, 10):
        changed = x.clone()
        changed[:, t + 1] = (changed[:, t + 1] + 1) % len(CHARS)
        after = net(changed)
        torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1], rtol=0, atol=0)
        assert not torch.allclose(after[:, t + 1], before[:, t + 1])  # the changed one moves


def test_fused_attention_matches_the_hand_written_path_with_gradients():
    hand, fused = gpt(fused=False), gpt(fused=True)
    x, y = tokens(4, 12), tokens(4, 12, seed=2)
    loss_hand, loss_fused = hand.step((x, y)).loss, fused.step((x, y)).loss
    loss_hand.backward()
    loss_fused.backward()
    torch.testing.assert_close(loss_fused, loss_hand, rtol=1e-12, atol=1e-12)
    for (name, p), q in zip(hand.named_parameters(), fused.parameters()):
        torch.testing.assert_close(q.grad, p.grad, rtol=1e-10, atol=1e-12, msg=name)


def test_the_output_layer_is_the_token_embedding_and_decay_skips_vectors():
    net = gpt(dtype=torch.float32)
    names = [name for name, _ in net.named_parameters()]
    assert not any(name.startswith("head") for name in names)  # tied: no separate matrix
    optimizer = net.configure_optimizers(config())
    decay, rest = optimizer.param_groups
    assert decay["weight_decay"] == 0.1 and rest["weight_decay"] == 0.0
    assert all(p.dim() == 2 for p in decay["params"]) and all(p.dim() == 1 for p in rest["params"])
    assert len(decay["params"]) + len(rest["params"]) == len(names)
    assert decay["betas"] == (0.9, 0.99)


def test_residual_projections_start_smaller_with_depth():
    net = gpt(dtype=torch.float32, num_layers=8, d_model=64)
    out = torch.cat([b.attn.out.weight.flatten() for b in net.blocks])
    q = torch.cat([b.attn.q.weight.flatten() for b in net.blocks])
    assert out.std().item() == pytest.approx(0.02 / math.sqrt(16), rel=0.05)
    assert q.std().item() == pytest.approx(0.02, rel=0.05)


# ------------------------------------------------------------------------------- learning


def test_loss_falls_on_a_fixed_batch():
    net = gpt(dtype=torch.float32)
    text = torch.tensor([i % 8 for i in range(200)])  # "abcdefgh" repeated: fully predictable
    x, y = text[:96].view(8, 12), text[1:97].view(8, 12)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(200):
        optimizer.zero_grad()
        loss = net.step((x, y)).loss
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 0.9 * math.log(len(CHARS)) and losses[-1] < 0.05


def test_training_with_dropout_resumes_exactly_from_a_checkpoint(tmp_path):
    """Straight through 2 epochs vs stopped at step 3 (mid-epoch 1), saved, resumed: identical
    weights, optimizer state and history, with dropout 0.1 drawing random masks all along."""
    corpus = char_corpus("abc", "abcdefgh \n" * 40, 0.2, block_size=8, windows_per_epoch=20)
    cfg = config(
        epochs=2,
        max_steps=None,
        dropout=0.1,
        batch_size=4,
        scheduler="warmup_cosine",
        warmup_steps=2,
    )

    def make():
        return m.create_model(cfg, corpus)

    def loaders():
        train, val, _ = corpus.loaders(cfg.batch_size, seed=cfg.seed)
        return train, val

    straight = assert_resumes_exactly(make, cfg, loaders, 3, tmp_path, steps=5)
    assert straight.global_step == 10


# ---------------------------------------------------------------------- the cache, sampling


def test_cached_logits_equal_the_full_pass():
    net = gpt().eval()
    x = tokens(2, 12)
    full = net(x)  # (B, T, V)
    caches = [{} for _ in net.blocks]
    parts = [net(x[:, :5], caches)] + [net(x[:, t : t + 1], caches) for t in range(5, 12)]
    torch.testing.assert_close(torch.cat(parts, dim=1), full, rtol=1e-12, atol=1e-12)
    assert caches[0]["k"].shape == (2, 4, 12, 4)  # (B, h, T, dk)


@pytest.mark.parametrize("fused", [False, True])
def test_cached_and_uncached_sampling_draw_the_same_tokens(fused):
    """40 tokens from a 3-token prompt with block 12: the context restarts several times."""
    net = gpt(fused=fused)
    prompt = tokens(2, 3)
    cached = net.generate(prompt, 40, torch.Generator().manual_seed(7), use_cache=True)
    uncached = net.generate(prompt, 40, torch.Generator().manual_seed(7), use_cache=False)
    assert cached.shape == (2, 40)
    assert torch.equal(cached, uncached)


def test_sampling_is_deterministic_under_a_seed_and_uses_the_vocabulary():
    net = gpt(dtype=torch.float32)

    def text(seed):
        return net.sample(60, torch.Generator().manual_seed(seed), prompt="ab")

    assert text(1) == text(1)
    assert text(1) != text(2)
    assert len(text(1)) == 60 and set(text(1)) <= set(CHARS)
    net.temperature = 0.0  # the argmax: no randomness left
    assert text(1) == text(2)
    assert net.training  # sampling leaves the mode as it found it


# ------------------------------------------------------------------------- config, end to end


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"n_heads": 3}, ["d_model (16) must be a multiple of n_heads (3)"]),
        ({"dropout": 1.0}, ["dropout must be in [0, 1)"]),
        ({"beta2": 1.0}, ["beta2 must be in [0, 1)"]),
        ({"optimizer": "sgd"}, ["a Transformer is trained with adam or adamw"]),
    ],
)
def test_bad_configs_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


def test_every_experiment_loads():
    for name in ("shakespeare", "shakespeare_gpu", "smoke"):
        load_config(SPEC.config_cls, SPEC.experiments_file, name)


def test_the_defaults_are_nanogpts_cpu_recipe():
    cfg = dataclasses.replace(load_config(SPEC.config_cls, SPEC.experiments_file, "shakespeare"))
    assert (cfg.num_layers, cfg.n_heads, cfg.d_model, cfg.dropout) == (4, 4, 128, 0.0)
    assert (cfg.batch_size, cfg.data_options["block_size"], cfg.lr) == (12, 64, 1e-3)
    steps = cfg.epochs * cfg.data_options["windows_per_epoch"] // cfg.batch_size
    assert steps == 2000 and cfg.val_fraction == 0.1
    # train_shakespeare_char.py and train.py's defaults: AdamW, clipping, no biases, float32
    # on a CPU (nanoGPT's autocast is for CUDA only), warm-up 100 then cosine to 1e-4 at 2,000
    assert (cfg.optimizer, cfg.beta1, cfg.beta2, cfg.weight_decay) == ("adamw", 0.9, 0.99, 0.1)
    assert (cfg.grad_clip, cfg.bias, cfg.precision) == (1.0, False, "fp32")
    assert (cfg.scheduler, cfg.warmup_steps, cfg.min_lr_ratio) == ("warmup_cosine", 100, 0.1)


@needs_data
def test_smoke_trains_samples_and_evaluates_from_the_command_line(tmp_path):
    metrics = train_and_evaluate_smoke(copy_model(MODEL_DIR, tmp_path), "epoch 2 |")
    assert metrics["model"] == "gpt" and math.isfinite(metrics["loss"])
    assert metrics["perplexity"] == pytest.approx(math.exp(metrics["loss"]), rel=1e-6)
