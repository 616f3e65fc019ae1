"""Configuration of the Elman network: the shared fields plus the recurrent network's own.

The same four fields build every head (model.build_network): a character language model on
Tiny Shakespeare, a sequence classifier on MNIST-1D, the adding problem's regressor. The LSTM
(11_lstm) and the GRU (12_gru) take the same fields, so that their runs differ only in the cell.
"""

from __future__ import annotations

from dataclasses import dataclass

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class RNNConfig(BaseConfig):
    learns_by = BACKPROP  # backpropagation through time is autograd on the unrolled network
    # Units per recurrent layer H. Elman (1990) used 5 to 150 context units on toy grammars; 128
    # is a CPU-sized width that still learns MNIST-1D and characters (README).
    hidden_size: int = 128
    # Stacked recurrent layers; layer l reads layer l - 1's outputs (Elman: one).
    num_layers: int = 1
    # Dropout between layers and before the character head, never on the recurrent connection
    # (Zaremba et al. 2014); 0 = none, the paper's setting.
    dropout: float = 0.0
    # Sampling temperature of CharLM.sample (evaluate.py --samples): the logits are divided by
    # it; 1 samples the model's own distribution, below 1 sharpens it, 0 takes the argmax.
    temperature: float = 1.0
    # Adam at 1e-3 and clipping at norm 1: a tanh recurrence has exploding as well as vanishing
    # gradients (Pascanu et al. 2013), and clipping the global norm is their remedy.
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    grad_clip: float | None = 1.0
    batch_size: int = 64

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.hidden_size >= 1, f"hidden_size must be >= 1 (got {self.hidden_size})"),
            (self.num_layers >= 1, f"num_layers must be >= 1 (got {self.num_layers})"),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})"),
            (self.temperature >= 0, f"temperature must be >= 0 (got {self.temperature})"),
        ]
