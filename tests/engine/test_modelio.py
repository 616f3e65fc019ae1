"""NumPy models' state through ``array_state`` and ``load_array_state``; ``evaluating``."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine.modelio import array_state, evaluating, load_array_state, load_model_state, model_state


class Counter:
    """A NumPy model's state in miniature: float weights, int labels, a Python int counter."""

    DTYPES = {"weight": np.float64, "labels": np.int64, "steps": int}

    def __init__(self, n: int) -> None:
        self.weight = np.zeros((2, n))
        self.labels = -np.ones(n, dtype=np.int64)
        self.steps = 0

    def state_dict(self) -> dict[str, np.ndarray]:
        return array_state(self, list(self.DTYPES))

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        load_array_state(self, state, self.DTYPES)


def test_array_state_round_trips_through_a_checkpoint_state():
    model = Counter(3)
    model.weight += np.arange(6).reshape(2, 3)
    model.labels[1], model.steps = 7, 5
    state = model.state_dict()
    assert state["steps"].dtype == np.int64 and state["steps"].shape == ()
    checkpoint = model_state(model)  # CPU tensors, as a checkpoint stores them
    model.weight[0, 0] = 99.0
    assert state["weight"][0, 0] == 0.0, "the state is a copy"

    other = Counter(3)
    load_model_state(other, checkpoint)
    np.testing.assert_array_equal(other.weight, state["weight"])
    assert other.labels.dtype == np.int64 and other.labels[1] == 7
    assert other.steps == 5 and isinstance(other.steps, int)


def test_load_array_state_refuses_another_shape():
    state = array_state(Counter(3), ["weight"])
    with pytest.raises(AssertionError, match=r"weight shape \(2, 3\) does not match.*\(2, 4\)"):
        load_array_state(Counter(4), state, {"weight": np.float64})


@pytest.mark.parametrize("training", [True, False])
def test_evaluating_is_eval_mode_without_gradients_and_restores_the_mode(training):
    model = nn.Sequential(nn.Linear(2, 2), nn.Dropout(0.5)).train(training)
    with evaluating(model):
        assert not model.training and not torch.is_grad_enabled()
        model(torch.ones(1, 2))
    assert model.training == training and torch.is_grad_enabled()
