"""Sequence to sequence learning with neural networks (Sutskever, Vinyals and Le, 2014).

Paper: I. Sutskever, O. Vinyals and Q. V. Le, "Sequence to Sequence Learning with Neural
Networks", NeurIPS 2014.

What is implemented: the encoder-decoder of Sec. 2: one LSTM stack reads the source, one step per
token, and its final state is the whole summary of the source; a second LSTM stack, started from
that state, models p(y_1..y_T' | x) = prod_t p(y_t | v, y_1..y_{t-1}) (eq. 1), fed the previous
target token (teacher forcing in training); the source read in reverse (Sec. 3.3: it puts the
first source words next to the first target words, which shortens the paths the gradient has to
travel at the start of the output); greedy decoding and the left-to-right beam search of Sec. 3.2
(a beam of B partial hypotheses, the most likely kept at each step, a hypothesis complete when it
emits EOS). The LSTM cell and the recurrent stack are models 11 and 10's (11_lstm/src/model.py,
10_rnn/src/model.py): this file holds what the paper adds, the two stacks and how they talk.

Deliberately left out: the paper's scale (4 layers of 1,000 cells, 160,000-word vocabularies, 8
GPUs for 10 days) and its ensembles; the task here is a seeded transduction task
(data_utils/sequences.py: reversal, sorting or addition of digit strings of length 5 to 30), so
that exact match by input length shows the weakness directly: everything the decoder knows of
the source passes through one fixed-size state.

Known outcomes, asserted in tests: padding never changes a result (a padded source gives the
same summary as the unpadded one); the loss falls on a fixed batch; greedy decoding equals a beam
of one; a wider beam never finds a less likely hypothesis than greedy.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data_utils.sequences import BOS, EOS, PAD
from engine.steps import Mean, StepOutput
from utils.registry import model_modules

rnn = model_modules("rnn").model  # RecurrentStack: layers of cells unrolled over time
lstm = model_modules("lstm").model  # the LSTM cell

BUCKETS = ((5, 9), (10, 14), (15, 19), (20, 24), (25, 30))  # source lengths, for exact match


def reverse_source(src: Tensor) -> Tensor:
    """Each source's tokens in reverse order, padding kept at the end: (B, S) -> (B, S)."""
    lengths = (src != PAD).sum(1, keepdim=True)  # (B, 1)
    positions = torch.arange(src.shape[1], device=src.device)  # (S,)
    index = (lengths - 1 - positions).clamp(min=0)  # (B, S): position t reads token L - 1 - t
    return torch.where(positions < lengths, src.gather(1, index), torch.full_like(src, PAD))


def bucket_name(low: int, high: int) -> str:
    return f"exact_len_{low}_{high}"


class ExactMatchByLength:
    """Exact-match accuracy over a whole evaluated set, overall and per source-length bucket.

    A SetMetric (engine/steps.py): the step's ``outputs`` give, per sequence, whether the decoded
    target equals the reference and the source length.
    """

    def __init__(self) -> None:
        self.hits: dict[int, list[int]] = {}  # source length -> [exact, count]

    def update(self, batch: Any, outputs: dict[str, Tensor]) -> None:
        for exact, length in zip(outputs["exact"].tolist(), outputs["length"].tolist()):
            pair = self.hits.setdefault(int(length), [0, 0])
            pair[0], pair[1] = pair[0] + int(exact), pair[1] + 1

    def state(self) -> dict[int, list[int]]:
        return self.hits

    def compute(self, states: list[dict[int, list[int]]]) -> dict[str, float]:
        total: dict[int, list[int]] = {}
        for state in states:
            for length, (hits, count) in state.items():
                pair = total.setdefault(int(length), [0, 0])
                pair[0], pair[1] = pair[0] + hits, pair[1] + count
        count = sum(c for _, c in total.values())
        metrics = {"exact_match": sum(h for h, _ in total.values()) / count if count else 0.0}
        for low, high in BUCKETS:
            pairs = [total[k] for k in range(low, high + 1) if k in total]
            if pairs:
                metrics[bucket_name(low, high)] = sum(h for h, _ in pairs) / sum(
                    c for _, c in pairs
                )
        return metrics


def exact_matches(predicted: Tensor, target: Tensor) -> Tensor:
    """Whether each decoded sequence equals its reference up to and including EOS: (B,) bool.

    ``predicted`` (B, T) tokens after BOS; ``target`` (B, T') = BOS, tokens, EOS, padding.
    """
    reference = target[:, 1:]  # (B, T' - 1): what the decoder must emit
    width = max(predicted.shape[1], reference.shape[1])
    predicted = F.pad(predicted, (0, width - predicted.shape[1]), value=PAD)
    reference = F.pad(reference, (0, width - reference.shape[1]), value=PAD)
    after_eos = (predicted == EOS).long().cumsum(1) - (predicted == EOS).long() > 0
    predicted = predicted.masked_fill(after_eos, PAD)  # what follows the first EOS is not read
    return (predicted == reference).all(1)


class Seq2Seq(nn.Module):
    """Encoder and decoder LSTM stacks; the encoder's final state is the decoder's first.

    Args:
        vocab_size: Tokens V, PAD, BOS and EOS included.
        embed_size: Size E of a token's embedding.
        hidden_size: Cells H per layer (both stacks).
        num_layers: Layers of each stack.
        dropout: Between layers and on the decoder's output.
        reverse: Read the source backwards (the paper's trick).
        forget_bias: Initial forget-gate bias of every LSTM cell.
        max_target: Longest target (EOS excluded) the decoders generate.
    """

    def __init__(
        self,
        vocab_size: int,
        embed_size: int,
        hidden_size: int,
        num_layers: int,
        dropout: float,
        reverse: bool,
        forget_bias: float,
        max_target: int,
    ) -> None:
        super().__init__()
        cells = lstm.lstm_cells(forget_bias)
        self.reverse, self.max_target, self.dropout = reverse, max_target, dropout
        self.embed_source = nn.Embedding(vocab_size, embed_size)
        self.embed_target = nn.Embedding(vocab_size, embed_size)
        self.encoder = rnn.RecurrentStack(cells, embed_size, hidden_size, num_layers, dropout)
        self.decoder = rnn.RecurrentStack(cells, embed_size, hidden_size, num_layers, dropout)
        self.head = nn.Linear(hidden_size, vocab_size)
        self.beam_size = 1  # how evaluation decodes: 1 is greedy (create_model sets the config's)

    def encode(self, src: Tensor) -> tuple[Tensor, list[Any], Tensor]:
        """Read the source: (B, S) ids -> outputs (B, S, H), final states, mask (B, S).

        Padding is masked: a padded step leaves the state as it was, so the summary is that of
        the real tokens only.
        """
        if self.reverse:
            src = reverse_source(src)
        mask = src != PAD  # (B, S)
        outputs, state = self.encoder(self.embed_source(src), mask=mask)
        return outputs, state, mask

    def decode_logits(self, tgt_in: Tensor, state: list[Any]) -> tuple[Tensor, list[Any]]:
        """Teacher-forced decoder: (B, T) previous tokens -> (B, T, V) logits, new states."""
        h, state = self.decoder(self.embed_target(tgt_in), state)  # (B, T, H)
        return self.head(F.dropout(h, self.dropout, self.training)), state

    def forward(self, src: Tensor, tgt_in: Tensor) -> Tensor:
        """log p(y_t | x, y_<t) for every target position: (B, S), (B, T) -> (B, T, V) logits."""
        _, state, _ = self.encode(src)
        return self.decode_logits(tgt_in, state)[0]

    def step(self, batch: tuple[Tensor, Tensor]) -> StepOutput:
        src, tgt = batch  # (B, S), (B, T' ) = BOS target EOS padding
        tgt_in, tgt_out = tgt[:, :-1], tgt[:, 1:]  # (B, T' - 1) each
        logits = self(src, tgt_in)  # (B, T' - 1, V)
        loss = F.cross_entropy(logits.flatten(0, 1), tgt_out.flatten(), ignore_index=PAD)
        real = tgt_out != PAD
        n = int(real.sum())
        correct = float(((logits.detach().argmax(2) == tgt_out) & real).sum())
        metrics = {"loss": Mean(float(loss.detach()) * n, n), "token_accuracy": Mean(correct, n)}
        if self.training:
            return StepOutput(loss, metrics)
        predicted = self.generate(src, self.beam_size)  # (B, T)
        outputs = {"exact": exact_matches(predicted, tgt), "length": (src != PAD).sum(1)}
        return StepOutput(loss, metrics, outputs)

    def set_metrics(self) -> dict[str, ExactMatchByLength]:
        return {"exact_match": ExactMatchByLength()}

    # ---------------------------------------------------------------- decoding

    @torch.no_grad()
    def generate(self, src: Tensor, beam_size: int = 1, max_len: int | None = None) -> Tensor:
        """Decode: (B, S) sources -> (B, T) tokens, each row ending with EOS (then PAD)."""
        max_len = max_len or self.max_target + 1
        if beam_size == 1:
            return self.greedy(src, max_len)
        return self.beam_search(src, beam_size, max_len)

    def greedy(self, src: Tensor, max_len: int) -> Tensor:
        """The most likely next token at every step."""
        _, state, _ = self.encode(src)
        token = torch.full((len(src), 1), BOS, dtype=torch.long, device=src.device)
        done = torch.zeros(len(src), dtype=torch.bool, device=src.device)
        out = []
        for _ in range(max_len):
            logits, state = self.decode_logits(token, state)  # (B, 1, V)
            token = logits[:, -1].argmax(1, keepdim=True)  # (B, 1)
            token = token.masked_fill(done[:, None], PAD)
            out.append(token)
            done |= token[:, 0] == EOS
            if done.all():
                break
        return torch.cat(out, dim=1)

    def beam_search(self, src: Tensor, beam_size: int, max_len: int) -> Tensor:
        """Left-to-right beam search (Sec. 3.2): keep the ``beam_size`` most likely prefixes.

        A finished hypothesis (it emitted EOS) keeps its score and only extends with PAD at no
        cost; the search stops when every beam of every source is finished. Scores are summed
        log-probabilities, without length normalisation, as in the paper.
        """
        batch, k = len(src), beam_size
        _, state, _ = self.encode(src)
        state = [expand_state(s, k) for s in state]  # (B * K, H) per tensor
        scores = torch.full((batch, k), -float("inf"), device=src.device)
        scores[:, 0] = 0.0  # one live beam at the start: the others are copies of it
        tokens = torch.full((batch * k, 1), BOS, dtype=torch.long, device=src.device)
        history = torch.zeros(batch * k, 0, dtype=torch.long, device=src.device)
        done = torch.zeros(batch * k, dtype=torch.bool, device=src.device)
        for _ in range(max_len):
            logits, state = self.decode_logits(tokens, state)  # (B * K, 1, V)
            logp = logits[:, -1].log_softmax(1)  # (B * K, V)
            vocab = logp.shape[1]
            finished = torch.full_like(logp, -float("inf"))
            finished[:, PAD] = 0.0  # a finished beam continues with PAD, score unchanged
            logp = torch.where(done[:, None], finished, logp)
            total = (scores.view(-1, 1) + logp).view(batch, k * vocab)  # (B, K * V)
            scores, flat = total.topk(k, dim=1)  # (B, K)
            parent = flat // vocab + torch.arange(batch, device=src.device)[:, None] * k
            parent, tokens = parent.view(-1), (flat % vocab).view(-1, 1)  # (B * K,), (B * K, 1)
            state = [reorder_state(s, parent) for s in state]
            history = torch.cat([history[parent], tokens], dim=1)
            done = done[parent] | (tokens[:, 0] == EOS)
            if done.all():
                break
        best = scores.argmax(1) + torch.arange(batch, device=src.device) * k  # (B,)
        return history[best]

    @torch.no_grad()
    def sequence_log_prob(self, src: Tensor, tokens: Tensor) -> Tensor:
        """log p(tokens | src) of decoded rows (B, T) (BOS implied, up to the first EOS): (B,)."""
        tgt_in = torch.cat([torch.full_like(tokens[:, :1], BOS), tokens[:, :-1]], dim=1)
        logp = self(src, tgt_in).log_softmax(2).gather(2, tokens[:, :, None]).squeeze(2)
        eos_seen = (tokens == EOS).long().cumsum(1) - (tokens == EOS).long() > 0
        return logp.masked_fill(eos_seen | (tokens == PAD), 0.0).sum(1)


def expand_state(state: Any, k: int) -> Any:
    """Repeat each source's state for its k beams: (B, H) -> (B * K, H), tuples alike."""
    if isinstance(state, tuple):
        return tuple(expand_state(s, k) for s in state)
    return state.repeat_interleave(k, dim=0)


def reorder_state(state: Any, index: Tensor) -> Any:
    """The states of the chosen parents: rows ``index`` of (B * K, H), tuples alike."""
    if isinstance(state, tuple):
        return tuple(reorder_state(s, index) for s in state)
    return state[index]


def model_options(config: Any, splits: Any) -> dict[str, Any]:
    """The sizes an encoder-decoder takes from its config and its task (14_attention's too)."""
    return dict(
        vocab_size=len(splits.facts()["vocabulary"]),
        embed_size=config.embed_size,
        hidden_size=config.hidden_size,
        num_layers=config.num_layers,
        dropout=config.dropout,
        forget_bias=config.forget_bias,
        max_target=splits.y_train.shape[1] - 2,  # targets are BOS, the string, EOS
    )


def create_model(config: Any, splits: Any) -> Seq2Seq:
    """The encoder-decoder for a transduction task (the ModelSpec hook)."""
    model = Seq2Seq(reverse=config.reverse_source, **model_options(config, splits))
    model.beam_size = config.beam_size  # how evaluation decodes (1: greedy)
    return model


def create_criterion(config: Any) -> Callable | None:
    """None: the model's step computes its own loss (cross-entropy over real target tokens)."""
    return None
