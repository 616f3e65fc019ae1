"""GCN: the layer against a dense computation and torch_geometric's GCNConv, the renormalised
adjacency, dropout on sparse features, learning on a fixed graph, label propagation, the MLP
baseline, the over-smoothing measure, the scripts."""

from __future__ import annotations

import sys
from pathlib import Path
from unittest import mock

import networkx as nx
import numpy as np
import pytest
import torch
from torch_geometric.nn import GCNConv

from data_utils import load_dataset, normalized_adjacency
from engine.trainer import Trainer
from engine.workflow import build_optimizer
from utils.config import load_config
from utils.registry import model_modules
from utils.testing import assert_config_error, copy_model, load_script, run_json

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("gcn")
m = mods.model
SPEC = mods.train.SPEC


def config(experiment: str = "smoke", **changes):
    return load_config(SPEC.config_cls, SPEC.experiments_file, experiment, changes)


def random_graph(n: int = 12, p: float = 0.3, seed: int = 0) -> torch.Tensor:
    """A random undirected graph without self loops as a (2, E) edge index, both directions."""
    graph = nx.gnp_random_graph(n, p, seed=seed)
    graph.add_edge(0, 1)  # at least one edge
    pairs = torch.tensor(list(graph.edges()), dtype=torch.int64).t()  # (2, M)
    return torch.cat([pairs, pairs.flip(0)], dim=1)  # (2, 2M)


# ------------------------------------------------------------------- the renormalised adjacency


def test_the_normalised_adjacency_rows_are_the_renormalisation_trick():
    graph = load_dataset("karate")
    a_hat = graph.adj.to_dense().double()  # (34, 34)
    a = nx.to_numpy_array(nx.karate_club_graph(), weight=None)  # 0/1, no self loops
    a_tilde = a + np.eye(34)
    d = a_tilde.sum(1)  # degrees with the self loop
    expected = a_tilde / np.sqrt(d)[:, None] / np.sqrt(d)[None, :]
    np.testing.assert_allclose(a_hat.numpy(), expected, rtol=1e-6)
    # row i: 1/d_i on the diagonal, 1/sqrt(d_i d_j) for each neighbour j, zero elsewhere
    row = a_hat[33].numpy()
    neighbours = np.flatnonzero(a[33])
    np.testing.assert_allclose(row[33], 1 / d[33], rtol=1e-6)
    np.testing.assert_allclose(row[neighbours], 1 / np.sqrt(d[33] * d[neighbours]), rtol=1e-6)
    assert np.count_nonzero(row) == len(neighbours) + 1
    # D~^1/2 1 is an eigenvector of eigenvalue 1; D~^-1/2 A_hat D~^1/2 has rows summing to 1
    sqrt_d = torch.tensor(np.sqrt(d))
    torch.testing.assert_close(a_hat @ sqrt_d, sqrt_d)
    walk = a_hat * sqrt_d[None, :] / sqrt_d[:, None]
    torch.testing.assert_close(walk.sum(1), torch.ones(34, dtype=torch.float64))
    # its spectrum lies in (-1, 1] (Sec. 2.2: the trick keeps repeated products stable)
    eigenvalues = torch.linalg.eigvalsh(a_hat)
    assert eigenvalues.max() == pytest.approx(1.0) and eigenvalues.min() > -1


def test_the_normalised_adjacency_matches_networkx_on_a_random_graph():
    edge_index = random_graph(20, 0.2, seed=3)
    a_hat = normalized_adjacency(edge_index, 20).to_dense().double()
    graph = nx.Graph(edge_index.t().tolist())
    graph.add_nodes_from(range(20))
    graph.add_edges_from((v, v) for v in range(20))  # A + I
    laplacian = nx.normalized_laplacian_matrix(graph, nodelist=range(20)).toarray()
    np.testing.assert_allclose(a_hat.numpy(), np.eye(20) - laplacian, atol=1e-7)


# -------------------------------------------------------------------------------- the layer


def test_the_gcn_layer_is_a_hat_h_w_as_dense_matrices():
    torch.manual_seed(0)
    edge_index = random_graph()
    adj = normalized_adjacency(edge_index, 12).double()
    layer = m.GraphConvolution(5, 3, bias=True).double()
    with torch.no_grad():
        layer.bias.normal_()
    h = torch.randn(12, 5, dtype=torch.float64)
    dense = adj.to_dense() @ h @ layer.weight + layer.bias  # (12, 12) (12, 5) (5, 3)
    torch.testing.assert_close(layer(h, adj), dense)
    torch.testing.assert_close(layer(h.to_sparse(), adj), dense)  # sparse features
    torch.testing.assert_close(layer(h, None), h @ layer.weight + layer.bias)  # identity


def test_the_gcn_layer_equals_torch_geometric_gcnconv():
    torch.manual_seed(0)
    graph = load_dataset("karate")
    x = torch.randn(graph.num_nodes, 8)
    ours = m.GraphConvolution(8, 4, bias=True)
    theirs = GCNConv(8, 4, bias=True)  # adds self loops and normalises symmetrically
    with torch.no_grad():
        ours.bias.normal_()
        theirs.lin.weight.copy_(ours.weight.t())  # torch Linear stores (out, in)
        theirs.bias.copy_(ours.bias)
    torch.testing.assert_close(ours(x, graph.adj), theirs(x, graph.edge_index))


def test_the_two_layer_gcn_equals_two_stacked_gcnconvs_with_relu():
    torch.manual_seed(1)
    graph = load_dataset("karate")
    net = m.GCN(graph.num_features, [16], 2, dropout=0.5).eval()
    conv1, conv2 = GCNConv(34, 16, bias=False), GCNConv(16, 2, bias=False)
    with torch.no_grad():
        conv1.lin.weight.copy_(net.layers[0].weight.t())
        conv2.lin.weight.copy_(net.layers[1].weight.t())
    expected = conv2(torch.relu(conv1(graph.x, graph.edge_index)), graph.edge_index)  # eq. 9
    torch.testing.assert_close(net(graph.x, graph.adj), expected)


def test_the_mlp_baseline_ignores_the_graph():
    torch.manual_seed(0)
    graph = load_dataset("karate")
    net = m.GCN(graph.num_features, [8], 2, dropout=0.0, use_graph=False)
    w0, w1 = net.layers[0].weight, net.layers[1].weight
    torch.testing.assert_close(net(graph.x, graph.adj), torch.relu(graph.x @ w0) @ w1)
    empty = torch.sparse_coo_tensor(
        torch.zeros(2, 0, dtype=torch.int64), [], (34, 34), check_invariants=True
    )
    torch.testing.assert_close(net(graph.x, graph.adj), net(graph.x, empty))


def test_sparse_dropout_keeps_zeros_and_scales_the_survivors():
    torch.manual_seed(0)
    x = (torch.rand(200, 50) < 0.1).float() * torch.rand(200, 50)
    dropped = m.sparse_dropout(x.to_sparse(), 0.5, training=True).to_dense()
    assert (dropped[x == 0] == 0).all()
    kept = dropped[x != 0] != 0
    torch.testing.assert_close(dropped[x != 0][kept], 2 * x[x != 0][kept])
    assert 0.4 < kept.float().mean() < 0.6
    same = m.sparse_dropout(x.to_sparse(), 0.5, training=False).to_dense()
    torch.testing.assert_close(same, x)


def test_the_weight_decay_reaches_the_first_layer_only():
    cfg = config("cora")
    net = m.GCN(10, [16], 3)
    optimizer = build_optimizer(cfg, net)
    decays = {id(p): g["weight_decay"] for g in optimizer.param_groups for p in g["params"]}
    assert decays[id(net.layers[0].weight)] == 5e-4
    assert decays[id(net.layers[1].weight)] == 0.0


# ---------------------------------------------------------------------------------- learning


def test_the_loss_falls_on_a_fixed_graph_and_uses_only_the_masked_nodes():
    graph = load_dataset("karate")
    cfg = config(epochs=1, lr=0.05, dropout=0.0)
    torch.manual_seed(0)
    net = m.create_model(cfg, graph)
    trainer = Trainer(net, build_optimizer(cfg, net), None, torch.device("cpu"), cfg)
    train_loader, _, _ = graph.loaders(1, seed=0)
    batch = next(iter(train_loader))
    with torch.no_grad():
        before = float(net.step(batch).loss)
        for _ in range(30):
            with torch.enable_grad():
                trainer.training_step([batch], audit=False)
        after = net.step(batch)
        assert float(after.loss) < before / 2
        # changing the labels of unmasked nodes changes nothing
        other = {**batch, "y": torch.where(batch["mask"], batch["y"], 1 - batch["y"])}
        assert float(net.step(other).loss) == float(after.loss)
    assert after.metrics["accuracy"].count == 2  # the two labelled leaders


def test_label_propagation_clamps_the_labels_and_classifies_the_karate_club():
    graph = load_dataset("karate")
    predicted = m.label_propagation(graph.edge_index, graph.y, graph.train_mask, 2)
    assert predicted[0] == graph.y[0] and predicted[33] == graph.y[33]
    accuracy = (predicted[graph.test_mask] == graph.y[graph.test_mask]).float().mean()
    assert accuracy > 0.8
    # a path 0 - 1 - 2 - 3 with ends labelled 0 and 1: the harmonic values are 1/3 and 2/3
    path = torch.tensor([[0, 1, 1, 2, 2, 3], [1, 0, 2, 1, 3, 2]])
    labels, mask = torch.tensor([0, 0, 1, 1]), torch.tensor([True, False, False, True])
    assert m.label_propagation(path, labels, mask, 2).tolist() == [0, 0, 1, 1]


def test_repeated_propagation_makes_node_rows_alike():
    with mock.patch.dict(sys.modules, {"compare": load_script(MODEL_DIR, "compare.py")}):
        depth = load_script(MODEL_DIR, "depth_study.py")  # it imports compare.fit
    graph = load_dataset("karate")
    torch.manual_seed(0)
    x = torch.randn(34, 6)
    curve = depth.smoothing_curve(graph.adj, x, [1, 4, 16, 64])
    values = [curve[k] for k in (0, 1, 4, 16, 64)]
    assert values == sorted(values) and values[-1] > 0.99  # one connected component
    same = torch.ones(5, 3)
    assert depth.mean_cosine_similarity(same) == pytest.approx(1.0)


def test_config_rejects_a_dataset_that_is_not_a_graph_and_bad_dropout():
    assert_config_error(SPEC, "smoke", {"dataset": "iris"}, ["dataset must be a graph"])
    assert_config_error(SPEC, "smoke", {"dropout": 1.0}, ["dropout must be in [0, 1)"])


# ----------------------------------------------------------------------------------- scripts


def test_karate_script_draws_the_embedding_and_learns(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    result = run_json(folder, "karate.py", "--snapshots", "0", "40")
    assert set(result["snapshots"]) == {"0", "40"}
    assert len(result["snapshots"]["40"]["embedding"]) == 34
    assert result["snapshots"]["40"]["test_accuracy"] > 0.8
    assert (folder / "outputs" / "visualizations" / "karate_embedding.png").is_file()
