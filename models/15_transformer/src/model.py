"""Attention is all you need (Vaswani, Shazeer, Parmar, Uszkoreit, Jones, Gomez, Kaiser and
Polosukhin, 2017).

Paper: A. Vaswani et al., "Attention Is All You Need", NeurIPS 2017 (arXiv 1706.03762).

What is implemented, in the paper's order, each piece by hand: scaled dot-product attention
(Sec. 3.2.1, eq. 1), multi-head attention (Sec. 3.2.2), the position-wise feed-forward network
(Sec. 3.3), embeddings shared between the encoder, the decoder and the pre-softmax layer and
scaled by sqrt(d_model) (Sec. 3.4), sinusoidal positional encodings (Sec. 3.5), layer
normalisation (Ba et al. 2016), the encoder and decoder blocks with the paper's post-norm
residuals LayerNorm(x + Dropout(Sublayer(x))) (Sec. 3.1, 5.4), and the learning-rate schedule
of eq. 3 (Sec. 5.3). The blocks also take the pre-norm form x + Sublayer(LayerNorm(x)) (GPT-2,
ViT), and the pieces are what 16_gpt, 17_bert and 18_vit import.

The encoder-decoder is 13_seq2seq's model as far as training and decoding go: the step, the
metrics, greedy decoding and beam search are inherited and call this model's ``encode`` and
``decode_logits``; decoding is incremental (each block keeps the keys and values of the tokens
already decoded, so one decoding step costs one new query per layer).

Deliberately left out: the paper's scale (6 + 6 layers of d_model 512, 37,000 BPE tokens, 8 GPUs
for 12 hours) and its label smoothing, checkpoint averaging and length penalty; the task is a
seeded transduction task (data_utils/sequences.py) so that exact match by source length can be
set beside 13 and 14.

Known outcomes, asserted in tests: attention, LayerNorm and the blocks equal PyTorch's
(F.scaled_dot_product_attention, nn.LayerNorm, nn.MultiheadAttention, nn.TransformerEncoderLayer
and nn.TransformerDecoderLayer) with and without masks; a causal decoder never sees the future;
incremental decoding equals the full pass; greedy decoding is a beam of one.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data_utils.sequences import PAD
from utils.registry import model_modules

seq2seq = model_modules("seq2seq").model  # the encoder-decoder: step, metrics, decoding


def causal_mask(length: int, device: torch.device | str | None = None) -> Tensor:
    """(T, T) bool, True on and below the diagonal: position t may attend to positions <= t."""
    return torch.ones(length, length, dtype=torch.bool, device=device).tril()


def sinusoidal_positions(length: int, d_model: int) -> Tensor:
    """Sec. 3.5: PE(pos, 2i) = sin(pos / 10000^(2i/d)), PE(pos, 2i+1) = cos(same): (T, D).

    Each pair of dimensions is a clock of its own frequency, so PE(pos + k) is a fixed rotation
    of PE(pos) for every pos: relative offsets are linear in the encoding.
    """
    assert d_model % 2 == 0, f"d_model must be even for sine/cosine pairs (got {d_model})"
    position = torch.arange(length, dtype=torch.float32)[:, None]  # (T, 1)
    frequency = torch.exp(-math.log(10000.0) * torch.arange(0, d_model, 2) / d_model)  # (D/2,)
    angle = position * frequency  # (T, D/2)
    return torch.stack([angle.sin(), angle.cos()], dim=2).flatten(1)  # (T, D/2, 2) -> (T, D)


class LayerNorm(nn.Module):
    """Ba, Kiros and Hinton (2016): each vector to zero mean and unit variance over its features,
    then a learned gain and bias: (..., D) -> (..., D).

    Args:
        size: Features D.
        eps: Added to the variance (the biased one, as nn.LayerNorm).
    """

    def __init__(self, size: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(size))
        self.bias = nn.Parameter(torch.zeros(size))

    def forward(self, x: Tensor) -> Tensor:
        mean = x.mean(-1, keepdim=True)  # (..., 1)
        var = (x - mean).pow(2).mean(-1, keepdim=True)  # (..., 1)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


def attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    mask: Tensor | None = None,
    dropout: float = 0.0,
    training: bool = False,
) -> tuple[Tensor, Tensor]:
    """Eq. 1: softmax(Q K^T / sqrt(d_k)) V.

    q (B, h, Tq, dk), k and v (B, h, Tk, dk); ``mask`` bool broadcastable to (B, h, Tq, Tk), True
    where a query may attend. Returns the output (B, h, Tq, dk) and the weights (B, h, Tq, Tk)
    before dropout. A row whose keys are all masked (a padding query with a padding-only mask)
    gets all-zero weights and a zero output, as F.scaled_dot_product_attention gives, never NaN:
    masked scores are the most negative float, not -inf, and are set to 0 after the softmax.
    """
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])  # (B, h, Tq, Tk)
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    weights = scores.softmax(dim=-1)
    if mask is not None:
        weights = weights.masked_fill(~mask, 0.0)  # only changes rows with no allowed key
    out = F.dropout(weights, dropout, training) @ v  # (B, h, Tq, dk)
    return out, weights


class MultiHeadAttention(nn.Module):
    """Sec. 3.2.2: h heads attend in d_k = d_model / h dimensional projections, concatenated.

    Args:
        d_model: Model width D.
        num_heads: Heads h (D must be a multiple).
        dropout: On the attention weights.
        fused: Compute eq. 1 with F.scaled_dot_product_attention (tested equal to ``attention``);
            weights asked for are then computed by hand.
    """

    def __init__(
        self, d_model: int, num_heads: int, dropout: float = 0.0, fused: bool = False
    ) -> None:
        super().__init__()
        assert d_model % num_heads == 0, f"d_model {d_model} is not a multiple of {num_heads} heads"
        self.num_heads, self.dropout, self.fused = num_heads, dropout, fused
        self.q = nn.Linear(d_model, d_model)  # W^Q of all heads side by side
        # W^K without a bias: a key bias b adds q.b to every score of a query's row, which the
        # softmax cancels, so its gradient is exactly zero (the engine's audit calls it frozen).
        self.k = nn.Linear(d_model, d_model, bias=False)
        self.v = nn.Linear(d_model, d_model)  # W^V
        self.out = nn.Linear(d_model, d_model)  # W^O

    def split(self, x: Tensor) -> Tensor:
        """(B, T, D) -> (B, h, T, dk): one slice of the features per head."""
        return x.view(x.shape[0], x.shape[1], self.num_heads, -1).transpose(1, 2)

    def keys_values(self, memory: Tensor) -> tuple[Tensor, Tensor]:
        """The projected keys and values of a memory, (B, S, D) -> 2 x (B, h, S, dk)."""
        return self.split(self.k(memory)), self.split(self.v(memory))

    def forward(
        self,
        x: Tensor,
        memory: Tensor | None = None,
        mask: Tensor | None = None,
        cache: dict[str, Tensor] | None = None,
        need_weights: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Queries from x (B, Tq, D); keys and values from ``memory`` (B, S, D), or from x.

        ``mask`` is over all the keys (past and new with a cache): True where a query may
        attend. ``cache`` (owned by the caller): in self-attention its "k" and "v" (B, h, T_past,
        dk) get the new keys and values appended and are stored back; in cross-attention the
        memory's are computed once and reused. Returns (B, Tq, D) and the weights (B, h, Tq, Tk)
        when ``need_weights``, else None.
        """
        q = self.split(self.q(x))  # (B, h, Tq, dk)
        if memory is not None and cache is not None and "k" in cache:
            k, v = cache["k"], cache["v"]  # the memory's, projected at the first step
        else:
            k, v = self.keys_values(x if memory is None else memory)  # (B, h, Tk, dk)
            if cache is not None and memory is None and "k" in cache:
                k, v = torch.cat([cache["k"], k], dim=2), torch.cat([cache["v"], v], dim=2)
        if cache is not None:
            cache["k"], cache["v"] = k, v
        p = self.dropout if self.training else 0.0
        if self.fused and not need_weights:
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=p)
            weights = None
        else:
            out, weights = attention(q, k, v, mask, p, self.training)
        out = out.transpose(1, 2).flatten(2)  # (B, h, Tq, dk) -> (B, Tq, D): heads concatenated
        return self.out(out), weights if need_weights else None


class FeedForward(nn.Module):
    """Sec. 3.3, eq. 2: FFN(x) = max(0, x W1 + b1) W2 + b2 at every position ("gelu": GPT, BERT).

    Dropout after the activation, as nn.TransformerEncoderLayer places it.
    """

    def __init__(
        self, d_model: int, d_ff: int, dropout: float = 0.0, activation: str = "relu"
    ) -> None:
        super().__init__()
        assert activation in ("relu", "gelu"), f"activation: relu or gelu (got {activation!r})"
        self.fc1, self.fc2 = nn.Linear(d_model, d_ff), nn.Linear(d_ff, d_model)
        self.activation, self.dropout = getattr(F, activation), dropout

    def forward(self, x: Tensor) -> Tensor:
        h = F.dropout(self.activation(self.fc1(x)), self.dropout, self.training)  # (B, T, d_ff)
        return self.fc2(h)  # (B, T, D)


class EncoderBlock(nn.Module):
    """Sec. 3.1: self-attention, then the feed-forward network, each in a residual.

    Post-norm (the paper): x = LayerNorm(x + Dropout(Sublayer(x))). Pre-norm (``norm_first``,
    GPT-2 and ViT): x = x + Dropout(Sublayer(LayerNorm(x))), which keeps an identity path from
    input to output and trains deep stacks without warm-up. Set ``keep_weights`` to store the
    last attention weights (B, h, T, T) in ``attention_weights``.
    """

    def __init__(
        self,
        d_model: int,
        num_heads: int,
        d_ff: int,
        dropout: float = 0.0,
        norm_first: bool = False,
        activation: str = "relu",
        fused: bool = False,
    ) -> None:
        super().__init__()
        self.attn = MultiHeadAttention(d_model, num_heads, dropout, fused)
        self.ff = FeedForward(d_model, d_ff, dropout, activation)
        self.norm1, self.norm2 = LayerNorm(d_model), LayerNorm(d_model)
        self.dropout, self.norm_first = dropout, norm_first
        self.keep_weights = False
        self.attention_weights: Tensor | None = None

    def residual(self, x: Tensor, sublayer: Callable[[Tensor], Tensor], norm: nn.Module) -> Tensor:
        """Sec. 5.4's residual dropout around one sublayer, the norm after or before it."""
        if self.norm_first:
            return x + F.dropout(sublayer(norm(x)), self.dropout, self.training)
        return norm(x + F.dropout(sublayer(x), self.dropout, self.training))

    def self_attention(self, x: Tensor, mask: Tensor | None, cache: Any = None) -> Tensor:
        out, weights = self.attn(x, mask=mask, cache=cache, need_weights=self.keep_weights)
        if self.keep_weights:
            self.attention_weights = weights.detach()
        return out

    def forward(self, x: Tensor, mask: Tensor | None = None) -> Tensor:
        """(B, T, D) -> (B, T, D); ``mask`` broadcastable to (B, h, T, T), True = may attend."""
        x = self.residual(x, lambda h: self.self_attention(h, mask), self.norm1)
        return self.residual(x, self.ff, self.norm2)


class DecoderBlock(EncoderBlock):
    """Sec. 3.1: masked self-attention, attention over the encoder's output, feed-forward.

    ``cache`` (the caller's dict, for incremental decoding) holds a "self" and a "cross" dict of
    MultiHeadAttention's cache. ``keep_weights`` stores the cross-attention weights (B, h, T, S)
    in ``attention_weights``: which source positions each output position reads.
    """

    def __init__(
        self, d_model: int, num_heads: int, d_ff: int, dropout: float = 0.0, **options: Any
    ) -> None:
        """``options``: EncoderBlock's norm_first, activation and fused."""
        super().__init__(d_model, num_heads, d_ff, dropout, **options)
        self.cross = MultiHeadAttention(d_model, num_heads, dropout, self.attn.fused)
        self.norm3 = LayerNorm(d_model)

    def cross_attention(self, x: Tensor, memory: Tensor, mask: Tensor | None, cache: Any) -> Tensor:
        out, weights = self.cross(x, memory, mask, cache, need_weights=self.keep_weights)
        if self.keep_weights:
            self.attention_weights = weights.detach()
        return out

    def forward(
        self,
        x: Tensor,
        memory: Tensor,
        self_mask: Tensor | None = None,
        memory_mask: Tensor | None = None,
        cache: dict[str, dict[str, Tensor]] | None = None,
    ) -> Tensor:
        """(B, T, D) targets, (B, S, D) memory -> (B, T, D); masks True = may attend."""
        own = None if cache is None else cache.setdefault("self", {})
        cross = None if cache is None else cache.setdefault("cross", {})
        x = self.residual(x, lambda h: self.attn(h, mask=self_mask, cache=own)[0], self.norm1)
        x = self.residual(
            x, lambda h: self.cross_attention(h, memory, memory_mask, cross), self.norm2
        )
        return self.residual(x, self.ff, self.norm3)


class Transformer(seq2seq.Seq2Seq):
    """The encoder-decoder of Fig. 1 for a transduction task; decoding and the step are 13's.

    Args:
        vocab_size: Tokens V, PAD, BOS and EOS included (source and target share them).
        d_model: Width D of every position's vector.
        num_heads: Heads h of every attention.
        d_ff: Inner width of the feed-forward networks.
        num_layers: Blocks N of the encoder and of the decoder each.
        dropout: On the embeddings, every sublayer's output, the attention weights and the
            feed-forward network's hidden layer (Sec. 5.4).
        max_target: Longest target (EOS excluded) the decoders generate.
        fused: Attention through F.scaled_dot_product_attention (the same numbers, faster).
        max_positions: Positions the encodings table holds (sources and targets).
    """

    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        num_heads: int,
        d_ff: int,
        num_layers: int,
        dropout: float,
        max_target: int,
        fused: bool = False,
        max_positions: int = 256,
    ) -> None:
        nn.Module.__init__(self)  # Seq2Seq's methods, not its LSTM stacks
        self.max_target, self.dropout, self.d_model = max_target, dropout, d_model
        self.beam_size = 1  # how evaluation decodes: 1 is greedy (create_model sets the config's)
        # Sec. 3.4: one matrix embeds source and target tokens and is the pre-softmax layer;
        # N(0, 1/D) times sqrt(D) gives embeddings of the same scale as the sinusoids.
        self.embed = nn.Embedding(vocab_size, d_model)
        nn.init.normal_(self.embed.weight, std=d_model**-0.5)
        positions = sinusoidal_positions(max_positions, d_model)  # (P, D)
        self.register_buffer("positions", positions, persistent=False)
        block = dict(d_model=d_model, num_heads=num_heads, d_ff=d_ff, dropout=dropout, fused=fused)
        self.encoder = nn.ModuleList(EncoderBlock(**block) for _ in range(num_layers))
        self.decoder = nn.ModuleList(DecoderBlock(**block) for _ in range(num_layers))

    def embed_tokens(self, tokens: Tensor, offset: int = 0) -> Tensor:
        """Token embeddings times sqrt(D) plus the encodings of positions offset, offset + 1, ...:
        (B, T) -> (B, T, D)."""
        end = offset + tokens.shape[1]
        assert end <= len(self.positions), f"position {end} beyond the {len(self.positions)} held"
        x = self.embed(tokens) * math.sqrt(self.d_model) + self.positions[offset:end]
        return F.dropout(x, self.dropout, self.training)

    def encode(self, src: Tensor) -> tuple[Tensor, list[Any], Tensor]:
        """Encoder output (B, S, D), the decoder's state, mask (B, S) (True: a real token).

        The state is a list of tensors and tuples, which 13's beam search copies and reorders:
        the memory, its mask, and per decoder block its self-attention keys and values so far
        (none yet) and the memory's keys and values, projected once for every decoding step.
        """
        mask = src != PAD  # (B, S)
        keys = mask[:, None, None, :]  # (B, 1, 1, S): every query may read the real tokens
        x = self.embed_tokens(src)  # (B, S, D)
        for block in self.encoder:
            x = block(x, keys)
        state: list[Any] = [x, mask]
        for block in self.decoder:
            k, v = block.cross.keys_values(x)  # (B, h, S, dk) each
            state.append((k[:, :, :0], v[:, :, :0], k, v))  # (B, h, 0, dk): nothing decoded
        return x, state, mask

    def decode_logits(self, tgt_in: Tensor, state: list[Any]) -> tuple[Tensor, list[Any]]:
        """The next-token logits after each of ``tgt_in`` (B, T), which follow the tokens the
        state has seen: (B, T, V) and the state with their keys and values appended. Training
        passes the whole target at once (causal mask); decoding one token at a time."""
        memory, mask, *caches = state
        past, length = caches[0][0].shape[2], tgt_in.shape[1]
        x = self.embed_tokens(tgt_in, offset=past)  # (B, T, D)
        own = causal_mask(past + length, tgt_in.device)[past:]  # (T, past + T)
        keys = mask[:, None, None, :]  # (B, 1, 1, S)
        new = []
        for block, (k, v, mk, mv) in zip(self.decoder, caches):
            cache = {"self": {"k": k, "v": v}, "cross": {"k": mk, "v": mv}}
            x = block(x, memory, own, keys, cache)
            new.append((cache["self"]["k"], cache["self"]["v"], mk, mv))
        return x @ self.embed.weight.T, [memory, mask, *new]  # (B, T, V), tied weights


def create_model(config: Any, splits: Any) -> Transformer:
    """The Transformer for a transduction task (the ModelSpec hook)."""
    sizes = {name: getattr(config, name) for name in ("d_model", "num_layers", "dropout")}
    sizes["d_ff"] = config.d_ff or 4 * config.d_model  # 0: the paper's ratio
    vocab_size, max_target = len(splits.facts()["vocabulary"]), splits.y_train.shape[1] - 2
    model = Transformer(  # max_target: targets are BOS, the string, EOS
        vocab_size,
        num_heads=config.n_heads,
        max_target=max_target,
        fused=config.fused_attention,
        **sizes,
    )
    model.beam_size = config.beam_size  # how evaluation decodes (1: greedy)
    return model


def create_criterion(config: Any) -> Callable | None:
    """None: the model's step (13_seq2seq's) computes its own loss."""
    return None
