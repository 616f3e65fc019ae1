"""The Trainer: one loop for every model in the project.

The loop (``Trainer.train``) reads top to bottom: per optimizer step, snapshot for the audit, one
training step (zero-grad, loss, backward, finite check, clip, step), audit, signals; per epoch,
validation, scheduler, history, log, checkpoint, early stop. docs/engine.md describes the
guarantees (exact resume, failure policy, accumulation, bf16, DDP) and the checkpoint format.

Words used throughout:

- a *batch* is what the loader yields (a micro-batch when accumulating);
- an *optimizer step* consumes ``grad_accum_steps`` consecutive batches (fewer at the end of an
  epoch); ``global_step`` counts optimizer steps taken, and "step n" in logs, audits and errors
  is the n-th optimizer step (1-based);
- ``step_in_epoch`` counts the batches of the current epoch already trained on, and
  ``samples_in_epoch`` the samples: the position a resume continues from is kept in samples, so
  that a resume with another batch size continues from the same sample of the epoch's
  permutation. Checkpoints are written only between optimizer steps, so a resumed run never
  holds half-accumulated gradients.

The one extension point: a model whose learning rule is not backprop-then-step (the perceptron
rule, the delta rule, Hebbian storage, alternating GAN updates) defines::

    def train_step(self, x, y) -> dict[str, float]:   # at least {"loss": ...}; may add "correct"
        ...apply its own update to its own weights...   # and "grad_norms" for the audit

and the Trainer calls it instead of ``backprop_step``. Everything else (epochs, shuffling,
validation, audits, checkpoints, signals, resume) is shared. NumPy models get NumPy batches.
"""

from __future__ import annotations

import logging
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Iterator

import torch

from data_utils import batch_size_of
from engine import distributed
from engine.audit import GradientAuditor, flatten_audit
from engine.checkpoint import CheckpointManager, check_compatible
from engine.evaluator import Evaluator, autocast
from engine.modelio import load_model_state, model_state, set_mode, to_model_input
from engine.steps import Mean, MetricSums, StepModule, as_float, step_of, to_device
from engine.tracking import Tracker
from utils.config import PER_STEP_SCHEDULERS, config_to_dict
from utils.exceptions import CheckpointError, ConfigError, TrainingError
from utils.seed import get_rng_state, set_rng_state

logger = logging.getLogger(__name__)

Batch = Any  # what a loader yields: (x, y) tensors, a dict (a graph), a list of targets...

# What a config value given with --resume does, per field: the one table (docs/engine.md, 4).
LOOP = "takes effect"  # the loop, the data or the run reads it as it goes
OPTIMIZER = "written into the optimizer"  # set in the param groups after their state is loaded
LENGTH = "takes effect, not with the cosine schedule"  # cosine's length is fixed at the start
REFUSED = "refused"  # it changes what the run is: --load-checkpoint starts a new run instead
RESUME_RULES: dict[str, str] = {
    "epochs": LENGTH,
    "max_steps": LOOP,
    "early_stopping_patience": LOOP,
    "grad_clip": LOOP,
    "nan_policy": LOOP,
    "max_skipped_steps": LOOP,
    "batch_size": LOOP,  # the position is kept in samples: the epoch continues where it was
    "grad_accum_steps": LOOP,
    "precision": LOOP,
    "audit_every": LOOP,
    "checkpoint_every": LOOP,
    "keep_last": LOOP,
    "device": LOOP,
    "deterministic": LOOP,
    "num_threads": LOOP,
    "lr": OPTIMIZER,  # with a scheduler: the schedule's base rate, its position and shape kept
    "weight_decay": OPTIMIZER,
    "momentum": OPTIMIZER,  # SGD's; adam and adamw have none
    "experiment": REFUSED,
    "dataset": REFUSED,
    "seed": REFUSED,  # the data split, the initialisation and every epoch's permutation
    "val_fraction": REFUSED,
    "test_fraction": REFUSED,
    "standardize": REFUSED,
    "data_options": REFUSED,  # block_size, a synthetic set's size: what the data is
    "optimizer": REFUSED,
    "optimizer_impl": REFUSED,  # stored in the optimizer's state, which would restore it
    "scheduler": REFUSED,
    "step_size": REFUSED,  # stored in the scheduler's state, which would restore it
    "gamma": REFUSED,
    "monitor": REFUSED,  # the best value so far and early stopping are of the old metric
    "monitor_mode": REFUSED,
}  # a field not listed (a model's own: its shape, its rule) is refused


def resume_refusal(name: str, config: Any) -> str | None:
    """Why a resumed run may not change config field ``name`` to its value in ``config``.

    Returns:
        None when the change is allowed (RESUME_RULES), else the reason, for a user.
    """
    rule = RESUME_RULES.get(name, REFUSED)
    if rule == REFUSED:
        return "it changes what the run is (data, model, optimizer, schedule or monitor)"
    if rule == LENGTH and config.scheduler == "cosine":
        return "the run's cosine schedule was fixed to its epochs when it started"
    if name in ("epochs", "max_steps") and config.scheduler == "warmup_cosine":
        return "the run's warm-up cosine schedule was fixed to its length when it started"
    if name == "momentum" and config.optimizer in ("adam", "adamw"):
        return f"{config.optimizer} has no momentum"
    return None


def resume_changes(
    stored: dict[str, Any], config: Any, checkpoint: str = "the checkpoint"
) -> dict[str, tuple[Any, Any]]:
    """The fields where a resumed run's config differs from the checkpoint's, per RESUME_RULES.

    Args:
        stored: The config stored in the checkpoint (``config_to_dict``).
        config: The config the run resumes with (the stored one plus the command line).
        checkpoint: The checkpoint's path, for the message.

    Returns:
        Field -> (stored value, new value) for every allowed change.

    Raises:
        ConfigError: Naming every refused change and why, and how to start a new run instead.
    """
    changes = {
        name: (stored[name], value)
        for name, value in config_to_dict(config).items()
        if name in stored and stored[name] != value
    }
    refused = [
        f"{name} ({old!r} -> {new!r}): {why}"
        for name, (old, new) in changes.items()
        if (why := resume_refusal(name, config)) is not None
    ]
    if refused:
        raise ConfigError(
            f"--resume cannot change {'; '.join(refused)}. Resume without it, or start a new run "
            f"from the weights with --load-checkpoint {checkpoint} (docs/engine.md, Resume)"
        )
    return changes


class TrainingInterrupted(Exception):
    """Raised after a signal was handled and an interrupt checkpoint was saved.

    ``exit_code`` is 0 for SIGINT (Ctrl-C, architecture section 9.3) and 143 for SIGTERM.
    """

    def __init__(self, signum: int, checkpoint: str | None) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.exit_code = 0 if signum == signal.SIGINT else 128 + int(signum)
        super().__init__(f"stopped by signal {signal.Signals(signum).name}")


@dataclass
class RunContext:
    """Where a run writes: checkpoints, metrics and the identity stored in each checkpoint.

    A Trainer without a RunContext trains in memory only (tests, notebooks). Under DDP the
    processes other than rank 0 get neither a tracker nor a checkpoint manager.
    """

    model_name: str
    tracker: Tracker | None = None
    checkpoints: CheckpointManager | None = None
    extra_state: dict[str, Any] = field(default_factory=dict)  # e.g. dataset facts for evaluate.py


class Trainer:
    """Trains a model with the shared loop.

    Args:
        model: A ``torch.nn.Module`` (trained by backprop unless it defines ``train_step``) or a
            NumPy model with ``forward``, ``train_step``, ``state_dict`` and ``load_state_dict``.
            Pass the plain model: under torchrun the Trainer wraps it in DDP itself, so that
            checkpoints look the same with one process or many.
        optimizer: A torch optimizer, or None for models that bring their own rule.
        criterion: ``criterion(scores, y) -> mean loss`` for training and validation.
        device: Where PyTorch batches go.
        config: The model's config (a ``utils.config.BaseConfig`` subclass).
        scheduler: Optional LR scheduler, stepped once per epoch (``plateau`` gets the monitor).
        run: Where to write checkpoints and metrics; None keeps everything in memory.

    Raises:
        ConfigError: For options that need backprop (grad_accum_steps > 1, precision bf16,
            nan_policy skip, torchrun) given to a model with its own ``train_step``.
    """

    def __init__(
        self,
        model: Any,
        optimizer: torch.optim.Optimizer | None,
        criterion: Callable | None,
        device: torch.device,
        config: Any,
        scheduler: Any | None = None,
        run: RunContext | None = None,
    ) -> None:
        # One optimizer, or several that the model's own train_step uses (a GAN's two).
        self.optimizers = optimizer if isinstance(optimizer, dict) else {}
        self.optimizer = None if isinstance(optimizer, dict) else optimizer
        self.model, self.criterion = model, criterion
        self.device, self.config, self.scheduler, self.run = device, config, scheduler, run
        self.custom_rule = hasattr(model, "train_step")
        assert (
            self.custom_rule or optimizer is not None
        ), "a model without train_step needs an optimizer (set optimizer in the config)"
        self._check_options()
        self.evaluator = Evaluator(model, criterion, device, precision=config.precision)
        # The model's step (engine/steps.py), wrapped by DDP under torchrun: batch -> StepOutput.
        self.step = step_of(model, criterion)
        self.ddp_step = (  # under torchrun DDP wraps the step as a module (engine/steps.py)
            distributed.wrap_model(StepModule(model, criterion), device)
            if distributed.is_distributed() and not self.custom_rule
            else self.step
        )
        self.auditor = GradientAuditor(model, self.optimizer)
        # Fixed for the run: per step, asking torch.distributed again cost a few microseconds.
        self.one_process = not distributed.is_distributed()
        self.per_step_scheduler = config.scheduler in PER_STEP_SCHEDULERS
        # Listed once: walking the module tree each step cost the MLP 25 us, half the finite check.
        self.params = list(model.parameters()) if not self.custom_rule else []
        self.epoch = 0  # epochs completed
        self.global_step = 0  # optimizer steps taken
        self.step_in_epoch = 0  # batches of the current epoch already trained on
        self.samples_in_epoch = 0  # this process's samples of the current epoch trained on
        self.epoch_sums = MetricSums()  # this process's sums of the epoch's metrics
        self.skipped_steps = 0  # steps skipped under nan_policy="skip"
        self.best_metric: float | None = None
        self.bad_epochs = 0
        # Per-epoch lists: epoch, lr, and train_<name> / val_<name> for every metric reported.
        self.history: dict[str, list] = {"epoch": [], "lr": []}
        self.history["audit"] = []
        self._stop_signal: int | None = None
        self._epoch_finished = False

    # ----------------------------------------------------------------------------------- the loop

    def train(
        self, train_loader: Iterable, val_loader: Iterable, epochs: int | None = None
    ) -> dict:
        """Train until ``epochs`` epochs are complete, early stopping or ``max_steps``.

        Returns:
            The history: per-epoch lists of numbers, plus the audit records.
        """
        epochs = epochs if epochs is not None else self.config.epochs
        previous_handlers = self._install_signal_handlers()
        try:
            for epoch in range(self.epoch, epochs):
                set_mode(self.model, training=True)
                start, first_step = time.perf_counter(), self.global_step
                for group in self._step_groups(train_loader, epoch):  # grad_accum_steps batches
                    audit_now = self.global_step % self.config.audit_every == 0
                    before = self.auditor.snapshot() if audit_now else None
                    out = self.training_step(group, audit_now)
                    self.step_in_epoch += len(group)
                    self.samples_in_epoch += out["samples"]
                    if out["stepped"]:
                        self.global_step += 1
                        self._accumulate(out)
                        if audit_now:
                            self._audit(before, out.get("grad_norms", {}), epoch)
                    if self._stop_requested():
                        self._stop()  # saves an interrupt checkpoint, raises TrainingInterrupted
                if not self._epoch_finished:  # max_steps reached inside the epoch
                    self._log_early_end(stop_early=False)
                    break
                train = self._epoch_train_metrics()
                val = self.evaluator.evaluate(val_loader)
                lr = self._current_lr()
                self._step_scheduler(val)
                self._record_epoch(epoch, train, val, lr, time.perf_counter() - start, first_step)
                self.epoch, self.step_in_epoch, self.samples_in_epoch = epoch + 1, 0, 0
                self.epoch_sums = MetricSums()
                stop_early = self._update_early_stopping(val)
                if self._checkpoint_due(epochs, stop_early):
                    self.save("epoch", metric=self._monitor_value(val))
                if self._stop_requested():
                    self._stop()
                if stop_early or self._budget_spent():
                    self._log_early_end(stop_early)
                    break
        finally:
            self._restore_signal_handlers(previous_handlers)
        return self.history

    def training_step(self, group: list[Batch], audit: bool) -> dict[str, Any]:
        """One optimizer step on a group of batches: the model's own rule if it has one.

        Returns:
            ``stepped`` (False when nan_policy="skip" dropped the step), ``samples`` (this
            process's samples in the group), ``metrics`` (this process's Mean metrics of the
            step, ``loss`` among them) and the audit's ``grad_norms``.
        """
        if not self.custom_rule:
            return self.backprop_step(group, audit)
        (batch,) = group  # grad_accum_steps is 1 for custom rules (checked at construction)
        n = batch_size_of(batch)
        if self.optimizers:  # a PyTorch model with its own update over its own optimizers
            out = self.model.train_step(to_device(batch, self.device), self.optimizers)
        else:  # a NumPy rule on arrays
            x, y = batch
            out = self.model.train_step(to_model_input(self.model, x, self.device), y.numpy())
        assert "loss" in out, "train_step must return a dict with at least 'loss'"
        self._finite_or_skip(float(out["loss"]), 0.0)  # the rule has already updated its weights
        metrics = {"loss": Mean(float(out["loss"]) * n, n)}
        if "correct" in out:
            metrics["accuracy"] = Mean(float(out["correct"]), n)
        metrics.update({k: v for k, v in out.items() if isinstance(v, Mean)})
        grad_norms = out.get("grad_norms", {})
        return {"stepped": True, "samples": n, "metrics": metrics, "grad_norms": grad_norms}

    def backprop_step(self, group: list[Batch], audit: bool) -> dict[str, Any]:
        """zero-grad; loss and backward per batch, accumulating; finite check; clip; step.

        Each batch goes through the model's step (engine/steps.py: the model's own ``step``, or
        the classifier default). Each batch's mean loss is weighted by its share of the group's
        samples (over all processes), so the accumulated gradient is the gradient of the mean
        loss over the whole group: K batches of B equal one batch of K*B, also for a shorter last
        group and under DDP.
        """
        self.optimizer.zero_grad(set_to_none=True)
        counts = [batch_size_of(batch) for batch in group]
        weights = self._loss_weights(counts)
        metrics: dict[str, Mean] = {}  # the step's sums over its batches (this process)
        for i, (batch, n, weight) in enumerate(zip(group, counts, weights)):
            if self.device.type != "cpu":  # the loaders' tensors are on the CPU already
                batch = to_device(batch, self.device)
            with distributed.no_sync(self.ddp_step, sync=i == len(group) - 1):
                with autocast(self.device, self.config.precision):
                    out = self.ddp_step(batch)  # the model's step: loss and named metrics
                (out.loss if weight == 1.0 else out.loss * weight).backward()
            if "loss" not in out.metrics:
                out.metrics["loss"] = Mean(out.loss.detach() * n, n)
            for name, m in out.metrics.items():  # Python floats: one conversion per metric
                if name in metrics:
                    metrics[name].total += as_float(m.total)
                    metrics[name].count += m.count
                else:
                    metrics[name] = Mean(as_float(m.total), m.count)
        grads = [p.grad for p in self.params if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads) if self.config.grad_clip and grads else None
        grad_check = float(norm) if norm is not None else self._grad_sum(grads)
        if not self._finite_or_skip(metrics["loss"].total, grad_check):
            self.optimizer.zero_grad(set_to_none=True)
            return {"stepped": False, "samples": sum(counts), "metrics": {}}
        grad_norms = self.auditor.grad_norms() if audit else {}  # before clipping
        if self.config.grad_clip:
            torch.nn.utils.clip_grads_with_norm_(self.params, self.config.grad_clip, norm)
        self.optimizer.step()
        if self.per_step_scheduler and self.scheduler is not None:  # moves with every step
            self.scheduler.step()
        return {
            "stepped": True,
            "samples": sum(counts),
            "metrics": metrics,
            "grad_norms": grad_norms,
        }

    @staticmethod
    def _grad_sum(grads: list[torch.Tensor]) -> float:
        """The finiteness check without clipping (with it, the global norm serves, which clipping
        then reuses): the plain sum of every gradient entry, NaN or Inf exactly when some entry
        is (or a float32 sum overflows, which a norm would do first); one pass with no squares.
        The per-tensor sums are added as Python floats: on the MLP 22 us per call against 25 us
        for stacking them into one tensor first, timed on cached gradients; in place, right after
        backward, it costs about 36 us, 1.5% of the MLP's step (bench_engine_overhead's
        alternatives and its trainer_no_check)."""
        return sum(float(g.sum()) for g in grads)

    # ------------------------------------------------------------------------- batches and steps

    def _step_groups(self, loader: Iterable, epoch: int) -> Iterator[list[Batch]]:
        """This epoch's batches in groups of ``grad_accum_steps`` (the last may be shorter).

        Skips the ``samples_in_epoch`` samples a resumed run already trained on, pads ranks to
        equal batch counts under DDP, and stops before a group once ``max_steps`` optimizer steps
        are done. A batch that holds the resume position (a resume with another batch size) is
        cut to its samples not yet trained on; with the same batch size whole batches are skipped
        and the run is bit-identical to an uninterrupted one.
        """
        self._epoch_finished = False
        if hasattr(loader, "set_epoch"):
            loader.set_epoch(epoch)  # the permutation depends on (seed, epoch) only
        count = len(loader) if distributed.is_distributed() else 0
        batches = distributed.even_batches(self._progress(loader, epoch), count)
        mine = self.samples_in_epoch  # this process's samples of the epoch already trained on
        # Batches that end by the least position over processes are skipped whole: counted by
        # the loader's batch size, the same number on every process, so that DDP stays in step.
        done = -distributed.all_reduce_max(-mine)
        size = getattr(loader, "batch_size", None)
        seen = 0
        group: list[Batch] = []
        for index, batch in enumerate(batches):
            if mine:  # resumed inside this epoch (else every batch is trained on)
                n = batch_size_of(batch)
                if ((index + 1) * size if size else seen + n) <= done:
                    seen, self.step_in_epoch = seen + n, index + 1  # already trained on
                    continue
                if seen < mine:  # the rest of the batch the resume position falls in
                    assert isinstance(batch, tuple), "a resume inside a batch needs tensor batches"
                    batch = tuple(t[mine - seen :] for t in batch)
                seen += n
            if not group and self._budget_spent():
                return
            group.append(batch)
            if len(group) == self.config.grad_accum_steps:
                yield group
                group = []
        if group:
            yield group
        self._epoch_finished = True

    def _loss_weights(self, sizes: list[int]) -> list[float]:
        """Weight of each batch's mean loss: n_i * world_size / (samples in the group, all ranks).

        DDP averages gradients over processes, hence the world_size factor. One batch in one
        process: its mean loss is the step's loss, weight 1.0 (no all-reduce to ask).
        """
        if len(sizes) == 1 and self.one_process:
            return [1.0]
        total = distributed.all_reduce_sum([float(sum(sizes))])[0]
        world = distributed.world_size()
        return [n * world / total for n in sizes]

    def _budget_spent(self) -> bool:
        max_steps = self.config.max_steps
        return max_steps is not None and self.global_step >= max_steps

    def _check_options(self) -> None:
        if not self.custom_rule:
            return
        needs_backprop = {
            "grad_accum_steps > 1": self.config.grad_accum_steps > 1,
            "precision 'bf16'": self.config.precision != "fp32",
            "nan_policy 'skip'": self.config.nan_policy != "stop",
        }
        chosen = [name for name, on in needs_backprop.items() if on]
        if chosen:
            raise ConfigError(
                f"{type(self.model).__name__} applies its own learning rule (train_step); "
                f"{', '.join(chosen)} need(s) the backprop path: remove them from the config"
            )

    # ------------------------------------------------------------------------------- bookkeeping

    def _progress(self, loader: Iterable, epoch: int) -> Iterable:
        if not (sys.stderr.isatty() and distributed.is_main_process()):
            return loader
        from tqdm import tqdm

        return tqdm(loader, desc=f"epoch {epoch + 1}", leave=False, dynamic_ncols=True)

    def _accumulate(self, out: dict[str, Any]) -> None:
        self.epoch_sums.add(out["metrics"])

    def _audit(self, before: dict, grad_norms: dict[str, float | None], epoch: int) -> None:
        record = self.auditor.record(before, grad_norms, self.global_step, epoch)
        self.history["audit"].append(record)
        self._track(flatten_audit(record))

    def _global_epoch_sums(self) -> dict[str, list[float]]:
        return self.epoch_sums.reduced(distributed.all_reduce_sum)

    def _epoch_train_metrics(self) -> dict[str, float]:
        sums = self._global_epoch_sums()
        if sums.get("loss", [0.0, 0.0])[1] == 0:
            raise TrainingError(
                "no optimizer step succeeded this epoch (empty training loader, or every step "
                "skipped): check batch_size, the split and the data"
            )
        return MetricSums.means(sums)

    def _current_lr(self) -> float | None:
        if self.optimizer is not None:
            return self.optimizer.param_groups[0]["lr"]
        if self.optimizers:  # the first of a model's own optimizers
            return next(iter(self.optimizers.values())).param_groups[0]["lr"]
        return getattr(self.config, "lr", None)

    def _record_epoch(
        self, epoch: int, train: dict, val: dict, lr: float | None, seconds: float, first: int
    ) -> None:
        """One history row and one log line: every metric the model reported, train and val."""
        row = {"epoch": epoch + 1}
        row.update({f"train_{k}": v for k, v in train.items()})
        row.update({f"val_{k}": v for k, v in val.items() if k != "num_samples"})
        row["lr"] = lr  # the learning rate this epoch trained with
        done = len(self.history["epoch"])
        for key, value in row.items():  # a metric first reported now has None before
            self.history.setdefault(key, [None] * done).append(value)
        for key, values in self.history.items():
            if key != "audit" and len(values) == done:  # a metric not reported this epoch
                values.append(None)
        self._track({k: v for k, v in row.items() if v is not None})
        shown = " | ".join(
            f"{k} {v:.4f}" for k, v in row.items() if k not in ("epoch", "lr") and v is not None
        )
        ms = 1000 * seconds / max(1, self.global_step - first)
        logger.info("epoch %d | %s | %.1f ms/step", epoch + 1, shown, ms)

    def _track(self, metrics: dict[str, Any]) -> None:
        """Metrics rows carry ``step`` = optimizer steps completed when they were written."""
        if self.run and self.run.tracker and distributed.is_main_process():
            self.run.tracker.log(metrics, step=self.global_step)

    def _monitor_value(self, val: dict[str, float]) -> float | None:
        """The monitored validation metric; a name the model does not report is a ConfigError."""
        key = self.config.monitor.removeprefix("val_")
        if key not in val:
            reported = ", ".join(f"val_{k}" for k in val if k != "num_samples")
            raise ConfigError(
                f"monitor {self.config.monitor!r} is not a metric this model reports; "
                f"choose one of: {reported}"
            )
        return val[key]

    def _update_early_stopping(self, val: dict[str, float]) -> bool:
        value = self._monitor_value(val)
        better = value is not None and (
            self.best_metric is None
            or (
                value > self.best_metric
                if self.config.monitor_mode == "max"
                else value < self.best_metric
            )
        )
        if better:
            self.best_metric, self.bad_epochs = value, 0
        else:
            self.bad_epochs += 1
        patience = self.config.early_stopping_patience
        return patience is not None and self.bad_epochs >= patience

    def _log_early_end(self, stop_early: bool) -> None:
        if stop_early:
            logger.info(
                "early stopping: %s has not improved for %d epochs",
                self.config.monitor,
                self.bad_epochs,
            )
            return
        where = (
            f"epoch {self.epoch + 1}, batch {self.step_in_epoch}"
            if self.step_in_epoch
            else f"the end of epoch {self.epoch}"
        )
        logger.info(
            "max_steps %d reached at %s; to continue: --resume latest --max-steps M "
            "(more than %d) or --max-steps none",
            self.config.max_steps,
            where,
            self.config.max_steps,
        )

    def _step_scheduler(self, val: dict[str, float]) -> None:
        if self.scheduler is None or self.per_step_scheduler:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(self._monitor_value(val))
        else:
            self.scheduler.step()

    def _checkpoint_due(self, epochs: int, stop_early: bool) -> bool:
        return (
            stop_early
            or self.epoch == epochs
            or self._budget_spent()
            or self.epoch % self.config.checkpoint_every == 0
        )

    # ---------------------------------------------------------------------- failures and signals

    def _finite_or_skip(self, loss_sum: float, grad_value: float) -> bool:
        """Apply the failure policy to a step: True if it may go ahead.

        ``nan_policy="stop"``: a NaN or Inf loss or gradient saves a debug checkpoint (the state
        before this step) and raises TrainingError. ``"skip"``: the step is dropped (no optimizer
        update, not counted in global_step) and counted; more than ``max_skipped_steps`` stops.
        Under DDP every process takes the same branch.
        """
        bad_loss, bad_grad = not math.isfinite(loss_sum), not math.isfinite(grad_value)
        if not (bad_loss or bad_grad) and self.one_process:
            return True
        if not distributed.any_true(bad_loss or bad_grad):
            return True
        what = "loss" if bad_loss else "gradient" if bad_grad else "loss or gradient (other rank)"
        where = (
            f"{what} is NaN or Inf at step {self.global_step + 1} "
            f"(epoch {self.epoch + 1}, batch {self.step_in_epoch + 1})"
        )
        if self.config.nan_policy == "stop":
            self._fail(where)
        self.skipped_steps += 1
        if self.skipped_steps > self.config.max_skipped_steps:
            self._fail(
                f"{where}: {self.skipped_steps} steps skipped, more than max_skipped_steps="
                f"{self.config.max_skipped_steps}"
            )
        logger.warning(
            "%s: step skipped (%d of at most %d)",
            where,
            self.skipped_steps,
            self.config.max_skipped_steps,
        )
        return False

    def _fail(self, message: str) -> None:
        """Stop on a non-finite loss or gradient, saving a debug checkpoint first."""
        path = self.save("debug")
        hint = f"; debug checkpoint: {path}" if path else ""
        raise TrainingError(
            f"{message}{hint}. Lower the learning rate, enable grad_clip, or check the data."
        )

    def _install_signal_handlers(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        previous = {}
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)
        self._previous_handlers = previous
        return previous

    def _restore_signal_handlers(self, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        logger.info(
            "received %s: finishing this step, then saving (send it again to abort at once)",
            signal.Signals(signum).name,
        )
        self._stop_signal = signum
        self._restore_signal_handlers(self._previous_handlers)  # a second signal acts at once

    def _stop_requested(self) -> bool:
        """A signal arrived (on any process, so that all stop at the same step)."""
        if self.one_process:
            return self._stop_signal is not None
        return distributed.any_true(self._stop_signal is not None)

    def _stop(self) -> None:
        path = self.save("interrupt")
        if path:
            logger.info("interrupt checkpoint saved: %s (resume with --resume latest)", path)
        raise TrainingInterrupted(self._stop_signal or signal.SIGTERM, path)

    # ------------------------------------------------------------------------- state and resume

    def state_dict(
        self, epoch_sums: dict[str, list[float]] | None = None, samples: int | None = None
    ) -> dict[str, Any]:
        """Everything needed to continue this run exactly: plain values and tensors only.

        Args:
            epoch_sums: The partial epoch metrics summed over processes (default: this process's).
            samples: The samples of the epoch trained on by all processes (default: this
                process's): a prefix of the epoch's permutation, as processes take strided shards.
        """
        return {
            "model_name": self.run.model_name if self.run else type(self.model).__name__,
            "model_state": model_state(self.model),
            "optimizer_state": (
                self.optimizer.state_dict()
                if self.optimizer
                else {name: o.state_dict() for name, o in self.optimizers.items()} or None
            ),
            "scheduler_state": self.scheduler.state_dict() if self.scheduler else None,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "step_in_epoch": self.step_in_epoch,
            "samples_in_epoch": self.samples_in_epoch if samples is None else samples,
            "epoch_sums": epoch_sums if epoch_sums is not None else self.epoch_sums.state(),
            "skipped_steps": self.skipped_steps,
            "best_metric": self.best_metric,
            "bad_epochs": self.bad_epochs,
            "rng": get_rng_state(),
            "history": self.history,
            **(self.run.extra_state if self.run else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by ``state_dict`` (``--resume``).

        Where this Trainer's config differs from the one stored in the checkpoint, RESUME_RULES
        decides: lr, weight_decay and momentum are written into the optimizer after its state is
        loaded; refused changes raise ConfigError.
        """
        name = self.run.model_name if self.run else type(self.model).__name__
        check_compatible(state, name, model_state(self.model))
        changes = resume_changes(state["config"], self.config) if "config" in state else {}
        load_model_state(self.model, state["model_state"])
        if self.optimizer is not None or self.optimizers:
            if state.get("optimizer_state") is None:
                raise CheckpointError("checkpoint has no optimizer state: it cannot be resumed")
            if self.optimizer is not None:
                self.optimizer.load_state_dict(state["optimizer_state"])
            for name, optimizer in self.optimizers.items():
                optimizer.load_state_dict(state["optimizer_state"][name])
        if self.scheduler is not None and state.get("scheduler_state") is not None:
            self.scheduler.load_state_dict(state["scheduler_state"])
        self._set_optimizer_values(changes)
        self.epoch, self.global_step = state["epoch"], state["global_step"]
        self.step_in_epoch = state["step_in_epoch"]
        samples = state.get("samples_in_epoch")
        if samples is None:  # written before the position was kept in samples: in batches
            batch_size = state.get("config", {}).get("batch_size", self.config.batch_size)
            samples = state["step_in_epoch"] * batch_size
        # This process's share of the prefix of the permutation (strided shards, as the loaders).
        self.samples_in_epoch = len(range(distributed.rank(), samples, distributed.world_size()))
        # The stored sums are over all processes: rank 0 carries them, the others restart at 0.
        self.epoch_sums = (
            MetricSums.from_state(state["epoch_sums"])
            if distributed.is_main_process()
            else MetricSums()
        )
        self.skipped_steps = state.get("skipped_steps", 0)
        self.best_metric, self.bad_epochs = state["best_metric"], state["bad_epochs"]
        self.history = state["history"]
        set_rng_state(state["rng"])
        logger.info(
            "resumed at epoch %d, step %d (%d samples into the epoch)",
            self.epoch,
            self.global_step,
            samples,
        )

    def _set_optimizer_values(self, changes: dict[str, tuple[Any, Any]]) -> None:
        """Write the resumed config's new lr, weight_decay, momentum into the optimizer.

        ``optimizer.load_state_dict`` has just restored the checkpoint's values. With a scheduler
        the new lr is the schedule's new base rate: the schedule keeps its position and shape,
        every rate scaled by new / old (a step schedule at 0.1 x base continues at 0.1 x new).
        Models with their own rule read these values from the config they are built with.
        """
        for name, (old, new) in changes.items():
            if RESUME_RULES.get(name) != OPTIMIZER or self.optimizer is None:
                continue
            for group in self.optimizer.param_groups:
                if name == "lr" and self.scheduler is not None:
                    group["lr"] = group["lr"] * new / old
                    if "initial_lr" in group:  # the base a scheduler keeps in the group
                        group["initial_lr"] = new
                elif name in group:
                    group[name] = new
            if name == "lr" and hasattr(self.scheduler, "base_lrs"):
                self.scheduler.base_lrs = [new for _ in self.scheduler.base_lrs]

    def save(self, kind: str, metric: float | None = None) -> str | None:
        """Write a checkpoint of the given kind; return its path (None where nothing is written).

        Under DDP every process must call it at the same point (it sums the partial epoch
        metrics over processes); rank 0 alone writes.
        """
        sums = self._global_epoch_sums()
        (samples,) = distributed.all_reduce_sum([float(self.samples_in_epoch)])
        if not (self.run and self.run.checkpoints) or not distributed.is_main_process():
            return None
        state = self.state_dict(epoch_sums=sums, samples=int(samples))
        return str(self.run.checkpoints.save(state, metric=metric, kind=kind))
