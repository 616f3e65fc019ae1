"""What a model's analysis notebook stands on: a trained checkpoint opened through the project's
own API, its numbers as evaluate.py gives them, and figures shown small enough to commit.

A notebook (``models/NN_name/notebooks/analysis.ipynb``) copies no code from ``src/``:

    from engine.notebook import open_trained, show
    run = open_trained("alexnet", CHECKPOINTS["fashion_mnist"], "fashion_mnist", DATA_DIR)
    run.metrics()                       # the test metrics, as evaluate.py reports them
    show(run.figures())                 # learning curves, gradient audit, confusion matrix, ...
    show(plotting.plot_grad_cam(...))   # any figure a plotting function wrote

The checkpoint is never replaced by fresh weights: a missing one raises CheckpointError naming
the README command that trains it. Figures go to ``FIGURES_DIR`` (default the model's
``outputs/visualizations/notebook/``); ``show`` embeds a downscaled, palette-reduced copy, so an
executed notebook stays well under a megabyte. ``docs/run_notebooks.py`` re-executes them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from data_utils import ArrayLoader
from engine.evaluator import Evaluator
from engine.workflow import ModelSpec, load_trained, make_plots
from utils.exceptions import CheckpointError
from utils.registry import model_spec

SHOW_WIDTH = 720  # pixels: a notebook column
SHOW_BYTES = 150_000  # each embedded figure stays under this, as a README figure does


@dataclass
class TrainedRun:
    """One trained checkpoint, ready to analyse.

    Attributes:
        spec: The model's spec (its name, folder, config class, model and loss).
        model: The model with the checkpoint's weights, in eval mode.
        config: The config it was trained with (or the one of the experiment asked for).
        splits: Its data, with the split training held out.
        state: The checkpoint as loaded (``history``, ``epoch``, ``path``...).
        figures_dir: Where this run's figures are written.
    """

    spec: ModelSpec
    model: Any
    config: Any
    splits: Any
    state: dict[str, Any]
    figures_dir: Path

    @property
    def history(self) -> dict[str, list]:
        """The Trainer's per-epoch history stored in the checkpoint (empty if none)."""
        return self.state.get("history") or {}

    @property
    def experiment(self) -> str:
        return self.config.experiment

    def loader(self, split: str = "test", samples: int | None = None) -> Any:
        """The loader of one split ("train", "val" or "test"), in order and never augmented, or
        the model's own evaluation data for ``split="eval"`` (Hopfield's recall cues:
        ``spec.eval_data``).

        Args:
            split: Which split.
            samples: Keep only this many examples, drawn at random with the config's seed (the
                same ones on every call): for Grad-CAM and t-SNE, since a test set stored in
                class order (CIFAR-10's) would otherwise give its first class only.
        """
        transform = None  # the cues of eval_data are the model's inputs as they are
        if split != "eval" and not hasattr(self.splits, f"x_{split}"):
            # A token stream or a graph: its own loaders (test = val for a CharCorpus).
            assert samples is None, f"samples= needs arrays of examples, not {self.splits.name}"
            loaders = self.splits.loaders(self.config.batch_size, seed=self.config.seed)
            return dict(zip(("train", "val", "test"), loaders))[split]
        if split == "eval":
            assert self.spec.eval_data is not None, f"{self.spec.name} has no evaluation data"
            x, y = self.spec.eval_data(self.model, self.config, self.splits)
        else:
            names = ("train", "val", "test")
            assert split in names, f"split must be one of {names} or 'eval', got {split!r}"
            x, y = getattr(self.splits, f"x_{split}"), getattr(self.splits, f"y_{split}")
            transform = getattr(self.splits, "transform", None)  # per batch, as in training
        if samples is not None and samples < len(y):
            generator = torch.Generator().manual_seed(self.config.seed)
            keep = torch.randperm(len(y), generator=generator)[:samples].sort().values  # (samples,)
            x, y = x[keep], y[keep]
        return ArrayLoader(x, y, self.config.batch_size, transform=transform)

    def evaluator(self) -> Evaluator:
        return Evaluator(
            self.model,
            self.spec.create_criterion(self.config),
            torch.device("cpu"),
            precision=self.config.precision,
        )

    def metrics(self, split: str | None = None) -> dict[str, float]:
        """Every metric the model reports on one split: the numbers evaluate.py gives (test, or
        the model's own evaluation data where it has some)."""
        split = split or ("test" if self.spec.eval_data is None else "eval")
        return self.evaluator().evaluate(self.loader(split))

    def predictions(self, split: str = "test") -> tuple[np.ndarray, np.ndarray]:
        """``(y_true, y_pred)`` of a classifier on one split."""
        predicted = self.evaluator().predict(self.loader(split))
        assert predicted is not None, f"{self.spec.name} does not predict classes"
        return predicted

    def figures(self, split: str = "test") -> dict[str, Path]:
        """The plots train.py and evaluate.py draw: learning curves and gradient audit from the
        stored history, the confusion matrix (and decision regions of 2-D data) on ``split``,
        and the model's own plots. Named ``<experiment>_<split>_*.png`` in ``figures_dir``."""
        split = split if self.spec.eval_data is None else "eval"
        return make_plots(
            self.spec,
            self.model,
            self.evaluator(),
            self.splits,
            self.loader(split),
            self.figures_dir,
            history=self.history,
            prefix=f"{self.experiment}_{split}",
            scored_split=split,
        )

    def path(self, name: str) -> Path:
        """A file name in ``figures_dir``, for the plotting functions a notebook calls itself."""
        return self.figures_dir / name


def open_trained(
    model: str,
    checkpoint: str = "best",
    experiment: str | None = None,
    data_dir: str | None = None,
    figures_dir: str | Path | None = None,
) -> TrainedRun:
    """A model's trained checkpoint with its config and data, as evaluate.py opens it.

    Args:
        model: The model's registered name (utils.registry.MODELS), e.g. "alexnet".
        checkpoint: A path, or "best" / "latest" of ``experiment``.
        experiment: The experiment whose checkpoints "best" / "latest" search. A checkpoint
            given by path is always opened with its own experiment's config and data (so a
            notebook runs unchanged on the smoke checkpoints of its test).
        data_dir: The data directory (default $AIFS_DATA_DIR, then the cache).
        figures_dir: Where figures are written (default the model's
            ``outputs/visualizations/notebook``).

    Raises:
        CheckpointError: No such checkpoint (the message says how to train one), or it is not
            this model's.
    """
    spec = model_spec(model)
    pointer = checkpoint in ("best", "latest")
    try:
        net, config, splits, state = load_trained(
            spec, checkpoint, experiment if pointer else None, data_dir
        )
    except CheckpointError as err:
        command = f"python src/train.py --experiment {experiment or '<experiment>'}"
        raise CheckpointError(
            f"{err}. Train it first (in {spec.model_dir}: {command}), or run "
            f"`python docs/run_notebooks.py --models {spec.model_dir.name} --train`"
        ) from err
    if hasattr(net, "eval"):
        net.eval()
    folder = (
        Path(figures_dir) if figures_dir else spec.model_dir / "outputs/visualizations/notebook"
    )
    folder.mkdir(parents=True, exist_ok=True)
    return TrainedRun(spec, net, config, splits, state, folder)


def show(figures: str | Path | Mapping[str, Path] | Sequence[str | Path]) -> None:
    """Display one saved figure, or each of a list or of a name -> path mapping, as a PNG at
    most ``SHOW_WIDTH`` pixels wide and ``SHOW_BYTES`` long (plotting.core.small_png): what an
    executed notebook keeps of it."""
    from IPython.display import Image, display

    from plotting.core import small_png

    if isinstance(figures, (str, Path)):
        paths = [figures]
    elif isinstance(figures, Mapping):
        paths = list(figures.values())
    else:
        paths = list(figures)
    for path in paths:
        display(Image(data=small_png(path, SHOW_WIDTH, SHOW_BYTES), format="png"))
