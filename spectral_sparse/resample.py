"""Exact trigonometric interpolation of real periodic fields."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torch import Tensor

from ._checks import as_shape

__all__ = ["resample"]


def resample(x: Tensor, shape: int | Sequence[int]) -> Tensor:
    """Resample real periodic fields to another grid by trigonometric interpolation.

    The samples on the old grid define the trigonometric polynomial of lowest
    degree through them (an even grid's Nyquist coefficient split evenly
    between ``+N/2`` and ``-N/2``); that function, low-passed to the
    frequencies the new grid holds, is sampled on the new grid. Upsampling is
    exact, a band-limited field is recovered on any grid that resolves it, and
    ``resample(resample(x, up), x.shape)`` returns ``x``.

    Parameters
    ----------
    x : Tensor, shape (..., *N), real floating
        The last ``len(shape)`` axes are the periodic grid.
    shape : int or sequence of int
        The new grid.

    Returns
    -------
    Tensor, shape (..., *shape)
        Of the dtype of ``x``; empty if ``x`` has an empty batch (leading) axis.

    Raises
    ------
    TypeError
        If ``x`` is not a float32 or float64 tensor (bool, integer, complex, float16
        and bfloat16 are refused).
    ValueError
        If ``shape`` has entries below 1 or more entries than ``x`` has axes, or a grid
        axis of ``x`` is empty.

    Examples
    --------
    >>> import math, torch
    >>> t = torch.arange(8) / 8
    >>> x = torch.cos(2 * math.pi * t)
    >>> y = resample(x, 16)
    >>> bool(torch.allclose(y, torch.cos(2 * math.pi * torch.arange(16) / 16), atol=1e-6))
    True
    """
    if isinstance(x, Tensor) and x.dtype in (torch.float16, torch.bfloat16):
        raise TypeError(f"resample takes float32 or float64 fields, got dtype {x.dtype}; convert with x.float()")
    return per_axis(x, shape, _resample_axis, "resample")


def per_axis(x: Tensor, shape: int | Sequence[int], op: Callable[[Tensor, int, int], Tensor], name: str) -> Tensor:
    """Validate a real field and apply ``op(x, axis, new_size)`` to each of its last ``len(shape)`` axes.

    Raises
    ------
    TypeError
        If ``x`` is not a real floating-point tensor.
    ValueError
        If ``shape`` is invalid or longer than ``x.ndim``, or a grid axis of ``x`` is empty.
    """
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{name} takes real floating-point fields, got dtype {x.dtype}")
    new = as_shape(shape, "shape")
    if len(new) > x.ndim:
        raise ValueError(f"cannot {name} {len(new)} axes of a tensor with {x.ndim} dimensions")
    first = x.ndim - len(new)
    for axis in range(first, x.ndim):
        if x.shape[axis] == 0:
            raise ValueError(f"cannot {name} an empty grid axis: axis {axis} of x has size 0 (shape {tuple(x.shape)})")
    if x.numel() == 0:  # an empty batch: nothing to transform (torch.fft refuses empty input);
        # the sum keeps the empty result in x's autograd graph
        grid = tuple(range(first, x.ndim))
        return x.sum(dim=grid, keepdim=True).expand(*x.shape[:first], *new).contiguous()
    for axis, n_new in zip(range(x.ndim - len(new), x.ndim), new):
        if x.shape[axis] != n_new:
            x = op(x, axis, n_new)
    return x


def _resample_axis(x: Tensor, axis: int, n_new: int) -> Tensor:
    n_old = x.shape[axis]
    if n_old == n_new:
        return x
    spec = torch.fft.rfft(x, dim=axis, norm="forward")
    keep = min(n_old, n_new) // 2 + 1  # bins 0 .. min(N, N')//2
    spec = spec.narrow(axis, 0, keep)
    weights = torch.ones(keep, dtype=x.dtype, device=x.device)
    if n_old % 2 == 0 and n_old // 2 < keep:
        weights[n_old // 2] = 0.5  # old Nyquist: its coefficient is shared with -N/2
    if n_new % 2 == 0 and n_new // 2 < keep:
        weights[n_new // 2] *= 2.0  # new Nyquist: +N'/2 and -N'/2 land in one bin
    shape = [1] * x.ndim
    shape[axis] = keep
    spec = spec * weights.reshape(shape)
    if n_new % 2 == 0 and n_new // 2 < keep:
        # the sampled value at the new Nyquist is 2 Re(a); irfft reads only the real part
        nyq = spec.narrow(axis, n_new // 2, 1)
        spec = torch.cat([spec.narrow(axis, 0, n_new // 2), nyq.real.to(spec.dtype)], dim=axis)
    return torch.fft.irfft(spec, n=n_new, dim=axis, norm="forward")
