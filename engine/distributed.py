"""Multi-process training with torch.distributed: everything is a no-op in a single process.

Launch any model with torchrun; nothing else in the project starts processes::

    torchrun --standalone --nproc_per_node=2 src/train.py --experiment NAME

torchrun sets ``RANK``, ``WORLD_SIZE`` and ``LOCAL_RANK``; :func:`setup` joins the process group
(nccl on CUDA, gloo on CPU) and :func:`wrap_model` puts a PyTorch model in
DistributedDataParallel. Rank 0 alone writes logs, checkpoints, wandb runs and plots. See
docs/engine.md for the batch-size rule and multi-node commands.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
from typing import Any, Callable, Iterable, Iterator, TypeVar

import torch
import torch.distributed as dist

from utils.exceptions import ConfigError

logger = logging.getLogger(__name__)

T = TypeVar("T")


def is_distributed() -> bool:
    return dist.is_available() and dist.is_initialized()


def rank() -> int:
    return dist.get_rank() if is_distributed() else 0


def world_size() -> int:
    return dist.get_world_size() if is_distributed() else 1


def is_main_process() -> bool:
    """Rank 0 alone writes logs, checkpoints and wandb."""
    return rank() == 0


def launched_world_size() -> int:
    """The number of processes torchrun started (1 when not launched by torchrun)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def setup(device: torch.device) -> torch.device:
    """Join the process group when launched by torchrun with more than one process.

    Args:
        device: The device the config asked for. On CUDA each process takes the GPU of its
            ``LOCAL_RANK`` and the backend is nccl; otherwise the backend is gloo.

    Returns:
        The device this process trains on.
    """
    if launched_world_size() <= 1 or is_distributed():
        return device
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend)
    logger.info(
        "process group: rank %d of %d, backend %s, device %s", rank(), world_size(), backend, device
    )
    return device


def cleanup(finished: bool) -> None:
    """Leave the process group (end of a run, also after an error or a signal).

    Args:
        finished: True when every rank ran to the end: they then wait for each other (rank 0
            may still be writing the final checkpoint) before the group is torn down, since a
            rank that tears down and exits early can abort inside gloo. After an error or a
            signal there is no waiting: another rank may never arrive.
    """
    if is_distributed():
        # Free the run's DDP wrapper and pending work while the group still exists: gloo work
        # objects destroyed later, at interpreter exit, can abort the process.
        gc.collect()
        if finished:
            dist.barrier()
        dist.destroy_process_group()


def check_supported(model: Any) -> None:
    """Refuse, under torchrun, a NumPy model or a model with its own ``train_step``.

    Raises:
        ConfigError: DDP synchronises the gradients of backprop, which those models do not use.
    """
    if is_distributed() and (
        not isinstance(model, torch.nn.Module) or hasattr(model, "train_step")
    ):
        raise ConfigError(
            f"{type(model).__name__} learns with its own rule (train_step), which "
            "DistributedDataParallel cannot synchronise: run it in one process, without torchrun"
        )


def wrap_model(model: Any, device: torch.device) -> Any:
    """The module the training loop calls: DistributedDataParallel under torchrun, else the model.

    Raises:
        ConfigError: See :func:`check_supported`.
    """
    if not is_distributed():
        return model
    check_supported(model)
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def per_rank_batch_size(batch_size: int) -> int:
    """``batch_size`` is the global batch; each process takes an equal share of it.

    Raises:
        ConfigError: If the global batch does not split evenly over the processes.
    """
    n = world_size()
    if batch_size % n:
        raise ConfigError(
            f"batch_size {batch_size} is the global batch and must be divisible by the "
            f"{n} processes (use a multiple of {n})"
        )
    return batch_size // n


def _collective_device() -> torch.device:
    if is_distributed() and dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def all_reduce_sum(values: list[float]) -> list[float]:
    """Sum a few numbers over all processes (float64, so counts stay exact)."""
    if not is_distributed():
        return values
    tensor = torch.tensor(values, dtype=torch.float64, device=_collective_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor.tolist()


def all_reduce_max(value: int) -> int:
    """The largest of one integer over all processes."""
    if not is_distributed():
        return value
    tensor = torch.tensor([value], dtype=torch.int64, device=_collective_device())
    dist.all_reduce(tensor, op=dist.ReduceOp.MAX)
    return int(tensor.item())


def any_true(flag: bool) -> bool:
    """True on every process if ``flag`` is true on any (so that all ranks take the same branch)."""
    return all_reduce_sum([float(flag)])[0] > 0


def main_process_first(load: Callable[[], T]) -> T:
    """Run ``load`` on rank 0 first, then on the others (one download or cache fill, no race)."""
    if is_distributed() and not is_main_process():
        dist.barrier()
    result = load()
    if is_distributed() and is_main_process():
        dist.barrier()
    return result


def gather_objects(obj: Any) -> list[Any]:
    """Every process's ``obj`` (picklable plain values), in rank order; ``[obj]`` alone."""
    if not is_distributed():
        return [obj]
    gathered: list[Any] = [None] * world_size()
    dist.all_gather_object(gathered, obj)
    return gathered


def broadcast_object(obj: Any) -> Any:
    """Rank 0's value of a small picklable object, on every process."""
    if not is_distributed():
        return obj
    holder = [obj]
    dist.broadcast_object_list(holder, src=0)
    return holder[0]


def even_batches(batches: Iterable, count: int) -> Iterator:
    """Yield the batches, then empty ones until every rank has yielded as many.

    DDP needs every process to run the same number of backward passes. With N % world_size != 0
    the last global batch can leave a rank without samples; that rank gets a batch of zero rows
    (its loss weight is zero, see Trainer), so the ranks stay in step and no sample is dropped.

    Args:
        batches: This rank's batches.
        count: How many batches this rank has (``len(loader)``); only read under DDP.
    """
    if not is_distributed():
        yield from batches
        return
    target = all_reduce_max(count)
    last, produced = None, 0
    for last in batches:
        produced += 1
        yield last
    assert last is not None, f"rank {rank()} has no training data: use fewer processes"
    for _ in range(target - produced):
        yield tuple(t[:0] for t in last)  # (0, ...) tensors of the right shape and dtype


def no_sync(model: Any, sync: bool) -> contextlib.AbstractContextManager:
    """DDP's ``no_sync`` for all but the last micro-batch of an accumulation group."""
    if sync or not hasattr(model, "no_sync"):
        return contextlib.nullcontext()
    return model.no_sync()
