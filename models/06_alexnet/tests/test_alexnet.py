"""AlexNet: its hand-written LRN against PyTorch, its ideas as switches, and the command line."""

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from data_utils import create_data_loaders, load_dataset
from engine.checkpoint import CheckpointManager, load_checkpoint
from engine.trainer import Trainer
from engine.workflow import build_optimizer, load_data
from utils import count_flops, count_parameters
from utils.config import load_config
from utils.exceptions import ConfigError
from utils.registry import model_modules
from utils.seed import set_random_seed
from utils.testing import copy_model, run_script

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("alexnet")
model_lib = mods.model
analysis = mods.analysis
ONE_THREAD = {"OMP_NUM_THREADS": "1"}


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny tensors: one thread avoids waiting on a busy second core."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def make_config(experiment: str = "smoke", **changes):
    return load_config(
        mods.config.AlexNetConfig, mods.constants.EXPERIMENTS_FILE, experiment, changes
    )


def make_model(config, in_channels: int = 1, num_classes: int = 10):
    set_random_seed(0)
    c = torch.zeros(in_channels)
    return model_lib.AlexNet(config, in_channels, num_classes, c, c + 1.0)


@pytest.fixture(scope="module")
def digits():
    """The smoke experiment's real data: 8x8 scikit-learn digits, standardised, flat (64,)."""
    config = make_config()
    return config, load_dataset(config.dataset, seed=config.seed, standardize=config.standardize)


# -------------------------------------------------------------------- LRN against PyTorch


@pytest.mark.parametrize("size", [5, 4, 3, 1])
def test_local_response_norm_matches_torch(size):
    torch.manual_seed(size)
    a = (torch.randn(2, 9, 6, 6) * 30).relu().requires_grad_()  # large: the denominator matters
    ours = model_lib.LocalResponseNorm(size=size, k=2.0, alpha=1e-4, beta=0.75)
    # PyTorch divides alpha by n: the paper's alpha = 1e-4 is torch's alpha = n * 1e-4.
    ref = torch.nn.LocalResponseNorm(size=size, alpha=size * 1e-4, beta=0.75, k=2.0)
    out, expected = ours(a), ref(a)
    torch.testing.assert_close(out, expected)
    assert (out - a).abs().max() > 0.1, "the test input must be large enough to be normalised"
    grad = torch.randn_like(out)
    torch.testing.assert_close(
        torch.autograd.grad(out, a, grad)[0], torch.autograd.grad(expected, a, grad)[0]
    )


def test_local_response_norm_is_the_papers_formula_at_one_position():
    a = torch.arange(1.0, 8.0).view(1, 7, 1, 1) * 10  # channels 10, 20, ..., 70
    out = model_lib.LocalResponseNorm(size=5, k=2.0, alpha=1e-4, beta=0.75)(a)
    window = a[0, 1:6, 0, 0]  # channel 3's neighbours 1..5 (i - 2 .. i + 2)
    expected = a[0, 3, 0, 0] / (2.0 + 1e-4 * (window**2).sum()) ** 0.75
    torch.testing.assert_close(out[0, 3, 0, 0], expected)
    edge = a[0, 0:3, 0, 0]  # channel 0: the window is clipped to 0..2
    torch.testing.assert_close(
        out[0, 0, 0, 0], a[0, 0, 0, 0] / (2.0 + 1e-4 * (edge**2).sum()) ** 0.75
    )


# --------------------------------------------------------------------- the architecture


@pytest.mark.parametrize("size, sides", [(28, (14, 7, 4)), (32, (16, 8, 4))])
def test_overlapping_pooling_shapes(size, sides):
    config = make_config("fashion_mnist", image_size=size)
    maps = make_model(config).eval().features(torch.rand(2, 1, size, size))
    assert maps["conv1"].shape == (2, 16, size, size)
    assert [maps[k].shape[-1] for k in ("pool1", "pool2", "pool5")] == list(sides)
    assert maps["fc8"].shape == (2, 10)


def test_parameter_and_flop_counts_of_the_fashion_network():
    model = make_model(make_config("fashion_mnist"))
    # conv1 416, conv2 19,248, conv3 27,712, conv4 36,928, conv5 27,696, fc6 (48*4*4 -> 256)
    # 196,864, fc7 65,792, fc8 2,570
    assert count_parameters(model) == 377_226
    # multiply-adds: conv1 28*28*16*25, conv2 14*14*48*16*25, conv3 7*7*64*48*9,
    # conv4 7*7*64*64*9, conv5 7*7*48*64*9, fc6 768*256, fc7 256*256, fc8 256*10
    macs = 313_600 + 3_763_200 + 1_354_752 + 1_806_336 + 1_354_752 + 196_608 + 65_536 + 2_560
    assert count_flops(model, (1, 28, 28)) == 2 * macs


def test_relu_and_tanh_switch_the_non_linearity():
    x = torch.rand(4, 1, 28, 28)
    relu = make_model(make_config("fashion_mnist")).eval().features(x)["conv3"]
    tanh = make_model(make_config("fashion_mnist", activation="tanh")).eval().features(x)["conv3"]
    assert relu.min() == 0.0 and relu.max() > 0
    assert tanh.min() < 0 and tanh.abs().max() < 1


def test_dropout_acts_only_in_training_and_the_network_itself_never_augments():
    x = torch.rand(8, 1, 28, 28)
    model = make_model(make_config("fashion_mnist"))
    model.eval()
    torch.testing.assert_close(model(x), model(x))
    model.train()
    assert not torch.allclose(model(x), model(x)), "dropout is random"
    plain = make_model(make_config("fashion_mnist", dropout=0.0))  # augment on: the loader's
    torch.testing.assert_close(plain.train()(x), plain.eval()(x))


def test_augmentation_shifts_and_mirrors_each_image():
    x = torch.rand(6, 1, 16, 16)
    augment = model_lib.train_transform(make_config(image_size=16, crop_padding=2), None)
    out = augment(x, torch.Generator().manual_seed(0))
    torch.testing.assert_close(augment(x, torch.Generator().manual_seed(0)), out)  # the seed
    assert not torch.equal(augment(x, torch.Generator().manual_seed(1)), out)  # fixes the draw
    padded = F.pad(x, (2, 2, 2, 2))  # (6, 1, 20, 20)
    for i in range(len(x)):
        windows = [padded[i, :, dy : dy + 16, dx : dx + 16] for dy in range(5) for dx in range(5)]
        candidates = windows + [w.flip(-1) for w in windows]
        assert any(torch.equal(out[i], c) for c in candidates), "not a shift or mirror of x"
    assert model_lib.train_transform(make_config(augment=False), None) is None


def test_the_training_loader_augments_and_evaluation_never_does(digits):
    config, splits = digits
    augmented = mods.train.SPEC.with_train_transform(config, splits)
    assert model_lib.train_transform(config, splits) is not None  # smoke: augment on
    loaders = augmented.loaders(64, seed=config.seed)
    plain = splits.loaders(64, seed=config.seed)
    for loader in (*loaders, *plain):
        loader.set_epoch(1)
    (x_aug, y_aug), (x, y) = next(iter(loaders[0])), next(iter(plain[0]))
    assert torch.equal(y_aug, y) and x_aug.shape == (64, 1, 28, 28)  # at the network's size
    assert not torch.equal(x_aug, model_lib.as_images(x, config.image_size))
    again = next(iter(loaders[0]))[0]
    assert torch.equal(again, x_aug), "a batch's crops depend on (seed, epoch, batch) only"
    for ours, theirs in zip(loaders[1:], plain[1:]):  # validation and test: untouched
        assert all(torch.equal(a[0], b[0]) for a, b in zip(ours, theirs))
    off = mods.train.SPEC.with_train_transform(make_config(augment=False), splits)
    assert off.train_transform is None
    # train.py's data: the spec found the hook in model.py, load_data hands it to the loaders
    assert mods.train.SPEC.train_transform is model_lib.train_transform
    assert load_data(config, None, mods.train.SPEC).train_transform is not None
    assert load_data(config, None).train_transform is None  # evaluate.py's: never augmented


def test_a_resumed_run_draws_the_same_crops(digits, tmp_path):
    """Augmentation, dropout and shuffling: 2 epochs straight == 50 steps, a checkpoint, a
    fresh Trainer that skips the trained batches, then on to the end, bit for bit."""
    config, splits = digits
    splits = mods.train.SPEC.with_train_transform(config, splits)

    def trainer(**changes):
        cfg = make_config(**changes)
        set_random_seed(cfg.seed)
        model = model_lib.create_model(cfg, splits)
        return Trainer(
            model, build_optimizer(cfg, model), F.cross_entropy, torch.device("cpu"), cfg
        )

    def loaders():
        return splits.loaders(config.batch_size, seed=config.seed)[:2]

    straight = trainer()
    straight.train(*loaders())
    first = trainer(max_steps=50)
    first.train(*loaders())
    assert (first.epoch, first.step_in_epoch) == (1, 50 - len(loaders()[0]))  # mid-epoch 2
    path = CheckpointManager(tmp_path, "run").save(first.state_dict(), kind="interrupt")
    resumed = trainer()
    torch.rand(5)  # a fresh process: the global generator anywhere until the checkpoint's
    resumed.load_state_dict(load_checkpoint(path))
    resumed.train(*loaders())
    for name, weight in straight.model.state_dict().items():
        assert torch.equal(resumed.model.state_dict()[name], weight), name
    assert resumed.history["train_loss"] == straight.history["train_loss"]


def test_a_checkpoint_of_the_network_with_its_augment_module_still_loads(digits):
    """The Augment module held no weights: the state dict is what it was before the loaders
    took the augmentation over, so old checkpoints load as they are."""
    config, splits = digits
    state = model_lib.create_model(config, splits).state_dict()
    assert not any("augment" in name for name in state)
    names = ["pixel_mean", "pixel_std"] + [
        f"{layer}.{p}"
        for layer in ("conv1", "conv2", "conv3", "conv4", "conv5", "fc6", "fc7", "fc8")
        for p in ("weight", "bias")
    ]
    assert list(state) == names


def test_pixel_statistics_come_from_the_training_images(digits):
    config, splits = digits
    model = model_lib.create_model(config, splits)
    images = model_lib.as_images(splits.x_train, config.image_size)
    normalised = (images - model.pixel_mean) / model.pixel_std
    assert normalised.mean().abs() < 1e-3 and (normalised.std() - 1).abs() < 1e-2


def test_forward_is_finite_and_loss_falls_on_a_fixed_batch(digits):
    config, splits = digits
    set_random_seed(config.seed)
    model = model_lib.create_model(config, splits)
    x, y = next(iter(create_data_loaders(splits, 32, seed=config.seed)[0]))
    scores = model.eval()(x)
    assert scores.shape == (32, 10) and torch.isfinite(scores).all()
    trainer = Trainer(
        model, build_optimizer(config, model), F.cross_entropy, torch.device("cpu"), config
    )
    loss_before = trainer.evaluator.evaluate([(x, y)])["loss"]
    for _ in range(30):
        model.train()
        trainer.training_step([(x, y)], audit=False)
    assert trainer.evaluator.evaluate([(x, y)])["loss"] < 0.9 * loss_before


@pytest.mark.parametrize(
    "changes, word",
    [
        ({"widths": "8,8"}, "widths"),
        ({"dropout": 1.0}, "dropout"),
        ({"image_size": 8}, "image_size"),
        ({"activation": "sigmoid"}, "activation"),
    ],
)
def test_bad_configs_are_refused(changes, word):
    with pytest.raises(ConfigError, match=word):
        make_config(**changes)


# ------------------------------------------------------------------- as a user runs it


def test_visualize_draws_conv1_kernels_and_feature_maps(digits, tmp_path):
    config, splits = digits
    model = model_lib.create_model(config, splits).train()
    figures = analysis.visualize(model, splits, tmp_path, "smoke_train")
    assert set(figures) == {"conv1_filters", "conv1_maps", "conv2_maps"}
    assert all(path.is_file() and path.stat().st_size > 0 for path in figures.values())
    assert model.training, "the plots must not leave the model in eval mode"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """One smoke run of train.py, in a copy of the model folder."""
    folder = copy_model(MODEL_DIR, tmp_path_factory.mktemp("alexnet"))
    result = run_script(folder, "train.py", "--experiment", "smoke", "--no-wandb", env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    return folder


def test_train_then_evaluate_on_the_same_test_split(trained):
    assert list((trained / "outputs" / "models" / "smoke").glob("*_final.pt"))
    args = ("--checkpoint", "latest", "--experiment", "smoke", "--json")
    result = run_script(trained, "evaluate.py", *args, env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout.strip().splitlines()[-1])
    assert metrics["model"] == "alexnet" and metrics["num_samples"] == 270
    assert 0.0 <= metrics["accuracy"] <= 1.0 and metrics["loss"] > 0


def test_ablations_write_json_and_plot(trained):
    args = ("--train-samples", "200", "--val-samples", "50", "--test-samples", "100")
    args += ("--experiment", "smoke", "--epochs", "2", "--target", "0.15", "--json")
    result = run_script(trained, "ablations.py", *args, env=ONE_THREAD)
    assert result.returncode == 0, result.stderr
    printed = json.loads(result.stdout.strip().splitlines()[-1])
    runs = {run["variant"]: run for run in printed["runs"]}
    assert list(runs) == ["relu_plain", "tanh_plain", "relu", "relu_no_dropout"]
    assert runs["tanh_plain"]["activation"] == "tanh" and not runs["tanh_plain"]["augment"]
    assert runs["relu"]["dropout"] == 0.5 and runs["relu"]["augment"]
    assert runs["relu_no_dropout"]["dropout"] == 0
    assert (printed["train_samples"], printed["test_samples"], printed["epochs"]) == (200, 100, 2)
    for run in runs.values():
        assert len(run["train_accuracy"]) == len(run["test_accuracy"]) == 2
        assert run["final_gap"] == run["train_accuracy"][-1] - run["test_accuracy"][-1]
        reached = [e for e, a in enumerate(run["train_accuracy"], 1) if a >= 0.15]
        assert run["epochs_to_target"] == (reached[0] if reached else None)
    outputs = trained / "outputs"
    saved = json.loads((outputs / "ablations" / "smoke_ablations.json").read_text())
    assert saved == printed
    assert (outputs / "visualizations" / "smoke_ablations.png").stat().st_size > 0
