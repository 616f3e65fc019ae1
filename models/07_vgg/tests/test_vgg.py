"""VGG's known outcomes: Table 1's depths, 3x3 stacks, the init problem, and the command line."""

from pathlib import Path

import pytest
import torch

from data_utils.transforms import to_float
from utils import testing
from utils.registry import model_config, model_modules

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("vgg")
VGG, CONFIGURATIONS = mods.model.VGG, mods.config.CONFIGURATIONS


def make_net(
    configuration: str = "A", channels: int = 3, side: int = 32, width: float = 0.25, **options
) -> VGG:
    torch.manual_seed(0)
    stages = mods.model.scaled_stages(configuration, width)
    return VGG(stages, channels, side, 10, torch.zeros(channels), **options)


# ------------------------------------------------------------------------- shapes and depth


@pytest.mark.parametrize("configuration", ["A", "B", "D", "E"])
@pytest.mark.parametrize("channels, side", [(3, 32), (1, 28)])
@pytest.mark.parametrize("batch_norm", [True, False])
def test_forward_gives_finite_scores(configuration, channels, side, batch_norm):
    net = make_net(configuration, channels, side, width=0.125, batch_norm=batch_norm)
    for training in (True, False):
        net.train(training)
        out = net(torch.rand(3, channels, side, side))
        assert out.shape == (3, 10) and torch.isfinite(out).all()


@pytest.mark.parametrize("configuration, layers", [("A", 11), ("B", 13), ("D", 16), ("E", 19)])
def test_configurations_have_the_papers_weight_layers(configuration, layers):
    """Table 1: 11, 13, 16 and 19 weight layers (convolutions plus three FC layers)."""
    assert make_net(configuration).num_weight_layers == layers
    assert sum(len(stage) for stage in CONFIGURATIONS[configuration]) == layers - 3


@pytest.mark.parametrize("side, sizes", [(32, [32, 16, 8, 4, 2]), (28, [28, 14, 7, 4, 2])])
def test_3x3_convolutions_keep_the_size_and_each_pool_halves_it(side, sizes):
    net = make_net("D", 1, side)
    x, seen = torch.zeros(2, 1, side, side), []
    for layer in net.features:
        if isinstance(layer, torch.nn.Conv2d):
            seen.append(x.shape[-1])
            assert layer(x).shape[-2:] == x.shape[-2:]
        x = layer(x)
    assert sorted(set(seen), reverse=True) == sizes
    assert x.shape[-2:] == (1, 1), "five stages leave 1x1 maps for 28 and 32 pixels"


@pytest.mark.parametrize("stacked", [1, 2, 3])
def test_stacked_3x3_layers_see_a_2n_plus_1_window(stacked):
    """Sec. 2.3: two 3x3 layers have a 5x5 receptive field and three have 7x7 (through the
    gradient of one output pixel with respect to the input)."""
    convs = [torch.nn.Conv2d(1, 1, 3, padding=1) for _ in range(stacked)]
    for conv in convs:
        torch.nn.init.constant_(conv.weight, 1.0)
    x = torch.zeros(1, 1, 15, 15, requires_grad=True)
    y = x
    for conv in convs:
        y = torch.relu(conv(y) + 1.0)  # the shift keeps every ReLU open
    y[0, 0, 7, 7].backward()
    rows, cols = torch.nonzero(x.grad[0, 0], as_tuple=True)
    side = 2 * stacked + 1
    assert int(rows.max() - rows.min()) + 1 == side and int(cols.max() - cols.min()) + 1 == side


def test_three_3x3_layers_have_fewer_weights_than_one_7x7():
    """Sec. 2.3: 3 (3^2 C^2) = 27 C^2 weights against 7^2 C^2 = 49 C^2 for C channels."""
    c = 16
    stack = sum(torch.nn.Conv2d(c, c, 3, bias=False).weight.numel() for _ in range(3))
    single = torch.nn.Conv2d(c, c, 7, bias=False).weight.numel()
    assert (stack, single) == (27 * c * c, 49 * c * c)


# --------------------------------------------------------------------- the difficulty of depth


def output_scale(configuration: str, init: str) -> float:
    net = make_net(configuration, init=init, batch_norm=False).eval()
    x = torch.randn(32, 3, 32, 32)
    with torch.no_grad():
        return float(net.features(x).std() / x.std())


def test_the_papers_init_shrinks_the_signal_by_orders_of_magnitude_more_in_deeper_nets():
    """Sec. 3.1: with N(0, 0.01^2) weights and no normalisation each 3x3 layer of our widths
    multiplies the signal's scale by far less than 1, so 13 layers (D) leave much less than 8
    (A): the reason the authors trained A first and copied its layers into the deeper nets.
    He et al.'s initialisation keeps the scale near 1 at any depth."""
    a, d = output_scale("A", "normal"), output_scale("D", "normal")
    assert a < 1e-4 and d < 1e-3 * a
    for configuration in ("A", "D"):
        assert 0.1 < output_scale(configuration, "kaiming") < 10


# ------------------------------------------------------------------- preprocessing and training


def test_create_model_subtracts_the_training_mean_rgb():
    config = model_config("vgg")
    splits = testing.patch_image_splits(channels=3, side=32)
    net = mods.model.create_model(config, splits)
    expected = to_float(splits.x_train).mean(dim=(0, 2, 3)).view(3, 1, 1)
    torch.testing.assert_close(net.mean_rgb, expected)


@pytest.mark.parametrize("batch_norm, lr", [(True, 0.02), (False, 0.005)])
def test_loss_falls_on_a_fixed_batch(batch_norm, lr):
    """Both train; the plain net needs a smaller step (at 0.01 or more it diverges here)."""
    config = model_config("vgg", batch_norm=batch_norm, width_multiplier=0.25, dropout=0.0)
    losses = testing.fixed_batch_losses(
        mods.train.SPEC, config, testing.patch_image_splits(), lr=lr, steps=40
    )
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"configuration": "C"}, ["configuration", "A", "D"]),
        ({"width_multiplier": 0.0}, ["width_multiplier"]),
        ({"dropout": 1.0}, ["dropout"]),
        ({"init": "zeros"}, ["init", "kaiming"]),
    ],
)
def test_bad_config_values_are_config_errors(changes, words):
    testing.assert_config_error(mods.train.SPEC, "smoke", changes, words)


def test_wrong_image_size_is_refused_with_a_message():
    with pytest.raises(AssertionError, match="another data set"):
        make_net("A", 1, 28)(torch.zeros(2, 3, 32, 32))


# ------------------------------------------------------------------- as a user runs it


@testing.needs_data
def test_train_evaluate_and_depth_study_from_the_command_line(tmp_path):
    folder = testing.copy_model(MODEL_DIR, tmp_path)
    metrics = testing.train_and_evaluate_smoke(folder)
    assert metrics["model"] == "vgg" and metrics["num_samples"] == 10_000
    names = {p.name for p in (folder / "outputs" / "visualizations").glob("*.png")}
    assert {"smoke_train_filters.png", "smoke_train_features_stage1.png"} <= names

    study = testing.run_study_smoke(
        folder, "depth_study.py", "--configurations", "A", "D", "--epochs", "2"
    )
    runs = [(r["configuration"], r["batch_norm"], r["weight_layers"]) for r in study["runs"]]
    assert runs == [("A", True, 10), ("D", True, 15), ("A", False, 10), ("D", False, 15)]
    assert all(len(r["train_loss"]) == 2 for r in study["runs"])
    assert (folder / "outputs" / "visualizations" / "depth_study.png").is_file()
