"""Boxes over images: targets and predictions draw into one PNG; boxes land where they say."""

import matplotlib.image as mpimg
import matplotlib.pyplot as plt
import numpy as np
import pytest
import torch

from plotting import draw_detections, plot_detection_rows


@pytest.fixture(autouse=True)
def no_figure_left_open():
    plt.close("all")
    yield
    assert plt.get_fignums() == [], "a plotting function left a figure open"


def canvas_and_target(scores: bool = False) -> tuple[torch.Tensor, dict]:
    image = torch.zeros(1, 64, 64, dtype=torch.uint8)
    image[0, 10:30, 20:30] = 255
    masks = torch.zeros(2, 64, 64, dtype=torch.bool)
    masks[0, 10:30, 20:30] = True
    masks[1, 40:50, 40:60] = True
    target = {
        "boxes": torch.tensor([[20.0, 10.0, 30.0, 30.0], [40.0, 40.0, 60.0, 50.0]]),
        "labels": torch.tensor([3, 7]),
        "masks": masks,
        "iscrowd": torch.tensor([False, True]),
    }
    if scores:
        target = {"boxes": target["boxes"], "labels": target["labels"]}
        target["scores"] = torch.tensor([0.9, 0.25])
    return image, target


def test_draw_detections_puts_a_box_and_names_per_object():
    fig, ax = plt.subplots()
    image, target = canvas_and_target()
    draw_detections(ax, image, target, [str(i) for i in range(10)])
    texts = sorted(t.get_text() for t in ax.texts)
    assert texts == ["3", "7 crowd"]
    styles = [p.get_linestyle() for p in ax.patches]
    assert styles == ["-", "--"]  # the crowd object is dashed
    x, y = ax.patches[0].get_xy()
    assert (x, y) == (19.5, 9.5) and ax.patches[0].get_width() == 10.0  # pixel centres
    plt.close(fig)


def test_plot_detection_rows_writes_predictions_with_scores(tmp_path):
    image, truth = canvas_and_target()
    _, predicted = canvas_and_target(scores=True)
    rows = {"truth": (image[None], [truth]), "predicted": (image[None], [predicted])}
    path = plot_detection_rows(rows, [str(i) for i in range(10)], tmp_path / "d.png", "title")
    pixels = mpimg.imread(path)
    assert pixels.ndim == 3 and np.ptp(pixels[..., :3]) > 0


def test_plot_detection_rows_rejects_no_rows(tmp_path):
    with pytest.raises(AssertionError, match="rows must not be empty"):
        plot_detection_rows({}, ["0"], tmp_path / "d.png")
