"""LeNet-5: the paper's shapes and counts, its hand-written layers against PyTorch, and the CLI."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data_utils import create_data_loaders, load_dataset
from utils import count_parameters
from utils.exceptions import ConfigError
from utils.registry import model_config, model_modules
from utils.seed import set_random_seed
from utils.testing import copy_model, run_script, trainer_losses_on_batch

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("lenet5")
model_lib = mods.model
analysis = mods.analysis


@pytest.fixture(scope="module")
def digits():
    """The smoke experiment's real data: 8x8 scikit-learn digits, standardised, flat (64,)."""
    config = model_config("lenet5")
    return config, load_dataset(config.dataset, seed=config.seed, standardize=config.standardize)


# ------------------------------------------------------------------ the paper's architecture


def test_layer_shapes_follow_section_2b():
    set_random_seed(0)
    model = model_lib.LeNet5(num_classes=10)
    maps = model.features(torch.rand(3, 1, 28, 28))
    shapes = {name: tuple(t.shape[1:]) for name, t in maps.items()}
    assert shapes == {
        "input": (1, 32, 32),
        "c1": (6, 28, 28),
        "s2": (6, 14, 14),
        "c3": (16, 10, 10),
        "s4": (16, 5, 5),
        "c5": (120, 1, 1),
        "f6": (84,),
        "output": (10,),
    }


def test_parameter_counts_are_the_papers():
    model = model_lib.LeNet5(num_classes=10)
    counts = {name: count_parameters(getattr(model, name)) for name in ("c1", "s2", "c3", "s4")}
    counts |= {name: count_parameters(getattr(model, name)) for name in ("c5", "f6", "output")}
    # Sec. II-B: C1 156, S2 12, C3 1,516, S4 32, C5 48,120, F6 10,164: 60,000 up to F6.
    assert counts == {
        "c1": 156,
        "s2": 12,
        "c3": 1516,
        "s4": 32,
        "c5": 48120,
        "f6": 10164,
        "output": 850,
    }
    assert count_parameters(model) - counts["output"] == 60000


def test_table_i_connects_c3_as_the_paper_describes():
    table = model_lib.connection_table()  # (6 S2 maps, 16 C3 maps)
    inputs_per_map = table.sum(dim=0).tolist()
    assert inputs_per_map == [3] * 6 + [4] * 9 + [6]
    for j in range(6):  # three neighbouring S2 maps, cyclically
        assert {i for i in range(6) if table[i, j]} == {j % 6, (j + 1) % 6, (j + 2) % 6}
    for j in range(6):  # four neighbours
        assert {i for i in range(6) if table[i, 6 + j]} == {(j + d) % 6 for d in range(4)}
    non_neighbours = [{i for i in range(6) if table[i, j]} for j in (12, 13, 14)]
    assert non_neighbours == [{0, 1, 3, 4}, {1, 2, 4, 5}, {0, 2, 3, 5}]


def test_squashing_function_of_appendix_a():
    f = model_lib.squash
    torch.testing.assert_close(
        f(torch.tensor([1.0, -1.0])), torch.tensor([1.0, -1.0]), atol=1e-4, rtol=0
    )
    a = torch.zeros(1, requires_grad=True)
    f(a).backward()
    assert a.grad.item() == pytest.approx(1.7159 * 2 / 3)  # slope A * S at the origin
    assert f(torch.tensor(50.0)).item() == pytest.approx(1.7159)


def test_input_field_pads_mnist_and_resizes_small_digits():
    x = torch.zeros(2, 1, 28, 28)
    x[:, :, 10:18, 10:18] = 1.0  # a square of ink
    field = model_lib.to_input_field(x)
    assert field.shape == (2, 1, 32, 32)
    assert field[0, 0, 0, 0].item() == pytest.approx(-0.1)  # padded background
    assert field[0, 0, 16, 16].item() == pytest.approx(1.175)  # ink
    torch.testing.assert_close(field[:, :, 2:30, 2:30], x * 1.275 - 0.1)  # centred, not scaled
    assert model_lib.to_input_field(torch.rand(4, 64)).shape == (4, 1, 32, 32)  # 8x8, flat
    with pytest.raises(AssertionError, match="square"):
        model_lib.to_input_field(torch.rand(4, 65))


def test_initialisation_is_uniform_within_2_4_over_fan_in():
    set_random_seed(0)
    model = model_lib.LeNet5()
    assert model.c1.weight.abs().max() <= 2.4 / 25
    assert model.c5.weight.abs().max() <= 2.4 / 400
    c3 = model.c3
    fan_in = model_lib.connection_table().sum(dim=0)[c3.out_index] * 25  # per connection
    assert (c3.weight.abs().amax(dim=(1, 2)) <= 2.4 / fan_in).all()
    assert c3.weight.abs().amax(dim=(1, 2)).min() > 0.5 * 2.4 / 150  # not all tiny


# ------------------------------------------------------------- hand-written layers vs PyTorch


def test_subsampling_equals_average_pooling_scale_bias_and_tanh():
    torch.manual_seed(0)
    layer = model_lib.Subsampling(6)
    with torch.no_grad():
        layer.coefficient.uniform_(-2, 2)
        layer.bias.uniform_(-1, 1)
    x = torch.randn(4, 6, 28, 28, requires_grad=True)
    out = layer(x)
    pooled = F.avg_pool2d(x, kernel_size=2, stride=2)  # (4, 6, 14, 14)
    scaled = pooled * layer.coefficient.view(1, 6, 1, 1) + layer.bias.view(1, 6, 1, 1)
    expected = 1.7159 * torch.tanh(2.0 / 3.0 * scaled)
    torch.testing.assert_close(out, expected)
    grad_out = torch.randn_like(out)
    grads = torch.autograd.grad(out, (x, layer.coefficient, layer.bias), grad_out)
    grads_ref = torch.autograd.grad(expected, (x, layer.coefficient, layer.bias), grad_out)
    for g, g_ref in zip(grads, grads_ref):
        torch.testing.assert_close(g, g_ref)


def test_c3_equals_ordinary_convolutions_over_the_table_i_inputs():
    torch.manual_seed(0)
    table = model_lib.connection_table()
    c3 = model_lib.PartiallyConnectedConv(table, kernel_size=5)
    x = torch.randn(2, 6, 14, 14)
    out = c3(x)
    dense = c3.dense_weight()  # (16, 6, 5, 5)
    for j in range(16):
        inputs = table[:, j].nonzero().flatten()  # the S2 maps C3 map j reads
        expected = F.conv2d(x[:, inputs], dense[j : j + 1, inputs], c3.bias[j : j + 1])
        torch.testing.assert_close(out[:, j : j + 1], expected)
        assert (dense[j, ~table[:, j]] == 0).all(), "unconnected kernels must be zero"
    # The same as nn.Conv2d holding the masked dense kernel.
    conv = torch.nn.Conv2d(6, 16, 5)
    with torch.no_grad():
        conv.weight.copy_(dense)
        conv.bias.copy_(c3.bias)
    torch.testing.assert_close(out, conv(x))


def test_c3_map_ignores_the_s2_maps_it_is_not_connected_to():
    torch.manual_seed(0)
    c3 = model_lib.PartiallyConnectedConv(model_lib.connection_table(), kernel_size=5)
    x = torch.randn(1, 6, 14, 14)
    changed = x.clone()
    changed[:, 5] += 10.0  # S2 map 5 feeds C3 maps 3, 4, 5, 8, 9, 10, 11, 13, 14, 15 only
    diff = (c3(changed) - c3(x)).abs().amax(dim=(0, 2, 3))  # (16,)
    assert (diff > 0).nonzero().flatten().tolist() == [3, 4, 5, 8, 9, 10, 11, 13, 14, 15]


# ------------------------------------------------------------------- smoke: shapes and loss


def test_forward_on_real_digits_is_finite_and_loss_falls_on_a_fixed_batch(digits):
    config, splits = digits
    set_random_seed(config.seed)
    model = model_lib.create_model(config, splits)
    x, y = next(iter(create_data_loaders(splits, 32, seed=config.seed)[0]))
    scores = model(x)
    assert scores.shape == (32, 10) and torch.isfinite(scores).all()
    before, after = trainer_losses_on_batch(model, config, F.cross_entropy, (x, y), steps=20)
    assert after < 0.5 * before


def test_config_rejects_a_model_without_optimizer():
    with pytest.raises(ConfigError, match="backpropagation"):
        model_config("lenet5", optimizer="none")


# ------------------------------------------------------------------- as a user runs it


def test_visualize_draws_c1_kernels_and_feature_maps(digits, tmp_path):
    config, splits = digits
    model = model_lib.create_model(config, splits).train()
    figures = analysis.visualize(model, splits, tmp_path, "smoke_train")
    assert set(figures) == {"c1_filters", "input", "c1_maps", "c3_maps"}
    assert all(path.is_file() and path.stat().st_size > 0 for path in figures.values())
    assert model.training, "the plots must not leave the model in eval mode"


def test_size_table_counts_lenet5_against_the_mlp():
    lenet, mlp = analysis.size_table("smoke")  # both folders have a smoke experiment (digits)
    # Multiply-adds: C1 117,600 + C3 150,000 + C5 48,000 + F6 10,080 + output 840 = 326,520
    assert lenet == {"model": "lenet5", "parameters": 60850, "flops": 2 * 326520}
    assert mlp["model"].startswith("mlp") and mlp["parameters"] > 0 and mlp["flops"] > 0


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One smoke run of train.py, in a copy of the model folder."""
    folder = copy_model(MODEL_DIR, tmp_path_factory.mktemp("lenet5"))
    args = ("--experiment", "smoke", "--no-wandb")
    result = run_script(folder, "train.py", *args, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    return folder


def test_train_then_evaluate_on_the_same_test_split(trained):
    assert list((trained / "outputs" / "models" / "smoke").glob("*_final.pt"))
    args = ("--checkpoint", "latest", "--experiment", "smoke", "--json")
    result = run_script(trained, "evaluate.py", *args, env={"OMP_NUM_THREADS": "1"})
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["model"] == "lenet5" and metrics["num_samples"] == 270
    assert metrics["accuracy"] > 0.6, "two epochs on real 8x8 digits already separate most"
