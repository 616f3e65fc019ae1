"""Why an LSTM remembers: the gradient that reaches step t, against the Elman network's.

The Elman network's analysis (models/10_rnn/src/analysis.py) measures ||dL/dh_t|| for a loss
that reads only the last step; this module applies it to the LSTM, trained and at
initialisation, and to an Elman network of the same width at initialisation. The cell state's
path, c_t = f * c_{t-1} + i * g, multiplies the error by f per step back (the constant error
carousel when f = 1), where the Elman network multiplies it by diag(1 - h_t^2) W_hh.
``visualize`` is the ModelSpec hook that ``--visualize`` calls after the engine's standard plots.
``table`` and ``plot_adding`` show the result of compare.py's adding study (Elman against LSTM).
"""

from __future__ import annotations

import copy
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import matplotlib.pyplot as plt
import torch
from model import LSTMCell, rnn
from torch import nn

import plotting
from utils.registry import model_modules

elman = model_modules("rnn").analysis  # gradient_by_distance, first_test_batch, the plot

BASELINE_MSE = 1 / 6  # the adding problem: always predicting 1, the mean of the target
MODELS = {"rnn": "Elman RNN", "lstm": "LSTM"}  # compare.py's networks, by registry name


def reinitialised(model: nn.Module, seed: int = 0) -> nn.Module:
    """A copy of ``model`` with fresh weights drawn as at construction (seeded), forget gate
    biases included."""
    fresh = copy.deepcopy(model)
    torch.manual_seed(seed)
    for module in fresh.modules():  # embeddings and heads first, then the cells (their Linears
        if hasattr(module, "reset_parameters") and not isinstance(module, LSTMCell):
            module.reset_parameters()  # were just reset with PyTorch's Linear init)
    for module in fresh.modules():
        if isinstance(module, LSTMCell):
            module.reset_parameters()
    return fresh


def elman_twin(model: nn.Module, splits: Any, seed: int = 0) -> nn.Module:
    """An Elman network at initialisation with this LSTM's head, width and depth (seeded)."""
    torch.manual_seed(seed)
    shape = SimpleNamespace(
        hidden_size=model.rnn.hidden_size,
        num_layers=len(model.rnn.cells),
        dropout=model.rnn.dropout,
        temperature=1.0,
    )
    return rnn.build_network(shape, splits, rnn.ElmanCell)


def gradient_curves(model: nn.Module, splits: Any) -> dict[str, list[float]]:
    """||dL/dh_t|| by distance T - 1 - t on the first test sequences: the trained LSTM, the LSTM
    at initialisation and an Elman network at initialisation."""
    x, y = elman.first_test_batch(splits)
    device = next(model.parameters()).device
    x, y = x.to(device), y.to(device)
    return {
        "LSTM, trained": elman.gradient_by_distance(model, x, y),
        "LSTM at initialisation": elman.gradient_by_distance(reinitialised(model), x, y),
        "Elman at initialisation": elman.gradient_by_distance(
            elman_twin(model, splits).to(device), x, y
        ),
    }


def visualize(model: nn.Module, splits: Any, vis_dir: Path, prefix: str) -> dict[str, Path]:
    """The ModelSpec hook: the gradient reaching each step, LSTM against Elman."""
    curves = gradient_curves(model, splits)
    length = len(next(iter(curves.values())))
    title = f"LSTM on {splits.name}: gradient of the last step's loss, T = {length}"
    path = elman.plot_gradient_decay(curves, vis_dir / f"{prefix}_gradients.png", title)
    return {"gradients": path}


# ------------------------------------------------------------- the adding study (compare.py)


def table(result: dict[str, Any]) -> str:
    """The result as a Markdown table, one row per (T, model)."""
    lines = [
        "| T | model | test MSE | solved (within 0.04) | MSE / baseline | seconds |",
        "| ---: | --- | ---: | ---: | ---: | ---: |",
    ]
    for run in result["runs"]:
        lines.append(
            f"| {run['length']} | {MODELS[run['model']]} | {run['test_mse']:.4f} | "
            f"{run['test_solved']:.3f} | {run['test_mse'] / BASELINE_MSE:.3f} | "
            f"{run['train_seconds']:.0f} |"
        )
    return "\n".join(lines)


def plot_adding(result: dict[str, Any], path: Path) -> Path:
    """Test MSE (log scale) against T for each network, with the 1/6 of predicting the mean."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2), layout="constrained")
    for name, colour in (("rnn", "tab:red"), ("lstm", "tab:blue")):
        runs = sorted((r for r in result["runs"] if r["model"] == name), key=lambda r: r["length"])
        if runs:
            lengths = [r["length"] for r in runs]
            ax.plot(lengths, [r["test_mse"] for r in runs], "o-", color=colour, label=MODELS[name])
    ax.axhline(BASELINE_MSE, color="grey", linestyle="--", label="predict the mean (1/6)")
    ax.set_yscale("log")
    ax.set_xlabel("sequence length T")
    ax.set_ylabel("test MSE")
    ax.set_xticks(sorted({r["length"] for r in result["runs"]}))
    ax.legend()
    ax.set_title(f"The adding problem, {result['epochs_note']}")
    return plotting.save_figure(fig, path)
