"""What a network has learned to separate: learned features projected to 2-D with t-SNE.

t-SNE (van der Maaten and Hinton 2008) places points in the plane so that neighbours in feature
space stay neighbours; distances between far-apart clusters and cluster sizes carry no meaning.
Features from a layer near the output of a trained classifier should form one cluster per
class; an untrained network's features mix the classes.

What to look for: docs/visualization/Playbooks.md, "Grad-CAM and feature projections".
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib.pyplot as plt
import numpy as np

from plotting.core import save_figure, to_class_indices, to_numpy
from plotting.gradcam import check_layer, module_states, restore_states

if TYPE_CHECKING:  # annotations only: `import plotting` must work without torch (NumPy models)
    from torch import nn

LEGEND_MAX_CLASSES = 20  # up to tab20's colours, one legend entry per class; beyond: a colour bar


def collect_features(
    model: nn.Module, layer: nn.Module, loader: Iterable[Any], max_samples: int = 2000
) -> tuple[np.ndarray, np.ndarray]:
    """Run a model over a loader and keep what one of its layers outputs, flattened per sample.

    The model runs in eval mode under ``torch.inference_mode()`` on the device of its first
    parameter; its train/eval modes are restored and the forward hook removed afterwards, also
    when an error is raised. Batches are read until ``max_samples`` samples are collected.

    Args:
        model: A torch model taking the loader's inputs.
        layer: A submodule whose output is a tensor (B, ...), e.g. the layer before the
            classifier head.
        loader: Yields ``(x, y)`` batches: inputs (B, ...) and class labels (B,).
        max_samples: Keep at most this many samples (the first ones).

    Returns:
        ``(features, labels)``: float32 (N, D) with D the layer's output size per sample, and
        int64 (N,).

    Raises:
        ValueError: If the layer is not in the model or does not run exactly once per batch, a
            batch is not ``(x, y)`` with one label per sample, ``max_samples`` < 1, or the loader
            is empty.
    """
    import torch

    check_layer(model, layer, "layer")
    if max_samples < 1:
        raise ValueError(f"max_samples must be >= 1, got {max_samples}")
    parameter = next(model.parameters(), None)
    captured: list[torch.Tensor] = []

    def capture(module: nn.Module, inputs: Any, output: Any) -> None:
        if not isinstance(output, torch.Tensor) or output.ndim == 0:
            raise ValueError(f"layer must output a tensor (B, ...), got {type(output).__name__}")
        captured.append(output.detach().flatten(1).float().cpu())  # (B, ...) -> (B, D)

    features: list[torch.Tensor] = []
    labels: list[np.ndarray] = []
    count = 0
    states = module_states(model)
    handle = layer.register_forward_hook(capture)
    try:
        model.eval()
        with torch.inference_mode():
            for batch in loader:
                if not isinstance(batch, (tuple, list)) or len(batch) < 2:
                    raise ValueError("the loader must yield (x, y) batches of inputs and labels")
                x, y = batch[0], to_class_indices(batch[1], "labels")
                if parameter is not None:
                    x = x.to(parameter.device)
                captured.clear()
                model(x)
                if len(captured) != 1 or len(captured[0]) != len(y):
                    raise ValueError(
                        f"layer must run exactly once per batch and output one row per label "
                        f"({len(y)}); it ran {len(captured)} times"
                    )
                keep = min(len(y), max_samples - count)
                features.append(captured[0][:keep])
                labels.append(y[:keep])
                count += keep
                if count >= max_samples:
                    break
    finally:
        handle.remove()
        restore_states(states)
    if count == 0:
        raise ValueError("the loader yielded no samples")
    return torch.cat(features).numpy(), np.concatenate(labels)  # (N, D), (N,)


def _check_features(features: Any) -> np.ndarray:
    features = to_numpy(features, "features").astype(np.float64)
    if features.ndim != 2 or features.shape[0] < 2 or features.shape[1] < 1:
        raise ValueError(f"features must be (N, D) with N >= 2 samples, got {features.shape}")
    if not np.all(np.isfinite(features)):
        raise ValueError("features contain NaN or Inf")
    return features


def tsne_embedding(
    features: Any, *, seed: int = 0, perplexity: float = 30.0, pca_dims: int | None = 50
) -> np.ndarray:
    """Embed features in 2-D with scikit-learn's t-SNE: the same input and seed give the same map.

    The embedding starts from the features' first two principal components (``init="pca"``),
    which makes it stable from run to run and keeps the global layout. The perplexity (the
    effective number of neighbours each point attends to) is clipped to (N - 1) / 3, since t-SNE
    looks at 3 x perplexity neighbours; at least 1.

    Args:
        features: (N, D) array-like, N >= 2; a torch tensor is detached and moved to the CPU.
        seed: The random state of t-SNE. With the PCA start the embedding is fully determined
            by the features for small inputs; the seed matters where scikit-learn randomises
            (its PCA of large inputs, the random start used when D = 1).
        perplexity: Requested perplexity, clipped for small N as described above.
        pca_dims: If D is larger, project to this many principal components first (faster,
            and removes noise directions); None keeps all D dimensions.

    Returns:
        The embedding, float64 (N, 2).

    Raises:
        ValueError: If ``features`` is not (N, D) with N >= 2, holds NaN/Inf, ``perplexity``
            <= 0, or ``pca_dims`` < 2.
    """
    from sklearn.decomposition import PCA
    from sklearn.manifold import TSNE

    features = _check_features(features)
    if not perplexity > 0:
        raise ValueError(f"perplexity must be > 0, got {perplexity}")
    if pca_dims is not None and pca_dims < 2:
        raise ValueError(f"pca_dims must be >= 2 or None, got {pca_dims}")
    num_samples, dims = features.shape
    if pca_dims is not None and dims > pca_dims:
        components = min(pca_dims, num_samples)
        features = PCA(components, svd_solver="full", random_state=seed).fit_transform(features)
    perplexity = max(1.0, min(float(perplexity), (num_samples - 1) / 3))
    tsne = TSNE(
        n_components=2,
        perplexity=perplexity,
        init="pca" if features.shape[1] >= 2 else "random",  # PCA needs 2 input dimensions
        learning_rate="auto",
        random_state=seed,
    )
    return tsne.fit_transform(features).astype(np.float64)  # (N, D) -> (N, 2)


def plot_feature_projection(
    features: Any,
    labels: Any,
    path: str | Path,
    class_names: Sequence[str] | None = None,
    *,
    seed: int = 0,
    perplexity: float = 30.0,
    pca_dims: int | None = 50,
    title: str = "",
) -> Path:
    """Scatter the t-SNE embedding of learned features, one colour per class.

    Each point is one sample, placed by :func:`tsne_embedding` and coloured by its label: a
    legend names the classes (up to 20; more classes get a colour bar of class indices). Read
    which classes form clusters and which mix; not the distances between clusters.

    Args:
        features: (N, D) array-like, e.g. the first output of :func:`collect_features`.
        labels: (N,) class indices.
        path: Where to write the PNG.
        class_names: Names of the classes, indexed by class; defaults to the indices.
        seed: The t-SNE random state; the same seed gives the same picture.
        perplexity: t-SNE perplexity (clipped for small N, see :func:`tsne_embedding`).
        pca_dims: PCA to this many dimensions before t-SNE; None for none.
        title: Figure title; defaults to "t-SNE of learned features".

    Returns:
        The path of the written PNG.

    Raises:
        ValueError: If ``features`` is not (N, D) with N >= 2 or holds NaN/Inf, ``labels`` is not
            (N,) class indices, or ``class_names`` has no name for a label; and as
            :func:`tsne_embedding`.
    """
    features = _check_features(features)
    labels = to_class_indices(labels, "labels")
    if len(labels) != len(features):
        raise ValueError(
            f"labels must have one entry per sample: features has N = {len(features)}, "
            f"labels {len(labels)}"
        )
    if class_names is not None and len(class_names) <= labels.max():
        raise ValueError(
            f"class_names has {len(class_names)} names but label {labels.max()} occurs"
        )
    embedding = tsne_embedding(features, seed=seed, perplexity=perplexity, pca_dims=pca_dims)

    classes = np.unique(labels)
    fig, ax = plt.subplots(figsize=(7.5, 6.0), layout="constrained")
    size = float(np.clip(2000 / len(labels), 4, 40))  # points^2: many points, smaller dots
    if len(classes) <= LEGEND_MAX_CLASSES:
        colours = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
        by_label = classes.max() < colours.N  # class k keeps colour k from plot to plot
        for position, label in enumerate(classes):
            points = embedding[labels == label]  # (N_c, 2)
            name = class_names[label] if class_names is not None else str(label)
            colour = colours(label if by_label else position)
            ax.scatter(*points.T, s=size, color=colour, label=name, alpha=0.8)
        ax.legend(title="class", loc="center left", bbox_to_anchor=(1.0, 0.5), markerscale=2)
    else:
        dots = ax.scatter(*embedding.T, s=size, c=labels, cmap="viridis", alpha=0.8)
        fig.colorbar(dots, ax=ax, label="class index")
    ax.set_xlabel("t-SNE 1 (arbitrary units)")
    ax.set_ylabel("t-SNE 2 (arbitrary units)")
    ax.set_title(
        f"{title or 't-SNE of learned features'}\n{len(labels)} samples, "
        f"D = {features.shape[1]}, seed {seed}; read the clusters, not the distances between them",
        fontsize="medium",
    )
    return save_figure(fig, path)
