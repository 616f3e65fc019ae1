"""The shared Trainer against PyTorch Lightning, on the same model, data and optimizer.

    .venv/bin/pip install -r benchmarks/requirements-benchmarks.txt   # Lightning, torch kept
    AIFS_DATA_DIR=/path/to/datasets python benchmarks/bench_lightning.py [--threads 1]

For the MLP (models/03_mlp) and LeNet-5 (models/05_lenet5), with their ``fashion_mnist``
optimizer and batch size, three candidates train the same network from the same initial
weights on the same batches, one epoch per call, interleaved:

- ``raw``: the hand-written loop of ``benchlib.RawLoop`` (for scale);
- ``trainer``: the project's ``engine.trainer.Trainer``, audits at their default interval (50);
- ``lightning``: ``pytorch_lightning.Trainer(max_epochs=1, enable_checkpointing=False,
  logger=False, enable_progress_bar=False, accelerator="cpu", devices=1,
  enable_model_summary=False)``, a new Trainer per epoch whose ``fit`` continues the same
  LightningModule and the same optimizer object (so Adam's state carries over, as in the other
  two). Its ``training_step`` logs the epoch's loss and accuracy and its ``validation_step`` the
  validation loss and accuracy: the numbers our Trainer reports.

All three use the optimizer ``engine.workflow.build_optimizer`` builds for the config (one
object per candidate, same class and settings) and the same in-memory ``ArrayLoader`` batches
(Lightning accepts any iterable; a callback sets the epoch's permutation), so the comparison is
of the loops, not of the data pipelines (bench_data_loading.py measures those). All three
validate on the same 1,024 images after each epoch. Lightning's time is reported twice: the
whole ``fit`` call (its setup, the default two sanity-check validation batches, the epoch) and
the epoch alone, from its ``on_train_epoch_start`` hook to ``on_train_epoch_end`` (which runs
after validation).

Data: 100 training batches per epoch (MLP 12,800 images, LeNet-5 6,400), under 5 minutes.
"""

from __future__ import annotations

import logging
import sys
import time
import warnings
from typing import Any

import benchlib
import torch

from utils.registry import MODELS

SCRIPT = "bench_lightning"
VAL_SAMPLES = 1024
# model -> (training images per epoch, timed rounds)
PLAN = {"mlp": (12_800, 20), "lenet5": (6_400, 10)}


def import_lightning() -> Any:
    try:
        import pytorch_lightning
    except ImportError as exc:
        raise SystemExit(
            "pytorch-lightning is not installed: "
            "pip install -r benchmarks/requirements-benchmarks.txt"
        ) from exc
    return pytorch_lightning


class LightningLoop:
    """The same model and optimizer as a LightningModule; one ``fit`` per epoch."""

    def __init__(self, setup: benchlib.Setup) -> None:
        pl = import_lightning()
        self.setup, self.model, self.epoch = setup, setup.model, 0
        self.epoch_seconds: list[float] = []
        loop = self

        class Module(pl.LightningModule):
            def __init__(self) -> None:
                super().__init__()
                self.net = setup.model

            def training_step(self, batch, batch_idx):
                x, y = batch
                scores = self.net(x)
                loss = setup.criterion(scores, y)
                accuracy = (scores.argmax(dim=1) == y).float().mean()
                self.log("train_loss", loss, on_step=False, on_epoch=True, batch_size=len(y))
                self.log("train_acc", accuracy, on_step=False, on_epoch=True, batch_size=len(y))
                return loss

            def validation_step(self, batch, batch_idx):
                x, y = batch
                scores = self.net(x)
                loss = setup.criterion(scores, y)
                accuracy = (scores.argmax(dim=1) == y).float().mean()
                self.log("val_loss", loss, batch_size=len(y))
                self.log("val_acc", accuracy, batch_size=len(y))

            def configure_optimizers(self):
                return setup.optimizer  # built once: its state carries over between fits

        class EpochClock(pl.Callback):
            """Sets the permutation of the epoch and times it (validation included)."""

            def on_train_epoch_start(self, trainer, module) -> None:
                setup.train_loader.set_epoch(loop.epoch)
                self.start = time.perf_counter()

            def on_train_epoch_end(self, trainer, module) -> None:
                loop.epoch_seconds.append(time.perf_counter() - self.start)

        self.pl, self.module, self.clock = pl, Module(), EpochClock()

    def run_epoch(self) -> None:
        trainer = self.pl.Trainer(
            max_epochs=1,
            enable_checkpointing=False,
            logger=False,
            enable_progress_bar=False,
            accelerator="cpu",
            devices=1,
            enable_model_summary=False,
            callbacks=[self.clock],
        )
        trainer.fit(self.module, self.setup.train_loader, self.setup.val_loader)
        self.epoch += 1


def bench_model(name: str, splits, seed: int, rounds: int, load) -> dict[str, Any]:
    n_train = PLAN[name][0]

    def setup() -> benchlib.Setup:
        return benchlib.build_setup(name, splits, n_train, VAL_SAMPLES, seed=seed)

    candidates = {
        "raw": benchlib.RawLoop(setup()),
        "trainer": benchlib.EngineLoop(setup()),
        "lightning": LightningLoop(setup()),
    }
    times = benchlib.time_epochs(candidates, rounds, load, name)
    wall = dict(times["wall"])
    wall["lightning_epoch"] = candidates["lightning"].epoch_seconds[1:]  # without the warm-up
    return {
        "folder": f"models/{MODELS[name]}",
        **benchlib.describe(candidates["raw"].setup),
        "rounds": rounds,
        "epoch_seconds": {n: benchlib.spread(v) for n, v in wall.items()},
        "ratio_vs_raw": benchlib.paired_ratios(wall, "raw"),
        "ratio_vs_trainer": benchlib.paired_ratios(wall, "trainer"),
        "identical_weights": benchlib.same_weights(*(c.model for c in candidates.values())),
        "times": {**times, "lightning_epoch": wall["lightning_epoch"]},
    }


def main(argv: list[str] | None = None) -> int:
    args = benchlib.model_parser(__doc__.split("\n\n")[0], PLAN).parse_args(argv)
    pl = import_lightning()
    logging.basicConfig(level=logging.ERROR)
    for name in ("pytorch_lightning", "lightning", "lightning.pytorch"):
        logging.getLogger(name).setLevel(logging.ERROR)  # "GPU available: False" and the like
    warnings.filterwarnings("ignore", module="pytorch_lightning")
    warnings.filterwarnings("ignore", module="lightning_fabric")
    threads, load, results = benchlib.bench_models(args, PLAN, bench_model)
    threads_after = torch.get_num_threads()

    ratios = {
        "vs raw [range]": ("ratio_vs_raw", "raw"),
        "vs trainer [range]": ("ratio_vs_trainer", "trainer"),
    }
    print(
        f"torch threads {threads} (after Lightning: {threads_after}); pytorch-lightning "
        f"{pl.__version__}; an epoch = 100 training batches + {VAL_SAMPLES} val images"
    )
    print(benchlib.epoch_table(results, ratios))
    print("lightning = the whole fit() call; lightning_epoch = its epoch hooks only")
    payload = {
        "torch_threads": threads,
        "torch_threads_after_lightning": threads_after,
        "pytorch_lightning": pl.__version__,
        "val_samples": VAL_SAMPLES,
        "results": results,
    }
    benchlib.finish(SCRIPT, payload, load)
    return 0


if __name__ == "__main__":
    sys.exit(main())
