import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from utils.log import LOG_FORMAT, setup_logging


@pytest.fixture(autouse=True)
def restore_root_logger() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in root.handlers:
        if handler not in handlers:
            handler.close()
    root.handlers[:] = handlers
    root.setLevel(level)


def _ours(kind: str) -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if getattr(h, f"_aifs_{kind}", False)]


def test_console_and_file_receive_formatted_records(tmp_path: Path) -> None:
    log_file = tmp_path / "sub" / "run.log"
    setup_logging(log_file)
    logging.getLogger("utils.test").info("epoch 3 | loss 0.4123")
    for handler in _ours("file"):
        handler.flush()
    line = log_file.read_text(encoding="utf-8").strip()
    assert line.endswith("INFO utils.test | epoch 3 | loss 0.4123")
    assert len(_ours("console")) == 1
    assert _ours("console")[0].formatter._fmt == LOG_FORMAT  # type: ignore[union-attr]


def test_idempotent_and_new_file_replaces_old(tmp_path: Path) -> None:
    first, second = tmp_path / "a.log", tmp_path / "b.log"
    setup_logging(first)
    setup_logging(first)
    assert len(_ours("console")) == 1 and len(_ours("file")) == 1
    setup_logging(second, level=logging.DEBUG)
    assert len(_ours("console")) == 1 and len(_ours("file")) == 1
    logging.getLogger("x").debug("only in b")
    for handler in _ours("file"):
        handler.flush()
    assert "only in b" in second.read_text(encoding="utf-8")
    assert "only in b" not in first.read_text(encoding="utf-8")
    setup_logging(None)
    assert _ours("file") == []
    assert logging.getLogger().level == logging.INFO
