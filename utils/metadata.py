"""Record everything needed to reproduce a run next to its log."""

from __future__ import annotations

import logging
import os
import platform
import socket
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

from utils.config import config_to_dict
from utils.exceptions import AIFromScratchError
from utils.files import atomic_write, plain

logger = logging.getLogger(__name__)

_REPO_DIR = Path(__file__).resolve().parent
GIT_TIMEOUT_S = 10.0
PIP_FREEZE_TIMEOUT_S = 60.0


def _run(args: list[str], timeout: float) -> str:
    result = subprocess.run(
        args, cwd=_REPO_DIR, capture_output=True, text=True, timeout=timeout, check=True
    )
    return result.stdout


def git_info() -> dict[str, Any]:
    """Commit and dirty flag of the repository containing this package.

    Returns:
        ``{"commit": sha, "dirty": bool}``; ``{"commit": "unknown", "dirty": None, "reason": ...}``
        when git is not installed, times out or this is not a git checkout.
    """
    try:
        commit = _run(["git", "rev-parse", "HEAD"], GIT_TIMEOUT_S).strip()
        status = _run(["git", "status", "--porcelain", "--untracked-files=no"], GIT_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        logger.debug("git commit unknown: %s", exc)
        return {"commit": "unknown", "dirty": None, "reason": str(exc).strip()}
    return {"commit": commit, "dirty": bool(status.strip())}


def pip_freeze() -> dict[str, Any]:
    """Installed packages of the running interpreter (``python -m pip freeze``).

    Returns:
        ``{"packages": [...]}``, or ``{"packages": None, "reason": ...}`` if pip failed.
    """
    try:
        output = _run([sys.executable, "-m", "pip", "freeze"], PIP_FREEZE_TIMEOUT_S)
    except (OSError, subprocess.SubprocessError) as exc:
        reason = str(exc).strip()
        if isinstance(exc, subprocess.CalledProcessError) and exc.stderr:
            reason = f"{reason}: {exc.stderr.strip()}"
        logger.warning("pip freeze failed, recording the reason instead: %s", reason)
        return {"packages": None, "reason": reason}
    return {"packages": [line for line in output.splitlines() if line.strip()]}


def platform_info() -> dict[str, Any]:
    """Python, OS, library versions and hardware of this machine."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "torch": str(torch.__version__),
        "numpy": str(np.__version__),
        "cuda_available": torch.cuda.is_available(),
        "cuda_version": torch.version.cuda,
        "cpu_count": os.cpu_count(),
        "hostname": socket.gethostname(),
    }


def _repr(value: Any) -> str:
    logger.warning("run metadata: storing %s value as its repr", type(value).__name__)
    return repr(value)


def save_run_metadata(
    path: Path, config: Any, *, seed: int, extra: dict[str, Any] | None = None
) -> None:
    """Write the run's metadata as YAML, atomically (:func:`utils.files.atomic_write`).

    Keys: ``config``, ``seed``, ``git`` (commit, dirty), ``pip_freeze``, ``platform``,
    ``timestamp`` (ISO 8601, local time with offset) and ``extra``. A missing git or a failing
    pip is recorded with its reason; it never stops the run.

    Args:
        path: Destination, usually ``RunPaths.metadata_file``; parents are created.
        config: The run's config dataclass.
        seed: The seed actually used.
        extra: Anything else worth keeping (dataset sizes, device, parameter count).

    Raises:
        AIFromScratchError: If the file cannot be written.
    """
    path = Path(path)
    metadata = {
        "config": config_to_dict(config),
        "seed": int(seed),
        "git": git_info(),
        "pip_freeze": pip_freeze(),
        "platform": platform_info(),
        "timestamp": datetime.now().astimezone().isoformat(timespec="seconds"),
        "extra": extra or {},
    }
    text = yaml.safe_dump(plain(metadata, _repr), sort_keys=False, default_flow_style=False)
    try:
        with atomic_write(path, "w", encoding="utf-8") as handle:
            handle.write(text)
    except OSError as exc:
        raise AIFromScratchError(f"cannot write run metadata to {path}: {exc}") from exc
    logger.info("run metadata written to %s", path)
