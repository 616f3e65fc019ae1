"""Which of the engine's levers buys what, for GPT on Tiny Shakespeare, side by side in one run.

    python src/levers.py                        # training throughput of every variant (~2 min)
    python src/levers.py --time-to-target      # also two full 2,000-step runs (~5 min more)
    python src/levers.py --variants plain engine fused_attention --rounds 3   # a quick look

Part 1, throughput. Every variant trains its own copy of the same model (the shakespeare
experiment: 4 layers, 4 heads, 128 wide, block 64, batch 12), from the same seed, on the same
batches, for ``--steps`` optimizer steps per round; the variants take turns in rotated orders
(round r starts at variant r), after one untimed warm-up round (torch.compile compiles there,
and its time is reported apart). Two threads collapse when another job runs on a 2-core
machine (4x slower here): the run then takes minutes longer. Reported: tokens per second
(median over rounds) and, per round, the time of each variant divided by the time of
``engine`` in the same round (median and range): a burst of load from another process slows
every variant of a round alike.

- ``plain``: a hand-written loop: zero_grad, forward, cross-entropy, backward, clip, AdamW
  step, the lr set by hand (nanoGPT's train.py), torch's default AdamW implementation;
- ``engine``: the Trainer's own training step (engine/trainer.py: the model's step, finiteness
  check, clipping, the per-step warm-up cosine schedule), fp32, the hand-written attention,
  torch's default AdamW: the engine's defaults;
- ``engine`` plus one lever: ``fused_attention`` (F.scaled_dot_product_attention),
  ``fused_adamw`` (optimizer_impl fused), ``bf16`` (autocast), ``compile`` (torch.compile of the
  model, inductor), ``threads2`` (two torch threads instead of one);
- ``bf16_fused_attention``: both of those levers at once (they do not add up here);
- ``shakespeare``: the levers the experiment uses together (its config as it is).

The thread count is set per variant before each of its rounds (1 unless the variant says 2).

Part 2, ``--time-to-target``: the plain loop and the engine's Trainer (the shakespeare
experiment's config), each the full 2,000 steps with the whole validation stream scored every
250 steps, one after the other; ``--epochs 12`` makes both runs 3,000 steps long (the schedule
then decays over 3,000). Reported: wall and CPU seconds of training until the first
validation at or below ``--target`` (1.88 nats per character), and the final validation loss.

The machine is shared: timings move with other processes' load (the JSON records the load
average). Results: outputs/logs/<name>.json.
"""

from __future__ import annotations

import argparse
import logging
import os
import statistics
import sys
import time
from typing import Any, Callable, Iterable

import torch
import torch.nn.functional as F
from constants import LOGS_DIR, MODEL_NAME

from engine.evaluator import cpu_has_native_bf16
from engine.trainer import Trainer
from engine.workflow import build_scheduler, load_data, script_main, warmup_cosine, write_result
from utils.registry import model_config, model_modules, model_spec
from utils.seed import set_random_seed

logger = logging.getLogger(__name__)

# variant -> the config changes it makes to the engine's defaults (None: the plain loop)
BASE = {
    "fused_attention": False,
    "optimizer_impl": "default",
    "precision": "fp32",
    "num_threads": 1,
}
VARIANTS: dict[str, dict[str, Any] | None] = {
    "plain": None,
    "engine": {},
    "fused_attention": {"fused_attention": True},
    "fused_adamw": {"optimizer_impl": "fused"},
    "bf16": {"precision": "bf16"},
    "compile": {"compile": True},
    "threads2": {"num_threads": 2},
    "bf16_fused_attention": {"precision": "bf16", "fused_attention": True},
    "shakespeare": "experiment",  # type: ignore[dict-item]
}


def default_variants() -> list[str]:
    """Every variant, except the bf16 ones on a CPU without native bf16 (there bf16 is emulated:
    a step of this model took minutes instead of a tenth of a second)."""
    if cpu_has_native_bf16():
        return list(VARIANTS)
    logger.warning("no native bf16 on this CPU: the bf16 variants are left out (--variants)")
    return [name for name in VARIANTS if "bf16" not in name]


def variant_config(name: str, data_dir: str | None) -> tuple[Any, bool]:
    """The variant's config and whether it compiles the model."""
    changes = VARIANTS[name]
    if changes == "experiment":
        return model_config(MODEL_NAME, "shakespeare"), False
    changes = dict(changes or {})
    compile_model = bool(changes.pop("compile", False))
    return model_config(MODEL_NAME, "shakespeare", **{**BASE, **changes}), compile_model


def name_modules_for_dynamo() -> None:
    """Give this model's and the Transformer's ``model`` modules names of their own.

    utils.modules loads every model folder's ``model.py`` as a module called ``model`` and then
    removes it from sys.modules (two folders would collide). torch.compile's guards find a
    function's globals by its module's name, so they import some other ``model`` and fail with
    "InternalTorchDynamoError: AttributeError: module 'model' has no attribute 'attention'".
    Registered under distinct names, both are found. Only the ``compile`` variant needs it.
    """
    gpt = model_modules(MODEL_NAME).model
    for name, module in (("gpt_model", gpt), ("transformer_model", gpt.tf)):
        module.__name__ = name
        sys.modules[name] = module


def fresh_model(config: Any, splits: Any, compile_model: bool) -> torch.nn.Module:
    set_random_seed(config.seed)
    model = model_spec(MODEL_NAME).create_model(config, splits)
    if compile_model:
        name_modules_for_dynamo()
        model.compile()  # in place: the state dict keeps its names
    return model


class PlainLoop:
    """nanoGPT's train.py loop for this model, written out: what a user writes by hand."""

    def __init__(self, config: Any, splits: Any) -> None:
        self.config, self.model = config, fresh_model(config, splits, False)
        self.optimizer = self.model.configure_optimizers(config)
        self.steps_done = 0
        per_epoch = config.data_options["windows_per_epoch"] // config.batch_size
        self.total = config.max_steps or config.epochs * per_epoch  # the schedule's last step

    def lr(self) -> float:
        c = self.config
        return c.lr * warmup_cosine(c.warmup_steps, self.total, c.min_lr_ratio, self.steps_done)

    def step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
        x, y = batch
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr()
        self.model.train()
        logits = self.model(x)  # (B, T, V)
        loss = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.config.grad_clip)
        self.optimizer.step()
        self.steps_done += 1
        return loss.item()

    @torch.no_grad()
    def val_loss(self, loader: Iterable) -> float:
        self.model.eval()
        nats, count = 0.0, 0
        for x, y in loader:
            loss = F.cross_entropy(self.model(x).flatten(0, 1), y.flatten())
            nats, count = nats + loss.item() * y.numel(), count + y.numel()
        return nats / count


def engine_trainer(config: Any, splits: Any, compile_model: bool, steps_per_epoch: int) -> Trainer:
    model = fresh_model(config, splits, compile_model)
    optimizer = model.configure_optimizers(config)
    scheduler = build_scheduler(config, optimizer, steps_per_epoch)
    return Trainer(model, optimizer, None, torch.device("cpu"), config, scheduler)


def step_function(name: str, config: Any, splits: Any, compile_model: bool) -> Callable:
    """One optimizer step of the variant on a batch."""
    if VARIANTS[name] is None:
        return PlainLoop(config, splits).step
    trainer = engine_trainer(config, splits, compile_model, 250)
    trainer.model.train()
    return lambda batch: trainer.training_step([batch], audit=False)


def throughput(args: argparse.Namespace, splits: Any) -> dict[str, Any]:
    """Part 1: tokens per second of every variant, interleaved rounds, paired ratios."""
    names = args.variants or default_variants()
    configs = {name: variant_config(name, args.data_dir) for name in names}
    train_loader = splits.loaders(12, seed=0)[0]
    batches = [batch for _, batch in zip(range(args.steps), train_loader)]
    tokens_per_round = sum(y.numel() for _, y in batches)
    steps, threads, warmup = {}, {}, {}
    for name in names:
        config, compile_model = configs[name]
        threads[name] = config.num_threads or torch.get_num_threads()
        torch.set_num_threads(threads[name])
        steps[name] = step_function(name, config, splits, compile_model)
        start = time.perf_counter()
        for batch in batches:  # the untimed warm-up round (compilation happens here)
            steps[name](batch)
        warmup[name] = time.perf_counter() - start
        logger.info("%s: warm-up round %.1f s", name, warmup[name])
    seconds: dict[str, list[float]] = {name: [] for name in names}
    for r in range(args.rounds):
        for name in names[r % len(names) :] + names[: r % len(names)]:
            torch.set_num_threads(threads[name])
            start = time.perf_counter()
            for batch in batches:
                steps[name](batch)
            seconds[name].append(time.perf_counter() - start)
        logger.info(
            "round %d: %s", r + 1, ", ".join(f"{n} {s[-1]:.2f} s" for n, s in seconds.items())
        )
    base = "engine" if "engine" in names else names[0]
    table = {}
    for name in names:
        ratios = [a / b for a, b in zip(seconds[name], seconds[base])]
        table[name] = {
            "tokens_per_second": tokens_per_round / statistics.median(seconds[name]),
            "ms_per_step": 1000 * statistics.median(seconds[name]) / args.steps,
            f"time_vs_{base}": statistics.median(ratios),
            "range": [min(ratios), max(ratios)],
            "threads": threads[name],
            "warmup_round_seconds": warmup[name],
            "seconds": seconds[name],
        }
    return {"baseline": base, "steps_per_round": args.steps, "variants": table}


class Clocked:
    """A loader that notes when each pass over it ends (the end of a validation)."""

    def __init__(self, loader: Any) -> None:
        self.loader, self.ends = loader, []

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self):
        yield from self.loader
        self.ends.append((time.perf_counter(), time.process_time()))


def first_below(losses: list[float], times: list[tuple[float, float]], target: float) -> Any:
    hit = next((i for i, loss in enumerate(losses) if loss <= target), None)
    return (
        None
        if hit is None
        else {"evaluation": hit + 1, "wall": times[hit][0], "cpu": times[hit][1]}
    )


def time_to_target(args: argparse.Namespace, splits: Any) -> dict[str, Any]:
    """Part 2: the plain loop and the engine, 2,000 steps each (``--epochs`` of 250 steps: the
    warm-up cosine then ends at the last of them), wall time to the target."""
    config = model_config(
        MODEL_NAME, "shakespeare", **({"epochs": args.epochs} if args.epochs else {})
    )
    every = config.data_options["windows_per_epoch"] // config.batch_size  # 250 steps
    tokens = config.batch_size * config.data_options["block_size"]  # per step
    runs = {}
    for name in ("plain", "engine"):
        train_loader, val_loader, _ = splits.loaders(config.batch_size, seed=config.seed)
        val = Clocked(val_loader)
        if name == "plain":
            torch.set_num_threads(args.plain_threads)
            loop = PlainLoop(config, splits)
            wall0, cpu0 = time.perf_counter(), time.process_time()
            losses = []
            for epoch in range(config.epochs):
                train_loader.set_epoch(epoch)
                for batch in train_loader:
                    loop.step(batch)
                losses.append(loop.val_loss(val))
                logger.info("plain: step %d | val_loss %.4f", loop.steps_done, losses[-1])
            threads = args.plain_threads
        else:
            torch.set_num_threads(config.num_threads)
            trainer = engine_trainer(config, splits, False, every)
            wall0, cpu0 = time.perf_counter(), time.process_time()
            history = trainer.train(train_loader, val, config.epochs)
            losses = history["val_loss"]
            threads = config.num_threads
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        times = [(w - wall0, c - cpu0) for w, c in val.ends]
        runs[name] = {
            "threads": threads,
            "val_loss": losses,
            "evaluations": [
                {"step": every * (i + 1), "val_loss": loss, "wall": w, "cpu": c}
                for i, (loss, (w, c)) in enumerate(zip(losses, times))
            ],
            "to_target": first_below(losses, times, args.target),
            "wall_seconds": wall,
            "cpu_seconds": cpu,
            "tokens_per_second": config.epochs * every * tokens / wall,
        }
        logger.info("%s: %s", name, {k: v for k, v in runs[name].items() if k != "val_loss"})
    return {"target": args.target, "steps": config.epochs * every, "runs": runs}


def sampling_speed(splits: Any, num: int = 500) -> dict[str, Any]:
    """Characters per second of generate() with and without the key-value cache (1 thread)."""
    torch.set_num_threads(1)
    model = fresh_model(model_config(MODEL_NAME, "shakespeare"), splits, False)
    prompt = torch.zeros(1, 1, dtype=torch.long)
    runs = {}
    for use_cache in (True, False, True, False):  # twice each, alternating: the second counts
        start = time.perf_counter()
        tokens = model.generate(prompt, num, torch.Generator().manual_seed(0), use_cache)
        runs[use_cache] = (tokens, time.perf_counter() - start)
    return {
        "characters": num,
        "cached_chars_per_second": num / runs[True][1],
        "uncached_chars_per_second": num / runs[False][1],
        "same_tokens": bool(torch.equal(runs[True][0], runs[False][0])),
    }


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--variants",
        nargs="+",
        choices=list(VARIANTS),
        help="default: all (without the bf16 ones on a CPU without native bf16)",
    )
    p.add_argument("--rounds", type=int, default=6, help="timed rounds per variant")
    p.add_argument("--steps", type=int, default=20, help="optimizer steps per round")
    p.add_argument("--time-to-target", action="store_true", help="also the two full runs")
    p.add_argument("--target", type=float, default=1.88, help="validation loss to reach")
    p.add_argument("--plain-threads", type=int, default=1, help="threads of the plain run")
    p.add_argument(
        "--epochs",
        type=int,
        help="length of the two full runs in epochs of 250 steps (default: the experiment's 8)",
    )
    p.add_argument("--name", default="levers", help="result file outputs/logs/<name>.json")
    p.add_argument("--data-dir", help="data directory (default: $AIFS_DATA_DIR)")
    p.add_argument("--json", action="store_true", help="print the result JSON last on stdout")
    return p


def run(args: argparse.Namespace) -> dict[str, Any]:
    config = model_config(MODEL_NAME, "shakespeare")
    splits = load_data(config, args.data_dir)
    result = {
        "torch": torch.__version__,
        "cpus": os.cpu_count(),
        "load_average_start": os.getloadavg(),
        "throughput": throughput(args, splits),
    }
    result["load_average_after_throughput"] = os.getloadavg()
    result["sampling"] = sampling_speed(splits)
    logger.info("sampling: %s", result["sampling"])
    if args.time_to_target:
        result["time_to_target"] = time_to_target(args, splits)
        result["load_average_end"] = os.getloadavg()
    for name, row in result["throughput"]["variants"].items():
        logger.info(
            "%-16s %8.0f tokens/s | %6.1f ms/step | %.3f x engine [%.3f-%.3f] | %d thread(s)",
            name,
            row["tokens_per_second"],
            row["ms_per_step"],
            row[f"time_vs_{result['throughput']['baseline']}"],
            *row["range"],
            row["threads"],
        )
    return write_result(result, LOGS_DIR / f"{args.name}.json", args.json)


if __name__ == "__main__":
    sys.exit(script_main(parser(), run))
