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

Backpropagation through time written out (``LSTMSequence``, with ``bptt_by_hand``): over a
whole unmasked sequence the cell runs its own loop, forward without a graph (one matrix product
and seven in-place elementwise ops a step into preallocated tensors) and backward by the chain
rule through the equations above (the derivation is in ``LSTMSequence.backward``; every factor
that does not depend on the incoming gradient is computed for all steps at once before the
loop), with the recurrent weight's gradient one matrix product over all steps, as cuDNN does.
With the character model's embedding folded into the first projection (``fold_embedding``,
models/10_rnn's CharLM) a training step of the ``shakespeare`` network takes about three
quarters of autograd's CPU time (``python src/compare.py speed``); the rest is the matrix
products, which no rewriting of the same equations removes. The ``shakespeare`` experiment
uses both; the other experiments keep autograd's path (the default), the one their recorded
results were measured with.

Known outcomes, asserted in tests: a two-layer stack matches torch.nn.LSTM to 1e-6 in float64
over a whole sequence (outputs, final h and c, gradients); padding never changes a result; the
loss falls on a fixed batch; the forget gate's bias starts at forget_bias; the hand-written
backward passes gradcheck and equals autograd's.
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from utils.registry import model_modules

rnn = model_modules("rnn").model  # RecurrentStack, the heads and build_network: shared plumbing


class LSTMSequence(torch.autograd.Function):
    """One LSTM layer over a whole sequence, its backward pass written by hand.

    Inputs: gx (T, B, 4H), the input term of the gates with both biases; w_hh (4H, H); the
    state (h0, c0) before step 0, (B, H) each. Outputs: h_1..h_T (T, B, H), h_T and c_T.
    """

    @staticmethod
    def forward(ctx: Any, gx: Tensor, w_hh: Tensor, h0: Tensor, c0: Tensor) -> tuple:
        steps, batch, width = gx.shape
        size = width // 4
        w_t = w_hh.t()  # (H, 4H), a view
        hs = gx.new_empty(steps + 1, batch, size)  # h_0..h_T
        cs = gx.new_empty(steps + 1, batch, size)  # c_0..c_T
        gates = torch.empty_like(gx)  # i, f, g, o after their squashing: (T, B, 4H)
        hs[0], cs[0] = h0, c0
        for t in range(steps):  # one product and seven in-place elementwise ops per step
            a = torch.addmm(gx[t], hs[t], w_t, out=gates[t])  # (B, 4H) pre-activations
            i, f, g, o = a.chunk(4, dim=1)  # views of gates[t]: squashed in place
            a[:, : 2 * size].sigmoid_()  # i, f
            g.tanh_()
            o.sigmoid_()
            torch.mul(f, cs[t], out=cs[t + 1]).addcmul_(i, g)  # c_t = f c_{t-1} + i g
            torch.tanh(cs[t + 1], out=hs[t + 1]).mul_(o)  # h_t = o tanh(c_t)
        ctx.save_for_backward(w_hh, hs, cs, gates)
        return hs[1:], hs[steps], cs[steps]

    @staticmethod
    def backward(ctx: Any, d_out: Tensor, d_h_last: Tensor, d_c_last: Tensor) -> tuple:
        """From the last step back to the first; dh and dc carry what flows into step t-1.

        At step t, with dh = dL/dh_t (from above and from step t+1) and dc = dL/dc_t:
            dc += dh * o * (1 - tanh(c_t)^2)              through h_t = o tanh(c_t)
            do = dh * tanh(c_t),  di = dc * g,  dg = dc * i,  df = dc * c_{t-1}
            pre-activations: times s(1 - s) for the sigmoids, (1 - g^2) for tanh
            dc_{t-1} = dc * f                             the carousel: f = 1 passes it whole
            dh_{t-1} = d(pre-activations) W_hh
        and dW_hh = sum over t of d(pre-activations)_t^T h_{t-1}, one product at the end.
        Every factor that does not depend on dh or dc (the slopes of the squashing functions,
        o (1 - tanh(c)^2), the (g, c_{t-1}, i) that dc is spread over) is computed for all steps
        at once before the loop, so a step is one product and six elementwise ops.
        """
        w_hh, hs, cs, gates = ctx.saved_tensors
        steps, batch, width = gates.shape
        size = width // 4
        squashed = gates.view(steps, batch, 4, size)  # (T, B, 4, H): i, f, g, o
        i, f, g, o = squashed.unbind(2)  # (T, B, H) views
        tanh_c = torch.tanh(cs[1:])  # (T, B, H)
        slope = squashed * (1 - squashed)  # s (1 - s): right for i, f and o
        slope[:, :, 2] = 1 - g * g  # tanh's slope for g
        through_h = o * (1 - tanh_c * tanh_c)  # dc_t / dh_t: (T, B, H)
        spread = torch.stack((g, cs[:-1], i), dim=2)  # di, df, dg = dc * these: (T, B, 3, H)
        d_gates = torch.empty_like(squashed)  # dL/d(pre-activations): (T, B, 4, H)
        dh, dc = d_h_last.clone(), d_c_last.clone()
        for t in range(steps - 1, -1, -1):
            dh = dh + d_out[t]  # (B, H)
            dc.addcmul_(dh, through_h[t])
            torch.mul(dc.unsqueeze(1), spread[t], out=d_gates[t, :, :3])  # di, df, dg
            torch.mul(dh, tanh_c[t], out=d_gates[t, :, 3])  # do
            d_gates[t].mul_(slope[t])  # through the squashing functions
            dc.mul_(f[t])  # the carousel
            dh = d_gates[t].view(batch, width) @ w_hh  # (B, 4H) @ (4H, H)
        flat = d_gates.view(steps * batch, width)  # (T*B, 4H)
        d_w_hh = flat.t() @ hs[:-1].reshape(steps * batch, -1)  # (4H, H)
        return d_gates.view(steps, batch, width), d_w_hh, dh, dc


class LSTMCell(nn.Module):
    """One LSTM layer's step: gates, memory cell and output, in PyTorch's gate order (i, f, g, o).

    The input term of all four gates does not depend on the state, so it is one matrix product
    over all steps (``input_projection``); ``forward`` is the part that must run step by step.

    Args:
        input_size: Features per step I.
        hidden_size: Memory cells H.
        forget_bias: Initial bias of the forget gate (b_if + b_hf).
        bptt_by_hand: Run whole unmasked sequences through ``LSTMSequence`` (``unroll``).
    """

    def __init__(
        self,
        input_size: int,
        hidden_size: int,
        forget_bias: float = 1.0,
        bptt_by_hand: bool = False,
    ) -> None:
        super().__init__()
        assert input_size >= 1 and hidden_size >= 1, "input_size and hidden_size must be >= 1"
        self.hidden_size, self.forget_bias, self.bptt_by_hand = (
            hidden_size,
            forget_bias,
            bptt_by_hand,
        )
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

    def unroll(
        self, gx: Tensor, state: tuple[Tensor, Tensor]
    ) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        """A whole sequence: (B, T, 4H) projected input -> outputs (B, T, H) and final (h, c)."""
        gx = (gx + self.hh.bias).transpose(0, 1).contiguous()  # (T, B, 4H), b_hh folded in
        outputs, h, c = LSTMSequence.apply(gx, self.hh.weight, *state)
        return outputs.transpose(0, 1), (h, c)

    @staticmethod
    def output(state: tuple[Tensor, Tensor]) -> Tensor:
        return state[0]


def lstm_cells(forget_bias: float, bptt_by_hand: bool = False) -> Callable[[int, int], LSTMCell]:
    """The cell factory the recurrent stack takes: (input_size, hidden_size) -> LSTMCell."""
    return partial(LSTMCell, forget_bias=forget_bias, bptt_by_hand=bptt_by_hand)


def create_model(config: Any, splits: Any) -> nn.Module:
    """The LSTM network for the config's data set (the ModelSpec hook): the Elman network's head
    for that data (character model, adding regressor or sequence classifier) around LSTM cells."""
    cells = lstm_cells(config.forget_bias, config.bptt_by_hand)
    return rnn.build_network(
        config,
        splits,
        cells,
        fold_embedding=config.fold_embedding,
        tie_embedding=config.tie_embedding,
    )


def create_criterion(config: Any) -> Callable:
    """Cross-entropy for the classifier; the language model and the regressor define step()."""
    return F.cross_entropy
