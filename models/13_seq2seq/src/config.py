"""Configuration of the sequence-to-sequence model: the shared fields plus its own, with reasons."""

from __future__ import annotations

from dataclasses import dataclass

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class Seq2SeqConfig(BaseConfig):
    learns_by = BACKPROP
    # The paper: 4 layers of 1,000 LSTM cells and 1,000-dimensional word embeddings for
    # translation. A digit-string task with a 14-token vocabulary needs far less: one layer of
    # 256 cells holds a 30-digit string's summary as well as the setup allows (README).
    embed_size: int = 32
    hidden_size: int = 256
    num_layers: int = 1
    dropout: float = 0.0  # between layers and on the decoder's output; 0: the task has no noise
    # Sec. 3.3: reading the source backwards put the first words of the source next to the first
    # words of the target and lowered the test perplexity from 5.8 to 4.7.
    reverse_source: bool = True
    forget_bias: float = 1.0  # initial forget-gate bias (11_lstm: a fresh cell remembers)
    # Decoding in evaluation: 1 is greedy; the paper's beam of 2 gave most of the beam's gain.
    beam_size: int = 1
    # Adam with clipping rather than the paper's SGD at 0.7 halved each half epoch after 5: the
    # same budget in minutes, not days. The paper clipped the gradient norm at 5.
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
            (0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})"),
            (self.beam_size >= 1, f"beam_size must be >= 1 (got {self.beam_size})"),
            (
                self.dataset in ("reverse", "sort", "addition"),
                f"dataset must be a transduction task: reverse, sort or addition "
                f"(got {self.dataset!r})",
            ),
        ]
