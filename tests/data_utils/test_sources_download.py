"""Source resolution, checksum verification and the download path against 127.0.0.1."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import os
import threading
from pathlib import Path
from typing import Iterator

import pytest

from data_utils import sources
from data_utils.checksums import SOURCES, DataSource, FileSpec
from utils.exceptions import DataError

PAYLOAD = bytes(range(256)) * 64  # 16 KiB
SHA = hashlib.sha256(PAYLOAD).hexdigest()


class _Server:
    """A tiny HTTP server on 127.0.0.1 whose responses a test sets per path."""

    def __init__(self) -> None:
        self.routes: dict[str, list[tuple[bytes, int | None]]] = {}  # path -> [(body, length)]
        self.hits: list[str] = []
        server = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server API)
                server.hits.append(self.path)
                queue = server.routes.get(self.path)
                if not queue:
                    self.send_error(404)
                    return
                body, length = queue[0] if len(queue) == 1 else queue.pop(0)
                self.send_response(200)
                self.send_header("Content-Length", str(len(body) if length is None else length))
                self.end_headers()
                self.wfile.write(body)
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[_Server]:
    srv = _Server()
    monkeypatch.setenv("AIFS_DATA_MIRROR", srv.url)
    monkeypatch.delenv("AIFS_OFFLINE")
    monkeypatch.delenv("AIFS_DATA_DIR", raising=False)
    monkeypatch.setattr(sources, "BACKOFF_SECONDS", 0.0)
    monkeypatch.setattr(sources, "TIMEOUT_SECONDS", 5.0)
    yield srv
    srv.stop()


@pytest.fixture
def toy(monkeypatch: pytest.MonkeyPatch) -> DataSource:
    source = DataSource("toy", (FileSpec("sub/a.bin", len(PAYLOAD), SHA, None, ()),))
    monkeypatch.setitem(SOURCES, "toy", source)
    return source


def _leftovers(cache: Path) -> list[Path]:
    folder = cache / "toy"
    return sorted(folder.rglob("*")) if folder.exists() else []


def test_good_download_is_verified_saved_and_reused(server, toy, isolated_cache) -> None:
    server.routes["/toy/sub/a.bin"] = [(PAYLOAD, None)]
    path = sources.fetch("toy")["sub/a.bin"]
    assert path == isolated_cache / "toy" / "sub" / "a.bin"
    assert path.read_bytes() == PAYLOAD
    assert [p.name for p in _leftovers(isolated_cache) if p.is_file()] == ["a.bin"]
    assert server.hits == ["/toy/sub/a.bin"]
    assert sources.fetch("toy")["sub/a.bin"] == path  # second call: from the cache
    assert server.hits == ["/toy/sub/a.bin"]


def test_corrupted_download_names_both_checksums_and_saves_nothing(
    server, toy, isolated_cache
) -> None:
    bad = bytes(reversed(PAYLOAD))
    server.routes["/toy/sub/a.bin"] = [(bad, None)]
    with pytest.raises(DataError) as info:
        sources.fetch("toy")
    message = str(info.value)
    assert "a.bin" in message and SHA in message
    assert hashlib.sha256(bad).hexdigest() in message
    assert not [p for p in _leftovers(isolated_cache) if p.is_file()]
    assert len(server.hits) == 1  # a complete but wrong file is not retried


def test_truncated_file_is_rejected(server, toy, isolated_cache) -> None:
    half = PAYLOAD[: len(PAYLOAD) // 2]
    server.routes["/toy/sub/a.bin"] = [(half, None)]  # honest Content-Length, short file
    with pytest.raises(DataError, match="truncated") as info:
        sources.fetch("toy")
    assert SHA in str(info.value) and hashlib.sha256(half).hexdigest() in str(info.value)
    assert not [p for p in _leftovers(isolated_cache) if p.is_file()]


def test_dropped_connection_is_retried(server, toy, isolated_cache) -> None:
    half = PAYLOAD[: len(PAYLOAD) // 2]
    # first response promises the full length but stops half way, the second is good
    server.routes["/toy/sub/a.bin"] = [(half, len(PAYLOAD)), (PAYLOAD, None)]
    path = sources.fetch("toy")["sub/a.bin"]
    assert path.read_bytes() == PAYLOAD
    assert len(server.hits) == 2


def test_dropped_connection_every_time_fails_after_the_retries(server, toy, isolated_cache) -> None:
    half = PAYLOAD[: len(PAYLOAD) // 2]
    server.routes["/toy/sub/a.bin"] = [(half, len(PAYLOAD))]
    with pytest.raises(DataError, match="sub/a.bin"):
        sources.fetch("toy")
    assert len(server.hits) == sources.DOWNLOAD_ATTEMPTS
    assert not [p for p in _leftovers(isolated_cache) if p.is_file()]


def test_missing_on_server_is_not_retried(server, toy) -> None:
    with pytest.raises(DataError, match="HTTP 404"):
        sources.fetch("toy")
    assert len(server.hits) == 1


def test_server_gone_says_where_to_put_the_files(server, toy, isolated_cache) -> None:
    server.stop()
    server.stop = lambda: None  # the fixture's teardown must not stop it twice
    with pytest.raises(DataError) as info:
        sources.fetch("toy")
    message = str(info.value)
    assert "sub/a.bin" in message and SHA in message
    assert "--data-dir" in message and "AIFS_DATA_DIR" in message
    assert str(isolated_cache / "toy") in message
    assert not [p for p in _leftovers(isolated_cache) if p.is_file()]


def test_offline_without_a_local_copy_lists_files_and_folders(monkeypatch, tmp_path) -> None:
    monkeypatch.delenv("AIFS_DATA_DIR", raising=False)
    with pytest.raises(DataError) as info:
        sources.fetch("mnist", data_dir=tmp_path / "data")
    message = str(info.value)
    for spec in SOURCES["mnist"].files:
        assert spec.name in message and spec.sha256 in message
    assert f"{tmp_path / 'data'}/mnist/" in message
    assert "--data-dir" in message and "AIFS_DATA_DIR" in message and "AIFS_OFFLINE" in message


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def test_resolution_order_data_dir_then_env_then_cache(
    monkeypatch, toy, tmp_path, isolated_cache
) -> None:
    explicit = _write(tmp_path / "explicit" / "toy" / "sub" / "a.bin", PAYLOAD)
    env = _write(tmp_path / "env" / "toy" / "sub" / "a.bin", PAYLOAD)
    cached = _write(isolated_cache / "toy" / "sub" / "a.bin", PAYLOAD)
    monkeypatch.setenv("AIFS_DATA_DIR", str(tmp_path / "env"))
    assert sources.fetch("toy", data_dir=tmp_path / "explicit")["sub/a.bin"] == explicit
    assert sources.fetch("toy")["sub/a.bin"] == env
    monkeypatch.delenv("AIFS_DATA_DIR")
    assert sources.fetch("toy")["sub/a.bin"] == cached


def test_system_folder_is_searched_after_the_cache(monkeypatch, tmp_path) -> None:
    system = tmp_path / "usr-share"
    _write(system / "sub" / "a.bin", PAYLOAD)
    source = DataSource("toy", (FileSpec("sub/a.bin", len(PAYLOAD), SHA, None),), (str(system),))
    monkeypatch.setitem(SOURCES, "toy", source)
    monkeypatch.delenv("AIFS_DATA_DIR", raising=False)
    assert sources.fetch("toy")["sub/a.bin"] == system / "sub" / "a.bin"


def test_corrupt_local_file_is_reported_and_left_alone(toy, tmp_path) -> None:
    path = _write(tmp_path / "toy" / "sub" / "a.bin", PAYLOAD[:-1] + b"x")
    with pytest.raises(DataError) as info:
        sources.fetch("toy", data_dir=tmp_path)
    assert str(path) in str(info.value) and SHA in str(info.value)
    assert hashlib.sha256(path.read_bytes()).hexdigest() in str(info.value)
    assert path.exists()  # never delete a user's file


def test_corrupt_cached_file_is_removed(monkeypatch, toy, isolated_cache) -> None:
    monkeypatch.delenv("AIFS_DATA_DIR", raising=False)
    path = _write(isolated_cache / "toy" / "sub" / "a.bin", PAYLOAD[:100])
    with pytest.raises(DataError, match="removed from the cache"):
        sources.fetch("toy")
    assert not path.exists()


def test_verification_marker_skips_rehashing_until_the_file_changes(
    monkeypatch, toy, tmp_path
) -> None:
    path = _write(tmp_path / "toy" / "sub" / "a.bin", PAYLOAD)
    sources.fetch("toy", data_dir=tmp_path)  # hashes once and writes the marker
    calls = []
    real = sources.file_digests
    monkeypatch.setattr(sources, "file_digests", lambda p: calls.append(p) or real(p))
    sources.fetch("toy", data_dir=tmp_path)
    assert calls == []
    path.write_bytes(bytes(reversed(PAYLOAD)))  # same size, new mtime
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    with pytest.raises(DataError, match="checksum mismatch"):
        sources.fetch("toy", data_dir=tmp_path)
    assert calls == [path]


def test_recompressed_gzip_is_accepted_by_its_content(monkeypatch, tmp_path) -> None:
    raw = b"IDX-like content " * 1000
    canonical = gzip.compress(raw, compresslevel=6, mtime=1)
    recompressed = gzip.compress(raw, compresslevel=9, mtime=2)  # what Debian ships
    assert canonical != recompressed
    spec = FileSpec(
        "f.gz",
        len(canonical),
        hashlib.sha256(canonical).hexdigest(),
        None,
        raw_sha256=hashlib.sha256(raw).hexdigest(),
    )
    monkeypatch.setitem(SOURCES, "toy", DataSource("toy", (spec,)))
    path = _write(tmp_path / "toy" / "f.gz", recompressed)
    assert sources.fetch("toy", data_dir=tmp_path)["f.gz"] == path
    _write(tmp_path / "toy" / "f.gz", gzip.compress(raw + b"!", mtime=2))
    with pytest.raises(DataError, match="checksum mismatch"):
        sources.fetch("toy", data_dir=tmp_path)


def test_cached_arrays_are_keyed_by_digest(isolated_cache) -> None:
    import numpy as np

    builds = []

    def build() -> dict:
        builds.append(1)
        return {"x": np.arange(6, dtype=np.uint8).reshape(2, 3)}

    first = sources.cached_arrays("toy", "a" * 64, build)
    second = sources.cached_arrays("toy", "a" * 64, build)
    sources.cached_arrays("toy", "b" * 64, build)
    assert len(builds) == 2
    assert (first["x"] == second["x"]).all() and second["x"].dtype == np.uint8
