"""Every data set through load_dataset, and loaders for batches of any structure (issue 15).

Token windows of one stream, a full graph with node masks, (image, mask) segmentation batches,
images with a variable number of boxes each, and batch_size_of for all of them. The real-data
tests read $AIFS_DATA_DIR and are skipped without it; karate and the tiny files need nothing.
"""

from __future__ import annotations

import json
import os

import pytest
import torch

from data_utils import (
    ArrayLoader,
    CharCorpus,
    DatasetSplits,
    FullGraphLoader,
    GraphData,
    ListTargetLoader,
    Loader,
    SegmentationData,
    Splits,
    TokenWindows,
    batch_size_of,
    create_data_loaders,
    load_dataset,
)
from utils.exceptions import ConfigError, DataError

needs_data = pytest.mark.skipif(
    not os.environ.get("AIFS_DATA_DIR"),
    reason="AIFS_DATA_DIR is not set: point it at the verified data copies (../shared/datasets)",
)


def _starts(loader: TokenWindows) -> list[int]:
    """Window start offsets of one epoch, read off x[:, 0] (the tokens are their positions)."""
    return [int(s) for x, _ in loader for s in x[:, 0]]


def _check_splits_interface(splits: Splits) -> None:
    assert isinstance(splits, Splits)
    facts = splits.facts()
    assert facts["dataset"] == splits.name
    json.dumps(facts)  # plain values only: a checkpoint stores them
    line = splits.summary()
    assert isinstance(line, str) and "\n" not in line and "train" in line
    loaders = splits.loaders(4, seed=0)
    assert len(loaders) == 3
    for loader in loaders:
        assert isinstance(loader, Loader) and loader.batch_size >= 1
        loader.set_epoch(1)
        batches = list(loader)
        assert len(batches) == len(loader) >= 1
        assert all(1 <= batch_size_of(b) <= loader.batch_size for b in batches)


# ---------------------------------------------------------------- token windows


@pytest.mark.parametrize("mode", ["random", "sequential"])
def test_windows_are_shifted_by_one(mode: str) -> None:
    tokens = torch.arange(1000)  # token i is its own position
    loader = TokenWindows(tokens, 16, 8, mode=mode, seed=1)
    for x, y in loader:
        assert x.shape == y.shape and x.shape[1] == 16 and x.dtype == y.dtype == torch.int64
        assert torch.equal(y, x + 1)  # y is the token after x
        assert torch.equal(x[:, 1:], x[:, :-1] + 1)  # a window is a contiguous slice
        assert int(y.max()) <= 999  # never past the end of the stream


def test_random_windows_depend_only_on_seed_and_epoch() -> None:
    tokens = torch.arange(5000)
    a = TokenWindows(tokens, 8, 32, windows_per_epoch=100, seed=3)
    b = TokenWindows(tokens, 8, 32, windows_per_epoch=100, seed=3)
    torch.manual_seed(0)  # the global RNG must not matter
    a.set_epoch(2)
    first = _starts(a)
    torch.manual_seed(1)
    _starts(b)  # iterating another epoch first must not matter either
    b.set_epoch(2)
    assert _starts(b) == first == _starts(a)
    assert len(first) == 100 and len(a) == 4  # ceil(100 / 32) batches, the last of 4 windows
    a.set_epoch(3)
    assert _starts(a) != first
    c = TokenWindows(tokens, 8, 32, windows_per_epoch=100, seed=4)
    c.set_epoch(2)
    assert _starts(c) != first


def test_default_windows_per_epoch_hold_one_stream_of_targets() -> None:
    loader = TokenWindows(torch.arange(1001), 10, 7)
    assert loader.num_windows == 100 and len(loader) == 15


@pytest.mark.parametrize("length", [161, 170])  # (L - 1) % T == 0, and a partial last window
def test_sequential_windows_predict_every_token_once(length: int) -> None:
    tokens = torch.arange(length)
    loader = TokenWindows(tokens, 16, 3, mode="sequential")
    targets = torch.cat([y.flatten() for _, y in loader])
    full = (length - 1) // 16
    assert torch.equal(targets, torch.arange(1, full * 16 + 1))  # in order, each once
    assert length - 1 - len(targets) < 16  # only a partial last window is dropped
    loader.set_epoch(5)
    assert torch.equal(torch.cat([y.flatten() for _, y in loader]), targets)  # no randomness


@pytest.mark.parametrize("mode", ["random", "sequential"])
@pytest.mark.parametrize("world_size", [2, 3])
def test_window_shards_are_disjoint_and_cover_the_epoch(mode: str, world_size: int) -> None:
    tokens = torch.arange(3000)
    options = dict(mode=mode, seed=7, windows_per_epoch=50 if mode == "random" else None)
    whole = TokenWindows(tokens, 20, 8, **options)
    whole.set_epoch(4)
    shards = []
    for rank in range(world_size):
        shard = TokenWindows(tokens, 20, 8, rank=rank, world_size=world_size, **options)
        shard.set_epoch(4)
        shards.append(_starts(shard))
        assert len(shards[-1]) == shard.num_samples
    everything = _starts(whole)
    assert sorted(s for shard in shards for s in shard) == sorted(everything)
    for rank, shard in enumerate(shards):
        assert shard == everything[rank::world_size]  # strided share of the same windows


def test_bad_window_options_are_clear_errors() -> None:
    tokens = torch.arange(100)
    with pytest.raises(ConfigError, match="block_size must be an integer >= 1"):
        TokenWindows(tokens, 0, 4)
    with pytest.raises(DataError, match="block_size 100 is too long for a stream of 100 tokens"):
        TokenWindows(tokens, 100, 4)
    with pytest.raises(ConfigError, match="unknown window mode 'shuffled'; valid: random"):
        TokenWindows(tokens, 8, 4, mode="shuffled")
    with pytest.raises(ConfigError, match="windows_per_epoch applies to mode 'random' only"):
        TokenWindows(tokens, 8, 4, mode="sequential", windows_per_epoch=10)
    with pytest.raises(ConfigError, match="windows_per_epoch must be an integer >= 1"):
        TokenWindows(tokens, 8, 4, windows_per_epoch=0)
    with pytest.raises(DataError, match="cannot be shared by 4 processes"):
        TokenWindows(tokens, 40, 4, mode="sequential", rank=0, world_size=4)


def _corpus(**options: object) -> CharCorpus:
    from data_utils.text import char_corpus

    return char_corpus("tiny", "to be or not to be, that is the question. " * 20, **options)


def test_char_corpus_is_a_splits_with_token_windows() -> None:
    corpus = _corpus(block_size=8, windows_per_epoch=30)
    _check_splits_interface(corpus)
    train, val, test = corpus.loaders(4, seed=0, eval_batch_size=16)
    assert train.mode == "random" and val.mode == test.mode == "sequential"
    assert train.num_windows == 30 and val.batch_size == 16
    assert test.tokens is corpus.val  # no test split: test = val
    assert corpus.facts()["vocabulary"] == corpus.chars
    assert corpus.facts()["vocab_size"] == corpus.vocab_size
    assert corpus.summary().startswith(f"train {len(corpus.train):,} chars | val ")


def test_char_corpus_refuses_bad_options() -> None:
    with pytest.raises(ConfigError, match="block_size"):
        _corpus(block_size=0)
    with pytest.raises(ConfigError, match="unknown window mode 'strided'"):
        _corpus(block_size=8, train_mode="strided")
    with pytest.raises(DataError, match="too long for the val stream of 84 tokens"):
        _corpus(block_size=84)


def test_tiny_shakespeare_options_through_load_dataset(tmp_path, register_source) -> None:
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 10
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text(text)
    register_source("tiny_shakespeare", "tinyshakespeare", tmp_path, ["input.txt"])
    corpus = load_dataset("tiny_shakespeare", data_dir=tmp_path, block_size=4)
    assert isinstance(corpus, CharCorpus) and corpus.block_size == 4
    assert len(corpus.val) == len(text) - int(len(text) * 0.9)  # nanoGPT's 10% by default
    wider = load_dataset("tiny_shakespeare", data_dir=tmp_path, block_size=4, val_fraction=0.5)
    assert len(wider.val) == len(text) // 2
    sequential = load_dataset(
        "tiny_shakespeare", data_dir=tmp_path, block_size=4, train_mode="sequential"
    )
    assert sequential.loaders(2, seed=0)[0].mode == "sequential"
    with pytest.raises(ConfigError, match="unknown window mode 'shuffle'"):
        load_dataset("tiny_shakespeare", data_dir=tmp_path, train_mode="shuffle")
    with pytest.raises(DataError, match="block_size 10000 is too long for the train stream"):
        load_dataset("tiny_shakespeare", data_dir=tmp_path, block_size=10_000)
    with pytest.raises(DataError, match="does not accept option"):
        load_dataset("tiny_shakespeare", data_dir=tmp_path, block=4)


@needs_data
def test_tiny_shakespeare_through_load_dataset() -> None:
    corpus = load_dataset("tiny_shakespeare", block_size=64)
    assert isinstance(corpus, CharCorpus) and corpus.vocab_size == 65
    assert corpus.summary().startswith("train 1,003,854 chars | val 111,540 chars | test = val")
    train, val, _ = corpus.loaders(32, seed=0)
    assert len(train) == (1_003_854 - 1) // 64 // 32 + 1 and len(val) == 1742 // 32 + 1
    x, y = next(iter(train))
    assert x.shape == y.shape == (32, 64)
    assert corpus.decode(next(iter(val))[0][0][:14]) == corpus.decode(corpus.val[:14])


# ---------------------------------------------------------------- graphs


def test_karate_through_load_dataset_gives_full_graph_batches() -> None:
    graph = load_dataset("karate", seed=0)
    assert isinstance(graph, GraphData)
    _check_splits_interface(graph)
    loaders = graph.loaders(64, seed=0)
    masks = (graph.train_mask, graph.val_mask, graph.test_mask)
    for loader, mask in zip(loaders, masks):
        assert len(loader) == 1 and loader.batch_size == int(mask.sum())
        (batch,) = list(loader)
        assert set(batch) == {"x", "adj", "edge_index", "y", "mask"}
        assert torch.equal(batch["mask"], mask)  # the masks are GraphData's
        assert batch["x"] is graph.x and batch["adj"] is graph.adj and batch["y"] is graph.y
        assert batch_size_of(batch) == int(mask.sum())
    train, val, test = (next(iter(loader))["mask"] for loader in loaders)
    assert not (train & val).any() and not (train & test).any()  # karate: val = test, said so
    assert graph.facts() == {
        "dataset": "karate",
        "num_nodes": 34,
        "num_features": 34,
        "num_classes": 2,
        "class_names": ["Mr. Hi", "Officer"],
    }


@pytest.mark.parametrize("world_size", [2, 3])
def test_graph_mask_shards_are_disjoint_and_cover_the_split(world_size: int) -> None:
    graph = load_dataset("karate")
    shards = [
        next(iter(FullGraphLoader(graph, graph.val_mask, rank=r, world_size=world_size)))["mask"]
        for r in range(world_size)
    ]
    assert int(torch.stack(shards).sum(0).max()) == 1  # no node in two shards
    assert torch.equal(torch.stack(shards).any(0), graph.val_mask)
    with pytest.raises(DataError, match="a mask of 2 nodes cannot be shared by 3 processes"):
        FullGraphLoader(graph, graph.train_mask, rank=0, world_size=3)


@needs_data
def test_cora_through_load_dataset() -> None:
    graph = load_dataset("cora")
    assert isinstance(graph, GraphData)
    train, val, test = (next(iter(loader))["mask"] for loader in graph.loaders(1, seed=0))
    assert [int(m.sum()) for m in (train, val, test)] == [140, 500, 1000]
    assert not (train & val).any() and not (train & test).any() and not (val & test).any()
    assert torch.equal(test, graph.test_mask)
    assert graph.summary() == (
        "2708 nodes | 5278 edges | 1433 features | train 140 | val 500 | test 1000 | 7 classes"
    )


# ---------------------------------------------------------------- segmentation


def _segmentation(n_train: int = 5, n_val: int = 2) -> SegmentationData:
    def images(n: int) -> torch.Tensor:
        return torch.arange(n, dtype=torch.uint8).view(n, 1, 1, 1).expand(n, 1, 6, 8).clone()

    def masks(n: int) -> torch.Tensor:
        return (torch.arange(n).view(n, 1, 1) + torch.zeros(n, 6, 8, dtype=torch.int64)) % 2

    return SegmentationData(
        name="toy_segmentation",
        x_train=images(n_train),
        y_train=masks(n_train),
        x_val=images(n_val),
        y_val=masks(n_val),
        x_test=images(3),
        num_classes=2,
        class_names=["membrane", "cell"],
    )


def test_segmentation_batches_are_images_and_pixel_masks() -> None:
    data = _segmentation()
    _check_splits_interface(data)
    train, val, test = data.loaders(2, seed=0)
    assert isinstance(train, ArrayLoader) and train.shuffle and not val.shuffle
    for xb, yb in train:
        assert xb.dtype == torch.float32 and xb.shape[1:] == (1, 6, 8)
        assert yb.dtype == torch.int64 and yb.shape == (len(xb), 6, 8)
        image_ids = (xb[:, 0, 0, 0] * 255).round().long()
        assert torch.equal(yb[:, 0, 0], image_ids % 2)  # each mask travels with its image
    assert [len(y) for _, y in test] == [2] and torch.equal(next(iter(test))[1], data.y_val)
    assert data.facts()["input_shape"] == [1, 6, 8]
    assert data.summary().startswith("train 5 images | val 2 | test = val")


@needs_data
def test_isbi_membrane_through_load_dataset() -> None:
    data = load_dataset("isbi_membrane", seed=0)
    assert isinstance(data, SegmentationData)
    assert data.x_train.shape == (24, 1, 512, 512) and data.x_val.shape == (6, 1, 512, 512)
    xb, yb = next(iter(data.loaders(2, seed=0)[0]))
    assert xb.shape == (2, 1, 512, 512) and xb.dtype == torch.float32
    assert yb.shape == (2, 512, 512) and yb.dtype == torch.int64
    assert set(yb.unique().tolist()) == {0, 1}
    other = load_dataset("isbi_membrane", seed=1, val_fraction=0.1)
    assert len(other.x_val) == 3 and not torch.equal(other.x_val[:3], data.x_val[:3])


# ---------------------------------------------------------------- variable-size targets


def _detection(n: int = 11) -> tuple[torch.Tensor, list[dict[str, torch.Tensor]]]:
    x = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, 4, 4).clone()
    targets = []
    for i in range(n):
        k = i % 4  # 0..3 boxes per image
        boxes = torch.full((k, 4), float(i))  # every box of image i holds i
        targets.append({"boxes": boxes, "labels": torch.full((k,), i % 3, dtype=torch.int64)})
    return x, targets


def test_list_target_batches_keep_each_images_targets() -> None:
    x, targets = _detection()
    loader = ListTargetLoader(x, targets, 4, shuffle=True, seed=2)
    loader.set_epoch(1)
    seen = []
    for xb, tb in loader:
        assert isinstance(tb, list) and len(tb) == len(xb) == batch_size_of((xb, tb))
        for image, target in zip(xb, tb):
            i = int(image[0, 0, 0])
            assert target["boxes"].shape == (i % 4, 4) and bool((target["boxes"] == i).all())
            assert target["labels"].tolist() == [i % 3] * (i % 4)
            seen.append(i)
    assert sorted(seen) == list(range(11)) and seen != sorted(seen)
    again = ListTargetLoader(x, targets, 4, shuffle=True, seed=2)
    again.set_epoch(1)
    assert [int(im[0, 0, 0]) for xb, _ in again for im in xb] == seen
    # the order is ArrayLoader's for the same seed and epoch
    reference = ArrayLoader(x, torch.arange(11), 4, shuffle=True, seed=2)
    reference.set_epoch(1)
    assert [int(i) for _, yb in reference for i in yb] == seen


def test_list_target_shards_are_disjoint_and_covering() -> None:
    x, targets = _detection()
    ids = []
    for rank in range(3):
        loader = ListTargetLoader(x, targets, 2, shuffle=True, seed=0, rank=rank, world_size=3)
        ids.append([int(im[0, 0, 0]) for xb, _ in loader for im in xb])
    assert sorted(i for shard in ids for i in shard) == list(range(11))


def test_list_target_loader_checks_its_targets() -> None:
    x, targets = _detection(3)
    with pytest.raises(AssertionError, match="3 images but 2 targets"):
        ListTargetLoader(x, targets[:2], 2)
    targets[1] = {"boxes": torch.zeros(2, 4), "labels": torch.zeros(3, dtype=torch.int64)}
    with pytest.raises(AssertionError, match="target 1: labels must be int64"):
        ListTargetLoader(x, targets, 2)


# ---------------------------------------------------------------- batch_size_of, arrays


def test_batch_size_of_every_structure() -> None:
    x = torch.zeros(5, 3)
    assert batch_size_of(x) == 5
    assert batch_size_of((x, torch.zeros(5))) == 5
    assert batch_size_of([x, [{"boxes": torch.zeros(0, 4)}] * 5]) == 5
    mask = torch.tensor([True, False, True, True])
    assert batch_size_of({"x": torch.zeros(4, 2), "mask": mask}) == 3  # nodes, not the graph
    assert batch_size_of({"x": torch.zeros(7, 2), "y": torch.zeros(7)}) == 7
    with pytest.raises(TypeError, match="got dict with keys \\['tokens'\\]"):
        batch_size_of({"tokens": x})
    with pytest.raises(TypeError, match="got list"):
        batch_size_of([])
    for no_batch_dimension in (torch.tensor(3.0), (torch.tensor(3.0), torch.zeros(1))):
        with pytest.raises(TypeError, match="0-d"):
            batch_size_of(no_batch_dimension)


def test_array_sets_keep_their_splits_and_loaders() -> None:
    splits = load_dataset("iris", seed=1)
    explicit = load_dataset("iris", seed=1, val_fraction=0.15)
    assert isinstance(splits, DatasetSplits)
    assert torch.equal(splits.x_val, explicit.x_val) and len(splits.y_val) == 22
    _check_splits_interface(splits)
    ours = splits.loaders(16, seed=3, eval_batch_size=50)
    theirs = create_data_loaders(splits, 16, seed=3, eval_batch_size=50)
    for a, b in zip(ours, theirs):
        a.set_epoch(2)
        b.set_epoch(2)
        assert [yb.tolist() for _, yb in a] == [yb.tolist() for _, yb in b]
    assert splits.facts() == {
        "dataset": "iris",
        "num_classes": 3,
        "class_names": splits.class_names,
        "input_shape": [4],
    }
    assert splits.summary() == "train 106 | val 22 | test 22 | 3 classes"
