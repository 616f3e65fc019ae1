"""An outputs/ folder that cannot be written is an OutputError naming it, not an OSError (issue 14).

Tests run as root, whom chmod does not stop, so "cannot be written" is made of things root cannot
do either: a regular file where a folder must be, or a mkdir that raises PermissionError.
"""

from __future__ import annotations

import logging
from pathlib import Path
from unittest import mock

import pytest

from utils.exceptions import AIFromScratchError, OutputError
from utils.log import setup_logging
from utils.paths import RunPaths


def test_outputs_as_a_file_is_an_output_error_naming_it(tmp_path: Path) -> None:
    (tmp_path / "outputs").write_text("not a folder\n")
    with pytest.raises(OutputError, match=r"outputs/logs.*must be a folder you can write to"):
        RunPaths.create(tmp_path, "xor")
    assert issubclass(OutputError, AIFromScratchError)  # so run_cli prints one line, exit 1


def test_a_folder_without_write_permission_is_an_output_error(tmp_path: Path) -> None:
    refused = PermissionError(13, "Permission denied")
    with mock.patch.object(Path, "mkdir", side_effect=refused):
        with pytest.raises(OutputError, match="Permission denied") as caught:
            RunPaths.create(tmp_path, "xor")
    assert str(tmp_path / "outputs") in str(caught.value)
    assert caught.value.__cause__ is refused


def test_a_log_file_that_cannot_be_opened_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where the log folder should be\n")
    log_file = tmp_path / "logs" / "run.log"
    try:
        with pytest.raises(OutputError, match=f"cannot write the log file {log_file}"):
            setup_logging(log_file)
        # the console handler stays, so the error itself can still be logged
        assert any(getattr(h, "_aifs_console", False) for h in logging.getLogger().handlers)
    finally:
        setup_logging()
