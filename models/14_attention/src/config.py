"""Configuration of the attention encoder-decoder: the shared fields plus its own, with reasons.

Every field that 13_seq2seq also has keeps its value there, so that the side-by-side compares
the models, not their recipes.
"""

from __future__ import annotations

from dataclasses import dataclass

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class AttentionConfig(BaseConfig):
    learns_by = BACKPROP
    # As 13_seq2seq: a 14-token vocabulary and 30-digit strings need far less than the paper's
    # 1,000 units. Each direction of the encoder has hidden_size cells.
    embed_size: int = 32
    hidden_size: int = 256
    num_layers: int = 1
    # Hidden size of the alignment model (the paper: 1,000, as its states).
    attention_size: int = 128
    dropout: float = 0.0
    forget_bias: float = 1.0  # initial forget-gate bias (11_lstm: a fresh cell remembers)
    beam_size: int = 1  # decoding in evaluation: 1 is greedy
    # The same optimiser as 13_seq2seq (the paper: Adadelta, minibatches of 80, 5 days).
    optimizer: OptimizerName = "adam"
    lr: float = 2e-3
    grad_clip: float | None = 5.0
    batch_size: int = 64
    epochs: int = 10
    monitor: str = "val_exact_match"
    standardize: bool = False  # token ids, not features

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.embed_size >= 1, f"embed_size must be >= 1 (got {self.embed_size})"),
            (self.hidden_size >= 1, f"hidden_size must be >= 1 (got {self.hidden_size})"),
            (self.num_layers >= 1, f"num_layers must be >= 1 (got {self.num_layers})"),
            (self.attention_size >= 1, f"attention_size must be >= 1 (got {self.attention_size})"),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})"),
            (self.beam_size >= 1, f"beam_size must be >= 1 (got {self.beam_size})"),
            (
                self.dataset in ("reverse", "sort", "addition"),
                f"dataset must be a transduction task: reverse, sort or addition "
                f"(got {self.dataset!r})",
            ),
        ]
