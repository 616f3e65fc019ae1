"""Where data files come from: local folders, the user cache, system packages, or a download.

fetch(key, data_dir) returns verified local paths for every file of SOURCES[key] (see checksums.py).
Each file is looked up, in order, in

    1. ``data_dir/<folder>/`` (the --data-dir flag), else ``$AIFS_DATA_DIR/<folder>/``;
    2. the user cache ``<cache>/<folder>/``: ``$AIFS_CACHE_DIR``, else ``$XDG_CACHE_HOME/aifs``,
       else ``~/.cache/aifs``;
    3. known system folders (Debian's dataset-fashion-mnist: /usr/share/datasets/fashion-mnist);
    4. a download from the canonical URLs into the cache, or from ``$AIFS_DATA_MIRROR/<folder>/``
       when that variable is set (a mirror has the same layout as a data directory).

``AIFS_OFFLINE=1`` turns step 4 off. Every file is checked against its known checksum; a mismatch
is a DataError naming the file and both checksums. Downloads are atomic (utils.files.atomic_write):
bytes go to a temporary file in the destination folder, are verified and fsynced, and only then
renamed into place, so an interrupted or corrupt download never leaves a file under the real name.

Verifying a large file costs a full read (about 0.1 s for MNIST). After a successful check a small
JSON marker (file size, mtime in ns, the matched digest) is written under ``<cache>/verified/``;
while size and mtime are unchanged the hash is not recomputed.
"""

from __future__ import annotations

import codecs
import collections
import gzip
import hashlib
import http.client
import json
import logging
import os
import pickle
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path
from typing import IO, Callable

import numpy as np
from tqdm import tqdm

from data_utils.checksums import SOURCES, DataSource, FileSpec
from utils.exceptions import DataError
from utils.files import atomic_write

try:  # numpy >= 2
    from numpy._core import multiarray as _multiarray
except ImportError:  # numpy 1.26
    from numpy.core import multiarray as _multiarray

logger = logging.getLogger(__name__)

ENV_DATA_DIR = "AIFS_DATA_DIR"
ENV_CACHE_DIR = "AIFS_CACHE_DIR"
ENV_MIRROR = "AIFS_DATA_MIRROR"
ENV_OFFLINE = "AIFS_OFFLINE"
DOWNLOAD_ATTEMPTS = 3  # per URL; transient network errors and truncated transfers are retried
BACKOFF_SECONDS = 1.0  # sleep BACKOFF_SECONDS * 2**attempt between attempts
TIMEOUT_SECONDS = 60.0  # per socket operation
_CHUNK = 1 << 20


def cache_dir() -> Path:
    """The user cache for downloads, verification markers and decoded arrays.

    $AIFS_CACHE_DIR if set, else $XDG_CACHE_HOME/aifs, else ~/.cache/aifs.
    """
    explicit = os.environ.get(ENV_CACHE_DIR)
    if explicit:
        return Path(explicit).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "aifs"


def data_root(data_dir: str | Path | None) -> Path | None:
    """The explicit data directory: the argument if given, else $AIFS_DATA_DIR, else None."""
    if data_dir is not None:
        return Path(data_dir).expanduser()
    env = os.environ.get(ENV_DATA_DIR)
    return Path(env).expanduser() if env else None


def search_folders(source: DataSource, data_dir: str | Path | None) -> list[Path]:
    """The folders searched for a source's files, in priority order."""
    folders = []
    root = data_root(data_dir)
    if root is not None:
        folders.append(root / source.folder)
    folders.append(cache_dir() / source.folder)
    folders.extend(Path(d) for d in source.system_dirs)
    return folders


def available_locally(key: str, data_dir: str | Path | None = None) -> bool:
    """True when every file of SOURCES[key] exists in a searched folder (not yet verified)."""
    source = SOURCES[key]
    folders = search_folders(source, data_dir)
    return all(any((f / spec.name).is_file() for f in folders) for spec in source.files)


def fetch(key: str, data_dir: str | Path | None = None) -> dict[str, Path]:
    """Verified local paths of every file of SOURCES[key], downloading what is missing.

    Args:
        key: A key of data_utils.checksums.SOURCES, e.g. "mnist".
        data_dir: Data directory holding ``<folder>/<file>``; overrides $AIFS_DATA_DIR.

    Returns:
        A dict from FileSpec.name to the verified path.

    Raises:
        DataError: A file fails its checksum, or files are missing and cannot be downloaded.
    """
    source = SOURCES[key]
    folders = search_folders(source, data_dir)
    paths: dict[str, Path] = {}
    missing: list[FileSpec] = []
    for spec in source.files:
        found = next((f / spec.name for f in folders if (f / spec.name).is_file()), None)
        if found is None:
            missing.append(spec)
            continue
        verify_file(found, spec)
        paths[spec.name] = found
    if not missing:
        return paths

    mirror = os.environ.get(ENV_MIRROR)
    offline = os.environ.get(ENV_OFFLINE, "").strip().lower() in ("1", "true", "yes")
    if offline:
        raise _missing_error(key, source, missing, data_dir, f"{ENV_OFFLINE} is set")
    if not mirror and any(not spec.urls for spec in missing):
        raise _missing_error(key, source, missing, data_dir, "there is no public download")
    target = cache_dir() / source.folder
    for spec in missing:
        urls = (f"{mirror.rstrip('/')}/{source.folder}/{spec.name}",) if mirror else spec.urls
        try:
            paths[spec.name] = download_file(spec, urls, target / spec.name)
        except _DownloadFailed as err:
            raise _missing_error(key, source, missing, data_dir, str(err)) from err
    return paths


def _missing_error(
    key: str,
    source: DataSource,
    missing: list[FileSpec],
    data_dir: str | Path | None,
    reason: str,
) -> DataError:
    root = data_root(data_dir)
    root_text = str(root) if root is not None else "DIR"
    lines = [
        f"data set '{key}': {len(missing)} file(s) not found locally and not downloaded "
        f"({reason}).",
        f"Put them in {root_text}/{source.folder}/ and pass --data-dir {root_text} "
        f"(or set {ENV_DATA_DIR}={root_text}), or put them in {cache_dir() / source.folder}/:",
    ]
    for spec in missing:
        digest = f"sha256 {spec.sha256}" if spec.sha256 else f"md5 {spec.md5}"
        size = f"{spec.size} bytes, " if spec.size is not None else ""
        origin = f" from {spec.urls[0]}" if spec.urls else ""
        lines.append(f"  {spec.name} ({size}{digest}){origin}")
    searched = ", ".join(str(f) for f in search_folders(source, data_dir))
    lines.append(f"Searched: {searched}. See docs/datasets.md.")
    return DataError("\n".join(lines))


# ---------------------------------------------------------------- verification


def file_digests(path: Path) -> tuple[str, str]:
    """(sha256, md5) hex digests of a file, read once in 1 MiB chunks."""
    sha, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            sha.update(chunk)
            md5.update(chunk)
    return sha.hexdigest(), md5.hexdigest()


def _gunzip_sha256(path: Path) -> str | None:
    sha = hashlib.sha256()
    try:
        with gzip.open(path, "rb") as f:
            while chunk := f.read(_CHUNK):
                sha.update(chunk)
    except (OSError, EOFError, zlib.error):
        return None  # not gzip, or truncated: cannot match
    return sha.hexdigest()


def _marker_path(path: Path) -> Path:
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:32]
    return cache_dir() / "verified" / f"{key}.json"


def _marker_ok(path: Path, spec: FileSpec, stat: os.stat_result) -> bool:
    try:
        marker = json.loads(_marker_path(path).read_text())
    except (OSError, ValueError):
        return False
    known = {spec.sha256, spec.md5, spec.raw_sha256} - {None}
    return (
        marker.get("size") == stat.st_size
        and marker.get("mtime_ns") == stat.st_mtime_ns
        and marker.get("digest") in known
    )


def _write_marker(path: Path, digest: str) -> None:
    stat = path.stat()
    record = {"path": str(path.resolve()), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns}
    record["digest"] = digest
    try:
        with atomic_write(_marker_path(path)) as out:
            out.write(json.dumps(record).encode())
    except OSError as err:  # a read-only cache only costs a re-hash next time
        logger.debug("could not write verification marker for %s: %s", path, err)


def _in_cache(path: Path) -> bool:
    try:
        return path.resolve().is_relative_to(cache_dir().resolve())
    except OSError:
        return False


def verify_file(path: Path, spec: FileSpec) -> None:
    """Check a local file against its known checksum (cheaply, via a marker, when unchanged).

    A .gz file whose own checksum differs is still accepted when its decompressed bytes match
    ``spec.raw_sha256`` (a recompressed copy such as Debian's). A corrupt file inside the cache is
    deleted so that the next call downloads it again; files elsewhere are never touched.

    Raises:
        DataError: Naming the file, the expected and the actual checksum.
    """
    stat = path.stat()
    if _marker_ok(path, spec, stat):
        return
    sha, md5 = file_digests(path)
    if spec.sha256 is not None and sha == spec.sha256:
        _write_marker(path, sha)
        return
    if spec.sha256 is None and spec.md5 is not None and md5 == spec.md5:
        _write_marker(path, md5)
        return
    if spec.raw_sha256 is not None and _gunzip_sha256(path) == spec.raw_sha256:
        logger.info("%s is a recompressed copy; its decompressed content is verified", path)
        _write_marker(path, spec.raw_sha256)
        return
    if spec.sha256 is not None:
        expected, actual = f"sha256 {spec.sha256}", f"sha256 {sha}"
    else:
        expected, actual = f"md5 {spec.md5}", f"md5 {md5}"
    message = f"checksum mismatch for {path}: expected {expected}, got {actual}"
    if spec.size is not None and stat.st_size != spec.size:
        message += f" (size {stat.st_size} bytes, expected {spec.size}: truncated or wrong file)"
    if _in_cache(path):
        path.unlink(missing_ok=True)
        message += "; the corrupt file was removed from the cache, run again to re-download it"
    else:
        message += "; replace it with a good copy or delete it to download a fresh one"
    raise DataError(message)


# ---------------------------------------------------------------- downloads


class _DownloadFailed(Exception):
    """A download that could not produce a verified file (internal, re-raised as DataError)."""


class _Retryable(Exception):
    """A transfer cut short by the connection: worth another attempt."""


def _download_once(url: str, spec: FileSpec, dest: Path) -> None:
    sha, md5 = hashlib.sha256(), hashlib.md5()
    received = 0
    # a transfer that is cut short or fails its checksum raises inside the block: nothing is saved
    with atomic_write(dest) as out:
        with urllib.request.urlopen(url, timeout=TIMEOUT_SECONDS) as response:
            header = response.headers.get("Content-Length")
            expected_size = int(header) if header else spec.size
            bar = tqdm(
                total=expected_size,
                unit="B",
                unit_scale=True,
                desc=dest.name,
                disable=None,  # no bar when stderr is not a terminal
                leave=False,
            )
            with bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    sha.update(chunk)
                    md5.update(chunk)
                    received += len(chunk)
                    bar.update(len(chunk))
        if header and received != int(header):  # the connection dropped mid-transfer
            raise _Retryable(f"got {received} of {header} bytes from {url}")
        sha_hex, md5_hex = sha.hexdigest(), md5.hexdigest()
        if spec.sha256 is not None and sha_hex != spec.sha256:
            expected, actual = f"sha256 {spec.sha256}", f"sha256 {sha_hex}"
        elif spec.sha256 is None and spec.md5 is not None and md5_hex != spec.md5:
            expected, actual = f"md5 {spec.md5}", f"md5 {md5_hex}"
        else:
            expected = actual = ""
        if expected:
            size_note = ""
            if spec.size is not None and received != spec.size:
                size_note = f" (got {received} bytes, expected {spec.size}: truncated file)"
            raise _DownloadFailed(
                f"checksum mismatch for {dest.name} downloaded from {url}: expected {expected}, "
                f"got {actual}{size_note}; nothing was saved"
            )
    _write_marker(dest, spec.sha256 or spec.md5 or sha_hex)


def download_file(spec: FileSpec, urls: tuple[str, ...], dest: Path) -> Path:
    """Download one file to dest, verified and atomic, retrying with exponential backoff.

    Each URL gets DOWNLOAD_ATTEMPTS tries for network errors and truncated transfers; a
    complete transfer with the wrong checksum moves on to the next URL at once.

    Raises:
        _DownloadFailed: No URL gave a verified file (fetch turns this into a DataError).
    """
    dest.parent.mkdir(parents=True, exist_ok=True)
    errors: list[str] = []
    for url in urls:
        for attempt in range(DOWNLOAD_ATTEMPTS):
            logger.info("downloading %s (attempt %d) from %s", dest.name, attempt + 1, url)
            try:
                _download_once(url, spec, dest)
                logger.info("saved %s", dest)
                return dest
            except _DownloadFailed as err:
                errors.append(str(err))
                break
            except urllib.error.HTTPError as err:
                errors.append(f"{url}: HTTP {err.code}")
                if 400 <= err.code < 500:
                    break  # not found or forbidden: retrying will not help
            except (_Retryable, urllib.error.URLError, http.client.HTTPException, OSError) as err:
                errors.append(f"{url}: {err}")
            if attempt + 1 < DOWNLOAD_ATTEMPTS:
                time.sleep(BACKOFF_SECONDS * 2**attempt)
    raise _DownloadFailed("; ".join(errors))


# ---------------------------------------------------------------- pickles and decoded caches

_PICKLE_ALLOWED: dict[tuple[str, str], object] = {
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
    # Python-2 era pickles name numpy.core, which numpy 2 renamed to numpy._core
    ("numpy.core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy.core.multiarray", "scalar"): _multiarray.scalar,
    ("numpy._core.multiarray", "_reconstruct"): _multiarray._reconstruct,
    ("numpy._core.multiarray", "scalar"): _multiarray.scalar,
    ("collections", "defaultdict"): collections.defaultdict,
    ("_codecs", "encode"): codecs.encode,  # bytes in protocol-2 pickles written by Python 3
    ("__builtin__", "list"): list,
    ("builtins", "list"): list,
}

# Planetoid files pickle scipy.sparse.csr.csr_matrix (a path SciPy 2.0 removes) or ._csr
_SCIPY_ALLOWED = {("scipy.sparse.csr", "csr_matrix"), ("scipy.sparse._csr", "csr_matrix")}


class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickles only plain data: numpy arrays, scipy CSR matrices, dicts, lists, bytes."""

    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _PICKLE_ALLOWED:
            return _PICKLE_ALLOWED[(module, name)]
        if (module, name) in _SCIPY_ALLOWED:  # SciPy imported only for the files that need it
            import scipy.sparse

            return scipy.sparse.csr_matrix
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")


def load_pickle(f: IO[bytes], *, encoding: str = "latin1") -> object:
    """Load a data pickle (CIFAR batches, Planetoid files) allowing only data classes.

    Python-2 pickles need ``encoding="latin1"`` (numpy arrays) or ``"bytes"`` (CIFAR's dict
    keys); arbitrary classes are refused, so a tampered file cannot run code.
    """
    return _RestrictedUnpickler(f, encoding=encoding).load()


def cached_arrays(
    tag: str, digest: str, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """Arrays decoded from a verified source, cached as .npz under <cache>/decoded/.

    The cache key includes the source's checksum, so a different source file never reuses a
    stale decode. Used for CIFAR-10 (decoding 60,000 JPEGs takes about 6 s, loading the cached
    arrays about 0.2 s). An unreadable cache entry is rebuilt.
    """
    path = cache_dir() / "decoded" / f"{tag}-{digest[:16]}.npz"
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as archive:
                return {k: archive[k] for k in archive.files}
        except (OSError, ValueError, zlib.error) as err:
            logger.warning("decoded cache %s is unreadable (%s); rebuilding it", path, err)
    arrays = build()
    try:
        with atomic_write(path) as out:
            np.savez(out, **arrays)
    except OSError as err:  # a read-only cache only costs a re-decode next time
        logger.debug("could not cache decoded arrays at %s: %s", path, err)
    return arrays
