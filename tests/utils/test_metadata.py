import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import yaml

import utils.metadata as metadata
from utils.config import BaseConfig
from utils.exceptions import AIFromScratchError
from utils.metadata import save_run_metadata


@dataclass
class SmallConfig(BaseConfig):
    hidden_sizes: tuple[int, ...] = (4, 2)


def test_metadata_contents(tmp_path: Path) -> None:
    path = tmp_path / "logs" / "run.meta.yaml"
    save_run_metadata(
        path, SmallConfig(epochs=3), seed=7, extra={"n_train": np.int64(10), "dir": tmp_path}
    )
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["config"]["epochs"] == 3 and data["config"]["hidden_sizes"] == [4, 2]
    assert data["seed"] == 7
    assert data["extra"] == {"n_train": 10, "dir": str(tmp_path)}
    assert set(data["platform"]) >= {
        "python",
        "platform",
        "torch",
        "numpy",
        "cpu_count",
        "hostname",
    }
    assert isinstance(data["timestamp"], str) and "T" in data["timestamp"]
    git = data["git"]
    assert git["commit"] == "unknown" or len(git["commit"]) == 40
    freeze = data["pip_freeze"]
    assert freeze["packages"] is None or any(
        p.lower().startswith("torch") for p in freeze["packages"]
    )
    assert [p.name for p in path.parent.iterdir()] == ["run.meta.yaml"]  # no temp file left


def test_missing_git_and_failing_pip_are_recorded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def fake_run(args: list[str], timeout: float) -> str:
        if args[0] == "git":
            raise FileNotFoundError("git: not found")
        raise subprocess.TimeoutExpired(args, timeout)

    monkeypatch.setattr(metadata, "_run", fake_run)
    path = tmp_path / "m.yaml"
    save_run_metadata(path, BaseConfig(), seed=1)
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert data["git"]["commit"] == "unknown" and "not found" in data["git"]["reason"]
    assert data["pip_freeze"]["packages"] is None and "timed out" in data["pip_freeze"]["reason"]


def test_write_is_atomic_on_failure(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "m.yaml"
    path.write_text("old: true\n", encoding="utf-8")
    monkeypatch.setattr(metadata, "_run", lambda args, timeout: "")

    def broken_replace(src: str, dst: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken_replace)
    with pytest.raises(AIFromScratchError, match="disk full"):
        save_run_metadata(path, BaseConfig(), seed=1)
    assert path.read_text(encoding="utf-8") == "old: true\n"
    assert [p.name for p in tmp_path.iterdir()] == ["m.yaml"]
