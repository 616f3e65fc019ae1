"""ArrayLoader and create_data_loaders: seeded per-epoch order, sharding, drop_last, transform,
and the train-only transform (augmentation) with its per-batch generators."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from data_utils import (
    ArrayLoader,
    batch_generator,
    create_data_loaders,
    epoch_generator,
    load_dataset,
    subsample_splits,
)


def _order(loader: ArrayLoader) -> list[int]:
    return [int(v) for _, yb in loader for v in yb]


@pytest.fixture
def data() -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.arange(50, dtype=torch.float32).unsqueeze(1)  # (50, 1): x[i] = i
    return x, torch.arange(50)  # labels equal indices, so batches reveal the order


def test_unshuffled_order_and_batch_sizes(data) -> None:
    loader = ArrayLoader(*data, batch_size=16)
    assert len(loader) == 4 and loader.num_samples == 50
    assert [len(yb) for _, yb in loader] == [16, 16, 16, 2]
    assert _order(loader) == list(range(50))
    for xb, yb in loader:
        assert torch.equal(xb.squeeze(1).long(), yb)


def test_permutation_depends_only_on_seed_and_epoch(data) -> None:
    a = ArrayLoader(*data, batch_size=8, shuffle=True, seed=3)
    b = ArrayLoader(*data, batch_size=8, shuffle=True, seed=3)
    torch.manual_seed(123)  # the global RNG must not matter
    a.set_epoch(2)
    first = _order(a)
    torch.manual_seed(456)
    _order(b)  # iterating other epochs first must not matter either
    b.set_epoch(2)
    assert _order(b) == first == _order(a)
    assert sorted(first) == list(range(50))
    a.set_epoch(3)
    assert _order(a) != first
    c = ArrayLoader(*data, batch_size=8, shuffle=True, seed=4)
    c.set_epoch(2)
    assert _order(c) != first


def test_seed_and_epoch_are_not_simply_added(data) -> None:
    a = ArrayLoader(*data, batch_size=50, shuffle=True, seed=42)
    b = ArrayLoader(*data, batch_size=50, shuffle=True, seed=43)
    a.set_epoch(1)
    b.set_epoch(0)
    assert _order(a) != _order(b)


@pytest.mark.parametrize("world_size", [2, 3, 4, 7])
def test_shards_are_disjoint_and_cover_the_epoch(data, world_size: int) -> None:
    shards = []
    for rank in range(world_size):
        loader = ArrayLoader(
            *data, batch_size=4, shuffle=True, seed=9, rank=rank, world_size=world_size
        )
        loader.set_epoch(5)
        shards.append(_order(loader))
        assert len(shards[-1]) == loader.num_samples
    flat = [i for shard in shards for i in shard]
    assert len(flat) == len(set(flat)) == 50
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    full = ArrayLoader(*data, batch_size=50, shuffle=True, seed=9)
    full.set_epoch(5)
    assert shards[1] == _order(full)[1::world_size]  # strided shard of the same permutation


def test_drop_last_and_transform(data) -> None:
    loader = ArrayLoader(*data, batch_size=16, drop_last=True, transform=lambda x: x * 2)
    assert len(loader) == 3
    batches = list(loader)
    assert [len(yb) for _, yb in batches] == [16, 16, 16]
    xb, yb = batches[1]
    assert torch.equal(xb.squeeze(1), 2 * yb.float())


def test_create_data_loaders() -> None:
    splits = load_dataset("iris", seed=1)
    train, val, test = create_data_loaders(splits, 32, eval_batch_size=100, seed=1)
    assert train.shuffle and not val.shuffle and not test.shuffle
    assert len(train) == 4 and len(val) == 1 and len(test) == 1
    seen = torch.cat([yb for _, yb in train])
    assert torch.equal(seen.sort().values, splits.y_train.sort().values)
    halves = [create_data_loaders(splits, 8, rank=r, world_size=2)[1] for r in range(2)]
    assert sum(h.num_samples for h in halves) == len(splits.y_val)


def _noise(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """A train transform that shows its random numbers: x + one draw per example."""
    return x + torch.rand(len(x), 1, generator=generator)


def test_train_transform_depends_only_on_seed_epoch_and_batch(data) -> None:
    """What makes resume exact: batch b of an epoch is augmented the same whether the epoch runs
    from its start or a resumed run skips to b, and the global RNG (dropout's) is left alone."""
    loader = ArrayLoader(*data, batch_size=8, shuffle=True, seed=3, train_transform=_noise)
    plain = ArrayLoader(*data, batch_size=8, shuffle=True, seed=3)
    loader.set_epoch(2)
    plain.set_epoch(2)
    assert _order(loader) == _order(plain), "the permutation does not change"
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = [xb for xb, _ in loader]
    assert torch.equal(torch.get_rng_state(), state), "the global generator must not be used"
    torch.manual_seed(99)
    assert all(torch.equal(a, b) for a, b in zip(first, (xb for xb, _ in loader)))
    noise = [xb - xp for (xb, _), (xp, _) in zip(loader, plain)]  # the draws themselves
    assert all(((0 <= n) & (n < 1)).all() for n in noise)
    torch.testing.assert_close(noise[5], _noise(torch.zeros(8, 1), batch_generator(3, 2, 5)))
    loader.set_epoch(3)
    assert not torch.equal(next(iter(loader))[0] - next(iter(plain))[0], noise[0])


def test_batch_generators_are_unrelated_streams() -> None:
    def draw(gen: torch.Generator) -> torch.Tensor:
        return torch.rand(4, generator=gen)

    keys = [(3, 2, 5, 0), (3, 2, 5, 1), (3, 2, 6, 0), (3, 3, 5, 0), (4, 2, 5, 0), (3, 2, 0, 0)]
    draws = [draw(batch_generator(*key)) for key in keys]
    assert torch.equal(draw(batch_generator(3, 2, 5, 0)), draws[0])
    assert len({tuple(d.tolist()) for d in draws}) == len(keys)
    assert not torch.equal(draw(epoch_generator(3, 2)), draw(batch_generator(3, 2, 0, 0)))


def test_create_data_loaders_augments_the_training_batches_only() -> None:
    splits = dataclasses.replace(load_dataset("iris", seed=1), train_transform=_noise)
    plain = create_data_loaders(load_dataset("iris", seed=1), 32, seed=1)
    train, val, test = create_data_loaders(splits, 32, seed=1)
    assert train.train_transform is _noise and val.train_transform is test.train_transform is None
    assert not torch.equal(next(iter(train))[0], next(iter(plain[0]))[0])
    for ours, theirs in ((val, plain[1]), (test, plain[2])):
        assert all(torch.equal(a, b) for (a, _), (b, _) in zip(ours, theirs))
    subset = subsample_splits(splits, 20, None, None, seed=0)
    assert subset.train_transform is _noise, "a study's subset keeps the augmentation"
