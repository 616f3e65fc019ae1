"""Configuration of BitNet b1.58: GPT's (models/16_gpt, nanoGPT's CPU recipe) plus BitLinear's.

Every field of GPT keeps its meaning and default, so that ``ternary: false`` is exactly 16's
GPT and the comparison of src/compare.py changes one thing at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

from utils.registry import model_modules

# 16's config module (not its class: this file must define exactly one config class by name).
gpt_config = model_modules("gpt").config


@dataclass
class BitNetConfig(gpt_config.GPTConfig):
    # Every linear layer of the blocks is a BitLinear (ternary weights, 8-bit activations);
    # false: the plain GPT of models/16_gpt, the full-precision baseline.
    ternary: bool = True
    # Bits of the activation quantiser: per-token absmax to [-(2^(b-1) - 1), 2^(b-1) - 1]
    # (b1.58 Sec. 2: 8 bits, [-127, 127]).
    activation_bits: int = 8
    # An RMSNorm inside each BitLinear, before the activation quantiser (BitNet's SubLN; the
    # b1.58 training notes put an RMSNorm in BitLinear): every quantiser then sees inputs of
    # unit RMS, including those of W^O and the FFN's second layer, which no layer norm precedes.
    bitlinear_norm: bool = True

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                2 <= self.activation_bits <= 16,
                f"activation_bits must be in [2, 16] (got {self.activation_bits})",
            ),
        ]
