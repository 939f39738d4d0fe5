"""Pieces shared by the backends: mixing, the Nyquist convention, DFT matrices.

The even-split Nyquist convention: the trigonometric interpolant of samples on
an even grid splits the coefficient of the Nyquist bin evenly between ``+N/2``
and ``-N/2``. So the analysis coefficient of a mode is the normalised DFT bin
times ``1/2`` for every axis on which ``2|k_i| = N_i``.
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar

import torch
from torch import Tensor

if TYPE_CHECKING:
    from ..modes import ModeSet

T = TypeVar("T")


class LRUCache:
    """A small thread-safe least-recently-used cache (plans and matrices are cheap to rebuild).

    Lookups, insertions and evictions hold a lock, so several threads may run
    layers (the same or different ones) at once. ``build`` runs outside the
    lock: two threads that miss the same key at once may both build it; the
    first value stored is kept and returned to both, so every caller of a key
    sees one value while it stays cached. A value is built with inference mode
    off, so a plan first built under :func:`torch.inference_mode` can still be
    saved by autograd later.

    Parameters
    ----------
    maxsize : int
        Entries kept; the least recently used one is dropped beyond it.
    """

    def __init__(self, maxsize: int = 64) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, object] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        """The value cached under ``key``, built by ``build()`` (and stored) on a miss."""
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                return self._data[key]  # type: ignore[return-value]
        # a value first built under torch.inference_mode would hold inference tensors that
        # autograd cannot save later (training after predict): build outside that mode.
        # Built without the lock: a build may itself use another cache.
        with torch.inference_mode(False):
            value = build()
        with self._lock:
            if key in self._data:  # another thread stored it meanwhile: share that one
                self._data.move_to_end(key)
                return self._data[key]  # type: ignore[return-value]
            self._data[key] = value
            while len(self._data) > max(self.maxsize, 0):
                self._data.popitem(last=False)
        return value

    def clear(self) -> None:
        """Drop every entry."""
        with self._lock:
            self._data.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._data)


def nyquist_scale(idx: Tensor, grid: tuple[int, ...], dtype: torch.dtype) -> Tensor:
    """(K,) factor ``prod_i (1/2 if 2|k_i| = N_i else 1)``."""
    at_nyquist = 2 * idx.abs() == torch.tensor(grid, device=idx.device)
    return torch.pow(0.5, at_nyquist.sum(1).to(dtype))


def synthesis_factor(idx: Tensor, dtype: torch.dtype) -> Tensor:
    """(K,) factor ``c_k / 2``: 1/2 for ``k = 0``, 1 otherwise."""
    is_zero = (idx == 0).all(1)
    half = torch.full(is_zero.shape, 0.5, dtype=dtype, device=idx.device)
    return torch.where(is_zero, half, 2 * half)


def mix(xk: Tensor, weight: Tensor) -> Tensor:
    """Per-mode channel mixing of a complex spectrum.

    Parameters
    ----------
    xk : complex Tensor, shape (B, C, K)
    weight : complex Tensor, shape (K, C, O) (dense) or (K, C) (diagonal)

    Returns
    -------
    complex Tensor, shape (B, O, K)
    """
    if weight.ndim == 2:
        return xk * weight.transpose(0, 1)
    return torch.einsum("bck,kco->bok", xk, weight)


def phase_matrix(freqs: Tensor, n: int, dtype: torch.dtype, device: torch.device) -> tuple[Tensor, Tensor]:
    """cos and sin of ``2π f m / n`` for m in [0, n), shape (n, F).

    Phases are reduced ``(f·m) mod n`` in integers before the trigonometric
    functions are evaluated in float64, so large grids lose no accuracy.
    """
    m = torch.arange(n, dtype=torch.long)
    phase = (m[:, None] * freqs.cpu()[None, :]) % n
    angle = phase.to(torch.float64) * (2 * math.pi / n)
    return angle.cos().to(device=device, dtype=dtype), angle.sin().to(device=device, dtype=dtype)


@dataclass(frozen=True)
class ModeShape:
    """Sizes of a mode set that the backends' cost models need (cached per set)."""

    distinct: tuple[int, ...]  # distinct values per axis
    stages: tuple[tuple[int, int], ...]  # per earlier axis i = d-2 .. 0: (A_i, P_{i+1})


_SHAPES = LRUCache(maxsize=256)


def mode_shape(modes: ModeSet) -> ModeShape:
    """The :class:`ModeShape` of ``modes`` (``torch.unique`` runs once per mode set, not per call)."""

    def build() -> ModeShape:
        idx = modes.indices
        d = idx.shape[1]
        distinct = tuple(int(torch.unique(idx[:, i]).numel()) for i in range(d))
        stages = []
        for i in range(d - 2, -1, -1):
            stages.append((distinct[i], int(torch.unique(idx[:, i + 1 :], dim=0).shape[0])))
        return ModeShape(distinct, tuple(stages))

    return _SHAPES.get(modes.key, build)
