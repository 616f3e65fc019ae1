"""t-SNE projection of features: separated clusters stay separated, the seed fixes the map."""

from pathlib import Path

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.neighbors import KNeighborsClassifier
from torch import nn

from plotting import collect_features, plot_feature_projection, tsne_embedding


@pytest.fixture(autouse=True)
def no_figure_left_open():
    """Every plotting call must close its figure, also when it raises."""
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a plotting function left a figure open"


def gaussian_clusters(per_class: int = 40, dims: int = 20, seed: int = 0):
    """Three unit-variance Gaussian clusters in ``dims`` dimensions, centres 10 apart."""
    rng = np.random.default_rng(seed)
    centres = 10.0 * np.eye(3, dims)  # (3, D), pairwise distance 10 * sqrt(2)
    labels = np.repeat(np.arange(3), per_class)  # (N,)
    features = centres[labels] + rng.standard_normal((len(labels), dims))  # (N, D)
    return features, labels


def test_three_separated_clusters_embed_as_three_groups():
    features, labels = gaussian_clusters()
    embedding = tsne_embedding(features, seed=0)
    assert embedding.shape == (120, 2) and np.all(np.isfinite(embedding))

    # Every point's nearest neighbours in the plane share its class (leave-one-out 5-NN).
    knn = KNeighborsClassifier(n_neighbors=6).fit(embedding, labels)
    neighbours = knn.kneighbors(embedding, return_distance=False)[:, 1:]  # drop the point itself
    assert (labels[neighbours] == labels[:, None]).mean() == 1.0

    # Centres far apart relative to the spread of each group.
    centroids = np.stack([embedding[labels == k].mean(0) for k in range(3)])  # (3, 2)
    spread = max(
        np.linalg.norm(embedding[labels == k] - centroids[k], axis=1).mean() for k in range(3)
    )
    gaps = [np.linalg.norm(centroids[i] - centroids[j]) for i in range(3) for j in range(i)]
    assert min(gaps) > 3 * spread


def test_same_seed_same_embedding_and_tensors_are_accepted():
    features, _ = gaussian_clusters(per_class=20)
    first = tsne_embedding(features, seed=3)
    np.testing.assert_array_equal(tsne_embedding(torch.from_numpy(features), seed=3), first)
    np.testing.assert_array_equal(
        tsne_embedding(features, seed=3, pca_dims=5), tsne_embedding(features, seed=3, pca_dims=5)
    )


@pytest.mark.parametrize("n", [2, 3, 7])
def test_small_n_clips_the_perplexity(n):
    features, _ = gaussian_clusters(per_class=3, dims=5)
    assert tsne_embedding(features[:n], perplexity=30.0).shape == (n, 2)


def test_pca_first_keeps_the_clusters_in_high_dimensions():
    features, labels = gaussian_clusters(per_class=30, dims=200)
    embedding = tsne_embedding(features, pca_dims=10)
    knn = KNeighborsClassifier(n_neighbors=1).fit(embedding, labels)
    assert knn.score(embedding, labels) == 1.0


@pytest.mark.parametrize(
    "features, kwargs, match",
    [
        (np.zeros((1, 4)), {}, r"N >= 2"),
        (np.zeros(10), {}, r"\(N, D\)"),
        (np.full((5, 3), np.nan), {}, "NaN or Inf"),
        (np.ones((5, 3)), {"perplexity": 0.0}, "perplexity"),
        (np.ones((5, 3)), {"pca_dims": 1}, "pca_dims"),
    ],
)
def test_embedding_bad_input_raises(features, kwargs, match):
    with pytest.raises(ValueError, match=match):
        tsne_embedding(features, **kwargs)


def read_png(path: Path) -> np.ndarray:
    assert path.is_file() and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and 200 <= min(pixels.shape[:2]) and max(pixels.shape[:2]) <= 2000
    return pixels


def test_plot_writes_a_png_for_named_and_many_classes(tmp_path):
    features, labels = gaussian_clusters(per_class=15)
    path = plot_feature_projection(features, labels, tmp_path / "sub" / "tsne.png", ["a", "b", "c"])
    assert path == tmp_path / "sub" / "tsne.png"
    read_png(path)
    rng = np.random.default_rng(0)
    many = rng.integers(0, 30, size=60)  # 30 classes: a colour bar instead of a legend
    read_png(plot_feature_projection(rng.standard_normal((60, 4)), many, tmp_path / "many.png"))


@pytest.mark.parametrize(
    "features, labels, kwargs, match",
    [
        (np.zeros((5, 3)), np.zeros(4, dtype=int), {}, "one entry per sample"),
        (np.zeros((1, 3)), np.zeros(1, dtype=int), {}, r"N >= 2"),
        (np.full((5, 3), np.inf), np.zeros(5, dtype=int), {}, "NaN or Inf"),
        (np.zeros((5, 3)), np.full(5, 0.5), {}, "integer class indices"),
        (np.zeros((5, 3)), np.arange(5), {"class_names": ["a", "b"]}, "class_names"),
    ],
)
def test_plot_bad_input_raises(tmp_path, features, labels, kwargs, match):
    with pytest.raises(ValueError, match=match):
        plot_feature_projection(features, labels, tmp_path / "p.png", **kwargs)


def small_net() -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 6 * 6, 3))


def test_collect_features_flattens_the_layer_output_and_stops_at_max_samples():
    torch.manual_seed(0)
    model = small_net().train()
    x, y = torch.randn(10, 1, 8, 8), torch.arange(10) % 3
    loader = [(x[:4], y[:4]), (x[4:8], y[4:8]), (x[8:], y[8:])]
    features, labels = collect_features(model, model[1], loader, max_samples=6)
    assert features.shape == (6, 2 * 6 * 6) and features.dtype == np.float32
    np.testing.assert_array_equal(labels, y[:6].numpy())
    expected = torch.relu(model[0](x[:6])).flatten(1).detach().numpy()  # (6, 2, 6, 6) -> (6, 72)
    np.testing.assert_allclose(features, expected, rtol=1e-6, atol=1e-6)
    assert model.training and all(m.training for m in model.modules())
    assert not model[1]._forward_hooks

    everything, _ = collect_features(model, model[3], loader)  # max_samples above N: all of it
    assert everything.shape == (10, 3)


@pytest.mark.parametrize(
    "layer, loader, kwargs, match",
    [
        (nn.ReLU(), [(torch.zeros(2, 1, 8, 8), torch.zeros(2))], {}, "not a submodule"),
        ("relu", [torch.zeros(2, 1, 8, 8)], {}, r"\(x, y\)"),
        ("relu", [(torch.zeros(2, 1, 8, 8), torch.zeros(3))], {}, "one row per label"),
        ("relu", [], {}, "no samples"),
        ("relu", [(torch.zeros(2, 1, 8, 8), torch.zeros(2))], {"max_samples": 0}, "max_samples"),
    ],
)
def test_collect_features_bad_input_raises(layer, loader, kwargs, match):
    model = small_net()
    layer = model[1] if layer == "relu" else layer
    with pytest.raises(ValueError, match=match):
        collect_features(model, layer, loader, **kwargs)
    assert all(not m._forward_hooks for m in model.modules())
    assert model.training
