"""Load a model folder's sibling modules without name collisions, and the model registry.

Every ``models/NN_name/src/`` folder has its own ``config.py``, ``model.py``, ``constants.py``,
``train.py`` and ``evaluate.py`` that import each other by plain sibling names
(``from config import X``), because users run ``python src/train.py``. Two models loaded in
one process (pytest, the docs builder) would then share ``sys.modules["config"]``. This module
is the one place that solves it: :func:`load_model_modules` imports one folder's modules in
isolation and restores ``sys.path`` and the sibling entries of ``sys.modules`` afterwards.
"""

from __future__ import annotations

import importlib
import sys
import threading
import types
from pathlib import Path

from utils.exceptions import ModelError

MODEL_MODULE_NAMES = ("constants", "config", "model", "analysis", "train", "evaluate")

# A model's src/ must not define modules named like the shared packages: while it is loaded
# its src/ is first on sys.path and would shadow them.
_RESERVED_NAMES = frozenset({"data_utils", "engine", "plotting", "utils", "models", "tests"})

REPO_ROOT = Path(__file__).resolve().parent.parent

_lock = threading.RLock()
_cache: dict[Path, types.SimpleNamespace] = {}
# Every module imported from a model's src/ (including helpers such as layers.py), kept so
# that code needing a module's globals after it left sys.modules can still find them.
_loaded_modules: list[types.ModuleType] = []


def _local_module_names(src_dir: Path) -> set[str]:
    """Top-level module names that ``src_dir`` provides (``*.py`` files and packages)."""
    names = {p.stem for p in src_dir.glob("*.py") if p.stem != "__init__"}
    names |= {p.name for p in src_dir.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}
    return names


def load_model_modules(model_dir: Path) -> types.SimpleNamespace:
    """Import one model folder's ``src`` modules in isolation and return them.

    Under a lock: put ``model_dir/src`` first on ``sys.path``, remove from ``sys.modules``
    every name that ``src/`` provides, import ``constants``, ``config``, ``model``,
    ``analysis``, ``train`` and ``evaluate`` (those that exist), then restore ``sys.path``
    exactly and put those ``sys.modules`` entries back as they were. Modules imported from
    elsewhere along the way (torch, the shared packages) stay cached as usual. The loaded
    modules keep working: their sibling names were bound at import time. Results are cached per
    resolved ``model_dir``, so loading the same folder twice returns the same module objects.

    Args:
        model_dir: The model folder, e.g. ``models/01_perceptron`` (must contain ``src/``).

    Returns:
        A namespace with one attribute per module found, e.g. ``ns.config``, ``ns.model``.

    Raises:
        ModelError: If ``src/`` is missing, defines a module named like a shared package, or
            one of its modules fails to import (missing import or syntax error).
    """
    model_dir = Path(model_dir).resolve()
    src_dir = model_dir / "src"
    with _lock:
        if model_dir in _cache:
            return _cache[model_dir]
        if not src_dir.is_dir():
            raise ModelError(f"model folder {model_dir} has no src/ directory")
        local_names = _local_module_names(src_dir)
        reserved = sorted(local_names & _RESERVED_NAMES)
        if reserved:
            raise ModelError(
                f"{src_dir} defines {reserved}, which would shadow the shared packages; rename them"
            )
        saved_path = list(sys.path)
        saved_modules = {name: sys.modules[name] for name in local_names if name in sys.modules}
        loaded: dict[str, types.ModuleType] = {}
        try:
            for name in local_names:
                sys.modules.pop(name, None)
            sys.path.insert(0, str(src_dir))
            importlib.invalidate_caches()
            for name in MODEL_MODULE_NAMES:
                if name in local_names:
                    try:
                        loaded[name] = importlib.import_module(name)
                    except (ImportError, SyntaxError) as exc:
                        raise ModelError(f"cannot import {name} from {src_dir}: {exc}") from exc
            _loaded_modules.extend(
                sys.modules[name] for name in sorted(local_names) if name in sys.modules
            )
        finally:
            sys.path[:] = saved_path
            for name in local_names:
                sys.modules.pop(name, None)
            sys.modules.update(saved_modules)
        namespace = types.SimpleNamespace(**loaded)
        _cache[model_dir] = namespace
        return namespace


def find_loaded_module(obj: type) -> types.ModuleType | None:
    """Return the module loaded by :func:`load_model_modules` that defines class ``obj``.

    Used by :mod:`utils.config` to evaluate a model config's string annotations after its
    ``config`` module has left ``sys.modules``.

    Args:
        obj: A class, e.g. a model's config dataclass.

    Returns:
        The defining module, or None if no loaded model module defines it.
    """
    with _lock:
        for module in _loaded_modules:
            if module.__name__ == obj.__module__ and vars(module).get(obj.__name__) is obj:
                return module
    return None


def model_dirs(repo_root: Path | None = None) -> dict[str, Path]:
    """Every model folder on disk: folder name -> path for each ``models/NN_*`` with ``src/``.

    The registry by model name is ``utils.registry.MODELS``; tests/test_every_model.py checks
    that it names exactly these folders.

    Args:
        repo_root: Repository root; defaults to the one containing this package.

    Returns:
        A plain dict sorted by folder name, e.g. ``{"01_perceptron": Path(...)}``.
    """
    models_root = Path(repo_root if repo_root is not None else REPO_ROOT) / "models"
    if not models_root.is_dir():
        return {}
    found = {
        path.name: path
        for path in models_root.iterdir()
        if path.is_dir()
        and path.name[:2].isdigit()
        and path.name[2:3] == "_"
        and (path / "src").is_dir()
    }
    return dict(sorted(found.items()))
