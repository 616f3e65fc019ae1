"""Fixtures for the data_utils tests.

Every test gets its own empty cache (AIFS_CACHE_DIR) and runs with downloads off (AIFS_OFFLINE=1)
and no mirror, so no test touches the network or the user's real cache by accident. Tests of the
download path turn downloads back on against a server on 127.0.0.1. AIFS_DATA_DIR is left alone:
the real-data tests read it.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Callable

import pytest

from data_utils.checksums import SOURCES, DataSource, FileSpec


@pytest.fixture(autouse=True)
def isolated_cache(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    cache = tmp_path / "aifs-cache"
    monkeypatch.setenv("AIFS_CACHE_DIR", str(cache))
    monkeypatch.setenv("AIFS_OFFLINE", "1")
    monkeypatch.delenv("AIFS_DATA_MIRROR", raising=False)
    return cache


def spec_for(path: Path, name: str, urls: tuple[str, ...] = ()) -> FileSpec:
    """A FileSpec with the real size and checksums of a file the test wrote."""
    data = path.read_bytes()
    return FileSpec(
        name, len(data), hashlib.sha256(data).hexdigest(), hashlib.md5(data).hexdigest(), urls
    )


@pytest.fixture
def register_source(monkeypatch: pytest.MonkeyPatch) -> Callable[..., DataSource]:
    """Replace SOURCES[key] by the files a test wrote under root/folder (with their checksums)."""

    def register(
        key: str, folder: str, root: Path, names: list[str], system_dirs: tuple[str, ...] = ()
    ) -> DataSource:
        files = tuple(spec_for(root / folder / name, name) for name in names)
        source = DataSource(folder, files, system_dirs)
        monkeypatch.setitem(SOURCES, key, source)
        return source

    return register
