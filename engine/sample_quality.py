"""Sample quality of the generative models, measured with the project's own frozen classifiers.

Published sample scores (FID, Heusel et al. 2017; the Inception Score) need a pretrained Inception
network, which cannot be downloaded here. So every generative model of Module 5 (19_vae, 20_gan,
21_dcgan, 22_ddpm) is scored with one fixed network per data set that the project trains itself:
the ResNet-8 of models/09_resnet at half the paper's widths (8, 16, 32 filters), experiments
``scorer_mnist`` and ``scorer_fashion_mnist``. Its features are the input of its classifier layer
``fc``: the 32 channels of the global average pool (the penultimate layer). In that feature space:

- the Frechet distance between Gaussians fitted to the features of the samples and of the real
  test images: |mu_1 - mu_2|^2 + tr(S_1 + S_2 - 2 (S_1 S_2)^(1/2)) (Dowson and Landau 1982; the
  formula of FID). It is NOT comparable with published FIDs (another network, 32 features, not
  2048); it IS comparable across our models, since every row uses the same frozen checkpoint and
  the same number of samples (the estimate is biased in N: fewer samples, larger distance);
- improved precision and recall (Kynkaanniemi et al. 2019): each set's manifold is the union of
  balls around its points reaching their k-th nearest neighbour in the same set (k = 3);
  precision is the share of samples inside the real manifold (are the samples realistic?),
  recall the share of real images inside the samples' manifold (is the data covered?);
- the class histogram of the samples by the feature network's predictions, and its entropy
  (log 10 = 2.30 nats when every class is equally frequent; mode collapse lowers it).

``reference_rows`` gives the same numbers for five reference sets that place a model on the
scale: real training images, and training images with Gaussian noise, blurred, of one class only,
and the mean image repeated. The reference rows are built from training images, not from the test
images they are compared with, so that no row is scored against its own clean copies.

    python -m engine.sample_quality --dataset mnist --models vae gan
    python -m engine.sample_quality --dataset fashion_mnist --models gan:fashion_mnist dcgan

A missing feature checkpoint is a CheckpointError naming the command that trains it: the scorer
never trains silently and never scores with fresh weights.
"""

from __future__ import annotations

import argparse
import functools
import logging
import math
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from data_utils import DatasetSplits
from utils.exceptions import CheckpointError, ConfigError

logger = logging.getLogger(__name__)

# The feature networks: data set -> experiment of the ResNet (models/09_resnet) trained for it.
FEATURE_MODEL = "resnet"
FEATURE_EXPERIMENTS: dict[str, str] = {
    "mnist": "scorer_mnist",
    "fashion_mnist": "scorer_fashion_mnist",
}
FEATURE_LAYER = "fc"  # features = the input of this layer (the global average pool, 32 numbers)
NUM_SAMPLES = 10_000  # samples per row, and real test images: all of MNIST's test set
K_NEAREST = 3  # k of the k-NN manifolds (Kynkaanniemi et al. 2019 use 3)
NOISE_STD = 0.25  # the "Gaussian noise" reference row, in pixel units of [0, 1]
BLUR_SIGMA = 1.0  # the "blurred" reference row: Gaussian blur, in pixels
BATCH = 500  # images per forward pass, and rows per block of distances


def train_command(dataset: str) -> str:
    """The command that trains the feature network of ``dataset``."""
    return f"cd models/09_resnet && python src/train.py --experiment {FEATURE_EXPERIMENTS[dataset]}"


# ------------------------------------------------------------------------------ the measures


def frechet_distance(x: Tensor, y: Tensor) -> float:
    """The Frechet distance between Gaussians fitted to two sets of features (N, F) and (M, F).

    d^2 = |mu_x - mu_y|^2 + tr(S_x) + tr(S_y) - 2 tr((S_x S_y)^(1/2)), with unbiased covariances.
    tr((S_x S_y)^(1/2)) is the sum of the square roots of the eigenvalues of the symmetric
    S_x^(1/2) S_y S_x^(1/2), which has the same eigenvalues as S_x S_y; computed in float64.
    """
    x, y = x.double(), y.double()
    mu_x, mu_y = x.mean(0), y.mean(0)  # (F,)
    cov_x, cov_y = torch.atleast_2d(torch.cov(x.T)), torch.atleast_2d(torch.cov(y.T))  # (F, F)
    w, v = torch.linalg.eigh(cov_x)
    sqrt_x = v @ torch.diag(w.clamp(min=0).sqrt()) @ v.T  # S_x^(1/2)
    middle = sqrt_x @ cov_y @ sqrt_x
    trace_sqrt = torch.linalg.eigvalsh((middle + middle.T) / 2).clamp(min=0).sqrt().sum()
    d2 = (mu_x - mu_y).pow(2).sum() + cov_x.trace() + cov_y.trace() - 2 * trace_sqrt
    return float(d2.clamp(min=0))


def knn_radii(x: Tensor, k: int = K_NEAREST) -> Tensor:
    """Distance of each point of x (N, F) to its k-th nearest neighbour in x, itself excluded:
    (N,). Computed BATCH rows at a time, so memory stays at BATCH x N distances."""
    assert len(x) > k, f"the k-NN manifold needs more than k = {k} points (got {len(x)})"
    radii = []
    for rows in x.split(BATCH):
        d = torch.cdist(rows, x)  # (b, N); each point's own distance 0 is among the k + 1
        radii.append(d.topk(k + 1, dim=1, largest=False).values[:, k])
    return torch.cat(radii)


def inside_manifold(points: Tensor, centres: Tensor, radii: Tensor) -> Tensor:
    """For each of points (M, F): does it lie in a ball of centres (N, F) with radii (N,)? (M,)"""
    inside = [
        (torch.cdist(rows, centres) <= radii[None]).any(dim=1) for rows in points.split(BATCH)
    ]  # each block (b, N) -> (b,)
    return torch.cat(inside)


def precision_recall(real: Tensor, fake: Tensor, k: int = K_NEAREST) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019, eq. 1-2) of features (N, F), (M, F).

    Precision: share of fake points inside the real k-NN manifold; recall: share of real points
    inside the fake one.
    """
    real, fake = real.float(), fake.float()
    precision = inside_manifold(fake, real, knn_radii(real, k)).double().mean()
    recall = inside_manifold(real, fake, knn_radii(fake, k)).double().mean()
    return float(precision), float(recall)


def class_entropy(histogram: list[int]) -> float:
    """Entropy in nats of the class frequencies (log 10 = 2.30 for ten equally frequent)."""
    p = torch.tensor(histogram, dtype=torch.float64)
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum()) + 0.0  # + 0.0: one class gives 0.0, not -0.0


# ------------------------------------------------------------------------ the feature network


@dataclass
class FeatureNetwork:
    """A frozen classifier whose penultimate features score samples of one data set.

    Attributes:
        model: The classifier, in eval mode, without gradients.
        dataset: The data set it was trained on ("mnist" or "fashion_mnist").
        checkpoint: Where its weights come from (shown beside every score).
        splits: The data set as it was split for its training; its test images are the real set.
        layer: Name of the submodule whose input are the features (the ResNet's ``fc``).
    """

    model: nn.Module
    dataset: str
    checkpoint: str
    splits: DatasetSplits
    layer: str = FEATURE_LAYER
    _test: tuple[Tensor, Tensor] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.model.eval()
        self.model.requires_grad_(False)

    @torch.no_grad()
    def embed(self, images: Tensor) -> tuple[Tensor, Tensor]:
        """Images (N, C, H, W) in [0, 1] -> features (N, F) and predicted classes (N,)."""
        shape = tuple(self.splits.input_shape)
        assert images.dim() == 4 and tuple(images.shape[1:]) == shape, (
            f"samples must be images (N, {', '.join(map(str, shape))}) for {self.dataset}, "
            f"got {tuple(images.shape)}"
        )
        captured: list[Tensor] = []
        hook = getattr(self.model, self.layer).register_forward_pre_hook(
            lambda module, inputs: captured.append(inputs[0])
        )
        try:
            classes = [self.model(rows.float()).argmax(1) for rows in images.split(BATCH)]
        finally:
            hook.remove()
        return torch.cat(captured), torch.cat(classes)

    def images(self, split: str, indices: Tensor | None = None) -> Tensor:
        """Images of a split as float (N, C, H, W) in [0, 1], all or those at ``indices``."""
        x = {"train": self.splits.x_train, "test": self.splits.x_test}[split]
        x = x if indices is None else x[indices]
        return self.splits.transform(x) if self.splits.transform is not None else x

    def test_embedding(self) -> tuple[Tensor, Tensor]:
        """Features and predicted classes of the whole test split, computed once."""
        if self._test is None:
            self._test = self.embed(self.images("test"))
        return self._test

    @property
    def test_accuracy(self) -> float:
        """The feature network's accuracy on the test split."""
        return float((self.test_embedding()[1] == self.splits.y_test).double().mean())


@functools.lru_cache(maxsize=None)
def load_feature_network(dataset: str) -> FeatureNetwork:
    """The frozen feature network of ``dataset``: the latest checkpoint of its ResNet experiment.

    Loaded once per process. Never trains and never falls back to fresh weights.

    Raises:
        ConfigError: No feature network is defined for ``dataset``.
        CheckpointError: Its checkpoint is missing or unusable; the message names the command
            that trains it.
    """
    if dataset not in FEATURE_EXPERIMENTS:
        raise ConfigError(
            f"no feature network for data set {dataset!r}; "
            f"defined: {', '.join(FEATURE_EXPERIMENTS)}"
        )
    from engine.workflow import load_trained
    from utils.registry import model_spec

    experiment = FEATURE_EXPERIMENTS[dataset]
    try:
        model, config, splits, state = load_trained(model_spec(FEATURE_MODEL), "latest", experiment)
    except (CheckpointError, ConfigError) as err:
        raise CheckpointError(
            f"the {dataset} feature network (experiment {experiment} of models/09_resnet) has no "
            f"usable checkpoint ({err}); train it first: {train_command(dataset)}"
        ) from err
    assert config.dataset == dataset, f"{state['path']} was trained on {config.dataset}"
    network = FeatureNetwork(model, dataset, str(state["path"]), splits)
    logger.info(
        "feature network %s: %s (epoch %s of %s)",
        dataset,
        state["path"],
        state.get("epoch"),
        config.epochs,
    )
    return network


# ---------------------------------------------------------------------------------- scoring


def score_features(
    network: FeatureNetwork,
    features: Tensor,
    classes: Tensor,
    n_real: int = NUM_SAMPLES,
    seed: int = 0,
) -> dict[str, Any]:
    """The scores of samples given their features (N, F) and predicted classes (N,)."""
    real, _ = network.test_embedding()
    n_real = min(n_real, len(real))
    if n_real < len(real):  # a seeded subset of the test images
        real = real[
            torch.randperm(len(real), generator=torch.Generator().manual_seed(seed))[:n_real]
        ]
    precision, recall = precision_recall(real, features)
    histogram = torch.bincount(classes, minlength=network.splits.num_classes).tolist()
    return {
        "n_samples": len(features),
        "n_real": n_real,
        "frechet_distance": frechet_distance(features, real),
        "precision": precision,
        "recall": recall,
        "class_histogram": histogram,
        "class_entropy": class_entropy(histogram),
        "feature_checkpoint": network.checkpoint,
    }


def score_samples(
    samples: Tensor,
    dataset: str,
    *,
    n_real: int = NUM_SAMPLES,
    seed: int = 0,
    network: FeatureNetwork | None = None,
) -> dict[str, Any]:
    """Score generated images against the real test images of ``dataset``.

    Args:
        samples: Generated images (N, C, H, W) in [0, 1]; use the same N for every row of a table
            (NUM_SAMPLES, 10,000), since the Frechet distance is biased in N.
        dataset: "mnist" or "fashion_mnist": which frozen feature network and test set.
        n_real: Real test images to compare with (all 10,000 by default; fewer: a seeded subset).
        seed: Seed of that subset.
        network: A feature network to use instead of the stored one (tests).

    Returns:
        ``frechet_distance``, ``precision``, ``recall``, ``class_histogram`` (samples per class
        predicted by the feature network), ``class_entropy`` (nats), ``n_samples``, ``n_real``
        and ``feature_checkpoint``.
    """
    network = network or load_feature_network(dataset)
    assert samples.min() >= 0 and samples.max() <= 1, "samples must be images in [0, 1]"
    features, classes = network.embed(samples.detach().cpu())
    return score_features(network, features, classes, n_real, seed)


def gaussian_blur(images: Tensor, sigma: float) -> Tensor:
    """Blur images (N, C, H, W) with a Gaussian of ``sigma`` pixels (separable, reflected edges)."""
    radius = math.ceil(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=images.dtype)
    kernel = torch.exp(-(t**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()  # (2r + 1,)
    c = images.shape[1]
    x = F.pad(images, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, kernel.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)  # along W
    return F.conv2d(x, kernel.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)  # along H


def reference_rows(
    dataset: str,
    *,
    n: int = NUM_SAMPLES,
    n_real: int = NUM_SAMPLES,
    seed: int = 0,
    network: FeatureNetwork | None = None,
) -> list[dict[str, Any]]:
    """The five reference rows of the table, each with the keys of ``score_samples`` and ``name``.

    Each row holds ``n`` images made from the training split (seeded), scored against the test
    images: the images themselves; with Gaussian noise (std NOISE_STD, clipped to [0, 1]);
    blurred (BLUR_SIGMA pixels); images of class 0 only (repeated when the class has fewer than
    ``n``); the mean training image, ``n`` times.
    """
    network = network or load_feature_network(dataset)
    splits = network.splits
    gen = torch.Generator().manual_seed(seed)
    train = network.images("train", torch.randperm(len(splits.y_train), generator=gen)[:n])
    noisy = (train + NOISE_STD * torch.randn(train.shape, generator=gen)).clamp(0, 1)
    of_class = torch.nonzero(splits.y_train == 0).flatten()
    of_class = of_class[torch.randperm(len(of_class), generator=gen)]
    one_class = network.images("train", of_class[torch.arange(n) % len(of_class)])
    mean_image = network.images("train").mean(0, keepdim=True)  # (1, C, H, W)
    rows = [
        ("real training images", train),
        (f"training images + Gaussian noise (std {NOISE_STD})", noisy),
        (
            f"training images blurred (Gaussian, sigma {BLUR_SIGMA} px)",
            gaussian_blur(train, BLUR_SIGMA),
        ),
        (f"one class only ({splits.class_names[0]}), repeated", one_class),
    ]
    results = [
        {"name": name, **score_samples(x, dataset, n_real=n_real, seed=seed, network=network)}
        for name, x in rows
    ]
    features, classes = network.embed(mean_image)  # one image, then n identical copies
    mean_row = score_features(network, features.expand(n, -1), classes.expand(n), n_real, seed)
    return results + [{"name": "the mean training image, repeated", **mean_row}]


# ------------------------------------------------------------------------------------ the CLI


def sample_model(name: str, experiment: str, n: int, seed: int) -> tuple[Tensor, str, float]:
    """``n`` samples of a registered model's latest checkpoint of ``experiment``, drawn in
    chunks of BATCH from one generator seeded with ``seed``; with the checkpoint and seconds."""
    from engine.modelio import evaluating
    from engine.workflow import load_trained
    from utils.registry import model_spec

    model, config, _, state = load_trained(model_spec(name), "latest", experiment)
    if not hasattr(model, "sample"):
        raise ConfigError(f"model {name!r} does not generate samples (no sample method)")
    gen = torch.Generator().manual_seed(seed)
    start = time.perf_counter()
    with evaluating(model):
        samples = torch.cat([model.sample(len(c), gen) for c in torch.arange(n).split(BATCH)])
    return samples.float().clamp(0, 1), str(state["path"]), time.perf_counter() - start


def markdown_table(
    rows: list[dict[str, Any]], dataset: str, n: int, seed: int, accuracy: float
) -> str:
    """The Module 5 table: one line per model or reference row."""
    lines = [
        f"Sample quality on {dataset}: {n} samples per row against {rows[0]['n_real']} test "
        f"images, seed {seed}; features of the frozen ResNet-8 ({rows[0]['feature_checkpoint']}, "
        f"test accuracy {accuracy:.4f}). Frechet distances are on this network's scale, not "
        "comparable with published FIDs.",
        "",
        "| Samples | Frechet distance | Precision | Recall | Class entropy (nats, max 2.30) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['frechet_distance']:.2f} | {row['precision']:.3f} | "
            f"{row['recall']:.3f} | {row['class_entropy']:.2f} |"
        )
    return "\n".join(lines) + "\n"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m engine.sample_quality",
        description="Score generative models' samples with the frozen feature network, beside "
        "the reference rows (the Module 5 table).",
    )
    p.add_argument("--dataset", required=True, choices=sorted(FEATURE_EXPERIMENTS))
    p.add_argument(
        "--models",
        nargs="*",
        default=[],
        help="registered model names, each optionally NAME:EXPERIMENT (default experiment: the "
        "data set's name); the latest checkpoint of that experiment is sampled",
    )
    p.add_argument("--num-samples", type=int, default=NUM_SAMPLES, help="samples per row (N)")
    p.add_argument("--seed", type=int, default=0, help="seed of the samples and reference rows")
    p.add_argument("--no-reference", action="store_true", help="skip the five reference rows")
    p.add_argument(
        "--out", type=Path, help="also write the table here (markdown, and its rows as .json)"
    )
    return p


def run(args: argparse.Namespace) -> None:
    from engine.workflow import write_result
    from utils.files import atomic_write

    if args.num_samples <= K_NEAREST:
        raise ConfigError(f"--num-samples must be > k = {K_NEAREST} (got {args.num_samples})")
    network = load_feature_network(args.dataset)
    rows = []
    for spec in args.models:
        name, _, experiment = spec.partition(":")
        samples, checkpoint, seconds = sample_model(
            name, experiment or args.dataset, args.num_samples, args.seed
        )
        row = score_samples(samples, args.dataset, seed=args.seed, network=network)
        rows.append(
            {
                "name": f"{name} ({experiment or args.dataset})",
                "checkpoint": checkpoint,
                "sampling_seconds": seconds,
                **row,
            }
        )
        logger.info("%s: %s", spec, {k: v for k, v in row.items() if k != "feature_checkpoint"})
    if not args.no_reference:
        rows += reference_rows(args.dataset, n=args.num_samples, seed=args.seed, network=network)
    if not rows:
        raise ConfigError("nothing to score: name --models or drop --no-reference")
    table = markdown_table(rows, args.dataset, args.num_samples, args.seed, network.test_accuracy)
    sys.stdout.write(table)
    if args.out is not None:
        with atomic_write(args.out, "w", encoding="utf-8") as handle:
            handle.write(table)
        result = {"dataset": args.dataset, "feature_test_accuracy": network.test_accuracy}
        write_result({**result, "rows": rows}, args.out.with_suffix(".json"))
        logger.info("table written to %s", args.out)


if __name__ == "__main__":
    from engine.workflow import script_main

    sys.exit(script_main(parser(), run))
