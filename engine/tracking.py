"""Metrics tracking: always a local JSONL file, and Weights & Biases when it is on.

wandb never reaches the network unless a user asked for it. The mode is decided here, once:

- ``--no-wandb`` (or ``WANDB_MODE=disabled``): off.
- ``WANDB_MODE=online`` and a logged-in user (``wandb login`` or ``WANDB_API_KEY``): online.
- anything else: offline. Runs land under ``outputs/logs/wandb`` and can be uploaded later with
  ``wandb sync``. Asking for online without being logged in warns and stays offline.

``mode="offline"`` in ``wandb.init`` is not enough for that promise: wandb's own error reports and
usage telemetry follow the process-wide settings it reads from the environment (wandb 0.31, with
WANDB_MODE unset, resolved api.forge.coreweave.com from an OpenTelemetry export thread of every
offline run). So an offline run first sets :data:`OFFLINE_ENVIRONMENT` in ``os.environ``, before
wandb is imported, where every wandb version reads it and its wandb-core process inherits it.

Every row of the JSONL file has ``step`` = optimizer steps completed when it was written. A resumed
run (``--resume``) appends to the same file after dropping the rows written after its checkpoint
(work that was thrown away), so the file reads as if the run had never stopped; its wandb run is
continued with the id stored in the checkpoint.

A checkpoint stored as a model artifact (:meth:`Tracker.log_artifact`) is fetched back with
:func:`fetch_model_artifact`, which ``--checkpoint`` / ``--load-checkpoint wandb:NAME`` reach
through ``engine.checkpoint.resolve_checkpoint``. It follows the same rule: only online
(``WANDB_MODE=online`` and logged in) does it reach wandb; otherwise it refuses in one line, before
wandb is imported, and says what to pass instead.
"""

from __future__ import annotations

import json
import logging
import netrc
import os
import re
from pathlib import Path
from typing import Any

from data_utils.sources import cache_dir
from utils.exceptions import CheckpointError, OutputError
from utils.files import atomic_write, plain

logger = logging.getLogger(__name__)

WANDB_PROJECT = "ai-from-scratch-to-scale"
# What marks a checkpoint argument as a wandb model artifact: wandb:[[ENTITY/]PROJECT/]NAME:VERSION.
WANDB_PREFIX = "wandb:"
# The names wandb.Api().artifact accepts, with the version (v3) or alias (latest, best) required so
# that a command names one checkpoint: ENTITY/PROJECT/NAME:VERSION, PROJECT/NAME:VERSION (the
# logged-in user's default entity), NAME:VERSION (also the project this code logs to).
_ARTIFACT_NAME = re.compile(r"(?:[^/:\s]+/){0,2}[^/:\s]+:[^/:\s]+")

# What keeps an offline (or refused online) run's wandb off the network. Names wandb does not know
# are ignored by it, so the list holds for old and new versions alike.
OFFLINE_ENVIRONMENT = {
    # The process-wide mode, not only the run's: wandb 0.31 starts its usage telemetry export
    # (HTTPS to its API host) unless the global settings are offline.
    "WANDB_MODE": "offline",
    # Crash and usage reports: sentry in older versions, OpenTelemetry in newer ones.
    "WANDB_ERROR_REPORTING": "false",
    # The check for a newer wandb release on PyPI.
    "WANDB__DISABLE_UPDATE_CHECK": "true",
    # Machine facts, which on some clouds are asked of the instance metadata server.
    "WANDB__DISABLE_MACHINE_INFO": "true",
}


def _logged_in() -> bool:
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        auth = netrc.netrc().authenticators("api.wandb.ai")
    except (OSError, netrc.NetrcParseError):
        return False
    return auth is not None


def resolve_wandb_mode(enabled: bool) -> str:
    """Return 'disabled', 'offline' or 'online' following the rules in the module docstring."""
    requested = os.environ.get("WANDB_MODE", "").strip().lower()
    if not enabled or requested in ("disabled", "off"):
        return "disabled"
    if requested == "online":
        if _logged_in():
            return "online"
        logger.warning("WANDB_MODE=online but nobody is logged in (wandb login): running offline")
    return "offline"


def _offline_reason() -> str | None:
    """Why wandb is not online (None if it is): resolve_wandb_mode(True)'s rule, said in words."""
    requested = os.environ.get("WANDB_MODE", "").strip().lower()
    if requested != "online":
        return f"WANDB_MODE is {requested or 'unset'}"
    if not _logged_in():
        return "WANDB_MODE is online but nobody is logged in"
    return None


def artifact_name(spec: str) -> str:
    """The wandb artifact name in a ``wandb:`` checkpoint argument, its project filled in.

    ``wandb:me/proj/perceptron-xor:v3`` -> ``me/proj/perceptron-xor:v3``;
    ``wandb:perceptron-xor:v3`` -> ``ai-from-scratch-to-scale/perceptron-xor:v3`` (the project
    Tracker logs to).

    Raises:
        CheckpointError: The name is not of a form wandb.Api().artifact accepts with a version.
    """
    assert spec.startswith(WANDB_PREFIX), f"a wandb checkpoint starts with {WANDB_PREFIX}"
    name = spec[len(WANDB_PREFIX) :]
    if not _ARTIFACT_NAME.fullmatch(name):
        raise CheckpointError(
            f"{spec!r} is not a wandb artifact name: expected wandb:ENTITY/PROJECT/NAME:VERSION, "
            f"wandb:PROJECT/NAME:VERSION or wandb:NAME:VERSION (project {WANDB_PROJECT}), "
            f"e.g. wandb:me/{WANDB_PROJECT}/perceptron-xor:v3"
        )
    return name if "/" in name else f"{WANDB_PROJECT}/{name}"


def _folder_name(part: str) -> str:
    """One path component from a name wandb returned (never a separator, never '..')."""
    return re.sub(r"[^\w.-]", "_", part).lstrip(".") or "_"


def fetch_model_artifact(spec: str) -> Path:
    """Download the checkpoint of a wandb model artifact into the user cache; its local path.

    The artifact is one that :meth:`Tracker.log_artifact` stored: a single ``.pt`` file. It lands
    in ``<cache>/wandb/<entity>/<project>/<name>/<version>/`` (``<cache>`` as for data sets:
    ``$AIFS_CACHE_DIR``, else ``$XDG_CACHE_HOME/aifs``, else ``~/.cache/aifs``), keyed by the
    version the name resolved to, so ``:latest`` never mixes two versions' files.

    Args:
        spec: ``wandb:[[ENTITY/]PROJECT/]NAME:VERSION`` (see :func:`artifact_name`).

    Raises:
        CheckpointError: A malformed name; wandb not online (raised before wandb is imported, so
            nothing reaches the network); any wandb error (no such artifact, not a model,
            authentication, network), with the name and the reason; an artifact that does not
            hold exactly one ``.pt`` file.
    """
    name = artifact_name(spec)
    reason = _offline_reason()
    if reason is not None:
        raise CheckpointError(
            f"cannot fetch wandb artifact {name}: wandb is offline ({reason}); download it where "
            f"wandb is online with `wandb artifact get --root DIR {name}` and pass the .pt file "
            "in DIR, or set WANDB_MODE=online after `wandb login`"
        )
    try:
        import wandb
    except ImportError as err:
        raise CheckpointError(f"cannot fetch wandb artifact {name}: {err}") from err
    try:
        artifact = wandb.Api().artifact(name, type="model")
        collection = artifact.name.split(":")[0]
        parts = (artifact.entity, artifact.project, collection, artifact.version)
        folder = cache_dir().joinpath("wandb", *(_folder_name(str(p)) for p in parts))
        root = Path(artifact.download(root=str(folder)))
    except (wandb.errors.Error, ValueError, OSError) as err:
        raise CheckpointError(
            f"cannot fetch wandb artifact {name}: {type(err).__name__}: {err}"
        ) from err
    found = sorted(root.rglob("*.pt"))
    if len(found) != 1:
        files = sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        raise CheckpointError(
            f"wandb artifact {name} (downloaded to {root}) holds {len(found)} .pt files, not one "
            f"checkpoint: {files}"
        )
    logger.info("wandb artifact %s: %s", name, found[0])
    return found[0]


class Tracker:
    """Writes metrics to ``<run>.metrics.jsonl`` and mirrors them to wandb when it is on.

    Args:
        metrics_file: JSONL destination (one object per ``log`` call); None writes nothing locally.
        run_name: Name of the run (wandb run name).
        config: Resolved configuration, stored with the wandb run.
        wandb_enabled: False for ``--no-wandb``.
        wandb_dir: Where offline wandb runs are written.
        tags: wandb tags.
        resume_step: For a resumed run, the checkpoint's global step: JSONL rows written after it
            are dropped before appending.
        run_id: For a resumed run, the wandb run id stored in the checkpoint (continued).
    """

    def __init__(
        self,
        metrics_file: Path | None,
        run_name: str = "run",
        config: dict[str, Any] | None = None,
        wandb_enabled: bool = False,
        wandb_dir: Path | None = None,
        tags: list[str] | None = None,
        resume_step: int | None = None,
        run_id: str | None = None,
    ) -> None:
        self.metrics_file = Path(metrics_file) if metrics_file else None
        if self.metrics_file:
            self.metrics_file.parent.mkdir(parents=True, exist_ok=True)
            if resume_step is not None:
                self._drop_rows_after(resume_step)
        self.mode = resolve_wandb_mode(wandb_enabled)
        self.wandb_run = None
        if self.mode != "disabled":
            self.wandb_run = self._start_wandb(
                run_name, config or {}, wandb_dir, tags or [], run_id
            )

    @property
    def run_id(self) -> str | None:
        """The wandb run id (stored in checkpoints so that a resumed run continues it)."""
        return self.wandb_run.id if self.wandb_run is not None else None

    def _drop_rows_after(self, step: int) -> None:
        if not self.metrics_file.is_file():
            return
        lines = self.metrics_file.read_text(encoding="utf-8").splitlines()
        kept = []
        for line in lines:
            try:
                if json.loads(line)["step"] <= step:
                    kept.append(line)
            except (ValueError, KeyError, TypeError):
                continue  # a line cut short by a crash
        if len(kept) < len(lines):
            try:
                with atomic_write(self.metrics_file) as handle:
                    handle.write("".join(f"{line}\n" for line in kept).encode())
            except OSError as err:
                raise OutputError(f"could not write {self.metrics_file}: {err}") from err
            logger.info(
                "%s: dropped %d rows written after step %d (the checkpoint resumed from)",
                self.metrics_file.name,
                len(lines) - len(kept),
                step,
            )

    def _start_wandb(
        self,
        run_name: str,
        config: dict,
        wandb_dir: Path | None,
        tags: list[str],
        run_id: str | None,
    ):
        if self.mode == "offline":
            os.environ.update(OFFLINE_ENVIRONMENT)
        try:
            import wandb
        except ImportError:
            logger.warning("wandb is not installed: metrics go to the local JSONL file only")
            self.mode = "disabled"
            return None
        if wandb_dir is not None:
            Path(wandb_dir).mkdir(parents=True, exist_ok=True)
        run = wandb.init(
            project=WANDB_PROJECT,
            name=run_name,
            config=config,
            tags=tags,
            mode=self.mode,
            dir=str(wandb_dir) if wandb_dir else None,
            reinit="finish_previous",
            id=run_id,
            resume="allow" if run_id else None,
        )
        logger.info("wandb run %s (%s)", run_name, self.mode)
        return run

    def log(self, metrics: dict[str, Any], step: int) -> None:
        """Record one event's metrics at a global step."""
        row = {"step": step, **plain(metrics)}
        if self.metrics_file:
            with open(self.metrics_file, "a", encoding="utf-8") as handle:
                handle.write(json.dumps(row) + "\n")
        if self.wandb_run is not None:
            self.wandb_run.log({k: v for k, v in row.items() if k != "step"}, step=step)

    def log_images(self, images: dict[str, Path]) -> None:
        """Upload saved figures to wandb (local files are already on disk)."""
        if self.wandb_run is None or not images:
            return
        import wandb

        self.wandb_run.log({k: wandb.Image(str(p)) for k, p in images.items()})

    def log_artifact(self, path: Path, name: str, metadata: dict[str, Any] | None = None) -> None:
        """Store a checkpoint as a versioned wandb model artifact."""
        if self.wandb_run is None:
            return
        import wandb

        artifact = wandb.Artifact(name=name, type="model", metadata=metadata or {})
        artifact.add_file(str(path))
        self.wandb_run.log_artifact(artifact)

    def finish(self) -> None:
        if self.wandb_run is not None:
            self.wandb_run.finish()
            self.wandb_run = None
