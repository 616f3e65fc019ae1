"""The encoder-decoder's known outcomes: reversal of the source, masks, decoding and its metrics."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from data_utils import load_dataset
from data_utils.sequences import BOS, EOS, PAD, encode
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
mods = model_modules("seq2seq")
Seq2Seq, reverse_source = mods.model.Seq2Seq, mods.model.reverse_source
exact_matches, ExactMatchByLength = mods.model.exact_matches, mods.model.ExactMatchByLength


def make_net(reverse: bool = True, hidden: int = 16, layers: int = 2) -> Seq2Seq:
    torch.manual_seed(0)
    return Seq2Seq(14, 8, hidden, layers, 0.0, reverse, 1.0, max_target=12).eval()


def sources(*texts: str, width: int = 12) -> torch.Tensor:
    rows = torch.full((len(texts), width), PAD, dtype=torch.long)
    for i, text in enumerate(texts):
        rows[i, : len(text)] = torch.tensor(encode(text))
    return rows


def test_the_source_is_reversed_and_its_padding_stays_at_the_end():
    src = sources("123", "98765")
    assert reverse_source(src).tolist() == sources("321", "56789").tolist()


def test_padding_never_changes_the_summary_nor_the_decoding():
    net = make_net()
    short = sources("4821", "733", width=4)
    padded = sources("4821", "733", width=12)
    (_, state_short, _), (_, state_padded, _) = net.encode(short), net.encode(padded)
    for (h1, c1), (h2, c2) in zip(state_short, state_padded):
        assert torch.allclose(h1, h2, atol=1e-6) and torch.allclose(c1, c2, atol=1e-6)
    assert torch.equal(net.generate(short), net.generate(padded))


def test_greedy_is_a_beam_of_one_and_a_full_beam_is_an_exact_search():
    net = make_net()
    src = sources("1234", "55", "9081726354")
    assert_beam_search_is_exact(net, src, vocab_size=14)


def test_exact_match_reads_up_to_the_first_eos_and_buckets_by_source_length():
    target = torch.tensor([[BOS, 5, 6, EOS, PAD], [BOS, 5, 6, EOS, PAD], [BOS, 7, EOS, PAD, PAD]])
    predicted = torch.tensor([[5, 6, EOS, 9, 9], [5, 7, EOS, PAD, PAD], [7, 8, EOS, PAD, PAD]])
    assert exact_matches(predicted, target).tolist() == [True, False, False]
    metric, other = ExactMatchByLength(), ExactMatchByLength()
    metric.update(None, {"exact": torch.tensor([True, False]), "length": torch.tensor([5, 12])})
    other.update(None, {"exact": torch.tensor([True]), "length": torch.tensor([12])})
    values = metric.compute([metric.state(), other.state()])
    assert values["exact_match"] == pytest.approx(2 / 3)
    assert values["exact_len_5_9"] == 1.0 and values["exact_len_10_14"] == 0.5


def test_the_loss_falls_on_a_fixed_batch():
    spec = model_spec("seq2seq")
    config = load_config(spec.config_cls, spec.experiments_file, "smoke")
    splits = load_dataset(config.dataset, seed=config.seed, **config.data_options)
    losses = fixed_batch_losses(spec, config, splits, lr=1.0, steps=40)  # SGD, momentum 0.9
    assert losses[-1] < 0.6 * losses[0]  # 2.60 -> 1.25 nats per token


def test_reversal_is_learned_on_short_strings():
    """Lengths 3 to 6, 2,000 strings, 10 epochs: exact match above 0.9 on unseen strings."""
    metrics = metrics_after_training(
        "seq2seq",
        "smoke",
        epochs=10,
        hidden_size=64,
        embed_size=16,
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
        ({"hidden_size": 0}, ["hidden_size must be >= 1"]),
        ({"beam_size": 0}, ["beam_size must be >= 1"]),
        ({"dataset": "mnist"}, ["transduction task", "'mnist'"]),
    ],
)
def test_bad_config_values_are_refused(changes, words):
    assert_config_error(model_spec("seq2seq"), "smoke", changes, words)
