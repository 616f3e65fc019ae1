"""Typed, validated dataclass configs and the one helper that applies experiments and overrides.

A model's ``config.py`` defines one dataclass that subclasses :class:`BaseConfig` (one level,
no chains) and adds its own fields with commented defaults. Experiments are named data in a
YAML file (``experiment-name -> {field: value}``), read with ``yaml.SafeLoader`` (plus a check
that no mapping sets the same key twice).

Contract for config classes:

* Every init field has a default, so ``config_cls()`` is the base configuration.
* Field annotations drive coercion. Supported: ``int``, ``float`` (ints accepted), ``bool``,
  ``str``, ``Path``, ``X | None`` / ``Optional[X]``, ``Literal[...]``, ``tuple[X, ...]``,
  ``tuple[X, Y]``, ``list[X]``, ``dict[K, V]`` (a mapping, or one written in YAML in a string as
  ``--set`` gives it). ``from __future__ import annotations`` is fine.
* If the class defines ``validate(self) -> None``, it is called after every construction made
  here (:func:`load_config`, :func:`apply_overrides`, :func:`config_from_dict`). It checks
  ranges and cross-field constraints and raises :class:`~utils.exceptions.ConfigError` with a
  message a user can act on (no ``assert``: checks must survive ``python -O``).
  :meth:`BaseConfig.validate` reports every failed entry of :meth:`BaseConfig.checks`, a list of
  ``(holds, message)`` pairs: a model's config adds its own constraints by extending that list
  (``return super().checks() + [(self.dropout < 1, "dropout must be < 1 ..."), ...]``), and says
  how its model learns in one class attribute, ``learns_by`` (:data:`BACKPROP` or the name of
  its own rule), which BaseConfig checks against ``optimizer``.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import sys
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, Mapping, TypeVar, Union, get_args, get_origin

import yaml

from utils.device import check_device_name
from utils.exceptions import ConfigError
from utils.files import plain
from utils.modules import find_loaded_module

logger = logging.getLogger(__name__)

ConfigT = TypeVar("ConfigT")

_TRUE_STRINGS = ("true", "1", "yes")
_FALSE_STRINGS = ("false", "0", "no")
_NONE_STRINGS = ("none", "null")


# --------------------------------------------------------------------------------------------
# Type coercion
# --------------------------------------------------------------------------------------------


def _type_name(tp: Any) -> str:
    if isinstance(tp, type) and get_origin(tp) is None:
        return tp.__name__
    return str(tp).replace("typing.", "").replace("NoneType", "None")


def _type_error(name: str, tp: Any, value: Any) -> ConfigError:
    return ConfigError(
        f"field {name!r} expects {_type_name(tp)}, got {value!r} ({type(value).__name__})"
    )


def _split_sequence(value: str) -> list[str]:
    text = value.strip()
    if len(text) >= 2 and text[0] + text[-1] in ("()", "[]"):
        text = text[1:-1].strip()
    return [item.strip() for item in text.split(",")] if text else []


def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Return ``value`` converted to the annotated type ``tp`` or raise ConfigError."""
    origin = get_origin(tp)
    if tp is Any:
        return value
    if origin is Union or origin is types.UnionType:
        args = get_args(tp)
        is_none = value is None or (
            isinstance(value, str) and value.strip().lower() in _NONE_STRINGS
        )
        if type(None) in args and is_none:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(value, arg, name)
            except ConfigError:
                continue
        raise _type_error(name, tp, value)
    if value is None:
        raise _type_error(name, tp, value)
    if origin is Literal:
        allowed = get_args(tp)
        for option in allowed:
            if type(value) is type(option) and value == option:
                return option
            if isinstance(value, str) and value.strip() == str(option):
                return option
        raise ConfigError(f"field {name!r} must be one of {list(allowed)}, got {value!r}")
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE_STRINGS:
            return True
        if isinstance(value, str) and value.strip().lower() in _FALSE_STRINGS:
            return False
        raise ConfigError(f"field {name!r} expects bool (true/false/1/0/yes/no), got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise _type_error(name, tp, value)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                pass
        raise _type_error(name, tp, value)
    if tp is str:
        if isinstance(value, str):
            return value
        raise _type_error(name, tp, value)
    if tp is Path:
        if isinstance(value, (str, Path)):
            return Path(value)
        raise _type_error(name, tp, value)
    if origin in (tuple, list) or tp in (tuple, list):
        if isinstance(value, str):
            items: list[Any] = _split_sequence(value)
        elif isinstance(value, (list, tuple)):
            items = list(value)
        else:
            raise _type_error(name, tp, value)
        args = get_args(tp)
        if origin is tuple or tp is tuple:
            if not args or (len(args) == 2 and args[1] is Ellipsis):
                item_types = [args[0] if args else Any] * len(items)
            elif len(args) == len(items):
                item_types = list(args)
            else:
                raise ConfigError(
                    f"field {name!r} expects {_type_name(tp)} ({len(args)} items), "
                    f"got {value!r} ({len(items)} items)"
                )
            return tuple(
                _coerce(v, t, f"{name}[{i}]") for i, (v, t) in enumerate(zip(items, item_types))
            )
        item_type = args[0] if args else Any
        return [_coerce(v, item_type, f"{name}[{i}]") for i, v in enumerate(items)]
    if origin is dict or tp is dict:
        if isinstance(value, str):  # from the command line: --set 'data_options={block_size: 64}'
            try:
                value = yaml.safe_load(value)
            except yaml.YAMLError as err:
                raise _type_error(name, tp, value) from err
        if not isinstance(value, Mapping):
            raise _type_error(name, tp, value)
        key_type, value_type = get_args(tp) or (Any, Any)
        return {
            _coerce(k, key_type, f"{name} key"): _coerce(v, value_type, f"{name}[{k!r}]")
            for k, v in value.items()
        }
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise ConfigError(f"field {name!r} has an unsupported annotation {_type_name(tp)}")


# --------------------------------------------------------------------------------------------
# Dataclass introspection
# --------------------------------------------------------------------------------------------


def _defining_globals(cls: type) -> dict[str, Any]:
    """Globals of the module that defined ``cls``, to evaluate its string annotations.

    ``sys.modules[cls.__module__]`` is not enough for model configs: a model's ``config``
    module is loaded by :func:`utils.load_model_modules` and then removed from ``sys.modules``
    (another model has a ``config`` module too), so that registry is consulted as well.
    """
    module = sys.modules.get(cls.__module__)
    if module is not None and getattr(module, cls.__name__, None) is cls:
        return vars(module)
    loaded = find_loaded_module(cls)
    if loaded is not None:
        return vars(loaded)
    return vars(module) if module is not None else {}


def _field_types(config_cls: type) -> dict[str, Any]:
    """Resolved annotations of every dataclass field, base classes first."""
    hints: dict[str, Any] = {}
    for base in reversed(config_cls.__mro__):
        own = base.__dict__.get("__annotations__", {})
        if not dataclasses.is_dataclass(base) or not own:
            continue
        names = [f.name for f in dataclasses.fields(base) if f.name in own]
        # get_type_hints on a plain holder evaluates these annotations in the globals of the
        # module that wrote them (a subclass in a model folder and BaseConfig here differ).
        holder = types.SimpleNamespace(__annotations__={n: own[n] for n in names})
        try:
            hints.update(typing.get_type_hints(holder, globalns=_defining_globals(base)))
        except NameError as exc:
            raise ConfigError(
                f"cannot resolve the annotations of {base.__qualname__}: {exc}"
            ) from exc
    return hints


def _check_config_cls(config_cls: Any) -> None:
    if not (isinstance(config_cls, type) and dataclasses.is_dataclass(config_cls)):
        raise ConfigError(f"expected a dataclass type, got {config_cls!r}")
    no_default = [
        f.name
        for f in dataclasses.fields(config_cls)
        if f.init and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    ]
    if no_default:
        raise ConfigError(
            f"{config_cls.__name__} fields {no_default} have no default; every config field "
            f"needs one so that {config_cls.__name__}() is the base configuration"
        )


def _init_fields(config_cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(config_cls) if f.init]


def _resolve_changes(config_cls: type, changes: Mapping[str, Any], source: str) -> dict[str, Any]:
    """Check keys against the fields and coerce every value; ``-`` in keys means ``_``."""
    if not isinstance(changes, Mapping):
        raise ConfigError(f"{source} must be a mapping of field -> value, got {changes!r}")
    valid = _init_fields(config_cls)
    hints = _field_types(config_cls)
    resolved: dict[str, Any] = {}
    for raw_key, value in changes.items():
        key = raw_key.replace("-", "_") if isinstance(raw_key, str) else raw_key
        if key not in valid:
            raise ConfigError(
                f"unknown config key {raw_key!r} in {source}; "
                f"valid fields of {config_cls.__name__}: {', '.join(sorted(valid))}"
            )
        try:
            resolved[key] = _coerce(value, hints[key], key)
        except ConfigError as exc:
            raise ConfigError(f"{exc} (in {source})") from None
    return resolved


def _validate(config: Any) -> None:
    validate = getattr(config, "validate", None)
    if callable(validate):
        validate()


# --------------------------------------------------------------------------------------------
# Experiments files
# --------------------------------------------------------------------------------------------


class _UniqueKeyLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` that refuses a mapping setting the same key twice, at any depth.

    PyYAML keeps the last value of a repeated key without a word, so a second ``lr:`` in an
    experiment would silently win. The YAML spec requires unique keys; merge keys (``<<``) may
    still be overridden, as YAML intends.
    """

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        first_line: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)
            line = key_node.start_mark.line + 1
            try:
                seen = key in first_line
            except TypeError:  # an unhashable key: SafeLoader reports it below
                continue
            if seen:
                raise yaml.YAMLError(
                    f"key {key!r} appears twice in one mapping (lines {first_line[key]} and "
                    f"{line}); YAML keys must be unique, so remove one of them"
                )
            first_line[key] = line
        return super().construct_mapping(node, deep=deep)


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def load_experiments(experiments_file: Path) -> dict[str, dict[str, Any]]:
    """Read an experiments YAML file: a mapping experiment-name -> field overrides.

    Args:
        experiments_file: Path of the YAML file (usually ``models/NN_name/experiments.yaml``).

    Returns:
        A plain dict, experiment name -> dict of raw (not yet coerced) field values. An
        experiment with an empty body maps to ``{}``.

    Raises:
        ConfigError: If the file cannot be read, is not valid YAML (a key repeated in one
            mapping included: the message names it and both lines) or has the wrong shape.
    """
    path = Path(experiments_file)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read experiments file {path}: {exc}") from exc
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        raise ConfigError(f"invalid YAML in experiments file {path}: {exc}") from exc
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"experiments file {path} must be a mapping experiment-name -> field overrides, "
            f"got {type(data).__name__}"
        )
    experiments: dict[str, dict[str, Any]] = {}
    for name, body in data.items():
        if not isinstance(name, str):
            raise ConfigError(f"experiment names in {path} must be strings, got {name!r}")
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise ConfigError(
                f"experiment {name!r} in {path} must be a mapping of field overrides, "
                f"got {body!r}"
            )
        experiments[name] = dict(body)
    return experiments


def load_config(
    config_cls: type[ConfigT],
    experiments_file: Path,
    experiment: str,
    overrides: dict[str, object] | None = None,
) -> ConfigT:
    """Build a config: dataclass defaults, then the named experiment, then CLI overrides.

    If the class has a ``str`` field named ``experiment`` that the YAML entry does not set, it
    is filled with the experiment name. Values are coerced by the field annotations (see the
    module docstring); ``validate()`` runs once on the final config.

    Args:
        config_cls: The model's config dataclass (usually a :class:`BaseConfig` subclass).
        experiments_file: The YAML file of named experiments.
        experiment: Name of the experiment to load.
        overrides: Field -> value from the command line (strings such as ``"0.01"``,
            ``"true"``, ``"none"``, ``"1,2,3"`` or typed values); ``-`` in keys is read as ``_``.

    Returns:
        A new, validated instance of ``config_cls``.

    Raises:
        ConfigError: For an unknown experiment (lists the available ones), an unknown key
            (lists the valid fields), a value of the wrong type (names field, expected type and
            value), a value outside a Literal, or a failed ``validate()``.
    """
    _check_config_cls(config_cls)
    experiments = load_experiments(experiments_file)
    if experiment not in experiments:
        available = ", ".join(sorted(experiments)) or "(none)"
        raise ConfigError(
            f"unknown experiment {experiment!r} in {experiments_file}; available: {available}"
        )
    changes: dict[str, Any] = {}
    if _field_types(config_cls).get("experiment") is str:
        changes["experiment"] = experiment
    changes.update(
        _resolve_changes(
            config_cls, experiments[experiment], f"experiment {experiment!r} of {experiments_file}"
        )
    )
    changes.update(_resolve_changes(config_cls, overrides or {}, "overrides"))
    config = config_cls(**changes)
    _validate(config)
    return config


def apply_overrides(config: ConfigT, overrides: dict[str, object]) -> ConfigT:
    """Return a copy of ``config`` with ``overrides`` applied, coerced and validated.

    Args:
        config: A config dataclass instance (not modified).
        overrides: Field -> value; strings are coerced by the field's annotation, typed values
            are type-checked. ``-`` in keys is read as ``_``.

    Returns:
        A new instance made with ``dataclasses.replace``, after ``validate()``.

    Raises:
        ConfigError: For an unknown key, a wrong type, a Literal violation or a failed
            ``validate()``.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ConfigError(f"expected a config dataclass instance, got {config!r}")
    changes = _resolve_changes(type(config), overrides, "overrides")
    new_config = dataclasses.replace(config, **changes)
    _validate(new_config)
    return new_config


def config_to_dict(config: Any) -> dict[str, Any]:
    """Convert a config to a plain dict (tuples become lists, paths strings: utils.files.plain).

    Only init fields are included, so :func:`config_from_dict` can rebuild the config. The
    result is safe for YAML, JSON and ``torch.load(weights_only=True)``.

    Args:
        config: A config dataclass instance.

    Returns:
        Field name -> plain value.

    Raises:
        ConfigError: If ``config`` is not a dataclass instance.
    """
    if not dataclasses.is_dataclass(config) or isinstance(config, type):
        raise ConfigError(f"expected a config dataclass instance, got {config!r}")
    return {f.name: plain(getattr(config, f.name)) for f in dataclasses.fields(config) if f.init}


def config_from_dict(config_cls: type[ConfigT], data: Mapping[str, Any]) -> ConfigT:
    """Rebuild a config from :func:`config_to_dict` output (e.g. one stored in a checkpoint).

    Strict: unknown keys and wrong types raise, values are coerced like overrides, and
    ``validate()`` runs. Fields missing from ``data`` (a checkpoint written before a field
    existed) take the current default and a WARNING lists them.

    Args:
        config_cls: The config dataclass to build.
        data: Field name -> value.

    Returns:
        A validated instance of ``config_cls``.

    Raises:
        ConfigError: For unknown keys, wrong types or a failed ``validate()``.
    """
    _check_config_cls(config_cls)
    changes = _resolve_changes(config_cls, data, "stored config")
    missing = sorted(set(_init_fields(config_cls)) - set(changes))
    if missing:
        logger.warning(
            "stored config lacks fields %s; using the current defaults", ", ".join(missing)
        )
    config = config_cls(**changes)
    _validate(config)
    return config


# --------------------------------------------------------------------------------------------
# The fields every model shares
# --------------------------------------------------------------------------------------------

# The names a config may give; model configs use the aliases instead of repeating the Literals.
OptimizerName = Literal["sgd", "adam", "adamw", "none"]
SchedulerName = Literal["none", "step", "cosine", "plateau", "warmup_cosine", "warmup_inverse_sqrt"]
OPTIMIZERS = get_args(OptimizerName)
SCHEDULERS = get_args(SchedulerName)
# Stepped after every optimizer step, not every epoch.
PER_STEP_SCHEDULERS = ("warmup_cosine", "warmup_inverse_sqrt")
MONITOR_MODES = ("max", "min")
NAN_POLICIES = ("stop", "skip")
PRECISIONS = ("fp32", "bf16")
# ``learns_by`` of a model trained by gradients through a torch optimizer (the Trainer's
# backprop path); any other value names the model's own rule (its train_step).
BACKPROP = "backpropagation"


@dataclass
class BaseConfig:
    """Fields shared by every model's config. Model configs subclass it (one level only).

    Units are given per field. Subclasses add model fields with commented defaults, may extend
    :meth:`checks` with their own constraints, and set ``learns_by``.
    """

    # How the model learns, a class attribute (not a field: no experiment or override changes
    # it). BACKPROP: a torch optimizer steps on the gradients, so optimizer must be sgd, adam or
    # adamw. The name of the model's own rule ("the delta rule"): it updates its weights itself
    # (train_step), so optimizer must be "none". None: the config does not fix it (the MLP has
    # an implementation of each kind and checks the pairing itself).
    learns_by: ClassVar[str | None] = None

    # -- identity --------------------------------------------------------------------------
    experiment: str = ""  # experiment name; load_config fills it in from experiments.yaml
    dataset: str = ""  # key of data_utils.DATASETS
    seed: int = 42  # seeds python/numpy/torch and the data split; same seed -> same run

    # -- optimisation ----------------------------------------------------------------------
    epochs: int = 10  # full passes over the training split
    batch_size: int = 32  # samples per update step (1 = the online rules of the early papers)
    lr: float = 0.01  # learning rate per update; for rule-based learners the rule's eta
    # "none": the model applies its own learning rule (perceptron, delta, Hebbian) instead of
    # a torch optimizer.
    optimizer: OptimizerName = "sgd"
    # How torch runs the optimizer's update: "default" is torch's choice (one tensor at a time
    # on CPU, the same as a hand-written loop); "foreach" and "fused" batch the update over all
    # parameters (fused: one kernel, 2-4x faster steps; equal up to rounding, so runs differ
    # from "default" in the last bits; benchmarks/README.md measures it).
    optimizer_impl: Literal["default", "foreach", "fused"] = "default"
    momentum: float = 0.0  # SGD momentum in [0, 1); 0 = plain gradient descent as in the papers
    weight_decay: float = 0.0  # L2 penalty coefficient (decoupled for adamw); 0 = none
    # lr schedule: "step", "cosine" and "plateau" per epoch; the "warmup_" two per optimizer step
    # (linear warm-up over warmup_steps, then cosine decay to min_lr_ratio * lr at the last step,
    # max_steps or epochs x steps per epoch: the transformers' schedule).
    scheduler: SchedulerName = "none"
    warmup_steps: int = 0  # optimizer steps of linear warm-up for the two "warmup_" schedules
    min_lr_ratio: float = 0.0  # "warmup_cosine" decays to this fraction of lr, in [0, 1]
    step_size: int = 10  # epochs between lr decays for the "step" scheduler
    gamma: float = 0.1  # lr multiplier at each "step" decay / "plateau" reduction, in (0, 1]
    grad_clip: float | None = None  # max global L2 norm of the gradients; None = no clipping
    # Epochs without improvement of `monitor` before stopping; None = train all epochs.
    early_stopping_patience: int | None = None
    monitor: str = "val_accuracy"  # history key for early stopping, plateau and best checkpoint
    monitor_mode: Literal["max", "min"] = "max"  # "max" for accuracies, "min" for losses
    # Batches whose gradients are summed into one optimizer step (loss weighted so that the step
    # equals one batch of grad_accum_steps * batch_size); 1 = no accumulation. docs/engine.md.
    grad_accum_steps: int = 1
    max_steps: int | None = None  # stop after this many optimizer steps (a budget); None = epochs
    # On a NaN or Inf loss or gradient: "stop" saves a debug checkpoint and raises TrainingError;
    # "skip" drops that step (no update) and stops only after more than max_skipped_steps.
    nan_policy: Literal["stop", "skip"] = "stop"
    max_skipped_steps: int = 10  # steps nan_policy="skip" may drop over the whole run

    # -- bookkeeping -----------------------------------------------------------------------
    audit_every: int = 50  # optimizer steps between gradient-health audits
    checkpoint_every: int = 1  # epochs between periodic checkpoints
    keep_last: int = 3  # periodic checkpoints kept on disk; older ones are deleted

    # -- data ------------------------------------------------------------------------------
    val_fraction: float = 0.15  # share of the samples held out for validation, in [0, 1)
    test_fraction: float = 0.15  # share held out for testing (ignored with a canonical test set)
    standardize: bool = True  # zero mean, unit variance, fitted on the training split only
    # Options of the data set's own loader (load_dataset's **options), part of what the data is:
    # {"block_size": 256} for tiny_shakespeare's windows, {"n_samples": 400, "noise": 0.2} for a
    # synthetic set. Unknown options are a DataError naming the ones the loader takes.
    data_options: dict[str, int | float | str | bool] = dataclasses.field(default_factory=dict)

    # -- runtime ---------------------------------------------------------------------------
    device: str = "auto"  # auto, cpu, cuda, cuda:N or mps; unavailable -> cpu with a warning
    deterministic: bool = False  # deterministic torch kernels (slower on GPU)
    # "bf16": autocast forward and loss to bfloat16 (CPU and GPU); weights and optimizer stay fp32
    precision: Literal["fp32", "bf16"] = "fp32"
    # CPU threads for torch. 1 by default: on the small machines this project targets, shared
    # with other jobs, one thread was several times faster for small models, and a fixed count
    # keeps CPU runs bit-reproducible. On an idle machine two threads were 1.3-1.8x faster
    # (benchmarks/README.md measures both); None keeps torch's default (one per core).
    num_threads: int | None = 1

    def checks(self) -> list[tuple[bool, str]]:
        """Every constraint of this config, as ``(holds, message)`` pairs that validate reports.

        A model's config extends the list with its own ranges and cross-field constraints:
        ``return super().checks() + [(condition, "what must hold (got ...)"), ...]``. Each
        condition is evaluated, so one must not fail on a value another entry rejects (write
        ``len(w) == 5 and min(w) >= 1``, not ``min(w) >= 1``).
        """
        return [
            (0 <= self.seed < 2**32, f"seed must be in [0, 2**32) (got {self.seed})"),
            (self.epochs >= 1, f"epochs must be >= 1 (got {self.epochs})"),
            (self.batch_size >= 1, f"batch_size must be >= 1 (got {self.batch_size})"),
            (
                math.isfinite(self.lr) and 0 < self.lr <= 1e6,
                f"lr must be a number in (0, 1e6] (got {self.lr})",
            ),
            (
                self.optimizer in OPTIMIZERS,
                f"optimizer must be one of {list(OPTIMIZERS)} (got {self.optimizer!r})",
            ),
            (0 <= self.momentum < 1, f"momentum must be in [0, 1) (got {self.momentum})"),
            (self.weight_decay >= 0, f"weight_decay must be >= 0 (got {self.weight_decay})"),
            (
                self.scheduler in SCHEDULERS,
                f"scheduler must be one of {list(SCHEDULERS)} (got {self.scheduler!r})",
            ),
            (self.step_size >= 1, f"step_size must be >= 1 epoch (got {self.step_size})"),
            (0 < self.gamma <= 1, f"gamma must be in (0, 1] (got {self.gamma})"),
            (self.warmup_steps >= 0, f"warmup_steps must be >= 0 (got {self.warmup_steps})"),
            (
                0 <= self.min_lr_ratio <= 1,
                f"min_lr_ratio must be in [0, 1] (got {self.min_lr_ratio})",
            ),
            (
                self.grad_clip is None or self.grad_clip > 0,
                f"grad_clip must be None (no clipping) or > 0 (got {self.grad_clip})",
            ),
            (
                self.early_stopping_patience is None or self.early_stopping_patience >= 1,
                "early_stopping_patience must be None (disabled) or >= 1 "
                f"(got {self.early_stopping_patience})",
            ),
            (bool(self.monitor), "monitor must name a history key such as 'val_accuracy'"),
            (
                self.monitor_mode in MONITOR_MODES,
                f"monitor_mode must be one of {list(MONITOR_MODES)} (got {self.monitor_mode!r})",
            ),
            (
                self.grad_accum_steps >= 1,
                f"grad_accum_steps must be >= 1 (got {self.grad_accum_steps})",
            ),
            (
                self.max_steps is None or self.max_steps >= 1,
                f"max_steps must be None (train all epochs) or >= 1 (got {self.max_steps})",
            ),
            (
                self.nan_policy in NAN_POLICIES,
                f"nan_policy must be one of {list(NAN_POLICIES)} (got {self.nan_policy!r})",
            ),
            (
                self.precision in PRECISIONS,
                f"precision must be one of {list(PRECISIONS)} (got {self.precision!r})",
            ),
            (
                self.num_threads is None or self.num_threads >= 1,
                f"num_threads must be None (torch's default) or >= 1 (got {self.num_threads})",
            ),
            (
                self.max_skipped_steps >= 0,
                f"max_skipped_steps must be >= 0 (got {self.max_skipped_steps})",
            ),
            (self.audit_every >= 1, f"audit_every must be >= 1 step (got {self.audit_every})"),
            (
                self.checkpoint_every >= 1,
                f"checkpoint_every must be >= 1 epoch (got {self.checkpoint_every})",
            ),
            (self.keep_last >= 1, f"keep_last must be >= 1 (got {self.keep_last})"),
            (
                0 <= self.val_fraction < 1,
                f"val_fraction must be in [0, 1) (got {self.val_fraction})",
            ),
            (
                0 <= self.test_fraction < 1,
                f"test_fraction must be in [0, 1) (got {self.test_fraction})",
            ),
            (
                self.val_fraction + self.test_fraction < 1,
                "val_fraction + test_fraction must be < 1 to leave training data "
                f"(got {self.val_fraction} + {self.test_fraction})",
            ),
            self._learning_check(),
        ]

    def _learning_check(self) -> tuple[bool, str]:
        """``optimizer`` against ``learns_by``, with the model's name (the class name)."""
        model = type(self).__name__.removesuffix("Config")
        if self.learns_by is None:
            return True, ""
        if self.learns_by == BACKPROP:
            return self.optimizer != "none", (
                f"{model} learns by backpropagation: optimizer must be sgd, adam or adamw "
                f"(got {self.optimizer!r})"
            )
        return self.optimizer == "none", (
            f"{model} learns with {self.learns_by}, not a torch optimizer: optimizer must be "
            f"'none' (got {self.optimizer!r})"
        )

    def validate(self) -> None:
        """Check ranges and cross-field constraints: every entry of :meth:`checks`, and the device.

        Raises:
            ConfigError: Listing every violated constraint, with the offending values.
        """
        problems = [message for ok, message in self.checks() if not ok]
        try:
            check_device_name(self.device)
        except ConfigError as exc:
            problems.append(str(exc))
        if problems:
            raise ConfigError(f"invalid {type(self).__name__}: " + "; ".join(problems))
