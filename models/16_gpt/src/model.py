"""GPT: a decoder-only Transformer trained to predict the next token (Radford et al. 2018, 2019).

Papers: A. Radford, K. Narasimhan, T. Salimans and I. Sutskever, "Improving Language
Understanding by Generative Pre-Training", OpenAI 2018 (GPT-1); A. Radford, J. Wu, R. Child,
D. Luan, D. Amodei and I. Sutskever, "Language Models are Unsupervised Multitask Learners",
OpenAI 2019 (GPT-2).

What is implemented: the language model of GPT-1 Sec. 3.1, L(U) = sum_i log P(u_i | u_<i),
computed for every position of a window at once by a stack of Transformer decoder blocks whose
self-attention is masked so that position t sees positions <= t (GPT-1 Sec. 3.1, eq. 2); learned
position embeddings (GPT-1 Sec. 4.1); the GELU feed-forward (GPT-1 Sec. 4.1); GPT-2's changes
(Sec. 2.3): the layer norm moved to the input of each sub-block (pre-norm), a final layer norm
after the last block, and the residual projections initialised with std 0.02 / sqrt(2 L); the
output layer tied to the token embedding (GPT-1 eq. 2: P(u) = softmax(h_n W_e^T)). Sampling
reuses each layer's keys and values from the tokens already seen (a key-value cache), so that
one new token costs one query per layer instead of a pass over the whole context.

The pieces are the Transformer's (models/15_transformer/src/model.py: LayerNorm, scaled
dot-product attention, multi-head attention with its cache, the feed-forward network, the
pre-norm block); GPT is their decoder-only arrangement, and this file adds what GPT adds: the
block's cache path, the embeddings, the tied head, the initialisation, the loss and sampling.
F.scaled_dot_product_attention is used only behind ``fused_attention`` (tested equal).

Deliberately left out: byte-pair encoding (characters here, as nanoGPT's shakespeare_char),
GPT-1's fine-tuning heads and auxiliary objective (Sec. 3.2), GPT-2's scale (117M to 1.5B
parameters, 1024 positions). GPT-2's biases in the linear layers and layer norms are optional
(``bias``): nanoGPT's recipe, which we follow, leaves them out.

Known outcomes, asserted in tests: changing token t+1 leaves the outputs at positions <= t
unchanged; the loss falls on a fixed batch; cached and uncached sampling give the same tokens;
sampling is deterministic under a seed; the fused kernel matches the hand-written attention;
training resumes exactly with dropout on.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data_utils import CharCorpus
from engine.steps import Perplexity, StepOutput, sample_next, token_metrics
from engine.workflow import build_optimizer, decay_matrices_only
from utils.registry import model_modules

tf = model_modules("transformer").model  # layer norm, attention, feed-forward, the block

Cache = dict[str, Tensor]  # one layer's keys and values so far: "k", "v" (B, h, T_past, dk)


class LayerNorm(tf.LayerNorm):
    """The Transformer's layer norm, optionally without its learned bias (nanoGPT's bias=False:
    the gain alone; the bias becomes a constant zero, not a parameter)."""

    def __init__(self, size: int, bias: bool = True) -> None:
        super().__init__(size)
        if not bias:
            del self.bias
            self.register_buffer("bias", torch.zeros(size), persistent=False)


class Block(tf.EncoderBlock):
    """GPT-2's decoder block: x + Attn(LN(x)), then x + FFN(LN(x)), with a key-value cache.

    The Transformer's pre-norm encoder block (``norm_first``) with a GELU feed-forward; GPT calls
    it a decoder block because its mask is causal. The one addition is ``cache``: during sampling
    each block keeps the keys and values of the tokens already seen, and a new token attends to
    them without recomputing them.
    """

    def __init__(
        self, d_model: int, n_heads: int, d_ff: int, dropout: float, fused: bool, bias: bool
    ) -> None:
        super().__init__(d_model, n_heads, d_ff, dropout, True, "gelu", fused)
        if not bias:
            self.norm1, self.norm2 = LayerNorm(d_model, bias), LayerNorm(d_model, bias)
            for linear in (
                self.attn.q,
                self.attn.k,
                self.attn.v,
                self.attn.out,
                *self.ff.children(),
            ):
                linear.register_parameter("bias", None)  # F.linear adds nothing

    def forward(self, x: Tensor, mask: Tensor | None = None, cache: Cache | None = None) -> Tensor:
        """(B, T, D) -> (B, T, D); ``mask`` (T, T_past + T), True = may attend."""
        x = self.residual(x, lambda h: self.self_attention(h, mask, cache), self.norm1)
        return self.residual(x, self.ff, self.norm2)


class GPT(nn.Module):
    """Token and position embeddings, ``num_layers`` blocks, a final layer norm, the tied head.

    Args:
        chars: The vocabulary; token id i is chars[i].
        block_size: Positions the model has embeddings for (the context length T).
        num_layers: Blocks L.
        d_model: Width D of the residual stream.
        n_heads: Attention heads per block.
        d_ff: Hidden units of the feed-forward layers (0: 4 * D).
        dropout: On the embeddings, the attention weights, the feed-forward hidden layer and
            each residual branch.
        fused: Attention through F.scaled_dot_product_attention.
        bias: Biases in the linear layers and layer norms (nanoGPT's recipe: none).
        temperature: Sampling temperature (0: argmax).
        top_k: Sample among the k most likely tokens (0: all).
    """

    def __init__(
        self,
        chars: list[str],
        block_size: int,
        num_layers: int,
        d_model: int,
        n_heads: int,
        d_ff: int = 0,
        dropout: float = 0.0,
        fused: bool = False,
        bias: bool = True,
        temperature: float = 1.0,
        top_k: int = 0,
    ) -> None:
        super().__init__()
        self.chars, self.block_size, self.dropout = list(chars), block_size, dropout
        self.temperature, self.top_k = temperature, top_k
        self.embed = nn.Embedding(len(self.chars), d_model)  # W_e, also the output layer
        self.positions = nn.Embedding(block_size, d_model)  # W_p, learned (GPT-1 Sec. 4.1)
        d_ff = d_ff or 4 * d_model
        self.blocks = nn.ModuleList(
            Block(d_model, n_heads, d_ff, dropout, fused, bias) for _ in range(num_layers)
        )
        self.norm = LayerNorm(d_model, bias)  # GPT-2 Sec. 2.3: after the last block
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """GPT-2's initialisation (nanoGPT's): weights N(0, 0.02), biases 0, layer norms 1 and 0,
        and the two projections that write into the residual stream N(0, 0.02 / sqrt(2 L)), so
        that the stream's variance does not grow with depth (GPT-2 Sec. 2.3)."""
        residual_std = 0.02 / math.sqrt(2 * len(self.blocks))
        for name, module in self.named_modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                last = name.endswith(("attn.out", "ff.fc2"))  # W^O and the FFN's second layer
                nn.init.normal_(module.weight, std=residual_std if last else 0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, tf.LayerNorm):
                nn.init.ones_(module.weight)
                module.bias.data.zero_()  # a parameter, or the constant zero

    def forward(self, idx: Tensor, caches: list[Cache] | None = None) -> Tensor:
        """Next-token logits after each position: (B, T) ids -> (B, T, V).

        With ``caches`` (one dict per block, owned by the caller), ``idx`` continues the tokens
        whose keys and values the caches hold: their positions start after them, and the new
        keys and values are appended.
        """
        past = caches[0]["k"].shape[2] if caches and "k" in caches[0] else 0
        length = idx.shape[1]
        assert past + length <= self.block_size, (
            f"{past + length} positions, but the model has embeddings for {self.block_size} "
            "(block_size): crop the context"
        )
        where = torch.arange(past, past + length, device=idx.device)  # (T,)
        x = self.embed(idx) + self.positions(where)  # (B, T, D) + (T, D)
        x = F.dropout(x, self.dropout, self.training)
        mask = tf.causal_mask(past + length, idx.device)[past:]  # (T, past + T): the new rows
        for i, block in enumerate(self.blocks):
            x = block(x, mask, None if caches is None else caches[i])
        return self.norm(x) @ self.embed.weight.T  # (B, T, D) @ (D, V): the tied output layer

    def step(self, batch: tuple[Tensor, Tensor]) -> StepOutput:
        """The language-modelling loss (GPT-1 eq. 1): nats per character, averaged over B x T."""
        x, y = batch  # (B, T) ids, (B, T) next ids
        logits = self(x)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1).float(), y.flatten())
        n = y.numel()
        return StepOutput(
            loss, token_metrics(loss, n), {"nats": float(loss.detach()) * n, "tokens": n}
        )

    def set_metrics(self) -> dict[str, Perplexity]:
        return {"perplexity": Perplexity()}

    def configure_optimizers(self, config: Any) -> torch.optim.Optimizer:
        """AdamW with nanoGPT's two groups: weight decay on the matrices (linear weights and
        embeddings), none on biases and layer-norm gains; betas from the config (nanoGPT's
        beta2 is 0.99, torch's default 0.999)."""
        groups = decay_matrices_only(self, config.weight_decay)
        return build_optimizer(config, self, groups, betas=(config.beta1, config.beta2))

    @torch.no_grad()
    def generate(
        self, idx: Tensor, num: int, generator: torch.Generator, use_cache: bool = True
    ) -> Tensor:
        """``num`` tokens drawn one at a time after the prompt ``idx`` (B, P): (B, num).

        The context is the tokens since the last restart, at most ``block_size`` of them (the
        model has no position beyond): when it is full it restarts from its last half, encoded
        again in one pass. With ``use_cache`` each block keeps the keys and values of the
        context, and a new token is one query per layer; without, every token re-encodes the
        whole context, as nanoGPT's sample.py does (which keeps the last ``block_size`` tokens
        instead of restarting). Both see the same context, so they draw the same tokens from
        the same generator (tested).
        """
        was_training = self.training
        self.eval()
        context = idx[:, -self.block_size :]  # (B, T0)
        caches: list[Cache] | None = None
        drawn = []
        for _ in range(num):
            if not use_cache:
                logits = self(context)  # (B, T, V): the whole context again
            elif caches is None:  # a (re)start: the context in one pass, filling the caches
                caches = [{} for _ in self.blocks]
                logits = self(context, caches)
            else:  # the newest token only
                logits = self(context[:, -1:], caches)  # (B, 1, V)
            # drawn on the CPU, where the caller's generator lives (evaluate.py's is a CPU one)
            last = logits[:, -1].float().cpu()  # (B, V)
            token = sample_next(last, generator, self.temperature, self.top_k or None)
            token = token.to(idx.device)  # (B,)
            drawn.append(token)
            context = torch.cat([context, token[:, None]], dim=1)  # (B, T + 1)
            if context.shape[1] > self.block_size:  # no position left: restart from the last half
                context, caches = context[:, -(self.block_size // 2) :], None
        self.train(was_training)
        return torch.stack(drawn, dim=1)  # (B, num)

    def sample(self, num: int, generator: torch.Generator, prompt: str = "\n") -> str:
        """``num`` characters after ``prompt`` (evaluate.py --samples), with the cache."""
        idx = torch.tensor([[self.chars.index(ch) for ch in prompt]])  # (1, P)
        device = next(self.parameters()).device
        tokens = self.generate(idx.to(device), num, generator)[0]
        return "".join(self.chars[i] for i in tokens.tolist())


def create_model(config: Any, splits: Any) -> GPT:
    """GPT for a character corpus (the ModelSpec hook): vocabulary and block size from the data."""
    assert isinstance(splits, CharCorpus), f"GPT models text: got {type(splits).__name__}"
    return GPT(
        splits.chars,
        block_size=splits.block_size,
        num_layers=config.num_layers,
        d_model=config.d_model,
        n_heads=config.n_heads,
        d_ff=config.d_ff,
        dropout=config.dropout,
        fused=config.fused_attention,
        bias=config.bias,
        temperature=config.temperature,
        top_k=config.top_k,
    )


def create_criterion(config: Any) -> Callable | None:
    """None: the model's step computes the language-modelling loss."""
    return None
