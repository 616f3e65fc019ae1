"""The attention encoder-decoder's known outcomes: alignment weights, masks, decoding, learning."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from data_utils import load_dataset
from data_utils.sequences import PAD, encode
from utils.config import load_config
from utils.registry import model_modules, model_spec
from utils.testing import (
    assert_beam_search_is_exact,
    assert_config_error,
    fixed_batch_losses,
    metrics_after_training,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("attention")
AttentionSeq2Seq, reverse_padded = mods.model.AttentionSeq2Seq, mods.model.reverse_padded


def make_net(hidden: int = 16, layers: int = 1) -> AttentionSeq2Seq:
    torch.manual_seed(0)
    sizes = dict(vocab_size=14, embed_size=8, hidden_size=hidden, num_layers=layers, max_target=12)
    return AttentionSeq2Seq(8, dropout=0.0, forget_bias=1.0, **sizes).eval()


def sources(*texts: str, width: int = 12) -> torch.Tensor:
    rows = torch.full((len(texts), width), PAD, dtype=torch.long)
    for i, text in enumerate(texts):
        rows[i, : len(text)] = torch.tensor(encode(text))
    return rows


def test_reverse_padded_reverses_real_positions_only():
    x = torch.arange(1, 7, dtype=torch.float).view(1, 6, 1).repeat(2, 1, 1)  # (2, 6, 1)
    mask = torch.tensor([[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0]], dtype=torch.bool)
    out = reverse_padded(x, mask)[..., 0]
    assert out.tolist() == [[3, 2, 1, 0, 0, 0], [5, 4, 3, 2, 1, 0]]


def test_attention_weights_are_a_distribution_over_the_real_source_positions():
    net = make_net()
    net.attention_maps = []
    src = sources("1234", "987654321")
    net.generate(src)
    assert net.attention_maps
    for alpha in net.attention_maps:  # (B, S) per decoding step
        assert torch.allclose(alpha.sum(1), torch.ones(2))
        assert (alpha[0, 4:] == 0).all() and (alpha[1, 9:] == 0).all()


@pytest.mark.parametrize("layers", [1, 2])
def test_padding_never_changes_a_result(layers):
    net = make_net(layers=layers)
    short, padded = sources("4821", "733", width=4), sources("4821", "733", width=12)
    tgt = torch.tensor([[1, 4, 5, 6], [1, 7, 8, 2]])
    assert torch.allclose(net(short, tgt), net(padded, tgt), atol=1e-6)
    assert torch.equal(net.generate(short), net.generate(padded))


def test_decoding_is_the_seq2seq_models_greedy_is_a_beam_of_one():
    net = make_net()
    src = sources("1234", "55", "9081726354")
    assert_beam_search_is_exact(net, src, vocab_size=14)


def test_the_loss_falls_on_a_fixed_batch():
    spec = model_spec("attention")
    config = load_config(spec.config_cls, spec.experiments_file, "smoke")
    splits = load_dataset(config.dataset, seed=config.seed, **config.data_options)
    losses = fixed_batch_losses(spec, config, splits, lr=1.0, steps=40)  # SGD, momentum 0.9
    assert losses[-1] < 0.6 * losses[0]


def test_reversal_is_learned_on_short_strings():
    """Lengths 3 to 6, 2,000 strings, 6 epochs: exact match above 0.9 on unseen strings."""
    metrics = metrics_after_training(
        "attention",
        "smoke",
        epochs=6,
        hidden_size=32,
        embed_size=16,
        attention_size=16,
        batch_size=32,
        lr=0.01,
        data_options={"min_length": 3, "max_length": 6, "train_size": 2000, "test_size": 300},
    )
    assert metrics["exact_match"] > 0.9, metrics


def test_train_and_evaluate_run_as_a_user_runs_them():
    metrics = train_and_evaluate_smoke(MODEL_DIR, "epoch 2 |")
    assert {"loss", "token_accuracy", "exact_match"} <= metrics.keys()


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"attention_size": 0}, ["attention_size must be >= 1"]),
        ({"dataset": "adding"}, ["transduction task", "'adding'"]),
    ],
)
def test_bad_config_values_are_refused(changes, words):
    assert_config_error(model_spec("attention"), "smoke", changes, words)
