"""Configuration of the GCN and of its feature-only baseline: the shared fields plus their own.

The defaults are the paper's recipe for the citation graphs (Kipf and Welling 2017, Sec. 5.2): two
layers, 16 hidden units, dropout 0.5 on every layer's input, L2 regularisation 5e-4 on the first
layer's weights only, Adam with rate 0.01, at most 200 epochs, early stopping with a window of 10
epochs on the validation loss, row-normalised bag-of-words features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName


@dataclass
class GCNConfig(BaseConfig):
    learns_by = BACKPROP
    # "gcn": every layer multiplies by the renormalised adjacency (eq. 2); "mlp": the same
    # layers with the identity in its place, so each node is classified from its own features
    # alone (the baseline that shows what the graph adds).
    kind: Literal["gcn", "mlp"] = "gcn"
    # Widths of the hidden layers, input side first; the network has len + 1 layers (the paper:
    # one of 16; the depth study repeats 16).
    hidden_sizes: list[int] = field(default_factory=lambda: [16])
    # Nonlinearity after every layer but the last (the paper: ReLU; the karate demo: tanh).
    activation: Literal["relu", "tanh"] = "relu"
    # Dropout probability on the input of every layer, features included (Sec. 5.2: 0.5).
    dropout: float = 0.5
    # A bias per layer (the paper's code has none by default).
    bias: bool = False
    # weight_decay is applied to the first layer's weight matrix only (Sec. 5.2: 5e-4), as an
    # L2 term 5e-4 / 2 * ||W0||^2 added to the loss: Adam's coupled decay is its gradient.
    weight_decay: float = 5e-4
    optimizer: OptimizerName = "adam"
    lr: float = 0.01
    epochs: int = 200
    # Sec. 5.2: stop when the validation loss has not improved for 10 epochs (the window).
    early_stopping_patience: int | None = 10
    monitor: str = "val_loss"
    monitor_mode: Literal["max", "min"] = "min"
    # A batch is the whole graph; the number is not used (GraphData.loaders).
    batch_size: int = 1
    # The features are row-normalised by the loader (normalize_features), not standardised.
    standardize: bool = False
    audit_every: int = 20
    dataset: str = "cora"

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [
            (
                all(h >= 1 for h in self.hidden_sizes),
                f"hidden_sizes must all be >= 1 (got {self.hidden_sizes})",
            ),
            (0 <= self.dropout < 1, f"dropout must be in [0, 1) (got {self.dropout})"),
            (
                self.dataset in ("cora", "citeseer", "karate"),
                f"dataset must be a graph: cora, citeseer or karate (got {self.dataset!r})",
            ),
            (
                not self.standardize,
                "standardize must be false: a graph's features are row-normalised by its loader",
            ),
        ]
