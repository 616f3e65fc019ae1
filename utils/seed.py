"""Seeding and RNG state capture for reproducible runs and exact resume.

:func:`get_rng_state` returns only plain Python values and tensors, so the state can live in
a checkpoint that is read back with ``torch.load(weights_only=True)`` (no pickled numpy
objects, no arbitrary classes).
"""

from __future__ import annotations

import logging
import random
from typing import Any

import numpy as np
import torch

from utils.exceptions import ConfigError

logger = logging.getLogger(__name__)


def set_random_seed(seed: int, deterministic: bool = False) -> None:
    """Seed Python ``random``, numpy's global RNG and torch (CPU and every CUDA device).

    Args:
        seed: Non-negative integer below 2**32 (numpy's limit).
        deterministic: Also ask torch for deterministic kernels
            (``torch.use_deterministic_algorithms(True, warn_only=True)``, cuDNN deterministic,
            cuDNN benchmark off). Slower on GPU; ops without a deterministic kernel warn
            instead of failing.

    Raises:
        ConfigError: If ``seed`` is not an int in [0, 2**32).
    """
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.deterministic = True
        torch.backends.cudnn.benchmark = False
    logger.debug("seeded python, numpy and torch with %d (deterministic=%s)", seed, deterministic)


def get_rng_state() -> dict[str, Any]:
    """Capture the state of every global RNG as plain values and tensors.

    Returns:
        A dict with keys ``"python"``, ``"numpy"``, ``"torch"`` and, when CUDA is available,
        ``"cuda"``. It survives ``torch.save`` + ``torch.load(weights_only=True)``.
    """
    version, internal, gauss_next = random.getstate()
    # numpy legacy state: ('MT19937', keys uint32 (624,), pos, has_gauss, cached_gaussian)
    algorithm, keys, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)
    state: dict[str, Any] = {
        "python": {"version": int(version), "internal": list(internal), "gauss_next": gauss_next},
        "numpy": {
            "algorithm": str(algorithm),
            "keys": torch.from_numpy(keys.astype(np.int64)),  # (624,) uint32 values kept exact
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "torch": torch.get_rng_state(),  # (5056,) uint8
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()  # one uint8 tensor per device
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore the global RNGs from a dict made by :func:`get_rng_state`.

    The CUDA entry is restored only when CUDA is available (a GPU checkpoint resumed on a
    CPU machine keeps its CPU streams exact); a missing CUDA entry leaves CUDA untouched.

    Args:
        state: The dict returned by :func:`get_rng_state`, possibly after a save/load.

    Raises:
        ConfigError: If a required key is missing.
    """
    missing = [key for key in ("python", "numpy", "torch") if key not in state]
    if missing:
        raise ConfigError(f"RNG state is missing {missing}; expected a dict from get_rng_state()")
    py = state["python"]
    random.setstate((int(py["version"]), tuple(int(v) for v in py["internal"]), py["gauss_next"]))
    nps = state["numpy"]
    keys = np.asarray(torch.as_tensor(nps["keys"]).cpu().numpy(), dtype=np.uint32)
    np.random.set_state(
        (
            str(nps["algorithm"]),
            keys,
            int(nps["pos"]),
            int(nps["has_gauss"]),
            float(nps["cached_gaussian"]),
        )
    )
    torch.set_rng_state(torch.as_tensor(state["torch"], dtype=torch.uint8).cpu())
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all([t.cpu() for t in state["cuda"]])
