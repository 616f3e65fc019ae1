"""GoogLeNet's known outcomes: Inception's channels, what 1x1 reductions save, the aux heads."""

import copy
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from engine.evaluator import Evaluator
from engine.modelio import evaluating
from utils import testing
from utils.model_stats import count_flops, count_parameters
from utils.registry import model_config, model_modules

MODEL_DIR = Path(__file__).resolve().parents[1]
mods = model_modules("googlenet")
GoogLeNet, Inception = mods.model.GoogLeNet, mods.model.Inception
GoogLeNetConfig = mods.config.GoogLeNetConfig
TABLE_1 = mods.config.INCEPTION_MODULES


def make_net(channels: int = 3, width: float = 0.125, **options) -> GoogLeNet:
    torch.manual_seed(0)
    config = GoogLeNetConfig(width_multiplier=width, **options)
    return GoogLeNet(config, channels, 10, torch.zeros(channels))


# ------------------------------------------------------------------------- the Inception module


@pytest.mark.parametrize("name", ["3a", "4e", "5b"])
@pytest.mark.parametrize("five_by_five", ["5x5", "double_3x3"])
def test_inception_outputs_the_sum_of_its_branches_at_the_same_size(name, five_by_five):
    widths = mods.model.scale(TABLE_1[name], 0.25)
    module = Inception(40, widths, five_by_five=five_by_five)
    x = torch.rand(2, 40, 8, 8)
    branches = [module.branch1(x), module.branch2(x), module.branch3(x), module.branch4(x)]
    assert [b.shape[1] for b in branches] == [widths[0], widths[2], widths[4], widths[5]]
    assert all(b.shape[-2:] == (8, 8) for b in branches)
    out = module(x)
    assert out.shape == (2, sum(b.shape[1] for b in branches), 8, 8)
    assert out.shape[1] == module.out_channels
    torch.testing.assert_close(out, torch.cat(branches, dim=1))


def test_module_outputs_follow_table_1_at_full_width():
    """Table 1's output depths: 256, 480, 512, 512, 512, 528, 832, 832, 1024."""
    expected = [256, 480, 512, 512, 512, 528, 832, 832, 1024]
    net = make_net(width=1.0)
    assert [m.out_channels for m in net.inception.values()] == expected
    assert net.fc.in_features == 1024


def test_full_width_imagenet_net_has_the_papers_parameter_count():
    """Table 1 sums to about 6.8M parameters (1000 classes, no BN); our stem's first conv is 3x3
    instead of 7x7, and biases are counted: within 5%."""
    torch.manual_seed(0)
    net = GoogLeNet(
        GoogLeNetConfig(width_multiplier=1.0, batch_norm=False), 3, 1000, torch.zeros(3)
    )
    assert abs(count_parameters(net) - 6.8e6) < 0.05 * 6.8e6


def test_one_by_one_reductions_cut_weights_and_flops_several_times():
    """Module 4e on 832 input channels: without the 1x1 reductions its 3x3 and 5x5 filters see
    every input channel (Fig. 2a); with them (Fig. 2b) the module is far cheaper."""
    widths = TABLE_1["4e"]
    reduced, naive = Inception(832, widths), Inception(832, widths, reduce=False)
    assert reduced.out_channels == naive.out_channels == 832
    shape = (832, 7, 7)
    assert count_parameters(naive) > 4 * count_parameters(reduced)
    assert count_flops(naive, shape) > 4 * count_flops(reduced, shape)


@pytest.mark.parametrize("five_by_five", ["5x5", "double_3x3"])
def test_third_branch_sees_a_5x5_window_either_way(five_by_five):
    """The gradient of one output pixel of branch 3 reaches exactly a 5x5 patch of the input."""
    torch.manual_seed(0)
    branch = Inception(4, (2, 2, 2, 2, 2, 2), batch_norm=False, five_by_five=five_by_five).branch3
    for conv in (m for m in branch.modules() if isinstance(m, torch.nn.Conv2d)):
        torch.nn.init.constant_(conv.weight, 0.1)
        torch.nn.init.constant_(conv.bias, 1.0)  # keeps every ReLU open
    x = torch.rand(1, 4, 11, 11, requires_grad=True)
    branch(x)[0, 0, 5, 5].backward()
    rows, cols = torch.nonzero(x.grad[0].abs().sum(dim=0), as_tuple=True)
    assert (int(rows.max() - rows.min()) + 1, int(cols.max() - cols.min()) + 1) == (5, 5)


# ------------------------------------------------------------------------------ the network


@pytest.mark.parametrize("channels, side", [(3, 32), (1, 28)])
@pytest.mark.parametrize("aux", [True, False])
def test_forward_gives_plain_scores_and_aux_logits_only_in_training(channels, side, aux):
    net = make_net(channels, aux_classifiers=aux)
    x = torch.rand(3, channels, side, side)
    net.train()
    out = net(x)
    assert out.shape == (3, 10) and torch.isfinite(out).all()
    assert not hasattr(out, "aux_logits"), "forward must return plain logits"
    logits, aux_logits = net.logits_and_aux(x)
    assert logits.shape == (3, 10) and len(aux_logits) == (2 if aux else 0)
    assert all(a.shape == (3, 10) and torch.isfinite(a).all() for a in aux_logits)
    net.eval()
    logits, aux_logits = net.logits_and_aux(x)
    assert aux_logits == []
    torch.testing.assert_close(net(x), logits)


def old_loss(net: GoogLeNet, x: torch.Tensor, y: torch.Tensor, aux_weight: float):
    """The committed code before ``step``, inline: its forward (aux logits collected in the
    loop, in the same order) and googlenet_loss. Returns (total loss, main cross-entropy)."""
    h = net.stem(x - net.mean_rgb)
    aux_logits = []
    for name, module in net.inception.items():
        h = module(h)
        if net.training and name in net.aux:
            aux_logits.append(net.aux[name](h))
        if name in mods.model.POOL_AFTER:
            h = net.pool(h)
    scores = net.fc(net.dropout(F.adaptive_avg_pool2d(h, 1).flatten(1)))
    loss = F.cross_entropy(scores, y)
    main = loss
    for aux in aux_logits:
        loss = loss + aux_weight * F.cross_entropy(aux, y)
    return loss, main


@pytest.mark.parametrize("aux", [True, False])
def test_step_gives_the_old_loss_and_gradients_bit_for_bit(aux):
    """Sec. 5's loss through ``step`` equals the old formula exactly, dropout masks included
    (the same seed before each): the README's numbers cannot move."""
    net = make_net(aux_classifiers=aux, aux_weight=0.3).train()
    reference = copy.deepcopy(net)
    gen = torch.Generator().manual_seed(1)
    x, y = torch.rand(6, 3, 32, 32, generator=gen), torch.randint(0, 10, (6,), generator=gen)

    torch.manual_seed(123)
    expected, expected_main = old_loss(reference, x, y, aux_weight=0.3)
    expected.backward()
    torch.manual_seed(123)
    out = net.step((x, y))
    out.loss.backward()

    assert torch.equal(out.loss, expected)
    assert torch.equal(out.metrics["loss"].total, expected.detach() * 6)
    assert out.metrics["loss"].count == 6
    reference_grads = dict(reference.named_parameters())
    for name, param in net.named_parameters():
        assert torch.equal(param.grad, reference_grads[name].grad), f"{name}: gradient differs"
    if aux:
        assert torch.equal(out.metrics["main_loss"].total, expected_main.detach() * 6)
        assert out.loss > out.metrics["main_loss"].total / 6  # the heads add to the loss
        for name, head in net.aux.items():
            assert head.classifier.weight.grad.abs().sum() > 0, f"aux head {name} got no gradient"
    else:
        assert "main_loss" not in out.metrics


@pytest.mark.parametrize("aux", [True, False])
def test_step_in_eval_is_the_plain_loss_of_the_main_head_without_running_the_aux_heads(aux):
    net = make_net(aux_classifiers=aux).eval()
    calls = []
    for head in net.aux.values():
        head.register_forward_hook(lambda *_: calls.append(1))
    x, y = torch.rand(5, 3, 32, 32), torch.tensor([0, 1, 2, 3, 4])
    with torch.inference_mode():
        out = net.step((x, y))
        scores = net(x)
    assert calls == [], "the auxiliary heads ran in evaluation"
    assert set(out.metrics) == {"loss", "accuracy"}
    torch.testing.assert_close(out.loss, F.cross_entropy(scores, y))
    assert torch.equal(out.outputs, scores.argmax(dim=1))
    assert out.metrics["accuracy"].total == (scores.argmax(dim=1) == y).sum()
    assert out.metrics["accuracy"].count == 5


def test_step_on_an_empty_batch_is_a_zero_loss_that_reaches_every_head():
    """A DDP padding batch: zero loss, but the main and auxiliary heads stay in the graph."""
    net = make_net(aux_classifiers=True).train()
    out = net.step((torch.rand(0, 3, 32, 32), torch.zeros(0, dtype=torch.int64)))
    assert out.loss.item() == 0.0
    out.loss.backward()
    assert net.fc.weight.grad is not None
    assert all(head.classifier.weight.grad is not None for head in net.aux.values())


def test_evaluator_predicts_the_main_heads_classes_for_the_confusion_matrix():
    """make_plots draws the confusion matrix from Evaluator.predict, which reads the step's
    outputs: one class per sample."""
    net = make_net(aux_classifiers=True)
    x, y = torch.rand(4, 3, 32, 32), torch.tensor([0, 1, 2, 3])
    y_true, y_pred = Evaluator(net).predict([(x, y)])
    with evaluating(net), torch.no_grad():
        expected = net(x).argmax(dim=1).numpy()
    assert np.array_equal(y_true, y.numpy()) and np.array_equal(y_pred, expected)


def test_aux_heads_do_not_change_inference_or_its_flops():
    with_aux, without = make_net(aux_classifiers=True), make_net(aux_classifiers=False)
    assert count_parameters(with_aux) > count_parameters(without)
    assert count_flops(with_aux, (3, 32, 32)) == count_flops(without, (3, 32, 32))


# ------------------------------------------------------------------------------ training


@pytest.mark.parametrize("aux", [True, False])
def test_loss_falls_on_a_fixed_batch(aux):
    """SGD through ``step`` (with the heads' share when they are on) on one fixed batch."""
    config = model_config("googlenet", aux_classifiers=aux, dropout=0.0)
    splits = testing.patch_image_splits(n=20)
    losses = testing.fixed_batch_losses(mods.train.SPEC, config, splits, lr=0.02, steps=25)
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize(
    "changes, words",
    [
        ({"five_by_five": "7x7"}, ["five_by_five", "double_3x3"]),
        ({"width_multiplier": -1.0}, ["width_multiplier"]),
        ({"aux_weight": -0.3}, ["aux_weight"]),
        ({"optimizer": "none"}, ["optimizer", "backprop"]),
    ],
)
def test_bad_config_values_are_config_errors(changes, words):
    testing.assert_config_error(mods.train.SPEC, "smoke", changes, words)


def test_wrong_channels_are_refused_with_a_message():
    with pytest.raises(AssertionError, match="another data set"):
        make_net(1)(torch.zeros(2, 3, 32, 32))


# ------------------------------------------------------------------- as a user runs it


@testing.needs_data
def test_train_evaluate_and_compare_from_the_command_line(tmp_path):
    folder = testing.copy_model(MODEL_DIR, tmp_path)
    # compare.py finds VGG by name, in the registry (utils.registry)
    metrics = testing.train_and_evaluate_smoke(folder)
    assert metrics["model"] == "googlenet" and metrics["num_samples"] == 10_000
    names = {p.name for p in (folder / "outputs" / "visualizations").glob("*.png")}
    assert {"smoke_train_filters.png", "smoke_train_features_inception5b.png"} <= names

    comparison = testing.run_study_smoke(
        folder, "compare.py", "--vgg-configurations", "A", "--epochs", "1"
    )
    assert [r["network"] for r in comparison["runs"]] == ["GoogLeNet", "VGG-A"]
    assert all(r["parameters"] > 0 and r["flops"] > 0 for r in comparison["runs"])
    assert "| GoogLeNet |" in comparison["table"]
    assert (folder / "outputs" / "visualizations" / "compare.png").is_file()
