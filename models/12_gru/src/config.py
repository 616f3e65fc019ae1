"""Configuration of the gated recurrent unit: the shared fields plus the network's own."""

from __future__ import annotations

from dataclasses import dataclass

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class GRUConfig(BaseConfig):
    learns_by = BACKPROP  # BaseConfig then requires optimizer sgd, adam or adamw
    # Units per layer H. Cho et al. (2014) use 1000 in the RNN Encoder-Decoder; 128 is a CPU size
    # that reads MNIST-1D's 40 steps well (README). The gates triple the weights of an Elman layer
    # of the same H: 3 (I H + H H + 2 H) per layer, against 4 (...) for an LSTM.
    hidden_size: int = 128
    num_layers: int = 1  # stacked GRU layers; layer l reads layer l-1's outputs
    # Dropout between stacked layers and before the language model's output layer (Zaremba et
    # al. 2014), never on the recurrent connection; 0 = none, as in the paper.
    dropout: float = 0.0
    # Where the reset gate acts on the candidate state (README, "The idea"). False is the paper's
    # eq. 8, h~ = tanh(W x + U (r * h)): the reset gate scales the previous state before the
    # recurrent product. True is the form of cuDNN and torch.nn.GRU, h~ = tanh(W x + r * (U h +
    # b)): one fused product for all three gates per step. The default is the paper's, since
    # this folder tells the paper's story; true matches torch.nn.GRU weight for weight (tests).
    reset_after: bool = False
    # Softmax temperature when the character language model samples text (evaluate.py
    # --samples): below 1 sharpens the distribution, 0 takes the most likely character.
    temperature: float = 1.0
    # Adam, lr 1e-3 and batches of 64: the usual recipe for small recurrent nets (the MNIST-1D
    # paper's GRU is trained with Adam); Cho et al. used Adadelta on translation. Gradients are
    # clipped to norm 1, as recurrent nets need against occasional gradient spikes (Pascanu et
    # al. 2013).
    optimizer: OptimizerName = "adam"
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 20
    grad_clip: float | None = 1.0

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (self.hidden_size >= 1, f"hidden_size must be >= 1 (got {self.hidden_size})"),
            (self.num_layers >= 1, f"num_layers must be >= 1 (got {self.num_layers})"),
            (0.0 <= self.dropout < 1.0, f"dropout must be in [0, 1) (got {self.dropout})"),
            (self.temperature >= 0, f"temperature must be >= 0 (got {self.temperature})"),
        ]
