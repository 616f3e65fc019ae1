"""What the GRU's gates do while it reads a signal: reset and update gates step by step.

``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots
(learning curves, confusion matrix, gradient audit); the notebook calls ``gate_trace`` too.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import torch
from torch import Tensor, nn

import plotting
from data_utils import DatasetSplits
from engine.modelio import evaluating


@torch.no_grad()
def gate_trace(model: nn.Module, x: Tensor) -> list[dict[str, Tensor]]:
    """Each layer's reset gate r, update gate z and state h at every step of one input.

    Args:
        model: A SequenceClassifier of GRU cells (models/10_rnn's head).
        x: One input as the classifier reads it: (T,) a signal, or (C, H, W) an image.

    Returns:
        One dict per layer with "r", "z", "h", each (T, H).
    """
    device = next(model.parameters()).device
    with evaluating(model):
        layer_input = x.reshape(1, -1, model.input_size).to(device)  # (1, T, I)
        layers = []
        for cell in model.rnn.cells:
            gx = cell.input_projection(layer_input)  # (1, T, 3H)
            h = cell.initial_state(1, gx)  # (1, H)
            trace: dict[str, list[Tensor]] = {"r": [], "z": [], "h": []}
            for t in range(gx.shape[1]):
                r, z, _ = cell.gates(gx[:, t], h)  # (1, H) each
                _, h = cell(gx[:, t], h)
                for key, value in (("r", r), ("z", z), ("h", h)):
                    trace[key].append(value[0].cpu())
            layers.append({key: torch.stack(values) for key, values in trace.items()})
            layer_input = torch.stack([h_t.to(device) for h_t in trace["h"]])[None]  # (1, T, H)
    return layers


def plot_gates(
    signal: Tensor, trace: dict[str, Tensor], path: Path, title: str, units: int = 32
) -> Path:
    """The input over time, then the update gate z, the reset gate r and the state h of the
    first ``units`` units (rows) at every step (columns)."""
    fig, axes = plt.subplots(4, 1, figsize=(8, 8.5), sharex=True, layout="constrained")
    steps = len(trace["z"])
    axes[0].plot(range(steps), signal.flatten()[:steps].cpu(), color="black")
    axes[0].set_ylabel("input")
    panels = (
        ("z", "update gate z (1 = keep h)", "viridis", (0, 1)),
        ("r", "reset gate r", "viridis", (0, 1)),
        ("h", "state h", "RdBu_r", (-1, 1)),
    )
    for ax, (key, label, cmap, (low, high)) in zip(axes[1:], panels):
        image = ax.imshow(
            trace[key][:, :units].T, aspect="auto", cmap=cmap, vmin=low, vmax=high
        )  # (T, H) -> (H, T): one row per unit
        ax.set_ylabel(f"{label}\nunit")
        fig.colorbar(image, ax=ax, fraction=0.025)
    axes[-1].set_xlabel("step t")
    fig.suptitle(title)
    return plotting.save_figure(fig, path)


def visualize(model: nn.Module, splits: DatasetSplits, vis_dir: Path, prefix: str) -> dict:
    """The ModelSpec hook: the gates of the last layer while it reads the first test signal."""
    if not hasattr(model, "input_size"):  # the language model and the regressor: no plot
        return {}
    x, y = splits.x_test[0], int(splits.y_test[0])
    if splits.transform is not None:
        x = splits.transform(x[None])[0]
    trace = gate_trace(model, x)[-1]
    title = f"GRU gates reading test signal 0 of {splits.name} (class {splits.class_names[y]})"
    return {"gates": plot_gates(x, trace, vis_dir / f"{prefix}_gates.png", title)}
