"""BitNet b1.58: the quantisers against their formulas, the straight-through gradient, packing,
the packed path against the on-the-fly path, the fp32 switch, learning, the command line."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from utils.config import load_config
from utils.registry import model_modules
from utils.testing import copy_model, needs_data, train_and_evaluate_smoke

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("bitnet")
m = mods.model
SPEC = mods.train.SPEC
CHARS = list("\nabcdefgh ")


def bitnet(ternary: bool = True, **changes) -> m.BitNetGPT:
    torch.manual_seed(0)
    options = dict(num_layers=2, d_model=16, n_heads=4, bias=False, ternary=ternary)
    return m.BitNetGPT(CHARS, 12, **{**options, **changes})


def tokens(batch: int, length: int, seed: int = 1) -> torch.Tensor:
    return torch.randint(len(CHARS), (batch, length), generator=torch.Generator().manual_seed(seed))


# ------------------------------------------------------------------------------ the quantisers


def test_weight_quant_is_absmean_roundclip_to_minus_one_zero_one():
    w = torch.randn(7, 9, generator=torch.Generator().manual_seed(0)) * 0.3
    w_q, gamma = m.weight_quant(w)
    torch.testing.assert_close(gamma, w.abs().mean())  # b1.58 eq. 3
    expected = torch.clamp(torch.round(w / (w.abs().mean() + 1e-5)), -1, 1)  # eqs. 1-2
    assert torch.equal(w_q, expected)
    assert set(w_q.unique().tolist()) == {-1.0, 0.0, 1.0}
    # a weight beyond 1.5 gamma clips to +-1, one below 0.5 gamma rounds to 0
    big = torch.tensor([[10.0, -10.0, 0.01, 1.0]])  # gamma 5.25: 1.0 / 5.25 rounds to 0
    assert m.weight_quant(big)[0].tolist() == [[1.0, -1.0, 0.0, 0.0]]


def test_activation_quant_is_per_token_absmax_to_127():
    x = torch.randn(2, 5, 16, generator=torch.Generator().manual_seed(1))
    x_q, s = m.activation_quant(x, bits=8)
    torch.testing.assert_close(s, 127 / x.abs().amax(dim=-1, keepdim=True))  # (2, 5, 1)
    assert torch.equal(x_q, x_q.round()) and x_q.abs().max() == 127
    assert torch.equal(x_q.abs().amax(dim=-1), torch.full((2, 5), 127.0))  # each token's max
    assert (x - x_q / s).abs().le(0.5 / s + 1e-6).all()  # rounding error at most half a step
    x_4, s_4 = m.activation_quant(x, bits=4)
    assert x_4.abs().max() == 7 and torch.equal(s_4, 7 / x.abs().amax(dim=-1, keepdim=True))
    zero_q, _ = m.activation_quant(torch.zeros(1, 3))  # an all-zero token: no division by 0
    assert torch.equal(zero_q, torch.zeros(1, 3))


def test_the_straight_through_gradient_is_that_of_the_dequantised_layer():
    torch.manual_seed(0)
    layer = m.BitLinear(8, 5, bias=False, norm=False)
    x = torch.randn(3, 8, requires_grad=True)
    g = torch.randn(3, 5)
    (layer(x) * g).sum().backward()
    w_q, gamma = m.weight_quant(layer.weight.detach())
    x_q, s = m.activation_quant(x.detach())
    w_deq, x_deq = (w_q * gamma), x_q / s
    # forward: the integer product rescaled equals the product of the dequantised operands
    torch.testing.assert_close(layer(x), F.linear(x_deq, w_deq), rtol=1e-5, atol=1e-6)
    # backward: both roundings are the identity; gamma and s are constants
    expected_w = g.T @ x_deq * gamma / (gamma + 1e-5)  # (5, 8)
    torch.testing.assert_close(layer.weight.grad, expected_w, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(x.grad, g @ w_deq, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------ packing


@pytest.mark.parametrize("shape", [(4, 8), (3, 5), (1, 1), (7, 13)])
def test_packing_round_trips_four_weights_per_byte(shape):
    w_q = torch.randint(-1, 2, shape, generator=torch.Generator().manual_seed(2)).float()
    packed = m.pack_ternary(w_q)
    assert packed.dtype == torch.uint8 and packed.numel() == math.ceil(w_q.numel() / 4)
    assert torch.equal(m.unpack_ternary(packed, shape), w_q)


def test_packing_refuses_values_outside_minus_one_zero_one():
    with pytest.raises(AssertionError, match="takes"):
        m.pack_ternary(torch.tensor([0.0, 2.0]))


@pytest.mark.parametrize("bf16", [False, True])
def test_the_packed_model_gives_the_same_logits_as_quantising_on_the_fly(bf16):
    net = bitnet().eval()
    x = tokens(3, 12)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
        on_the_fly = net(x)
        fresh = bitnet(num_layers=2)
        for layer in fresh.bit_layers().values():
            layer.weight.data.fill_(float("nan"))  # the packed path must never read them
        fresh.load_packed_state(net.packed_state())
        packed = fresh.eval()(x)
    assert torch.isfinite(packed).all()
    torch.testing.assert_close(packed, on_the_fly, rtol=0, atol=0)
    assert not any(k.endswith(("q.weight", "fc1.weight")) for k in net.packed_state())


def test_memory_counts_two_bits_per_ternary_weight():
    net = bitnet()
    mem = m.memory_bytes(net)
    linear = sum(layer.weight.numel() for layer in net.bit_layers().values())
    assert mem["linear_parameters"] == linear == 2 * (4 * 16 * 16 + 2 * 16 * 64)
    assert mem["linear_packed"] == linear // 4 + 4 * 12  # 12 matrices, a float32 gamma each
    assert mem["fp32"] == 4 * mem["parameters"] and mem["bf16"] == 2 * mem["parameters"]
    assert mem["packed_fp32_rest"] == mem["linear_packed"] + 4 * (mem["parameters"] - linear)


# ------------------------------------------------------------------------------ the GPT around


def test_every_block_linear_is_ternary_and_the_rest_stays_full_precision():
    net = bitnet()
    names = set(net.bit_layers())
    assert len(names) == 12 and "blocks.0.ff.fc2" in names and "blocks.1.attn.out" in names
    assert not any(type(mod) is torch.nn.Linear for mod in net.modules())
    assert isinstance(net.embed, torch.nn.Embedding)  # the tied head too


def test_ternary_false_is_the_gpt_of_16_and_both_start_from_the_same_weights():
    gpt = model_modules("gpt").model
    torch.manual_seed(0)
    reference = gpt.GPT(CHARS, 12, num_layers=2, d_model=16, n_heads=4, bias=False)
    full, ternary = bitnet(ternary=False), bitnet()
    x = tokens(2, 12)
    torch.testing.assert_close(full(x), reference(x), rtol=0, atol=0)
    latent = {k: v for k, v in ternary.state_dict().items() if ".norm.weight" not in k[-12:]}
    for name, tensor in full.state_dict().items():
        torch.testing.assert_close(latent[name], tensor, rtol=0, atol=0, msg=name)


def test_loss_falls_on_a_fixed_batch():
    net = bitnet()
    x, y = tokens(4, 12), tokens(4, 12, seed=2)
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3)
    losses = []
    for _ in range(60):
        loss = net.step((x, y)).loss
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.6 * losses[0], losses[::10]


def test_every_experiment_loads_and_the_three_networks_differ_in_one_field():
    configs = {
        name: load_config(SPEC.config_cls, SPEC.experiments_file, name)
        for name in ("shakespeare", "shakespeare_fp32", "shakespeare_wide", "smoke")
    }
    base = configs["shakespeare"]
    assert base.ternary and (base.d_model, base.epochs, base.precision) == (128, 8, "fp32")
    assert not configs["shakespeare_fp32"].ternary and configs["shakespeare_wide"].d_model == 256


@needs_data
def test_smoke_trains_and_evaluates_both_paths_from_the_command_line(tmp_path):
    result = train_and_evaluate_smoke(copy_model(MODEL_DIR, tmp_path), "epoch 2 |")
    assert result["model"] == "bitnet" and result["largest_logit_difference"] == 0.0
    assert result["packed"]["loss"] == result["on_the_fly"]["loss"]
    assert math.isfinite(result["on_the_fly"]["loss"])
