"""The Trainer: one loop for every model in the project.

The loop (``Trainer.train``) reads top to bottom: per batch, snapshot for the audit, one training
step, finite check, audit; per epoch, validation, scheduler, history, log, checkpoint, early stop.

The one extension point: a model whose learning rule is not backprop-then-step (the perceptron
rule, the delta rule, Hebbian storage, alternating GAN updates) defines::

    def train_step(self, x, y) -> dict[str, float]:   # at least {"loss": ...}; may add "correct"
        ...apply its own update to its own weights...

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
from typing import Any, Callable, Iterable

import torch

from engine import distributed
from engine.audit import GradientAuditor, flatten_audit
from engine.checkpoint import CheckpointManager, check_compatible
from engine.evaluator import Evaluator
from engine.modelio import is_torch_model, load_model_state, model_state, set_mode, to_model_input
from engine.tracking import Tracker
from utils.exceptions import CheckpointError, TrainingError
from utils.seed import get_rng_state, set_rng_state

logger = logging.getLogger(__name__)


class TrainingInterrupted(Exception):
    """Raised after a signal was handled and an interrupt checkpoint was saved.

    ``exit_code`` is 0 for SIGINT (Ctrl-C, as the architecture asks) and 143 for SIGTERM.
    """

    def __init__(self, signum: int, checkpoint: str | None) -> None:
        self.signum = signum
        self.checkpoint = checkpoint
        self.exit_code = 0 if signum == signal.SIGINT else 128 + int(signum)
        super().__init__(f"stopped by signal {signal.Signals(signum).name}")


@dataclass
class RunContext:
    """Where a run writes: checkpoints, metrics and the identity stored in each checkpoint.

    A Trainer without a RunContext trains in memory only (tests, notebooks).
    """

    model_name: str
    tracker: Tracker | None = None
    checkpoints: CheckpointManager | None = None
    extra_state: dict[str, Any] = field(default_factory=dict)  # e.g. dataset facts for evaluate.py


def _is_finite(value: Any) -> bool:
    return math.isfinite(float(value))


class Trainer:
    """Trains a model with the shared loop.

    Args:
        model: A ``torch.nn.Module`` (trained by backprop unless it defines ``train_step``) or a
            NumPy model with ``forward``, ``train_step``, ``state_dict`` and ``load_state_dict``.
        optimizer: A torch optimizer, or None for models that bring their own rule.
        criterion: ``criterion(scores, y) -> mean loss`` for training and validation.
        device: Where PyTorch batches go.
        config: The model's config (a ``utils.config.BaseConfig`` subclass).
        scheduler: Optional LR scheduler, stepped once per epoch (``plateau`` gets the monitor).
        run: Where to write checkpoints and metrics; None keeps everything in memory.
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
        self.model, self.optimizer, self.criterion = model, optimizer, criterion
        self.device, self.config, self.scheduler, self.run = device, config, scheduler, run
        self.custom_rule = hasattr(model, "train_step")
        assert (
            self.custom_rule or optimizer is not None
        ), "a model without train_step needs an optimizer (set optimizer in the config)"
        self.evaluator = Evaluator(model, criterion, device)
        self.auditor = GradientAuditor(model)
        self.epoch = 0  # epochs completed
        self.global_step = 0  # optimizer steps taken
        self.step_in_epoch = 0  # batches done in the current epoch (mid-epoch resume)
        self.epoch_sums = {"loss": 0.0, "correct": 0.0, "count": 0.0}
        self.best_metric: float | None = None
        self.bad_epochs = 0
        self.history: dict[str, list] = {
            k: []
            for k in ("epoch", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr")
        }
        self.history["audit"] = []
        self._stop_signal: int | None = None

    # ----------------------------------------------------------------------------------- the loop

    def train(
        self, train_loader: Iterable, val_loader: Iterable, epochs: int | None = None
    ) -> dict:
        """Train until ``epochs`` epochs are complete (or early stopping); return the history."""
        epochs = epochs if epochs is not None else self.config.epochs
        previous_handlers = self._install_signal_handlers()
        try:
            for epoch in range(self.epoch, epochs):
                if hasattr(train_loader, "set_epoch"):
                    train_loader.set_epoch(epoch)  # the permutation depends on (seed, epoch) only
                set_mode(self.model, training=True)
                start = time.perf_counter()
                for batch_idx, (x, y) in enumerate(self._progress(train_loader, epoch)):
                    if batch_idx < self.step_in_epoch:
                        continue  # resumed mid-epoch: these batches were already trained on
                    audit_now = self.global_step % self.config.audit_every == 0
                    before = self.auditor.snapshot() if audit_now else None
                    out = self.training_step(x, y, audit_now)
                    if not _is_finite(out["loss"]):
                        self._fail(
                            f"loss is {out['loss']} at step {self.global_step} (epoch {epoch})"
                        )
                    if audit_now:
                        record = self.auditor.record(
                            before, out.get("grad_norms", {}), self.global_step, epoch
                        )
                        self.history["audit"].append(record)
                        self._track(flatten_audit(record))
                    self._accumulate(out, len(y))
                    self.global_step += 1
                    self.step_in_epoch = batch_idx + 1
                    if self._stop_signal is not None:
                        self._stop(self._stop_signal)
                train = self._epoch_train_metrics()
                val = self.evaluator.evaluate(val_loader)
                self._step_scheduler(val)
                self._record_epoch(epoch, train, val, time.perf_counter() - start)
                self.epoch, self.step_in_epoch = epoch + 1, 0
                self.epoch_sums = {"loss": 0.0, "correct": 0.0, "count": 0.0}
                stop_early = self._update_early_stopping(val)
                if self.run and self.run.checkpoints and self._checkpoint_due(epochs, stop_early):
                    self.save("epoch", metric=self._monitor_value(val))
                if stop_early:
                    logger.info(
                        "early stopping: %s has not improved for %d epochs",
                        self.config.monitor,
                        self.bad_epochs,
                    )
                    break
        finally:
            self._restore_signal_handlers(previous_handlers)
        return self.history

    def training_step(self, x: torch.Tensor, y: torch.Tensor, audit: bool) -> dict[str, Any]:
        """One step on one batch: the model's own rule if it has one, else backprop."""
        if self.custom_rule:
            out = self.model.train_step(
                to_model_input(self.model, x, self.device),
                y.numpy() if not is_torch_model(self.model) else y.to(self.device),
            )
            assert "loss" in out, "train_step must return a dict with at least 'loss'"
            return out
        return self.backprop_step(x.to(self.device), y.to(self.device), audit)

    def backprop_step(self, x: torch.Tensor, y: torch.Tensor, audit: bool) -> dict[str, Any]:
        """zero-grad, forward, loss, backward, finite check, audit, clip, step."""
        self.optimizer.zero_grad(set_to_none=True)
        scores = self.model(x)
        loss = self.criterion(scores, y)
        loss.backward()
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        if grads and not torch.isfinite(torch.stack([g.detach().abs().max() for g in grads])).all():
            self._fail(f"gradient is NaN or Inf at step {self.global_step}")
        grad_norms = self.auditor.grad_norms() if audit else {}
        if self.config.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        with torch.no_grad():
            correct = (
                float((scores.argmax(dim=1) == y).sum()) if scores.dim() == 2 else float("nan")
            )
        return {"loss": loss.detach(), "correct": correct, "grad_norms": grad_norms}

    # ------------------------------------------------------------------------------- bookkeeping

    def _progress(self, loader: Iterable, epoch: int) -> Iterable:
        if not (sys.stderr.isatty() and distributed.is_main_process()):
            return loader
        from tqdm import tqdm

        return tqdm(loader, desc=f"epoch {epoch + 1}", leave=False, dynamic_ncols=True)

    def _accumulate(self, out: dict[str, Any], n: int) -> None:
        self.epoch_sums["loss"] += float(out["loss"]) * n
        self.epoch_sums["correct"] += float(out.get("correct", float("nan")))
        self.epoch_sums["count"] += n

    def _epoch_train_metrics(self) -> dict[str, float]:
        loss, correct, count = distributed.all_reduce_sum(
            [self.epoch_sums["loss"], self.epoch_sums["correct"], self.epoch_sums["count"]]
        )
        assert count > 0, "the training loader produced no batches: check batch_size and the split"
        return {"loss": loss / count, "accuracy": correct / count}

    def _record_epoch(self, epoch: int, train: dict, val: dict, seconds: float) -> None:
        lr = (
            self.optimizer.param_groups[0]["lr"]
            if self.optimizer
            else getattr(self.config, "lr", None)
        )
        row = {
            "epoch": epoch + 1,
            "train_loss": train["loss"],
            "train_accuracy": train["accuracy"],
            "val_loss": val.get("loss"),
            "val_accuracy": val["accuracy"],
            "lr": lr,
        }
        for key, value in row.items():
            self.history[key].append(value)
        self._track({k: v for k, v in row.items() if v is not None})
        val_loss = f"{val['loss']:.4f}" if "loss" in val else "n/a"
        logger.info(
            "epoch %d | train_loss %.4f | train_acc %.4f | val_loss %s | val_acc %.4f"
            " | %.1f ms/step",
            epoch + 1,
            train["loss"],
            train["accuracy"],
            val_loss,
            val["accuracy"],
            1000 * seconds / max(1, self.step_in_epoch),
        )

    def _track(self, metrics: dict[str, Any]) -> None:
        if self.run and self.run.tracker and distributed.is_main_process():
            self.run.tracker.log(metrics, step=self.global_step)

    def _monitor_value(self, val: dict[str, float]) -> float | None:
        key = self.config.monitor.removeprefix("val_")
        return val.get(key)

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

    def _step_scheduler(self, val: dict[str, float]) -> None:
        if self.scheduler is None:
            return
        if isinstance(self.scheduler, torch.optim.lr_scheduler.ReduceLROnPlateau):
            self.scheduler.step(self._monitor_value(val))
        else:
            self.scheduler.step()

    def _checkpoint_due(self, epochs: int, stop_early: bool) -> bool:
        return stop_early or self.epoch == epochs or self.epoch % self.config.checkpoint_every == 0

    # ---------------------------------------------------------------------- failures and signals

    def _fail(self, message: str) -> None:
        """Stop on a non-finite loss or gradient, saving a debug checkpoint first."""
        path = self.save("debug") if self.run and self.run.checkpoints else None
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
        return previous

    def _restore_signal_handlers(self, previous: dict[int, Any]) -> None:
        for signum, handler in previous.items():
            signal.signal(signum, handler)

    def _on_signal(self, signum: int, frame: Any) -> None:
        logger.info("received %s: finishing this step, then saving", signal.Signals(signum).name)
        self._stop_signal = signum

    def _stop(self, signum: int) -> None:
        path = self.save("interrupt") if self.run and self.run.checkpoints else None
        if path:
            logger.info("interrupt checkpoint saved: %s (resume with --resume %s)", path, path)
        raise TrainingInterrupted(signum, str(path) if path else None)

    # ------------------------------------------------------------------------- state and resume

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to continue this run exactly: plain values and tensors only."""
        return {
            "model_name": self.run.model_name if self.run else type(self.model).__name__,
            "model_state": model_state(self.model),
            "optimizer_state": self.optimizer.state_dict() if self.optimizer else None,
            "scheduler_state": self.scheduler.state_dict() if self.scheduler else None,
            "epoch": self.epoch,
            "global_step": self.global_step,
            "step_in_epoch": self.step_in_epoch,
            "epoch_sums": dict(self.epoch_sums),
            "best_metric": self.best_metric,
            "bad_epochs": self.bad_epochs,
            "rng": get_rng_state(),
            "history": self.history,
            **(self.run.extra_state if self.run else {}),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from a checkpoint written by ``state_dict`` (``--resume``)."""
        name = self.run.model_name if self.run else type(self.model).__name__
        check_compatible(state, name, model_state(self.model))
        load_model_state(self.model, state["model_state"])
        if self.optimizer is not None:
            if state.get("optimizer_state") is None:
                raise CheckpointError("checkpoint has no optimizer state: it cannot be resumed")
            self.optimizer.load_state_dict(state["optimizer_state"])
        if self.scheduler is not None and state.get("scheduler_state") is not None:
            self.scheduler.load_state_dict(state["scheduler_state"])
        self.epoch, self.global_step = state["epoch"], state["global_step"]
        self.step_in_epoch, self.epoch_sums = state["step_in_epoch"], dict(state["epoch_sums"])
        self.best_metric, self.bad_epochs = state["best_metric"], state["bad_epochs"]
        self.history = state["history"]
        set_rng_state(state["rng"])
        logger.info(
            "resumed at epoch %d, step %d (%d batches into the epoch)",
            self.epoch,
            self.global_step,
            self.step_in_epoch,
        )

    def save(self, kind: str, metric: float | None = None) -> str | None:
        """Write a checkpoint of the given kind (rank 0 only); return its path."""
        if not (self.run and self.run.checkpoints) or not distributed.is_main_process():
            return None
        return str(self.run.checkpoints.save(self.state_dict(), metric=metric, kind=kind))
