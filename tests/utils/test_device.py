import logging

import pytest
import torch

from utils.device import check_device_name, select_device
from utils.exceptions import ConfigError


def test_cpu_is_cpu() -> None:
    assert select_device("cpu") == torch.device("cpu")


def test_auto_on_cpu_machine_logs_reason(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="utils.device"):
        assert select_device("auto") == torch.device("cpu")
    assert "neither CUDA nor MPS" in caplog.text


def test_auto_prefers_mps_without_cuda(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert select_device() == torch.device("mps")


@pytest.mark.parametrize("name", ["cuda", "cuda:1", "mps", " CUDA "])
def test_unavailable_accelerator_falls_back_to_cpu_with_warning(
    name: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="utils.device"):
        assert select_device(name) == torch.device("cpu")
    assert any(
        r.levelno == logging.WARNING and "not available" in r.message for r in caplog.records
    )


@pytest.mark.parametrize("name", ["tpu", "gpu0", "cuda:x", "", "cpu:0"])
def test_unknown_device_raises_listing_valid_names(name: str) -> None:
    with pytest.raises(ConfigError, match=r"auto, cpu, cuda, cuda:N, mps"):
        select_device(name)


def test_check_device_name_normalises() -> None:
    assert check_device_name(" Cuda:2 ") == "cuda:2"
