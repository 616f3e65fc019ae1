"""BitNet b1.58: the GPT of models/16_gpt with every linear layer ternary (Ma et al. 2024).

Papers: S. Ma, H. Wang, L. Ma, L. Wang, W. Wang, S. Huang, L. Dong, R. Wang, J. Xue and F. Wei,
"The Era of 1-bit LLMs: All Large Language Models are in 1.58 Bits", arXiv:2402.17764, 2024
(b1.58); H. Wang et al., "BitNet: Scaling 1-bit Transformers for Large Language Models",
arXiv:2310.11453, 2023 (BitLinear, SubLN); J. Nielsen and P. Schneider-Kamp, "BitNet b1.58
Reloaded: State-of-the-art Performance Also on Smaller Networks", arXiv:2407.09527, 2024.

What is implemented: BitLinear (b1.58 Sec. 2), a drop-in for nn.Linear. Its weights are
quantised to {-1, 0, +1} by absmean, gamma = mean|W|, W_q = RoundClip(W / (gamma + eps), -1, 1)
(eqs. 1-3); its inputs to 8 bits per token by absmax, x_q = Round(x * 127 / max|x|) in
[-127, 127] (BitNet Sec. 2.2 with Q_b = 2^7, b1.58 Sec. 2, "scaled to [-Q_b, Q_b] per token",
no zero point). The product is computed on the integers and rescaled once,
y = (x_q W_q^T) * gamma / s with s = 127 / max|x|, which is what an integer kernel computes.
Training keeps latent full-precision weights (the optimizer's) and passes gradients through both
roundings unchanged: the straight-through estimator (BitNet Sec. 2.3, Bengio et al. 2013),
written as q + (v - v.detach()), which is q exactly in the forward pass and has gradient 1.
Before the activation quantiser each BitLinear has an RMSNorm (BitNet's SubLN, which the b1.58
training notes write as an RMSNorm inside BitLinear; ``bitlinear_norm``): without it, the inputs
of W^O and of the FFN's second layer, which no layer norm precedes, reach the absmax quantiser at
whatever scale the attention and the GELU leave them.

Inference with packed weights: ``pack_ternary`` stores four ternary weights per byte (2 bits
each, codes W_q + 1 in {0, 1, 2}; the fifth pattern unused, as bitnet.cpp's I2_S layout), and a
BitLinear holding a ``PackedWeight`` unpacks it instead of quantising its latent weights. Both
paths compute the same integer product from the same W_q and gamma, so their outputs are equal
bit for bit (tested; evaluate.py checks it on the whole validation stream). Base-3 packing (five
weights per byte, 1.6 bits, close to log2 3 = 1.58) would save a further 20% and is left out.

Everything else is GPT's (models/16_gpt, imported): embeddings, attention, the blocks, the tied
head, the loss, sampling. As in the paper, the token and position embeddings, the tied output
layer and the layer norms stay in full precision; only the blocks' linear layers (Q, K, V, W^O,
the FFN's two layers) are ternary. Left out: the paper's LLaMA pieces (RMSNorm blocks, SwiGLU,
rotary positions), its two-stage learning-rate and weight-decay schedule (16's recipe is kept so
that only the layers change), and custom low-bit kernels (the packed path unpacks to a float
matrix before the product: it shows the storage, not the speed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data_utils import CharCorpus
from utils.registry import model_modules

gpt = model_modules("gpt").model  # the GPT this model changes (its blocks, loss, sampling)

EPS = 1e-5  # b1.58 eq. 3's epsilon; also the floor of the activation absmax (an all-zero token)


# ------------------------------------------------------------------------------ the quantisers


def straight_through(value: Tensor, quantised: Tensor) -> Tensor:
    """``quantised`` in the forward pass, the gradient of ``value`` in the backward pass.

    value - value.detach() is exactly 0 for finite values, so the forward result is
    ``quantised`` bit for bit (unlike value + (quantised - value).detach(), which rounds).
    """
    return quantised + (value - value.detach())


def weight_quant(w: Tensor) -> tuple[Tensor, Tensor]:
    """Absmean ternary quantisation (b1.58 eqs. 1-3): (W_q in {-1, 0, 1}, gamma = mean|W|).

    W ~ W_q * gamma. The rounding passes gradients straight through to W (divided by gamma,
    which is treated as a constant), so W_q * gamma has gradient 1 with respect to W.
    """
    gamma = w.detach().abs().mean()  # () a scalar per matrix
    scaled = w / (gamma + EPS)
    return straight_through(scaled, scaled.detach().round().clamp(-1, 1)), gamma


def activation_quant(x: Tensor, bits: int = 8) -> tuple[Tensor, Tensor]:
    """Per-token absmax quantisation to b bits (BitNet Sec. 2.2, b1.58 Sec. 2): (x_q, s).

    s = Q / max|x| over the last dimension, with Q = 2^(b-1) - 1 (127 for 8 bits);
    x_q = Round(x * s), integers in [-Q, Q]; x ~ x_q / s. Straight-through, as weight_quant.
    """
    top = 2 ** (bits - 1) - 1
    s = top / x.detach().abs().amax(dim=-1, keepdim=True).clamp(min=EPS)  # (..., 1)
    scaled = x * s
    return straight_through(scaled, scaled.detach().round().clamp(-top, top)), s


# ------------------------------------------------------------------------------------ packing


@dataclass
class PackedWeight:
    """A ternary matrix stored as 2-bit codes, four per byte, and its scale gamma.

    Attributes:
        codes: uint8 (ceil(out * in / 4),): weight i in bits 2 (i mod 4) .. 2 (i mod 4) + 1 of
            byte i // 4, as W_q + 1 in {0, 1, 2}.
        gamma: float32 (): mean|W| of the latent weights.
        shape: (out, in) of the matrix.
    """

    codes: Tensor
    gamma: Tensor
    shape: tuple[int, int]

    @property
    def nbytes(self) -> int:
        """Bytes stored: the codes and the float32 scale."""
        return self.codes.numel() + 4


SHIFTS = torch.tensor([0, 2, 4, 6], dtype=torch.uint8)  # bit offsets of the four weights


def pack_ternary(w_q: Tensor) -> Tensor:
    """Integers in {-1, 0, 1} of any shape -> uint8 (ceil(n / 4),), four 2-bit codes per byte."""
    w_q = w_q.detach().flatten()  # (n,)
    assert bool(((w_q == -1) | (w_q == 0) | (w_q == 1)).all()), "pack_ternary takes {-1, 0, 1}"
    codes = (w_q + 1).to(torch.uint8)  # (n,) in {0, 1, 2}
    codes = F.pad(codes, (0, -len(codes) % 4))  # (4 ceil(n / 4),)
    return (codes.view(-1, 4) << SHIFTS.to(codes.device)).sum(dim=1, dtype=torch.uint8)


def unpack_ternary(packed: Tensor, shape: tuple[int, ...]) -> Tensor:
    """The inverse of pack_ternary: uint8 (m,) -> float32 ``shape`` in {-1, 0, 1}."""
    n = math.prod(shape)
    codes = (packed[:, None] >> SHIFTS.to(packed.device)) & 3  # (m, 4)
    return (codes.flatten()[:n].float() - 1).view(shape)


# ---------------------------------------------------------------------------------- BitLinear


class BitLinear(nn.Linear):
    """nn.Linear with ternary weights and 8-bit activations (b1.58 Sec. 2).

    ``weight`` holds the latent full-precision weights that the optimizer updates; the forward
    pass uses only their ternary quantisation, or ``packed`` when set (pack()).

    Args:
        in_features, out_features, bias: As nn.Linear.
        activation_bits: Bits of the per-token absmax quantiser.
        norm: An RMSNorm (learned gain) before the quantiser: SubLN.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        activation_bits: int = 8,
        norm: bool = True,
    ) -> None:
        super().__init__(in_features, out_features, bias)
        self.activation_bits = activation_bits
        self.norm = nn.RMSNorm(in_features, eps=EPS) if norm else None
        self.packed: PackedWeight | None = None  # not a buffer: checkpoints keep latent weights

    def ternary(self) -> tuple[Tensor, Tensor]:
        """(W_q, gamma): from ``packed`` if set, else quantised from the latent weights."""
        if self.packed is not None:
            return unpack_ternary(self.packed.codes, self.packed.shape), self.packed.gamma
        return weight_quant(self.weight)

    def pack(self) -> PackedWeight:
        """Store the current W_q and gamma packed; forward then reads them, not ``weight``."""
        w_q, gamma = weight_quant(self.weight.detach())
        self.packed = PackedWeight(pack_ternary(w_q), gamma.float(), tuple(w_q.shape))
        return self.packed

    def forward(self, x: Tensor) -> Tensor:
        """(..., in) -> (..., out): y = (x_q W_q^T) * gamma / s, plus the bias."""
        x = x.to(self.weight.dtype)  # the quantisers at the latent weights' precision (float32
        # under bf16 autocast, whose matmuls hand BitLinear bf16 inputs)
        if self.norm is not None:
            x = self.norm(x)
        x_q, s = activation_quant(x, self.activation_bits)  # (..., in) integers, (..., 1)
        w_q, gamma = self.ternary()  # (out, in) in {-1, 0, 1}, ()
        # integers up to 127 are exact in bf16, so autocast changes only the output's rounding
        y = F.linear(x_q, w_q) * (gamma / s)  # (..., out)
        return y if self.bias is None else y + self.bias


def bitlinear_(module: nn.Module, activation_bits: int, norm: bool) -> nn.Module:
    """Replace every nn.Linear below ``module`` by a BitLinear with the same weights, in place."""
    for name, child in list(module.named_children()):
        if type(child) is nn.Linear:
            bit = BitLinear(
                child.in_features, child.out_features, child.bias is not None, activation_bits, norm
            ).to(child.weight.device)
            bit.load_state_dict(child.state_dict(), strict=False)  # weight, bias; the norm's 1
            setattr(module, name, bit)
        else:
            bitlinear_(child, activation_bits, norm)
    return module


# -------------------------------------------------------------------------------------- model


class BitNetGPT(gpt.GPT):
    """GPT (models/16_gpt) whose blocks' linear layers are BitLinear when ``ternary``.

    The network is built and initialised as GPT (GPT-2's initialisation), then each nn.Linear is
    swapped for a BitLinear holding the same weights: with the same seed, the ternary and the
    full-precision networks start from the same latent weights.

    Args:
        chars, block_size, num_layers, d_model, n_heads, **gpt_options: As gpt.GPT.
        ternary: BitLinear layers (False: exactly GPT).
        activation_bits: Bits of BitLinear's activation quantiser.
        bitlinear_norm: The RMSNorm inside each BitLinear.
    """

    def __init__(
        self,
        chars: list[str],
        block_size: int,
        num_layers: int,
        d_model: int,
        n_heads: int,
        ternary: bool = True,
        activation_bits: int = 8,
        bitlinear_norm: bool = True,
        **gpt_options: Any,
    ) -> None:
        super().__init__(chars, block_size, num_layers, d_model, n_heads, **gpt_options)
        if ternary:
            bitlinear_(self.blocks, activation_bits, bitlinear_norm)

    def bit_layers(self) -> dict[str, BitLinear]:
        """Every BitLinear by its name, e.g. "blocks.0.attn.q" (none when not ternary)."""
        return {name: m for name, m in self.named_modules() if isinstance(m, BitLinear)}

    def pack(self) -> None:
        """Pack every BitLinear's weights: inference then reads 2-bit codes, not latent weights."""
        for layer in self.bit_layers().values():
            layer.pack()

    def unpack(self) -> None:
        """Drop the packed weights: back to quantising the latent weights on the fly."""
        for layer in self.bit_layers().values():
            layer.packed = None

    def packed_state(self) -> dict[str, Tensor]:
        """What inference needs: the 2-bit codes and gamma of every BitLinear, and every other
        tensor (embeddings, norms) as stored; no latent weights."""
        layers = self.bit_layers()
        latent = {f"{name}.weight" for name in layers}
        state = {k: v for k, v in self.state_dict().items() if k not in latent}
        for name, layer in layers.items():
            packed = layer.packed or layer.pack()
            state[f"{name}.codes"], state[f"{name}.gamma"] = packed.codes, packed.gamma
        return state

    def load_packed_state(self, state: dict[str, Tensor]) -> None:
        """Load a packed_state: the BitLinears read the codes; their latent weights are unused."""
        layers = self.bit_layers()
        rest = {k: v for k, v in state.items() if not k.endswith((".codes", ".gamma"))}
        missing, unexpected = self.load_state_dict(rest, strict=False)
        assert not unexpected, f"unexpected tensors in the packed state: {unexpected}"
        expected = {f"{name}.weight" for name in layers}
        assert set(missing) <= expected, f"missing from the packed state: {set(missing) - expected}"
        for name, layer in layers.items():
            shape = (layer.out_features, layer.in_features)
            layer.packed = PackedWeight(state[f"{name}.codes"], state[f"{name}.gamma"], shape)


def memory_bytes(model: BitNetGPT) -> dict[str, int]:
    """Bytes of the weights for inference: every tensor in float32, in bfloat16, and packed.

    "packed_fp32_rest": each BitLinear's matrix as 2-bit codes plus its float32 gamma, every
    other tensor (embeddings, norms, biases) in float32; "packed_bf16_rest": the same with the
    other tensors in bfloat16. "linear_*": the BitLinear matrices alone, in each format.
    """
    layers = model.bit_layers()
    linear = {f"{name}.weight" for name in layers}
    state = model.state_dict()
    numel = {k: v.numel() for k, v in state.items()}
    n_linear = sum(n for k, n in numel.items() if k in linear)
    n_rest = sum(n for k, n in numel.items() if k not in linear)
    packed = sum(math.ceil(layer.weight.numel() / 4) + 4 for layer in layers.values())
    return {
        "parameters": sum(numel.values()),
        "linear_parameters": n_linear,
        "fp32": 4 * (n_linear + n_rest),
        "bf16": 2 * (n_linear + n_rest),
        "packed_fp32_rest": packed + 4 * n_rest,
        "packed_bf16_rest": packed + 2 * n_rest,
        "linear_fp32": 4 * n_linear,
        "linear_bf16": 2 * n_linear,
        "linear_packed": packed,
    }


def create_model(config: Any, splits: Any) -> BitNetGPT:
    """The ternary GPT for a character corpus (the ModelSpec hook), with GPT's options."""
    assert isinstance(splits, CharCorpus), f"BitNet models text: got {type(splits).__name__}"
    return BitNetGPT(
        splits.chars,
        block_size=splits.block_size,
        num_layers=config.num_layers,
        d_model=config.d_model,
        n_heads=config.n_heads,
        ternary=config.ternary,
        activation_bits=config.activation_bits,
        bitlinear_norm=config.bitlinear_norm,
        d_ff=config.d_ff,
        dropout=config.dropout,
        fused=config.fused_attention,
        bias=config.bias,
        temperature=config.temperature,
        top_k=config.top_k,
    )


def create_criterion(config: Any) -> Callable | None:
    """None: the model's step computes the language-modelling loss (GPT's)."""
    return None
