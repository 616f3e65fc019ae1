"""What the ViT learned about space: the similarity of its position embeddings (Fig. 7, centre),
and where the class token looks in the last block (attention of the class token to the patches).

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, confusion matrix, gradient audit).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from model import ViT

import plotting
from data_utils import DatasetSplits
from engine.modelio import evaluating


def grid_shape(model: ViT) -> tuple[int, int]:
    """Rows and columns of the patch grid, (H / P, W / P)."""
    _, h, w = model.image_shape
    p = model.embed.patch_size
    return h // p, w // p


def position_similarity(model: ViT) -> torch.Tensor:
    """Cosine similarity of every patch position's embedding to every other's: (N, N).

    The paper's Fig. 7 (centre): close patches get similar embeddings, and a row-column
    structure appears, although the embeddings are a plain learned table of N + 1 vectors.
    """
    e = model.positions[0, 1:].detach().float()  # (N + 1, D) -> (N, D): the patches' only
    e = e / e.norm(dim=1, keepdim=True).clamp_min(1e-12)
    return e @ e.T  # (N, N)


def class_attention(model: ViT, images: torch.Tensor) -> torch.Tensor:
    """The last block's attention of the class token to each patch, averaged over heads, on the
    patch grid: images (B, C, H, W) -> (B, H / P, W / P)."""
    block = model.blocks[-1]
    block.keep_weights = True
    try:
        with evaluating(model):
            model.encode(images.to(model.positions.device))
        weights = block.attention_weights  # (B, h, N + 1, N + 1)
    finally:
        block.keep_weights, block.attention_weights = False, None
    rows, cols = grid_shape(model)
    return weights[:, :, 0, 1:].mean(dim=1).view(-1, rows, cols).cpu()  # (B, N) -> (B, rows, cols)


def plot_position_similarity(model: ViT, path: Path, title: str) -> Path:
    """One small map per patch position: its embedding's similarity to every position's."""
    rows, cols = grid_shape(model)
    sim = position_similarity(model).view(rows, cols, rows, cols).cpu()
    fig, axes = plt.subplots(rows, cols, figsize=(1.0 * cols + 1, 1.0 * rows), squeeze=False)
    for r in range(rows):
        for c in range(cols):
            image = axes[r][c].imshow(sim[r, c], vmin=-1, vmax=1, cmap="viridis")
            axes[r][c].set_xticks([])
            axes[r][c].set_yticks([])
    fig.colorbar(image, ax=axes, shrink=0.6, label="cosine similarity")
    fig.suptitle(title)
    return plotting.save_figure(fig, path)


def plot_class_attention(
    model: ViT, splits: DatasetSplits, path: Path, title: str, num: int = 8
) -> Path:
    """Test images beside the class token's attention to their patches (last block)."""
    x = splits.x_test[:num]
    x = splits.transform(x) if splits.transform is not None else x  # the loaders' scale
    maps = class_attention(model, x)  # (num, rows, cols)
    fig, axes = plt.subplots(2, num, figsize=(1.4 * num, 3.0), squeeze=False)
    for i in range(num):
        image = x[i].permute(1, 2, 0).squeeze(-1).clamp(0, 1).numpy()  # (C, H, W) -> (H, W[, C])
        axes[0][i].imshow(image, cmap="gray" if image.ndim == 2 else None)
        axes[0][i].set_title(splits.class_names[int(splits.y_test[i])], fontsize=7)
        axes[1][i].imshow(maps[i].numpy(), cmap="magma")
        for ax in (axes[0][i], axes[1][i]):
            ax.set_xticks([])
            ax.set_yticks([])
    fig.suptitle(title)
    return plotting.save_figure(fig, path)


def visualize(model: ViT, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ModelSpec hook: position-embedding similarity and the class token's attention."""
    return {
        "positions": plot_position_similarity(
            model,
            vis_dir / f"{prefix}_positions.png",
            f"ViT on {splits.name}: similarity of the learned position embeddings",
        ),
        "attention": plot_class_attention(
            model,
            splits,
            vis_dir / f"{prefix}_attention.png",
            f"ViT on {splits.name}: class-token attention in the last block",
        ),
    }
