"""evaluate.py's workflow on a trained run (in process): which experiment a checkpoint was trained
on, one result file per checkpoint, experiment and split, files that are not checkpoints, unknown
experiments, what the decision boundary shows, and the best pointer's monitor."""

from __future__ import annotations

import dataclasses
import json
import logging
from pathlib import Path

import pytest
import torch

import plotting
from engine import workflow
from utils.modules import load_model_modules

# A second experiment on the same kind of data (moons: 2 features, 2 classes), so that the smoke
# checkpoint fits its model but scores other points.
OTHER = """
other:
  dataset: moons
  seed: 7
  test_fraction: 0.3
"""


@pytest.fixture(scope="module")
def spec(kit, tmp_path_factory):
    """The tiny MLP's spec writing to a temporary model folder, with the experiment `other`."""
    folder = tmp_path_factory.mktemp("tiny_mlp")
    base = load_model_modules(kit.fixture_dir).train.SPEC
    experiments = folder / "experiments.yaml"
    experiments.write_text(Path(base.experiments_file).read_text() + OTHER)
    return dataclasses.replace(base, model_dir=folder, experiments_file=experiments)


@pytest.fixture(scope="module")
def trained(spec) -> Path:
    """train.py --experiment smoke, run once in this process; its final checkpoint."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        assert workflow.train_main(spec, ["--experiment", "smoke", "--no-wandb"]) == 0
    finally:
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(level)
    (final,) = (Path(spec.model_dir) / "outputs" / "models" / "smoke").glob("*_final.pt")
    return final


def errors(caplog) -> str:
    return " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR)


def test_another_experiment_is_said_and_never_replaces_the_own_result(
    spec, trained, caplog, restore_logging
):
    argv = ["--checkpoint", str(trained)]
    assert workflow.evaluate_main(spec, argv) == 0
    with caplog.at_level(logging.INFO):
        assert workflow.evaluate_main(spec, argv + ["--experiment", "other"]) == 0
    logs = Path(spec.model_dir) / "outputs" / "logs"
    own = json.loads((logs / f"{trained.stem}.smoke.test.eval.json").read_text())
    other = json.loads((logs / f"{trained.stem}.other.test.eval.json").read_text())
    assert (own["experiment"], own["trained_on"]) == ("smoke", "smoke")
    assert (other["experiment"], other["trained_on"]) == ("other", "smoke")
    assert own["num_samples"] != other["num_samples"]  # other's test split is larger
    messages = " ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "was trained on experiment 'smoke'" in messages and "experiment 'other'" in messages


def test_plots_of_another_experiment_never_replace_the_own_plots(spec, trained, restore_logging):
    argv = ["--checkpoint", str(trained), "--visualize"]
    assert workflow.evaluate_main(spec, argv) == 0
    assert workflow.evaluate_main(spec, argv + ["--experiment", "other"]) == 0
    vis = Path(spec.model_dir) / "outputs" / "visualizations"
    assert (vis / "smoke_eval_confusion.png").is_file()
    assert (vis / "other_eval_of_smoke_confusion.png").is_file()
    assert not (vis / "other_eval_confusion.png").exists()


def write_text(path: Path, trained: Path) -> None:
    path.write_text("root:x:0:0:root:/root:/bin/bash\n")  # /etc/passwd: an IndexError on main


def write_json(path: Path, trained: Path) -> None:
    path.write_text(json.dumps({"path": trained.name, "epoch": 2}))


def write_random(path: Path, trained: Path) -> None:
    path.write_bytes(
        torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(3))
        .to(torch.uint8)
        .numpy()
        .tobytes()
    )


@pytest.mark.parametrize("write", [write_text, write_json, write_random])
@pytest.mark.parametrize(
    "argv",
    [
        ["evaluate", "--checkpoint", "{file}"],
        ["train", "--experiment", "smoke", "--no-wandb", "--resume", "{file}"],
        ["train", "--experiment", "smoke", "--no-wandb", "--load-checkpoint", "{file}"],
    ],
    ids=["evaluate", "resume", "load-checkpoint"],
)
def test_a_file_that_is_not_a_checkpoint_is_one_checkpoint_error(
    spec, trained, tmp_path, caplog, restore_logging, write, argv
):
    path = tmp_path / "model.pt"
    write(path, trained)
    main = workflow.evaluate_main if argv[0] == "evaluate" else workflow.train_main
    assert main(spec, [a.format(file=path) for a in argv[1:]]) == 1
    assert "CheckpointError:" in errors(caplog) and str(path) in errors(caplog)


def test_the_safetensors_export_names_the_checkpoint_to_use(spec, trained, caplog, restore_logging):
    weights = trained.with_suffix(".safetensors")
    assert workflow.evaluate_main(spec, ["--checkpoint", str(weights)]) == 1
    assert "weights-only safetensors export" in errors(caplog)
    assert f"use the checkpoint beside it, {trained}" in errors(caplog)


@pytest.mark.parametrize(
    "main, argv",
    [
        (workflow.evaluate_main, ["--checkpoint", "latest", "--experiment", "smoek"]),
        (workflow.evaluate_main, ["--checkpoint", "best", "--experiment", "smoek"]),
        (workflow.train_main, ["--resume", "latest", "--experiment", "smoek", "--no-wandb"]),
    ],
    ids=["evaluate-latest", "evaluate-best", "resume-latest"],
)
def test_an_unknown_experiment_lists_the_experiments(
    spec, trained, caplog, restore_logging, main, argv
):
    assert main(spec, argv) == 1
    assert "ConfigError: unknown experiment 'smoek'" in errors(caplog)
    assert "available: ddp, other, smoke" in errors(caplog)


def test_the_decision_boundary_shows_the_points_that_were_scored(
    spec, trained, monkeypatch, restore_logging
):
    drawn = {}

    def boundary(predict, x, y, path, title="", **kwargs):
        drawn.update(x=x, y=y, title=title)
        return Path(path)

    monkeypatch.setattr(plotting, "plot_decision_boundary", boundary)
    for name in ("plot_learning_curves", "plot_gradient_audit", "plot_confusion_matrix"):
        monkeypatch.setattr(plotting, name, lambda *args, **kwargs: Path(args[-1]))
    argv = ["--checkpoint", str(trained), "--visualize"]
    assert workflow.evaluate_main(spec, argv) == 0
    model, config, splits, _ = workflow.load_trained(spec, str(trained))
    assert torch.equal(torch.as_tensor(drawn["x"]), splits.x_test)
    assert torch.equal(torch.as_tensor(drawn["y"]), splits.y_test)
    assert "(test points)" in drawn["title"]

    # At training time the training points, and the title says so.
    evaluator = workflow.Evaluator(model)
    loader = splits.loaders(config.batch_size, seed=config.seed)[1]
    vis = workflow.RunPaths.create(spec.model_dir, config.experiment).vis_dir
    workflow.make_plots(spec, model, evaluator, splits, loader, vis, prefix="t")
    assert torch.equal(torch.as_tensor(drawn["x"]), splits.x_train)
    assert "(training points)" in drawn["title"]


def test_the_best_pointer_records_the_monitored_metric(spec, trained):
    best = json.loads((trained.parent / "best.json").read_text())
    assert (best["monitor"], best["mode"]) == ("val_accuracy", "max")
    assert best["runs"][best["run_name"]]["monitor"] == "val_accuracy"
