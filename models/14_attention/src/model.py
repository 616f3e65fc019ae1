"""Neural machine translation by jointly learning to align and translate (Bahdanau et al., 2014).

Paper: D. Bahdanau, K. Cho and Y. Bengio, "Neural Machine Translation by Jointly Learning to Align
and Translate", ICLR 2015 (arXiv 1409.0473, 2014).

What is implemented: the paper's answer to the fixed-size summary of 13_seq2seq. The encoder is
bidirectional (Sec. 3.2): a forward and a backward recurrent stack read the source, and each
position j gets an annotation h_j = [forward h_j; backward h_j] that summarises the source around
j. At every output step the decoder scores each annotation against its previous state with the
additive alignment model (eq. 6, Appendix A.1.2)

    e_tj = v_a^T tanh(W_a s_{t-1} + U_a h_j),  alpha_tj = softmax_j(e_tj),  c_t = sum_j alpha_tj h_j

and reads the context c_t together with the previous output token (eq. 4: s_t = f(s_{t-1},
y_{t-1}, c_t)); the next-token logits see s_t, c_t and y_{t-1} (the deep output of A.2.2, without
its maxout). Padding never receives attention (its scores are -inf before the softmax). The
decoder state starts from the backward encoder's first annotation (A.2.2: s_0 = tanh(W_s h_1)).

Everything else is 13_seq2seq's (13_seq2seq/src/model.py): the training step, the metrics, greedy
decoding and beam search, through the same two methods, ``encode`` and ``decode_logits``; the
recurrent cells are 11_lstm's (the same cell as 13, so the side-by-side isolates attention; the
paper used gated units that 12_gru later named).

Deliberately left out: the paper's scale (1,000 units, 30,000 words, sentences up to 50 words)
and its maxout output layer.

Known outcomes, asserted in tests: attention weights are a distribution over the real source
positions; padding never changes a result; decoding is the seq2seq model's (greedy = beam of 1).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data_utils.sequences import PAD
from utils.registry import model_modules

rnn = model_modules("rnn").model  # RecurrentStack
lstm = model_modules("lstm").model  # the LSTM cell
seq2seq = model_modules("seq2seq").model  # the encoder-decoder: step, metrics, decoding


def reverse_padded(x: Tensor, mask: Tensor) -> Tensor:
    """Each row's real positions in reverse order, padding kept at the end: (B, S, ...) alike."""
    lengths = mask.sum(1, keepdim=True)  # (B, 1)
    positions = torch.arange(x.shape[1], device=x.device)  # (S,)
    index = (lengths - 1 - positions).clamp(min=0)  # (B, S)
    index = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
    reversed_x = x.gather(1, index)
    keep = (positions < lengths).view(*index.shape[:2], *([1] * (x.dim() - 2)))
    return torch.where(keep, reversed_x, torch.zeros_like(x))


class AdditiveAttention(nn.Module):
    """e_j = v^T tanh(W q + U k_j) over the source positions (eq. 6), masked softmax, context.

    Args:
        query_size: Size of the decoder state s_{t-1}.
        key_size: Size of an annotation h_j.
        attention_size: Size of the hidden layer of the alignment model.
    """

    def __init__(self, query_size: int, key_size: int, attention_size: int) -> None:
        super().__init__()
        self.W = nn.Linear(query_size, attention_size, bias=False)  # W_a
        self.U = nn.Linear(key_size, attention_size)  # U_a (with the model's one bias)
        self.v = nn.Linear(attention_size, 1, bias=False)  # v_a

    def project_keys(self, annotations: Tensor) -> Tensor:
        """U_a h_j for every j, once per source: (B, S, 2H) -> (B, S, A)."""
        return self.U(annotations)

    def forward(
        self, query: Tensor, keys: Tensor, annotations: Tensor, mask: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(B, Hq) state, (B, S, A) projected keys, (B, S, 2H) annotations, (B, S) mask ->
        the context (B, 2H) and the weights alpha (B, S)."""
        energy = self.v(torch.tanh(keys + self.W(query)[:, None])).squeeze(2)  # (B, S)
        alpha = energy.masked_fill(~mask, -float("inf")).softmax(dim=1)  # (B, S)
        context = torch.bmm(alpha[:, None], annotations).squeeze(1)  # (B, 1, S) @ (B, S, 2H)
        return context, alpha


class AttentionSeq2Seq(seq2seq.Seq2Seq):
    """13's encoder-decoder with a bidirectional encoder and an attending decoder.

    Args:
        attention_size: The alignment model's hidden size.
        options: Seq2Seq's arguments but ``reverse`` (the backward encoder reads the source
            backwards; 13_seq2seq's ``model_options`` gives them from a config).
    """

    def __init__(self, attention_size: int, **options: Any) -> None:
        super().__init__(reverse=False, **options)
        hidden_size, embed_size = options["hidden_size"], options["embed_size"]
        num_layers, dropout = options["num_layers"], options["dropout"]
        cells = lstm.lstm_cells(options["forget_bias"])
        annotation = 2 * hidden_size  # forward and backward state side by side
        self.encoder_backward = rnn.RecurrentStack(
            cells, embed_size, hidden_size, num_layers, dropout
        )
        # The decoder reads [y_{t-1} embedded; c_t]; the output layer [s_t; c_t; y_{t-1}].
        self.decoder = rnn.RecurrentStack(
            cells, embed_size + annotation, hidden_size, num_layers, dropout
        )
        self.attention = AdditiveAttention(hidden_size, annotation, attention_size)
        self.init_state = nn.Linear(hidden_size, hidden_size)  # W_s: s_0 = tanh(W_s h_1 back)
        self.head = nn.Linear(hidden_size + annotation + embed_size, options["vocab_size"])
        self.num_layers = num_layers
        self.attention_maps: list[Tensor] | None = None  # set to [] to record alpha per step

    def encode(self, src: Tensor) -> tuple[Tensor, list[Any], Tensor]:
        """Annotations (B, S, 2H), the decoder's first state (its memory included), mask."""
        mask = src != PAD  # (B, S)
        embedded = self.embed_source(src)  # (B, S, E)
        forward, _ = self.encoder(embedded, mask=mask)  # (B, S, H)
        backward, _ = self.encoder_backward(reverse_padded(embedded, mask), mask=mask)
        backward = reverse_padded(backward, mask)  # (B, S, H), position j aligned again
        annotations = torch.cat([forward, backward], dim=2)  # (B, S, 2H)
        s0 = torch.tanh(self.init_state(backward[:, 0]))  # (B, H): from the first annotation
        layers = [(s0, torch.zeros_like(s0))] * self.num_layers  # (h, c) of each LSTM layer
        memory = (self.attention.project_keys(annotations), annotations, mask)
        return annotations, [*layers, memory], mask

    def decode_logits(self, tgt_in: Tensor, state: list[Any]) -> tuple[Tensor, list[Any]]:
        """One step at a time, attending before each: (B, T) tokens -> (B, T, V) logits."""
        *layers, memory = state
        keys, annotations, mask = memory
        # T of (B, E); unbind, not embedded[:, t], whose backward writes (B, T, E) every step
        embedded = self.embed_target(tgt_in).unbind(1)
        last = len(self.decoder.cells) - 1
        features = []
        for token in embedded:
            query = layers[-1][0]  # (B, H): s_{t-1}, the top layer's h
            context, alpha = self.attention(query, keys, annotations, mask)  # (B, 2H), (B, S)
            if self.attention_maps is not None:
                self.attention_maps.append(alpha.detach())
            x = torch.cat([token, context], dim=1)  # (B, E + 2H): y_{t-1} and c_t
            for depth, cell in enumerate(self.decoder.cells):  # one step of every layer
                x, layers[depth] = cell(cell.input_projection(x), layers[depth])  # (B, H)
                if depth < last:
                    x = F.dropout(x, self.dropout, self.training)
            features.append(torch.cat([x, context, token], dim=1))  # s_t, c_t, y_{t-1}
        features = F.dropout(torch.stack(features, dim=1), self.dropout, self.training)
        return self.head(features), [*layers, memory]  # (B, T, V): one product for all steps


def create_model(config: Any, splits: Any) -> AttentionSeq2Seq:
    """The attention encoder-decoder for a transduction task (the ModelSpec hook)."""
    options = seq2seq.model_options(config, splits)
    model = AttentionSeq2Seq(attention_size=config.attention_size, **options)
    model.beam_size = config.beam_size  # how evaluation decodes (1: greedy)
    return model


def create_criterion(config: Any) -> Callable | None:
    """None: the model's step (13_seq2seq's) computes its own loss."""
    return None
