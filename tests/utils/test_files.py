"""utils.files: atomic writes leave the old file or the new one; plain() makes values plain."""

import json
import math
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from utils.files import atomic_write, plain


def test_atomic_write_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "out.bin"  # the folder is created
    with atomic_write(path) as handle:
        handle.write(b"old")
    with atomic_write(path, "w", encoding="utf-8") as handle:
        handle.write("new é")
    assert path.read_text(encoding="utf-8") == "new é"
    assert [p.name for p in path.parent.iterdir()] == ["out.bin"]


@pytest.mark.parametrize("error", [ValueError("checksum mismatch"), KeyboardInterrupt()])
def test_a_failed_write_keeps_the_old_file_and_removes_the_temporary(
    tmp_path: Path, error: BaseException
) -> None:
    path = tmp_path / "out.json"
    path.write_bytes(b"old")
    with pytest.raises(type(error)):
        with atomic_write(path) as handle:
            handle.write(b"half of the new")
            assert len(list(tmp_path.glob(".out.json.*.tmp"))) == 1  # beside the target
            raise error
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.json"]


def test_a_failed_first_write_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError):
        with atomic_write(tmp_path / "new.pt") as handle:
            handle.write(b"x")
            raise RuntimeError("disk full")
    assert list(tmp_path.iterdir()) == []


def test_an_unwritable_destination_is_an_oserror(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("a file where a folder must be")
    with pytest.raises(OSError):
        with atomic_write(tmp_path / "file" / "out.bin") as handle:
            handle.write(b"x")


KILLED_DURING_WRITE = """
import sys, time
from utils.files import atomic_write
with atomic_write(sys.argv[1]) as handle:
    handle.write(b"half")
    handle.flush()
    print("writing", flush=True)
    time.sleep(120)
"""


def test_a_process_killed_mid_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLED_DURING_WRITE, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "writing", proc.stderr.read()
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert path.read_bytes() == b"old"  # the half-written file is a temporary, never the target


def test_plain_converts_nested_numpy_and_tensor_values() -> None:
    value = {
        "int": np.int64(3),
        "float": np.float32(0.5),
        "float64": np.float64(0.25),  # a float subclass: still made a Python float
        "bool": np.bool_(True),
        "array": np.arange(4).reshape(2, 2),
        "tensor": torch.tensor([1.5, 2.5], requires_grad=True),
        "scalar_tensor": torch.tensor(7),
        "nested": [(np.int32(1), Path("a/b")), {np.int64(2): {3}}],
        "plain": [None, "s", 1, 2.0, False],
    }
    out = plain(value)
    assert out == {
        "int": 3,
        "float": 0.5,
        "float64": 0.25,
        "bool": True,
        "array": [[0, 1], [2, 3]],
        "tensor": [1.5, 2.5],
        "scalar_tensor": 7,
        "nested": [[1, "a/b"], {2: [3]}],
        "plain": [None, "s", 1, 2.0, False],
    }
    assert type(out["int"]) is int and type(out["float64"]) is float
    assert type(out["bool"]) is bool and type(out["nested"][1]) is dict
    assert json.loads(json.dumps(out)) == json.loads(json.dumps(out, sort_keys=True))
    assert yaml.safe_load(yaml.safe_dump(out)) == out  # safe_dump accepts every value


def test_plain_leaves_other_objects_to_default() -> None:
    class Thing:
        def __repr__(self) -> str:
            return "Thing()"

    thing = Thing()
    assert plain({"x": thing})["x"] is thing
    assert plain({"x": thing, "y": [thing]}, repr) == {"x": "Thing()", "y": ["Thing()"]}
    assert math.isnan(plain(np.float64("nan")))
