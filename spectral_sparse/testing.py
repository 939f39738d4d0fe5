"""Tolerances and comparison helpers shared by the tests and the benchmarks.

Every fast path is compared with the ``fft`` reference using one per-dtype table.
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["TOLERANCES", "assert_close", "relative_error"]

#: (rtol, atol) per dtype, for comparing a backend with the reference, relative to the
#: largest magnitude of the reference (see :func:`relative_error`).
TOLERANCES: dict[torch.dtype, tuple[float, float]] = {
    torch.float64: (1e-10, 1e-12),
    torch.float32: (2e-5, 1e-6),
    torch.bfloat16: (2e-2, 1e-3),
    torch.float16: (5e-3, 1e-4),
    torch.complex128: (1e-10, 1e-12),
    torch.complex64: (2e-5, 1e-6),
}


def relative_error(actual: Tensor, reference: Tensor) -> float:
    """``max |actual - reference| / max |reference|`` (0 when both are zero)."""
    actual, reference = actual.detach(), reference.detach()
    if actual.shape != reference.shape:
        raise ValueError(f"shape mismatch: {tuple(actual.shape)} vs {tuple(reference.shape)}")
    scale = reference.abs().max().item() if reference.numel() else 0.0
    diff = (actual.to(reference.dtype) - reference).abs().max().item() if reference.numel() else 0.0
    return diff / scale if scale > 0 else diff


def assert_close(actual: Tensor, reference: Tensor, dtype: torch.dtype | None = None, what: str = "") -> None:
    """Assert ``relative_error(actual, reference) <= rtol`` from :data:`TOLERANCES` for ``dtype``.

    Examples
    --------
    >>> x = torch.ones(3)
    >>> assert_close(x + 1e-7, x)
    """
    dtype = dtype or actual.dtype
    rtol, atol = TOLERANCES[dtype]
    err = relative_error(actual, reference)
    scale = reference.detach().abs().max().item() if reference.numel() else 0.0
    if err > rtol and err * scale > atol:
        raise AssertionError(f"{what or 'tensors'} differ: relative error {err:.3e} > {rtol:.1e} ({dtype})")
