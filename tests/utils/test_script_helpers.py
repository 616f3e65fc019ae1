"""The two helpers of the model folders' own scripts (compare.py, shift.py, capacity.py, studies):
engine.workflow.script_main, their entry point, and engine.workflow.write_result, their JSON."""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from engine.workflow import script_main, write_result
from utils.exceptions import ConfigError, OutputError


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser()
    p.add_argument("--size", type=int, default=1)
    return p


# ---- write_result ---------------------------------------------------------------------------


def test_write_result_writes_plain_json_and_returns_it(tmp_path: Path, capsys) -> None:
    path = tmp_path / "logs" / "compare.json"  # the folder does not exist yet
    result = {"accuracy": np.float64(0.5), "counts": np.arange(3), "loss": torch.tensor(2.0)}
    written = write_result(result, path)
    assert written == {"accuracy": 0.5, "counts": [0, 1, 2], "loss": 2.0}
    assert path.read_text() == json.dumps(written, indent=2) + "\n"
    assert capsys.readouterr().out == ""  # printed only when asked
    assert not list(path.parent.glob(".*.tmp"))  # no temporary file left behind


def test_write_result_prints_the_result_last_on_stdout_when_asked(tmp_path: Path, capsys) -> None:
    write_result({"experiment": "xor", "shifts": (0, 1)}, tmp_path / "r.json", print_json=True)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == {"experiment": "xor", "shifts": [0, 1]}


def test_write_result_to_an_unwritable_place_is_an_output_error(tmp_path: Path) -> None:
    (tmp_path / "logs").write_text("a file where the folder should be\n")
    with pytest.raises(OutputError, match="cannot write the result .*logs/r.json"):
        write_result({"a": 1}, tmp_path / "logs" / "r.json")


def test_write_result_replaces_an_older_result(tmp_path: Path) -> None:
    path = tmp_path / "r.json"
    write_result({"run": 1}, path)
    write_result({"run": 2}, path)
    assert json.loads(path.read_text()) == {"run": 2}


# ---- script_main ----------------------------------------------------------------------------


def test_script_main_runs_with_the_parsed_options_and_exits_0() -> None:
    seen = []

    def run(args: argparse.Namespace) -> dict:
        seen.append(args.size)
        return {"size": args.size}  # a result, not an exit code

    assert script_main(parser(), run, ["--size", "3"]) == 0
    assert seen == [3]


def test_a_project_error_is_one_log_line_and_exit_1(caplog) -> None:
    def run(args: argparse.Namespace) -> None:
        raise ConfigError(f"size {args.size} is too small")

    with caplog.at_level(logging.ERROR):
        assert script_main(parser(), run, ["--size", "0"]) == 1
    assert "ConfigError: size 0 is too small" in caplog.text


def test_a_bad_option_is_argparse_s_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        script_main(parser(), lambda args: None, ["--size", "many"])
    assert info.value.code == 2
