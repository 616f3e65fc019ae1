"""Pytest plugin for the root tests and every model's tests (``-p utils.testing`` in pyproject).

It keeps tests off the network and off the screen, and gives end-to-end tests one way to run a
model's scripts as a user would.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # wandb must never reach the network in tests; a test of offline mode sets it itself.
    os.environ["WANDB_MODE"] = "disabled"
    os.environ.setdefault("MPLBACKEND", "Agg")
    # Tests use tiny models: one thread each avoids oversubscribing a small shared machine
    # (subprocesses inherit OMP_NUM_THREADS), and keeps timings steady.
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    import torch

    torch.set_num_threads(int(os.environ["OMP_NUM_THREADS"]))


def run_script(
    model_dir: Path, script: str, *args: str, timeout: float = 300, env: dict | None = None
) -> subprocess.CompletedProcess:
    """Run ``python src/<script> args...`` in a model folder as a user would (no raise on exit)."""
    return subprocess.run(
        [sys.executable, f"src/{script}", *args],
        cwd=model_dir,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def copy_model(model_dir: Path, destination: Path) -> Path:
    """Copy a model's src/ to a temporary folder so an end-to-end run writes its outputs there."""
    import shutil

    target = destination / Path(model_dir).name
    shutil.copytree(
        Path(model_dir) / "src", target / "src", ignore=shutil.ignore_patterns("__pycache__")
    )
    return target
