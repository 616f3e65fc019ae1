"""Configuration of GPT: the shared fields plus the decoder's own, with nanoGPT's values.

The defaults are nanoGPT's character model on Tiny Shakespeare in its CPU form (the README's
"baby GPT" run: 4 layers, 4 heads, 128 wide, block 64, batch 12, 2,000 iterations, lr 1e-3, no
dropout); the block size is a data option (``data_options: {block_size: 64}``), because the
windows are the data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName, SchedulerName
from utils.registry import model_modules

# The size checks every Transformer shares (num_layers, d_model, n_heads, d_ff, dropout, Adam).
block_checks = model_modules("transformer").config.block_checks


@dataclass
class GPTConfig(BaseConfig):
    learns_by = BACKPROP
    # Transformer blocks (GPT-1: 12; nanoGPT's CPU recipe: 4; its GPU recipe: 6).
    num_layers: int = 4
    # Width of the residual stream D (GPT-1: 768; nanoGPT CPU: 128, GPU: 384).
    d_model: int = 128
    # Attention heads; d_head = d_model // n_heads (nanoGPT CPU: 4, GPU: 6).
    n_heads: int = 4
    # Hidden units of the feed-forward layer; 0 means 4 * d_model (GPT-1, Sec. 4.1).
    d_ff: int = 0
    # Dropout on attention weights, residual branches and embeddings (GPT-1: 0.1; nanoGPT's CPU
    # recipe: 0, its GPU recipe 0.2).
    dropout: float = 0.0
    # Biases in the linear layers and layer norms. GPT-2 has them; nanoGPT's train.py turns them
    # off ("a bit better and faster"), and we follow nanoGPT's recipe (here they were 0.01 nats
    # better over three seeds at the same speed: README).
    bias: bool = False
    # F.scaled_dot_product_attention instead of the hand-written softmax(QK^T / sqrt(d)) V:
    # equal up to rounding (tests/test_gpt.py); a lever of the speed study (src/levers.py).
    fused_attention: bool = False
    # Sampling (evaluate.py --samples): logits divided by temperature (0: argmax); top_k keeps
    # the k most likely characters (0: all), as nanoGPT's sample.py.
    temperature: float = 1.0
    top_k: int = 0
    # AdamW (Loshchilov & Hutter 2019) with nanoGPT's shakespeare_char values: beta2 0.99 rather
    # than 0.999 "because the number of tokens per iteration is small"; weight decay 0.1 on the
    # matrices only (weights of linear layers and embeddings, not biases or layer norms).
    optimizer: OptimizerName = "adamw"
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.99
    weight_decay: float = 0.1
    grad_clip: float | None = 1.0
    batch_size: int = 12
    # Warm-up 100 steps, cosine decay to min_lr 1e-4 = 0.1 * lr at step 2,000: nanoGPT's
    # schedule, stepped every optimizer step by the engine.
    scheduler: SchedulerName = "warmup_cosine"
    warmup_steps: int = 100
    min_lr_ratio: float = 0.1
    # The last 10% of the text is validation, nanoGPT's split (the engine's default is 15%).
    val_fraction: float = 0.1
    monitor: str = "val_loss"
    monitor_mode: Literal["max", "min"] = "min"

    def checks(self) -> list[tuple[bool, str]]:
        return (
            super().checks()
            + block_checks(self)
            + [
                (
                    math.isfinite(self.temperature) and self.temperature >= 0,
                    f"temperature must be >= 0 (got {self.temperature})",
                ),
                (self.top_k >= 0, f"top_k must be >= 0 (0: every character) (got {self.top_k})"),
            ]
        )
