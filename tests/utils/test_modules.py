import sys
from pathlib import Path

import pytest
import yaml

from utils.config import load_config
from utils.exceptions import ModelError
from utils.modules import load_model_modules, model_dirs

CONFIG_TEMPLATE = """
from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from utils.config import BaseConfig

VALUE = {value!r}


@dataclass
class ModelConfig(BaseConfig):
    width: int = {width}
    mode: Literal["a", "b"] = "a"
"""

TRAIN = """
from config import VALUE, ModelConfig
from model import build


def run() -> str:
    return VALUE + "/" + build()
"""

MODEL = """
from config import VALUE
from helpers import suffix


def build() -> str:
    return "model-" + VALUE + suffix()
"""


def _write_model(root: Path, name: str, value: str, width: int) -> Path:
    src = root / "models" / name / "src"
    src.mkdir(parents=True)
    (src / "config.py").write_text(CONFIG_TEMPLATE.format(value=value, width=width))
    (src / "train.py").write_text(TRAIN)
    (src / "model.py").write_text(MODEL)
    (src / "helpers.py").write_text(f"def suffix() -> str:\n    return '-{value}'\n")
    return root / "models" / name


def test_two_models_keep_their_own_modules(tmp_path: Path) -> None:
    first = _write_model(tmp_path, "01_first", "one", 3)
    second = _write_model(tmp_path, "02_second", "two", 5)
    sentinel = object()
    sys.modules["config"] = sentinel  # type: ignore[assignment]
    path_before = list(sys.path)
    try:
        modules_before = dict(sys.modules)
        a = load_model_modules(first)
        b = load_model_modules(second)
        assert sys.path == path_before
        assert sys.modules["config"] is sentinel
        for name in ("train", "model", "helpers"):
            assert (name in sys.modules) == (name in modules_before)
    finally:
        del sys.modules["config"]

    assert set(vars(a)) == {"config", "model", "train"}
    assert a.config.VALUE == "one" and b.config.VALUE == "two"
    assert a.train.run() == "one/model-one-one"
    assert b.train.run() == "two/model-two-two"
    assert a.train.ModelConfig is a.config.ModelConfig
    assert a.config.ModelConfig().width == 3 and b.config.ModelConfig().width == 5
    assert load_model_modules(first) is a  # cached per resolved folder
    assert load_model_modules(tmp_path / "models" / ".." / "models" / "01_first") is a


def test_configs_of_loaded_models_work_with_load_config(tmp_path: Path) -> None:
    # The config modules are no longer in sys.modules; their string annotations must still
    # resolve (Literal, int) in their own module.
    first = load_model_modules(_write_model(tmp_path, "01_first", "one", 3))
    second = load_model_modules(_write_model(tmp_path, "02_second", "two", 5))
    experiments = tmp_path / "experiments.yaml"
    experiments.write_text(yaml.safe_dump({"smoke": {"width": "7", "mode": "b"}}))
    for modules in (first, second):
        config = load_config(modules.config.ModelConfig, experiments, "smoke", {"epochs": "2"})
        assert (config.width, config.mode, config.epochs) == (7, "b", 2)


def test_missing_src_and_broken_import(tmp_path: Path) -> None:
    (tmp_path / "no_src").mkdir()
    with pytest.raises(ModelError, match="no src/"):
        load_model_modules(tmp_path / "no_src")
    src = tmp_path / "broken" / "src"
    src.mkdir(parents=True)
    (src / "train.py").write_text("from config import NOT_THERE\n")
    (src / "config.py").write_text("X = 1\n")
    path_before = list(sys.path)
    with pytest.raises(ModelError, match="cannot import train"):
        load_model_modules(tmp_path / "broken")
    assert sys.path == path_before
    assert "config" not in sys.modules and "train" not in sys.modules


def test_src_shadowing_shared_package_rejected(tmp_path: Path) -> None:
    src = tmp_path / "bad" / "src"
    src.mkdir(parents=True)
    (src / "utils.py").write_text("")
    with pytest.raises(ModelError, match="shadow the shared packages"):
        load_model_modules(tmp_path / "bad")


def test_model_dirs_registry(tmp_path: Path) -> None:
    _write_model(tmp_path, "02_second", "two", 5)
    _write_model(tmp_path, "01_first", "one", 3)
    (tmp_path / "models" / "03_no_src").mkdir()
    (tmp_path / "models" / "templates" / "src").mkdir(parents=True)
    registry = model_dirs(tmp_path)
    assert list(registry) == ["01_first", "02_second"]
    assert registry["01_first"] == tmp_path / "models" / "01_first"
    assert model_dirs(tmp_path / "empty") == {}


def test_model_dirs_default_root_is_this_repo() -> None:
    repo = Path(__file__).resolve().parents[2]
    assert model_dirs() == model_dirs(repo)
