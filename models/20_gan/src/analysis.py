"""What the GAN learned, seen and measured: a grid of samples, the game per epoch, the class
histogram of its samples by a frozen classifier (mode collapse), and sample scores per epoch.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves of d_loss, g_loss, D(x) and D(G(z)); gradient audit). ``score_checkpoint`` is
evaluate.py's ``--score``; ``epoch_scores`` scores every kept epoch checkpoint of a run (the
notebook's figure of sample quality against the losses).
"""

from __future__ import annotations

import copy
import logging
import re
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
from constants import LOGS_DIR, VISUALIZATIONS_DIR

import plotting
from data_utils import DatasetSplits
from engine import sample_quality
from engine.checkpoint import load_checkpoint
from engine.modelio import evaluating, load_model_state
from engine.workflow import load_trained, write_result

logger = logging.getLogger(__name__)
EPOCH_SAMPLES = 2000  # samples per epoch checkpoint in the curve of scores (seed 0)
UNIFORM_ENTROPY = float(np.log(10))  # 2.30 nats: ten equally frequent classes


def draw(model: Any, num: int, seed: int) -> torch.Tensor:
    """``num`` samples (N, C, H, W) from one generator seeded with ``seed``, in chunks."""
    gen = torch.Generator().manual_seed(seed)
    with evaluating(model):
        chunks = [model.sample(len(c), gen) for c in torch.arange(num).split(1000)]
    return torch.cat(chunks).cpu()


def visualize(model: Any, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ``--visualize`` hook: 64 samples, seed 0."""
    path = vis_dir / f"{prefix}_samples.png"
    title = f"GAN on {splits.name}: G(z), z ~ N(0, I), seed 0"
    return {"samples": plotting.plot_samples(draw(model, 64, 0), path, title)}


def plot_class_histogram(
    histogram: list[int], class_names: list[str], path: Path, title: str
) -> Path:
    """Samples per class, as the frozen classifier labels them; the uniform share dashed."""
    counts = np.asarray(histogram, dtype=float)
    fig, ax = plt.subplots(figsize=(7, 3.5))
    ax.bar(range(len(counts)), counts / counts.sum(), color="tab:blue")
    ax.axhline(1 / len(counts), ls="--", color="grey", label="uniform (the test set: ~0.1)")
    ax.set_xticks(range(len(counts)), class_names, rotation=30, fontsize=8)
    ax.set_ylabel("share of samples")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    return plotting.save_figure(fig, path)


def score_checkpoint(spec: Any, checkpoint: str, experiment: str | None, seed: int | None) -> dict:
    """evaluate.py's ``--score``: NUM_SAMPLES samples of the checkpoint, scored by the frozen
    feature network of its data set, and EPOCH_SAMPLES of every epoch checkpoint of its run;
    JSON in outputs/logs; the class histogram and the game per epoch in visualizations."""
    model, config, splits, state = load_trained(spec, checkpoint, experiment)
    seed = config.seed if seed is None else seed
    samples = draw(model, sample_quality.NUM_SAMPLES, seed)
    scores = sample_quality.score_samples(samples, config.dataset, seed=seed)
    scores.update(checkpoint=str(state["path"]), sample_seed=seed, epoch=state.get("epoch"))
    name = experiment or config.experiment
    per_epoch = epoch_scores(copy.deepcopy(model), config.dataset, state["path"], EPOCH_SAMPLES)
    scores["per_epoch"] = per_epoch
    write_result(scores, LOGS_DIR / f"{name}_sample_quality.json")
    if (state.get("history") or {}).get("epoch"):
        plot_game(
            state["history"],
            per_epoch,
            VISUALIZATIONS_DIR / f"{name}_eval_game.png",
            f"GAN on {config.dataset}: the game per epoch, and its samples",
        )
    plot_class_histogram(
        scores["class_histogram"],
        list(splits.class_names),
        VISUALIZATIONS_DIR / f"{name}_eval_class_histogram.png",
        f"GAN on {config.dataset}: classes of {len(samples)} samples by the frozen ResNet-8; "
        f"entropy {scores['class_entropy']:.2f} nats (uniform {UNIFORM_ENTROPY:.2f})",
    )
    logger.info(
        "sample quality (%d samples, seed %d): Frechet distance %.2f | precision %.3f | "
        "recall %.3f | class entropy %.2f nats",
        len(samples),
        seed,
        scores["frechet_distance"],
        scores["precision"],
        scores["recall"],
        scores["class_entropy"],
    )
    return scores


def epoch_checkpoints(checkpoint: str | Path) -> list[Path]:
    """The epoch checkpoints kept beside ``checkpoint`` from the same run, by epoch
    (``<run>_epoch003_step0002673.pt``; keep_last keeps them all)."""
    path = Path(checkpoint)
    run = re.sub(r"_epoch\d+_step\d+.*", "", path.name)
    return sorted(path.parent.glob(f"{run}_epoch*_step*[0-9].pt"))


def epoch_scores(model: Any, dataset: str, checkpoint: str | Path, num: int, seed: int = 0) -> list:
    """``num`` samples from each kept epoch checkpoint of the run of ``checkpoint``, scored
    against ``num`` test images (the same ``num`` for every epoch: the Frechet distance is
    biased in the number of samples). The model's weights are those of the last one after."""
    rows = []
    for path in epoch_checkpoints(checkpoint):
        state = load_checkpoint(path)
        load_model_state(model, state["model_state"])
        samples = draw(model, num, seed)
        scores = sample_quality.score_samples(samples, dataset, n_real=num, seed=seed)
        rows.append({"epoch": state["epoch"], **scores})
    return rows


def plot_game(history: dict, scores: list[dict], path: Path, title: str) -> Path:
    """The game per epoch: the two losses, D(x) and D(G(z)), and (given ``scores``) the
    Frechet distance and class entropy of the samples at each epoch."""
    panels = 3 if scores else 2
    fig, axes = plt.subplots(1, panels, figsize=(4.2 * panels, 3.4))
    epochs = history["epoch"]
    for key, label in (("train_d_loss", "D loss"), ("train_g_loss", "G loss")):
        axes[0].plot(epochs, history[key], marker="o", label=label)
    axes[0].set_title("losses (training, per epoch)", fontsize=9)
    for key, label in (("train_d_real", "D(x)"), ("train_d_fake", "D(G(z))")):
        axes[1].plot(epochs, history[key], marker="o", label=label)
    axes[1].axhline(0.5, ls="--", color="grey", label="equilibrium 1/2")
    axes[1].set_title("discriminator outputs (training)", fontsize=9)
    if scores:
        ax = axes[2]
        ax.plot([s["epoch"] for s in scores], [s["frechet_distance"] for s in scores], "o-")
        ax.set_ylabel("Frechet distance (frozen ResNet-8)")
        twin = ax.twinx()
        twin.plot([s["epoch"] for s in scores], [s["class_entropy"] for s in scores], "s--", c="C3")
        twin.set_ylabel("class entropy, nats (uniform 2.30)", color="C3")
        ax.set_title(f"samples ({scores[0]['n_samples']} per epoch)", fontsize=9)
    for ax in axes[:2]:
        ax.legend(fontsize=8)
    for ax in axes:
        ax.set_xlabel("epoch")
    fig.suptitle(title, fontsize=10)
    return plotting.save_figure(fig, path)
