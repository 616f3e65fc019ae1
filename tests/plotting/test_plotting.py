"""Tests for the shared plotting package.

Every plot must write a PNG that matplotlib reads back at a sensible size and leave no figure
open; the pure helpers (grids, counts, series extraction) are checked against known answers
and, for the confusion matrix, against scikit-learn.
"""

from pathlib import Path

import matplotlib
import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix

import engine.audit as engine_audit
import plotting.audit
from plotting import (
    draw_epoch_curves,
    plot_confusion_matrix,
    plot_decision_boundary,
    plot_gradient_audit,
    plot_learning_curves,
    plot_weights_as_images,
    save_figure,
)
from plotting.audit import audit_series
from plotting.classification import confusion_counts, make_grid, predict_grid
from plotting.core import to_class_indices
from plotting.curves import history_series
from plotting.weights import grid_shape
from utils.exceptions import AIFromScratchError

FASHION_NAMES = [
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
]


@pytest.fixture(autouse=True)
def no_figure_left_open():
    """Every plotting call must close its figure, also when it raises."""
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a plotting function left a figure open"


def read_png(path: Path, min_side: int = 200, max_side: int = 2500) -> np.ndarray:
    """Assert ``path`` is a non-empty PNG of sensible size and return its pixels (H, W, 4)."""
    assert path.is_file() and path.stat().st_size > 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and pixels.shape[2] in (3, 4)
    height, width = pixels.shape[:2]
    assert min_side <= height <= max_side and min_side <= width <= max_side, pixels.shape
    return pixels


def make_history(epochs: int = 12) -> dict[str, list]:
    e = np.arange(1, epochs + 1)
    return {
        "epoch": e.tolist(),
        "train_loss": (1.0 / e).tolist(),
        "val_loss": (1.0 / e + 0.01 * e).tolist(),
        "train_accuracy": (1.0 - 0.5 / e).tolist(),
        "val_accuracy": [None if i % 3 else 0.8 for i in range(epochs)],  # every third epoch
        "lr": [0.1] * epochs,  # extra keys are ignored
    }


def make_audit(steps: int = 20, with_grads: bool = True) -> list[dict]:
    return [
        {
            "step": s,
            "epoch": s // 10,
            "layers": {
                "fc1.weight": {
                    "grad_norm": 1.0 / (s + 1) if with_grads else None,
                    "update_ratio": 1e-3,
                },
                "fc1.bias": {"grad_norm": 0.5 if with_grads else None, "update_ratio": 2e-4},
            },
        }
        for s in range(steps)
    ]


# --- package and save_figure -----------------------------------------------------------------


def test_package_selects_agg_backend():
    assert matplotlib.get_backend().lower() == "agg"


def test_save_figure_creates_parents_and_closes(tmp_path):
    fig, ax = plt.subplots(figsize=(4, 3))
    ax.plot([0, 1], [0, 1])
    path = save_figure(fig, tmp_path / "a" / "b" / "line.png")
    assert path == tmp_path / "a" / "b" / "line.png"
    pixels = read_png(path)
    # 4 x 3 inches at 120 dpi, give or take the tight bounding box
    assert 300 <= pixels.shape[0] <= 400 and 420 <= pixels.shape[1] <= 520


def test_save_figure_rejects_non_png_and_still_closes(tmp_path):
    fig, _ = plt.subplots()
    with pytest.raises(ValueError, match=r"\.png"):
        save_figure(fig, tmp_path / "plot.pdf")
    assert not (tmp_path / "plot.pdf").exists()


def test_save_figure_unwritable_path_raises_project_error(tmp_path):
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("a file where a directory should be")
    fig, _ = plt.subplots()
    with pytest.raises(AIFromScratchError, match="could not write figure"):
        save_figure(fig, blocker / "plot.png")


def test_to_class_indices_accepts_bool_integral_float_and_tensor():
    np.testing.assert_array_equal(to_class_indices(np.array([True, False]), "y"), [1, 0])
    np.testing.assert_array_equal(to_class_indices([0.0, 2.0], "y"), [0, 2])
    tensor = torch.tensor([1.0, 0.0], requires_grad=True)
    np.testing.assert_array_equal(to_class_indices(tensor, "y"), [1, 0])


@pytest.mark.parametrize("bad", [[0.2, 0.8], [[0, 1]], [-1, 0], [0, float("nan")], ["a", "b"]])
def test_to_class_indices_rejects_non_indices(bad):
    with pytest.raises(ValueError):
        to_class_indices(bad, "y")


# --- learning curves ----------------------------------------------------------------------


def test_learning_curves_two_panels(tmp_path):
    pixels = read_png(plot_learning_curves(make_history(), tmp_path / "curves.png"))
    assert pixels.shape[1] > 2 * pixels.shape[0]  # loss and accuracy side by side


def test_learning_curves_loss_only_gives_one_narrower_panel(tmp_path):
    both = read_png(plot_learning_curves(make_history(), tmp_path / "both.png"))
    history = {"train_loss": [0.9, 0.5, 0.4], "val_loss": None}
    loss_only = read_png(plot_learning_curves(history, tmp_path / "loss.png"))
    assert loss_only.shape[1] < 0.7 * both.shape[1]


def test_learning_curves_single_epoch_and_nan(tmp_path):
    read_png(plot_learning_curves({"train_loss": [0.7]}, tmp_path / "one.png"))
    diverged = {"epoch": [1, 2, 3], "train_loss": [1.0, float("nan"), float("inf")]}
    read_png(plot_learning_curves(diverged, tmp_path / "nan.png", title="NaN death"))


def test_history_series_skips_none_and_numbers_epochs_from_one():
    epochs, values = history_series(make_history(6), "val_accuracy")
    np.testing.assert_array_equal(epochs, [1, 4])
    np.testing.assert_array_equal(values, [0.8, 0.8])
    epochs, values = history_series({"train_loss": [3.0, 2.0]}, "train_loss")
    np.testing.assert_array_equal(epochs, [1, 2])
    assert history_series({"train_loss": [None, None]}, "train_loss") is None
    assert history_series({}, "val_loss") is None


def test_history_series_nan_accuracy_is_not_computed_but_nan_loss_is_kept():
    history = {"train_loss": [1.0, float("nan")], "train_accuracy": [float("nan"), 0.5]}
    np.testing.assert_array_equal(history_series(history, "train_loss")[1], [1.0, np.nan])
    epochs, values = history_series(history, "train_accuracy", drop_non_finite=True)
    np.testing.assert_array_equal(epochs, [2])
    assert (
        history_series({"val_accuracy": [float("nan")]}, "val_accuracy", drop_non_finite=True)
        is None
    )


def test_learning_curves_all_nan_accuracy_gives_loss_panel_only(tmp_path):
    history = {"train_loss": [0.9, 0.5, 0.4], "train_accuracy": [float("nan")] * 3}
    pixels = read_png(plot_learning_curves(history, tmp_path / "nan_acc.png"))
    assert pixels.shape[1] < 1.5 * pixels.shape[0]  # one panel, not two side by side


@pytest.mark.parametrize(
    "history",
    [{}, {"train_loss": []}, {"val_loss": [None, None]}, {"epoch": [1, 2], "lr": [0.1, 0.1]}],
)
def test_learning_curves_empty_history_raises(tmp_path, history):
    with pytest.raises(ValueError, match="no values to plot"):
        plot_learning_curves(history, tmp_path / "empty.png")
    assert not (tmp_path / "empty.png").exists()


def test_learning_curves_length_mismatch_and_non_dict_raise(tmp_path):
    with pytest.raises(ValueError, match="one value per epoch"):
        plot_learning_curves({"epoch": [1, 2, 3], "train_loss": [1.0, 0.5]}, tmp_path / "x.png")
    with pytest.raises(ValueError, match="dict"):
        plot_learning_curves([1.0, 0.5], tmp_path / "x.png")


# --- confusion matrix ---------------------------------------------------------------------


def test_draw_epoch_curves_one_line_per_network_from_epoch_1():
    fig, ax = plt.subplots()
    ax.axhline(2.3, label="chance")  # a reference line the legend must still list
    curves = [([2.0, 1.5, 1.2], {"label": "A", "linestyle": "--"}), ([2.1, 1.9], {"label": "B"})]
    draw_epoch_curves(ax, curves, ylabel="training loss")
    lines = ax.get_lines()[1:]
    assert [list(line.get_xdata()) for line in lines] == [[1, 2, 3], [1, 2]]
    assert [list(line.get_ydata()) for line in lines] == [[2.0, 1.5, 1.2], [2.1, 1.9]]
    assert lines[0].get_linestyle() == "--"
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["chance", "A", "B"]
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("epoch", "training loss")
    plt.close(fig)


def test_draw_epoch_curves_empty_curve_raises():
    fig, ax = plt.subplots()
    with pytest.raises(ValueError, match="'A' has no values"):
        draw_epoch_curves(ax, [([], {"label": "A"})])
    plt.close(fig)


def test_confusion_counts_known_and_against_sklearn():
    counts = confusion_counts(np.array([0, 0, 1, 2, 2]), np.array([0, 1, 1, 2, 0]), 3)
    np.testing.assert_array_equal(counts, [[1, 1, 0], [0, 1, 0], [1, 0, 1]])
    rng = np.random.default_rng(0)
    y_true, y_pred = rng.integers(0, 7, 300), rng.integers(0, 7, 300)
    np.testing.assert_array_equal(
        confusion_counts(y_true, y_pred, 7), confusion_matrix(y_true, y_pred, labels=range(7))
    )


@pytest.mark.filterwarnings("error")  # an absent class must not divide by zero
@pytest.mark.parametrize("normalize", [False, True])
def test_confusion_matrix_writes_png(tmp_path, normalize):
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 9, 400)  # class 9 never occurs: an all-zero row
    y_pred = np.where(rng.random(400) < 0.8, y_true, rng.integers(0, 10, 400))
    path = plot_confusion_matrix(y_true, y_pred, FASHION_NAMES, tmp_path / "cm.png", normalize)
    read_png(path)


def test_confusion_matrix_accepts_tensors_and_many_classes(tmp_path):
    y = torch.arange(30)
    names = [f"c{k}" for k in range(30)]  # beyond 20 classes cells are not annotated
    read_png(plot_confusion_matrix(y, y, names, tmp_path / "cm30.png"), max_side=2500)


@pytest.mark.parametrize(
    "y_true, y_pred, names, match",
    [
        ([0, 1, 2], [0, 1, 1], ["a", "b"], "out of range"),
        ([0, 1], [0, 1, 1], ["a", "b"], "equal length"),
        ([], [], ["a", "b"], "non-empty"),
        ([0, 1], [0, 1], [], "at least one class"),
        ([0, 1], [0.3, 0.7], ["a", "b"], "argmax"),
    ],
)
def test_confusion_matrix_bad_input_raises(tmp_path, y_true, y_pred, names, match):
    with pytest.raises(ValueError, match=match):
        plot_confusion_matrix(y_true, y_pred, names, tmp_path / "cm.png")


# --- decision boundary --------------------------------------------------------------------


def test_make_grid_covers_data_with_margin():
    x = np.array([[0.0, -1.0], [2.0, 3.0]])
    xx, yy, points = make_grid(x, 50)
    assert xx.shape == yy.shape == (50, 50)
    assert points.shape == (2500, 2) and points.dtype == np.float32
    np.testing.assert_allclose([xx.min(), xx.max()], [-0.2, 2.2])  # 10 % of the range of 2
    np.testing.assert_allclose([yy.min(), yy.max()], [-1.4, 3.4])  # 10 % of the range of 4
    np.testing.assert_allclose(points[:, 0].reshape(50, 50), xx, rtol=1e-6)  # row-major
    np.testing.assert_allclose(points[:, 1].reshape(50, 50), yy, rtol=1e-6)


def test_make_grid_constant_coordinate_gets_width():
    xx, yy, _ = make_grid(np.array([[1.0, 5.0], [1.0, 6.0]]), 10)
    np.testing.assert_allclose([xx.min(), xx.max()], [0.5, 1.5])


def test_predict_grid_known_classifier_regions():
    xx, yy, points = make_grid(np.array([[-1.0, -1.0], [1.0, 1.0]]), 41)
    zz = predict_grid(lambda p: p[:, 0] > 0, xx, points)
    assert zz.shape == (41, 41)
    np.testing.assert_array_equal(zz, (xx > 0).astype(np.int64))  # right half is class 1
    zz = predict_grid(lambda p: (p[:, 1] > 0).astype(np.int64), xx, points)
    np.testing.assert_array_equal(zz, (yy > 0).astype(np.int64))  # top half is class 1


def test_decision_boundary_image_shows_two_regions(tmp_path):
    x = np.array([[-1.0, -1.0], [1.0, 1.0]])  # points in corners, the middle row is background
    y = np.array([0, 1])
    path = plot_decision_boundary(lambda p: p[:, 0] > 0, x, y, tmp_path / "db.png", "x0 > 0")
    pixels = read_png(path)
    height, width = pixels.shape[:2]
    left = pixels[height // 2, int(0.3 * width), :3]
    right = pixels[height // 2, int(0.75 * width), :3]
    assert left[2] > left[0]  # class 0 region is tab:blue: more blue than red
    assert right[0] > right[2]  # class 1 region is tab:orange: more red than blue


def test_decision_boundary_multiclass_with_names(tmp_path):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(300, 2))
    y = np.digitize(x[:, 0], [-0.5, 0.5])  # three vertical bands, classes 0, 1, 2

    def predict(points: np.ndarray) -> np.ndarray:
        return np.digitize(points[:, 0], [-0.5, 0.5])

    path = plot_decision_boundary(
        predict, x, y, tmp_path / "db3.png", resolution=50, class_names=["left", "middle", "right"]
    )
    read_png(path)


@pytest.mark.filterwarnings("error")
def test_decision_boundary_constant_prediction(tmp_path):
    # An untrained model that predicts one class everywhere: no boundary line, still a plot.
    x, y = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1])
    read_png(plot_decision_boundary(lambda p: np.ones(len(p)), x, y, tmp_path / "const.png"))
    read_png(plot_decision_boundary(lambda p: np.zeros(len(p)), x, y * 0, tmp_path / "one.png"))


@pytest.mark.parametrize(
    "x, y, resolution, match",
    [
        (np.zeros((5, 3)), np.zeros(5), 20, r"\(N, 2\)"),
        (np.zeros(5), np.zeros(5), 20, r"\(N, 2\)"),
        (np.zeros((5, 2)), np.zeros(4), 20, "one label per point"),
        (np.zeros((0, 2)), np.zeros(0), 20, "non-empty"),
        (np.zeros((5, 2)), np.zeros(5), 1, "resolution"),
        (np.full((5, 2), np.nan), np.zeros(5), 20, "NaN"),
    ],
)
def test_decision_boundary_bad_input_raises(tmp_path, x, y, resolution, match):
    with pytest.raises(ValueError, match=match):
        plot_decision_boundary(
            lambda p: p[:, 0] > 0, x, y, tmp_path / "db.png", resolution=resolution
        )


def test_decision_boundary_bad_predict_fn_raises(tmp_path):
    x, y = np.array([[0.0, 0.0], [1.0, 1.0]]), np.array([0, 1])
    with pytest.raises(ValueError, match="argmax"):  # probabilities instead of indices
        plot_decision_boundary(lambda p: np.full(len(p), 0.4), x, y, tmp_path / "db.png")
    with pytest.raises(ValueError, match="one class index per input row"):
        plot_decision_boundary(lambda p: np.zeros(3), x, y, tmp_path / "db.png")


# --- gradient audit -----------------------------------------------------------------------


def test_gradient_audit_writes_png(tmp_path):
    read_png(plot_gradient_audit(make_audit(), tmp_path / "audit.png"))


def test_gradient_audit_numpy_model_without_grad_norms(tmp_path):
    audit = make_audit(with_grads=False)
    assert audit_series(audit, "grad_norm") == {}
    read_png(plot_gradient_audit(audit, tmp_path / "audit_np.png", title="Perceptron"))


@pytest.mark.filterwarnings("error")  # zeros on a log axis must not reach matplotlib
def test_gradient_audit_zero_and_nan_values(tmp_path):
    audit = make_audit(5)
    audit[1]["layers"]["fc1.weight"] = {"grad_norm": 0.0, "update_ratio": 0.0}  # broken graph
    audit[3]["layers"]["fc1.bias"] = {"grad_norm": float("nan"), "update_ratio": float("inf")}
    read_png(plot_gradient_audit(audit, tmp_path / "audit_edges.png"))
    only_zeros = [{"step": 0, "epoch": 0, "layers": {"w": {"grad_norm": 0.0, "update_ratio": 0.0}}}]
    read_png(plot_gradient_audit(only_zeros, tmp_path / "audit_zeros.png"))


def test_gradient_audit_deep_model_uses_depth_colours(tmp_path):
    audit = [
        {
            "step": s,
            "epoch": 0,
            "layers": {
                f"block{i}.weight": {"grad_norm": 0.1 * (i + 1), "update_ratio": 1e-3}
                for i in range(30)
            },
        }
        for s in range(10)
    ]
    read_png(plot_gradient_audit(audit, tmp_path / "audit_deep.png"))


def test_audit_series_order_and_none_skipping():
    audit = make_audit(3)
    audit[1]["layers"]["fc1.bias"]["update_ratio"] = None
    audit[2]["layers"]["late.weight"] = {"grad_norm": 2.0, "update_ratio": 1e-2}
    series = audit_series(audit, "update_ratio")
    assert list(series) == ["fc1.weight", "fc1.bias", "late.weight"]
    steps, values = series["fc1.bias"]
    np.testing.assert_array_equal(steps, [0, 2])
    np.testing.assert_array_equal(values, [2e-4, 2e-4])
    np.testing.assert_array_equal(series["late.weight"][0], [2])


def test_gradient_audit_layer_without_values_and_single_record(tmp_path):
    # The perceptron on xor: weights start at zero, so their update ratio is undefined (None).
    audit = [
        {
            "step": 50,
            "epoch": 12,
            "layers": {
                "weight": {"grad_norm": None, "update_ratio": None},
                "bias": {"grad_norm": None, "update_ratio": 1.0},
            },
        }
    ]
    assert list(audit_series(audit, "update_ratio")) == ["bias"]
    read_png(plot_gradient_audit(audit, tmp_path / "audit_one.png"))


def test_audit_bands_match_the_engine():
    """The shaded bands must be the thresholds the engine warns about."""
    assert plotting.audit.UPDATE_RATIO_FROZEN == engine_audit.RATIO_FROZEN
    assert plotting.audit.UPDATE_RATIO_UNSTABLE == engine_audit.RATIO_UNSTABLE
    assert plotting.audit.GRAD_NORM_EXPLODING == engine_audit.GRAD_EXPLODING


def test_gradient_audit_plots_engine_records(tmp_path):
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    auditor = engine_audit.GradientAuditor(model)
    x, y = torch.randn(16, 4), torch.randint(0, 2, (16,))
    audit = []
    for step in range(5):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(x), y).backward()
        before, grad_norms = auditor.snapshot(), auditor.grad_norms()
        optimizer.step()
        audit.append(auditor.record(before, grad_norms, step=step, epoch=0))
    assert list(audit_series(audit, "grad_norm")) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    read_png(plot_gradient_audit(audit, tmp_path / "audit_engine.png"))


@pytest.mark.parametrize(
    "audit, match",
    [
        ([], "non-empty"),
        ({"step": 0, "layers": {}}, "non-empty list"),
        ([{"step": 0}], "'layers' dict"),
        ([{"step": 0, "layers": {"w": 1.0}}], "must be a dict"),
        ([{"step": 0, "layers": {"w": {"grad_norm": -1.0, "update_ratio": 1e-3}}}], ">= 0"),
        ([{"step": 0, "layers": {"w": {"grad_norm": None, "update_ratio": None}}}], "no grad"),
    ],
)
def test_gradient_audit_bad_input_raises(tmp_path, audit, match):
    with pytest.raises(ValueError, match=match):
        plot_gradient_audit(audit, tmp_path / "audit.png")


# --- weights as images --------------------------------------------------------------------


@pytest.mark.parametrize(
    "num_images, expected",
    [(1, (1, 1)), (5, (1, 5)), (7, (2, 5)), (10, (2, 5)), (11, (3, 4)), (64, (8, 8))],
)
def test_grid_shape(num_images, expected):
    assert grid_shape(num_images) == expected


def test_weights_as_images_class_templates(tmp_path):
    weights = np.random.default_rng(0).normal(size=(10, 784))  # (K, D) = (10, 28 * 28)
    pixels = read_png(
        plot_weights_as_images(weights, (28, 28), tmp_path / "w.png", titles=FASHION_NAMES)
    )
    assert pixels.shape[1] > pixels.shape[0]  # two rows of five: wider than tall


def test_weights_as_images_single_vector_tensor_and_many_units(tmp_path):
    read_png(plot_weights_as_images(torch.randn(64), (8, 8), tmp_path / "one.png"))
    read_png(plot_weights_as_images(np.zeros((3, 6)), (2, 3), tmp_path / "zeros.png"))
    many = np.random.default_rng(1).normal(size=(256, 64))  # 16 x 16 grid stays bounded
    read_png(plot_weights_as_images(many, (8, 8), tmp_path / "many.png"), max_side=2000)


@pytest.mark.parametrize(
    "weights, shape, titles, match",
    [
        (np.zeros((2, 10)), (3, 3), None, "pixels"),
        (np.zeros((2, 9)), (3, 3), ["only one"], "titles"),
        (np.full((2, 9), np.nan), (3, 3), None, "NaN"),
        (np.zeros((2, 3, 3)), (3, 3), None, r"\(K, D\)"),
        (np.zeros((0, 9)), (3, 3), None, r"\(K, D\)"),
        (np.zeros((2, 9)), (9,), None, "two positive integers"),
        (np.zeros((2, 9)), (0, 9), None, "two positive integers"),
    ],
)
def test_weights_as_images_bad_input_raises(tmp_path, weights, shape, titles, match):
    with pytest.raises(ValueError, match=match):
        plot_weights_as_images(weights, shape, tmp_path / "w.png", titles)
