"""The real data sets load with the right shapes, counts, label sets and checksums.

These tests read the verified offline copies in $AIFS_DATA_DIR (CI sets it to ../shared/datasets)
with downloads off. Without the variable they are skipped with that reason; with it, a missing or
corrupt data set is a failure, not a skip. Decoded arrays (CIFAR-10) are cached once per session.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from data_utils import DATASETS, create_data_loaders, load_dataset
from data_utils.checksums import SOURCES
from data_utils.sources import fetch, file_digests
from data_utils.transforms import channel_stats

DATA_DIR = os.environ.get("AIFS_DATA_DIR")
pytestmark = pytest.mark.skipif(
    not DATA_DIR,
    reason="AIFS_DATA_DIR is not set: point it at the verified data copies "
    "(CI uses ../shared/datasets) to run the real-data tests",
)

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


@pytest.fixture(scope="session")
def session_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("aifs-real-cache")


@pytest.fixture(autouse=True)
def shared_cache(isolated_cache, session_cache, monkeypatch) -> None:
    monkeypatch.setenv("AIFS_CACHE_DIR", str(session_cache))  # decode CIFAR-10 once


@pytest.mark.parametrize(
    "key",
    ["mnist", "fashion_mnist", "cifar10_jpg", "tiny_shakespeare", "cora", "citeseer", "sst2"]
    + ["isbi_membrane"],
)
def test_real_files_match_the_hard_coded_checksums(key: str) -> None:
    paths = fetch(key)
    for spec in SOURCES[key].files:
        sha, md5 = file_digests(paths[spec.name])  # recomputed, not taken from a marker
        if spec.sha256:
            assert sha == spec.sha256, spec.name
        if spec.md5:
            assert md5 == spec.md5, spec.name
        assert spec.size is None or paths[spec.name].stat().st_size == spec.size


def test_mnist() -> None:
    raw = DATASETS["mnist"]()
    assert raw.x.shape == (60000, 1, 28, 28) and raw.x.dtype == torch.uint8
    assert raw.x_test.shape == (10000, 1, 28, 28)
    assert raw.y.bincount().tolist() == MNIST_TRAIN_COUNTS
    assert raw.y_test.bincount().tolist() == MNIST_TEST_COUNTS
    assert int(raw.x.max()) == 255 and int(raw.x.min()) == 0

    splits = load_dataset("mnist", seed=0)
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (51000, 9000, 10000)
    assert splits.y_val.bincount().tolist() == [round(c * 0.15) for c in MNIST_TRAIN_COUNTS]
    train, _, _ = create_data_loaders(splits, batch_size=256, seed=0)
    xb, yb = next(iter(train))
    assert xb.shape == (256, 1, 28, 28) and xb.dtype == torch.float32
    assert 0.0 <= float(xb.min()) and float(xb.max()) <= 1.0 and yb.dtype == torch.int64


def test_fashion_mnist() -> None:
    raw = DATASETS["fashion_mnist"]()
    assert raw.x.shape == (60000, 1, 28, 28) and raw.x_test.shape == (10000, 1, 28, 28)
    assert raw.y.bincount().tolist() == [6000] * 10
    assert raw.y_test.bincount().tolist() == [1000] * 10
    assert raw.class_names[0] == "T-shirt/top" and raw.class_names[9] == "Ankle boot"


def test_cifar10_from_the_jpg_copy() -> None:
    raw = DATASETS["cifar10"]()  # auto: the JPEG archive is the copy found in AIFS_DATA_DIR
    assert raw.x.shape == (50000, 3, 32, 32) and raw.x.dtype == torch.uint8
    assert raw.x_test.shape == (10000, 3, 32, 32)
    assert raw.y.bincount().tolist() == [5000] * 10
    assert raw.y_test.bincount().tolist() == [1000] * 10
    mean, _ = channel_stats(raw.x)  # PROVENANCE.md: 0.4913, 0.4821, 0.4465
    torch.testing.assert_close(mean, torch.tensor([0.4913, 0.4821, 0.4465]), atol=2e-4, rtol=0)
    again = DATASETS["cifar10"]()  # from the decoded cache
    assert torch.equal(again.y_test, raw.y_test) and torch.equal(again.x[-1], raw.x[-1])


def test_tiny_shakespeare() -> None:
    corpus = DATASETS["tiny_shakespeare"]()
    assert len(corpus.text) == 1115394 and corpus.vocab_size == 65
    assert (
        len(corpus.train) == int(1115394 * 0.9) and len(corpus.train) + len(corpus.val) == 1115394
    )
    assert corpus.decode(corpus.train[:14]) == "First Citizen:"


def test_sst2() -> None:
    splits = load_dataset("sst2")
    assert (len(splits.y_train), len(splits.y_val), len(splits.y_test)) == (6920, 872, 1821)
    assert splits.y_train.bincount().tolist() == [3310, 3610]
    assert splits.y_test.bincount().tolist() == [912, 909]
    assert splits.x_train.dtype == torch.int64 and splits.x_train.shape[1] == splits.x_test.shape[1]
    vocab = splits.metadata["vocab"]
    assert len(vocab) > 10000 and vocab.itos[:2] == ["<pad>", "<unk>"]


PLANETOID_COUNTS = {
    "cora": [351, 217, 418, 818, 426, 298, 180],
    "citeseer": [264, 590, 668, 701, 596, 508],  # class 0 includes the 15 featureless nodes
}


@pytest.mark.parametrize(
    "name, nodes, features, classes, edges, n_train",
    [("cora", 2708, 1433, 7, 5278, 140), ("citeseer", 3327, 3703, 6, 4552, 120)],
)
def test_planetoid(name, nodes, features, classes, edges, n_train) -> None:
    graph = DATASETS[name]()
    assert graph.y.bincount().tolist() == PLANETOID_COUNTS[name]
    assert graph.class_names[3] == {"cora": "Neural_Networks", "citeseer": "DB"}[name]
    assert graph.x.shape == (nodes, features) and graph.num_classes == classes
    assert graph.edge_index.shape == (2, 2 * edges)
    assert graph.adj.shape == (nodes, nodes) and graph.adj._nnz() == 2 * edges + nodes
    masks = (graph.train_mask, graph.val_mask, graph.test_mask)
    assert [int(m.sum()) for m in masks] == [n_train, 500, 1000]
    assert not (graph.train_mask & graph.test_mask).any()
    assert not (graph.val_mask & graph.test_mask).any()
    assert graph.y[graph.train_mask].bincount().tolist() == [20] * classes
    assert set(graph.y[graph.test_mask].tolist()) == set(range(classes))


def test_isbi_membrane() -> None:
    data = DATASETS["isbi_membrane"](val_fraction=0.0)
    assert data.x_train.shape == (30, 1, 512, 512) and data.x_train.dtype == torch.uint8
    assert data.y_train.shape == (30, 512, 512) and data.x_test.shape == (30, 1, 512, 512)
    assert set(data.y_train.unique().tolist()) == {0, 1}
    assert abs(data.y_train.float().mean().item() - 0.78) < 0.01  # PROVENANCE: 78% interior
