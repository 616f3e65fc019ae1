import re
from pathlib import Path

import pytest

from utils.exceptions import ConfigError
from utils.paths import RunPaths


def test_create_makes_folders_and_names(tmp_path: Path) -> None:
    paths = RunPaths.create(tmp_path, "xor")
    assert paths.logs_dir == tmp_path / "outputs" / "logs" and paths.logs_dir.is_dir()
    assert paths.models_dir == tmp_path / "outputs" / "models" and paths.models_dir.is_dir()
    assert paths.vis_dir == tmp_path / "outputs" / "visualizations" and paths.vis_dir.is_dir()
    assert re.fullmatch(r"xor_\d{8}-\d{6}", paths.run_name)
    assert paths.log_file == paths.logs_dir / f"{paths.run_name}.log"
    assert paths.metrics_file == paths.logs_dir / f"{paths.run_name}.metrics.jsonl"
    assert paths.metadata_file == paths.logs_dir / f"{paths.run_name}.meta.yaml"


def test_existing_log_gets_numeric_suffix(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("utils.paths.time.strftime", lambda fmt: "20240101-120000")
    first = RunPaths.create(tmp_path, "xor")
    first.log_file.write_text("x")
    second = RunPaths.create(tmp_path, "xor")
    second.log_file.write_text("x")
    third = RunPaths.create(tmp_path, "xor")
    assert [first.run_name, second.run_name, third.run_name] == [
        "xor_20240101-120000",
        "xor_20240101-120000_2",
        "xor_20240101-120000_3",
    ]


def test_explicit_run_name_used_as_given(tmp_path: Path) -> None:
    paths = RunPaths.create(tmp_path, "xor", run_name="resume_me")
    paths.log_file.write_text("x")
    assert RunPaths.create(tmp_path, "xor", run_name="resume_me").run_name == "resume_me"


@pytest.mark.parametrize("experiment, run_name", [("", None), ("a/b", None), ("xor", "")])
def test_bad_names_rejected(tmp_path: Path, experiment: str, run_name: str | None) -> None:
    with pytest.raises(ConfigError, match="cannot name a run"):
        RunPaths.create(tmp_path, experiment, run_name=run_name)
