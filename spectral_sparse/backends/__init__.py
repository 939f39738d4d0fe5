"""Evaluation backends for the sparse spectral convolution.

Every backend computes the same function (the contract in
:mod:`spectral_sparse.functional`) and implements three things:

``not_supported_reasons(call) -> list[str]``
    Why it cannot take this call (an empty list means it can).
``cost(call) -> float``
    An estimate of its run time in seconds, used by ``backend="auto"``.
``run(call) -> Tensor``
    The output, differentiable by autograd (or a tested custom backward).

``fft`` is the reference and the specification in code; the others are tested
against it. Nothing here imports triton or touches CUDA at import time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import torch
from torch import Tensor

from ..modes import ModeSet

__all__ = [
    "Backend",
    "BackendUnavailableError",
    "ConvCall",
    "available_backends",
    "get_backend",
    "registered_backends",
]


class BackendUnavailableError(ValueError):
    """A forced backend cannot evaluate this call; the message lists the reasons."""


@dataclass(frozen=True, eq=False)
class ConvCall:
    """One evaluation, after validation and restriction to the resolved modes.

    Attributes
    ----------
    x : Tensor, shape (B, C, *in_grid), real floating
    weight : Tensor, complex, shape (K, C, O) (dense) or (K, C) (diagonal)
    modes : ModeSet with K modes, all resolved by both grids
    bias : Tensor, shape (O,), or None
    in_grid, out_grid : tuple of int
    """

    x: Tensor
    weight: Tensor
    modes: ModeSet
    bias: Tensor | None
    in_grid: tuple[int, ...]
    out_grid: tuple[int, ...]

    @property
    def diagonal(self) -> bool:
        return self.weight.ndim == 2

    @property
    def in_channels(self) -> int:
        return int(self.x.shape[1])

    @property
    def out_channels(self) -> int:
        return int(self.weight.shape[-1])

    @property
    def batch(self) -> int:
        return int(self.x.shape[0])

    @property
    def device(self) -> torch.device:
        return self.x.device

    @property
    def dtype(self) -> torch.dtype:
        return self.x.dtype


class Backend(Protocol):
    name: str

    def not_supported_reasons(self, call: ConvCall) -> list[str]: ...

    def cost(self, call: ConvCall) -> float: ...

    def run(self, call: ConvCall) -> Tensor: ...


_REGISTRY: dict[str, Backend] = {}


def register(backend: Backend) -> Backend:
    _REGISTRY[backend.name] = backend
    return backend


def registered_backends() -> dict[str, Backend]:
    """Name -> backend, in order of registration (``fft`` first)."""
    _ensure_loaded()
    return dict(_REGISTRY)


def available_backends(
    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32, ndim: int = 2
) -> dict[str, list[str]]:
    """Which backends can run a plain call here, and why the others cannot.

    Asks every registered backend about a small probe call (batch 2, 3 -> 3
    channels, a 16-point grid per axis, a 4-point box of modes) on ``device``
    in ``dtype``. This builds the ``cpp`` kernels if they are not built yet.

    Parameters
    ----------
    device : str or torch.device
    dtype : torch.dtype
    ndim : int
        Grid dimension of the probe, 1 to 3.

    Returns
    -------
    dict
        Backend name -> list of reasons it refuses (empty: available), in
        registration order.

    Examples
    --------
    >>> from spectral_sparse.backends import available_backends
    >>> available_backends()["fft"]
    []
    >>> "dft" in available_backends()
    True
    """
    modes = ModeSet.box((4,) * ndim)
    grid = (16,) * ndim
    call = ConvCall(
        x=torch.zeros(2, 3, *grid, dtype=dtype, device=device),
        weight=torch.zeros(len(modes), 3, 3, dtype=complex_dtype(dtype), device=device),
        modes=modes,
        bias=None,
        in_grid=grid,
        out_grid=grid,
    )
    return {name: list(backend.not_supported_reasons(call)) for name, backend in registered_backends().items()}


def get_backend(name: str) -> Backend:
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        known = ", ".join(sorted(_REGISTRY))
        raise ValueError(f"unknown backend {name!r}; known backends: auto, {known}") from None


def _ensure_loaded() -> None:
    if not _REGISTRY:
        from . import fft  # noqa: F401, I001  (registration side effect; the reference first)
        from . import cpp, dft, triton  # noqa: F401


SUPPORTED_DTYPES = (torch.float32, torch.float64)


def dtype_reasons(name: str, call: ConvCall) -> list[str]:
    if call.dtype not in SUPPORTED_DTYPES:
        return [f"{name}: input dtype {call.dtype} is not supported (float32 or float64 only)"]
    return []


def complex_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.complex128 if dtype == torch.float64 else torch.complex64
