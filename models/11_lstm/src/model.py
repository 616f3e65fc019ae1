"""Long short-term memory (Hochreiter & Schmidhuber, 1997), with the forget gate of Gers et al.

Papers: S. Hochreiter and J. Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8),
1735-1780, 1997; F. A. Gers, J. Schmidhuber and F. Cummins, "Learning to Forget: Continual
Prediction with LSTM", Neural Computation 12(10), 2451-2471, 2000.

What is implemented: the LSTM cell, written by hand, in the form every library now uses:

    i = sigmoid(W_ii x + b_ii + W_hi h + b_hi)     input gate          (1997)
    f = sigmoid(W_if x + b_if + W_hf h + b_hf)     forget gate         (Gers et al. 2000)
    g = tanh(W_ig x + b_ig + W_hg h + b_hg)        cell input          (1997)
    o = sigmoid(W_io x + b_io + W_ho h + b_ho)     output gate         (1997)
    c_t = f * c_{t-1} + i * g                      the memory cell
    h_t = o * tanh(c_t)                            what the cell shows

From 1997: the memory cell whose state is carried by a self-connection of weight 1, the
"constant error carousel" (Sec. 4): with f = 1, dc_t/dc_{t-1} = 1, so an error signal flows
back through any number of steps neither shrinking nor growing, where the Elman network's
dh_t/dh_{t-1} = diag(1 - h_t^2) W_hh makes it vanish or explode geometrically; and the
multiplicative input and output gates that decide what enters the carousel and what of it the
rest of the network sees. From Gers et al. 2000: the forget gate f, which lets the cell reset
its own state (in 1997 the carousel's weight was fixed at 1, and the state of a cell could only
grow over a long stream). The forget gate's bias starts at ``forget_bias`` (config, 1.0), so a
fresh cell remembers: Gers et al. 2000 advise a positive bias, Jozefowicz et al. 2015 measured
the gain.

The four gates are one (4H, I) and one (4H, H) matrix with the rows in PyTorch's order (i, f,
g, o), so the weights copy one to one into torch.nn.LSTM; torch.nn.LSTM is a test oracle only.
The unrolling over time, the stacking of layers and the three heads (character model, sequence
classifier, adding regressor) are the Elman network's (models/10_rnn/src/model.py), given this
cell: an LSTM differs from the simple recurrent network in its cell and nothing else.

Deliberately left out: the 1997 paper's truncated gradient (errors were cut where they left a
cell; we backpropagate through time in full, as every modern implementation does); its memory
blocks of several cells sharing gates (one cell per gate set here, as in PyTorch); peephole
connections (Gers & Schmidhuber 2000; Greff et al. 2017 found them of no consistent use);
input and output squashing functions of range other than tanh's.

Known outcomes, asserted in tests: a two-layer stack matches torch.nn.LSTM to 1e-6 in float64
over a whole sequence (outputs, final h and c, gradients); padding never changes a result; the
loss falls on a fixed batch; the forget gate's bias starts at forget_bias.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.registry import model_modules

rnn = model_modules("rnn").model  # RecurrentStack, the heads and build_network: shared plumbing


class LSTMCell(nn.Module):
    """One LSTM layer's step: gates, memory cell and output, in PyTorch's gate order (i, f, g, o).

    The input term of all four gates does not depend on the state, so it is one matrix product
    over all steps (``input_projection``); ``forward`` is the part that must run step by step.

    Args:
        input_size: Features per step I.
        hidden_size: Memory cells H.
        forget_bias: Initial bias of the forget gate (b_if + b_hf).
    """

    def __init__(self, input_size: int, hidden_size: int, forget_bias: float = 1.0) -> None:
        super().__init__()
        assert input_size >= 1 and hidden_size >= 1, "input_size and hidden_size must be >= 1"
        self.hidden_size, self.forget_bias = hidden_size, forget_bias
        self.ih = nn.Linear(input_size, 4 * hidden_size)  # W_ih, b_ih: rows i, f, g, o
        self.hh = nn.Linear(hidden_size, 4 * hidden_size)  # W_hh, b_hh: rows i, f, g, o
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's LSTM init (uniform in +-1/sqrt(H)), then the forget gate's bias."""
        rnn.uniform_init(self, self.hidden_size)
        forget = slice(self.hidden_size, 2 * self.hidden_size)  # the f rows of (i, f, g, o)
        with torch.no_grad():  # b_if + b_hf = forget_bias: a fresh cell keeps its state
            self.ih.bias[forget].fill_(self.forget_bias)
            self.hh.bias[forget].zero_()

    def initial_state(self, batch: int, like: Tensor) -> tuple[Tensor, Tensor]:
        zeros = like.new_zeros(batch, self.hidden_size)  # (B, H)
        return zeros, zeros  # h_0 = c_0 = 0: an empty carousel

    def input_projection(self, x: Tensor) -> Tensor:
        return self.ih(x)  # (B, T, I) -> (B, T, 4H)

    def forward(
        self, gx: Tensor, state: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """One step: (B, 4H) projected input, previous (h, c) -> h_t and the new (h_t, c_t)."""
        h, c = state  # (B, H) each
        gates = gx + self.hh(h)  # (B, 4H): all four pre-activations in one product
        i, f, g, o = gates.chunk(4, dim=1)  # (B, H) each, PyTorch's order
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        g = torch.tanh(g)
        c = f * c + i * g  # the carousel: f = 1, i = 0 carries c (and its gradient) unchanged
        h = o * torch.tanh(c)  # (B, H): the output gate decides what the network sees
        return h, (h, c)

    @staticmethod
    def output(state: tuple[Tensor, Tensor]) -> Tensor:
        return state[0]


def lstm_cells(forget_bias: float) -> Callable[[int, int], LSTMCell]:
    """The cell factory the recurrent stack takes: (input_size, hidden_size) -> LSTMCell."""
    return partial(LSTMCell, forget_bias=forget_bias)


def create_model(config: Any, splits: Any) -> nn.Module:
    """The LSTM network for the config's data set (the ModelSpec hook): the Elman network's head
    for that data (character model, adding regressor or sequence classifier) around LSTM cells."""
    return rnn.build_network(config, splits, lstm_cells(config.forget_bias))


def create_criterion(config: Any) -> Callable:
    """Cross-entropy for the classifier; the language model and the regressor define step()."""
    return F.cross_entropy
