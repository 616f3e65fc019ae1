"""The sample scorer (engine/sample_quality.py): the Frechet distance against closed forms and
against torchmetrics' FrechetInceptionDistance (a test-only oracle) given our own feature network,
improved precision and recall against their definition, and the refusal to score without a
trained feature network."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn
from torchmetrics.image.fid import FrechetInceptionDistance

from data_utils import DatasetSplits
from data_utils.transforms import to_float
from engine import sample_quality as sq
from utils.exceptions import CheckpointError


class TinyFeatures(nn.Module):
    """A random conv net whose ``fc`` input (8 numbers) plays the penultimate features."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 8, 5, stride=2)
        self.fc = nn.Linear(8, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.tanh(self.conv(x))  # (B, 1, 28, 28) -> (B, 8, 12, 12)
        return self.fc(10 * x.mean((2, 3)))  # (B, 8) -> (B, 10)


def tiny_splits(n: int = 200) -> DatasetSplits:
    """uint8 noise images with a bright square whose column is the class."""
    gen = torch.Generator().manual_seed(0)
    y = torch.arange(n) % 10
    x = torch.randint(0, 80, (n, 1, 28, 28), dtype=torch.uint8, generator=gen)
    for i, label in enumerate(y.tolist()):
        x[i, 0, 10:16, 2 * label : 2 * label + 6] = 255
    return DatasetSplits(
        "tiny", x, y, x[:20], y[:20], x[100:], y[100:], 10, list("0123456789"), to_float
    )


@pytest.fixture
def network() -> sq.FeatureNetwork:
    torch.manual_seed(0)
    return sq.FeatureNetwork(TinyFeatures(), "tiny", "(random weights)", tiny_splits())


def with_moments(n: int, mean: torch.Tensor, cov: torch.Tensor, seed: int) -> torch.Tensor:
    """n points whose sample mean and unbiased sample covariance are exactly mean and cov."""
    z = torch.randn(
        n, len(mean), generator=torch.Generator().manual_seed(seed), dtype=torch.float64
    )
    z = z - z.mean(0)
    z = (
        z @ torch.linalg.inv(torch.linalg.cholesky(torch.atleast_2d(torch.cov(z.T)))).T
    )  # sample covariance I
    return mean + z @ torch.linalg.cholesky(cov).T


def test_the_frechet_distance_of_gaussians_has_its_closed_form():
    # 1-D: (mu_1 - mu_2)^2 + (sigma_1 - sigma_2)^2
    x = with_moments(50, torch.tensor([1.0]).double(), torch.tensor([[4.0]]).double(), 0)
    y = with_moments(70, torch.tensor([-2.0]).double(), torch.tensor([[0.25]]).double(), 1)
    assert sq.frechet_distance(x, y) == pytest.approx(9 + 1.5**2, rel=1e-9)
    # 2-D, covariances that do not commute: tr((A B)^(1/2)) = sqrt(tr(AB) + 2 sqrt(det(AB)))
    a = torch.tensor([[2.0, 0.8], [0.8, 1.0]]).double()
    b = torch.tensor([[0.5, -0.3], [-0.3, 3.0]]).double()
    mu_a, mu_b = torch.tensor([0.0, 1.0]).double(), torch.tensor([2.0, -1.0]).double()
    ab = a @ b
    closed = (mu_a - mu_b).pow(2).sum() + a.trace() + b.trace()
    closed -= 2 * math.sqrt(ab.trace() + 2 * math.sqrt(torch.linalg.det(ab)))
    x, y = with_moments(40, mu_a, a, 2), with_moments(60, mu_b, b, 3)
    assert sq.frechet_distance(x, y) == pytest.approx(float(closed), rel=1e-9)
    assert sq.frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_the_frechet_distance_of_many_draws_approaches_that_of_the_true_gaussians():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(200_000, 3, generator=gen, dtype=torch.float64)  # N(0, I)
    y = 1.0 + 2.0 * torch.randn(200_000, 3, generator=gen, dtype=torch.float64)  # N(1, 4 I)
    assert sq.frechet_distance(x, y) == pytest.approx(3 * 1 + 3 * (2 - 1) ** 2, rel=0.01)


def test_the_frechet_distance_equals_torchmetrics_fid_with_our_feature_network(network):
    class Features(nn.Module):  # torchmetrics calls it on images and reads num_features
        num_features = 8

        def forward(self, images: torch.Tensor) -> torch.Tensor:
            return network.embed(images)[0]

    oracle = FrechetInceptionDistance(feature=Features(), normalize=True)
    real = network.images("test")
    fake = 0.6 * sq.gaussian_blur(network.images("train")[:90], 1.0)  # blurred and darker
    oracle.update(real, real=True)
    oracle.update(fake, real=False)
    ours = sq.score_samples(fake, "tiny", network=network)["frechet_distance"]
    assert ours > 0.1
    assert ours == pytest.approx(float(oracle.compute()), rel=1e-4)


def brute_force_precision_recall(real, fake, k):
    def radii(x):
        return [
            sorted(float((x[i] - x[j]).norm()) for j in range(len(x)))[k] for i in range(len(x))
        ]

    def share_inside(points, centres, r):
        hits = [any(float((p - c).norm()) <= ri for c, ri in zip(centres, r)) for p in points]
        return sum(hits) / len(points)

    return share_inside(fake, real, radii(real)), share_inside(real, fake, radii(fake))


def test_precision_and_recall_follow_their_definition():
    gen = torch.Generator().manual_seed(0)
    real = torch.randn(60, 4, generator=gen)
    fake = 0.5 + 1.5 * torch.randn(45, 4, generator=gen)
    ours = sq.precision_recall(real, fake, k=3)
    assert ours == pytest.approx(brute_force_precision_recall(real, fake, 3), abs=1e-12)
    assert sq.precision_recall(real, real) == (1.0, 1.0)
    assert sq.precision_recall(real, real + 100.0) == (0.0, 0.0)
    # samples collapsed near one real point: all realistic, the data barely covered
    collapsed = real[0] + 1e-3 * torch.randn(40, 4, generator=gen)
    precision, recall = sq.precision_recall(real, collapsed)
    assert precision == 1.0 and recall < 0.1


def test_the_class_histogram_and_its_entropy(network):
    images = network.images("train")
    scores = sq.score_samples(images, "tiny", network=network)
    assert sum(scores["class_histogram"]) == len(images) == scores["n_samples"]
    assert len(scores["class_histogram"]) == 10
    assert sq.class_entropy([7] * 10) == pytest.approx(math.log(10))
    assert sq.class_entropy([0, 12, 0]) == 0.0


def test_the_reference_rows_are_scored_with_the_same_numbers_of_images(network):
    rows = sq.reference_rows("tiny", n=50, n_real=80, network=network)
    assert len(rows) == 5
    assert all(row["n_samples"] == 50 and row["n_real"] == 80 for row in rows)
    assert rows[-1]["class_entropy"] == 0.0 and rows[-1]["recall"] == 0.0  # one image, repeated


def test_a_blur_keeps_a_constant_image_and_the_mean_brightness():
    flat = torch.full((2, 1, 9, 9), 0.3)
    assert torch.allclose(sq.gaussian_blur(flat, 1.0), flat)
    x = torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    assert sq.gaussian_blur(x, 1.0).shape == x.shape
    assert sq.gaussian_blur(x, 1.0).std() < x.std()


def test_scoring_without_a_trained_feature_network_names_the_command(monkeypatch, tmp_path):
    import engine.workflow

    monkeypatch.setattr(engine.workflow, "_experiment_dir", lambda spec, experiment: tmp_path)
    sq.load_feature_network.cache_clear()
    try:
        with pytest.raises(CheckpointError, match="python src/train.py --experiment scorer_mnist"):
            sq.score_samples(torch.rand(4, 1, 28, 28), "mnist")
    finally:
        sq.load_feature_network.cache_clear()
    with pytest.raises(Exception, match="no feature network for data set 'cifar10'"):
        sq.load_feature_network("cifar10")
