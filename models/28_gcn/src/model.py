"""Graph convolutional network: Kipf and Welling, "Semi-Supervised Classification with Graph
Convolutional Networks" (arXiv 2016, ICLR 2017).

Implemented: the layer-wise propagation rule H^(l+1) = sigma(A_hat H^(l) W^(l)) (eq. 2) with the
renormalised adjacency A_hat = D~^-1/2 (A + I) D~^-1/2 (the "renormalization trick", Sec. 2.2)
as a sparse matrix product written out here; the two-layer model Z = softmax(A_hat ReLU(A_hat X
W0) W1) of eq. 9, generalised to any number of layers for the depth study; the loss of eq. 10,
the cross-entropy over the labelled nodes only, on a forward pass over the whole graph. As
baselines: the same network with the identity in place of A_hat (a multilayer perceptron on the
node features alone) and label propagation (Zhu, Ghahramani and Lafferty 2003), the paper's
Table 2 baseline.

A_hat itself is built once by the data loader (data_utils.graphs.normalized_adjacency: one self
loop per node, degrees, D^-1/2 on both sides) and arrives in every batch; this file multiplies by
it. Left out: the Chebyshev filters of Sec. 2.1 (the paper's own ablation, Table 3, finds the
first-order rule best) and the residual connections of Appendix B. As in the paper's code, the
bag-of-words features enter as a sparse matrix and dropout draws only their nonzero entries
(the same distribution as dropout on the dense matrix, where a zero stays zero, at 1% of the
cost on Cora).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from engine.steps import Mean, StepOutput
from engine.workflow import build_optimizer

ACTIVATIONS = {"relu": torch.relu, "tanh": torch.tanh}


# --------------------------------------------------------------------------------- helpers


def propagate(adj: Tensor | None, h: Tensor) -> Tensor:
    """A_hat @ h with a sparse (N, N) A_hat: (N, D) -> (N, D); None is the identity (the MLP)."""
    if adj is None:
        return h
    return torch.sparse.mm(adj, h)


def sparse_dropout(x: Tensor, p: float, training: bool) -> Tensor:
    """Dropout on the stored (nonzero) entries of a sparse COO x: same shape, still sparse."""
    if not training or p == 0:
        return x
    values = F.dropout(x.values(), p, training=True)  # (nnz,)
    # x's own indices, already checked: no invariant check on every step
    return torch.sparse_coo_tensor(
        x.indices(), values, x.shape, is_coalesced=True, check_invariants=False
    )


def masked_metrics(scores: Tensor, y: Tensor, mask: Tensor) -> StepOutput:
    """Cross-entropy and accuracy over the masked nodes only (eq. 10): the loss is their mean."""
    logits, labels = scores[mask], y[mask]  # (M, C), (M,)
    loss = F.cross_entropy(logits, labels)
    n = len(labels)
    correct = (logits.argmax(1) == labels).sum()
    return StepOutput(
        loss, {"loss": Mean(loss * n, n), "accuracy": Mean(correct, n)}, logits.argmax(1)
    )


# ---------------------------------------------------------------------------- the GCN layer


class GraphConvolution(nn.Module):
    """One layer of eq. 2 without its nonlinearity: H' = A_hat H W (+ b).

    H W is computed first (N x D_in x D_out), then multiplied by the sparse A_hat (nnz x D_out):
    the cheaper order whenever D_out < D_in, as in every layer here. Weights are drawn as in the
    paper's code (Glorot and Bengio 2010, uniform).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = False) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.empty(in_features, out_features))
        self.bias = nn.Parameter(torch.zeros(out_features)) if bias else None
        nn.init.xavier_uniform_(self.weight)

    def forward(self, h: Tensor, adj: Tensor | None) -> Tensor:
        """h (N, D_in) dense or sparse, adj sparse (N, N) or None (identity) -> (N, D_out)."""
        hw = torch.sparse.mm(h, self.weight) if h.is_sparse else h @ self.weight  # (N, D_out)
        out = propagate(adj, hw)
        return out if self.bias is None else out + self.bias


# ------------------------------------------------------------------------------ the model


class GCN(nn.Module):
    """A stack of graph convolutions (eq. 9 for two layers): dropout before every layer, the
    activation after every layer but the last, whose outputs are the class scores.

    Args:
        in_features: Features per node F.
        hidden_sizes: Widths of the hidden layers, input side first.
        num_classes: Classes C (the last layer's width).
        activation: "relu" or "tanh".
        dropout: Dropout probability on every layer's input.
        bias: A bias per layer.
        use_graph: False replaces A_hat by the identity: a multilayer perceptron on the
            features of each node alone.
    """

    def __init__(
        self,
        in_features: int,
        hidden_sizes: list[int],
        num_classes: int,
        activation: str = "relu",
        dropout: float = 0.5,
        bias: bool = False,
        use_graph: bool = True,
    ) -> None:
        super().__init__()
        sizes = [in_features, *hidden_sizes, num_classes]
        self.layers = nn.ModuleList(
            GraphConvolution(n_in, n_out, bias) for n_in, n_out in zip(sizes[:-1], sizes[1:])
        )
        self.activation, self.dropout, self.use_graph = activation, dropout, use_graph
        self._features: tuple[Tensor, Tensor] | None = None  # (dense x, its sparse copy)

    def sparse_features(self, x: Tensor) -> Tensor:
        """x (N, F) as a sparse COO tensor, converted once: the loader yields the graph's own
        feature tensor every epoch, so the copy is remade only when another tensor comes."""
        if self._features is None or self._features[0] is not x:
            self._features = (x, x.to_sparse().coalesce())
        return self._features[1]

    def hidden(self, x: Tensor, adj: Tensor) -> list[Tensor]:
        """Every layer's output, activated but the last: x (N, F) -> [(N, H_1), ..., (N, C)]."""
        adj = adj if self.use_graph else None
        outputs = []
        h = sparse_dropout(self.sparse_features(x), self.dropout, self.training)  # (N, F) sparse
        for i, layer in enumerate(self.layers):
            if i > 0:
                h = F.dropout(h, self.dropout, self.training)
            h = layer(h, adj)  # (N, H_i)
            if i < len(self.layers) - 1:
                h = ACTIVATIONS[self.activation](h)
            outputs.append(h)
        return outputs

    def forward(self, x: Tensor, adj: Tensor) -> Tensor:
        """Class scores of every node: x (N, F), adj sparse (N, N) -> (N, C)."""
        return self.hidden(x, adj)[-1]

    def embed(self, x: Tensor, adj: Tensor) -> Tensor:
        """The last hidden layer (the karate club's 2-D embedding): (N, F) -> (N, H_last)."""
        assert len(self.layers) > 1, "a one-layer GCN has no hidden layer to embed with"
        return self.hidden(x, adj)[-2]

    def step(self, batch: dict[str, Tensor]) -> StepOutput:
        """A forward pass over the whole graph; loss and accuracy over the batch's masked nodes
        (the training nodes in training, the validation or test nodes in evaluation)."""
        scores = self(batch["x"], batch["adj"])  # (N, C)
        return masked_metrics(scores, batch["y"], batch["mask"])

    def configure_optimizers(self, config: Any) -> torch.optim.Optimizer:
        """The config's optimizer with weight decay on the first layer's weights only (Sec. 5.2:
        "L2 regularization ... for the first layer")."""
        first = self.layers[0].weight
        rest = [p for p in self.parameters() if p is not first]
        groups = [{"params": [first], "weight_decay": config.weight_decay}]
        if rest:
            groups.append({"params": rest, "weight_decay": 0.0})
        return build_optimizer(config, self, groups)


# ------------------------------------------------------------------------- the baseline


def random_walk_matrix(edge_index: Tensor, num_nodes: int) -> Tensor:
    """P = D^-1 A without self loops, sparse (N, N): row i averages node i's neighbours (an
    isolated node's row is empty)."""
    degree = torch.bincount(edge_index[0], minlength=num_nodes).to(torch.float32)  # (N,)
    values = 1.0 / degree[edge_index[0]]  # (E,)
    size = (num_nodes, num_nodes)
    return torch.sparse_coo_tensor(edge_index, values, size, check_invariants=True).coalesce()


@torch.no_grad()
def label_propagation(
    edge_index: Tensor, y: Tensor, train_mask: Tensor, num_classes: int, iterations: int = 200
) -> Tensor:
    """Label propagation (Zhu, Ghahramani and Lafferty 2003): the harmonic solution, reached by
    iterating F <- P F with the labelled nodes clamped to their one-hot labels.

    No features and no parameters: each unlabelled node ends with the label distribution a
    random walk from it meets first among the labelled nodes. Nodes that no walk connects to a
    labelled node keep all zeros and are predicted as class 0.

    Returns:
        Predicted classes, int64 (N,).
    """
    n = len(y)
    p = random_walk_matrix(edge_index, n)
    clamped = F.one_hot(y, num_classes).to(torch.float32) * train_mask[:, None]  # (N, C)
    f = clamped.clone()
    for _ in range(iterations):
        f = torch.sparse.mm(p, f)  # (N, N) @ (N, C) -> (N, C)
        f[train_mask] = clamped[train_mask]
    return f.argmax(1)


def create_model(config: Any, splits: Any) -> GCN:
    """The GCN (or the feature-only MLP) for the graph's features and classes (the ModelSpec
    hook)."""
    return GCN(
        splits.num_features,
        config.hidden_sizes,
        splits.num_classes,
        config.activation,
        config.dropout,
        config.bias,
        use_graph=config.kind == "gcn",
    )


def create_criterion(config: Any) -> None:
    """None: the model's step computes its loss over the masked nodes."""
    return None
