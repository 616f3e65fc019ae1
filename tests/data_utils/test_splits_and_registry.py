"""Registry, deterministic stratified splits and train-only standardisation (issue 2)."""

from __future__ import annotations

import pytest
import torch

from data_utils import (
    DATASETS,
    DatasetSplits,
    RawDataset,
    load_dataset,
    stratified_split,
    subsample_splits,
)
from utils.exceptions import ConfigError, DataError

SMALL_SETS = [
    "xor",
    "blobs",
    "circles",
    "moons",
    "spirals",
    "iris",
    "iris_binary",
    "iris_hard",
    "breast_cancer",
    "digits",
    "wine",
]
EXPECTED_SIZES = {  # name: (N, num_features, num_classes)
    "iris": (150, 4, 3),
    "iris_binary": (100, 4, 2),
    "iris_hard": (100, 4, 2),
    "breast_cancer": (569, 30, 2),
    "digits": (1797, 64, 10),
    "wine": (178, 13, 3),
}


def _rows(x: torch.Tensor) -> set[tuple[float, ...]]:
    return {tuple(row.tolist()) for row in x.flatten(1)}


def test_registry_is_a_plain_dict_with_the_issue_2_sets() -> None:
    assert type(DATASETS) is dict
    assert set(SMALL_SETS) <= set(DATASETS)


@pytest.mark.parametrize("name", SMALL_SETS)
def test_label_convention_and_shapes(name: str) -> None:
    splits = load_dataset(name, seed=0)
    assert isinstance(splits, DatasetSplits)
    for x, y in [
        (splits.x_train, splits.y_train),
        (splits.x_val, splits.y_val),
        (splits.x_test, splits.y_test),
    ]:
        assert x.dtype == torch.float32
        assert y.dtype == torch.int64 and y.dim() == 1 and len(y) == len(x) > 0
        assert x.shape[1:] == splits.x_train.shape[1:]
        assert int(y.min()) >= 0 and int(y.max()) < splits.num_classes
    assert len(splits.class_names) == splits.num_classes
    assert splits.num_features == splits.x_train[0].numel()
    assert set(splits.y_train.tolist()) == set(range(splits.num_classes))
    if name in EXPECTED_SIZES:
        n, features, classes = EXPECTED_SIZES[name]
        assert len(splits.y_train) + len(splits.y_val) + len(splits.y_test) == n
        assert splits.input_shape == (features,)
        assert splits.num_classes == classes


@pytest.mark.parametrize("name", [n for n in SMALL_SETS if n != "xor"])
def test_splits_are_deterministic_and_disjoint(name: str) -> None:
    first = load_dataset(name, seed=7, standardize=False)
    again = load_dataset(name, seed=7, standardize=False)
    other = load_dataset(name, seed=8, standardize=False)
    for attr in ("x_train", "y_train", "x_val", "y_val", "x_test", "y_test"):
        assert torch.equal(getattr(first, attr), getattr(again, attr)), attr
    assert not torch.equal(first.x_test, other.x_test)
    # iris has duplicate flowers: rows that occur twice in the source may legitimately appear in
    # two splits, every other row must be in exactly one
    all_x = torch.cat([first.x_train, first.x_val, first.x_test])
    rows, counts = torch.unique(all_x, dim=0, return_counts=True)
    duplicates = _rows(rows[counts > 1])
    train, val, test = (_rows(x) - duplicates for x in (first.x_train, first.x_val, first.x_test))
    assert not train & val and not train & test and not val & test
    assert len(train) + len(val) + len(test) + len(duplicates) == len(rows)


def test_split_indices_are_disjoint_for_a_registered_set(monkeypatch) -> None:
    def load_tagged(*, seed: int = 0, data_dir=None) -> RawDataset:
        x = torch.arange(300, dtype=torch.float32).unsqueeze(1)  # (300, 1): row i holds i
        return RawDataset(x=x, y=torch.arange(300) % 3, num_classes=3, class_names=list("abc"))

    monkeypatch.setitem(DATASETS, "tagged", load_tagged)
    splits = load_dataset("tagged", seed=1, standardize=False)
    ids = [set(x.squeeze(1).long().tolist()) for x in (splits.x_train, splits.x_val, splits.x_test)]
    assert [len(i) for i in ids] == [210, 45, 45]
    assert not ids[0] & ids[1] and not ids[0] & ids[2] and not ids[1] & ids[2]
    assert ids[0] | ids[1] | ids[2] == set(range(300))
    for x, y in [(splits.x_train, splits.y_train), (splits.x_test, splits.y_test)]:
        assert torch.equal(x.squeeze(1).long() % 3, y)  # labels travel with their rows


def test_split_indices_partition_and_are_stratified() -> None:
    y = torch.tensor([0] * 60 + [1] * 30 + [2] * 10)
    train, val, test = stratified_split(y, 0.2, 0.1, seed=3)
    together = torch.cat([train, val, test])
    assert sorted(together.tolist()) == list(range(100))
    assert (len(train), len(val), len(test)) == (70, 20, 10)
    assert y[test].bincount(minlength=3).tolist() == [6, 3, 1]
    assert y[val].bincount(minlength=3).tolist() == [12, 6, 2]
    again = stratified_split(y, 0.2, 0.1, seed=3)
    assert all(torch.equal(a, b) for a, b in zip((train, val, test), again))


def test_split_that_leaves_no_training_example_is_a_data_error() -> None:
    with pytest.raises(DataError, match="training example"):
        stratified_split(torch.tensor([0, 1]), 0.5, 0.5, seed=0)


def test_standardisation_uses_training_statistics_only() -> None:
    raw = load_dataset("wine", seed=5, standardize=False)
    std = load_dataset("wine", seed=5, standardize=True)
    mean, sd = raw.x_train.mean(0), raw.x_train.std(0, unbiased=False)
    torch.testing.assert_close(std.mean, mean)
    torch.testing.assert_close(std.std, sd)
    torch.testing.assert_close(std.x_train.mean(0), torch.zeros(13), atol=1e-5, rtol=0)
    torch.testing.assert_close(std.x_train.std(0, unbiased=False), torch.ones(13))
    # val/test are transformed with the training statistics, not their own
    torch.testing.assert_close(std.x_val, (raw.x_val - mean) / sd)
    torch.testing.assert_close(std.x_test, (raw.x_test - mean) / sd)
    assert not torch.allclose(std.x_test.mean(0), torch.zeros(13), atol=1e-3)


def test_constant_features_are_centred_not_divided_by_zero() -> None:
    splits = load_dataset("digits", seed=0)  # pixel 0 is always 0
    assert torch.isfinite(splits.x_train).all() and torch.isfinite(splits.x_test).all()
    assert float(splits.std[0]) == 1.0


def test_xor_is_the_truth_table_with_a_fixed_split() -> None:
    splits = load_dataset("xor", standardize=False)
    table = torch.tensor([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    assert torch.equal(splits.x_train, table)
    assert splits.y_train.tolist() == [0, 1, 1, 0]
    assert torch.equal(splits.x_val, table) and torch.equal(splits.x_test, table)


def test_blobs_are_linearly_separable_with_a_margin() -> None:
    raw = DATASETS["blobs"](seed=11, n_samples=500, noise=2.0, margin=0.25)
    projection = raw.x.sum(dim=1) / 2**0.5  # signed distance to the line x1 + x2 = 0
    sign = torch.where(raw.y == 1, 1.0, -1.0)
    assert float((sign * projection).min()) >= 0.25
    assert raw.y.bincount().tolist() == [250, 250]


@pytest.mark.parametrize("name", ["blobs", "circles", "moons", "spirals"])
def test_synthetic_options_and_seed(name: str) -> None:
    a = DATASETS[name](seed=1, n_samples=101)
    b = DATASETS[name](seed=1, n_samples=101)
    c = DATASETS[name](seed=2, n_samples=101)
    assert isinstance(a, RawDataset) and a.x.shape == (101, 2)
    assert torch.equal(a.x, b.x) and not torch.equal(a.x, c.x)


def test_iris_pairs_use_the_right_species() -> None:
    easy = DATASETS["iris_binary"]()
    hard = DATASETS["iris_hard"]()
    assert easy.class_names == ["setosa", "versicolor"]
    assert hard.class_names == ["versicolor", "virginica"]
    assert easy.y.bincount().tolist() == [50, 50] == hard.y.bincount().tolist()


def test_unknown_name_lists_the_registry() -> None:
    with pytest.raises(DataError, match="unknown data set 'imagenet'") as info:
        load_dataset("imagenet")
    for name in SMALL_SETS:
        assert name in str(info.value)


def test_unknown_option_lists_the_accepted_ones() -> None:
    with pytest.raises(DataError, match="n_samples"):
        load_dataset("moons", n_smaples=10)


def test_options_of_non_array_sets_are_checked_before_reading_files(tmp_path) -> None:
    empty = tmp_path / "empty"  # no files needed to refuse these
    with pytest.raises(DataError, match="block_size"):
        load_dataset("cora", data_dir=empty, block_size=8)  # a text option given to a graph
    with pytest.raises(ConfigError, match="block_size must be an integer >= 1"):
        load_dataset("tiny_shakespeare", data_dir=empty, block_size=0)


def test_every_registered_loader_accepts_seed_and_data_dir() -> None:
    import inspect

    for name, loader in DATASETS.items():
        params = inspect.signature(loader).parameters
        assert "seed" in params and "data_dir" in params, name
        assert all(p.kind == p.KEYWORD_ONLY for p in params.values()), name


def test_subsample_splits_is_a_seeded_random_subset_of_each_split() -> None:
    splits = load_dataset("digits", seed=0)
    small = subsample_splits(splits, 100, 20, 30, seed=5)
    assert (len(small.y_train), len(small.y_val), len(small.y_test)) == (100, 20, 30)
    for part in ("train", "val", "test"):
        rows = _rows(getattr(splits, f"x_{part}"))
        assert _rows(getattr(small, f"x_{part}")) <= rows, f"{part} subset left its split"
    first = [int(c) for c in small.y_train[:20]]
    assert first != sorted(first), "random, not the first N (sources may sort by class)"
    again = subsample_splits(splits, 100, 20, 30, seed=5)
    assert torch.equal(again.x_train, small.x_train) and torch.equal(again.y_test, small.y_test)
    other = subsample_splits(splits, 100, 20, 30, seed=6)
    assert not torch.equal(other.x_train, small.x_train)
    assert small.mean is splits.mean and small.class_names == splits.class_names


def test_subsample_splits_keeps_the_whole_test_split_without_test_samples() -> None:
    splits = load_dataset("digits", seed=0)
    small = subsample_splits(splits, 10_000, 10_000, None, seed=5)
    assert torch.equal(small.x_test, splits.x_test)  # all, in order
    assert len(small.y_train) == len(splits.y_train)  # sizes beyond a split keep all of it
    with pytest.raises(AssertionError, match="at least one"):
        subsample_splits(splits, 0, 10, None, seed=5)


def test_subsample_splits_keeps_the_whole_val_split_without_val_samples() -> None:
    splits = load_dataset("digits", seed=0)
    small = subsample_splits(splits, 100, None, None, seed=5)
    assert torch.equal(small.x_val, splits.x_val) and torch.equal(small.y_val, splits.y_val)
    # Nothing is drawn for a whole split: the training subset is that of any other val choice.
    other = subsample_splits(splits, 100, 20, 30, seed=5)
    assert torch.equal(small.x_train, other.x_train) and torch.equal(small.y_train, other.y_train)


def test_example_is_one_transformed_example_and_its_class_name() -> None:
    splits = load_dataset("digits", seed=0)
    splits.transform = lambda x: 2 * x  # marks that the loaders' transform was applied
    x, name = splits.example("val", index=3)
    assert x.shape == (1, *splits.input_shape)
    torch.testing.assert_close(x, 2 * splits.x_val[3:4])
    assert name == splits.class_names[int(splits.y_val[3])]
    with pytest.raises(AssertionError, match="split must be one of"):
        splits.example("validation")
