"""Configuration of the Transformer: the shared fields plus its own, with reasons.

The task, its split and the budget (epochs, batch size) are 13_seq2seq's and 14_attention's,
so that the side-by-side compares the models, not their recipes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from data_utils.sequences import TASKS
from utils.config import BACKPROP, BaseConfig, OptimizerName, SchedulerName


def block_checks(config: Any) -> list[tuple[bool, str]]:
    """The checks of the size fields every Transformer of the project shares (15, 16, 17, 18):
    ``num_layers``, ``d_model``, ``n_heads``, ``d_ff`` (0: 4 * d_model, the paper's ratio) and
    ``dropout``, and the Adam family their recipes are written for (``beta1``, ``beta2`` when
    the config has them)."""
    c = config
    checks = [
        (c.num_layers >= 1, f"num_layers must be >= 1 (got {c.num_layers})"),
        (c.n_heads >= 1, f"n_heads must be >= 1 (got {c.n_heads})"),
        (
            c.n_heads >= 1 and c.d_model % c.n_heads == 0,
            f"d_model ({c.d_model}) must be a multiple of n_heads ({c.n_heads})",
        ),
        (c.d_ff >= 0, f"d_ff must be >= 0 (0: 4 * d_model) (got {c.d_ff})"),
        (0.0 <= c.dropout < 1.0, f"dropout must be in [0, 1) (got {c.dropout})"),
        (
            c.optimizer in ("adam", "adamw"),
            f"a Transformer is trained with adam or adamw here (got {c.optimizer!r})",
        ),
    ]
    for beta in ("beta1", "beta2"):
        if hasattr(c, beta):
            value = getattr(c, beta)
            checks.append((0.0 <= value < 1.0, f"{beta} must be in [0, 1) (got {value})"))
    return checks


@dataclass
class TransformerConfig(BaseConfig):
    """The base model of the paper (Table 3) scaled down to a 14-token vocabulary and strings
    of 30 digits: N = 6 -> 2, d_model = 512 -> 64, h = 8 -> 4, d_ff = 2048 -> 256 (4 d_model,
    and d_k = d_model / h, as in the paper)."""

    learns_by = BACKPROP
    num_layers: int = 2  # blocks N of the encoder and of the decoder each
    d_model: int = 64
    n_heads: int = 4
    d_ff: int = 256  # 0 means 4 * d_model
    dropout: float = 0.0  # the paper: 0.1 (Sec. 5.4); the task has no noise to overfit
    # F.scaled_dot_product_attention instead of the hand-written eq. 1 (tests: the same numbers).
    fused_attention: bool = False
    beam_size: int = 1  # decoding in evaluation: 1 is greedy
    # The paper's eq. 3 (a linear warm-up, then lr ~ 1/sqrt(step)) is the engine's
    # "warmup_inverse_sqrt", lr its peak. On this task's short budget (1,252 steps) a cosine
    # decay to 0 after the same warm-up ends better (README, "The idea"). The paper's Adam has
    # beta2 0.98; the engine's keeps 0.999.
    optimizer: OptimizerName = "adam"
    lr: float = 2e-3  # the peak, reached at the end of the warm-up (13 and 14: Adam at 2e-3)
    scheduler: SchedulerName = "warmup_cosine"
    warmup_steps: int = 100
    grad_clip: float | None = 1.0
    batch_size: int = 64  # the paper: batches of about 25,000 source and target tokens
    epochs: int = 10
    standardize: bool = False  # token ids, not features
    monitor: str = "val_exact_match"

    def checks(self) -> list[tuple[bool, str]]:
        return (
            super().checks()
            + block_checks(self)
            + [
                (self.d_model >= 2, f"d_model must be >= 2 (got {self.d_model})"),
                (
                    self.d_model % 2 == 0,
                    f"d_model must be even (sine/cosine pairs; got {self.d_model})",
                ),
                (self.beam_size >= 1, f"beam_size must be >= 1 (got {self.beam_size})"),
                (
                    self.dataset in TASKS,
                    f"dataset must be a transduction task, one of {TASKS} (got {self.dataset!r})",
                ),
            ]
        )
