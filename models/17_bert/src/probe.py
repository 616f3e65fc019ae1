"""How much sentiment do the pretrained features hold before any fine-tuning? A linear probe.

    python src/probe.py --pretrained latest                      # 500 labels, seeds 0 1 2
    python src/probe.py --pretrained latest --labelled 2000 --seeds 0

The encoder is frozen, pretrained or at the random initialisation of the same seed (the same
draw the from-scratch network starts from); each sentence becomes one vector per layer: the mean
of its words' vectors after the embedding layer (layer 0) and after each block (1 .. L), and the
final [CLS] vector. A logistic regression (scikit-learn, C chosen on dev) reads each of them,
trained on the same seeded draws of labelled SST-2 sentences as curve.py. If the pretrained
vectors separate the classes no better than random ones, no fine-tuning recipe can lean on them.
The result: outputs/logs/<name>.json and a table on stderr.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
from typing import Any

import numpy as np
import torch
from constants import LOGS_DIR, MODEL_NAME
from curve import C_GRID, labelled_subset
from model import PAD, Bert

from engine.checkpoint import resolve_checkpoint
from engine.modelio import load_model_state
from engine.workflow import load_data, script_main
from utils.registry import model_config, model_spec
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pretrained", default="latest", help="a path, or latest / best of pretrain")
    p.add_argument("--labelled", type=int, nargs="+", default=[500])
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    p.add_argument("--name", default="probe", help="file name of the JSON")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="print the result as the last line")
    return p


@torch.no_grad()
def features(model: Bert, x: torch.Tensor, batch_size: int = 256) -> dict[str, np.ndarray]:
    """Word ids (N, T) -> {"mean0" .. "meanL": (N, D) mean word vector per layer, "cls": (N, D)}."""
    model.eval()
    out: dict[str, list[np.ndarray]] = {}
    for start in range(0, len(x), batch_size):
        ids = x[start : start + batch_size]
        ids = ids[:, : max(1, int((ids != PAD).sum(dim=1).max()))]  # (B, T') no padded columns
        cls = torch.full((len(ids), 1), model.cls_id, dtype=ids.dtype)
        tokens = torch.cat([cls, ids], dim=1)  # (B, 1 + T')
        keys = (tokens != PAD)[:, None, None, :]  # (B, 1, 1, 1 + T')
        where = torch.arange(tokens.shape[1])  # (1 + T',)
        h = model.embed_norm(model.embed(tokens) + model.positions(where))  # (B, 1 + T', D)
        layers = [h]
        for block in model.blocks:
            h = block(h, keys)
            layers.append(h)
        layers[-1] = model.final_norm(layers[-1])
        words = (ids != PAD).unsqueeze(-1).to(h.dtype)  # (B, T', 1)
        for number, h in enumerate(layers):
            pooled = (h[:, 1:] * words).sum(1) / words.sum(1).clamp(min=1)  # (B, D)
            out.setdefault(f"mean{number}", []).append(pooled.numpy())
        out.setdefault("cls", []).append(layers[-1][:, 0].numpy())  # (B, D)
    return {name: np.concatenate(parts) for name, parts in out.items()}


def probe(train: np.ndarray, y: np.ndarray, val: Any, test: Any) -> dict[str, float]:
    """Logistic regression on ``train`` features, C chosen on dev; (features, labels) pairs."""
    from sklearn.linear_model import LogisticRegression

    best = None
    for c in C_GRID:
        clf = LogisticRegression(C=c, max_iter=3000).fit(train, y)
        score = float((clf.predict(val[0]) == val[1]).mean())
        if best is None or score > best["val_accuracy"]:
            test_score = float((clf.predict(test[0]) == test[1]).mean())
            best = {"val_accuracy": score, "test_accuracy": test_score, "C": c}
    assert best is not None
    return best


def run(args: argparse.Namespace) -> dict[str, Any]:
    spec = model_spec(MODEL_NAME)
    weights = resolve_checkpoint(args.pretrained, spec.model_dir / "outputs/models/pretrain")
    logger.info("pretrained weights: %s", weights["path"])
    config = model_config(MODEL_NAME, "finetune")
    splits = load_data(config, args.data_dir)
    y_val, y_test = splits.y_val.numpy(), splits.y_test.numpy()
    runs = []
    for seed in args.seeds:
        for start in ("pretrained", "random"):
            set_random_seed(seed)  # the initial draw of the from-scratch network of this seed
            model = spec.create_model(config, splits)
            if start == "pretrained":
                load_model_state(model, weights["model_state"])
            train, val, test = (
                features(model, x) for x in (splits.x_train, splits.x_val, splits.x_test)
            )
            for n in args.labelled:
                subset, keep = labelled_subset(splits, n, seed)
                for layer in train:
                    record = probe(
                        train[layer][keep],
                        subset.y_train.numpy(),
                        (val[layer], y_val),
                        (test[layer], y_test),
                    )
                    runs.append(
                        {
                            "start": start,
                            "labelled": len(keep),
                            "seed": seed,
                            "layer": layer,
                            **record,
                        }
                    )
    table: dict[str, dict[str, float]] = {}
    lines = [f"{'start':>10} {'labelled':>8} {'layer':>6}  test mean (min, max) over seeds"]
    for key in sorted({(r["start"], r["labelled"], r["layer"]) for r in runs}):
        accs = [r["test_accuracy"] for r in runs if (r["start"], r["labelled"], r["layer"]) == key]
        name = "/".join(str(k) for k in key)
        table[name] = {"mean": statistics.mean(accs), "min": min(accs), "max": max(accs)}
        row = table[name]
        lines.append(
            f"{key[0]:>10} {key[1]:>8} {key[2]:>6}  "
            f"{row['mean']:.4f} ({row['min']:.4f}, {row['max']:.4f})"
        )
    sys.stderr.write("\n".join(lines) + "\n")
    result = {"pretrained": str(weights["path"]), "summary": table, "runs": runs}
    out = LOGS_DIR / f"{args.name}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    logger.info("written %s", out)
    if args.json:
        sys.stdout.write(json.dumps(result) + "\n")
    return result


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
