"""The LSTM: torch.nn.LSTM as an oracle, the carousel, masks, learning, sampling, resume, config."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest
import torch

from data_utils.sequences import adding_examples, load_adding
from data_utils.text import char_corpus
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import (
    assert_config_error,
    assert_resumes_exactly,
    copy_model,
    load_script,
    needs_data,
    train_and_evaluate_smoke,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("lstm")
m = mods.model
rnn = m.rnn  # the shared recurrent plumbing (models/10_rnn)
SPEC = mods.train.SPEC


def stack(input_size=3, hidden=5, layers=2, forget_bias=1.0, bptt_by_hand=True):
    torch.manual_seed(0)
    cells = m.lstm_cells(forget_bias, bptt_by_hand)
    return rnn.RecurrentStack(cells, input_size, hidden, layers).double()


def config(**changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, "smoke", changes)


# ------------------------------------------------------------------ the cell against its oracle


@pytest.mark.parametrize("bptt_by_hand", [True, False], ids=["backward_by_hand", "autograd"])
def test_lstm_stack_matches_torch_lstm_outputs_states_and_every_gradient(bptt_by_hand):
    """2 layers, float64, 12 steps, a random (h_0, c_0): outputs, final (h, c), dL/dx, dL/dW,
    through the backward pass written by hand and through autograd step by step."""
    ours = stack(3, 5, 2, bptt_by_hand=bptt_by_hand)
    oracle = torch.nn.LSTM(3, 5, num_layers=2, batch_first=True).double()
    with torch.no_grad():  # the gate rows are in PyTorch's order (i, f, g, o): a plain copy
        for layer, cell in enumerate(ours.cells):
            getattr(oracle, f"weight_ih_l{layer}").copy_(cell.ih.weight)
            getattr(oracle, f"bias_ih_l{layer}").copy_(cell.ih.bias)
            getattr(oracle, f"weight_hh_l{layer}").copy_(cell.hh.weight)
            getattr(oracle, f"bias_hh_l{layer}").copy_(cell.hh.bias)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(4, 12, 3, dtype=torch.float64, generator=gen)
    h0 = torch.randn(2, 4, 5, dtype=torch.float64, generator=gen)  # (layers, B, H)
    c0 = torch.randn(2, 4, 5, dtype=torch.float64, generator=gen)
    x_ours, x_oracle = x.clone().requires_grad_(), x.clone().requires_grad_()

    out, final = ours(x_ours, [(h0[k].clone(), c0[k].clone()) for k in range(2)])
    expected, (h_n, c_n) = oracle(x_oracle, (h0, c0))  # (B, T, H), (layers, B, H) twice
    h_ours = torch.stack([h for h, _ in final])  # (layers, B, H)
    c_ours = torch.stack([c for _, c in final])
    torch.testing.assert_close(out, expected, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(h_ours, h_n, atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(c_ours, c_n, atol=1e-6, rtol=1e-6)

    weights = torch.randn_like(out)  # a loss that reads every step and both final states
    (out * weights).sum().add(h_ours.square().sum() + c_ours.pow(3).sum()).backward()
    (expected * weights).sum().add(h_n.square().sum() + c_n.pow(3).sum()).backward()
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


def test_the_backward_written_by_hand_passes_gradcheck_and_equals_autograds():
    gen = torch.Generator().manual_seed(3)
    inputs = [
        torch.randn(shape, dtype=torch.float64, generator=gen).requires_grad_()
        for shape in [(6, 3, 16), (16, 4), (3, 4), (3, 4)]  # gx (T, B, 4H), W_hh, h_0, c_0
    ]
    assert torch.autograd.gradcheck(m.LSTMSequence.apply, inputs)
    by_hand, autograd = stack(3, 5, 2, bptt_by_hand=True), stack(3, 5, 2, bptt_by_hand=False)
    x = torch.randn(4, 30, 3, dtype=torch.float64, generator=gen)
    for net in (by_hand, autograd):
        out, [_, (h, c)] = net(x)
        (out.sin().sum() + h.sum() * c.sum()).backward()
    for a, b in zip(by_hand.parameters(), autograd.parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-10, rtol=1e-10)


def test_the_folded_embedding_is_the_same_function_with_the_same_gradients():
    """CharLM with fold_embedding (the first projection read from a (V, 4H) table) against the
    embedding then the projection, float64, the same weights: logits, final states, gradients."""
    chars = list("\nabc xyz")
    nets = []
    for folded in (False, True):
        torch.manual_seed(0)
        cells = m.lstm_cells(1.0, bptt_by_hand=True)
        nets.append(rnn.CharLM(cells, chars, 6, 2, 0.0, fold_embedding=folded).double())
    x = torch.randint(0, len(chars), (3, 11), generator=torch.Generator().manual_seed(5))
    results = []
    for net in nets:
        logits, [_, (h, c)] = net(x)  # (B, T, V)
        (logits.sin().sum() + h.sum() * c.sum()).backward()
        results.append((logits, h, c))
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, atol=1e-12, rtol=1e-12)
    for (name, a), b in zip(nets[0].named_parameters(), nets[1].parameters()):
        torch.testing.assert_close(a.grad, b.grad, atol=1e-12, rtol=1e-12, msg=name)


def test_forget_gate_bias_starts_at_forget_bias_and_the_rest_uniform():
    cell = m.LSTMCell(7, 16, forget_bias=1.0)
    bound = 1 / math.sqrt(16)
    forget = slice(16, 32)  # rows i, f, g, o: the second quarter is the forget gate
    torch.testing.assert_close(cell.ih.bias[forget] + cell.hh.bias[forget], torch.ones(16))
    others = torch.cat([cell.ih.bias[:16], cell.ih.bias[32:], cell.ih.weight.flatten()])
    assert others.abs().max() <= bound and others.abs().max() > 0.5 * bound
    closed = m.LSTMCell(7, 16, forget_bias=0.0)
    assert (closed.ih.bias[forget] == 0).all() and (closed.hh.bias[forget] == 0).all()


def test_the_constant_error_carousel_carries_state_and_gradient_unchanged():
    """Forget gate open (f = 1), input gate shut (i = 0): c_T = c_0 and dL/dc_0 = dL/dc_T,
    over 200 steps, whatever the input (Hochreiter and Schmidhuber 1997, Sec. 4)."""
    cell = m.LSTMCell(2, 4).double()
    with torch.no_grad():  # sigmoid(+-60) is 1 and 0 in float64
        for lin in (cell.ih, cell.hh):
            lin.weight[:8].zero_()
            lin.bias[:8].zero_()
        cell.ih.bias[:4].fill_(-60.0)  # i = 0
        cell.ih.bias[4:8].fill_(60.0)  # f = 1
    net = rnn.RecurrentStack(lambda i, h: cell, 2, 4)
    x = torch.randn(3, 200, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(6))
    c0 = torch.randn(3, 4, dtype=torch.float64, requires_grad=True)
    _, [(h_t, c_t)] = net(x, [(torch.zeros(3, 4, dtype=torch.float64), c0)])
    torch.testing.assert_close(c_t, c0, atol=0, rtol=0)
    grad_out = torch.randn_like(c_t)
    (grad_c0,) = torch.autograd.grad(c_t, c0, grad_out)
    torch.testing.assert_close(grad_c0, grad_out, atol=0, rtol=0)


def test_more_gradient_reaches_early_steps_than_in_the_elman_network_at_initialisation():
    """Adding problem, T = 100, fresh nets of 64 units: ||dL/dh_t|| at distance 50 and 99."""
    task = load_adding(length=100, train_size=4, val_size=4, test_size=32)
    torch.manual_seed(0)
    net = m.create_model(config(hidden_size=64), task)
    curves = mods.analysis.gradient_curves(net, task)
    lstm, elman = curves["LSTM at initialisation"], curves["Elman at initialisation"]
    assert len(lstm) == len(elman) == 100
    assert lstm[50] > 1e4 * elman[50]  # measured: 3.5e-6 against 9.7e-12
    assert lstm[99] > 1e9 * elman[99]  # measured: 5.5e-9 against 4.1e-21


# ----------------------------------------------------------------------------------- masks


def test_padding_never_changes_outputs_or_final_states():
    net = stack(3, 5, 2)
    gen = torch.Generator().manual_seed(2)
    lengths = [7, 4, 10]
    seqs = [torch.randn(n, 3, dtype=torch.float64, generator=gen) for n in lengths]
    padded = torch.full((3, 10, 3), 99.0, dtype=torch.float64)  # junk at padding: ignored
    mask = torch.zeros(3, 10, dtype=torch.bool)
    for i, s in enumerate(seqs):
        padded[i, : len(s)] = s
        mask[i, : len(s)] = True
    out, final = net(padded, mask=mask)
    for i, s in enumerate(seqs):
        alone, alone_final = net(s[None])
        torch.testing.assert_close(out[i, : len(s)], alone[0])
        assert (out[i, len(s) :] == 0).all()
        for layer in range(2):
            for part in range(2):  # h and c: the whole state tuple is carried over the padding
                torch.testing.assert_close(final[layer][part][i], alone_final[layer][part][0])
        torch.testing.assert_close(rnn.last_output(out, mask)[i], alone[0, -1])


# ------------------------------------------------------------------- learning


def test_adding_loss_falls_on_a_fixed_batch():
    torch.manual_seed(0)
    net = m.create_model(config(hidden_size=32), load_adding(length=4, train_size=2))
    x, y = adding_examples(64, 20, torch.Generator().manual_seed(4))
    optimizer = torch.optim.Adam(net.parameters(), lr=1e-2)
    losses = []
    for _ in range(100):
        optimizer.zero_grad()
        loss = net.step((x, y)).loss
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.25 * losses[0]  # measured: 0.11 of it


# ---------------------------------------------------------------------------------- sampling


def test_sampling_is_seeded_and_uses_only_the_vocabulary():
    torch.manual_seed(0)
    chars = list("\nabc xyz")
    lm = rnn.CharLM(m.lstm_cells(1.0), chars, hidden_size=16, num_layers=2, dropout=0.1)

    def text(seed):
        return lm.sample(80, torch.Generator().manual_seed(seed))

    assert text(1) == text(1)
    assert text(1) != text(2)
    assert len(text(1)) == 80 and set(text(1)) <= set(chars)
    assert lm.training  # sample() switches to eval mode and back


# ---------------------------------------------------------------------------- resume parity


def test_training_resumes_exactly_from_a_checkpoint(tmp_path):
    """Straight through 2 epochs vs stopped at step 5, saved, resumed: identical weights."""
    task = load_adding(length=12, train_size=64, val_size=16, test_size=16)
    cfg = config(max_steps=None, epochs=2, hidden_size=8, num_layers=2, dropout=0.2)
    cfg = dataclasses.replace(cfg, monitor="val_loss", monitor_mode="min")

    def loaders():
        train, val, _ = task.loaders(cfg.batch_size, seed=cfg.seed)
        return train, val

    # Stopped at step 5, mid-epoch 2 (4 steps per epoch), then resumed from its checkpoint.
    assert_resumes_exactly(lambda: m.create_model(cfg, task), cfg, loaders, 5, tmp_path)


def test_the_shakespeare_network_in_miniature_resumes_exactly(tmp_path):
    """The character model as `shakespeare` builds it (tied head, folded embedding, backward by
    hand), straight through 2 epochs vs stopped at step 5 and resumed: identical weights."""
    corpus = char_corpus(
        "verse",
        "to be, or not to be: that is the question.\n" * 40,
        0.1,
        block_size=16,
        windows_per_epoch=32,
    )
    cfg = config(
        max_steps=None,
        epochs=2,
        hidden_size=8,
        num_layers=2,
        batch_size=8,
        forget_bias=0.0,
        tie_embedding=True,
        fold_embedding=True,
        bptt_by_hand=True,
    )
    cfg = dataclasses.replace(cfg, monitor="val_loss", monitor_mode="min")
    net = m.create_model(cfg, corpus)
    assert net.head is None and net.head_bias.shape == (corpus.vocab_size,)

    def loaders():
        train, val, _ = corpus.loaders(cfg.batch_size, seed=cfg.seed)
        return train, val

    # 4 steps per epoch: stopped at step 5, mid-epoch 2, then resumed from its checkpoint.
    assert_resumes_exactly(lambda: m.create_model(cfg, corpus), cfg, loaders, 5, tmp_path)


# ------------------------------------------------------------------------- config, end to end


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"hidden_size": 0}, ["hidden_size must be >= 1"]),
        ({"num_layers": 0}, ["num_layers must be >= 1"]),
        ({"dropout": 1.0}, ["dropout must be in [0, 1)"]),
        ({"temperature": -1.0}, ["temperature must be >= 0"]),
        ({"forget_bias": "nan"}, ["forget_bias must be a finite number"]),
        ({"forget_bias": "one"}, ["forget_bias", "float"]),
    ],
)
def test_bad_configs_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


def test_every_experiment_loads_and_adding_shares_the_elman_budget():
    names = ("mnist1d", "shakespeare", "adding_50", "adding_100", "adding_200", "smoke")
    for name in names:
        load_config(SPEC.config_cls, SPEC.experiments_file, name)
    elman = model_modules("rnn").train.SPEC
    for length in mods.constants.ADDING_LENGTHS:
        ours = load_config(SPEC.config_cls, SPEC.experiments_file, f"adding_{length}")
        theirs = load_config(elman.config_cls, elman.experiments_file, f"adding_{length}")
        for field in ("data_options", "epochs", "batch_size", "lr", "optimizer", "grad_clip"):
            assert getattr(ours, field) == getattr(theirs, field), (length, field)
        assert ours.hidden_size == theirs.hidden_size and ours.seed == theirs.seed


def test_smoke_trains_and_evaluates_from_the_command_line(tmp_path):
    metrics = train_and_evaluate_smoke(copy_model(MODEL_DIR, tmp_path), "max_steps 4 reached")
    assert metrics["model"] == "lstm" and 0.0 <= metrics["accuracy"] <= 1.0


def test_compare_trains_both_networks_with_one_recipe_and_tables_and_plots_them(tmp_path):
    compare = load_script(MODEL_DIR, "compare.py")
    runs = [compare.train_adding(name, 50, None, {"max_steps": "3"}) for name in ("rnn", "lstm")]
    assert [r["model"] for r in runs] == ["rnn", "lstm"]
    assert all(r["steps"] == 3 and r["length"] == 50 and r["test_mse"] > 0 for r in runs)
    result = {"runs": runs, "epochs_note": "3 steps"}
    assert "| 50 | LSTM |" in mods.analysis.table(result)
    assert mods.analysis.plot_adding(result, tmp_path / "adding.png").is_file()


@needs_data
def test_the_speed_study_times_both_backward_passes_after_checking_they_agree():
    compare = load_script(MODEL_DIR, "compare.py")
    small = {"hidden_size": "8", "batch_size": "4", "data_options": "{block_size: 16}"}
    result = compare.time_steps(None, 2, small)  # asserts the three gradients agree first
    assert result["batch"] == [4, 16]
    assert all(result[f"{name}_ms"] > 0 for name in compare.SPEED_VARIANTS)
