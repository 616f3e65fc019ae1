"""BERT: a bidirectional Transformer encoder pretrained by predicting masked words (Devlin et al.
2018).

Paper: J. Devlin, M.-W. Chang, K. Lee and K. Toutanova, "BERT: Pre-training of Deep
Bidirectional Transformers for Language Understanding", NAACL 2019 (arXiv 1810.04805).

What is implemented: the input representation of Sec. 3 (a [CLS] token before every sentence,
token plus learned position embeddings, layer norm and dropout), a stack of the Transformer's
encoder blocks with GELU feed-forward layers and the paper's post-norm residuals (pre-norm as an
option), self-attention over every real token in both directions (padding is masked out as a
key); the masked language model of Sec. 3.1 (Task #1): 15% of the words of a sentence are chosen
at random, of those 80% are replaced by [MASK], 10% by a random word and 10% kept, and the
network predicts the original words at the chosen positions only, through the MLM head of the
released code (dense, GELU, layer norm, then the output layer tied to the word embedding with a
bias of its own); and fine-tuning (Sec. 3.2): the final [CLS] vector, after dropout, into a
linear layer over the classes, every weight of the encoder trained with it.

The pieces are the Transformer's (models/15_transformer/src/model.py: LayerNorm, multi-head
attention, the feed-forward network, the encoder block); BERT is their encoder-only
arrangement, and this file adds what BERT adds: the special tokens, the masking, the two heads
and the initialisation N(0, 0.02) of the released code.

Deliberately left out: next-sentence prediction (Task #2; the sentences here are single, and
RoBERTa (Liu et al. 2019) found the task unnecessary), segment embeddings and [SEP] (one
sentence per input), the tanh pooler over [CLS] (trained by next-sentence prediction, which is
not done), WordPiece (a word vocabulary of the pretraining corpus: 4,000 ids, the rest <unk>),
and the paper's scale (110M parameters, 3.3 billion words, 1M steps on TPUs).

Known outcomes, asserted in tests: the masking chooses about 15% of the words and splits them
80/10/10, never a padding or special position, the same under the same seed; the loss falls on
a fixed batch; padding does not change the [CLS] output; the blocks equal PyTorch's
nn.TransformerEncoderLayer (through 15's tests and here); training resumes exactly with
dropout on.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data_utils import DatasetSplits
from engine.steps import Mean, StepOutput
from engine.workflow import build_optimizer, decay_matrices_only
from utils.registry import model_modules

tf = model_modules("transformer").model  # layer norm, attention, feed-forward, the block

PAD, UNK = 0, 1  # the data's ids (data_utils.text.Vocabulary); words are ids 2 .. V - 1
IGNORE = -100  # F.cross_entropy's ignore_index: positions that are not predicted
EVAL_MASK_SEED = 0  # evaluation masks the same words every time: losses comparable by epoch


def mask_tokens(
    ids: Tensor,
    vocab_size: int,
    mask_id: int,
    mask_prob: float = 0.15,
    generator: torch.Generator | None = None,
) -> tuple[Tensor, Tensor]:
    """Sec. 3.1 (Task #1): choose ``mask_prob`` of the words, corrupt them 80/10/10.

    ``ids`` (B, T) word ids; only words (id >= 2) are chosen, never padding or <unk> (whose
    "original" says nothing). Of the chosen: 80% become ``mask_id``, 10% a random word in
    [2, vocab_size), 10% stay. Returns the corrupted ids (B, T) and the targets (B, T): the
    original word where chosen, IGNORE elsewhere. ``generator``: None draws from torch's global
    generator (what the Trainer's checkpoints restore).
    """
    device = ids.device

    def uniform() -> Tensor:  # drawn on the CPU, where a caller's generator lives
        return torch.rand(ids.shape, generator=generator).to(device)

    chosen = (uniform() < mask_prob) & (ids >= 2)  # (B, T)
    action = uniform()  # (B, T): < 0.8 mask, < 0.9 random word, else keep
    random_words = torch.randint(2, vocab_size, ids.shape, generator=generator).to(device)
    corrupted = torch.where(chosen & (action < 0.8), torch.full_like(ids, mask_id), ids)
    swap = chosen & (action >= 0.8) & (action < 0.9)
    corrupted = torch.where(swap, random_words, corrupted)
    targets = torch.where(chosen, ids, torch.full_like(ids, IGNORE))
    return corrupted, targets


class Bert(nn.Module):
    """[CLS] and word ids in, one vector per position out; an MLM head and a sentence head.

    Ids: 0 padding, 1 <unk>, 2 .. V - 1 words (the data's vocabulary), V [CLS], V + 1 [MASK].

    Args:
        vocab_size: The data's vocabulary V (padding and <unk> included).
        max_len: Longest sentence in words; positions are learned for max_len + 1 ([CLS]).
        num_layers: Encoder blocks L.
        d_model: Width D.
        n_heads: Attention heads per block.
        d_ff: Hidden units of the feed-forward layers (0: 4 * D).
        dropout: On the embeddings, attention weights, feed-forward hidden layer, residual
            branches and the classifier's input.
        norm_first: Pre-norm blocks and a final layer norm instead of the paper's post-norm.
        num_classes: Outputs of the sentence head.
        mask_prob: Share of the words the MLM predicts.
        task: "mlm" or "classify": what ``step`` computes.
        pooling: What the sentence head reads: "cls" (the paper) or "mean" (of the words).
    """

    def __init__(
        self,
        vocab_size: int,
        max_len: int,
        num_layers: int,
        d_model: int,
        n_heads: int,
        d_ff: int = 0,
        dropout: float = 0.1,
        norm_first: bool = False,
        num_classes: int = 2,
        mask_prob: float = 0.15,
        task: str = "classify",
        pooling: str = "cls",
    ) -> None:
        super().__init__()
        assert task in ("mlm", "classify"), f"task: mlm or classify (got {task!r})"
        assert pooling in ("cls", "mean"), f"pooling: cls or mean (got {pooling!r})"
        self.pooling = pooling
        self.vocab_size, self.max_len, self.task = vocab_size, max_len, task
        self.cls_id, self.mask_id = vocab_size, vocab_size + 1
        self.dropout, self.mask_prob = dropout, mask_prob
        self.embed = nn.Embedding(vocab_size + 2, d_model)  # words, [CLS], [MASK]
        self.positions = nn.Embedding(max_len + 1, d_model)  # learned (Sec. 3), [CLS] at 0
        self.embed_norm = tf.LayerNorm(d_model, eps=1e-12)  # the released code's LN(E + P)
        d_ff = d_ff or 4 * d_model
        self.blocks = nn.ModuleList(
            tf.EncoderBlock(d_model, n_heads, d_ff, dropout, norm_first, "gelu")
            for _ in range(num_layers)
        )
        self.final_norm = tf.LayerNorm(d_model) if norm_first else nn.Identity()
        # MLM head: transform, then the word embedding as output layer (tied), own bias
        self.mlm_dense = nn.Linear(d_model, d_model)
        self.mlm_norm = tf.LayerNorm(d_model, eps=1e-12)
        self.mlm_bias = nn.Parameter(torch.zeros(vocab_size + 2))
        self.classifier = nn.Linear(d_model, num_classes)  # on the final [CLS] vector
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The released code's initialisation: weights N(0, 0.02) (truncated there), biases 0,
        layer norms 1 and 0."""
        for module in self.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                nn.init.normal_(module.weight, std=0.02)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, tf.LayerNorm):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.zeros_(self.mlm_bias)

    def encode(self, tokens: Tensor, where: Tensor, keys: Tensor) -> Tensor:
        """Token ids (B, S), their positions (B, S) or (S,), and which keys each query may read
        (bool, broadcastable to (B, 1, S, S)) -> hidden vectors (B, S, D)."""
        x = self.embed_norm(self.embed(tokens) + self.positions(where))  # (B, S, D)
        x = F.dropout(x, self.dropout, self.training)
        for block in self.blocks:
            x = block(x, keys)
        return self.final_norm(x)

    def forward(self, ids: Tensor) -> Tensor:
        """Word ids (B, T), right-padded with 0 -> hidden vectors (B, 1 + T, D), [CLS] first."""
        batch, length = ids.shape
        assert length <= self.max_len, f"{length} words, positions for {self.max_len}"
        cls = torch.full((batch, 1), self.cls_id, dtype=ids.dtype, device=ids.device)
        tokens = torch.cat([cls, ids], dim=1)  # (B, 1 + T)
        where = torch.arange(1 + length, device=ids.device)  # (1 + T,)
        keys = (tokens != PAD)[:, None, None, :]  # (B, 1, 1, 1 + T): padding is never read
        return self.encode(tokens, where, keys)

    def pack(self, ids: Tensor, targets: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Several sentences per row, each attending to itself only: the padding is gone.

        The sentences of ``ids`` (B, T), each as [CLS] + its words with positions from 0, are
        laid one after the other into rows of max_len + 1 tokens (a sentence never spans two
        rows); a block-diagonal mask keeps every sentence to its own keys, so each position's
        output is what ``forward`` gives for its sentence alone (tested), at a fraction of the
        cost when sentences are much shorter than the longest (pretraining: 12.6 words on
        average, 45 the longest of a typical batch of 64). ``targets`` (B, T) moves with its
        words. Returns tokens, positions, segments (R, L): sentence number + 1, 0 for padding;
        and the targets (R, L), IGNORE at [CLS] and padding.
        """
        width = self.max_len + 1
        lengths = (ids != PAD).sum(dim=1).tolist()
        row, used, slots = 0, 0, []  # (row, offset) of every sentence, first fit in order
        for n in lengths:
            if used + n + 1 > width:
                row, used = row + 1, 0
            slots.append((row, used))
            used += n + 1
        shape = (row + 1, width)
        tokens = torch.zeros(shape, dtype=ids.dtype, device=ids.device)
        where = torch.zeros(shape, dtype=torch.long, device=ids.device)
        segments = torch.zeros(shape, dtype=torch.long, device=ids.device)
        packed = torch.full(shape, IGNORE, dtype=targets.dtype, device=ids.device)
        for i, ((r, start), n) in enumerate(zip(slots, lengths)):
            tokens[r, start] = self.cls_id
            tokens[r, start + 1 : start + 1 + n] = ids[i, :n]
            packed[r, start + 1 : start + 1 + n] = targets[i, :n]
            where[r, start : start + 1 + n] = torch.arange(n + 1, device=ids.device)
            segments[r, start : start + 1 + n] = i + 1
        return tokens, where, segments, packed

    def packed_hidden(self, tokens: Tensor, where: Tensor, segments: Tensor) -> Tensor:
        """Hidden vectors (R, L, D) of packed rows: each query reads its own sentence's keys."""
        same = segments[:, :, None] == segments[:, None, :]  # (R, L, L)
        keys = (same & (segments[:, None, :] > 0))[:, None]  # (R, 1, L, L)
        return self.encode(tokens, where, keys)

    def mlm_logits(self, hidden: Tensor) -> Tensor:
        """(..., D) -> (..., V + 2): the MLM head with the tied output layer."""
        h = self.mlm_norm(F.gelu(self.mlm_dense(hidden)))
        return h @ self.embed.weight.T + self.mlm_bias

    def classify(self, ids: Tensor) -> Tensor:
        """Class scores (B, num_classes) from the final [CLS] vector (Sec. 3.2), or from the
        mean of the words' final vectors (``pooling`` "mean")."""
        hidden = self(ids)  # (B, 1 + T, D)
        if self.pooling == "cls":
            pooled = hidden[:, 0]  # (B, D)
        else:
            words = (ids != PAD).unsqueeze(-1).to(hidden.dtype)  # (B, T, 1)
            pooled = (hidden[:, 1:] * words).sum(1) / words.sum(1).clamp(min=1)  # (B, D)
        return self.classifier(F.dropout(pooled, self.dropout, self.training))

    def step(self, batch: tuple[Tensor, Tensor]) -> StepOutput:
        """``mlm``: cross-entropy over the chosen words only, and how many are recovered;
        ``classify``: cross-entropy over the sentences' classes, accuracy."""
        ids, y = batch  # (B, T) word ids, (B,) class (all 0 for unlabelled sentences)
        longest = max(1, int((ids != PAD).sum(dim=1).max())) if len(ids) else 1
        ids = ids[:, :longest]  # (B, T) -> (B, T'): columns of padding only change nothing
        if self.task == "classify":
            scores = self.classify(ids)  # (B, C)
            n = len(y)
            loss = F.cross_entropy(scores, y) if n else scores.sum() * 0.0
            pred = scores.argmax(dim=1)
            metrics = {
                "loss": Mean(float(loss.detach()) * n, n),
                "accuracy": Mean(float((pred == y).sum()), n),
            }
            return StepOutput(loss, metrics, pred)
        generator = None  # training: torch's global generator, restored on resume
        if not self.training:
            generator = torch.Generator().manual_seed(EVAL_MASK_SEED)
        corrupted, targets = mask_tokens(
            ids, self.vocab_size, self.mask_id, self.mask_prob, generator
        )
        tokens, where, segments, targets = self.pack(corrupted, targets)  # (R, L) each
        chosen = targets != IGNORE  # (R, L)
        hidden = self.packed_hidden(tokens, where, segments)[chosen]  # (R, L, D) -> (N, D)
        logits = self.mlm_logits(hidden)  # (N, V + 2)
        n = int(chosen.sum())
        loss = F.cross_entropy(logits, targets[chosen]) if n else logits.sum() * 0.0
        right = float((logits.argmax(dim=1) == targets[chosen]).sum())
        metrics = {"loss": Mean(float(loss.detach()) * n, n), "mlm_accuracy": Mean(right, n)}
        return StepOutput(loss, metrics)

    def freeze(self, part: str) -> None:
        """Keep ``part`` as it is while fine-tuning: "embeddings" (word and position tables and
        their layer norm), "encoder" (every weight but the sentence head: a linear probe), or
        "none"."""
        assert part in (
            "none",
            "embeddings",
            "encoder",
        ), f"freeze: none, embeddings, encoder ({part!r})"
        frozen = {
            "none": [],
            "embeddings": [self.embed, self.positions, self.embed_norm],
            "encoder": [m for m in self.children() if m is not self.classifier],
        }[part]
        for module in frozen:
            module.requires_grad_(False)
        if part == "encoder":
            self.mlm_bias.requires_grad_(False)

    def configure_optimizers(self, config: Any) -> torch.optim.Optimizer:
        """AdamW with weight decay on the matrices (linear weights and embeddings) only, not on
        biases and layer-norm gains (the released code's exclusion), and the config's betas."""
        groups = decay_matrices_only(self, config.weight_decay)
        return build_optimizer(config, self, groups, betas=(config.beta1, config.beta2))


def create_model(config: Any, splits: Any) -> Bert:
    """BERT for word-id sentences (the ModelSpec hook): vocabulary and length from the data."""
    assert (
        isinstance(splits, DatasetSplits) and "vocab" in splits.metadata
    ), f"BERT reads word-id sentences ('sentences' or 'sst2'): got {type(splits).__name__}"
    if config.task == "classify":
        assert (
            splits.num_classes == config.num_classes
        ), f"{splits.name} has {splits.num_classes} classes, the config {config.num_classes}"
    model = Bert(
        len(splits.metadata["vocab"]),
        max_len=splits.x_train.shape[1],
        num_layers=config.num_layers,
        d_model=config.d_model,
        n_heads=config.n_heads,
        d_ff=config.d_ff,
        dropout=config.dropout,
        norm_first=config.norm_first,
        num_classes=config.num_classes,
        mask_prob=config.mask_prob,
        task=config.task,
        pooling=config.pooling,
    )
    model.freeze(config.freeze)
    return model


def create_criterion(config: Any) -> Callable | None:
    """None: the model's step computes its loss (masked words or classes)."""
    return None
