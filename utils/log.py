"""Plain logging for every entry point: one console handler, one optional file handler.

Library modules only ever do ``logger = logging.getLogger(__name__)``; the scripts
(``train.py``, ``evaluate.py``) call :func:`setup_logging` once to decide where records go.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from utils.exceptions import OutputError

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s | %(message)s"

# Marks the handlers this module installed, so repeated calls replace them instead of
# stacking duplicates and handlers installed by others (pytest's caplog) are left alone.
_CONSOLE_TAG = "_aifs_console"
_FILE_TAG = "_aifs_file"


def setup_logging(log_file: Path | None = None, level: int = logging.INFO) -> None:
    """Configure the root logger: console (stderr) plus an optional log file.

    Idempotent: calling it again does not duplicate handlers. The console handler is kept
    (its level updated); a file handler from an earlier call is closed and replaced by one
    for ``log_file``, or removed when ``log_file`` is None.

    Args:
        log_file: File that receives the same records as the console, appended to. Its parent
            directory is created. None logs to the console only.
        level: Minimum level recorded, e.g. ``logging.INFO`` or ``logging.DEBUG``.

    Raises:
        OutputError: If the log file cannot be opened for appending (the console handler is
            kept, so the error can still be logged).
    """
    root = logging.getLogger()
    root.setLevel(level)
    formatter = logging.Formatter(LOG_FORMAT)

    console = next((h for h in root.handlers if getattr(h, _CONSOLE_TAG, False)), None)
    if console is None:
        console = logging.StreamHandler(sys.stderr)
        setattr(console, _CONSOLE_TAG, True)
        root.addHandler(console)
    console.setLevel(level)
    console.setFormatter(formatter)

    for handler in [h for h in root.handlers if getattr(h, _FILE_TAG, False)]:
        root.removeHandler(handler)
        handler.close()

    if log_file is not None:
        log_file = Path(log_file)
        try:
            log_file.parent.mkdir(parents=True, exist_ok=True)
            file_handler = logging.FileHandler(log_file, mode="a", encoding="utf-8")
        except OSError as exc:  # not writable, or a file where a folder must be
            raise OutputError(
                f"cannot write the log file {log_file}: {exc.strerror or exc}; "
                f"{log_file.parent} must be a folder you can write to"
            ) from exc
        setattr(file_handler, _FILE_TAG, True)
        file_handler.setLevel(level)
        file_handler.setFormatter(formatter)
        root.addHandler(file_handler)
