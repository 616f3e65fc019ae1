"""The Elman network: torch.nn.RNN as an oracle, masks, learning, sampling, resume, config."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data_utils.sequences import adding_examples, load_adding
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import (
    assert_config_error,
    assert_resumes_exactly,
    copy_model,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("rnn")
m = mods.model
SPEC = mods.train.SPEC


def stack(input_size: int = 3, hidden: int = 5, layers: int = 2, dtype=torch.float64):
    torch.manual_seed(0)
    return m.RecurrentStack(m.ElmanCell, input_size, hidden, layers).to(dtype)


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


# ------------------------------------------------------------------ the cell against its oracle


def test_elman_stack_matches_torch_rnn_outputs_states_and_every_gradient():
    """2 layers, float64, 12 steps: outputs, final states, dL/dx and dL/dW to 1e-6."""
    ours = stack(3, 5, 2)
    oracle = torch.nn.RNN(3, 5, num_layers=2, nonlinearity="tanh", batch_first=True).double()
    with torch.no_grad():
        for layer, cell in enumerate(ours.cells):
            getattr(oracle, f"weight_ih_l{layer}").copy_(cell.ih.weight)
            getattr(oracle, f"bias_ih_l{layer}").copy_(cell.ih.bias)
            getattr(oracle, f"weight_hh_l{layer}").copy_(cell.hh.weight)
            getattr(oracle, f"bias_hh_l{layer}").copy_(cell.hh.bias)
    x = torch.randn(4, 12, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    h0 = [torch.randn(4, 5, dtype=torch.float64) for _ in range(2)]
    x_ours, x_oracle = x.clone().requires_grad_(), x.clone().requires_grad_()

    out, final = ours(x_ours, [h.clone() for h in h0])
    expected, h_n = oracle(x_oracle, torch.stack(h0))  # (B, T, H), (layers, B, H)
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(torch.stack(final), h_n, atol=1e-6, rtol=1e-6)

    weights = torch.randn_like(out)  # a loss that reads every step and the final states
    (out * weights).sum().add(torch.stack(final).square().sum()).backward()
    (expected * weights).sum().add(h_n.square().sum()).backward()
    torch.testing.assert_close(x_ours.grad, x_oracle.grad, atol=1e-6, rtol=1e-6)
    for layer, cell in enumerate(ours.cells):
        for mine, theirs in (
            (cell.ih.weight, f"weight_ih_l{layer}"),
            (cell.ih.bias, f"bias_ih_l{layer}"),
            (cell.hh.weight, f"weight_hh_l{layer}"),
            (cell.hh.bias, f"bias_hh_l{layer}"),
        ):
            reference = getattr(oracle, theirs).grad
            torch.testing.assert_close(mine.grad, reference, atol=1e-6, rtol=1e-6)


def test_weights_start_uniform_within_one_over_root_hidden():
    cell = m.ElmanCell(7, 16)
    for p in cell.parameters():
        assert p.abs().max() <= 1 / math.sqrt(16)
        assert p.abs().max() > 0.5 / math.sqrt(16)


# ----------------------------------------------------------------------------------- masks


def test_padding_never_changes_outputs_or_final_states():
    net = stack(3, 5, 2)
    gen = torch.Generator().manual_seed(2)
    lengths = [7, 4, 10]
    seqs = [torch.randn(n, 3, dtype=torch.float64, generator=gen) for n in lengths]
    padded = torch.zeros(3, 10, 3, dtype=torch.float64)
    mask = torch.zeros(3, 10, dtype=torch.bool)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s + 0.0
        padded[i, len(s) :] = 99.0  # junk at padding: it must be ignored
        mask[i, : len(s)] = True
    out, final = net(padded, mask=mask)
    last = m.last_output(out, mask)
    for i, s in enumerate(seqs):
        alone, alone_final = net(s[None])
        torch.testing.assert_close(out[i, : len(s)], alone[0])
        assert (out[i, len(s) :] == 0).all()
        for layer in range(2):
            torch.testing.assert_close(final[layer][i], alone_final[layer][0])
        torch.testing.assert_close(last[i], alone[0, -1])  # the last real step, not step 9


def test_last_output_without_a_mask_is_the_last_step():
    out = torch.randn(2, 6, 4)
    torch.testing.assert_close(m.last_output(out, None), out[:, -1])


# ------------------------------------------------------------------- every head learns


def train_steps(model, loss_of, steps: int = 60, lr: float = 1e-2) -> list[float]:
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = loss_of()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    return losses


def test_classifier_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    net = m.SequenceClassifier(m.ElmanCell, 1, 32, 1, 0.0, num_classes=4)
    x = torch.randn(32, 20, generator=torch.Generator().manual_seed(3))  # (B, T) signals
    y = torch.arange(32) % 4
    losses = train_steps(net, lambda: F.cross_entropy(net(x), y))
    assert losses[-1] < 0.2 * losses[0]


def test_char_lm_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    chars = list("abcde\n")
    lm = m.CharLM(m.ElmanCell, chars, hidden_size=32, num_layers=2, dropout=0.0)
    text = torch.tensor([i % 5 for i in range(200)])  # "abcdeabcde...": fully predictable
    x, y = text[:-1].view(1, -1)[:, :160].reshape(8, 20), text[1:161].reshape(8, 20)
    losses = train_steps(lm, lambda: lm.step((x, y)).loss)
    assert losses[0] > 0.8 * math.log(6) and losses[-1] < 0.05


def test_tied_char_lm_scores_characters_with_its_embedding_and_learns():
    torch.manual_seed(0)
    chars = list("abcde\n")
    tied = m.CharLM(
        m.ElmanCell, chars, hidden_size=32, num_layers=1, dropout=0.0, tie_embedding=True
    )
    untied = m.CharLM(m.ElmanCell, chars, hidden_size=32, num_layers=1, dropout=0.0)
    n_tied, n_untied = (sum(p.numel() for p in lm.parameters()) for lm in (tied, untied))
    assert n_untied - n_tied == 6 * 32  # the (V, H) output weight is gone, its bias kept
    x = torch.tensor([[0, 1, 2, 3, 4, 5]])  # (1, T)
    h, _ = tied.rnn(tied.embed(x))
    logits, _ = tied(x)  # (1, T, V)
    torch.testing.assert_close(logits, h @ tied.embed.weight.T + tied.head_bias)
    tied.step((x, x)).loss.backward()
    assert tied.embed.weight.grad.abs().sum(1).gt(0).all()  # in through x, out through logits
    text = torch.tensor([i % 5 for i in range(200)])
    x, y = text[:160].reshape(8, 20), text[1:161].reshape(8, 20)
    losses = train_steps(tied, lambda: tied.step((x, y)).loss)
    assert losses[-1] < 0.05


def test_adding_regressor_loss_falls_on_a_fixed_batch_and_reports_solved():
    torch.manual_seed(0)
    net = m.AddingRegressor(m.ElmanCell, 32, 1, 0.0)
    x, y = adding_examples(64, 10, torch.Generator().manual_seed(4))
    losses = train_steps(net, lambda: net.step((x, y)).loss, steps=150)
    assert losses[-1] < 0.25 * losses[0]
    out = net.step((x, y))
    assert 0 <= out.metrics["solved"].total <= 64 and out.metrics["solved"].count == 64


# ---------------------------------------------------------------------------------- sampling


def test_sampling_is_seeded_and_uses_only_the_vocabulary():
    torch.manual_seed(0)
    chars = list("\nabc xyz")
    lm = m.CharLM(m.ElmanCell, chars, hidden_size=16, num_layers=1, dropout=0.0)

    def text(seed):
        return lm.sample(80, torch.Generator().manual_seed(seed))

    assert text(1) == text(1)
    assert text(1) != text(2)
    assert len(text(1)) == 80 and set(text(1)) <= set(chars)
    lm.temperature = 0.0  # the argmax: no randomness left
    assert text(1) == text(2)


# ---------------------------------------------------------------------------- resume parity


def test_training_resumes_exactly_from_a_checkpoint(tmp_path):
    """Straight through 2 epochs vs stopped at step 5, saved, resumed: identical weights."""
    task = load_adding(length=12, train_size=64, val_size=16, test_size=16)
    cfg = dataclasses.replace(
        config(max_steps=None, epochs=2, batch_size=16, hidden_size=8, num_layers=2, dropout=0.2),
        monitor="val_loss",
        monitor_mode="min",
    )

    def loaders():
        train, val, _ = task.loaders(cfg.batch_size, seed=cfg.seed)
        return train, val

    # Stopped at step 5, mid-epoch 2 (4 steps per epoch), then resumed from its checkpoint.
    assert_resumes_exactly(
        lambda: m.AddingRegressor(m.ElmanCell, cfg.hidden_size, cfg.num_layers, cfg.dropout),
        cfg,
        loaders,
        5,
        tmp_path,
    )


# ------------------------------------------------------------- the weakness: vanishing gradient


def test_the_gradient_reaching_early_steps_vanishes_at_initialisation():
    """Adding problem, T = 100, fresh net: ||dL/dh_t|| falls by orders of magnitude with T - t."""
    analysis = mods.analysis
    torch.manual_seed(0)
    net = m.AddingRegressor(m.ElmanCell, 64, 1, 0.0)
    x, y = adding_examples(32, 100, torch.Generator().manual_seed(5))
    norms = analysis.gradient_by_distance(net, x, y)
    assert len(norms) == 100 and norms[0] > 0
    assert norms[50] < 1e-6 * norms[0]  # measured: 6e-11 of it, and 3e-20 at distance 99
    assert norms[99] < norms[50]


# ------------------------------------------------------------------------- config, end to end


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"hidden_size": 0}, ["hidden_size must be >= 1"]),
        ({"num_layers": 0}, ["num_layers must be >= 1"]),
        ({"dropout": 1.0}, ["dropout must be in [0, 1)"]),
        ({"temperature": -1.0}, ["temperature must be >= 0"]),
    ],
)
def test_bad_configs_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


def test_every_experiment_loads():
    for name in (
        "mnist1d",
        "shakespeare",
        "adding_20",
        "adding_50",
        "adding_100",
        "adding_200",
        "smoke",
    ):
        load_config(SPEC.config_cls, SPEC.experiments_file, name)


def test_smoke_trains_and_evaluates_from_the_command_line(tmp_path):
    metrics = train_and_evaluate_smoke(copy_model(MODEL_DIR, tmp_path), "max_steps 4 reached")
    assert metrics["model"] == "rnn" and 0.0 <= metrics["accuracy"] <= 1.0
