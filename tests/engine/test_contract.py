"""The engine's contract with models that are not classifiers (engine/steps.py), in the Trainer.

Each shape the next models need trains a tiny model through the one loop and resumes exactly:
a character language model on Tiny Shakespeare windows (loss per token, bits per character, a
per-step warm-up cosine schedule), a GAN with two optimizers and alternating updates, a VAE
reporting the ELBO and its two terms, a full-batch node classifier on a graph with masks, and a
detection-shaped batch (images and a variable list of boxes) with a metric of the whole set.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from data_utils import ArrayLoader, ListTargetLoader, load_dataset
from engine.evaluator import Evaluator
from engine.steps import Mean, MetricSums, StepOutput
from utils.config import BaseConfig
from utils.testing import assert_resumes_exactly, needs_data, trainer_for


def config(**changes) -> BaseConfig:
    base = dict(dataset="contract", epochs=2, batch_size=8, lr=0.01, optimizer="adam")
    cfg = BaseConfig(**{**base, **changes})
    cfg.validate()
    return cfg


# ------------------------------------------------------------------- character language model


class Bigram(nn.Module):
    """Next-character logits from the current character alone: the smallest language model."""

    def __init__(self, vocab_size: int) -> None:
        super().__init__()
        self.logits = nn.Embedding(vocab_size, vocab_size)

    def step(self, batch) -> StepOutput:
        x, y = batch  # (B, T) ids, (B, T) next ids
        logits = self.logits(x)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())  # nats per character
        n = y.numel()
        return StepOutput(loss, {"loss": Mean(loss * n, n), "bpc": Mean(loss * n / math.log(2), n)})


class Sampler(Bigram):
    """The bigram model, generating: each next character drawn from its predicted distribution."""

    def __init__(self, vocabulary: str) -> None:
        super().__init__(len(vocabulary))
        self.vocabulary = vocabulary

    def sample(self, num: int, generator: torch.Generator) -> str:
        ids = [0]
        for _ in range(num):
            probs = self.logits.weight[ids[-1]].softmax(0)  # (V,)
            ids.append(int(torch.multinomial(probs, 1, generator=generator)))
        return "".join(self.vocabulary[i] for i in ids[1:])


class ImageSampler(nn.Module):
    def sample(self, num: int, generator: torch.Generator) -> torch.Tensor:
        return torch.rand(num, 1, 8, 8, generator=generator)  # (N, 1, 8, 8) in [0, 1]


def test_samples_are_seeded_and_written_where_a_learner_looks(tmp_path):
    from engine.workflow import write_samples
    from utils.exceptions import ConfigError

    model = Sampler("abcdefgh")
    first = write_samples(model, 40, seed=5, stem=tmp_path / "a_samples").read_text()
    again = write_samples(model, 40, seed=5, stem=tmp_path / "b_samples").read_text()
    other = write_samples(model, 40, seed=6, stem=tmp_path / "c_samples").read_text()
    assert first == again != other and len(first.strip()) == 40
    assert set(first.strip()) <= set("abcdefgh")
    png = write_samples(ImageSampler(), 6, seed=0, stem=tmp_path / "images")
    assert png.suffix == ".png" and png.stat().st_size > 0
    with pytest.raises(ConfigError, match="does not generate samples"):
        write_samples(nn.Linear(2, 2), 3, seed=0, stem=tmp_path / "none")


@needs_data
def test_a_character_model_reports_loss_per_token_and_bits_per_character(tmp_path):
    corpus = load_dataset("tiny_shakespeare", block_size=32, windows_per_epoch=128)
    vocab = corpus.facts()["vocab_size"]
    cfg = config(lr=0.3, epochs=3, scheduler="warmup_cosine", warmup_steps=4)
    cfg.monitor, cfg.monitor_mode = "val_bpc", "min"

    def loaders():
        train, val, _ = corpus.loaders(16, seed=cfg.seed)
        return train, val

    steps = len(loaders()[0])  # 128 windows in batches of 16: 8 steps per epoch
    straight = assert_resumes_exactly(lambda: Bigram(vocab), cfg, loaders, 9, tmp_path, steps)
    history = straight.history
    assert history["val_bpc"][-1] == pytest.approx(history["val_loss"][-1] / math.log(2))
    # Untrained, every character costs ln(V) nats; a bigram model learns a good share of it.
    assert history["val_loss"][-1] < 0.9 * math.log(vocab)
    # The warm-up cosine schedule moved every step: lr rose over 4 steps, then decayed to 0.
    assert history["lr"][0] == pytest.approx(0.3 * (0.5 + 0.5 * math.cos(math.pi * 4 / 20)))
    assert straight.optimizer.param_groups[0]["lr"] == pytest.approx(0.0)
    assert straight.best_metric == min(history["val_bpc"])
    metrics = Evaluator(straight.model).evaluate(loaders()[1])
    assert {"loss", "bpc", "num_samples"} <= metrics.keys()


def test_warmup_cosine_rises_linearly_then_decays_to_the_floor():
    from engine.workflow import warmup_cosine

    values = [warmup_cosine(4, 12, 0.1, step) for step in range(14)]
    assert values[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert values[4] == pytest.approx(1.0) and values[12] == pytest.approx(0.1)
    assert all(a >= b for a, b in zip(values[4:], values[5:]))
    assert values[13] == pytest.approx(0.1)  # past the end it stays at the floor


def test_warmup_inverse_sqrt_is_the_transformers_eq_3_scaled_to_its_peak():
    from engine.workflow import warmup_inverse_sqrt

    d_model, warmup = 512, 4000  # the paper's base model
    peak = d_model**-0.5 * warmup**-0.5
    for step in (0, 1, 999, 3998, 3999, 4000, 15999, 99999):
        s = step + 1
        eq3 = d_model**-0.5 * min(s**-0.5, s * warmup**-1.5)
        assert warmup_inverse_sqrt(warmup, step) * peak == pytest.approx(eq3)
    assert warmup_inverse_sqrt(4, 3) == 1.0 and warmup_inverse_sqrt(4, 15) == 0.5
    assert warmup_inverse_sqrt(0, 3) == 0.5  # no warm-up: 1 / sqrt(s) from the first step


# ---------------------------------------------------------------------- GAN: two optimizers


class TinyGAN(nn.Module):
    """A generator of 2-D points and a discriminator, updated in turn (Goodfellow et al. 2014)."""

    def __init__(self) -> None:
        super().__init__()
        self.generator = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 2))
        self.discriminator = nn.Sequential(nn.Linear(2, 8), nn.ReLU(), nn.Linear(8, 1))

    def configure_optimizers(self, cfg) -> dict[str, torch.optim.Optimizer]:
        return {
            "discriminator": torch.optim.Adam(self.discriminator.parameters(), lr=cfg.lr),
            "generator": torch.optim.Adam(self.generator.parameters(), lr=cfg.lr),
        }

    def losses(self, real: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        fake = self.generator(torch.randn(len(real), 2))  # (B, 2)
        ones, zeros = torch.ones(len(real), 1), torch.zeros(len(real), 1)
        d_loss = F.binary_cross_entropy_with_logits(
            self.discriminator(real), ones
        ) + F.binary_cross_entropy_with_logits(self.discriminator(fake.detach()), zeros)
        g_loss = F.binary_cross_entropy_with_logits(self.discriminator(fake), ones)
        return d_loss, g_loss

    def train_step(self, batch, optimizers) -> dict:
        real, _ = batch
        d_loss, _ = self.losses(real)
        optimizers["discriminator"].zero_grad(set_to_none=True)
        d_loss.backward()
        optimizers["discriminator"].step()
        _, g_loss = self.losses(real)  # against the updated discriminator
        optimizers["generator"].zero_grad(set_to_none=True)
        g_loss.backward()
        optimizers["generator"].step()
        n, d, g = len(real), float(d_loss.detach()), float(g_loss.detach())
        return {"loss": d + g, "d_loss": Mean(d * n, n), "g_loss": Mean(g * n, n)}

    def step(self, batch) -> StepOutput:  # evaluation: both losses, no update
        real, _ = batch
        d_loss, g_loss = self.losses(real)
        n = len(real)
        return StepOutput(
            d_loss + g_loss, {"d_loss": Mean(d_loss * n, n), "g_loss": Mean(g_loss * n, n)}
        )


def test_a_gan_with_two_optimizers_resumes_exactly(tmp_path):
    g = torch.Generator().manual_seed(0)
    real = torch.randn(48, 2, generator=g) * 0.5 + torch.tensor([2.0, -1.0])
    labels = torch.zeros(48, dtype=torch.int64)
    cfg = config(epochs=3, batch_size=8, monitor="val_d_loss", monitor_mode="min")

    def loaders():
        return ArrayLoader(real, labels, 8, shuffle=True, seed=3), ArrayLoader(real, labels, 48)

    straight = assert_resumes_exactly(TinyGAN, cfg, loaders, 8, tmp_path)  # mid-epoch 2
    assert set(straight.state_dict()["optimizer_state"]) == {"discriminator", "generator"}
    for key in ("train_d_loss", "train_g_loss", "val_d_loss", "val_g_loss"):
        assert len(straight.history[key]) == 3 and all(
            math.isfinite(v) for v in straight.history[key]
        )
    assert straight.best_metric == min(straight.history["val_d_loss"])


# ----------------------------------------------------------------------------- VAE: the ELBO


class TinyVAE(nn.Module):
    """Gaussian encoder, Bernoulli decoder (Kingma and Welling 2014), on 8x8 digits."""

    def __init__(self, features: int = 64, latent: int = 4) -> None:
        super().__init__()
        self.encoder = nn.Linear(features, 2 * latent)
        self.decoder = nn.Linear(latent, features)

    def step(self, batch) -> StepOutput:
        x, _ = batch
        x = x.flatten(1)  # (B, 64) in [0, 1]
        mu, log_var = self.encoder(x).chunk(2, dim=1)  # (B, latent) each
        z = mu + torch.randn_like(mu) * (0.5 * log_var).exp()  # reparameterisation
        logits = self.decoder(z)  # (B, 64)
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(1)  # (B,)
        kl = 0.5 * (mu.pow(2) + log_var.exp() - 1 - log_var).sum(1)  # (B,) KL(q(z|x) || N(0, I))
        elbo = -(recon + kl)  # (B,) a lower bound on log p(x)
        n = len(x)
        metrics = {
            "elbo": Mean(elbo.sum(), n),
            "recon": Mean(recon.sum(), n),
            "kl": Mean(kl.sum(), n),
        }
        return StepOutput(-elbo.mean(), metrics)


def test_a_vae_reports_the_elbo_and_its_two_terms(tmp_path):
    digits = load_dataset("digits", seed=0, standardize=False)
    x_train = (digits.x_train / 16.0).float()  # pixel intensities 0..16 -> [0, 1]
    x_val = (digits.x_val / 16.0).float()
    cfg = config(epochs=3, batch_size=64, lr=0.01, monitor="val_elbo", monitor_mode="max")

    def loaders():
        return (
            ArrayLoader(x_train, digits.y_train, 64, shuffle=True, seed=1),
            ArrayLoader(x_val, digits.y_val, 128),
        )

    straight = assert_resumes_exactly(TinyVAE, cfg, loaders, 20, tmp_path, steps=len(loaders()[0]))
    h = straight.history
    for split in ("train", "val"):
        elbo, recon, kl = h[f"{split}_elbo"][-1], h[f"{split}_recon"][-1], h[f"{split}_kl"][-1]
        assert elbo == pytest.approx(-(recon + kl), rel=1e-5)  # the ELBO is its two terms
        assert kl > 0
    assert h["train_loss"][-1] == pytest.approx(-h["train_elbo"][-1], rel=1e-5)
    assert h["val_elbo"][-1] > h["val_elbo"][0]  # it learns


# ------------------------------------------------------------------- full-batch graph nodes


class TwoLayerGraphNet(nn.Module):
    """relu(A X W1) W2 on the whole graph, loss on the split's nodes only (full-batch training)."""

    def __init__(self, features: int, classes: int) -> None:
        super().__init__()
        self.w1, self.w2 = nn.Linear(features, 16), nn.Linear(16, classes)

    def step(self, batch) -> StepOutput:
        adj, x, y, mask = batch["adj"], batch["x"], batch["y"], batch["mask"]
        h = torch.relu(torch.sparse.mm(adj, self.w1(x)))  # (N, 16)
        scores = torch.sparse.mm(adj, self.w2(h))  # (N, C)
        loss = F.cross_entropy(scores[mask], y[mask])
        n = int(mask.sum())
        correct = (scores[mask].argmax(1) == y[mask]).sum()
        return StepOutput(loss, {"loss": Mean(loss * n, n), "accuracy": Mean(correct, n)})


def test_a_full_batch_node_classifier_trains_on_masks_and_resumes(tmp_path):
    graph = load_dataset("karate")
    facts = graph.facts()
    cfg = config(epochs=12, lr=0.05, monitor="val_loss", monitor_mode="min")

    def loaders():
        train, val, _ = graph.loaders(1, seed=cfg.seed)
        return train, val

    make = lambda: TwoLayerGraphNet(facts["num_features"], facts["num_classes"])  # noqa: E731
    straight = assert_resumes_exactly(make, cfg, loaders, 5, tmp_path)
    h = straight.history
    assert straight.global_step == 12  # one step per epoch: the whole graph is the batch
    assert h["train_loss"][-1] < h["train_loss"][0]
    assert h["train_accuracy"][-1] > 0.8


# ---------------------------------------------------- detection-shaped batch, whole-set metric


def iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """IoU of boxes (K, 4) and (K, 4), (x1, y1, x2, y2) pixels."""
    lt, rb = torch.maximum(a[:, :2], b[:, :2]), torch.minimum(a[:, 2:], b[:, 2:])
    inter = (rb - lt).clamp(min=0).prod(1)
    area = lambda box: (box[:, 2:] - box[:, :2]).clamp(min=0).prod(1)  # noqa: E731
    return inter / (area(a) + area(b) - inter)


class BoxRecall:
    """Share of all ground-truth boxes of the set found by a prediction with IoU >= 0.5."""

    def __init__(self) -> None:
        self.hits: list[float] = []

    def update(self, batch, outputs) -> None:
        _, targets = batch
        for predicted, target in zip(outputs, targets):  # an image: one prediction, K boxes
            overlaps = iou(predicted.expand(len(target["boxes"]), 4), target["boxes"])
            self.hits += (overlaps >= 0.5).float().tolist()

    def state(self) -> list[float]:
        return self.hits

    def compute(self, states: list[list[float]]) -> dict[str, float]:
        hits = [h for state in states for h in state]
        return {"box_recall": sum(hits) / len(hits)}


class OneBoxDetector(nn.Module):
    """Regresses one box per image towards the first target box (a detection-shaped step)."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(16 * 16, 4)

    def step(self, batch) -> StepOutput:
        x, targets = batch  # (B, 1, 16, 16), B dicts of boxes (K_i, 4) and labels (K_i,)
        boxes = self.head(x.flatten(1)) * 16  # (B, 4) pixels
        first = torch.stack([t["boxes"][0] for t in targets])  # (B, 4)
        loss = F.smooth_l1_loss(boxes, first)
        n = len(x)
        return StepOutput(loss, {"loss": Mean(loss * n, n)}, outputs=boxes.detach().unsqueeze(1))

    def set_metrics(self) -> dict:
        return {"box_recall": BoxRecall()}


def box_images(n: int, seed: int) -> tuple[torch.Tensor, list[dict]]:
    """Images with one to three bright squares; targets list each square's box."""
    g = torch.Generator().manual_seed(seed)
    images, targets = torch.zeros(n, 1, 16, 16), []
    for i in range(n):
        k = int(torch.randint(1, 4, (1,), generator=g))
        boxes = []
        for _ in range(k):
            x0, y0 = (int(v) for v in torch.randint(0, 10, (2,), generator=g))
            images[i, 0, y0 : y0 + 6, x0 : x0 + 6] = 1.0
            boxes.append([x0, y0, x0 + 6, y0 + 6])
        targets.append(
            {
                "boxes": torch.tensor(boxes, dtype=torch.float32),
                "labels": torch.zeros(k, dtype=torch.int64),
            }
        )
    return images, targets


def test_a_detection_batch_with_a_whole_set_metric(tmp_path):
    x, targets = box_images(40, seed=0)
    cfg = config(epochs=3, batch_size=8, lr=0.05, monitor="val_box_recall")

    def loaders():
        return (
            ListTargetLoader(x, targets, 8, shuffle=True, seed=2),
            ListTargetLoader(x, targets, 16),
        )

    straight = assert_resumes_exactly(OneBoxDetector, cfg, loaders, 7, tmp_path)
    # The metric is of the whole set: the hits of every box, not a mean of batch recalls.
    model = straight.model.eval()
    with torch.no_grad():
        predicted = model.head(x.flatten(1)) * 16
    hits = [
        h
        for p, t in zip(predicted, targets)
        for h in (iou(p.expand(len(t["boxes"]), 4), t["boxes"]) >= 0.5).float().tolist()
    ]
    expected = sum(hits) / len(hits)
    assert straight.history["val_box_recall"][-1] == pytest.approx(expected)
    assert Evaluator(model).evaluate(loaders()[1])["box_recall"] == pytest.approx(expected)


def test_a_monitor_the_model_does_not_report_is_a_config_error():
    from utils.exceptions import ConfigError

    g = torch.Generator().manual_seed(0)
    real = torch.randn(16, 2, generator=g)
    labels = torch.zeros(16, dtype=torch.int64)
    cfg = config(epochs=1, monitor="val_accuracy")  # the GAN reports d_loss and g_loss
    trainer = trainer_for(TinyGAN, cfg)
    with pytest.raises(ConfigError, match="val_d_loss, val_g_loss"):
        trainer.train(ArrayLoader(real, labels, 8), ArrayLoader(real, labels, 16))


def test_metric_sums_add_tensor_totals_and_counts_as_plain_floats() -> None:
    """Totals and counts a step reports as tensors are summed as Python floats (the checkpoint
    holds plain values), and the state handed out is a copy the sums do not change."""
    sums = MetricSums()
    sums.add({"loss": Mean(torch.tensor(3.0), 2)})
    state = sums.state()
    sums.add({"loss": Mean(torch.tensor(1.0), torch.tensor(2))})
    assert sums.sums == {"loss": [4.0, 4.0]}
    assert all(type(v) is float for v in sums.sums["loss"])
    assert state == {"loss": [3.0, 2.0]}
    assert MetricSums.means(sums.sums) == {"loss": 1.0}
