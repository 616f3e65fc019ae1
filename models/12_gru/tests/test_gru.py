"""The GRU's known outcomes: torch.nn.GRU as an oracle, the paper's equations by hand, padding,
training, resume, bad input and the command line."""

import dataclasses
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data_utils import create_data_loaders, load_dataset
from engine.checkpoint import CheckpointManager, load_checkpoint
from engine.trainer import Trainer
from engine.workflow import build_optimizer
from utils.registry import model_config, model_modules
from utils.seed import set_random_seed
from utils.testing import (
    assert_config_error,
    copy_model,
    run_study_smoke,
    train_and_evaluate_smoke,
    trainer_losses_on_batch,
)

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("gru")
SPEC = mods.train.SPEC
GRUCell, cell_factory = mods.model.GRUCell, mods.model.cell_factory
RecurrentStack = mods.model.rnn.RecurrentStack


def stack(reset_after: bool, input_size=3, hidden_size=5, num_layers=2) -> RecurrentStack:
    torch.manual_seed(0)
    net = RecurrentStack(cell_factory(reset_after), input_size, hidden_size, num_layers)
    return net.double()


@pytest.fixture(scope="module")
def mnist1d():
    """MNIST-1D, generated locally: 256 training signals, the validation and test splits."""
    splits = load_dataset("mnist1d", seed=42, standardize=True)
    return dataclasses.replace(splits, x_train=splits.x_train[:256], y_train=splits.y_train[:256])


# --------------------------------------------------------------------------- the cell, exactly


def test_reset_after_form_matches_torch_gru_outputs_state_and_gradients():
    """Two layers, float64: torch.nn.GRU with our weights gives the same outputs, final states
    and gradients (of the weights and of the input) to 1e-6."""
    ours = stack(reset_after=True)
    oracle = torch.nn.GRU(3, 5, num_layers=2, batch_first=True).double()
    with torch.no_grad():
        for layer, cell in enumerate(ours.cells):
            getattr(oracle, f"weight_ih_l{layer}").copy_(cell.ih.weight)
            getattr(oracle, f"bias_ih_l{layer}").copy_(cell.ih.bias)
            getattr(oracle, f"weight_hh_l{layer}").copy_(cell.hh.weight)
            getattr(oracle, f"bias_hh_l{layer}").copy_(cell.hh.bias)
    x = torch.randn(4, 7, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    x_ours, x_theirs = x.clone().requires_grad_(), x.clone().requires_grad_()
    out, final = ours(x_ours)  # (4, 7, 5), 2 x (4, 5)
    out_t, final_t = oracle(x_theirs)  # (4, 7, 5), (2, 4, 5)
    close = dict(atol=1e-6, rtol=1e-6)
    torch.testing.assert_close(out, out_t, **close)
    torch.testing.assert_close(torch.stack(final), final_t, **close)
    weights = torch.randn_like(out)  # a loss that weighs every output differently
    (out * weights).sum().backward()
    (out_t * weights).sum().backward()
    torch.testing.assert_close(x_ours.grad, x_theirs.grad, **close)
    for layer, cell in enumerate(ours.cells):
        for ours_name, theirs_name in (("ih", "ih"), ("hh", "hh")):
            module = getattr(cell, ours_name)
            torch.testing.assert_close(
                module.weight.grad, getattr(oracle, f"weight_{theirs_name}_l{layer}").grad, **close
            )
            torch.testing.assert_close(
                module.bias.grad, getattr(oracle, f"bias_{theirs_name}_l{layer}").grad, **close
            )


def test_paper_form_follows_equations_5_to_8_step_by_step():
    """Cho et al. (2014): r and z from x and h (eq. 5, 6), the candidate from r * h (eq. 8),
    h_t = z h_{t-1} + (1 - z) h~ (eq. 7), written out with the named matrices."""
    cell = GRUCell(3, 4, reset_after=False).double()
    W_r, W_z, W = cell.ih.weight.detach().split(4)  # each (H, I)
    b_r, b_z, b = cell.ih.bias.detach().split(4)
    U_r, U_z, U = cell.hh.weight.detach().split(4)  # each (H, H)
    c_r, c_z, c = cell.hh.bias.detach().split(4)
    x = torch.randn(2, 6, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
    h = torch.randn(2, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    net = RecurrentStack(lambda i, hs: cell, 3, 4, 1)
    with torch.no_grad():
        out, (final,) = net(x, [h])
        expected = []
        for t in range(x.shape[1]):
            x_t = x[:, t]
            r = torch.sigmoid(x_t @ W_r.T + b_r + h @ U_r.T + c_r)  # eq. 5
            z = torch.sigmoid(x_t @ W_z.T + b_z + h @ U_z.T + c_z)  # eq. 6
            candidate = torch.tanh(x_t @ W.T + b + (r * h) @ U.T + c)  # eq. 8
            h = z * h + (1 - z) * candidate  # eq. 7
            expected.append(h)
    torch.testing.assert_close(out, torch.stack(expected, dim=1), atol=1e-12, rtol=1e-12)
    torch.testing.assert_close(final, h, atol=1e-12, rtol=1e-12)


def test_the_two_forms_share_weights_but_not_results():
    """The same weights in both forms: equal gates r and z, a different candidate."""
    paper, cudnn = stack(reset_after=False), stack(reset_after=True)
    cudnn.load_state_dict(paper.state_dict())
    x = torch.randn(3, 5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(4))
    gx, h = paper.cells[0].input_projection(x)[:, 0], torch.randn(3, 5, dtype=torch.float64)
    r_p, z_p, n_p = paper.cells[0].gates(gx, h)
    r_c, z_c, n_c = cudnn.cells[0].gates(gx, h)
    torch.testing.assert_close(r_p, r_c)
    torch.testing.assert_close(z_p, z_c)
    assert (n_p - n_c).abs().max() > 1e-3
    assert not torch.allclose(paper(x)[0], cudnn(x)[0])


def test_an_update_gate_of_one_keeps_the_state_for_ever():
    """z = 1 (a large update-gate bias) copies h_{t-1} unchanged, whatever the input: the
    path along which the GRU carries information over many steps."""
    cell = GRUCell(2, 3)
    with torch.no_grad():
        cell.ih.bias[3:6] = 50.0  # the update gate's input bias: z = sigmoid(50) = 1
    h0 = torch.randn(4, 3)
    out, (final,) = RecurrentStack(lambda i, hs: cell, 2, 3)(torch.randn(4, 30, 2), [h0])
    torch.testing.assert_close(final, h0)
    torch.testing.assert_close(out, h0[:, None].expand(4, 30, 3))


@pytest.mark.parametrize("reset_after", [False, True])
def test_padding_never_changes_a_result(reset_after):
    """A sequence of 4 steps padded to 9 with noise: the same final state, zero outputs at the
    padding, and the same outputs at the real steps as the unpadded run."""
    net = stack(reset_after, num_layers=2)
    gen = torch.Generator().manual_seed(5)
    short = torch.randn(1, 4, 3, dtype=torch.float64, generator=gen)
    padded = torch.cat([short, 100 * torch.randn(1, 5, 3, dtype=torch.float64, generator=gen)], 1)
    mask = torch.tensor([[True] * 4 + [False] * 5])
    out_short, final_short = net(short)
    out_padded, final_padded = net(padded, mask=mask)
    for a, b in zip(final_short, final_padded):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(out_padded[:, :4], out_short)
    assert (out_padded[:, 4:] == 0).all()


def test_parameters_are_three_blocks_of_an_elman_layer():
    """3 (I H + H H + 2 H) per layer: three times an Elman layer, three quarters of an LSTM."""
    net = stack(True, input_size=1, hidden_size=128, num_layers=1)
    assert sum(p.numel() for p in net.parameters()) == 3 * (128 + 128 * 128 + 2 * 128) == 50_304


# ------------------------------------------------------------------------------ training


@pytest.mark.parametrize("reset_after", [False, True])
def test_loss_falls_on_a_fixed_batch(mnist1d, reset_after):
    """50 of the Trainer's own steps (Adam, clipping) on 32 real signals halve the loss."""
    config = model_config("gru", "smoke", hidden_size=32, reset_after=reset_after, lr=0.01)
    set_random_seed(0)
    model = SPEC.create_model(config, mnist1d)
    batch = (mnist1d.x_train[:32], mnist1d.y_train[:32])
    before, after = trainer_losses_on_batch(model, config, F.cross_entropy, batch, steps=50)
    assert before > 2.0 and after < 0.5 * before, (before, after)  # from about ln 10


def test_a_resumed_run_continues_exactly(mnist1d, tmp_path):
    """Two layers with dropout, shuffled batches: 2 epochs straight == 6 steps, a checkpoint,
    a fresh Trainer that resumes mid-epoch, then on to the end, bit for bit."""
    config = model_config(
        "gru", "smoke", max_steps=None, epochs=2, num_layers=2, dropout=0.3, batch_size=64
    )

    def trainer(**changes):
        cfg = dataclasses.replace(config, **changes)
        set_random_seed(cfg.seed)
        model = SPEC.create_model(cfg, mnist1d)
        return Trainer(
            model, build_optimizer(cfg, model), F.cross_entropy, torch.device("cpu"), cfg
        )

    def loaders():
        return create_data_loaders(mnist1d, config.batch_size, seed=config.seed)[:2]

    straight = trainer()
    straight.train(*loaders())
    first = trainer(max_steps=6)
    first.train(*loaders())
    assert (first.epoch, first.step_in_epoch) == (1, 2)  # 4 steps per epoch: inside epoch 2
    path = CheckpointManager(tmp_path, "run").save(first.state_dict(), kind="interrupt")
    resumed = trainer()
    torch.rand(5)  # a fresh process: the global generator anywhere until the checkpoint's
    resumed.load_state_dict(load_checkpoint(path))
    resumed.train(*loaders())
    for name, weight in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], weight), name
    assert resumed.history["train_loss"] == straight.history["train_loss"]


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"hidden_size": 0}, ["hidden_size", ">= 1"]),
        ({"num_layers": 0}, ["num_layers", ">= 1"]),
        ({"dropout": 1.0}, ["dropout", "[0, 1)"]),
        ({"temperature": -1.0}, ["temperature", ">= 0"]),
        ({"reset_after": "sometimes"}, ["reset_after"]),
        ({"hiden_size": 8}, ["hiden_size", "hidden_size"]),
        ({"optimizer": "none"}, ["optimizer", "backprop"]),
    ],
)
def test_bad_config_values_are_config_errors(changes, words):
    assert_config_error(SPEC, "smoke", changes, words)


# ------------------------------------------------------------------- as a user runs it


def test_train_evaluate_and_compare_from_the_command_line(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder)
    assert metrics["model"] == "gru" and metrics["num_samples"] == 1000
    study = run_study_smoke(folder, "compare.py", "--epochs", "1", "lstm")
    assert [run["model"] for run in study["runs"]] == ["gru", "lstm"]
    gru, lstm = study["runs"]
    assert gru["hidden_size"] == lstm["hidden_size"] == 16
    head = 16 * 10 + 10  # the same classifier on the last state
    assert 4 * (gru["parameters"] - head) == 3 * (lstm["parameters"] - head)  # 3 gates, not 4
    assert (folder / "outputs" / "visualizations" / "mnist1d.png").is_file()


def test_the_gate_trace_replays_the_networks_own_states(mnist1d):
    """analysis.gate_trace re-runs the cells step by step: its states are the network's."""
    set_random_seed(0)
    model = SPEC.create_model(model_config("gru", "smoke", num_layers=2), mnist1d)
    x = mnist1d.x_test[0]  # (40,)
    trace = mods.analysis.gate_trace(model, x)
    with torch.no_grad():
        outputs, _ = model.rnn(x.reshape(1, 40, 1))  # (1, 40, H)
    assert len(trace) == 2 and trace[-1]["z"].shape == (40, 16)
    torch.testing.assert_close(trace[-1]["h"], outputs[0])
    assert ((trace[-1]["z"] > 0) & (trace[-1]["z"] < 1)).all()
