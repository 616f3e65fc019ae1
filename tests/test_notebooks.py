"""The models' analysis notebooks (issue 21): committed executed and small, and still running.

Each model's notebooks/analysis.ipynb is executed here in a fresh, offline kernel on checkpoints
of the model's tiny ``smoke`` experiment, trained in a temporary copy of the model (or shared by
the model's own command-line test, which trained the same experiment earlier in the session:
utils.testing.share_smoke_checkpoint; pyproject's testpaths run the models' tests first): a notebook
whose code no longer fits the project's API fails this test, not a reader. The committed copy
is checked as it is (every cell executed, no error, under 1 MB); docs/run_notebooks.py, which
re-executes them on the real checkpoints, is checked against the models that have a notebook.
"""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from engine.notebook import open_trained
from utils.exceptions import CheckpointError
from utils.modules import model_dirs
from utils.notebooks import (
    NotebookError,
    execute_notebook,
    execution_problems,
    inject_parameters,
    notebook_parameters,
    read_notebook,
)
from utils.registry import MODELS, model_config
from utils.testing import copy_model, needs_data_files, run_script, shared_smoke_checkpoint

REPO_ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = Path("notebooks") / "analysis.ipynb"
WITH_NOTEBOOK = [d for d in model_dirs(REPO_ROOT).values() if (d / NOTEBOOK).is_file()]


def load_runner():
    sys.path.insert(0, str(REPO_ROOT / "docs"))  # run_notebooks imports make_figures beside it
    try:
        path = REPO_ROOT / "docs" / "run_notebooks.py"
        spec = importlib.util.spec_from_file_location("run_notebooks", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(REPO_ROOT / "docs"))
    return module


def tiny_notebook(path: Path, *code: str, parameters: str = "A = 1\nB = {'x': 'best'}") -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# tiny"),
        nbformat.v4.new_code_cell(parameters, metadata={"tags": ["parameters"]}),
        *(nbformat.v4.new_code_cell(source) for source in code),
    ]
    nbformat.write(nb, str(path))
    return path


# ------------------------------------------------------------------------ utils.notebooks


def test_parameters_are_read_and_overridden_by_an_injected_cell(tmp_path):
    nb = read_notebook(tiny_notebook(tmp_path / "t.ipynb", "print(A, B)"))
    assert notebook_parameters(nb) == {"A": 1, "B": {"x": "best"}}
    inject_parameters(nb, {"A": 2})
    inject_parameters(nb, {"B": {"x": "/tmp/c.pt"}})  # replaces the first injection
    injected = [c for c in nb.cells if "injected-parameters" in c.metadata.get("tags", [])]
    assert [c.source for c in injected] == ["B = {'x': '/tmp/c.pt'}"]
    assert nb.cells.index(injected[0]) == 2  # right after the parameters cell


def test_bad_parameters_are_a_notebook_error(tmp_path):
    with pytest.raises(NotebookError, match="only assign literals"):
        notebook_parameters(
            read_notebook(tiny_notebook(tmp_path / "a.ipynb", parameters="A = f()"))
        )
    nb = read_notebook(tiny_notebook(tmp_path / "b.ipynb"))
    with pytest.raises(NotebookError, match=r"no such parameters \['C'\]"):
        inject_parameters(nb, {"C": 3})
    nb.cells[1].metadata["tags"] = []
    with pytest.raises(NotebookError, match="exactly one code cell tagged 'parameters'"):
        notebook_parameters(nb)
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{not json")
    with pytest.raises(NotebookError, match="not a readable notebook"):
        read_notebook(broken)


def test_execute_runs_offline_with_overrides_and_reports_a_failing_cell(tmp_path):
    path = tiny_notebook(
        tmp_path / "t.ipynb", "import os\nprint(A, B['x'], os.environ['WANDB_MODE'], os.getcwd())"
    )
    nb = execute_notebook(path, {"A": 7}, timeout=60)
    out = nb.cells[-1].outputs[0].text.split()
    assert out == ["7", "best", "disabled", str(tmp_path)]
    assert execution_problems(nb) == ["notebook: cell 3 holds injected parameters"]
    assert execution_problems(read_notebook(path)) == [
        "notebook: cell 2 was not executed",
        "notebook: cell 3 was not executed",
    ]
    failing = tiny_notebook(tmp_path / "f.ipynb", "raise ValueError('the cell failed')")
    with pytest.raises(NotebookError, match="the cell failed"):
        execute_notebook(failing, timeout=60)


def test_a_notebook_over_the_size_limit_is_reported(tmp_path):
    nb = read_notebook(tiny_notebook(tmp_path / "t.ipynb"))
    nb.cells[1].execution_count = 1
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="x" * 1_100_000)]
    (problem,) = execution_problems(nb, "t.ipynb")
    assert problem.startswith("t.ipynb: ") and problem.endswith("bytes, more than 1000000")


# ------------------------------------------------------------------------ engine.notebook


def test_open_trained_without_a_checkpoint_says_how_to_train_one(tmp_path, monkeypatch):
    from engine import workflow

    monkeypatch.setattr(workflow, "_experiment_dir", lambda spec, experiment: tmp_path / "none")
    with pytest.raises(CheckpointError, match="run_notebooks.py --models 01_perceptron --train"):
        open_trained("perceptron", "latest", "xor", figures_dir=tmp_path)
    with pytest.raises(CheckpointError, match="missing.pt"):
        open_trained("perceptron", str(tmp_path / "missing.pt"), figures_dir=tmp_path)


@pytest.fixture(scope="module")
def smoke_checkpoint(tmp_path_factory):
    """A perceptron checkpoint of the smoke experiment, trained in a temporary copy."""
    model = copy_model(model_dirs(REPO_ROOT)["01_perceptron"], tmp_path_factory.mktemp("smoke"))
    trained = run_script(model, "train.py", "--experiment", "smoke", "--no-wandb")
    assert trained.returncode == 0, trained.stderr
    (checkpoint,) = (model / "outputs" / "models" / "smoke").glob("*_final.pt")
    return checkpoint


def test_a_trained_run_scores_as_evaluate_does_and_samples_the_same_examples(
    smoke_checkpoint, tmp_path
):
    run = open_trained("perceptron", str(smoke_checkpoint), figures_dir=tmp_path)
    assert run.experiment == "smoke" and run.state["path"] == str(smoke_checkpoint)
    result = run_script(
        smoke_checkpoint.parents[3], "evaluate.py", "--checkpoint", str(smoke_checkpoint), "--json"
    )
    expected = json.loads(result.stdout.strip().splitlines()[-1])
    assert run.metrics() == {k: expected[k] for k in ("loss", "accuracy", "num_samples")}
    every = torch.cat([y for _, y in run.loader("test")])
    assert torch.equal(every, run.splits.y_test)
    first = [(x.clone(), y.clone()) for x, y in run.loader("test", samples=5)]
    again = list(run.loader("test", samples=5))
    assert sum(len(y) for _, y in first) == 5
    assert all(torch.equal(a[0], b[0]) and torch.equal(a[1], b[1]) for a, b in zip(first, again))
    run.splits.transform = lambda x: x + 100.0  # the data's own per-batch transform is applied
    x, _ = next(iter(run.loader("test", samples=5)))
    assert torch.allclose(x, first[0][0] + 100.0)
    figures = run.figures()
    assert {"learning_curves", "confusion_matrix", "decision_boundary"} <= set(figures)
    assert all(path.parent == tmp_path and path.is_file() for path in figures.values())


# ------------------------------------------------------------------------ the models' notebooks


def test_the_runner_table_names_exactly_the_models_with_a_notebook():
    runner = load_runner()
    assert sorted(runner.NOTEBOOK_NEEDS) == sorted(d.name for d in WITH_NOTEBOOK)
    for model, commands in runner.NOTEBOOK_NEEDS.items():
        assert commands and all(c.startswith("python src/") for c in commands), model


@pytest.mark.parametrize("model_dir", WITH_NOTEBOOK, ids=lambda d: d.name)
def test_committed_notebook_is_executed_clean_and_small(model_dir):
    path = model_dir / NOTEBOOK
    assert execution_problems(read_notebook(path), path.name) == []
    assert path.stat().st_size < 1_000_000


# Parameters that only size a notebook's computation (samples scored, importance samples):
# on the tiny smoke checkpoints the code paths are what is tested, so the sizes shrink.
SMOKE_SIZES = {
    "19_vae": {"IWAE_K": 2, "PCA_STEPS": 30},
    "20_gan": {"NUM_SAMPLES": 500, "EPOCH_SAMPLES": 200},
    "22_ddpm": {"COST_SAMPLES": 2, "RESPACED_STEPS": 10},
}


def test_smoke_sizes_name_parameters_the_notebooks_have():
    for folder, sizes in SMOKE_SIZES.items():
        path = REPO_ROOT / "models" / folder / NOTEBOOK
        assert set(sizes) <= set(notebook_parameters(read_notebook(path), path)), folder


@pytest.mark.parametrize("model_dir", WITH_NOTEBOOK, ids=lambda d: d.name)
def test_notebook_runs_on_smoke_checkpoints(model_dir, tmp_path):
    name = {folder: key for key, folder in MODELS.items()}[model_dir.name]
    dataset = model_config(name, "smoke").dataset
    if needs_data_files(dataset) and not os.environ.get("AIFS_DATA_DIR"):
        pytest.skip(f"{name}'s smoke experiment reads {dataset!r}: set AIFS_DATA_DIR to run it")
    offline = {"AIFS_OFFLINE": "1", "AIFS_CACHE_DIR": str(tmp_path / "cache")}  # no downloads
    checkpoint = shared_smoke_checkpoint(model_dir.name)
    if checkpoint is None:  # no earlier test of this session trained it: train it here
        model = copy_model(model_dir, tmp_path)
        trained = run_script(model, "train.py", "--experiment", "smoke", "--no-wandb", env=offline)
        assert trained.returncode == 0, trained.stderr
        (checkpoint,) = (model / "outputs" / "models" / "smoke").glob("*_final.pt")
    path = model_dir / NOTEBOOK
    checkpoints = notebook_parameters(read_notebook(path), path)["CHECKPOINTS"]
    nb = execute_notebook(
        path,
        {
            "CHECKPOINTS": {experiment: str(checkpoint) for experiment in checkpoints},
            "FIGURES_DIR": str(tmp_path / "figures"),
            **SMOKE_SIZES.get(model_dir.name, {}),
        },
        timeout=300,
        env=offline,
    )
    assert not [p for p in execution_problems(nb, path.name) if "injected" not in p]
    shown = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if "image/png" in out.get("data", {})
    ]
    assert shown, "the notebook shows no figure"
