import random
from pathlib import Path

import numpy as np
import pytest
import torch

from utils.exceptions import ConfigError
from utils.seed import get_rng_state, set_random_seed, set_rng_state


def _draws() -> tuple[list[float], np.ndarray, torch.Tensor, float]:
    return (
        [random.random() for _ in range(5)],
        np.random.rand(5),
        torch.rand(5),
        random.gauss(0.0, 1.0),
    )


def _assert_same(a: tuple, b: tuple) -> None:
    assert a[0] == b[0]
    np.testing.assert_array_equal(a[1], b[1])
    torch.testing.assert_close(a[2], b[2], rtol=0, atol=0)
    assert a[3] == b[3]


def test_same_seed_same_draws() -> None:
    set_random_seed(123)
    first = _draws()
    set_random_seed(123)
    _assert_same(first, _draws())
    set_random_seed(124)
    assert _draws()[0] != first[0]


def test_rng_state_round_trip_through_weights_only_load(tmp_path: Path) -> None:
    set_random_seed(7)
    _draws()
    # leave cached gaussians in numpy and python so those fields are exercised too
    np.random.standard_normal()
    random.gauss(0.0, 1.0)
    state = get_rng_state()
    expected = _draws()
    path = tmp_path / "rng.pt"
    torch.save({"rng": state}, path)
    _draws()  # move every generator on
    loaded = torch.load(path, weights_only=True)["rng"]
    set_rng_state(loaded)
    _assert_same(expected, _draws())


def test_state_contains_only_plain_values_and_tensors() -> None:
    def check(value: object) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                assert isinstance(key, str)
                check(item)
        elif isinstance(value, (list, tuple)):
            for item in value:
                check(item)
        else:
            assert value is None or isinstance(value, (bool, int, float, str, torch.Tensor))

    check(get_rng_state())


def test_deterministic_flag_sets_torch_flags() -> None:
    previous = torch.are_deterministic_algorithms_enabled()
    try:
        set_random_seed(0, deterministic=True)
        assert torch.are_deterministic_algorithms_enabled()
        assert torch.is_deterministic_algorithms_warn_only_enabled()
        assert torch.backends.cudnn.deterministic and not torch.backends.cudnn.benchmark
    finally:
        torch.use_deterministic_algorithms(previous)
        torch.backends.cudnn.deterministic = False


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, "3", True])
def test_bad_seed_rejected(seed: object) -> None:
    with pytest.raises(ConfigError, match="seed"):
        set_random_seed(seed)  # type: ignore[arg-type]


def test_set_rng_state_missing_key() -> None:
    with pytest.raises(ConfigError, match="missing"):
        set_rng_state({"python": {}})
