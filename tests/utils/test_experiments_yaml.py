"""An experiments file that sets a key twice is refused, naming the key and both lines (issue 14).

PyYAML's own loaders keep the last value of a repeated key silently; the YAML spec requires keys
to be unique.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from utils.config import load_experiments
from utils.exceptions import ConfigError


def _experiments(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiments.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "text, key, lines",
    [
        # a field set twice inside one experiment
        ("xor:\n  lr: 0.1\n  epochs: 5\n  lr: 1.0\n", "lr", (2, 4)),
        # the same experiment name twice at the top level
        ("xor:\n  lr: 0.1\nsmoke:\n  epochs: 1\nxor:\n  lr: 1.0\n", "xor", (1, 5)),
        # deeper: a dict-valued field
        ("e:\n  class_weights:\n    a: 1\n    a: 2\n", "a", (3, 4)),
        # flow style
        ("e: {lr: 0.1, lr: 0.2}\n", "lr", (1, 1)),
    ],
)
def test_a_repeated_key_is_a_config_error_naming_key_and_lines(
    tmp_path: Path, text: str, key: str, lines: tuple[int, int]
) -> None:
    path = _experiments(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_experiments(path)
    message = str(caught.value)
    assert f"key {key!r} appears twice" in message
    assert f"lines {lines[0]} and {lines[1]}" in message
    assert str(path) in message
    assert "\n" not in message  # one line, as the CLI prints it


def test_equal_keys_in_different_mappings_and_merge_overrides_are_fine(tmp_path: Path) -> None:
    text = (
        "base: &base\n  lr: 0.1\n  epochs: 5\n"
        "xor:\n  <<: *base\n  lr: 1.0\n"  # overriding a merged key is what merge keys are for
        "smoke:\n  lr: 0.5\n"
    )
    experiments = load_experiments(_experiments(tmp_path, text))
    assert experiments["xor"] == {"lr": 1.0, "epochs": 5}
    assert experiments["smoke"] == {"lr": 0.5}


def test_safe_loading_is_kept(tmp_path: Path) -> None:
    path = _experiments(tmp_path, "e: !!python/object/apply:os.system ['true']\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load_experiments(path)
