"""The generated sequence problems (data_utils/sequences.py): adding problem, transduction."""

from __future__ import annotations

import pytest
import torch

from data_utils import SequenceTask, batch_size_of, load_dataset
from data_utils.sequences import BOS, EOS, PAD, decode, encode
from utils.exceptions import ConfigError, DataError


def test_adding_marks_one_value_in_each_half_and_its_target_is_their_sum():
    task = load_dataset("adding", seed=3, length=20, train_size=500, val_size=50, test_size=50)
    assert isinstance(task, SequenceTask)
    x, y = task.x_train, task.y_train  # (500, 20, 2), (500,)
    assert x.shape == (500, 20, 2) and y.shape == (500,) and x.dtype == y.dtype == torch.float32
    markers = x[:, :, 1]
    assert torch.equal(markers[:, :10].sum(1), torch.ones(500))  # one marker per half
    assert torch.equal(markers[:, 10:].sum(1), torch.ones(500))
    assert torch.allclose((x[:, :, 0] * markers).sum(1), y)
    # Predicting the mean, 1, scores the variance of a sum of two uniforms: 1/6.
    big = load_dataset("adding", seed=0, length=10, train_size=20_000)
    assert ((big.y_train - 1) ** 2).mean().item() == pytest.approx(1 / 6, abs=0.01)
    assert task.facts() == {"dataset": "adding", "length": 20, "baseline_mse": 1 / 6}


def test_the_same_seed_gives_the_same_sets_and_the_test_set_ignores_the_train_size():
    a = load_dataset("adding", seed=1, length=8, train_size=100)
    b = load_dataset("adding", seed=1, length=8, train_size=300)
    c = load_dataset("adding", seed=2, length=8, train_size=100)
    assert torch.equal(a.x_test, b.x_test) and torch.equal(a.y_val, b.y_val)
    assert not torch.equal(a.x_test, c.x_test)
    r1, r2 = (load_dataset("reverse", seed=1, train_size=200, test_size=100) for _ in range(2))
    assert torch.equal(r1.x_test, r2.x_test) and torch.equal(r1.y_train, r2.y_train)


@pytest.mark.parametrize("task", ["reverse", "sort", "addition"])
def test_transduction_targets_are_the_task_applied_to_the_source(task):
    data = load_dataset(task, seed=0, min_length=5, max_length=12, train_size=300, test_size=200)
    assert data.x_train.shape == (300, 12) and data.x_train.dtype == torch.int64
    lengths = (data.x_train != PAD).sum(1)
    assert int(lengths.min()) >= 5 and int(lengths.max()) <= 12
    for x, y in zip(data.x_test, data.y_test):
        source, target = decode(x), decode(y)
        assert y[0] == BOS and (y == EOS).sum() == 1
        expected = {
            "reverse": source[::-1],
            "sort": "".join(sorted(source)),
            "addition": str(sum(int(part) for part in source.split("+"))),
        }[task]
        assert target == expected
        # Padding sits after the sequence only.
        n = len(source)
        assert (x[:n] != PAD).all() and (x[n:] == PAD).all()


def test_val_and_test_sources_are_never_training_sources():
    data = load_dataset("sort", seed=0, min_length=3, max_length=4, train_size=2000)
    train = {decode(x) for x in data.x_train}
    for split in ("val", "test"):
        assert not train & {decode(x) for x in getattr(data, f"x_{split}")}
    dropped = data.facts()["dropped_as_seen_in_training"]
    assert dropped["test"] > 0 and len(data.x_test) == 2600 - dropped["test"]


def test_loaders_yield_padded_batches_shuffled_by_seed_and_epoch():
    data = load_dataset("reverse", seed=0, train_size=64, val_size=10, test_size=10)
    train, val, test = data.loaders(16, seed=5)
    train.set_epoch(0)
    first = [x.clone() for x, _ in train]
    train.set_epoch(1)
    second = [x.clone() for x, _ in train]
    assert len(first) == 4 and batch_size_of((first[0], None)) == 16
    assert not torch.equal(torch.cat(first), torch.cat(second))
    assert encode("12+3") == [4, 5, 13, 6] and decode([BOS, 4, 5, EOS, 6]) == "12"


@pytest.mark.parametrize(
    "name, options, error, match",
    [
        ("adding", {"length": 1}, ConfigError, "length must be >= 2"),
        ("adding", {"train_size": 0}, ConfigError, "at least one sequence"),
        ("reverse", {"min_length": 9, "max_length": 5}, ConfigError, "min_length <= max_length"),
        ("addition", {"min_length": 2}, ConfigError, "3 <= min_length"),
        ("sort", {"vocab": 3}, DataError, "does not accept"),
    ],
)
def test_bad_options_are_refused_with_the_reason(name, options, error, match):
    with pytest.raises(error, match=match):
        load_dataset(name, **options)
