"""Where a run writes its logs, checkpoints and figures inside a model folder."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from utils.exceptions import ConfigError, OutputError


@dataclass(frozen=True)
class RunPaths:
    """The output locations of one run.

    Layout, relative to the model folder::

        outputs/logs/<run_name>.log             plain-text log
        outputs/logs/<run_name>.metrics.jsonl   one JSON record per event
        outputs/logs/<run_name>.meta.yaml       config, seed, git commit, environment
        outputs/models/                         checkpoints
        outputs/visualizations/                 figures

    Attributes:
        model_dir: The model folder, e.g. ``models/01_perceptron``.
        run_name: ``<experiment>_<YYYYmmdd-HHMMSS>`` (plus ``_N`` if that name was taken).
        logs_dir: ``model_dir/outputs/logs``.
        models_dir: ``model_dir/outputs/models``.
        vis_dir: ``model_dir/outputs/visualizations``.
    """

    model_dir: Path
    run_name: str
    logs_dir: Path
    models_dir: Path
    vis_dir: Path

    @classmethod
    def create(cls, model_dir: Path, experiment: str, run_name: str | None = None) -> RunPaths:
        """Create the three output folders and choose the run name.

        Args:
            model_dir: The model folder.
            experiment: Experiment name, the prefix of a generated run name.
            run_name: An explicit run name (e.g. to append to a resumed run's log), used as
                given. None generates ``<experiment>_<YYYYmmdd-HHMMSS>``, with a numeric suffix
                ``_2``, ``_3``, ... if a log file of that name already exists.

        Returns:
            The run's paths; the folders exist.

        Raises:
            ConfigError: If the experiment or run name is empty or contains a path separator.
            OutputError: If a folder cannot be created (not writable, or a file in its place).
        """
        model_dir = Path(model_dir)
        for label, value in (("experiment", experiment), ("run_name", run_name)):
            if value is not None and (not value or "/" in value or "\\" in value):
                raise ConfigError(
                    f"{label} {value!r} cannot name a run: it must be non-empty and must not "
                    "contain '/' or '\\'"
                )
        outputs = model_dir / "outputs"
        logs_dir, models_dir, vis_dir = (
            outputs / "logs",
            outputs / "models",
            outputs / "visualizations",
        )
        for directory in (logs_dir, models_dir, vis_dir):
            try:
                directory.mkdir(parents=True, exist_ok=True)
            except OSError as exc:  # not writable, or a file where a folder must be
                raise OutputError(
                    f"cannot create the output folder {directory}: {exc.strerror or exc}; "
                    f"{outputs} must be a folder you can write to"
                ) from exc
        if run_name is None:
            base = f"{experiment}_{time.strftime('%Y%m%d-%H%M%S')}"
            run_name, suffix = base, 1
            while (logs_dir / f"{run_name}.log").exists():
                suffix += 1
                run_name = f"{base}_{suffix}"
        return cls(model_dir, run_name, logs_dir, models_dir, vis_dir)

    @property
    def log_file(self) -> Path:
        """The plain-text log of the run."""
        return self.logs_dir / f"{self.run_name}.log"

    @property
    def metrics_file(self) -> Path:
        """The JSON-lines metrics stream of the run."""
        return self.logs_dir / f"{self.run_name}.metrics.jsonl"

    @property
    def metadata_file(self) -> Path:
        """The run metadata written by :func:`utils.save_run_metadata`."""
        return self.logs_dir / f"{self.run_name}.meta.yaml"
