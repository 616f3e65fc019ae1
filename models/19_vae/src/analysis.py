"""What the VAE learned, seen: its latent space coloured by class, interpolations between test
digits, samples; the test set it is scored on; and the linear autoencoder against PCA.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, gradient audit); ``binarized_test`` is the ``eval_data`` hook: evaluate.py
scores the test set binarised once, with the config's seed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from model import Autoencoder

import plotting
from data_utils import DatasetSplits
from engine.modelio import evaluating


def binarized_test(
    model: Any, config: Any, splits: DatasetSplits
) -> tuple[torch.Tensor, torch.Tensor]:
    """The test images as {0, 1} pixels (N, C, H, W), the same for every evaluation of a config.

    Dynamic binarisation draws each pixel as Bernoulli(intensity) once, from a generator seeded
    with the config's seed (the test set of Burda et al. is a fixed draw too); "threshold" keeps
    intensity > 0.5.
    """
    x = splits.transform(splits.x_test)  # (N, 1, 28, 28) uint8 -> [0, 1]
    if config.binarize == "dynamic":
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(config.seed))
    else:
        x = (x > 0.5).to(x.dtype)
    return x, splits.y_test


def test_images(splits: DatasetSplits, num: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """The first ``num`` test images as the loaders give them (floats in [0, 1]), and labels."""
    x, y = splits.x_test[:num], splits.y_test[:num]
    return splits.transform(x), y


@torch.no_grad()
def latent_codes(model: Any, images: torch.Tensor, batch_size: int = 1000) -> torch.Tensor:
    """The VAE's posterior means mu(x), or the autoencoder's codes: (N, C, H, W) -> (N, L)."""
    with evaluating(model):
        return torch.cat(
            [model.encode(images[i : i + batch_size]) for i in range(0, len(images), batch_size)]
        )


def plot_latent_space(model: Any, splits: DatasetSplits, path: Path, title: str) -> Path:
    """The test set's codes coloured by class: the code itself for L = 2, else its first two
    principal components; the unit circle of the prior N(0, I) drawn for scale."""
    images, labels = test_images(splits)
    codes = latent_codes(model, images).numpy()  # (N, L)
    axis_names = ("z_1", "z_2")
    if codes.shape[1] > 2:
        centred = codes - codes.mean(0)
        _, _, vt = np.linalg.svd(centred, full_matrices=False)
        codes = centred @ vt[:2].T  # (N, L) -> (N, 2)
        axis_names = ("principal component 1", "principal component 2")
    fig, ax = plt.subplots(figsize=(6, 5.5))
    points = ax.scatter(codes[:, 0], codes[:, 1], c=labels.numpy(), cmap="tab10", s=2, alpha=0.6)
    ax.add_patch(plt.Circle((0, 0), 2.0, fill=False, ls="--", color="grey"))
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel(axis_names[0])
    ax.set_ylabel(axis_names[1])
    ax.set_title(f"{title}\n(dashed: radius 2, where N(0, I) puts 86% of 2-D draws)", fontsize=9)
    return plotting.save_figure(fig, path)


@torch.no_grad()
def interpolations(
    model: Any, images: torch.Tensor, pairs: list[tuple[int, int]], steps: int = 10
) -> torch.Tensor:
    """Decoded points on the straight line between the codes of image pairs: (P, steps, C, H, W)."""
    codes = latent_codes(model, images)  # (N, L)
    t = torch.linspace(0, 1, steps).view(steps, 1)  # (steps, 1)
    with evaluating(model):
        rows = [
            model.decode((1 - t) * codes[a] + t * codes[b]) for a, b in pairs
        ]  # (steps, C, H, W)
    return torch.stack(rows)


def plot_interpolations(
    model: Any, splits: DatasetSplits, path: Path, title: str, steps: int = 10
) -> Path:
    """Rows of decoded codes between two test digits (first and last column: the two endpoints'
    reconstructions)."""
    images, labels = test_images(splits, 200)
    pairs = []
    for a, b in ((0, 1), (3, 8), (4, 9), (1, 7), (5, 6)):  # digit pairs of one row each
        i = int((labels == a).nonzero()[0])
        j = int((labels == b).nonzero()[1])
        pairs.append((i, j))
    grid = interpolations(model, images, pairs, steps)  # (P, steps, C, H, W)
    fig, axes = plt.subplots(
        len(pairs), steps, figsize=(steps * 0.9, len(pairs) * 0.95), squeeze=False
    )
    for r, row in enumerate(grid):
        for c, image in enumerate(row):
            axes[r][c].imshow(image[0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[r][c].axis("off")
    fig.suptitle(title, fontsize=9)
    return plotting.save_figure(fig, path)


def plot_decoded_grid(
    model: Any, path: Path, title: str, side: int = 15, radius: float = 2.5
) -> Path:
    """A 2-D latent space decoded on a square grid of codes in [-radius, radius]^2."""
    assert model.latent_dim == 2, "the decoded grid needs a 2-D latent space"
    values = torch.linspace(-radius, radius, side)
    z = torch.cartesian_prod(values.flip(0), values)[:, [1, 0]]  # (side^2, 2): rows top-down
    with torch.no_grad(), evaluating(model):
        images = model.decode(z)  # (side^2, 1, H, W)
    h, w = images.shape[-2:]
    # (side^2, 1, H, W) -> (side, side, H, W) -> (side * H, side * W): one mosaic
    mosaic = images.view(side, side, h, w).permute(0, 2, 1, 3).reshape(side * h, side * w)
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.imshow(mosaic.numpy(), cmap="gray", extent=(-radius, radius, -radius, radius))
    ax.set_xlabel("z_1")
    ax.set_ylabel("z_2")
    ax.set_title(title, fontsize=9)
    return plotting.save_figure(fig, path)


def visualize(model: Any, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ``--visualize`` hook: latent space, interpolations, samples (and the decoded grid of a
    2-D latent space)."""
    kind = "autoencoder" if isinstance(model, Autoencoder) else "VAE"
    figures = {
        "latent_space": plot_latent_space(
            model, splits, vis_dir / f"{prefix}_latent.png", f"{kind}: test-set codes by class"
        ),
        "interpolations": plot_interpolations(
            model,
            splits,
            vis_dir / f"{prefix}_interpolations.png",
            f"{kind}: straight lines in the latent space",
        ),
    }
    with evaluating(model):
        samples = model.sample(64, torch.Generator().manual_seed(0))  # (64, C, H, W)
    figures["samples"] = plotting.plot_samples(
        samples, vis_dir / f"{prefix}_samples.png", f"{kind}: decoded z ~ N(0, I), seed 0"
    )
    if model.latent_dim == 2:
        figures["decoded_grid"] = plot_decoded_grid(
            model, vis_dir / f"{prefix}_grid.png", f"{kind}: decoded codes on a grid"
        )
    return figures


# ---------------------------------------------------------------------------- PCA baseline


def fit_linear_autoencoder(
    x: torch.Tensor, code_size: int, steps: int = 500, seed: int = 0
) -> Autoencoder:
    """A linear autoencoder (no hidden layers) fitted to flat data x (N, D) by full-batch L-BFGS
    on the mean squared reconstruction error, in float64.

    Baldi and Hornik (1989): every minimum of this error is a projection onto the span of the
    top ``code_size`` principal components (the weights need not be the components themselves).
    """
    torch.manual_seed(seed)
    net = Autoencoder((x.shape[1],), [], code_size).double()
    x = x.double()
    optimizer = torch.optim.LBFGS(
        net.parameters(),
        max_iter=steps,
        tolerance_grad=1e-12,
        tolerance_change=1e-15,
        history_size=50,
        line_search_fn="strong_wolfe",
    )

    def closure() -> torch.Tensor:
        optimizer.zero_grad()
        loss = squared_error(net.reconstruct(x), x)
        loss.backward()
        return loss

    optimizer.step(closure)
    return net


def squared_error(reconstruction: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Squared reconstruction error summed over features, mean over examples: (N, D) -> ()."""
    return (reconstruction - x).pow(2).sum(1).mean()


def linear_autoencoder_vs_pca(
    x: torch.Tensor, code_size: int, steps: int = 500
) -> dict[str, float]:
    """Reconstruction errors of the linear autoencoder and of scikit-learn's PCA with the same
    code size on flat data x (N, D): squared error summed over features, mean over examples."""
    from sklearn.decomposition import PCA

    net = fit_linear_autoencoder(x, code_size, steps)
    with torch.no_grad():
        ae = float(squared_error(net.reconstruct(x.double()), x.double()))
    data = x.double().numpy()
    pca = PCA(n_components=code_size, svd_solver="full").fit(data)
    projected = pca.inverse_transform(pca.transform(data))
    return {"autoencoder": ae, "pca": float(((projected - data) ** 2).sum(1).mean())}


# The ModelSpec hook: evaluate.py scores this instead of the raw test split ("split":
# "binarized_test" in its JSON).
eval_data = binarized_test
