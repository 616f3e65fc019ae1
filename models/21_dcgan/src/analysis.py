"""What the DCGAN learned, seen and measured: samples, straight lines in z, the two players'
losses step by step, the paper's own test of its discriminator (a linear classifier on its
features, Sec. 5.1), and the shared sample scores (engine.sample_quality).

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves of every reported metric per epoch, gradient audit).
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch

import plotting
from data_utils import DatasetSplits
from engine.modelio import evaluating

# ------------------------------------------------------------------------ samples, walks


@torch.no_grad()
def interpolations(model: Any, rows: int, steps: int, generator: torch.Generator) -> torch.Tensor:
    """G along the straight line between two draws of z, per row: (rows, steps, C, H, W).

    Sec. 6.1: smooth transitions (no sharp jumps, no memorised images) are the paper's sign that
    the generator learned a space, not a lookup table.
    """
    ends = model.noise(2 * rows, generator).view(rows, 2, -1)  # (rows, 2, L)
    t = torch.linspace(0, 1, steps, device=ends.device).view(1, steps, 1)  # (1, steps, 1)
    z = (1 - t) * ends[:, :1] + t * ends[:, 1:]  # (rows, steps, L)
    with evaluating(model):
        images = model.decode(z.flatten(0, 1))  # (rows * steps, C, H, W)
    return images.view(rows, steps, *images.shape[1:])


def plot_interpolations(model: Any, path: Path, title: str, rows: int = 8, steps: int = 10) -> Path:
    """Rows of G(z) along straight lines in z (seed 0)."""
    grid = interpolations(model, rows, steps, torch.Generator().manual_seed(0))
    fig, axes = plt.subplots(rows, steps, figsize=(steps * 0.9, rows * 0.95), squeeze=False)
    for r, row in enumerate(grid):
        for c, image in enumerate(row):
            picture = image.permute(1, 2, 0).squeeze(-1).cpu().numpy()  # (C, H, W) -> (H, W[, C])
            axes[r][c].imshow(picture, cmap="gray", vmin=0, vmax=1)
            axes[r][c].axis("off")
    fig.suptitle(title, fontsize=9)
    return plotting.save_figure(fig, path)


def plot_losses(history: dict[str, Any], path: Path, title: str) -> Path:
    """D's and G's losses per epoch and D(x), D(G(z)) per epoch: the two players, side by side.

    At the game's equilibrium D outputs 1/2 everywhere: d_loss = 2 log 2 = 1.39, g_loss =
    log 2 = 0.69 (dotted lines).
    """
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 3.6))
    epochs = history["epoch"]
    for key, style in (("train_d_loss", "-"), ("train_g_loss", "-"), ("val_d_loss", "--")):
        if key in history:
            left.plot(epochs, history[key], style, marker="o", label=key)
    left.axhline(2 * np.log(2), ls=":", color="grey")
    left.axhline(np.log(2), ls=":", color="grey")
    left.set_xlabel("epoch")
    left.set_ylabel("cross-entropy (nats)")
    left.legend(fontsize=8)
    for key in ("train_d_real", "train_d_fake"):
        if key in history:
            right.plot(epochs, history[key], marker="o", label=key.replace("train_", ""))
    right.axhline(0.5, ls=":", color="grey")
    right.set_ylim(0, 1)
    right.set_xlabel("epoch")
    right.set_ylabel("mean D output")
    right.legend(fontsize=8)
    fig.suptitle(title, fontsize=9)
    return plotting.save_figure(fig, path)


def visualize(model: Any, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ``--visualize`` hook: 64 samples (seed 0) and straight lines in z."""
    with evaluating(model):
        samples = model.sample(64, torch.Generator().manual_seed(0))  # (64, C, H, W)
    return {
        "samples": plotting.plot_samples(
            samples, vis_dir / f"{prefix}_samples.png", "DCGAN: G(z), z ~ N(0, I), seed 0"
        ),
        "interpolations": plot_interpolations(
            model, vis_dir / f"{prefix}_interpolations.png", "DCGAN: straight lines in z"
        ),
    }


# -------------------------------------------------------- the paper's test: linear probes


@torch.no_grad()
def discriminator_features(model: Any, images: torch.Tensor, batch_size: int = 500) -> np.ndarray:
    """The frozen discriminator's pooled features (model.features) of images in [0, 1]: (N, F)."""
    with evaluating(model):
        parts = [
            model.features(images[i : i + batch_size]) for i in range(0, len(images), batch_size)
        ]
    return torch.cat(parts).cpu().numpy()


def linear_probe(
    x_train: np.ndarray, y_train: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, max_iter: int
) -> tuple[float, int]:
    """Test accuracy of scikit-learn's multinomial logistic regression (L2, C = 1, L-BFGS) fitted
    on standardised features, and the iterations it ran (``max_iter``: stopped by the budget, not
    converged; the result says so instead of a warning); the same classifier for pixels and for
    D's features."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    probe = make_pipeline(StandardScaler(), LogisticRegression(C=1.0, max_iter=max_iter))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        probe.fit(x_train, y_train)
    return float(probe.score(x_test, y_test)), int(probe[-1].n_iter_.max())


def feature_evaluation(model: Any, splits: DatasetSplits, max_iter: int = 200) -> dict[str, Any]:
    """Sec. 5.1 on this data set: a linear classifier on the frozen discriminator's features
    against the same classifier on raw pixels, both fitted on all labelled training images
    (the training and validation splits: 60,000 for Fashion-MNIST) and scored on the test set.

    The DCGAN never saw a label: what the features give beyond pixels is what the adversarial
    game taught the discriminator.
    """
    x_train = splits.transform(torch.cat([splits.x_train, splits.x_val]))  # (N, C, H, W) [0, 1]
    y_train = torch.cat([splits.y_train, splits.y_val]).numpy()
    x_test, y_test = splits.transform(splits.x_test), splits.y_test.numpy()
    result: dict[str, Any] = {"train_images": len(y_train), "test_images": len(y_test)}
    for name, featurize in (
        ("pixels", lambda x: x.flatten(1).numpy()),
        ("discriminator", lambda x: discriminator_features(model, x)),
    ):
        start = time.process_time()
        train_features, test_features = featurize(x_train), featurize(x_test)
        result[f"{name}_dim"] = train_features.shape[1]
        result[f"{name}_accuracy"], result[f"{name}_iterations"] = linear_probe(
            train_features, y_train, test_features, y_test, max_iter
        )
        result[f"{name}_cpu_seconds"] = time.process_time() - start
    result["classifier"] = f"StandardScaler + LogisticRegression(C=1, max_iter={max_iter})"
    return result


# ------------------------------------------------------------------------- sample scores


def sample_scores(model: Any, dataset: str, num: int, seed: int) -> dict[str, Any]:
    """Frechet distance, precision and recall, class histogram of ``num`` samples (seed) by the
    project's frozen feature network for ``dataset`` (engine.sample_quality: comparable across
    the project's models, not with published FIDs)."""
    from engine.sample_quality import score_samples

    generator = torch.Generator().manual_seed(seed)
    with evaluating(model):
        samples = torch.cat(
            [model.sample(min(500, num - i), generator) for i in range(0, num, 500)]
        )
    return score_samples(samples, dataset, seed=seed)
