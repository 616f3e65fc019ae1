"""Configuration of BERT: the shared fields plus the encoder's own, scaled down from the paper.

BERT-Base is 12 layers of width 768 with 12 heads (Devlin et al. 2018, Sec. 3); Google's
smallest released model, BERT-Tiny (Turc et al. 2019), is 2 layers of width 128. The defaults
here are a 4-layer, 128-wide encoder over a word vocabulary of 4,000 ids, small enough to
pretrain on one CPU thread in about a quarter of an hour. ``task`` says what the network is
trained on: ``mlm`` (pretraining, Sec. 3.1 Task #1) or ``classify`` (fine-tuning on SST-2, the
[CLS] vector into a linear layer, Sec. 3.2).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BACKPROP, BaseConfig, OptimizerName, SchedulerName
from utils.registry import model_modules

# The size checks every Transformer shares (num_layers, d_model, n_heads, d_ff, dropout, Adam).
block_checks = model_modules("transformer").config.block_checks


@dataclass
class BertConfig(BaseConfig):
    learns_by = BACKPROP
    # What the network is trained on: masked words (pretraining) or the sentence's class.
    task: Literal["mlm", "classify"] = "classify"
    # Encoder blocks L (BERT-Base 12, BERT-Tiny 2).
    num_layers: int = 4
    # Width D of every position's vector (BERT-Base 768, BERT-Tiny 128).
    d_model: int = 128
    # Attention heads; d_head = d_model // n_heads (BERT-Base 12, BERT-Tiny 2).
    n_heads: int = 4
    # Hidden units of the feed-forward layers; 0 means 4 * d_model (the paper's ratio).
    d_ff: int = 0
    # Dropout on embeddings, attention weights, residual branches and the classifier (paper 0.1).
    dropout: float = 0.1
    # The paper's post-norm blocks, LayerNorm(x + Sublayer(x)); True: pre-norm with a final norm.
    norm_first: bool = False
    # What the sentence head reads: the final [CLS] vector (the paper, Sec. 3.2), or the mean of
    # the final vectors of the sentence's words ("mean"; without next-sentence prediction the
    # MLM never trains the [CLS] output, while every word's output is what it was trained on).
    pooling: Literal["cls", "mean"] = "cls"
    # Fine-tuning only: weights kept as they start. "embeddings": the word and position tables
    # (the words absent from a few hundred labelled sentences keep their place beside the words
    # present); "encoder": everything but the sentence head (a linear probe of the features).
    freeze: Literal["none", "embeddings", "encoder"] = "none"
    # Classes of the sentence head; the head exists in every run (pretraining too, untrained),
    # so that a pretrained checkpoint loads into a fine-tuning run unchanged.
    num_classes: int = 2
    # Share of the words chosen for prediction in a sentence (Sec. 3.1: 15%), of which 80% are
    # replaced by [MASK], 10% by a random word and 10% left as they are.
    mask_prob: float = 0.15
    # AdamW with decoupled weight decay on the matrices only (the paper: Adam, weight decay
    # 0.01, beta2 0.999, warm-up then linear decay; cosine here, the engine's schedule).
    optimizer: OptimizerName = "adamw"
    lr: float = 3e-4
    beta1: float = 0.9
    beta2: float = 0.999
    weight_decay: float = 0.01
    grad_clip: float | None = 1.0
    batch_size: int = 32
    scheduler: SchedulerName = "warmup_cosine"
    warmup_steps: int = 50
    min_lr_ratio: float = 0.1
    standardize: bool = False  # word ids, not features
    monitor: str = "val_accuracy"
    monitor_mode: Literal["max", "min"] = "max"

    def checks(self) -> list[tuple[bool, str]]:
        return (
            super().checks()
            + block_checks(self)
            + [
                (self.num_classes >= 2, f"num_classes must be >= 2 (got {self.num_classes})"),
                (0.0 < self.mask_prob < 1.0, f"mask_prob must be in (0, 1) (got {self.mask_prob})"),
                (
                    self.dataset in ("sentences", "sst2"),
                    f"dataset must be 'sentences' (pretraining) or 'sst2' (got {self.dataset!r})",
                ),
                (
                    (self.task == "mlm") == (self.dataset == "sentences"),
                    f"task {self.task!r} does not read dataset {self.dataset!r}: mlm pretrains on "
                    "'sentences', classify fine-tunes on 'sst2'",
                ),
                (
                    self.task == "classify" or self.freeze == "none",
                    f"freeze is for fine-tuning: mlm trains every weight (got {self.freeze!r})",
                ),
                (
                    self.task != "mlm" or self.monitor in ("val_loss", "val_mlm_accuracy"),
                    f"mlm reports loss and mlm_accuracy: monitor val_loss (got {self.monitor!r})",
                ),
            ]
        )
