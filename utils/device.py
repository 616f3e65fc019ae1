"""Device selection with an explicit, logged fallback to CPU."""

from __future__ import annotations

import logging
import re

import torch

from utils.exceptions import ConfigError

logger = logging.getLogger(__name__)

VALID_DEVICE_NAMES = ("auto", "cpu", "cuda", "cuda:N", "mps")
_CUDA_PATTERN = re.compile(r"cuda(?::(\d+))?")


def check_device_name(name: str) -> str:
    """Normalise a device name and reject unknown ones, without touching any hardware.

    Args:
        name: One of ``auto``, ``cpu``, ``cuda``, ``cuda:N``, ``mps`` (case and surrounding
            whitespace are ignored).

    Returns:
        The lower-cased, stripped name.

    Raises:
        ConfigError: If the name is not one of the valid names.
    """
    normalised = name.strip().lower() if isinstance(name, str) else ""
    if normalised in ("auto", "cpu", "mps") or _CUDA_PATTERN.fullmatch(normalised):
        return normalised
    raise ConfigError(f"unknown device {name!r}; valid names: {', '.join(VALID_DEVICE_NAMES)}")


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps is not None and mps.is_available())


def select_device(name: str = "auto") -> torch.device:
    """Turn a device name from a config or the command line into a ``torch.device``.

    ``auto`` picks CUDA if available, else MPS if available, else CPU. An explicit ``cuda``,
    ``cuda:N`` or ``mps`` that is not available falls back to CPU with a WARNING saying why,
    so a config written on a GPU machine still runs on a laptop. The choice is logged.

    Args:
        name: ``auto``, ``cpu``, ``cuda``, ``cuda:N`` or ``mps``.

    Returns:
        The selected device.

    Raises:
        ConfigError: If the name is not one of the valid names (e.g. ``tpu``, ``gpu0``).
    """
    name = check_device_name(name)
    if name == "auto":
        if torch.cuda.is_available():
            device = torch.device("cuda")
            reason = f"CUDA is available ({torch.cuda.get_device_name(0)})"
        elif _mps_available():
            device = torch.device("mps")
            reason = "CUDA is not available, MPS is"
        else:
            device = torch.device("cpu")
            reason = "neither CUDA nor MPS is available"
        logger.info("device auto -> %s: %s", device, reason)
        return device
    if name == "cpu":
        logger.info("device cpu: requested")
        return torch.device("cpu")
    if name == "mps":
        if _mps_available():
            logger.info("device mps: requested and available")
            return torch.device("mps")
        logger.warning("device mps requested but MPS is not available; falling back to cpu")
        return torch.device("cpu")
    # cuda or cuda:N
    if not torch.cuda.is_available():
        logger.warning(
            "device %s requested but CUDA is not available (torch %s, built with CUDA %s); "
            "falling back to cpu",
            name,
            torch.__version__,
            torch.version.cuda,
        )
        return torch.device("cpu")
    match = _CUDA_PATTERN.fullmatch(name)
    assert match is not None  # guaranteed by check_device_name
    index = int(match.group(1)) if match.group(1) is not None else 0
    count = torch.cuda.device_count()
    if index >= count:
        logger.warning(
            "device %s requested but only %d CUDA device(s) exist; falling back to cpu",
            name,
            count,
        )
        return torch.device("cpu")
    logger.info("device %s: requested and available (%s)", name, torch.cuda.get_device_name(index))
    return torch.device(name)
