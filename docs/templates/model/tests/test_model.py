"""[MODEL_TITLE]: its known outcomes, an oracle, bad input, and the command line as a user runs it.

tests/test_every_model.py already checks, for every registered model, the folder layout, a
forward pass on the smoke experiment and that the loss goes down on a fixed batch. This file
holds what only this model can claim (house style rule 9): known outcomes asserted (not
printed), an oracle (PyTorch or a closed form) for every piece PyTorch also has, bad input that
must fail with a message, and one end-to-end run of train.py and evaluate.py. All on CPU, in
seconds, without network (utils/testing.py disables wandb).
"""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from utils.config import load_config
from utils.exceptions import ConfigError
from utils.modules import load_model_modules
from utils.testing import assert_clean_failure, copy_model, run_script, train_in_memory

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = load_model_modules(MODEL_DIR)
SPEC = mods.train.SPEC
CONFIG_CLS = SPEC.config_cls


# ------------------------------------------------------------------------- known outcomes
# [KNOWN_OUTCOMES]: one test per claim of the README, strength and weakness.


def test_learns_iris():
    _, _, history = train_in_memory(SPEC, "iris", epochs=20)
    assert history["train_accuracy"][-1] >= 0.9
    assert max(history["val_accuracy"]) >= 0.9


def test_cannot_fit_xor():
    model, splits, history = train_in_memory(SPEC, "xor", epochs=30)
    assert max(history["val_accuracy"]) <= 0.75, "no linear boundary separates XOR"
    with torch.no_grad():
        correct = (model(splits.x_train).argmax(dim=1) == splits.y_train).float().mean()
    assert correct <= 0.75


# -------------------------------------------------------------------------------- oracles
# [ORACLES]: compare every piece PyTorch (or a closed form) also computes.


def test_loss_gradient_matches_the_closed_form():
    """dL/dW of the mean cross-entropy is (softmax(s) - onehot(y))^T x / B; autograd must agree."""
    torch.manual_seed(0)
    model = mods.model.SoftmaxRegression(num_features=5, num_classes=3, init_std=0.5)
    x, y = torch.randn(8, 5), torch.randint(0, 3, (8,))
    loss = mods.model.create_criterion(None)(model(x), y)
    loss.backward()
    with torch.no_grad():
        error = F.softmax(model(x), dim=1) - F.one_hot(y, 3).float()  # (B, C)
        grad_w = error.T @ x / len(x)  # (C, B) @ (B, D) -> (C, D)
        grad_b = error.mean(dim=0)  # (C,)
    torch.testing.assert_close(model.linear.weight.grad, grad_w)
    torch.testing.assert_close(model.linear.bias.grad, grad_b)


# ------------------------------------------------------------------------------ bad input


def test_wrong_number_of_features_is_refused_with_a_message():
    model = mods.model.SoftmaxRegression(num_features=4, num_classes=3)
    with pytest.raises(AssertionError, match="expected 4 features per sample, got 30"):
        model(torch.zeros(2, 30))


@pytest.mark.parametrize(
    "changes, words",
    [({"init_std": -1.0}, ["init_std"]), ({"optimizer": "none"}, ["optimizer", "sgd"])],
)
def test_bad_config_values_are_config_errors(changes, words):
    with pytest.raises(ConfigError) as err:
        load_config(CONFIG_CLS, mods.constants.EXPERIMENTS_FILE, "smoke", changes)
    for word in words:
        assert word in str(err.value)


# ------------------------------------------------------------------- as a user runs it


def test_train_then_evaluate_from_the_command_line(tmp_path):
    folder = copy_model(MODEL_DIR, tmp_path)
    result = run_script(folder, "train.py", "--experiment", "smoke", "--no-wandb")
    assert result.returncode == 0, result.stderr
    assert "epoch 2 |" in result.stderr
    assert list((folder / "outputs" / "models" / "smoke").glob("*_final.pt"))
    result = run_script(
        folder, "evaluate.py", "--checkpoint", "latest", "--experiment", "smoke", "--json"
    )
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["model"] == mods.constants.MODEL_NAME and metrics["split"] == "test"
    assert 0.0 <= metrics["accuracy"] <= 1.0


def test_unknown_experiment_lists_the_available_ones():
    result = run_script(MODEL_DIR, "train.py", "--experiment", "nope", "--no-wandb")
    assert_clean_failure(result, "ConfigError", "nope", "smoke")
