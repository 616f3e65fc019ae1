"""The model template (docs/templates/model) still works: copied, registered, trained, evaluated.

docs/ is not collected by pytest, so the template's own tests are run here from a copy placed
where a real model would live (models/99_template), exactly as docs/templates/README.md tells
an engineer to copy it.
"""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from utils.modules import model_dirs
from utils.testing import run_script

REPO_ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = REPO_ROOT / "docs" / "templates"
# One torch thread per subprocess: these runs are tiny, and on a CPU shared with other processes
# several intra-op threads make each step 10 to 100 times slower (docs/debugging.md, section 4).
ONE_THREAD = {"OMP_NUM_THREADS": "1"}
PLACEHOLDER = re.compile(r"\[([A-Z][A-Z_]+)[]:]")  # "[YEAR]" or "[HISTORY: ...]"


@pytest.fixture(scope="module")
def copied(tmp_path_factory) -> Path:
    """The template copied to <tmp>/models/99_template, as a new model would be."""
    root = tmp_path_factory.mktemp("repo")
    folder = root / "models" / "99_template"
    shutil.copytree(
        TEMPLATES / "model", folder, ignore=shutil.ignore_patterns("__pycache__", "outputs")
    )
    return folder


def test_a_copy_is_registered_by_existing(copied):
    assert model_dirs(copied.parents[1]) == {"99_template": copied}


def test_copy_trains_its_smoke_experiment_and_evaluates_the_checkpoint(copied):
    result = run_script(copied, "train.py", "--experiment", "smoke", "--no-wandb", env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    assert "epoch 2 |" in result.stderr
    models = copied / "outputs" / "models" / "smoke"
    assert (models / "latest.json").is_file() and list(models.glob("*_final.pt"))

    result = run_script(
        copied,
        "evaluate.py",
        "--checkpoint",
        "latest",
        "--experiment",
        "smoke",
        "--json",
        env=ONE_THREAD,
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["split"] == "test" and metrics["experiment"] == "smoke"
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["num_samples"] > 0


def test_the_templates_own_tests_pass_in_the_copy(copied):
    # The copy lies outside the repository, so name the plugin and import mode pyproject sets.
    # Its command-line test runs the train.py and evaluate.py commands of the test above: skip it.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "tests",
            "-q",
            "-p",
            "utils.testing",
            "-p",
            "no:cacheprovider",
            "--import-mode=importlib",
            "--deselect",
            "tests/test_model.py::test_train_then_evaluate_from_the_command_line",
            "--rootdir",
            str(copied),
        ],
        cwd=copied,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, **ONE_THREAD},
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert " passed" in result.stdout and "skipped" not in result.stdout
    assert "1 deselected" in result.stdout


def test_every_placeholder_is_documented_in_the_readme():
    files = [
        path
        for path in (TEMPLATES / "model").rglob("*")
        if path.suffix in (".py", ".md", ".txt", ".yaml") and "outputs" not in path.parts
    ]
    used = {name for path in files for name in PLACEHOLDER.findall(path.read_text())}
    documented = set(PLACEHOLDER.findall((TEMPLATES / "README.md").read_text()))
    assert {"MODEL_TITLE", "MODEL_NAME", "YEAR", "PAPER"} <= used
    assert used <= documented, f"add to docs/templates/README.md: {sorted(used - documented)}"
