"""Multi-process (data-parallel) training helpers around :mod:`torch.distributed`.

Launch any script or ``spectral-sparse train`` with ``torchrun``::

    torchrun --nproc_per_node 2 -m spectral_sparse.cli train --data shapes --train-resolution 16

:func:`init_from_env` reads the variables torchrun sets (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``, ``MASTER_PORT``) and starts the process group
(gloo on CPU, nccl on CUDA); without them (or with ``WORLD_SIZE=1``) it does
nothing, and every other helper here then acts as in a single process
(``world() == 1``, ``rank() == 0``, ``is_main()``, ``barrier()`` a no-op), so one
code path serves both. :func:`wrap` puts a model in
:class:`~torch.nn.parallel.DistributedDataParallel` whenever a process group with
more than one rank is initialised, :func:`shard` gives a rank its share of a
permutation and :class:`EpochSampler` is the sampler for loader-driven loops;
:func:`spectral_sparse.training.fit` and the inverse-problem trainer use them.

Nothing here imports or queries CUDA at import time.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

__all__ = [
    "EpochSampler",
    "barrier",
    "broadcast_object",
    "cleanup",
    "init_from_env",
    "is_initialized",
    "is_main",
    "launched",
    "local_device",
    "rank",
    "same_on_all_ranks",
    "shard",
    "sum_all",
    "world",
    "wrap",
]

_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def is_initialized() -> bool:
    """Whether a :mod:`torch.distributed` process group is running in this process."""
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def world() -> int:
    """Number of processes in the group (1 without one)."""
    return torch.distributed.get_world_size() if is_initialized() else 1


def rank() -> int:
    """This process's rank (0 without a group)."""
    return torch.distributed.get_rank() if is_initialized() else 0


def is_main() -> bool:
    """``True`` on rank 0 and in a single process: the one that prints and writes files.

    Examples
    --------
    >>> is_main(), world(), rank()
    (True, 1, 0)
    """
    return rank() == 0


def init_from_env(backend: str | None = None, device: str | torch.device | None = None) -> bool:
    """Start the process group from torchrun's environment variables.

    Parameters
    ----------
    backend : str, optional
        ``"gloo"`` or ``"nccl"``; default ``"nccl"`` when ``device`` is a CUDA
        device, else ``"gloo"``.
    device : str or torch.device, optional
        The training device; with CUDA, this process's GPU becomes
        ``cuda:LOCAL_RANK`` (see :func:`local_device`).

    Returns
    -------
    bool
        ``True`` when this call started a process group; ``False`` when
        ``WORLD_SIZE`` is unset or 1 (nothing is done) or a group was already running.

    Raises
    ------
    ValueError
        ``WORLD_SIZE`` > 1 but another variable is missing, or a value is not
        an integer / out of range.

    Examples
    --------
    >>> import os
    >>> "WORLD_SIZE" in os.environ or init_from_env()  # a single process: nothing happens
    False
    """
    size_text = os.environ.get("WORLD_SIZE")
    if size_text in (None, "", "1") or is_initialized():
        return False
    missing = [name for name in _ENV if not os.environ.get(name)]
    if missing:
        raise ValueError(
            f"WORLD_SIZE={size_text} but {', '.join(missing)} not set; launch with torchrun "
            "(e.g. torchrun --nproc_per_node 2 -m spectral_sparse.cli train ...)"
        )
    try:
        size, this, local = (int(os.environ[name]) for name in ("WORLD_SIZE", "RANK", "LOCAL_RANK"))
    except ValueError:
        raise ValueError(
            "WORLD_SIZE, RANK and LOCAL_RANK must be integers, got "
            + ", ".join(f"{n}={os.environ[n]!r}" for n in ("WORLD_SIZE", "RANK", "LOCAL_RANK"))
        ) from None
    if size < 1 or not 0 <= this < size or local < 0:
        raise ValueError(f"bad distributed environment: WORLD_SIZE={size}, RANK={this}, LOCAL_RANK={local}")
    cuda = device is not None and torch.device(device).type == "cuda"
    if backend is None:
        backend = "nccl" if cuda else "gloo"
    if backend not in ("gloo", "nccl"):
        raise ValueError(f"backend must be 'gloo' or 'nccl', got {backend!r}")
    if cuda:
        torch.cuda.set_device(local)
    torch.distributed.init_process_group(backend, init_method="env://", rank=this, world_size=size)
    return True


def local_device(device: str | torch.device) -> torch.device:
    """``device``, with a CUDA device without an index mapped to ``cuda:LOCAL_RANK`` under a process group.

    Examples
    --------
    >>> local_device("cpu")
    device(type='cpu')
    """
    device = torch.device(device)
    if device.type == "cuda" and device.index is None and world() > 1:
        return torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
    return device


def barrier() -> None:
    """Wait for every rank (no-op without a process group)."""
    if is_initialized():
        torch.distributed.barrier()


def cleanup() -> None:
    """Wait for every rank, then destroy the process group (no-op without one).

    The barrier matters: destroying a gloo group while a peer is still in a
    collective aborts that peer.
    """
    if is_initialized():
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


@contextmanager
def launched(device: str | torch.device | None = None) -> Iterator[bool]:
    """:func:`init_from_env` on entry and, if that started the group, :func:`cleanup` on exit.

    Yields whether a process group was started (``False`` outside torchrun).

    Examples
    --------
    >>> with launched() as started:   # not under torchrun: nothing to start
    ...     started
    False
    """
    started = init_from_env(device=device)
    try:
        yield started
    finally:
        if started:
            cleanup()


def broadcast_object(obj: Any, src: int = 0) -> Any:
    """``obj`` as held by rank ``src`` (a picklable object), returned on every rank; ``obj`` itself without a group.

    Examples
    --------
    >>> broadcast_object({"epoch": 3})
    {'epoch': 3}
    """
    if not is_initialized():
        return obj
    box = [obj]
    torch.distributed.broadcast_object_list(box, src=src)
    return box[0]


def sum_all(values: list[float]) -> list[float]:
    """Element-wise sum of ``values`` over all ranks (float64 all-reduce); ``values`` itself without a group.

    Examples
    --------
    >>> sum_all([1.0, 2.5])
    [1.0, 2.5]
    """
    if not is_initialized():
        return list(values)
    backend = torch.distributed.get_backend()
    device = torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")
    t = torch.tensor(values, dtype=torch.float64, device=device)
    torch.distributed.all_reduce(t)
    return t.cpu().tolist()


def _digest(model: nn.Module) -> str:
    h = hashlib.sha256()
    for name, t in model.state_dict().items():
        t = t.detach().cpu().contiguous()
        h.update(f"{name}:{t.dtype}:{tuple(t.shape)};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes())
    return h.hexdigest()


def same_on_all_ranks(model: nn.Module) -> bool:
    """Whether every rank holds bit-identical parameters and buffers (e.g. mode sets); ``True`` without a group.

    Compares a SHA-256 digest of the state dict (names, dtypes, shapes, bytes), so
    it is exact and sends only a short string.

    Examples
    --------
    >>> same_on_all_ranks(torch.nn.Linear(2, 2))
    True
    """
    digest = _digest(model)
    if not is_initialized():
        return True
    digests: list[Any] = [None] * world()
    torch.distributed.all_gather_object(digests, digest)
    return all(d == digest for d in digests)


# ----------------------------------------------------------------------------- data-parallel training


def wrap(model: nn.Module) -> nn.Module:
    """``model`` in :class:`~torch.nn.parallel.DistributedDataParallel` under ``W > 1`` ranks; ``model`` itself else.

    Call it before making the optimizer: DDP broadcasts rank 0's weights. The
    device ids follow the model's parameters (``[device]`` on CUDA, ``None`` on
    CPU). The training loops of :func:`spectral_sparse.training.fit` and
    :func:`spectral_sparse.inverse.train.train_reconstructor` use it.

    Examples
    --------
    >>> m = torch.nn.Linear(2, 2)
    >>> wrap(m) is m  # no process group
    True
    """
    if world() <= 1:
        return model
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    return nn.parallel.DistributedDataParallel(model, device_ids=[dev] if dev.type == "cuda" else None)


def shard(perm: torch.Tensor, per_rank: int) -> torch.Tensor:
    """This rank's share of a permutation: padded to ``W * per_rank`` by repeating its start, every ``W``-th item.

    The same as :class:`~torch.utils.data.DistributedSampler` does with
    ``drop_last=False``; ``perm`` itself in one process.

    Examples
    --------
    >>> shard(torch.tensor([3, 1, 2]), 3).tolist()
    [3, 1, 2]
    """
    w, r = world(), rank()
    if w <= 1:
        return perm
    return perm.repeat(-(-w * per_rank // len(perm)))[: w * per_rank][r::w]


class EpochSampler(torch.utils.data.DistributedSampler):
    """A :class:`~torch.utils.data.DistributedSampler` that moves to the next epoch each time it is iterated.

    For loops that iterate their loader once per epoch and never call
    ``set_epoch`` (deepinv's ``Trainer``); without it every epoch would repeat
    the first one's order.
    """

    def __iter__(self):  # type: ignore[no-untyped-def]
        indices = list(super().__iter__())  # this epoch's shard (seeded with seed + epoch)
        self.set_epoch(self.epoch + 1)
        return iter(indices)
