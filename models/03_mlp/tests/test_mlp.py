"""The MLP's known outcomes, its gradients against two oracles, and its command-line workflow."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.datasets import load_digits

from data_utils import DatasetSplits, create_data_loaders, load_dataset
from data_utils.transforms import to_float, translate
from engine.trainer import Trainer
from engine.workflow import build_optimizer, load_trained
from utils.exceptions import CheckpointError, ConfigError
from utils.registry import model_config, model_modules
from utils.testing import assert_clean_failure, copy_model, run_script, train_in_memory

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("mlp")
SPEC = mods.train.SPEC
analysis = mods.analysis
NumpyMLP, TorchMLP = mods.model.NumpyMLP, mods.model.TorchMLP
ACTIVATIONS = ["sigmoid", "relu"]
IMPLEMENTATIONS = ["numpy", "torch"]
TORCH_ON_XOR = {"implementation": "torch", "optimizer": "adam", "lr": 0.05, "momentum": 0.0}


def predict(model, x: torch.Tensor) -> np.ndarray:
    if isinstance(model, torch.nn.Module):
        with torch.no_grad():
            return model(x).argmax(dim=1).numpy()
    return model.forward(x.numpy()).argmax(axis=1)


def twin_torch_net(net, activation: str) -> TorchMLP:
    """A float64 TorchMLP holding exactly the NumpyMLP's weights."""
    sizes = [net.params["layers.0.weight"].shape[1]]
    sizes += [net.params[f"layers.{i}.bias"].shape[0] for i in range(net.num_layers)]
    twin = TorchMLP(sizes, activation).double()
    twin.load_state_dict({k: torch.as_tensor(v) for k, v in net.parameters().items()})
    return twin


def digit_images(n: int = 1797) -> DatasetSplits:
    """Real 8x8 digits (scikit-learn) as uint8 images (N, 1, 8, 8), split 60/20/20."""
    digits = load_digits()
    x = torch.as_tensor(digits.images[:n] * 15, dtype=torch.uint8).unsqueeze(1)  # 0..16 -> 0..240
    y = torch.as_tensor(digits.target[:n], dtype=torch.int64)
    a, b = int(0.6 * n), int(0.8 * n)
    names = [str(k) for k in range(10)]
    return DatasetSplits(
        "digit_images", x[:a], y[:a], x[a:b], y[a:b], x[b:], y[b:], 10, names, to_float
    )


# --------------------------------------------------------------------------- known outcomes


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 42])
def test_numpy_mlp_solves_xor_with_the_papers_rule(seed):
    model, splits, history = train_in_memory(SPEC, "xor", seed=seed)
    assert (predict(model, splits.x_train) == splits.y_train.numpy()).all()
    assert history["train_accuracy"][-1] == 1.0 and history["val_accuracy"][-1] == 1.0
    assert history["train_loss"][-1] < 0.05, "a perceptron is stuck at 3 of 4; the MLP is not"


def test_numpy_run_resumes_exactly_with_its_momentum():
    """k epochs, a checkpoint round trip, then the rest == the same epochs straight."""

    def trainer_for(config):
        splits = load_dataset(config.dataset, seed=config.seed, standardize=config.standardize)
        model = mods.model.create_model(config, splits)
        loaders = create_data_loaders(splits, config.batch_size, seed=config.seed)
        trainer = Trainer(
            model, None, mods.model.create_criterion(config), torch.device("cpu"), config
        )
        return trainer, loaders

    config = model_config("mlp", "xor", epochs=20)
    straight, (train_loader, val_loader, _) = trainer_for(config)
    straight.train(train_loader, val_loader, 20)
    first, (train_loader, val_loader, _) = trainer_for(config)
    first.train(train_loader, val_loader, 8)
    state = first.state_dict()
    assert any(name.startswith("velocity.") for name in state["model_state"])
    resumed, (train_loader, val_loader, _) = trainer_for(config)
    resumed.load_state_dict(state)
    resumed.train(train_loader, val_loader, 20)
    for name, value in straight.model.state_dict().items():
        np.testing.assert_array_equal(resumed.model.state_dict()[name], value, err_msg=name)
    assert resumed.history["train_loss"] == straight.history["train_loss"]


def test_torch_mlp_solves_xor():
    model, splits, history = train_in_memory(SPEC, "xor", epochs=150, **TORCH_ON_XOR)
    assert (predict(model, splits.x_train) == splits.y_train.numpy()).all()
    assert history["val_accuracy"][-1] == 1.0


def net_and_batch(sizes: list[int], activation: str, seed: int, batch: int):
    """A NumPy MLP (weights drawn with seed + 1) and a random batch of ``batch`` samples."""
    rng = np.random.default_rng(seed)
    net = NumpyMLP(sizes, activation=activation, seed=seed + 1)
    x, y = rng.normal(size=(batch, sizes[0])), rng.integers(0, sizes[-1], size=batch)
    return net, x, y


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_finite_differences(activation):
    net, x, y = net_and_batch([5, 4, 3, 3], activation, seed=0, batch=6)
    _, grads, _ = net.loss_and_gradients(x, y)
    eps = 1e-6
    for name, param in net.params.items():
        numeric = np.zeros_like(param)
        for idx in np.ndindex(param.shape):  # central differences, one weight at a time
            saved = param[idx]
            param[idx] = saved + eps
            plus = net.loss_and_gradients(x, y)[0]
            param[idx] = saved - eps
            minus = net.loss_and_gradients(x, y)[0]
            param[idx] = saved
            numeric[idx] = (plus - minus) / (2 * eps)
        error = np.abs(numeric - grads[name]).max() / max(1e-8, np.abs(numeric).max())
        assert error < 1e-6, f"{name}: relative error {error:.1e} against finite differences"


@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_torch_autograd(activation):
    net, x, y = net_and_batch([12, 8, 6, 4], activation, seed=1, batch=10)
    loss, grads, logits = net.loss_and_gradients(x, y)
    twin = twin_torch_net(net, activation)
    torch_logits = twin(torch.as_tensor(x))
    torch_loss = F.cross_entropy(torch_logits, torch.as_tensor(y))
    torch_loss.backward()
    torch.testing.assert_close(torch.as_tensor(logits), torch_logits.detach())
    assert loss == pytest.approx(torch_loss.item(), rel=1e-12)
    for name, p in twin.named_parameters():
        torch.testing.assert_close(torch.as_tensor(grads[name]), p.grad, msg=name)


def test_update_rule_matches_torch_sgd_with_momentum_and_weight_decay():
    rng = np.random.default_rng(2)
    net = NumpyMLP([6, 5, 3], lr=0.1, momentum=0.9, weight_decay=1e-3, seed=3)
    twin = twin_torch_net(net, "relu")
    optimizer = torch.optim.SGD(twin.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    for _ in range(3):  # eq. 9 equals torch's velocity form for a constant learning rate
        x, y = rng.normal(size=(8, 6)), rng.integers(0, 3, size=8)
        net.train_step(x, y)
        optimizer.zero_grad()
        F.cross_entropy(twin(torch.as_tensor(x)), torch.as_tensor(y)).backward()
        optimizer.step()
    for name, p in twin.named_parameters():
        torch.testing.assert_close(torch.as_tensor(net.params[name]), p.detach(), msg=name)


def test_sigmoid_is_stable_for_large_inputs():
    z = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    a = mods.model.sigmoid(z)
    assert np.isfinite(a).all() and a[0] == 0.0 and a[2] == 0.5 and a[-1] == 1.0
    np.testing.assert_allclose(a, torch.sigmoid(torch.as_tensor(z)).numpy())


def build(implementation: str, sizes=(784, 32, 10)):
    torch.manual_seed(0)
    if implementation == "numpy":
        return NumpyMLP(sizes, lr=0.1, momentum=0.9, seed=0)
    return TorchMLP(sizes)


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_forward_shape_no_nan_and_initial_loss_near_log_classes(implementation):
    model = build(implementation)
    x, y = torch.rand(16, 1, 28, 28), torch.randint(0, 10, (16,))
    scores = model(x) if implementation == "torch" else torch.as_tensor(model(x.numpy()))
    assert scores.shape == (16, 10) and torch.isfinite(scores).all()
    loss = F.cross_entropy(scores.double(), y).item()
    assert abs(loss - math.log(10)) < 0.3, "small random weights give near-uniform predictions"


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
def test_loss_goes_down_on_a_fixed_batch(implementation):
    config = model_config(
        "mlp",
        "smoke",
        implementation=implementation,
        optimizer="sgd",
        lr=0.1,
        momentum=0.9,
        early_stopping_patience=None,
    )
    model = build(implementation, sizes=(64, 16, 10))
    trainer = Trainer(
        model,
        build_optimizer(config, model),
        mods.model.create_criterion(config),
        torch.device("cpu"),
        config,
    )
    digits = load_digits()
    x = torch.as_tensor(digits.data[:64] / 16, dtype=torch.float32)
    y = torch.as_tensor(digits.target[:64])
    batch = [(x, y)]  # a loader of one fixed batch: one step per epoch
    losses = trainer.train(batch, batch, epochs=60)["train_loss"]
    assert len(losses) == 60
    assert losses[-1] < 0.3 * losses[0], f"{losses[0]:.3f} -> {losses[-1]:.3f}"


# ------------------------------------------------------------------------- the weakness


def test_translate_moves_content_and_fills_with_zeros():
    x = torch.zeros(1, 1, 5, 5, dtype=torch.uint8)
    x[0, 0, 2, 2], x[0, 0, 0, 4] = 7, 9
    moved = translate(x, 1, -2)  # one row down, two columns left
    assert moved[0, 0, 3, 0] == 7 and moved[0, 0, 1, 2] == 9 and moved.sum() == 16
    assert translate(x, 0, 1).sum() == 7, "the pixel pushed past the border is lost"
    assert torch.equal(translate(x, 0, 0), x)


def test_accuracy_falls_when_test_digits_are_shifted(tmp_path):
    splits = digit_images()
    torch.manual_seed(0)
    model = TorchMLP([64, 64, 10])
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    config = model_config("mlp", "smoke", epochs=20)
    loaders = create_data_loaders(splits, 32, seed=0)
    Trainer(model, optimizer, F.cross_entropy, torch.device("cpu"), config).train(*loaders[:2])
    result = analysis.shift_robustness(model, splits, shifts=(0, 1, 2, 3))
    mean = result["accuracy"]["mean"]
    assert mean[0] > 0.85, "centred digits are learned"
    assert mean[0] > mean[1] > mean[3] and mean[3] < 0.5, f"accuracy by shift: {mean}"
    figures = analysis.visualize(model, splits, tmp_path, "digits")
    assert {p.name for p in figures.values()} == {"digits_first_layer.png", "digits_shift.png"}
    assert all(p.stat().st_size > 0 for p in figures.values())


# ---------------------------------------------------------------------- as a user runs it


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One smoke run (real 8x8 digits, 2 epochs) through train.py in a copy of the folder."""
    folder = copy_model(MODEL_DIR, tmp_path_factory.mktemp("mlp"))
    result = run_script(folder, "train.py", "--experiment", "smoke", "--visualize", "--no-wandb")
    assert result.returncode == 0, result.stderr
    return folder


def test_smoke_train_writes_checkpoint_log_and_plots(trained):
    outputs = trained / "outputs"
    assert list((outputs / "models" / "smoke").glob("*_final.pt"))
    log = next((outputs / "logs").glob("smoke_*.log")).read_text()
    assert "epoch 2 |" in log
    names = {p.name for p in (outputs / "visualizations").glob("*.png")}
    expected = {
        "smoke_train_curves.png",
        "smoke_train_confusion.png",
        "smoke_train_first_layer.png",
    }
    assert expected <= names


def test_evaluate_reports_json(trained):
    result = run_script(
        trained, "evaluate.py", "--checkpoint", "latest", "--experiment", "smoke", "--json"
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["model"] == "mlp" and metrics["split"] == "test"
    assert metrics["num_samples"] > 200 and metrics["accuracy"] > 0.3  # 10 classes: chance is 0.1


def test_compare_reports_both_models_on_one_test_set(trained):
    result = run_script(
        trained, "compare.py", "--checkpoint", "latest", "--experiment", "smoke", "--max-iter", "3"
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(next((trained / "outputs" / "logs").glob("*.compare.json")).read_text())
    assert 0 < report["mlp_test_accuracy"] <= 1 and 0 < report["sklearn_test_accuracy"] <= 1
    assert report["sklearn_epochs"] == 3 and report["num_test"] > 200


def test_numpy_implementation_trains_through_train_py_and_reloads(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    args = ["--experiment", "smoke", "--no-wandb", "--set", "implementation=numpy", "optimizer=sgd"]
    result = run_script(folder, "train.py", *args, "lr=0.1", "momentum=0.9")
    assert result.returncode == 0, result.stderr
    final = next((folder / "outputs" / "models" / "smoke").glob("*_final.pt"))
    model, config, splits, _ = load_trained(SPEC, str(final), None, None, torch.device("cpu"))
    assert isinstance(model, NumpyMLP) and config.implementation == "numpy"
    assert (predict(model, splits.x_test) == splits.y_test.numpy()).mean() > 0.3


def test_unknown_experiment_lists_the_available_ones():
    result = run_script(MODEL_DIR, "train.py", "--experiment", "nope", "--no-wandb")
    assert_clean_failure(result, "ConfigError", "nope", "xor", "fashion_mnist", "mnist1d")


@pytest.mark.parametrize(
    "setting, words",
    [
        ({"hidden_sizes": "abc"}, ["hidden_sizes", "int"]),
        ({"hidden_sizes": "64,0"}, ["hidden_sizes", ">= 1"]),
        ({"activation": "tanh"}, ["activation", "sigmoid", "relu"]),
        ({"implementation": "numpy"}, ["numpy", "optimizer=sgd"]),
    ],
)
def test_bad_override_values_are_config_errors(setting, words):
    with pytest.raises(ConfigError) as error:  # the --set path of train.py, in process
        model_config("mlp", "smoke", **setting)
    assert all(word in str(error.value) for word in words), str(error.value)


def test_checkpoint_of_another_shape_says_what_mismatched(trained):
    final = next((trained / "outputs" / "models" / "smoke").glob("*_final.pt"))
    # smoke is 64 inputs -> 16 hidden; xor is 2 inputs -> 4 hidden: the weights cannot fit.
    # In process through evaluate.py's loader (the CLI turns the error into one log line).
    with pytest.raises(CheckpointError) as error:
        load_trained(SPEC, str(final), "xor", None, torch.device("cpu"))
    for word in ("layers.0.weight", "(16, 64)", "(4, 2)"):
        assert word in str(error.value), str(error.value)
