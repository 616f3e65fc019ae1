"""What the DDPM does, seen: the forward process destroying test digits, the reverse process
building digits out of noise, samples; and what a sample costs.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(the loss curves, the gradient audit).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import torch

import plotting
from data_utils import DatasetSplits
from engine.modelio import evaluating

# Paper steps t shown in the pictures of both processes, out of T (scaled for a shorter chain).
SHOWN_FRACTIONS = (0.0, 0.05, 0.1, 0.25, 0.5, 0.75, 1.0)


def shown_steps(num_steps: int) -> list[int]:
    """The steps t in [0, T] of the pictures, increasing: 0, T/20, T/10, T/4, T/2, 3T/4, T."""
    return sorted({round(f * num_steps) for f in SHOWN_FRACTIONS})


@torch.no_grad()
def forward_process(
    model: Any, images: torch.Tensor, steps: list[int], seed: int = 0
) -> torch.Tensor:
    """Draws of q(x_t | x_0) for images (N, C, H, W) in [0, 1] at each paper step t in ``steps``
    (t = 0: the image itself), one noise draw per image shared across t: (len(steps), N, C, H, W)
    in [0, 1] (clipped for display; x_t itself is unbounded)."""
    x0 = images * 2.0 - 1.0  # [0, 1] -> [-1, 1]
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    rows = []
    for t in steps:
        xt = x0 if t == 0 else model.q_sample(x0, torch.full((len(x0),), t - 1), noise)
        rows.append(((xt.clamp(-1, 1) + 1) / 2))
    return torch.stack(rows)


def plot_process(frames: torch.Tensor, steps: list[int], path: Path, title: str) -> Path:
    """A grid with one column per step and one row per image: frames (S, N, C, H, W) in [0, 1]."""
    n_steps, n_images = frames.shape[:2]
    fig, axes = plt.subplots(
        n_images, n_steps, figsize=(n_steps * 0.95, n_images * 0.95 + 0.4), squeeze=False
    )
    for c in range(n_steps):
        axes[0][c].set_title(f"t = {steps[c]}", fontsize=8)
        for r in range(n_images):
            axes[r][c].imshow(frames[c, r, 0].numpy(), cmap="gray", vmin=0, vmax=1)
            axes[r][c].axis("off")
    fig.suptitle(title, fontsize=9)
    return plotting.save_figure(fig, path)


def reverse_process(
    model: Any, num: int, seed: int = 0, sample_steps: int | None = None
) -> tuple[torch.Tensor, list[int]]:
    """x_t along the reverse chain for ``num`` samples, from x_T (pure noise) to x_0: frames
    (S, num, C, H, W) in [0, 1] at the steps returned (decreasing, visited by the sampler)."""
    idx, _, _ = model.sampling_schedule(sample_steps or model.num_steps)
    visited = [0] + [int(i) + 1 for i in idx]  # paper steps the sampler passes through
    wanted = shown_steps(model.num_steps)
    keep = sorted({min(visited, key=lambda v: abs(v - t)) for t in wanted}, reverse=True)
    with evaluating(model):
        frames = model.sample(num, torch.Generator().manual_seed(seed), sample_steps, keep=keep)
    return frames, keep


def sampling_cost(model: Any, num: int, seed: int = 0, **options: Any) -> dict[str, float]:
    """CPU and wall seconds per sample of ``model.sample(num, generator, **options)``."""
    generator = torch.Generator().manual_seed(seed)
    cpu, wall = time.process_time(), time.perf_counter()
    with evaluating(model):
        model.sample(num, generator, **options)
    return {
        "cpu_seconds_per_sample": (time.process_time() - cpu) / num,
        "wall_seconds_per_sample": (time.perf_counter() - wall) / num,
    }


@torch.no_grad()
def loss_by_step(model: Any, images: torch.Tensor, steps: list[int], seed: int = 0) -> list[float]:
    """L_simple of the sampling network at each paper step t (one noise draw per image, the same
    for every t) on images (N, C, H, W) in [0, 1]: where along the chain denoising is hard."""
    x0 = images * 2.0 - 1.0
    noise = torch.randn(x0.shape, generator=torch.Generator().manual_seed(seed))
    net, losses = model.denoiser(), []
    with evaluating(model):
        for t in steps:
            i = torch.full((len(x0),), t - 1)
            losses.append(float((net(model.q_sample(x0, i, noise), i) - noise).pow(2).mean()))
    return losses


def plot_loss_by_step(model: Any, images: torch.Tensor, path: Path) -> Path:
    """The test loss against the diffusion step t, on a log axis of t."""
    steps = sorted({max(1, round(model.num_steps * f)) for f in torch.logspace(-3, 0, 16).tolist()})
    losses = loss_by_step(model, images, steps)
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(steps, losses, marker="o")
    ax.set_xscale("log")
    ax.set_xlabel("diffusion step t")
    ax.set_ylabel("||eps - eps_theta||^2 per pixel")
    ax.set_title(
        f"L_simple by step on {len(images)} test images (mean over t: the test loss)", fontsize=9
    )
    return plotting.save_figure(fig, path)


def visualize(model: Any, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ``--visualize`` hook: the forward process on six test digits, the test loss by
    diffusion step, the reverse process of six samples, and a grid of 36 samples (the paper's
    sampler, seed 0; the first six are the reverse process's)."""
    steps = shown_steps(model.num_steps)
    images = splits.transform(splits.x_test[:6])  # (6, 1, 28, 28) in [0, 1]
    figures = {
        "forward_process": plot_process(
            forward_process(model, images, steps),
            steps,
            vis_dir / f"{prefix}_forward.png",
            f"forward process q(x_t | x_0), T = {model.num_steps}: test digits to noise",
        )
    }
    figures["loss_by_step"] = plot_loss_by_step(
        model, splits.transform(splits.x_test[:500]), vis_dir / f"{prefix}_loss_by_step.png"
    )
    frames, keep = reverse_process(model, 36)  # (S, 36, C, H, W)
    figures["reverse_process"] = plot_process(
        frames[:, :6],
        keep,
        vis_dir / f"{prefix}_reverse.png",
        f"reverse process (ancestral sampling, {model.num_steps} steps): noise to digits",
    )
    figures["samples"] = plotting.plot_samples(
        frames[-1],
        vis_dir / f"{prefix}_samples.png",
        f"DDPM: 36 samples, {model.num_steps} network evaluations each, seed 0",
    )
    return figures
