"""The Transformer's known outcomes: its pieces against PyTorch's, masks, positions, the schedule,
decoding, learning and resuming."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from data_utils import load_dataset
from data_utils.sequences import PAD, encode
from engine.workflow import build_scheduler
from utils.config import load_config
from utils.registry import model_modules, model_spec
from utils.testing import (
    assert_beam_search_is_exact,
    assert_config_error,
    assert_resumes_exactly,
    copy_model,
    fixed_batch_losses,
    load_script,
    metrics_after_training,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
m = model_modules("transformer").model
SPEC = model_spec("transformer")
D, H, FF = 16, 4, 32


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


def make_net(layers: int = 2, dropout: float = 0.0, fused: bool = False) -> m.Transformer:
    torch.manual_seed(0)
    return m.Transformer(14, D, H, FF, layers, dropout, max_target=12, fused=fused).eval()


def sources(*texts: str, width: int = 12) -> torch.Tensor:
    rows = torch.full((len(texts), width), PAD, dtype=torch.long)
    for i, text in enumerate(texts):
        rows[i, : len(text)] = torch.tensor(encode(text))
    return rows


def padding(lengths: list[int], width: int) -> torch.Tensor:
    """(B, width) bool, True on each row's first ``length`` positions."""
    return torch.arange(width)[None] < torch.tensor(lengths)[:, None]


# ------------------------------------------------------------------ the pieces against PyTorch


def test_layer_norm_equals_pytorchs():
    torch.manual_seed(0)
    ours, theirs = m.LayerNorm(D), nn.LayerNorm(D)
    nn.init.normal_(ours.weight), nn.init.normal_(ours.bias)
    theirs.load_state_dict(ours.state_dict())
    x = 3 * torch.randn(2, 5, D) + 1
    torch.testing.assert_close(ours(x), theirs(x))


@pytest.mark.parametrize("kind", ["none", "causal", "padding", "both"])
def test_attention_equals_scaled_dot_product_attention(kind):
    torch.manual_seed(0)
    q, k, v = (torch.randn(3, H, 6, 8, requires_grad=True) for _ in range(3))
    masks = {
        "none": None,
        "causal": m.causal_mask(6),
        "padding": padding([6, 3, 1], 6)[:, None, None, :],  # (B, 1, 1, Tk)
        "both": m.causal_mask(6) & padding([6, 3, 1], 6)[:, None, None, :],
    }
    mask = masks[kind]
    out, weights = m.attention(q, k, v, mask)
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))
    torch.testing.assert_close(weights.sum(-1), torch.ones(3, H, 6))
    if mask is not None:
        assert (weights.masked_select(~mask.expand_as(weights)) == 0).all()


def test_a_query_with_no_key_to_read_gives_zeros_not_nan():
    torch.manual_seed(0)
    q, k, v = (torch.randn(2, 1, 3, 4, requires_grad=True) for _ in range(3))
    mask = torch.tensor([[True, False, True], [False, False, False], [True, True, True]])
    out, weights = m.attention(q, k, v, mask)
    assert (out[:, :, 1] == 0).all() and (weights[:, :, 1] == 0).all()
    out.sum().backward()
    assert all(torch.isfinite(t.grad).all() for t in (q, k, v))
    torch.testing.assert_close(out, F.scaled_dot_product_attention(q, k, v, attn_mask=mask))


def to_torch_mha(ours: m.MultiHeadAttention) -> nn.MultiheadAttention:
    """nn.MultiheadAttention with our weights: its in_proj stacks W^Q, W^K, W^V (no key bias)."""
    theirs = nn.MultiheadAttention(D, H, batch_first=True)
    with torch.no_grad():
        theirs.in_proj_weight.copy_(torch.cat([ours.q.weight, ours.k.weight, ours.v.weight]))
        theirs.in_proj_bias.copy_(torch.cat([ours.q.bias, torch.zeros(D), ours.v.bias]))
        theirs.out_proj.load_state_dict(ours.out.state_dict())
    return theirs


@pytest.mark.parametrize("cross", [False, True])
@pytest.mark.parametrize("causal", [False, True])
def test_multi_head_attention_equals_pytorchs(cross, causal):
    torch.manual_seed(0)
    ours = m.MultiHeadAttention(D, H)
    theirs = to_torch_mha(ours)
    x = torch.randn(3, 5, D)
    memory = torch.randn(3, 5, D) if cross else None
    keep = padding([5, 4, 2], 5)  # (B, Tk)
    mask = keep[:, None, None, :] & (m.causal_mask(5) if causal else True)
    out, weights = ours(x, memory, mask, need_weights=True)
    source = x if memory is None else memory
    their_out, their_weights = theirs(
        x,
        source,
        source,
        key_padding_mask=~keep,
        attn_mask=~m.causal_mask(5) if causal else None,
        average_attn_weights=False,
    )
    torch.testing.assert_close(out, their_out)
    torch.testing.assert_close(weights, their_weights)


def test_fused_attention_equals_the_hand_written_path():
    torch.manual_seed(0)
    ours = m.MultiHeadAttention(D, H)
    fused = m.MultiHeadAttention(D, H, fused=True)
    fused.load_state_dict(ours.state_dict())
    x = torch.randn(3, 6, D)
    mask = m.causal_mask(6) & padding([6, 4, 2], 6)[:, None, None, :]
    torch.testing.assert_close(fused(x, mask=mask)[0], ours(x, mask=mask)[0])
    net, fused_net = make_net(), make_net(fused=True)
    src, tgt = sources("1234", "987654321"), torch.tensor([[1, 4, 5, 6], [1, 7, 8, 2]])
    torch.testing.assert_close(fused_net(src, tgt), net(src, tgt))


def to_torch_layer(ours: nn.Module, theirs: nn.Module) -> nn.Module:
    """Copy an Encoder/DecoderBlock's weights into nn.TransformerEncoder/DecoderLayer."""
    with torch.no_grad():
        pairs = [(ours.attn, theirs.self_attn)]
        if hasattr(ours, "cross"):
            pairs.append((ours.cross, theirs.multihead_attn))
        for mine, torchs in pairs:
            torchs.load_state_dict(to_torch_mha(mine).state_dict())
        theirs.linear1.load_state_dict(ours.ff.fc1.state_dict())
        theirs.linear2.load_state_dict(ours.ff.fc2.state_dict())
        for i in (1, 2, 3):
            if hasattr(ours, f"norm{i}"):
                getattr(theirs, f"norm{i}").load_state_dict(getattr(ours, f"norm{i}").state_dict())
    return theirs.eval()


@pytest.mark.parametrize("norm_first", [False, True])
@pytest.mark.parametrize("activation", ["relu", "gelu"])
def test_encoder_block_equals_pytorchs_layer(norm_first, activation):
    torch.manual_seed(0)
    ours = m.EncoderBlock(D, H, FF, norm_first=norm_first, activation=activation).eval()
    layer = nn.TransformerEncoderLayer(
        D, H, FF, 0.0, activation, batch_first=True, norm_first=norm_first
    )
    theirs = to_torch_layer(ours, layer)
    x, keep = torch.randn(3, 5, D), padding([5, 3, 1], 5)
    expected = theirs(x, src_key_padding_mask=~keep)
    torch.testing.assert_close(ours(x, keep[:, None, None, :]), expected)
    ours.keep_weights = True  # the attention maps, one per head
    ours(x, keep[:, None, None, :])
    assert ours.attention_weights.shape == (3, H, 5, 5)
    assert (ours.attention_weights[2, :, :, 1:] == 0).all()  # one real token: only it is read


@pytest.mark.parametrize("norm_first", [False, True])
def test_decoder_block_equals_pytorchs_layer(norm_first):
    torch.manual_seed(0)
    ours = m.DecoderBlock(D, H, FF, norm_first=norm_first).eval()
    layer = nn.TransformerDecoderLayer(D, H, FF, 0.0, batch_first=True, norm_first=norm_first)
    theirs = to_torch_layer(ours, layer)
    x, memory, keep = torch.randn(3, 4, D), torch.randn(3, 6, D), padding([6, 3, 2], 6)
    expected = theirs(x, memory, tgt_mask=~m.causal_mask(4), memory_key_padding_mask=~keep)
    torch.testing.assert_close(ours(x, memory, m.causal_mask(4), keep[:, None, None, :]), expected)


def test_the_model_equals_pytorchs_transformer_built_from_the_same_blocks():
    """Our encoder-decoder through nn.TransformerEncoder/DecoderLayers with our weights."""
    net = make_net()
    src, tgt = sources("1234", "987654321"), torch.tensor([[1, 4, 5, 6], [1, 7, 8, 2]])
    keep = src != PAD
    x = net.embed_tokens(src)
    for block in net.encoder:
        x = to_torch_layer(block, nn.TransformerEncoderLayer(D, H, FF, 0.0, batch_first=True))(
            x, src_key_padding_mask=~keep
        )
    y = net.embed_tokens(tgt)
    for block in net.decoder:
        layer = to_torch_layer(block, nn.TransformerDecoderLayer(D, H, FF, 0.0, batch_first=True))
        y = layer(y, x, tgt_mask=~m.causal_mask(4), memory_key_padding_mask=~keep)
    torch.testing.assert_close(net(src, tgt), y @ net.embed.weight.T)


# ------------------------------------------------------------------ masks, positions, schedule


def test_a_causal_decoder_never_sees_the_future():
    """Changing target token t + 1 leaves the outputs at positions 0..t unchanged."""
    net = make_net()
    src = sources("31415926", "2718")
    tgt = torch.tensor([[1, 6, 2, 9, 5, 1, 4, 1], [1, 11, 9, 10, 5, 2, 0, 0]])
    before = net(src, tgt)
    for t in range(tgt.shape[1] - 1):
        changed = tgt.clone()
        changed[:, t + 1] = (changed[:, t + 1] + 5) % 13 + 1
        after = net(src, changed)
        torch.testing.assert_close(after[:, : t + 1], before[:, : t + 1])
        assert not torch.allclose(after[:, t + 1], before[:, t + 1])


def test_decoding_one_token_at_a_time_equals_the_full_pass():
    net = make_net()
    src, tgt = sources("31415926", "2718"), torch.tensor([[1, 6, 2, 9, 5], [1, 11, 9, 10, 5]])
    _, state, _ = net.encode(src)
    full = net.decode_logits(tgt, state)[0]
    _, state, _ = net.encode(src)
    steps = []
    for t in range(tgt.shape[1]):
        logits, state = net.decode_logits(tgt[:, t : t + 1], state)
        steps.append(logits)
    assert state[2][0].shape == (2, H, 5, D // H)  # every decoded token's keys, kept
    torch.testing.assert_close(torch.cat(steps, dim=1), full)


def test_sinusoidal_positions_are_the_papers():
    pe = m.sinusoidal_positions(50, 8)
    assert pe.shape == (50, 8)
    for pos, i in [(0, 0), (7, 0), (7, 1), (49, 3)]:
        angle = pos / 10000 ** (2 * i / 8)
        assert pe[pos, 2 * i].item() == pytest.approx(math.sin(angle), abs=1e-5)
        assert pe[pos, 2 * i + 1].item() == pytest.approx(math.cos(angle), abs=1e-5)
    # PE(pos + k) is a rotation of PE(pos), the same for every pos (Sec. 3.5's argument)
    k, omega = 3, 1 / 10000 ** (2 / 8)  # the second pair's frequency
    rotation = torch.tensor(
        [[math.cos(k * omega), -math.sin(k * omega)], [math.sin(k * omega), math.cos(k * omega)]]
    )
    torch.testing.assert_close(pe[:-k, 2:4] @ rotation, pe[k:, 2:4], atol=1e-5, rtol=0)


def test_the_warm_up_schedule_is_eq_3():
    """The paper's base model (d_model 512, 4,000 warm-up steps): its peak 6.99e-4 as the
    engine's lr, the rate each optimizer step of the Trainer takes follows eq. 3."""
    d, w = 512, 4000
    peak = d**-0.5 * w**-0.5
    assert peak == pytest.approx(6.988e-4, rel=1e-3)
    cfg = config(lr=peak, scheduler="warmup_inverse_sqrt", warmup_steps=w)
    optimizer = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    scheduler = build_scheduler(cfg, optimizer)
    rates = []
    for _ in range(3 * w):
        rates.append(optimizer.param_groups[0]["lr"])  # the rate of step s = len(rates)
        optimizer.step()
        scheduler.step()
    eq3 = [d**-0.5 * min(s**-0.5, s * w**-1.5) for s in range(1, 3 * w + 1)]
    torch.testing.assert_close(torch.tensor(rates), torch.tensor(eq3), rtol=1e-6, atol=0)
    assert max(rates) == pytest.approx(peak) and rates.index(max(rates)) == w - 1
    assert rates[w // 4 - 1] == pytest.approx(peak / 4)  # a linear rise
    assert rates[-1] == pytest.approx(peak / 3**0.5)  # then 1 / sqrt(step)


def test_padding_never_changes_a_result():
    net = make_net()
    short, padded = sources("4821", "733", width=4), sources("4821", "733", width=12)
    tgt = torch.tensor([[1, 4, 5, 6], [1, 7, 8, 2]])
    torch.testing.assert_close(net(short, tgt), net(padded, tgt))
    assert torch.equal(net.generate(short), net.generate(padded))


def test_decoding_is_the_seq2seq_models_greedy_is_a_beam_of_one():
    net = make_net()
    assert_beam_search_is_exact(net, sources("1234", "55", "9081726354"), vocab_size=14)


# ---------------------------------------------------------------------------- learning, resuming


def test_the_loss_falls_on_a_fixed_batch():
    cfg = config()
    splits = load_dataset(cfg.dataset, seed=cfg.seed, **cfg.data_options)
    losses = fixed_batch_losses(SPEC, cfg, splits, lr=0.1, steps=100)  # SGD, momentum 0.9
    assert losses[-1] < 0.6 * losses[0], losses  # 3.63 -> 1.66 nats per token


def test_reversal_is_learned_on_short_strings():
    """Lengths 3 to 6, 2,000 strings, 6 epochs: exact match above 0.9 on unseen strings (0.97)."""
    metrics = metrics_after_training(
        "transformer",
        "smoke",
        epochs=6,
        d_model=32,
        d_ff=64,
        num_layers=2,  # one block of each: 0.87
        batch_size=32,
        lr=3e-3,
        data_options={"min_length": 3, "max_length": 6, "train_size": 2000, "test_size": 300},
    )
    assert metrics["exact_match"] > 0.9, metrics


def test_training_with_dropout_resumes_exactly_from_a_checkpoint(tmp_path):
    """Straight through 2 epochs vs stopped at step 5 (mid-epoch 2), saved, resumed; with the
    per-step warm-up of the `reverse` experiment."""
    cfg = config(dropout=0.1, scheduler="warmup_inverse_sqrt", warmup_steps=4)
    cfg = dataclasses.replace(cfg, monitor="val_loss", monitor_mode="min")
    task = load_dataset(cfg.dataset, seed=cfg.seed, **cfg.data_options)

    def loaders():
        train, val, _ = task.loaders(cfg.batch_size, seed=cfg.seed)
        return train, val

    steps = math.ceil(len(task.x_train) / cfg.batch_size)  # the warm-up moves every step
    assert_resumes_exactly(lambda: m.create_model(cfg, task), cfg, loaders, 5, tmp_path, steps)


def test_train_and_evaluate_run_as_a_user_runs_them(tmp_path):
    metrics = train_and_evaluate_smoke(copy_model(MODEL_DIR, tmp_path), "epoch 2 |")
    assert {"loss", "token_accuracy", "exact_match"} <= metrics.keys()


def test_bad_config_values_are_refused():
    refused = [
        ({"n_heads": 3}, ["d_model (16) must be a multiple of n_heads (3)"]),
        ({"d_model": 15, "n_heads": 1}, ["d_model must be even"]),
        ({"dropout": 1.0}, ["dropout must be in [0, 1)"]),
        ({"dataset": "adding"}, ["transduction task", "'adding'"]),
    ]
    for changes, words in refused:
        assert_config_error(SPEC, "smoke", changes, words)


def test_compare_trains_the_three_models_decodes_longer_strings_and_plots(tmp_path):
    compare = load_script(MODEL_DIR, "compare.py")
    args = compare.parser().parse_args(["--experiment", "smoke", "--epochs", "1"])
    beyond = load_dataset("reverse", min_length=7, max_length=8, train_size=1, test_size=20)
    runs = []
    for name in compare.MODELS:
        record, (model, test) = compare.train_one(name, args, beyond)
        assert record["steps"] == 4 and set(record["by_length"]) == {"3", "4", "5", "6"}
        assert set(record["beyond_by_length"]) == {"7", "8"}  # decoded up to 8 digits
        assert len(record["beyond_examples"][0]["source"]) in (7, 8)
        runs.append(record)
    maps = compare.head_maps(model, test.x[0])  # the Transformer: 1 block of 2 heads
    weights = torch.tensor(maps["weights"])  # (N, h, T, L)
    assert weights.shape[:2] == (1, 2) and weights.shape[3] == len(maps["source"])
    torch.testing.assert_close(weights.sum(3), torch.ones(weights.shape[:3]))
    assert "transformer: exact match" in compare.report(runs)
    result = {"task": "smoke", "runs": runs, "head_maps": maps}
    assert compare.plot_compare(result, tmp_path / "compare.png").is_file()
