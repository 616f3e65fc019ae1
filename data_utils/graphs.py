"""Graph data sets for node classification: Cora and Citeseer (Planetoid split), Zachary's karate.

One graph is one example, so these do not fit RawDataset; GraphData holds the node features, the
GCN propagation matrix, labels and the transductive train/val/test node masks. Its loaders
(FullGraphLoader) yield the whole graph once per epoch with one split's mask.
"""

from __future__ import annotations

import logging
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from data_utils.loaders import FullGraphLoader
from data_utils.sources import fetch, load_pickle
from utils.exceptions import DataError

logger = logging.getLogger(__name__)

# Planetoid stores one-hot labels without names; the index -> name mapping follows from the class
# sizes of the original LINQS data (Cora: Neural_Networks 818, ..., Rule_Learning 180; Citeseer:
# DB 701, ..., AI 249, plus Citeseer's 15 featureless nodes that end up in class 0).
CORA_CLASSES = [
    "Theory",
    "Reinforcement_Learning",
    "Genetic_Algorithms",
    "Neural_Networks",
    "Probabilistic_Methods",
    "Case_Based",
    "Rule_Learning",
]
CITESEER_CLASSES = ["AI", "ML", "IR", "DB", "Agents", "HCI"]


@dataclass
class GraphData:
    """One graph for transductive node classification.

    It is its own Splits (data_utils.base): ``loaders`` gives three FullGraphLoaders, one batch
    per epoch each, that differ only by their mask.

    Attributes:
        name: Registry name.
        x: Node features, float32 (N, F).
        adj: The GCN propagation matrix D^-1/2 (A + I) D^-1/2 of Kipf and Welling (2017, eq. 2)
            as a coalesced sparse COO float32 tensor (N, N); ``adj.to_dense()`` for a dense one.
        edge_index: Undirected edges in both directions, without self loops, int64 (2, E).
        y: Node labels, int64 (N,).
        train_mask: Nodes whose labels may be used for training, bool (N,).
        val_mask: Validation nodes, bool (N,).
        test_mask: Test nodes, bool (N,).
        num_classes: Number of classes.
        class_names: One name per class.
    """

    name: str
    x: Tensor
    adj: Tensor
    edge_index: Tensor
    y: Tensor
    train_mask: Tensor
    val_mask: Tensor
    test_mask: Tensor
    num_classes: int
    class_names: list[str]

    @property
    def num_nodes(self) -> int:
        """Number of nodes N."""
        return self.x.shape[0]

    @property
    def num_features(self) -> int:
        """Features per node F."""
        return self.x.shape[1]

    def loaders(
        self,
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        eval_batch_size: int | None = None,
    ) -> tuple[FullGraphLoader, FullGraphLoader, FullGraphLoader]:
        """Full-graph loaders with the train, val and test masks.

        ``batch_size``, ``eval_batch_size`` and ``seed`` are accepted for the shared interface and
        not used: a batch is the whole graph (its batch_size is the number of masked nodes) and
        nothing is shuffled. With world_size > 1 each rank gets a strided share of every mask.
        """
        shard = dict(rank=rank, world_size=world_size)
        return (
            FullGraphLoader(self, self.train_mask, **shard),
            FullGraphLoader(self, self.val_mask, **shard),
            FullGraphLoader(self, self.test_mask, **shard),
        )

    def facts(self) -> dict[str, Any]:
        """Data set name, nodes, features per node, number and names of the classes."""
        return {
            "dataset": self.name,
            "num_nodes": self.num_nodes,
            "num_features": self.num_features,
            "num_classes": self.num_classes,
            "class_names": list(self.class_names),
        }

    def summary(self) -> str:
        """E.g. "2708 nodes | 5278 edges | 1433 features | train 140 | val 500 | ..."."""
        return (
            f"{self.num_nodes} nodes | {self.edge_index.shape[1] // 2} edges | "
            f"{self.num_features} features | train {int(self.train_mask.sum())} | "
            f"val {int(self.val_mask.sum())} | test {int(self.test_mask.sum())} | "
            f"{self.num_classes} classes"
        )


def normalized_adjacency(edge_index: Tensor, num_nodes: int) -> Tensor:
    """D^-1/2 (A + I) D^-1/2 for an undirected graph given without self loops.

    Every node gets exactly one self loop, so every degree is >= 1. (The reference GCN code adds
    I to an A that already holds Citeseer's 124 self loops, giving those nodes weight 2; here the
    renormalisation trick is applied as the paper writes it.)

    Returns:
        A coalesced sparse COO float32 tensor (N, N).
    """
    loops = torch.arange(num_nodes).repeat(2, 1)  # (2, N)
    index = torch.cat([edge_index, loops], dim=1)  # (2, E + N)
    degree = torch.bincount(index[0], minlength=num_nodes).to(torch.float32)  # (N,)
    inv_sqrt = degree.pow(-0.5)
    values = inv_sqrt[index[0]] * inv_sqrt[index[1]]  # (E + N,)
    adj = torch.sparse_coo_tensor(index, values, (num_nodes, num_nodes), check_invariants=True)
    return adj.coalesce()


def _edge_index(pairs: np.ndarray) -> Tensor:
    """(M, 2) node pairs -> int64 (2, E): both directions, self loops and duplicates removed."""
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    both = np.concatenate([pairs, pairs[:, ::-1]])  # (2M, 2)
    both = np.unique(both, axis=0)  # sorted by source, then target
    return torch.from_numpy(both.T.copy()).to(torch.int64)


def _mask(indices: np.ndarray | range, n: int) -> Tensor:
    mask = torch.zeros(n, dtype=torch.bool)
    mask[torch.as_tensor(np.asarray(indices), dtype=torch.int64)] = True
    return mask


def parse_planetoid(folder_files: dict[str, Path], name: str) -> dict[str, object]:
    """Read the Planetoid files of one data set (Yang et al. 2016) as the GCN code does.

    Args:
        folder_files: Paths of ind.<name>.{x,y,tx,ty,allx,ally,graph,test.index}, keyed by
            file name.
        name: "cora" or "citeseer".

    Returns:
        {"features": float32 (N, F), "labels": int64 (N,), "pairs": int64 (M, 2),
         "train": range, "val": range, "test": sorted int64 array}.
    """

    def read(suffix: str) -> object:
        path = folder_files[f"ind.{name}.{suffix}"]
        try:
            with open(path, "rb") as f:
                return load_pickle(f, encoding="latin1")
        except (OSError, pickle.UnpicklingError, EOFError, ValueError) as err:
            raise DataError(f"cannot read Planetoid file {path}: {err}") from err

    x, y, tx, ty, allx, ally, graph = (
        read(s) for s in ("x", "y", "tx", "ty", "allx", "ally", "graph")
    )
    index_path = folder_files[f"ind.{name}.test.index"]
    try:
        test_reorder = np.array([int(v) for v in index_path.read_text().split()], dtype=np.int64)
    except (OSError, ValueError) as err:
        raise DataError(f"cannot read Planetoid test index {index_path}: {err}") from err
    test_range = np.sort(test_reorder)

    import scipy.sparse as sp  # here: SciPy's import is slow and only Planetoid needs it

    tx, ty = sp.csr_matrix(tx), np.asarray(ty)
    if name == "citeseer":
        # Citeseer has isolated test nodes missing from tx/ty: insert zero rows for them so that
        # row i is node i (gcn/utils.py, load_data)
        full = np.arange(test_reorder.min(), test_reorder.max() + 1)
        tx_full = sp.lil_matrix((len(full), tx.shape[1]), dtype=np.float32)
        tx_full[test_range - test_range.min(), :] = tx
        ty_full = np.zeros((len(full), ty.shape[1]), dtype=ty.dtype)
        ty_full[test_range - test_range.min(), :] = ty
        tx, ty = sp.csr_matrix(tx_full), ty_full

    features = sp.vstack([sp.csr_matrix(allx), tx]).tolil()
    features[test_reorder, :] = features[test_range, :]  # test rows are stored shuffled
    labels_onehot = np.vstack([np.asarray(ally), ty])
    labels_onehot[test_reorder, :] = labels_onehot[test_range, :]
    n = features.shape[0]

    pairs = [(int(u), int(v)) for u, neighbours in dict(graph).items() for v in neighbours]
    pairs_array = np.array(pairs, dtype=np.int64).reshape(-1, 2)
    if pairs_array.size and pairs_array.max() >= n:
        raise DataError(f"{name}: the graph names node {pairs_array.max()} but there are {n}")
    n_train = np.asarray(y).shape[0]
    return {
        "features": np.asarray(features.todense(), dtype=np.float32),
        "labels": labels_onehot.argmax(axis=1).astype(np.int64),
        "pairs": pairs_array,
        "train": range(n_train),
        "val": range(n_train, n_train + 500),
        "test": test_range,
    }


def _load_planetoid(name: str, data_dir: str | Path | None, normalize_features: bool) -> GraphData:
    parsed = parse_planetoid(fetch(name, data_dir), name)
    x = torch.from_numpy(parsed["features"])  # (N, F), bag-of-words 0/1
    if normalize_features:  # row-normalise to sum 1, as gcn/utils.py preprocess_features
        x = x / x.sum(dim=1, keepdim=True).clamp_min(1e-12)
    n = x.shape[0]
    edge_index = _edge_index(parsed["pairs"])
    class_names = CORA_CLASSES if name == "cora" else CITESEER_CLASSES
    return GraphData(
        name=name,
        x=x,
        adj=normalized_adjacency(edge_index, n),
        edge_index=edge_index,
        y=torch.from_numpy(parsed["labels"]),
        train_mask=_mask(parsed["train"], n),
        val_mask=_mask(parsed["val"], n),
        test_mask=_mask(parsed["test"], n),
        num_classes=len(class_names),
        class_names=list(class_names),
    )


def load_cora(
    *, seed: int = 42, data_dir: str | Path | None = None, normalize_features: bool = True
) -> GraphData:
    """Cora citation graph, Planetoid split: 2708 nodes, 5278 edges, 1433 features, 7 classes.

    Masks as in Kipf and Welling (2017): 140 train (20 per class), 500 val, 1000 test nodes.

    Args:
        seed: Unused (the split is the fixed Planetoid one).
        data_dir: Data directory holding planetoid/ind.cora.*.
        normalize_features: Row-normalise the bag-of-words features to sum 1.
    """
    return _load_planetoid("cora", data_dir, normalize_features)


def load_citeseer(
    *, seed: int = 42, data_dir: str | Path | None = None, normalize_features: bool = True
) -> GraphData:
    """Citeseer citation graph, Planetoid split: 3327 nodes, 4552 edges, 3703 features, 6 classes.

    Masks as in Kipf and Welling (2017): 120 train, 500 val, 1000 test nodes. The 15 isolated
    test-range nodes without features or labels get zero features and label 0 and are in no mask.
    """
    return _load_planetoid("citeseer", data_dir, normalize_features)


def load_karate(*, seed: int = 42, data_dir: str | Path | None = None) -> GraphData:
    """Zachary's karate club (1977) from networkx: 34 members, 78 friendships, 2 factions.

    Labels: 0 = Mr. Hi's faction, 1 = the Officer's. Features are one-hot node ids (identity,
    as in Kipf's GCN demo). Only the two leaders are labelled for training (nodes 0 and 33);
    with 34 nodes there is no separate validation set: val and test are both the other 32 nodes.
    """
    import networkx as nx  # here: networkx's import is slow and only this loader needs it

    graph = nx.karate_club_graph()
    n = graph.number_of_nodes()
    labels = [0 if graph.nodes[v]["club"] == "Mr. Hi" else 1 for v in range(n)]
    edge_index = _edge_index(np.array(list(graph.edges()), dtype=np.int64))
    train = torch.zeros(n, dtype=torch.bool)
    train[[0, 33]] = True
    return GraphData(
        name="karate",
        x=torch.eye(n),  # (34, 34) one-hot node ids
        adj=normalized_adjacency(edge_index, n),
        edge_index=edge_index,
        y=torch.tensor(labels, dtype=torch.int64),
        train_mask=train,
        val_mask=~train,
        test_mask=~train,
        num_classes=2,
        class_names=["Mr. Hi", "Officer"],
    )
