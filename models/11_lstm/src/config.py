"""Configuration of the LSTM: the shared fields plus the network's own, with their reasons.

The fields the recurrent plumbing of models/10_rnn reads (hidden_size, num_layers, dropout,
temperature) have the Elman network's names and meanings; forget_bias is the LSTM's own.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class LSTMConfig(BaseConfig):
    learns_by = BACKPROP  # BaseConfig then requires optimizer sgd, adam or adamw
    # Memory cells per layer H (and the embedding width of the character model). The 1997
    # paper used a few cells (its adding net: 2 blocks of 2 cells); 128 to 512 is the modern
    # range, and 128 matches the Elman network of the adding comparison.
    hidden_size: int = 128
    # Stacked LSTM layers; layer l reads layer l-1's hidden states (Graves 2013, Sec. 2).
    num_layers: int = 1
    # Dropout between layers and before the output layer, never on the recurrent connection
    # (Zaremba et al. 2014); in [0, 1).
    dropout: float = 0.0
    # Sampling temperature of the character model (evaluate.py --samples): the logits are
    # divided by it; 1 samples the model's own distribution, below 1 sharpens it, 0 is argmax.
    temperature: float = 1.0
    # Initial bias of the forget gate (the sum b_ih + b_hh of its rows). 1.0 starts every cell
    # remembering (f = sigmoid(1) = 0.73): Gers et al. 2000 advise a positive bias, Jozefowicz
    # et al. 2015 found 1.0 closes most of the gap to the GRU. 0 is a plain zero start.
    forget_bias: float = 1.0
    # True: whole unmasked sequences run through the LSTM's backward pass written by hand
    # (model.py, LSTMSequence), the same numbers as autograd's (a test holds them to 1e-10 in
    # float64) in less CPU time (python src/compare.py speed). Off by default: the recorded
    # results of the other experiments were measured through autograd.
    bptt_by_hand: bool = False
    # True: the character model reads its first layer's input projection from a (V, 4H) table,
    # the projection of the embedding's V rows (rnn.CharLM, fold_embedding): the same function
    # of the same parameters, a quarter fewer multiply-adds in a 2 x 256 network's step.
    fold_embedding: bool = False
    # True: the character model's output layer is its embedding, transposed (rnn.CharLM,
    # tie_embedding; Press and Wolf 2017): the head keeps only its bias. On Tiny Shakespeare it
    # was 0.02 nats better at every validation of a 1,500-step run (README, "Weakness").
    tie_embedding: bool = False
    # Adam at 1e-3 with the global gradient norm clipped at 1: the recipe of the Elman network's
    # adding runs (models/10_rnn), so the comparison changes the cell and nothing else.
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    grad_clip: float | None = 1.0
    batch_size: int = 64
    epochs: int = 10

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.hidden_size >= 1, f"hidden_size must be >= 1 (got {self.hidden_size})"),
            (self.num_layers >= 1, f"num_layers must be >= 1 (got {self.num_layers})"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1) (got {self.dropout})"),
            (
                math.isfinite(self.temperature) and self.temperature >= 0,
                f"temperature must be >= 0 (got {self.temperature})",
            ),
            (
                math.isfinite(self.forget_bias),
                f"forget_bias must be a finite number (got {self.forget_bias})",
            ),
        ]
