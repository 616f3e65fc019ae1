"""The simple recurrent network (Elman, 1990), in PyTorch, trained by backpropagation through time.

Paper: J. L. Elman, "Finding Structure in Time", Cognitive Science 14(2), 179-211, 1990.

What is implemented: the Elman cell written from the paper's architecture (Fig. 2: the hidden
units see the input and the "context units", a copy of their own previous activations), as
h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh); the unrolled network over a whole sequence,
layer by layer, so that autograd's backward pass through it is backpropagation through time
(Werbos 1990; Elman truncated it to one step, we do not); and the three heads the experiments
need: a character language model, a sequence classifier and the adding problem's regressor.

The unrolling and the heads are shared by the recurrent models that follow (11_lstm, 12_gru):
they take a cell, any module with ``input_projection(x)`` and ``forward(gx_t, state)``, so that
an LSTM or a GRU differs from this network in its cell and nothing else. torch.nn.RNN is a test
oracle only (tests/test_rnn.py copies the weights and matches outputs and gradients).

Deliberately left out: the paper's one-step truncation of the backward pass and its 0/1 "context
units" copy-back wording (the same computation as the recurrence above); the paper's logistic
units (tanh, as PyTorch's RNN, is the same unit rescaled to (-1, 1), which centres the state).

Known outcomes, asserted in tests: the cell matches torch.nn.RNN to 1e-6 over a whole sequence,
gradients included; padding never changes a result; the loss falls on a fixed batch.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data_utils import CharCorpus, DatasetSplits, SequenceTask
from engine.steps import Mean, Perplexity, StepOutput, sample_next, token_metrics

State = Any  # a cell's state: one tensor (B, H) here, (h, c) for an LSTM
CellFactory = Callable[[int, int], nn.Module]  # (input_size, hidden_size) -> cell


def uniform_init(module: nn.Module, hidden_size: int) -> None:
    """Every weight and bias uniform in [-1/sqrt(H), 1/sqrt(H)], PyTorch's RNN/LSTM/GRU init."""
    bound = 1.0 / math.sqrt(hidden_size)
    for p in module.parameters():
        nn.init.uniform_(p, -bound, bound)


class ElmanCell(nn.Module):
    """h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh): the hidden state is its own context.

    The input term does not depend on h, so it is computed for all steps at once
    (``input_projection``); ``forward`` is the part that must run step by step.
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.ih = nn.Linear(input_size, hidden_size)  # W_ih, b_ih: input -> hidden
        self.hh = nn.Linear(hidden_size, hidden_size)  # W_hh, b_hh: context -> hidden
        uniform_init(self, hidden_size)

    def initial_state(self, batch: int, like: Tensor) -> Tensor:
        return like.new_zeros(batch, self.hidden_size)  # (B, H): the context starts at zero

    def input_projection(self, x: Tensor) -> Tensor:
        return self.ih(x)  # (B, T, I) -> (B, T, H)

    def forward(self, gx: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """One step: (B, H) projected input, (B, H) previous state -> output and new state."""
        h = torch.tanh(gx + self.hh(h))  # (B, H)
        return h, h

    @staticmethod
    def output(state: Tensor) -> Tensor:
        return state


def keep_where(mask: Tensor, new: State, old: State) -> State:
    """``new`` where mask (B, 1) is true, else ``old``: a padded step leaves the state as it was."""
    if isinstance(new, tuple):
        return tuple(keep_where(mask, n, o) for n, o in zip(new, old))
    return torch.where(mask, new, old)


class RecurrentStack(nn.Module):
    """``num_layers`` cells unrolled over time; layer l reads layer l-1's outputs.

    Layer by layer, as torch.nn.RNN computes it: a layer's input projection is one matrix product
    over all T steps, and only the recurrence runs step by step. Dropout (Zaremba et al. 2014)
    acts between layers, never on the recurrent connection. A cell may bring its own loop over a
    whole sequence, ``unroll(gx, state) -> (outputs (B, T, H), state)`` (11_lstm's, with its
    backward written out); the stack uses it when there is no mask and no ``steps`` to fill.

    Args:
        make_cell: (input_size, hidden_size) -> cell.
        input_size: Features per step I.
        hidden_size: Units per layer H.
        num_layers: Stacked layers.
        dropout: Dropout on each layer's outputs except the last.
    """

    def __init__(
        self,
        make_cell: CellFactory,
        input_size: int,
        hidden_size: int,
        num_layers: int = 1,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        assert num_layers >= 1 and 0.0 <= dropout < 1.0, "need num_layers >= 1 and 0 <= dropout < 1"
        sizes = [input_size] + [hidden_size] * (num_layers - 1)
        self.cells = nn.ModuleList(make_cell(size, hidden_size) for size in sizes)
        self.hidden_size, self.dropout = hidden_size, dropout

    def initial_state(self, batch: int, like: Tensor) -> list[State]:
        return [cell.initial_state(batch, like) for cell in self.cells]

    def forward(
        self,
        x: Tensor,
        state: list[State] | None = None,
        mask: Tensor | None = None,
        steps: list[Tensor] | None = None,
        projected: bool = False,
    ) -> tuple[Tensor, list[State]]:
        """Run the sequence through every layer.

        Args:
            x: Inputs (B, T, I); with ``projected``, layer 0's input projection (B, T, G),
                already computed by the caller (CharLM folds its embedding into it).
            state: Each layer's state before step 0 (default zeros).
            mask: (B, T) bool, False at padding: there the state is carried over unchanged and
                the output is zero, so padding never changes a result.
            steps: If given, the last layer's output at every step is appended to it, each a
                node of the graph (the gradient analysis asks autograd for dL/dh_t).
            projected: x is layer 0's input projection, not its input.

        Returns:
            The last layer's outputs (B, T, H) and every layer's final state.
        """
        batch = x.shape[0]
        state = state if state is not None else self.initial_state(batch, x)
        final = []
        layer_input = x
        for depth, (cell, s) in enumerate(zip(self.cells, state)):
            if projected and depth == 0:
                gx = x  # (B, T, G): the caller's projection
            else:
                gx = cell.input_projection(layer_input)  # (B, T, G): one product for all steps
            if getattr(cell, "bptt_by_hand", False) and mask is None and steps is None:
                layer_input, s = cell.unroll(gx, s)  # the cell's own loop (11_lstm's BPTT)
            else:
                # T of (B, G); unbind, not gx[:, t], whose backward writes a whole (B, T, G)
                # gradient per step (quadratic in T)
                outputs = []
                for gx_t in gx.unbind(1):
                    out, new = cell(gx_t, s)  # (B, H)
                    if mask is not None:
                        keep = mask[:, len(outputs), None]  # (B, 1)
                        new, out = keep_where(keep, new, s), out * keep
                    s = new
                    outputs.append(out)
                if steps is not None and depth == len(self.cells) - 1:
                    steps.extend(outputs)
                layer_input = torch.stack(outputs, dim=1)  # (B, T, H)
            if depth < len(self.cells) - 1:
                layer_input = F.dropout(layer_input, self.dropout, self.training)
            final.append(s)
        return layer_input, final


def last_output(outputs: Tensor, mask: Tensor | None) -> Tensor:
    """Each sequence's output at its last real step: (B, T, H) -> (B, H)."""
    if mask is None:
        return outputs[:, -1]
    last = mask.long().sum(1).clamp(min=1) - 1  # (B,) index of the last real step
    return outputs[torch.arange(len(outputs)), last]


# ---------------------------------------------------------------- the heads of the experiments


class CharLM(nn.Module):
    """A character language model: embedding, recurrent stack, next-character logits.

    Trained on windows of the text (TokenWindows), it reports nats and bits per character and
    the perplexity; ``sample`` generates text from the checkpoint, carrying the state.

    With ``fold_embedding`` the first layer's input projection of the embedding is read from a
    table: ih(embed(x)) = ih(E)[x], the projection of the V rows of E once, (V, G), instead of the
    B*T embedded characters (B*T, I) forward and backward. The same function of the same
    parameters, rounded differently; a quarter of a 2 x 256 LSTM's products (11_lstm).

    With ``tie_embedding`` the output layer reads the embedding: logits = h E^T + b (Press and
    Wolf 2017; GPT's tied head, models/16_gpt), so a character's input and output vectors are one
    vector; the head keeps only its bias (V,). The embedding is H wide, so the shapes agree.
    """

    def __init__(
        self,
        make_cell: CellFactory,
        chars: list[str],
        hidden_size: int,
        num_layers: int,
        dropout: float,
        temperature: float = 1.0,
        fold_embedding: bool = False,
        tie_embedding: bool = False,
    ) -> None:
        super().__init__()
        self.chars, self.temperature = list(chars), temperature
        self.fold_embedding = fold_embedding
        vocab = len(self.chars)
        self.embed = nn.Embedding(vocab, hidden_size)  # one row per character (= one-hot @ W)
        self.rnn = RecurrentStack(make_cell, hidden_size, hidden_size, num_layers, dropout)
        # Tied: only the bias is the head's own; untied: a (V, H) weight and the bias.
        self.head = None if tie_embedding else nn.Linear(hidden_size, vocab)
        self.head_bias = nn.Parameter(torch.zeros(vocab)) if tie_embedding else None
        self.dropout = dropout

    def forward(self, x: Tensor, state: list[State] | None = None) -> tuple[Tensor, list[State]]:
        """(B, T) ids -> (B, T, V) next-character logits, and the final states."""
        if self.fold_embedding:  # no dropout on the embedding, so the two are one linear map
            table = self.rnn.cells[0].input_projection(self.embed.weight)  # (V, G)
            h, state = self.rnn(F.embedding(x, table), state, projected=True)  # (B, T, H)
        else:
            h, state = self.rnn(self.embed(x), state)  # (B, T, H)
        h = F.dropout(h, self.dropout, self.training)
        if self.head is None:  # tied: the embedding's rows score the characters
            return F.linear(h, self.embed.weight, self.head_bias), state  # (B, T, V)
        return self.head(h), state

    def step(self, batch: tuple[Tensor, Tensor]) -> StepOutput:
        x, y = batch  # (B, T) ids, (B, T) next ids
        logits, _ = self(x)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())  # nats per character
        n = y.numel()
        return StepOutput(
            loss, token_metrics(loss, n), {"nats": float(loss.detach()) * n, "tokens": n}
        )

    def set_metrics(self) -> dict[str, Perplexity]:
        return {"perplexity": Perplexity()}

    @torch.no_grad()
    def sample(self, num: int, generator: torch.Generator, prompt: str = "\n") -> str:
        """``num`` characters after ``prompt``, each drawn from the predicted distribution."""
        was_training = self.training
        self.eval()
        ids = torch.tensor([[self.chars.index(ch) for ch in prompt]])  # (1, P)
        logits, state = self(ids)
        drawn = []
        for _ in range(num):
            token = sample_next(logits[:, -1], generator, self.temperature)  # (1,)
            drawn.append(int(token))
            logits, state = self(token[:, None], state)  # (1, 1, V)
        self.train(was_training)
        return "".join(self.chars[i] for i in drawn)


class SequenceClassifier(nn.Module):
    """Reads a sequence step by step and classifies it from the last state.

    MNIST-1D's 40 positions are 40 steps of one value; an image's rows are steps of W values.
    """

    def __init__(
        self,
        make_cell: CellFactory,
        input_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        num_classes: int,
    ) -> None:
        super().__init__()
        self.input_size = input_size
        self.rnn = RecurrentStack(make_cell, input_size, hidden_size, num_layers, dropout)
        self.head = nn.Linear(hidden_size, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        """(B, T) signals or (B, C, H, W) images -> (B, classes) scores."""
        x = x.reshape(len(x), -1, self.input_size)  # (B, T, I): rows of an image are steps
        outputs, _ = self.rnn(x)  # (B, T, H)
        return self.head(outputs[:, -1])


class AddingRegressor(nn.Module):
    """The adding problem: read (value, marker) pairs, predict the sum of the marked values.

    Reports the MSE (``loss``) and ``solved``, the share of sequences predicted within 0.04 of
    the target, the criterion of Hochreiter and Schmidhuber (1997, experiment 4).
    """

    TOLERANCE = 0.04

    def __init__(
        self, make_cell: CellFactory, hidden_size: int, num_layers: int, dropout: float
    ) -> None:
        super().__init__()
        self.rnn = RecurrentStack(make_cell, 2, hidden_size, num_layers, dropout)
        self.head = nn.Linear(hidden_size, 1)

    def forward(self, x: Tensor) -> Tensor:
        outputs, _ = self.rnn(x)  # (B, T, 2) -> (B, T, H)
        return self.head(outputs[:, -1]).squeeze(1)  # (B,)

    def step(self, batch: tuple[Tensor, Tensor]) -> StepOutput:
        x, y = batch  # (B, T, 2), (B,)
        prediction = self(x)
        loss = F.mse_loss(prediction, y)
        n = len(y)
        solved = float(((prediction.detach() - y).abs() < self.TOLERANCE).sum())
        metrics = {"loss": Mean(float(loss.detach()) * n, n), "solved": Mean(solved, n)}
        return StepOutput(loss, metrics, outputs=prediction.detach())


def build_network(
    config: Any,
    splits: Any,
    make_cell: CellFactory,
    fold_embedding: bool = False,
    tie_embedding: bool = False,
) -> nn.Module:
    """The head the data set asks for, around cells made by ``make_cell``.

    Text (a CharCorpus) gets a CharLM, the adding problem an AddingRegressor, labelled sequences
    (MNIST-1D, images read row by row) a SequenceClassifier. The config needs ``hidden_size``,
    ``num_layers``, ``dropout`` and ``temperature``; ``fold_embedding`` and ``tie_embedding``
    are CharLM's (the other heads have no embedding).
    """
    common = dict(
        hidden_size=config.hidden_size, num_layers=config.num_layers, dropout=config.dropout
    )
    if isinstance(splits, CharCorpus):
        return CharLM(
            make_cell,
            splits.chars,
            temperature=config.temperature,
            fold_embedding=fold_embedding,
            tie_embedding=tie_embedding,
            **common,
        )
    if isinstance(splits, SequenceTask):
        assert splits.name == "adding", f"no head for the sequence task {splits.name!r}"
        return AddingRegressor(make_cell, **common)
    assert isinstance(splits, DatasetSplits), f"no head for {type(splits).__name__}"
    shape = splits.input_shape
    input_size = 1 if len(shape) == 1 else shape[-1]  # a signal: 1 value per step; image: a row
    return SequenceClassifier(make_cell, input_size, num_classes=splits.num_classes, **common)


def create_model(config: Any, splits: Any) -> nn.Module:
    """The Elman network for the config's data set (the ModelSpec hook)."""
    return build_network(config, splits, ElmanCell)


def create_criterion(config: Any) -> Callable:
    """Cross-entropy for the classifier; the language model and the regressor define step()."""
    return F.cross_entropy
