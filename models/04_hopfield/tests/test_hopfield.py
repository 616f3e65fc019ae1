"""The Hopfield network's known outcomes: energy, capacity, recall; and its command line."""

import os
from pathlib import Path

import numpy as np
import pytest
import torch

from data_utils import create_data_loaders, load_dataset
from engine.trainer import Trainer
from utils.config import load_config
from utils.exceptions import ConfigError, DataError
from utils.registry import model_modules
from utils.testing import assert_config_error, copy_model, run_script, train_and_evaluate_smoke

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("hopfield")
M = mods.model


def random_patterns(count: int, n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).choice([-1.0, 1.0], size=(count, n))


def store_in_memory(experiment: str, **changes):
    """Run the experiment's one-epoch storage through the shared Trainer, in memory."""
    config = load_config(
        mods.config.HopfieldConfig, mods.constants.EXPERIMENTS_FILE, experiment, changes
    )
    splits = load_dataset(
        config.dataset,
        seed=config.seed,
        val_fraction=config.val_fraction,
        standardize=config.standardize,
    )
    network = M.create_model(config, splits)
    train_loader, val_loader, _ = create_data_loaders(splits, config.batch_size, seed=config.seed)
    trainer = Trainer(network, None, M.recall_error, torch.device("cpu"), config)
    history = trainer.train(train_loader, val_loader, config.epochs)
    return network, splits, history


# ------------------------------------------------------------------ the model's mechanics


def test_hebbian_weights_are_the_outer_product_rule():
    patterns = random_patterns(4, 30, seed=0)
    expected = sum(np.outer(p, p) for p in patterns) / 30
    np.fill_diagonal(expected, 0.0)
    weight = M.hebbian_weights(patterns)
    np.testing.assert_allclose(weight, expected)
    assert (weight == weight.T).all() and (np.diag(weight) == 0).all()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_energy_never_increases_under_asynchronous_updates(seed):
    rng = np.random.default_rng(seed)
    n = 60
    weight = rng.normal(size=(n, n))
    weight = (weight + weight.T) / 2  # any symmetric matrix with a zero diagonal, not Hebbian
    np.fill_diagonal(weight, 0.0)
    states = rng.choice([-1.0, 1.0], size=(25, n))
    trace: list[np.ndarray] = []
    final, sweeps = M.recall(weight, states, rng, max_sweeps=100, trace=trace)
    energies = np.stack([M.energy(weight, states)] + trace)  # (updates + 1, B)
    assert (np.diff(energies, axis=0) <= 1e-9).all(), "an update raised the energy"
    assert (energies[-1] < energies[0]).all(), "every random start went downhill"
    np.testing.assert_allclose(energies[-1], M.energy(weight, final))  # tracked = recomputed
    assert sweeps < 100, "the dynamics reached a fixed point"
    again, one_sweep = M.recall(weight, final, rng)
    assert one_sweep == 1 and (again == final).all(), "a fixed point stays put"


def test_a_field_zero_up_to_rounding_is_a_tie_and_the_neuron_keeps_its_state():
    # Neuron 0 gets 0.1 + 0.2 - 0.3 from the others: exactly 0, but 5.6e-17 in float64, and
    # which way such an error tips depends on the order BLAS sums in (its thread count).
    weight = np.full((4, 4), 5.0)  # neurons 1-3 hold each other at +1
    np.fill_diagonal(weight, 0.0)
    weight[0, 1:] = weight[1:, 0] = (0.1, 0.2, -0.3)
    assert weight[0, 1:] @ np.ones(3) != 0.0  # the rounding error is there
    states = np.array([[-1.0, 1.0, 1.0, 1.0]])
    final, sweeps = M.recall(weight, states, np.random.default_rng(0))
    assert final[0, 0] == -1.0 and sweeps == 1  # a tie: nothing flips


def test_capacity_statistics_do_not_depend_on_the_blas_thread_count():
    threadpoolctl = pytest.importorskip("threadpoolctl")  # scikit-learn's dependency
    # P / N = 0.14, near the critical load, at the size of capacity.py (N = 784): before ties
    # were read up to rounding, these patterns recalled differently with 1 and 2 BLAS threads.
    patterns = random_patterns(110, 784, seed=3)
    runs = []
    for threads in (1, 2):
        with threadpoolctl.threadpool_limits(threads):
            final, _ = M.recall(M.hebbian_weights(patterns), patterns, np.random.default_rng(0))
        runs.append(final)
    assert (runs[0] == runs[1]).all()


def test_recall_holds_at_005n_and_fails_at_025n():
    n = 200
    rng = np.random.default_rng(0)
    for count, holds in ((10, True), (50, False)):  # P / N = 0.05 and 0.25
        patterns = random_patterns(count, n, seed=count)
        cues = M.corrupt(patterns, "flip", 0.1, rng)
        final, _ = M.recall(M.hebbian_weights(patterns), cues, rng)
        overlap = np.sum(final * patterns, axis=1) / n
        if holds:
            assert overlap.min() == 1.0, f"P = {count}: every pattern recalled exactly"
        else:
            assert overlap.mean() < 0.7, f"P = {count}: recall collapsed (mean m {overlap.mean()})"
            assert np.mean(overlap == 1.0) < 0.1


def test_corrupt_flips_a_fraction_and_masks_rows():
    rng = np.random.default_rng(0)
    patterns = random_patterns(20, 400, seed=3)
    flipped = M.corrupt(patterns, "flip", 0.25, rng)
    assert abs(np.mean(flipped != patterns) - 0.25) < 0.02
    masked = M.corrupt(patterns, "mask", 0.5, rng, image_shape=(20, 20))
    top, bottom = masked.reshape(20, 20, 20)[:, :10], masked.reshape(20, 20, 20)[:, 10:]
    assert (bottom == -1).all() and (top == patterns.reshape(20, 20, 20)[:, :10]).all()


def test_probe_scores_and_recall_error():
    network = M.HopfieldNetwork(num_neurons=4, num_classes=3, num_patterns=2)
    network.store(np.array([[1.0, 1.0, -1.0, -1.0]]), np.array([2]))
    scores = network.class_scores(np.array([[1.0, 1.0, -1.0, -1.0], [-1.0, -1.0, 1.0, 1.0]]))
    np.testing.assert_allclose(scores, [[M.NO_MEMORY, M.NO_MEMORY, 1.0], [M.NO_MEMORY] * 2 + [-1]])
    # Own memory recalled: error 0; its inversion: 2; a class without a memory: 1.
    assert M.recall_error(scores, np.array([2, 2])) == pytest.approx(1.0)
    assert M.recall_error(scores[:1], np.array([2])) == 0.0
    assert M.recall_error(scores[:1], np.array([0])) == 1.0


# ---------------------------------------------------------------- storage through the Trainer


def test_storage_through_the_trainer_keeps_the_first_image_of_each_class():
    network, splits, history = store_in_memory("smoke")
    memories, labels = network.stored()
    assert len(labels) == 2 and labels[0] != labels[1]
    assert history["train_loss"] == [0.0], "two digits are both fixed points: no crosstalk"
    for memory, label in zip(memories, labels):
        of_class = np.flatnonzero(splits.y_train.numpy() == label)  # one of them was stored
        images = M.binarize(splits.x_train[of_class].numpy(), network.threshold)
        assert (images == memory).all(axis=1).any()
    weight = network.weight.copy()
    network.train_step(splits.x_train[:50].numpy(), splits.y_train[:50].numpy())
    assert (network.weight == weight).all(), "a full memory stores nothing more"


def test_stored_digits_are_recalled_from_corrupted_cues():
    network, _, _ = store_in_memory("smoke")
    rng = np.random.default_rng(0)
    for kind, fraction in (("flip", 0.2), ("mask", 0.5)):
        run = M.recall_from_cues(network, kind, fraction, 50, rng, image_shape=(8, 8))
        assert np.mean(run["overlap"] == 1.0) >= 0.95, f"{kind} {fraction}"


def test_too_many_digits_collapse_into_a_mixture():
    network, _, history = store_in_memory("smoke", num_patterns=6)
    assert history["train_loss"][0] > 0.0, "crosstalk: some stored bits are unstable"
    run = M.recall_from_cues(network, "flip", 0.0, 1, np.random.default_rng(0), (8, 8))
    assert np.mean(run["overlap"] == 1.0) < 0.5, "most stored digits are not even fixed points"


@pytest.mark.skipif(not os.environ.get("AIFS_DATA_DIR"), reason="MNIST files: set AIFS_DATA_DIR")
def test_mnist_experiment_recalls_two_digits_from_cues():
    try:
        network, _, _ = store_in_memory("mnist")
    except DataError as err:
        pytest.fail(f"AIFS_DATA_DIR is set but MNIST does not load: {err}")
    run = M.recall_from_cues(network, "flip", 0.2, 20, np.random.default_rng(0), (28, 28))
    assert network.num_stored == 2 and (run["overlap"] == 1.0).all()


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"epochs": 2}, ["epochs must be 1"]),
        ({"lr": 0.5}, ["no learning rate"]),
        ({"optimizer": "sgd"}, ["optimizer"]),
        ({"max_sweeps": 0}, ["max_sweeps"]),
    ],
)
def test_bad_config_values_are_config_errors(changes, words):
    assert_config_error(mods.train.SPEC, "smoke", changes, words)


def test_more_memories_than_classes_is_a_config_error():
    with pytest.raises(ConfigError, match="one memory per class"):
        store_in_memory("smoke", num_patterns=11)


# ---------------------------------------------------------------------- as a user runs it


def test_smoke_stores_and_evaluates_from_the_command_line(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    metrics = train_and_evaluate_smoke(folder, "recall from flip 20% cues: 100 of 100 exact")
    names = {p.name for p in (folder / "outputs" / "visualizations").glob("*.png")}
    assert {"smoke_train_recall.png", "smoke_train_energy.png", "smoke_train_weights.png"} <= names
    assert metrics["model"] == "hopfield" and metrics["split"] == "corrupted_memories"
    # The smoke memories are recalled exactly from 20%-flipped cues (as training logged).
    assert metrics["accuracy"] == 1.0 and metrics["loss"] == 0.0
    result = run_script(folder, "train.py", "--experiment", "smoke", "--epochs", "2", "--no-wandb")
    assert result.returncode == 1 and "ConfigError:" in result.stderr
    assert "Traceback" not in result.stderr
