"""The language-model helpers of engine/steps.py: token metrics, perplexity and sampling."""

from __future__ import annotations

import math

import pytest
import torch

from engine.steps import Perplexity, sample_next, token_metrics


def test_token_metrics_give_nats_and_bits_per_token_and_perplexity_is_exact_over_batches():
    metrics = token_metrics(torch.tensor(2.0), 10)
    assert metrics["loss"].total == 20.0 and metrics["loss"].count == 10
    assert metrics["bpc"].total == pytest.approx(20.0 / math.log(2))
    # Two batches of unequal size and two "processes": exp of the mean over all tokens.
    ppl, other = Perplexity(), Perplexity()
    ppl.update(None, {"nats": 20.0, "tokens": 10})
    ppl.update(None, {"nats": 3.0, "tokens": 1})
    other.update(None, {"nats": 9.0, "tokens": 5})
    value = ppl.compute([ppl.state(), other.state()])["perplexity"]
    assert value == pytest.approx(math.exp(32.0 / 16))


def test_sampling_is_seeded_and_respects_temperature_and_top_k():
    logits = torch.randn(4, 9, generator=torch.Generator().manual_seed(0))
    draws = [sample_next(logits, torch.Generator().manual_seed(3)) for _ in range(2)]
    assert torch.equal(draws[0], draws[1]) and draws[0].dtype == torch.int64
    assert torch.equal(sample_next(logits, torch.Generator(), temperature=0), logits.argmax(1))
    top2 = logits.topk(2, dim=1).indices
    g = torch.Generator().manual_seed(1)
    for _ in range(50):
        token = sample_next(logits, g, top_k=2)
        assert (top2 == token[:, None]).any(1).all()
    # A very cold temperature is the argmax in practice; a uniform row draws every token.
    assert torch.equal(sample_next(logits, g, temperature=1e-4), logits.argmax(1))
    seen = {int(sample_next(torch.zeros(1, 5), g)) for _ in range(200)}
    assert seen == set(range(5))


def test_sampling_refuses_bad_arguments():
    with pytest.raises(AssertionError, match="expected \\(B, V\\)"):
        sample_next(torch.zeros(5), torch.Generator())
    with pytest.raises(AssertionError, match="temperature"):
        sample_next(torch.zeros(1, 5), torch.Generator(), temperature=-1)
