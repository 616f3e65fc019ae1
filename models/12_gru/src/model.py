"""The gated recurrent unit (Cho et al., 2014), in PyTorch, trained by backpropagation through time.

Paper: K. Cho, B. van Merrienboer, C. Gulcehre, D. Bahdanau, F. Bougares, H. Schwenk and
Y. Bengio, "Learning Phrase Representations using RNN Encoder-Decoder for Statistical Machine
Translation", EMNLP 2014 (arXiv:1406.1078), Sec. 2.3 "Hidden Unit that Adaptively Remembers and
Forgets", eq. 5-8. The name "gated recurrent unit" is from Chung et al. (2014, arXiv:1412.3555).

What is implemented: the GRU cell, the paper's idea, with its two gates (eq. 5-8):

    r = sigmoid(W_r x + U_r h_{t-1})              reset gate, eq. 5
    z = sigmoid(W_z x + U_z h_{t-1})              update gate, eq. 6
    h~ = tanh(W x + U (r * h_{t-1}))              candidate, eq. 8: reset BEFORE the product
    h_t = z * h_{t-1} + (1 - z) * h~              eq. 7: z = 1 keeps the old state

with biases on every product, as PyTorch has them (the paper omits them "to make the equations
uncluttered"). ``reset_after=True`` gives the variant of cuDNN and torch.nn.GRU, which applies
the reset gate after the recurrent product, h~ = tanh(W x + b + r * (U h_{t-1} + b_U)): the
three gates then share one matrix product per step. Both forms have the same weights, stored in
PyTorch's layout (gates in the order r, z, n, stacked on the rows), so a trained cell copies
into torch.nn.GRU. The unrolling over time and the heads (sequence classifier, character
language model, adding-problem regressor) are the Elman network's (models/10_rnn), shared by the
recurrent models: a GRU differs from that network in its cell and nothing else.

Deliberately left out: the RNN Encoder-Decoder and the phrase scoring of the paper (a sequence
to sequence model is models/13); Adadelta and the paper's initialisation (weights from
N(0, 0.01), orthogonal recurrent weights), replaced by Adam and PyTorch's uniform initialisation
in [-1/sqrt(H), 1/sqrt(H)], so that the weights copy into torch.nn.GRU and the LSTM and Elman
models start alike.

Known outcomes, asserted in tests: with ``reset_after`` the network matches torch.nn.GRU to
1e-6 (two layers, float64, outputs, final state and gradients); the paper's form matches eq. 5-8
computed step by step; padding never changes a result; the loss falls on a fixed batch.
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F
from config import GRUConfig
from torch import Tensor, nn

from utils.registry import model_modules

rnn = model_modules("rnn").model  # the shared unrolling and heads (models/10_rnn/src/model.py)


class GRUCell(nn.Module):
    """One GRU layer's step: two gates decide how much of the state to reset and to keep.

    The input terms W x of all three blocks do not depend on h, so they are computed for all
    steps at once (``input_projection``); ``forward`` is the part that must run step by step.

    Args:
        input_size: Features per step I.
        hidden_size: Units H.
        reset_after: False is the paper's eq. 8 (reset, then the recurrent product); True is
            torch.nn.GRU's (the product, then reset).
    """

    def __init__(self, input_size: int, hidden_size: int, reset_after: bool = False) -> None:
        super().__init__()
        self.hidden_size, self.reset_after = hidden_size, reset_after
        self.ih = nn.Linear(input_size, 3 * hidden_size)  # [W_r; W_z; W], biases: input terms
        self.hh = nn.Linear(hidden_size, 3 * hidden_size)  # [U_r; U_z; U], biases: state terms
        rnn.uniform_init(self, hidden_size)

    def initial_state(self, batch: int, like: Tensor) -> Tensor:
        return like.new_zeros(batch, self.hidden_size)  # (B, H): h_0 = 0

    def input_projection(self, x: Tensor) -> Tensor:
        return self.ih(x)  # (B, T, I) -> (B, T, 3H): W_r x, W_z x, W x for every step

    def gates(self, gx: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """Reset gate r, update gate z and candidate h~, each (B, H), from W x (B, 3H) and h."""
        H = self.hidden_size
        xr, xz, xn = gx.split(H, dim=1)  # (B, 3H) -> 3 x (B, H)
        if self.reset_after:
            hr, hz, hn = self.hh(h).split(H, dim=1)  # one product for the three blocks
            r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)  # eq. 5, 6
            return r, z, torch.tanh(xn + r * hn)  # cuDNN: r scales U h + b_U
        weight, bias = self.hh.weight, self.hh.bias  # (3H, H), (3H,)
        hr, hz = F.linear(h, weight[: 2 * H], bias[: 2 * H]).split(H, dim=1)  # U_r h, U_z h
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)  # eq. 5, 6
        return r, z, torch.tanh(xn + F.linear(r * h, weight[2 * H :], bias[2 * H :]))  # eq. 8

    def forward(self, gx: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """One step: (B, 3H) projected input, (B, H) previous state -> output and new state."""
        _, z, candidate = self.gates(gx, h)
        h = z * h + (1 - z) * candidate  # (B, H), eq. 7: each unit keeps or replaces its value
        return h, h

    @staticmethod
    def output(state: Tensor) -> Tensor:
        return state


def cell_factory(reset_after: bool) -> Callable[[int, int], GRUCell]:
    """(input_size, hidden_size) -> GRUCell of the chosen form, for the shared RecurrentStack."""

    def make_cell(input_size: int, hidden_size: int) -> GRUCell:
        return GRUCell(input_size, hidden_size, reset_after)

    return make_cell


def create_model(config: GRUConfig, splits) -> nn.Module:
    """The GRU network for the config's data set (the ModelSpec hook).

    A classifier for labelled sequences (MNIST-1D), a character language model for text, a
    regressor for the adding problem: the heads of models/10_rnn around GRU cells.
    """
    return rnn.build_network(config, splits, cell_factory(config.reset_after))


def create_criterion(config: GRUConfig) -> Callable:
    """Cross-entropy for the classifier; the language model and the regressor define step()."""
    return F.cross_entropy
