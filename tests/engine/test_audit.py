"""The gradient audit's warnings: declared bands (audit_expected) and Adam's first update."""

from __future__ import annotations

import logging

import numpy as np
import pytest
import torch

from engine.audit import RATIO_UNSTABLE, GradientAuditor


class UnitSteps:
    """A NumPy model whose rule adds 1 to every weight per step (ratio 1 from weights of 1)."""

    def __init__(self, expected: dict[str, str] | None = None) -> None:
        self.weight = np.ones(4)
        if expected is not None:
            self.audit_expected = expected

    def state_dict(self) -> dict[str, np.ndarray]:
        return {"weight": self.weight}

    def step(self) -> None:
        self.weight += 1.0


def audit_steps(auditor: GradientAuditor, model: UnitSteps, steps: int) -> list[dict]:
    records = []
    for step in range(1, steps + 1):
        before = auditor.snapshot()
        model.step()
        records.append(auditor.record(before, {}, step, 0))
    return records


def audit_messages(caplog, level: int) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "engine.audit" and r.levelno == level
    ]


def test_a_declared_band_is_recorded_and_explained_once_instead_of_warned(caplog):
    model = UnitSteps({"unstable": "this rule makes unit steps by design"})
    with caplog.at_level(logging.INFO, logger="engine.audit"):
        records = audit_steps(GradientAuditor(model), model, 3)
    assert records[0]["layers"]["weight"]["update_ratio"] == pytest.approx(1.0)  # still recorded
    assert not audit_messages(caplog, logging.WARNING)
    (info,) = audit_messages(caplog, logging.INFO)  # once, not at every audit
    assert "audit step 1" in info and "unit steps by design" in info and "unstable" in info


def test_an_undeclared_band_still_warns(caplog):
    model = UnitSteps({"frozen": "not the band this model leaves"})
    with caplog.at_level(logging.INFO, logger="engine.audit"):
        audit_steps(GradientAuditor(model), model, 1)
    (warning,) = audit_messages(caplog, logging.WARNING)
    assert "weight unstable" in warning


def test_an_unknown_band_in_audit_expected_is_refused():
    with pytest.raises(AssertionError, match="exploding"):
        GradientAuditor(UnitSteps({"exploding": "typo for a band that does not exist"}))


@pytest.mark.parametrize("optimizer", ["adam", "adamw"])
def test_adams_first_update_is_recorded_but_not_warned(kit, caplog, optimizer):
    """Adam's first step is lr * sign(g): its ratio lr * sqrt(n) / ||W|| says nothing of g."""
    config = kit.config(optimizer=optimizer, lr=0.05, audit_every=1, epochs=1)
    x, y = kit.data(n=8)
    trainer = kit.trainer(config)
    with caplog.at_level(logging.INFO, logger="engine.audit"):
        trainer.train(kit.loader(x, y, 8), kit.loader(x, y, 8))
    (record,) = trainer.history["audit"]
    assert record["step"] == 1
    assert max(v["update_ratio"] for v in record["layers"].values()) > RATIO_UNSTABLE
    assert not audit_messages(caplog, logging.WARNING)
    (info,) = audit_messages(caplog, logging.INFO)
    assert "audit step 1" in info and "unstable" in info and "sign(grad)" in info


def test_adams_later_updates_and_sgds_first_update_are_still_checked(kit, caplog):
    x, y = kit.data(n=16)
    with caplog.at_level(logging.WARNING, logger="engine.audit"):
        config = kit.config(optimizer="adam", lr=5.0, audit_every=1, epochs=1)
        kit.trainer(config).train(kit.loader(x, y, 8), kit.loader(x, y, 8))
        warnings = audit_messages(caplog, logging.WARNING)
        assert warnings and all("audit step 1:" not in w for w in warnings)
        assert any("audit step 2:" in w and "unstable" in w for w in warnings)
        caplog.clear()
        config = kit.config(optimizer="sgd", lr=50.0, audit_every=1, epochs=1)
        kit.trainer(config).train(kit.loader(x, y, 8), kit.loader(x, y, 8))
    assert any("audit step 1:" in w and "unstable" in w for w in audit_messages(caplog, 30))


def test_the_exemption_follows_adams_own_step_count_not_the_step_number(caplog):
    """An Adam restored from a checkpoint has a history: its next update is checked."""
    torch.manual_seed(0)
    layer = torch.nn.Linear(3, 2)
    optimizer = torch.optim.Adam(layer.parameters(), lr=10.0)

    def audited_step(auditor: GradientAuditor) -> None:
        before = auditor.snapshot()
        optimizer.zero_grad()
        layer(torch.ones(1, 3)).sum().backward()
        optimizer.step()
        auditor.record(before, auditor.grad_norms(), 1, 0)  # step number 1 both times

    with caplog.at_level(logging.INFO, logger="engine.audit"):
        audited_step(GradientAuditor(layer, optimizer))  # Adam's first update
        assert not audit_messages(caplog, logging.WARNING)
        audited_step(GradientAuditor(layer, optimizer))  # a new auditor, Adam's second update
    (warning,) = audit_messages(caplog, logging.WARNING)
    assert "unstable" in warning
