"""Ordinary mistakes around start-up end in one clear message, never a traceback (issue 14).

* an outputs/ folder that cannot be written: ``OutputError: ...`` naming it, exit 1;
* Ctrl-C before training starts (data loading) or while the script imports torch: one line,
  exit 130;
* a Python without the project's packages: one paragraph saying which Python to use and how to
  create it, exit 1. Checked on every model's ``train.py`` and ``evaluate.py`` (and the template's,
  and the test fixture's), since each carries the same start-up guard.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import engine.workflow
from engine.workflow import run_cli, train_main
from utils.log import setup_logging
from utils.modules import load_model_modules
from utils.testing import assert_clean_failure, copy_model, run_script

ROOT = Path(__file__).resolve().parents[2]
PERCEPTRON = ROOT / "models" / "01_perceptron"
SHIMS = sorted(ROOT.glob("models/0*/src/train.py")) + sorted(ROOT.glob("models/0*/src/evaluate.py"))
SHIMS += [
    ROOT / "docs" / "templates" / "model" / "src" / "train.py",
    ROOT / "docs" / "templates" / "model" / "src" / "evaluate.py",
    ROOT / "tests" / "engine" / "fixtures" / "tiny_mlp" / "src" / "train.py",
]
SHIM_IDS = [str(path.relative_to(ROOT)) for path in SHIMS]


# ------------------------------------------------------------------------- unwritable outputs


def test_train_with_unwritable_outputs_is_one_output_error_line(tmp_path: Path) -> None:
    model = copy_model(PERCEPTRON, tmp_path)
    (model / "outputs").write_text("a file where the outputs folder should be\n")
    result = run_script(model, "train.py", "--experiment", "xor", "--no-wandb")
    assert result.returncode == 1
    assert_clean_failure(result, "OutputError", str(model / "outputs"))


def test_evaluate_with_unwritable_outputs_is_one_output_error_line(tmp_path: Path) -> None:
    model = copy_model(PERCEPTRON, tmp_path)
    trained = run_script(model, "train.py", "--experiment", "xor", "--epochs", "2", "--no-wandb")
    assert trained.returncode == 0, trained.stderr
    kept = tmp_path / "kept"
    shutil.move(model / "outputs", kept)
    (final,) = (kept / "models" / "xor").glob("*_final.pt")
    (model / "outputs").write_text("a file where the outputs folder should be\n")
    result = run_script(model, "evaluate.py", "--checkpoint", str(final))
    assert result.returncode == 1
    assert_clean_failure(result, "OutputError", str(model / "outputs"))


# ---------------------------------------------------------------------------------- Ctrl-C


def test_run_cli_turns_ctrl_c_outside_the_trainer_into_one_line_and_130(caplog) -> None:
    def interrupted() -> int:
        raise KeyboardInterrupt

    try:
        with caplog.at_level(logging.INFO):
            code = run_cli(interrupted)
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped run_cli (a traceback for the user)")
    assert code == 130
    (record,) = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert "interrupted (Ctrl-C)" in record.getMessage()


def test_ctrl_c_while_loading_data_exits_130_with_one_line(tmp_path, monkeypatch, caplog) -> None:
    model = copy_model(PERCEPTRON, tmp_path)
    spec = load_model_modules(model).train.SPEC

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(engine.workflow, "load_data", ctrl_c)
    try:
        with caplog.at_level(logging.INFO):
            code = train_main(spec, ["--experiment", "xor", "--no-wandb"])
    except KeyboardInterrupt:
        pytest.fail("KeyboardInterrupt escaped train_main (a traceback for the user)")
    finally:
        setup_logging()  # drop the run's file handler
    assert code == 130
    assert "interrupted (Ctrl-C) outside the training loop" in caplog.text
    assert not list((model / "outputs" / "models").rglob("*.pt"))


# Ctrl-C while the script imports: a sitecustomize raises KeyboardInterrupt at `import torch`,
# where a user's Ctrl-C lands most often (torch takes seconds to load).
CTRL_C_AT_TORCH = """
import sys


class _CtrlC:
    def find_spec(self, name, path=None, target=None):
        if name == "torch":
            raise KeyboardInterrupt
        return None


sys.meta_path.insert(0, _CtrlC())
"""


@pytest.mark.parametrize("shim", SHIMS, ids=SHIM_IDS)
def test_ctrl_c_while_importing_exits_130_with_one_line(tmp_path: Path, shim: Path) -> None:
    (tmp_path / "sitecustomize.py").write_text(CTRL_C_AT_TORCH, encoding="utf-8")
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, f"src/{shim.name}", "--help"],
        cwd=shim.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 130, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert result.stderr.strip() == "interrupted (Ctrl-C) during start-up; nothing was written"


# ------------------------------------------------------------------ not the project's Python


@pytest.mark.parametrize("shim", SHIMS, ids=SHIM_IDS)
def test_a_python_without_the_packages_says_which_python_and_how_to_install(
    shim: Path,
) -> None:
    # -S: no site-packages, so neither torch nor the editable shared packages can be imported,
    # as with a system python3 outside the project's environment.
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [sys.executable, "-S", f"src/{shim.name}", "--help"],
        cwd=shim.parents[1],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr, result.stderr
    message = result.stderr.strip()
    assert message.startswith("No module named "), message
    assert "\n" not in message  # one paragraph
    for words in ("../../.venv/bin/python", "python3 -m venv .venv", "pip install", "README.md"):
        assert words in message, message
