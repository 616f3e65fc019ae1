"""Zachary's karate club with two labelled members: the GCN's 2-D embedding over training.

    python src/karate.py
    python src/karate.py --snapshots 0 25 50 100 300

The karate experiment (three layers: 4 and 2 hidden units, tanh, identity features) trains
through the engine's Trainer in memory, one full-graph epoch at a time, from the labels of the two
leaders alone (Mr. Hi, node 0, and the Officer, node 33). After the epochs in ``--snapshots``
(0: the untrained network, whose random weights already place neighbours together, Kipf's
demonstration) the last hidden layer of every member is recorded and drawn, coloured by the
faction each joined after the split. Result: outputs/logs/karate_embedding.json (the accuracy on
the 32 unlabelled members at each snapshot) and outputs/visualizations/karate_embedding.png.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

import matplotlib.pyplot as plt
import torch
from constants import LOGS_DIR, VISUALIZATIONS_DIR
from train import SPEC

import plotting
from data_utils import GraphData
from engine.modelio import evaluating
from engine.trainer import Trainer
from engine.workflow import build_optimizer, cli_overrides, load_data, script_main, write_result
from utils.config import apply_overrides, load_config
from utils.device import select_device
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


@torch.no_grad()
def snapshot(model: Any, graph: GraphData) -> dict[str, Any]:
    """The 2-D embedding of every node and the accuracy on the unlabelled ones."""
    with evaluating(model):
        embedding = model.embed(graph.x, graph.adj)  # (N, 2)
        predicted = model(graph.x, graph.adj).argmax(1)  # (N,)
    right = predicted[graph.test_mask] == graph.y[graph.test_mask]
    return {"embedding": embedding.tolist(), "test_accuracy": right.float().mean().item()}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="The karate club's GCN embedding over training.")
    p.add_argument("--snapshots", type=int, nargs="+", default=[0, 25, 50, 100, 200, 300])
    p.add_argument("--seed", help="random seed (initial weights)")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:N or mps")
    p.add_argument("--set", nargs="*", default=[], metavar="KEY=VALUE", help="config overrides")
    p.add_argument("--json", action="store_true", help="print the result JSON as the last line")
    p.set_defaults(
        epochs=None,
        batch_size=None,
        learning_rate=None,
        grad_accum_steps=None,
        precision=None,
        max_steps=None,
    )
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = load_config(SPEC.config_cls, SPEC.experiments_file, "karate")
    config = apply_overrides(config, {"epochs": max(args.snapshots), **cli_overrides(args)})
    device = select_device(config.device)
    graph = load_data(config, None)
    set_random_seed(config.seed)
    model = SPEC.create_model(config, graph).to(device)
    assert model.layers[-2].weight.shape[1] == 2, "the karate embedding needs 2 last hidden units"
    trainer = Trainer(model, build_optimizer(config, model), None, device, config)
    train_loader, val_loader, _ = graph.loaders(config.batch_size, seed=config.seed)
    snapshots = {}
    for epoch in range(config.epochs + 1):
        if epoch > 0:
            trainer.train(train_loader, val_loader, epoch)
        if epoch in args.snapshots:
            snapshots[str(epoch)] = snapshot(model, graph)
            logger.info(
                "epoch %d | accuracy on the 32 unlabelled members %.3f",
                epoch,
                snapshots[str(epoch)]["test_accuracy"],
            )
    result = {
        "labelled": graph.train_mask.nonzero().squeeze(1).tolist(),
        "labels": graph.y.tolist(),
        "edges": graph.edge_index.t().tolist(),
        "class_names": graph.class_names,
        "snapshots": snapshots,
    }
    write_result(result, LOGS_DIR / "karate_embedding.json", args.json)
    plot_karate(result, VISUALIZATIONS_DIR / "karate_embedding.png")
    return result


def plot_karate(result: dict[str, Any], path: Any) -> Any:
    """One panel per snapshot: members at their 2-D embedding, friendships as grey lines,
    colour the faction joined, the two labelled leaders as large outlined squares."""
    epochs = sorted(result["snapshots"], key=int)
    cols = min(3, len(epochs))
    rows = (len(epochs) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.4 * rows), squeeze=False)
    labels, colours = result["labels"], ["C0", "C3"]
    for ax, epoch in zip(axes.flat, epochs):
        snap = result["snapshots"][epoch]
        z = snap["embedding"]
        for i, j in result["edges"]:
            if i < j:
                ax.plot([z[i][0], z[j][0]], [z[i][1], z[j][1]], color="0.8", lw=0.5, zorder=1)
        for c, name in enumerate(result["class_names"]):
            nodes = [v for v in range(len(z)) if labels[v] == c]
            ax.scatter(
                [z[v][0] for v in nodes],
                [z[v][1] for v in nodes],
                s=18,
                color=colours[c],
                label=name,
                zorder=2,
            )
        for v in result["labelled"]:
            ax.scatter(
                z[v][0],
                z[v][1],
                s=110,
                marker="s",
                facecolor=colours[labels[v]],
                edgecolor="k",
                zorder=3,
            )
        ax.set_title(
            f"epoch {epoch}: {100 * snap['test_accuracy']:.0f}% of the 32 unlabelled", fontsize=9
        )
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(epochs) :]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7, loc="best")
    fig.suptitle(
        "Karate club: GCN last hidden layer (2-D); squares: the 2 labelled leaders", fontsize=10
    )
    return plotting.save_figure(fig, path)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
