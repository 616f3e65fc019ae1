"""Writing files safely and values plainly: the two helpers every package shares.

``atomic_write`` is the one way this project replaces a file (checkpoints, pointers, metrics,
run metadata, downloads, caches): a reader, or a process killed at any moment, sees either the
old file or the new one, never a half-written one. ``plain`` is the one way a value becomes plain
Python (for JSON, YAML, wandb and configs): NumPy and tensor scalars become numbers, arrays
lists, tuples lists, paths strings.

This module is the bottom layer: it imports no other package of the project, so utils, data_utils,
engine and plotting may all import it.
"""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any

import numpy as np
import torch


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable by syncing its folder (a no-op where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not supported (Windows): the rename is still atomic
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems refuse fsync on folders; the rename itself has happened
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_write(
    path: str | Path, mode: str = "wb", *, encoding: str | None = None
) -> Iterator[IO[Any]]:
    """Write a file atomically: yield a temporary file in the same folder, then move it into place.

    On a normal exit from the ``with`` block the temporary file is flushed, fsynced and renamed to
    ``path`` with ``os.replace``, and the folder is fsynced so that the rename survives a power
    cut. On any exception, including Ctrl-C (KeyboardInterrupt) and one raised by the block itself
    to reject what it wrote (a failed checksum), the temporary file is removed and ``path`` is left
    as it was. The temporary file is ``.<name>.<pid>.<random>.tmp`` beside ``path`` (a SIGKILL can
    leave one behind; it never has the real name). Parent folders are created.

    Example::

        with atomic_write(path) as handle:
            torch.save(state, handle)

    Args:
        path: The destination.
        mode: ``"wb"`` (bytes) or ``"w"`` (text).
        encoding: The text encoding, for ``mode="w"`` (e.g. ``"utf-8"``).

    Yields:
        The open temporary file.

    Raises:
        OSError: If the folder cannot be created or the file cannot be written or renamed; callers
            re-raise it as their own error type (CheckpointError, DataError, ...).
    """
    assert mode in ("wb", "w"), f"atomic_write writes a whole file: mode 'wb' or 'w', not {mode!r}"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never write into another writer's file; 0o666 minus the umask, like open().
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0), 0o666)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:  # also Ctrl-C during the write: never leave the temporary file
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _keep(value: Any) -> Any:
    return value


def plain(value: Any, default: Callable[[Any], Any] = _keep) -> Any:
    """``value`` as plain Python, recursively, so that JSON, ``yaml.safe_dump`` and wandb take it.

    NumPy scalars and 0-d arrays or tensors become ``bool``/``int``/``float``; arrays and tensors
    become (nested) lists; tuples, lists and sets become lists; mappings dicts (keys that are not
    str, int, float, bool or None become strings); paths strings. ``None``, ``bool``, ``int``,
    ``float`` and ``str`` are returned as they are.

    Args:
        value: What to convert.
        default: Applied to any other value (a dataclass, an enum, an arbitrary object); by
            default the value is returned unchanged. ``repr`` makes everything printable.

    Returns:
        The plain value.
    """
    if isinstance(value, (np.generic, np.ndarray)):  # before float: np.float64 is a float
        return plain(value.tolist(), default)
    if isinstance(value, torch.Tensor):
        return plain(value.detach().cpu().tolist(), default)
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, Mapping):
        return {_plain_key(k): plain(v, default) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [plain(v, default) for v in value]
    if isinstance(value, Path):
        return str(value)
    return default(value)


def _plain_key(key: Any) -> Any:
    key = plain(key)
    return key if key is None or isinstance(key, (str, int, float, bool)) else str(key)
