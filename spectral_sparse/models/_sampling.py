"""Sampling a field's trigonometric interpolant on a coarse grid, aliasing included.

The resolution-consistent stand-in for striding and average pooling in
:func:`~spectral_sparse.models.cnn_to_spectral`: at a grid the stride divides it
is exactly ``y[..., ::s]``; elsewhere it samples the same continuous function.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import as_shape
from ..layers import SparseSpectralConv
from ..resample import per_axis

__all__ = ["ChannelwiseFilter", "SpectralSubsample", "coarse_grid", "sample_interpolant"]


def coarse_grid(grid_shape: Sequence[int], stride: int | Sequence[int]) -> tuple[int, ...]:
    """The grid a stride lands on: ``round(N_i / s_i)`` (halves round up), at least 1.

    Examples
    --------
    >>> coarse_grid((28, 27, 5), 2)
    (14, 14, 3)
    """
    grid = tuple(int(n) for n in grid_shape)
    strides = _expand(stride, len(grid), "stride")
    return tuple(max(1, (2 * n + s) // (2 * s)) for n, s in zip(grid, strides))


def sample_interpolant(x: Tensor, shape: int | Sequence[int]) -> Tensor:
    """Sample the trigonometric interpolant of periodic fields on another grid, aliasing included.

    The samples on the old grid ``N`` define the trigonometric polynomial of lowest
    degree through them (an even grid's Nyquist coefficient split evenly between
    ``+N/2`` and ``-N/2``, as in :func:`~spectral_sparse.resample`). That function
    is evaluated at the points ``n / M`` of the new grid ``M``. Unlike ``resample``
    nothing is low-passed: on a coarser grid the frequencies above its Nyquist fold
    (alias) onto the ones it holds, as point sampling does. Where ``M_i`` divides
    ``N_i`` this is exactly ``x[..., ::N_i // M_i]``.

    Parameters
    ----------
    x : Tensor, shape (..., *N), real floating
    shape : int or sequence of int
        The new grid ``M``, one entry per trailing axis of ``x``.

    Returns
    -------
    Tensor, shape (..., *M)

    Examples
    --------
    >>> import math, torch
    >>> x = torch.cos(2 * math.pi * 5 * torch.arange(27) / 27)   # frequency 5 on 27 points
    >>> y = sample_interpolant(x, 8)                              # on 8 points 5 folds onto -3
    >>> bool(torch.allclose(y, torch.cos(2 * math.pi * 3 * torch.arange(8) / 8), atol=1e-5))
    True
    """
    return per_axis(x, shape, _sample_axis, "sample")


def _sample_axis(x: Tensor, axis: int, m: int) -> Tensor:
    n = x.shape[axis]
    # a grid the new one divides: its points are input points
    return x[(slice(None),) * axis + (slice(None, None, n // m),)] if n % m == 0 else _fold_axis(x, axis, m)


def _fold_axis(x: Tensor, axis: int, m: int) -> Tensor:
    """Evaluate the interpolant along one axis at ``m`` points: fold its spectrum modulo ``m``."""
    n = x.shape[axis]
    spec = torch.fft.fft(x.movedim(axis, -1), norm="forward")  # bin j is frequency j or j - n
    freq = torch.arange(n, device=x.device)
    freq = torch.where(2 * freq > n, freq - n, freq)
    if n % 2 == 0:  # even split of the Nyquist bin: half at +n/2 (bin n/2), half at -n/2 (appended)
        spec = torch.cat([spec, spec[..., n // 2 : n // 2 + 1]], dim=-1)
        spec[..., n // 2] *= 0.5
        spec[..., n] *= 0.5
        freq = torch.cat([freq, freq.new_tensor([-(n // 2)])])
        freq[n // 2] = n // 2
    folded = spec.new_zeros(*spec.shape[:-1], m).index_add(-1, freq % m, spec)
    return torch.fft.ifft(folded, n=m, norm="forward").real.movedim(-1, axis).contiguous()


class SpectralSubsample(nn.Module):
    """Resolution-consistent "keep every ``s``-th sample": point sampling of the interpolant.

    The input's trigonometric interpolant is sampled on the coarse grid
    ``round(N_i / s_i)`` (see :func:`sample_interpolant`); where ``s_i`` divides
    ``N_i`` that is exactly ``x[..., ::s_i]``, the subsampling of a strided layer.

    Parameters
    ----------
    stride : int or tuple of int
        One per grid axis, or one for all.

    Shapes
    ------
    ``(B, C, *N) -> (B, C, *coarse_grid(N, stride))``

    Examples
    --------
    >>> import torch
    >>> x = torch.randn(2, 3, 28, 28)
    >>> sub = SpectralSubsample(2)
    >>> bool(torch.equal(sub(x), x[..., ::2, ::2])), sub(torch.randn(2, 3, 27, 20)).shape
    (True, torch.Size([2, 3, 14, 10]))
    """

    def __init__(self, stride: int | Sequence[int]) -> None:
        super().__init__()
        self.stride = _expand(stride, 1, "stride")[0] if isinstance(stride, int) else as_shape(stride, "stride")

    def output_shape(self, grid_shape: Sequence[int]) -> tuple[int, ...]:
        """The coarse grid for an input grid."""
        return coarse_grid(grid_shape, self.stride)

    def forward(self, x: Tensor) -> Tensor:
        """Sample ``x`` (shape ``(B, C, *N)``) on the coarse grid."""
        if not isinstance(x, Tensor) or x.ndim < 3:
            raise ValueError(f"SpectralSubsample expects (B, C, *grid), got {getattr(x, 'shape', type(x).__name__)}")
        return sample_interpolant(x, self.output_shape(x.shape[2:]))

    def extra_repr(self) -> str:
        return f"stride={self.stride}"


class ChannelwiseFilter(nn.Module):
    """Apply one single-channel layer to every channel of a field (an average pooling's box filter).

    Parameters
    ----------
    layer : SparseSpectralConv
        With ``in_channels == out_channels == 1``.

    Shapes
    ------
    ``(B, C, *N) -> (B, C, *N)``, for any ``C``.
    """

    def __init__(self, layer: SparseSpectralConv) -> None:
        super().__init__()
        if layer.in_channels != 1 or layer.out_channels != 1:
            raise ValueError(
                f"ChannelwiseFilter needs a 1 -> 1 channel layer, got {layer.in_channels} -> {layer.out_channels}"
            )
        self.layer = layer

    def forward(self, x: Tensor) -> Tensor:
        b, c, *grid = x.shape
        y = self.layer(x.reshape(b * c, 1, *grid))
        return y.reshape(b, c, *y.shape[2:])


def _expand(value, d: int, name: str, allow_none: bool = False, allow_zero: bool = False) -> tuple:
    values = (value,) * d if isinstance(value, int) or value is None else tuple(value)
    if len(values) == 1 and d > 1:
        values = values * d
    for v in values:
        if v is None and allow_none:
            continue
        if not isinstance(v, int) or isinstance(v, bool) or v < (0 if allow_zero else 1):
            raise ValueError(f"{name} must be {'non-negative' if allow_zero else 'positive'} ints, got {value!r}")
    return values
