"""``--checkpoint`` / ``--load-checkpoint wandb:NAME``: a wandb model artifact as a checkpoint.

Offline (the default, and always here) it is one clear CheckpointError that never imports wandb;
online it is fetched into the user cache and loaded with the same safe loader. The online path
runs against a fake ``wandb.Api``: nothing here reaches the network.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch
import wandb

from engine import tracking
from engine.checkpoint import resolve_checkpoint, save_checkpoint
from utils.exceptions import CheckpointError
from utils.modules import REPO_ROOT
from utils.testing import assert_clean_failure, copy_model, run_script

NAME = "wandb:me/proj/perceptron-xor:v3"


def checkpoint_state() -> dict:
    return {"model_name": "perceptron", "model_state": {"w": torch.arange(3.0)}, "epoch": 2}


class FakeArtifact:
    """What wandb.Api().artifact returns, as far as fetch_model_artifact reads it."""

    entity, project, name, version = "me", "proj", "perceptron-xor:v3", "v3"

    def __init__(self, write) -> None:
        self.write = write

    def download(self, root: str) -> str:
        Path(root).mkdir(parents=True, exist_ok=True)
        self.write(Path(root))
        return root


def fake_api(monkeypatch, write=None, error: Exception | None = None) -> list:
    """Make wandb online (logged in) and wandb.Api a fake; the (name, type) it was asked for."""
    asked = []

    class FakeApi:
        def artifact(self, name: str, type: str | None = None) -> FakeArtifact:
            asked.append((name, type))
            if error is not None:
                raise error
            return FakeArtifact(write)

    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setattr(tracking, "_logged_in", lambda: True)
    monkeypatch.setattr(wandb, "Api", FakeApi)
    assert tracking.resolve_wandb_mode(True) == "online"
    return asked


def one_checkpoint(root: Path) -> None:
    save_checkpoint(checkpoint_state(), root / "perceptron_xor_epoch002_final.pt")


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch) -> Path:
    """The user cache (data_utils.cache_dir) in a temporary folder."""
    folder = tmp_path / "cache"
    monkeypatch.setenv("AIFS_CACHE_DIR", str(folder))
    return folder


# ------------------------------------------------------------------------------------ offline


@pytest.mark.parametrize(
    ("mode", "logged_in", "reason"),
    [
        ("disabled", True, "WANDB_MODE is disabled"),
        ("offline", True, "WANDB_MODE is offline"),
        ("", True, "WANDB_MODE is unset"),
        ("online", False, "WANDB_MODE is online but nobody is logged in"),
    ],
)
def test_offline_is_one_line_saying_why_and_what_to_pass_and_never_imports_wandb(
    monkeypatch, mode, logged_in, reason
):
    monkeypatch.setenv("WANDB_MODE", mode)
    monkeypatch.setattr(tracking, "_logged_in", lambda: logged_in)
    monkeypatch.setitem(sys.modules, "wandb", None)  # importing wandb now raises ImportError
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint(NAME)
    message = str(err.value)
    assert message == (
        "cannot fetch wandb artifact me/proj/perceptron-xor:v3: wandb is offline "
        f"({reason}); download it where wandb is online with `wandb artifact get --root DIR "
        "me/proj/perceptron-xor:v3` and pass the .pt file in DIR, or set WANDB_MODE=online "
        "after `wandb login`"
    )
    assert "\n" not in message


@pytest.mark.parametrize(
    "spec",
    [
        "wandb:",
        "wandb:perceptron-xor",
        "wandb:me/proj/perceptron-xor",
        "wandb:me/proj/perceptron-xor:",
        "wandb:me/proj/:v3",
        "wandb:a/b/c/perceptron-xor:v3",
        "wandb:me proj/perceptron-xor:v3",
    ],
)
def test_a_malformed_name_says_the_expected_form(monkeypatch, spec):
    asked = fake_api(monkeypatch, one_checkpoint)  # online: the name alone is refused
    with pytest.raises(CheckpointError, match="expected wandb:ENTITY/PROJECT/NAME:VERSION") as err:
        resolve_checkpoint(spec)
    assert repr(spec) in str(err.value)
    assert asked == []


# ------------------------------------------------------------------------------------- online


def test_online_fetches_into_the_cache_and_loads_the_checkpoint(monkeypatch, cache):
    asked = fake_api(monkeypatch, one_checkpoint)
    state = resolve_checkpoint(NAME)
    assert asked == [("me/proj/perceptron-xor:v3", "model")]
    folder = cache / "wandb" / "me" / "proj" / "perceptron-xor" / "v3"
    assert state["path"] == str(folder / "perceptron_xor_epoch002_final.pt")
    assert state["source"] == NAME
    assert state["model_name"] == "perceptron" and state["epoch"] == 2
    torch.testing.assert_close(state["model_state"]["w"], torch.arange(3.0))


@pytest.mark.parametrize(
    ("spec", "asked_for"),
    [
        ("wandb:proj/perceptron-xor:v3", "proj/perceptron-xor:v3"),
        ("wandb:perceptron-xor:latest", f"{tracking.WANDB_PROJECT}/perceptron-xor:latest"),
    ],
)
def test_shorter_names_and_aliases_cache_under_the_resolved_version(
    monkeypatch, cache, spec, asked_for
):
    asked = fake_api(monkeypatch, one_checkpoint)
    state = resolve_checkpoint(spec)
    assert asked == [(asked_for, "model")]
    assert Path(state["path"]).parent == cache / "wandb" / "me" / "proj" / "perceptron-xor" / "v3"
    assert state["source"] == spec


def two_checkpoints(root: Path) -> None:
    save_checkpoint(checkpoint_state(), root / "a.pt")
    save_checkpoint(checkpoint_state(), root / "sub" / "b.pt")


def no_checkpoint(root: Path) -> None:
    (root / "weights.safetensors").write_bytes(b"0" * 16)


@pytest.mark.parametrize(
    ("write", "words"),
    [
        (no_checkpoint, ["holds 0 .pt files", "weights.safetensors"]),
        (two_checkpoints, ["holds 2 .pt files", "a.pt", "b.pt"]),
    ],
)
def test_an_artifact_without_exactly_one_checkpoint_is_refused(monkeypatch, write, words):
    fake_api(monkeypatch, write)
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint(NAME)
    assert "wandb artifact me/proj/perceptron-xor:v3" in str(err.value)
    for word in words:
        assert word in str(err.value)


def test_a_downloaded_file_that_is_no_checkpoint_is_refused_by_the_safe_loader(monkeypatch):
    fake_api(monkeypatch, lambda root: (root / "model.pt").write_text("not a checkpoint"))
    with pytest.raises(CheckpointError, match="not a PyTorch file"):
        resolve_checkpoint(NAME)


@pytest.mark.parametrize(
    "error",
    [
        wandb.errors.CommError("project me/proj does not contain artifact perceptron-xor:v3"),
        wandb.errors.AuthenticationError("API key is invalid"),
        ValueError("type 'model' specified but this artifact is of type 'dataset'"),
        ConnectionError("connection refused"),
    ],
)
def test_a_wandb_error_is_a_checkpoint_error_with_the_name_and_the_reason(monkeypatch, error):
    fake_api(monkeypatch, error=error)
    with pytest.raises(CheckpointError) as err:
        resolve_checkpoint(NAME)
    message = str(err.value)
    assert message.startswith("cannot fetch wandb artifact me/proj/perceptron-xor:v3: ")
    assert f"{type(error).__name__}: {error}" in message
    assert err.value.__cause__ is error


# ---------------------------------------------------------------------------------------- CLI


def test_evaluate_with_a_wandb_checkpoint_offline_fails_in_one_clean_line(tmp_path):
    model = copy_model(REPO_ROOT / "models" / "01_perceptron", tmp_path)
    result = run_script(model, "evaluate.py", "--checkpoint", NAME, env={"OMP_NUM_THREADS": "1"})
    assert_clean_failure(
        result,
        "CheckpointError",
        "cannot fetch wandb artifact me/proj/perceptron-xor:v3",
        "wandb is offline (WANDB_MODE is disabled)",
        "wandb artifact get --root DIR me/proj/perceptron-xor:v3",
    )
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if "ERROR" in line]
    assert len(errors) == 1, result.stderr
