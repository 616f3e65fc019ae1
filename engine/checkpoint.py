"""Checkpoints: atomic writes, safe loading, rotation, and compatibility checks.

A checkpoint is a plain dict of tensors, numbers, strings, lists and dicts, so that it loads with
``torch.load(weights_only=True)``: nothing in it is a pickled custom object, and a file that would
run code when unpickled is refused before any of its code runs.

Layout on disk (one folder per experiment, so that ``latest`` and ``best`` mean something)::

    outputs/models/<experiment>/<run>_epoch003_step0000012.pt          rotated: the last K are kept
    outputs/models/<experiment>/<run>_epoch003_step0000012_<kind>.pt   interrupt, debug, final
    outputs/models/<experiment>/latest.json    pointer to the newest checkpoint (never a debug one)
    outputs/models/<experiment>/best.json      pointer to the best epoch checkpoint over all runs
                                               that monitor the same metric the same way (and,
                                               under "runs", the best of every run)

The keys of a checkpoint and what each guarantees are listed in docs/engine.md.
"""

from __future__ import annotations

import json
import logging
import pickle
import re
import struct
import warnings
import zipfile
from pathlib import Path
from typing import IO, Any, Callable

import numpy as np
import torch

from engine.tracking import WANDB_PREFIX, fetch_model_artifact
from utils.exceptions import CheckpointError
from utils.files import atomic_write

logger = logging.getLogger(__name__)

CHECKPOINT_FORMAT = "aifs-checkpoint"
CHECKPOINT_VERSION = 1
POINTER_NAMES = ("latest", "best")
# torch.save writes a zip archive; anything else (text, JSON, safetensors, random bytes, the
# pre-1.6 legacy format this project never writes) is refused before it reaches the unpickler.
ZIP_MAGIC = b"PK\x03\x04"
# What unpickling malformed bytes raises (the pickle documentation lists AttributeError,
# EOFError, ImportError and IndexError "among others"; torch adds RuntimeError for bad archives).
_MALFORMED = (
    AttributeError,
    EOFError,
    ImportError,
    IndexError,
    KeyError,
    OSError,
    RuntimeError,
    TypeError,
    ValueError,
    struct.error,
    zipfile.BadZipFile,
)


def _write(path: Path, write: Callable[[IO[bytes]], Any]) -> None:
    """Write a file atomically (utils.files.atomic_write); a failure is a CheckpointError."""
    try:
        with atomic_write(path) as handle:
            write(handle)
    except OSError as err:
        raise CheckpointError(f"could not write {path}: {err}") from err


_PLAIN_TYPES = (type(None), bool, int, float, str, bytes, torch.Tensor)


def check_plain(value: Any, where: str = "checkpoint") -> None:
    """Assert that a value holds only tensors and plain values, so weights_only loading accepts it.

    Raises:
        CheckpointError: Naming the first offending entry, e.g. ``checkpoint['data']['x']``.
    """
    if isinstance(value, _PLAIN_TYPES):
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, (str, int)):
                raise CheckpointError(f"{where} has a key of type {type(key).__name__}: {key!r}")
            check_plain(item, f"{where}[{key!r}]")
        return
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            check_plain(item, f"{where}[{index}]")
        return
    raise CheckpointError(
        f"{where} is a {type(value).__module__}.{type(value).__name__}: a checkpoint holds only "
        "tensors, numbers, strings, lists and dicts (convert it, e.g. with torch.as_tensor)"
    )


def save_checkpoint(state: dict[str, Any], path: Path) -> Path:
    """Save a checkpoint dict atomically and return its path.

    Raises:
        CheckpointError: If the state holds anything that ``weights_only`` loading would refuse
            (checked before writing, so an unloadable checkpoint is never written), or the write
            fails.
    """
    assert isinstance(state, dict), "a checkpoint is a dict"
    state = {"format": CHECKPOINT_FORMAT, "format_version": CHECKPOINT_VERSION, **state}
    check_plain(state)
    _write(Path(path), lambda handle: torch.save(state, handle))
    return Path(path)


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load a checkpoint safely (``weights_only=True``) and check it is one of ours.

    Raises:
        CheckpointError: the file is missing, empty, truncated, not a checkpoint of this project,
            or holds objects that would run code when unpickled (refused; their code never runs).
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}: check the path (or train first)")
    if path.stat().st_size == 0:
        raise CheckpointError(f"checkpoint {path} is empty (0 bytes): it was never fully written")
    try:
        with open(path, "rb") as handle:
            head = handle.read(16)
    except OSError as err:
        raise CheckpointError(f"cannot read checkpoint {path}: {err}") from err
    if not head.startswith(ZIP_MAGIC):
        raise CheckpointError(_not_a_pytorch_file(path, head))
    try:
        with warnings.catch_warnings():  # a damaged pickle's "protocol" byte: the error says it
            warnings.filterwarnings("ignore", message="Detected pickle protocol")
            state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        unsafe = re.search(r"GLOBAL (\S+) was not an allowed global", str(err))
        if unsafe is None:  # not a pickle of ours at all, e.g. a damaged archive
            lines = str(err).split("WeightsUnpickler error:")[-1].strip().splitlines()
            detail = lines[0] if lines else type(err).__name__
            raise CheckpointError(
                f"checkpoint {path} is unreadable (truncated or not a PyTorch file): {detail}"
            ) from err
        raise CheckpointError(
            f"refused to load {path}: unpickling it would call {unsafe.group(1)}, which could run "
            "code; a checkpoint holds only tensors and plain values (nothing of it was run)"
        ) from err
    except _MALFORMED as err:
        raise CheckpointError(
            f"checkpoint {path} is unreadable (truncated or not a PyTorch file): "
            f"{type(err).__name__}: {err}"
        ) from err
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is a PyTorch file but not a checkpoint of this project "
            f"(expected a dict with format={CHECKPOINT_FORMAT!r})"
        )
    if state.get("format_version", 0) > CHECKPOINT_VERSION:
        raise CheckpointError(
            f"{path} has checkpoint format version {state['format_version']}, newer than this "
            f"code understands ({CHECKPOINT_VERSION}): update the project"
        )
    return state


def _not_a_pytorch_file(path: Path, head: bytes) -> str:
    """Why a file that is not a zip archive is no checkpoint, naming what it looks like."""
    # safetensors: an 8-byte little-endian header length, then the JSON header.
    header_length = int.from_bytes(head[:8], "little") if len(head) >= 9 else 0
    if head[8:9] == b"{" and 0 < header_length <= path.stat().st_size - 8:
        checkpoint = path.with_suffix(".pt")
        use = (
            f"use the checkpoint beside it, {checkpoint}"
            if checkpoint.is_file()
            else "use the .pt checkpoint it was exported from"
        )
        return (
            f"{path} is a weights-only safetensors export, not a checkpoint (it holds no config, "
            f"so it cannot be evaluated or resumed alone): {use}"
        )
    return (
        f"{path} is not a checkpoint: not a PyTorch file (a checkpoint is a zip archive, "
        f"starting with {ZIP_MAGIC!r}; this file starts with {head[:8]!r})"
    )


def check_compatible(state: dict[str, Any], model_name: str, model_state: dict[str, Any]) -> None:
    """Raise a CheckpointError naming every mismatch between a checkpoint and a model.

    Args:
        state: A loaded checkpoint.
        model_name: The model the caller is about to load weights into.
        model_state: That model's current state dict (names and shapes are compared).
    """
    stored = state.get("model_name")
    if stored != model_name:
        raise CheckpointError(
            f"checkpoint holds model {stored!r}, not {model_name!r}: use a checkpoint of this model"
        )
    saved = state.get("model_state", {})
    problems = []
    missing = sorted(set(model_state) - set(saved))
    unexpected = sorted(set(saved) - set(model_state))
    if missing:
        problems.append(f"missing {missing}")
    if unexpected:
        problems.append(f"unexpected {unexpected}")
    for name in sorted(set(saved) & set(model_state)):
        want, got = tuple(np.shape(model_state[name])), tuple(np.shape(saved[name]))
        if want != got:
            problems.append(f"{name}: checkpoint {got} vs model {want}")
    if problems:
        raise CheckpointError(
            "checkpoint does not fit this model configuration: "
            + "; ".join(problems)
            + " (was it trained with another experiment or size?)"
        )


def export_safetensors(model_state: dict[str, Any], path: Path) -> Path:
    """Export model weights alone as a ``.safetensors`` file (no code, no pickle)."""
    from safetensors.torch import save

    tensors = {k: torch.as_tensor(v).contiguous() for k, v in model_state.items()}
    data = save(tensors)
    _write(Path(path), lambda handle: handle.write(data))
    return Path(path)


class CheckpointManager:
    """Rotates a run's checkpoints in one experiment folder and keeps the pointers current.

    Keeps the newest ``keep_last`` epoch checkpoints of this run plus the best one by the monitored
    validation metric. Interrupt, debug and final checkpoints are never rotated away. A manager
    created for an existing run (``--resume``) picks up that run's epoch checkpoints and its best
    from disk, so rotation continues where it stopped.

    ``best.json`` points to the best checkpoint over all runs of the experiment whose metric is
    comparable with this run's: the same ``monitor`` name and the same ``mode``. Each run's best is
    kept under its "runs" key, with its monitor and mode.

    Args:
        folder: The experiment's checkpoint folder.
        run_name: This run's name, the prefix of its checkpoint files.
        keep_last: Epoch checkpoints of this run kept (its best is kept as well).
        mode: "max" or "min": whether a larger monitored metric is better.
        monitor: Name of the monitored metric (e.g. "val_accuracy"); runs are compared for
            ``best`` only when their monitor and mode are the same.
    """

    def __init__(
        self,
        folder: Path,
        run_name: str,
        keep_last: int = 3,
        mode: str = "max",
        monitor: str | None = None,
    ) -> None:
        assert keep_last >= 1, "keep_last must be at least 1"
        assert mode in ("max", "min"), "mode is 'max' or 'min'"
        self.folder = Path(folder)
        self.run_name = run_name
        self.keep_last = keep_last
        self.mode = mode
        self.monitor = monitor
        self.folder.mkdir(parents=True, exist_ok=True)
        self.kept: list[Path] = self._epoch_checkpoints_on_disk()
        self.best_path: Path | None = None
        self.best_value: float | None = None
        self._load_best_pointer()

    def _epoch_checkpoints_on_disk(self) -> list[Path]:
        pattern = re.compile(rf"{re.escape(self.run_name)}_epoch\d+_step(\d+)\.pt")
        found = [
            (int(match.group(1)), path)
            for path in self.folder.glob(f"{self.run_name}_epoch*.pt")
            if (match := pattern.fullmatch(path.name))
        ]
        return [path for _, path in sorted(found)]

    def _read_best_pointer(self) -> dict[str, Any]:
        try:
            info = json.loads((self.folder / "best.json").read_text())
        except (OSError, ValueError):
            return {}  # no best yet (or an unreadable pointer, rewritten at the next best)
        return info if isinstance(info, dict) else {}

    def _load_best_pointer(self) -> None:
        mine = self._read_best_pointer().get("runs", {}).get(self.run_name, {})
        path = self.folder / str(mine.get("path", ""))
        same = (mine.get("monitor", self.monitor), mine.get("mode", self.mode)) == (
            self.monitor,
            self.mode,
        )  # a resume that changed the monitor starts a new best (entries before it had none)
        if path.is_file() and "metric" in mine and same:
            self.best_path, self.best_value = path, mine["metric"]

    def is_better(self, value: float | None) -> bool:
        if value is None or not np.isfinite(value):
            return False
        if self.best_value is None:
            return True
        return value > self.best_value if self.mode == "max" else value < self.best_value

    def save(self, state: dict[str, Any], metric: float | None = None, kind: str = "epoch") -> Path:
        """Write a checkpoint, update ``latest`` (and ``best``), rotate old epoch checkpoints.

        Args:
            state: The Trainer's state dict.
            metric: The monitored validation metric, for ``best`` (epoch checkpoints only).
            kind: "epoch" (rotated), "interrupt", "final" or "debug" (kept; a debug checkpoint is
                not made ``latest``, so ``--resume latest`` skips the state that just failed).
        """
        name = f"{self.run_name}_epoch{state['epoch']:03d}_step{state['global_step']:07d}"
        if kind != "epoch":
            name += f"_{kind}"
        path = save_checkpoint({**state, "kind": kind}, self.folder / f"{name}.pt")
        if kind != "debug":
            self._point("latest", path, state)
        if kind == "epoch":
            if self.is_better(metric):
                self.best_value, self.best_path = metric, path
                self._point("best", path, state, metric=metric)
            if path not in self.kept:
                self.kept.append(path)
            self._rotate()
        return path

    def _point(
        self, pointer: str, path: Path, state: dict[str, Any], metric: float | None = None
    ) -> None:
        info = {
            "path": path.name,
            "run_name": self.run_name,
            "epoch": state["epoch"],
            "global_step": state["global_step"],
        }
        if pointer == "best":  # each run's best, so that a resumed run keeps protecting its own
            info.update(metric=metric, monitor=self.monitor, mode=self.mode)
            runs = self._read_best_pointer().get("runs", {})
            runs = {**runs, self.run_name: {k: v for k, v in info.items() if k != "run_name"}}
            best_run = self._best_run(runs)
            info = {**runs[best_run], "run_name": best_run, "runs": runs}
        data = json.dumps(info).encode()
        _write(self.folder / f"{pointer}.json", lambda handle: handle.write(data))

    def _best_run(self, runs: dict[str, Any]) -> str:
        """The run whose best beats every comparable run's (same monitor and mode, file present);
        ties keep the earlier run. This run is always comparable with itself."""
        sign = 1.0 if self.mode == "max" else -1.0
        comparable = [
            name
            for name, run in runs.items()
            if isinstance(run, dict)
            and (run.get("monitor"), run.get("mode")) == (self.monitor, self.mode)
            and isinstance(run.get("metric"), (int, float))
            and (self.folder / str(run.get("path", ""))).is_file()
        ]
        assert self.run_name in comparable, "this run's best was just written"
        return max(comparable, key=lambda name: sign * runs[name]["metric"])

    def _rotate(self) -> None:
        while len(self.kept) > self.keep_last:
            old = self.kept.pop(0)
            if old != self.best_path:
                old.unlink(missing_ok=True)
        for path in self._epoch_checkpoints_on_disk():  # a best that lost its title
            if path not in self.kept and path != self.best_path:
                path.unlink(missing_ok=True)


def resolve_checkpoint(spec: str | Path, folder: Path | None = None) -> dict[str, Any]:
    """Load a checkpoint named by a path, by ``latest`` / ``best`` in an experiment folder, or by
    a wandb model artifact, ``wandb:[[ENTITY/]PROJECT/]NAME:VERSION``.

    A wandb artifact is downloaded into the user cache (engine.tracking.fetch_model_artifact) only
    when wandb is online (``WANDB_MODE=online`` and logged in); otherwise it is a CheckpointError
    that says what to pass instead, and nothing reaches the network.

    ``best`` is the best checkpoint over all runs of the experiment that monitor the same metric
    the same way as the run that last wrote ``best.json`` (see CheckpointManager). For
    ``latest``, a newest checkpoint that cannot be read is reported and the previous good one (by
    modification time, debug checkpoints excluded) is used instead: a crash while saving must never
    cost more than the last save.

    Returns:
        The loaded checkpoint, with its path under the key ``"path"`` (for a wandb artifact, the
        downloaded file; the ``wandb:`` name is under ``"source"``).

    Raises:
        CheckpointError: No such file or no usable checkpoint (every reason is listed); a wandb
            artifact that is malformed, cannot be fetched, or holds not exactly one ``.pt`` file.
    """
    spec_str = str(spec)
    if spec_str.startswith(WANDB_PREFIX):
        path = fetch_model_artifact(spec_str)
        state = load_checkpoint(path)
        state["path"], state["source"] = str(path), spec_str
        return state
    if spec_str not in POINTER_NAMES:
        state = load_checkpoint(Path(spec_str))
        state["path"] = spec_str
        return state
    assert folder is not None, f"'{spec_str}' is looked up in an experiment folder: pass it"
    folder = Path(folder)
    pointer = folder / f"{spec_str}.json"
    candidates: list[Path] = []
    if pointer.is_file():
        try:
            candidates.append(folder / json.loads(pointer.read_text())["path"])
        except (OSError, ValueError, KeyError) as err:
            logger.warning(
                "pointer %s is unreadable (%s); searching the folder instead", pointer, err
            )
    if spec_str == "latest":
        others = sorted(folder.glob("*.pt"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        candidates += [p for p in others if p not in candidates and not p.stem.endswith("_debug")]
    if not candidates:
        raise CheckpointError(
            f"no '{spec_str}' checkpoint in {folder}: train this experiment first, "
            f"or pass a checkpoint path"
        )
    errors = []
    for path in candidates:
        try:
            state = load_checkpoint(path)
        except CheckpointError as err:
            logger.warning("skipping unusable checkpoint: %s", err)
            errors.append(str(err))
            continue
        if errors:
            logger.warning("'%s' fell back to the previous good checkpoint %s", spec_str, path)
        state["path"] = str(path)
        return state
    raise CheckpointError(f"no usable '{spec_str}' checkpoint in {folder}: " + " | ".join(errors))
