"""The gradient-audit plot's step axis: integer steps, and a readable picture for few audits."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import plotting.audit  # noqa: E402
from plotting.audit import plot_gradient_audit  # noqa: E402

LAYERS = ("fc1.weight", "fc1.bias", "fc2.weight")


def audit_at(steps: list[int]) -> list[dict]:
    return [
        {
            "step": step,
            "epoch": 0,
            "layers": {
                name: {"grad_norm": 0.5 / (i + 1), "update_ratio": 1e-2 / (i + 1)}
                for i, name in enumerate(LAYERS)
            },
        }
        for step in steps
    ]


@pytest.fixture
def drawn(monkeypatch):
    """Plot an audit and return the step axis of the figure, drawn, before it is closed."""
    captured = {}
    save = plotting.audit.save_figure

    def keep_axes(fig, path):
        fig.canvas.draw()
        captured["axes"] = fig.axes[:2]
        return save(fig, path)

    monkeypatch.setattr(plotting.audit, "save_figure", keep_axes)

    def draw(audit, tmp_path):
        plot_gradient_audit(audit, tmp_path / "audit.png")
        return captured["axes"]

    return draw


def visible_tick_labels(ax) -> list[str]:
    low, high = ax.get_xlim()
    return [
        label.get_text()
        for label, tick in zip(ax.get_xticklabels(), ax.get_xticks())
        if low <= tick <= high and label.get_text()
    ]


@pytest.mark.parametrize("steps", [[1], [1, 51], [1, 26, 51]], ids=["one", "two", "three"])
def test_few_audits_are_labelled_by_their_integer_steps(drawn, tmp_path, steps):
    _, ratio_ax = drawn(audit_at(steps), tmp_path)
    assert visible_tick_labels(ratio_ax) == [str(step) for step in steps]


@pytest.mark.parametrize("steps", [[1], [1, 51]], ids=["one", "two"])
def test_few_audits_put_the_layers_side_by_side_within_the_axis(drawn, tmp_path, steps):
    """One marker per layer and step, at distinct x, all well inside the x limits."""
    for ax in drawn(audit_at(steps), tmp_path):
        markers = [line for line in ax.get_lines() if line.get_marker() == "o"]  # not the bands
        xs = np.concatenate([line.get_xdata() for line in markers])
        assert len(xs) == len(LAYERS) * len(steps)
        assert len(np.unique(xs)) == len(xs), "markers of different layers must not overlap"
        low, high = ax.get_xlim()
        span = high - low
        assert low + 0.05 * span < xs.min() and xs.max() < high - 0.05 * span


def test_many_audits_have_integer_ticks_and_limits_at_the_audited_steps(drawn, tmp_path):
    steps = list(range(1, 400, 50))  # 8 audits, 1 .. 351
    _, ratio_ax = drawn(audit_at(steps), tmp_path)
    labels = visible_tick_labels(ratio_ax)
    assert labels and all(label.lstrip("-").isdigit() for label in labels)
    low, high = ratio_ax.get_xlim()
    assert low <= 1 and high >= 351 and high - low <= 1.05 * 350
