r"""Convert a trained circular-padded CNN into a spectral network that is exact at its training grid.

The method of Kabri, Roith, Tenbrinck and Burger, "Resolution-invariant image
classification based on Fourier neural operators" (SSVM 2023): a circular
convolution on a grid ``N`` *is* a spectral convolution holding every mode of
``N``; once written that way its kernel is a function on the continuous
periodic domain and the layer runs on any grid.

Strided layers
--------------
A strided convolution (stride ``s``) and an average pooling (``kernel = stride
= s``) are a stride-1 convolution followed by keeping every ``s``-th sample.
Both parts are made resolution-consistent:

1. the stride-1 part (for pooling: the box filter ``1/s`` over ``s`` taps, as a
   convolution) becomes a :class:`~spectral_sparse.SparseSpectralConv` at the grid
   where the layer sits, exactly as for an unstrided convolution;
2. "every ``s``-th sample" becomes :class:`SpectralSubsample`: the output
   *function* of step 1 (the trigonometric interpolant of its samples) is
   sampled on the coarse grid ``round(N_i / s_i)``, aliasing included.

At the training grid (where ``s_i`` divides ``N_i``) the coarse points are
input grid points, so step 2 is exactly ``y[..., ::s, ::s]`` and the converted
layer reproduces the CNN layer to float rounding. On another grid the same
continuous function is sampled at the coarse points.

Every converted layer keeps the CNN kernel's transfer function at the modes of
the grid where it sits in the original network (the training grid divided by
the strides before it): on a finer grid the kernel acts as band-limited to
those modes, on a coarser one the modes the grid cannot hold are dropped. Aliasing is kept on
purpose (it is what the CNN does at its training grid), so outputs at other
grids differ from those at the training grid by what the energy above the
coarse Nyquist frequency folds onto: nothing for an input band-limited below
it (a test shows logits equal to 1e-12 on 27, 28, 42 and 56 points), and
little where the spectrum decays.
"""

from __future__ import annotations

import copy
import math
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import as_shape
from ..layers import SparseSpectralConv
from ._sampling import ChannelwiseFilter, SpectralSubsample, _expand, coarse_grid, sample_interpolant
from .classifier import CNNClassifier, SpectralClassifier

__all__ = ["ChannelwiseFilter", "SpectralSubsample", "cnn_to_spectral", "coarse_grid", "sample_interpolant"]

_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
_AVG_POOL = (nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d)
_ADAPTIVE = (nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d)
_ADAPTIVE_MAX = (nn.AdaptiveMaxPool1d, nn.AdaptiveMaxPool2d, nn.AdaptiveMaxPool3d)
# pointwise modules with parameters (per-channel affine maps; norms whose statistics are grid means)
_POINTWISE = (nn.modules.batchnorm._BatchNorm, nn.modules.instancenorm._InstanceNorm, nn.GroupNorm, nn.PReLU)
_P, _PAD = nn.modules.pooling, nn.modules.padding
_MAX_POOLS = (_P._MaxPoolNd, _P._LPPoolNd, _P._MaxUnpoolNd, nn.FractionalMaxPool2d, nn.FractionalMaxPool3d)
_PADS = (_PAD._ConstantPadNd, _PAD._ReflectionPadNd, _PAD._ReplicationPadNd, _PAD._CircularPadNd)
_REJECT = (
    (_MAX_POOLS, "max pooling is not linear, so it has no spectral equivalent; use AvgPool or a strided convolution"),
    (_PADS, "padding layers change the grid and are not periodic"),
    ((nn.Upsample, nn.PixelShuffle, nn.PixelUnshuffle, nn.Fold), "its output size is tied to the grid in pixels"),
    ((nn.LayerNorm, nn.Unfold), "it acts on the grid axes in pixels (only grid-mean normalisation converts)"),
    ((nn.modules.conv._ConvTransposeNd,), "transposed convolutions are not supported"),
)


def cnn_to_spectral(cnn: nn.Module, grid_shape: int | Sequence[int]) -> nn.Module:
    """Convert a trained circular-padded CNN into a spectral network exact at its training grid.

    The result is a new module (the input is deep-copied and left unchanged) that
    equals ``cnn`` on inputs of shape ``(B, C, *grid_shape)`` to float rounding
    and runs on any grid. Every spatial layer is replaced by its continuous
    counterpart at the grid where it sits in the original network (the training
    grid divided by the strides before it).

    Rules, module by module (nested ``nn.Sequential`` are walked; a
    :class:`~spectral_sparse.models.CNNClassifier` keeps its forward, grid mean
    then head, with its ``body`` converted):

    * **Conv1d/2d/3d, stride 1**, circular padding that keeps the grid (dense or
      depthwise): :meth:`SparseSpectralConv.from_conv` at the current grid (every
      mode of it, so the layer is dense in frequency until pruned). A 1x1(x1)
      convolution is pointwise and kept as it is.
    * **strided Conv** (stride ``s``) and **AvgPool** (``kernel = stride = s``, no
      padding): ``Sequential(conv, subsample)``: a stride-1 spectral layer with the
      same taps (for pooling the box filter ``1/s^d`` over the window, a
      :class:`ChannelwiseFilter`) followed by :class:`SpectralSubsample` ``(s)``,
      which point-samples the layer's output function on the coarse grid
      ``round(N_i / s_i)``, aliasing included. Exact at the training grid because
      there ``s_i`` divides ``N_i``, the windows tile the periodic grid, and the
      sampling is ``y[..., ::s]``; "resolution-consistent" because on any other
      grid the same continuous function is sampled at the coarse points. The
      aliasing is what makes outputs at other grids differ from the training grid:
      by the fold of the energy above the coarse Nyquist frequency, zero for inputs
      band-limited below it. A strided convolution without padding (a
      "patchify" kernel ``<= s``) needs no padding mode.
    * **Pointwise modules** stay: activations and other modules without
      parameters not listed below, Dropout, BatchNorm (exact in eval mode; the
      copy keeps the input's train/eval mode), InstanceNorm, GroupNorm, PReLU.
    * **Global pooling** stays: AdaptiveAvgPool to size 1 (the ``k = 0``
      coefficient, independent of the grid) and AdaptiveMaxPool to size 1 (the
      maximum of the samples). Everything after it (Flatten, Linear, ...) stays.

    ``ValueError`` names the module and why it cannot be converted exactly: max
    or Lp pooling, padding layers, non-circular padding with a kernel > 1,
    AdaptiveAvgPool to a size > 1, Flatten or Linear before global pooling,
    Upsample, LayerNorm, transposed or grouped (non-depthwise) convolutions, a
    strided layer whose stride does not divide the grid where it sits or whose
    windows do not tile it, and any other module with parameters.

    Parameters
    ----------
    cnn : nn.Sequential or CNNClassifier
        A module already resolution independent (a ``SpectralClassifier``, a
        ``SparseSpectralConv``) is returned as a copy.
    grid_shape : int or tuple of int
        The training grid; an int means the same size on every axis.

    Returns
    -------
    nn.Module

    Examples
    --------
    >>> import torch
    >>> from torch import nn
    >>> cnn = nn.Sequential(
    ...     nn.Conv2d(1, 4, 3, padding=1, padding_mode="circular"), nn.GELU(),
    ...     nn.Conv2d(4, 4, 3, stride=2, padding=1, padding_mode="circular"), nn.GELU(),
    ...     nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    >>> model = cnn_to_spectral(cnn, (28, 28))
    >>> x = torch.randn(2, 1, 28, 28)
    >>> bool(torch.allclose(model(x), cnn(x), atol=1e-5)), model(torch.randn(2, 1, 45, 30)).shape
    (True, torch.Size([2, 3]))
    """
    if not isinstance(cnn, nn.Module):
        raise TypeError(f"cnn must be an nn.Module, got {type(cnn).__name__}")
    model = copy.deepcopy(cnn)
    if isinstance(model, (SpectralClassifier, SparseSpectralConv)):
        return model
    grid = as_shape(grid_shape, "grid_shape")
    if len(grid) == 1:
        grid = grid * _spatial_ndim(model, default=1)
    ctx = _Context(*_dtype_device(model))
    if isinstance(model, CNNClassifier):
        model.body, _ = ctx.convert(model.body, "body", grid)
        return model
    return ctx.convert(model, "", grid)[0]


class _Context:
    def __init__(self, dtype: torch.dtype, device: torch.device) -> None:
        self.dtype, self.device = dtype, device

    def convert(self, module: nn.Module, name: str, grid: tuple[int, ...] | None) -> tuple[nn.Module, tuple | None]:
        """Return the replacement of ``module`` and the grid after it (``None`` once globally pooled)."""
        if grid is None:  # after global pooling every module acts on grid-free features
            return module, None
        label = f"{name!r} ({type(module).__name__})" if name else type(module).__name__
        if isinstance(module, nn.Sequential) and type(module).forward is nn.Sequential.forward:
            children = OrderedDict()
            for key, child in module.named_children():
                children[key], grid = self.convert(child, f"{name}.{key}" if name else key, grid)
            return nn.Sequential(children), grid
        if isinstance(module, SpectralSubsample):
            return module, module.output_shape(grid)
        if isinstance(module, (SparseSpectralConv, ChannelwiseFilter)):
            return module, grid
        if isinstance(module, _CONV):
            return self._conv(module, label, grid)
        if isinstance(module, _AVG_POOL):
            return self._avg_pool(module, label, grid)
        if isinstance(module, (*_ADAPTIVE, *_ADAPTIVE_MAX)):
            size = _expand(module.output_size, len(grid), "output_size", allow_none=True)
            if all(s == 1 for s in size):
                return module, None
            raise ValueError(
                f"cannot convert {label}: adaptive pooling to size {module.output_size} depends on the grid in "
                "pixels; only global pooling (output size 1) is resolution independent"
            )
        if isinstance(module, (nn.Flatten, nn.Linear)):
            raise ValueError(
                f"cannot convert {label}: it acts on the grid axes before global pooling, so its input size "
                "depends on the grid; pool globally (AdaptiveAvgPool to size 1) first"
            )
        for types, reason in _REJECT:
            if isinstance(module, types):
                raise ValueError(f"cannot convert {label}: {reason}")
        if isinstance(module, _POINTWISE):
            return module, grid
        if next(module.parameters(), None) is None:
            for sub_name, sub in module.named_modules():
                if sub is not module and isinstance(sub, (*_AVG_POOL, *(t for types, _ in _REJECT for t in types))):
                    raise ValueError(f"cannot convert {label}: it contains {sub_name!r} ({type(sub).__name__})")
            return module, grid
        raise ValueError(
            f"cannot convert {label}: a module with parameters of unknown type, so it cannot be converted exactly "
            "(supported: Conv, AvgPool, BatchNorm, GroupNorm, InstanceNorm, PReLU, nn.Sequential)"
        )

    def _conv(self, conv: nn.Module, label: str, grid: tuple[int, ...]) -> tuple[nn.Module, tuple[int, ...]]:
        _check_ndim(label, len(conv.kernel_size), grid)
        pad = _padding(conv)
        if all(s == 1 for s in conv.stride):
            if all(k == 1 for k in conv.kernel_size) and not any(pad):
                return conv, grid  # pointwise: exact on every grid as it is
            return _from_conv(conv, label, grid, conv.weight.device), grid
        if any(pad) and conv.padding_mode != "circular":
            raise ValueError(
                f"cannot convert {label}: {conv.padding_mode!r} padding is not periodic; only "
                "padding_mode='circular' (or no padding) converts exactly"
            )
        out = _tiling_grid(label, grid, conv.kernel_size, conv.stride, pad, conv.dilation)
        if all(k == 1 for k in conv.kernel_size):
            step = copy.deepcopy(conv)
            step.stride = (1,) * len(grid)
        else:
            step = _stride_one(conv, pad, conv.weight.detach(), conv.bias)
            step = _from_conv(step, label, grid, conv.weight.device)
        return nn.Sequential(OrderedDict(conv=step, subsample=SpectralSubsample(tuple(conv.stride)))), out

    def _avg_pool(self, pool: nn.Module, label: str, grid: tuple[int, ...]) -> tuple[nn.Module, tuple[int, ...]]:
        d = _ndim_of(pool)
        _check_ndim(label, d, grid)
        kernel = _expand(pool.kernel_size, d, "kernel_size")
        stride = _expand(pool.stride if pool.stride not in (None, ()) else pool.kernel_size, d, "stride")
        pad = _expand(pool.padding, d, "padding", allow_zero=True)
        if any(pad):
            raise ValueError(
                f"cannot convert {label}: it pads with zeros (padding={pool.padding}), which is not periodic"
            )
        out = _tiling_grid(label, grid, kernel, stride, pad, (1,) * d, ceil_mode=pool.ceil_mode)
        divisor = getattr(pool, "divisor_override", None) or math.prod(kernel)
        box = torch.full((1, 1, *kernel), 1.0 / divisor, dtype=self.dtype)
        conv = _CONV[d - 1](1, 1, kernel, bias=False, dtype=self.dtype)
        filt = ChannelwiseFilter(_from_conv(_stride_one(conv, pad, box, None), label, grid, self.device))
        return nn.Sequential(OrderedDict(filter=filt, subsample=SpectralSubsample(stride))), out


def _from_conv(conv: nn.Module, label: str, grid: tuple[int, ...], device: torch.device) -> SparseSpectralConv:
    try:
        layer = SparseSpectralConv.from_conv(conv, grid)
    except (TypeError, ValueError) as err:
        raise ValueError(f"cannot convert {label} at grid {grid}: {err}") from err
    return layer.to(device)


def _stride_one(conv: nn.Module, pad: Sequence[int], weight: Tensor, bias: Tensor | None) -> nn.Module:
    """A stride-1, dilation-1, grid-keeping circular conv with the same taps ``d·j - p`` (zero-filled kernel)."""
    kernel, dilation = weight.shape[2:], _expand(getattr(conv, "dilation", 1), weight.ndim - 2, "dilation")
    reach = [max(p, dl * (k - 1) - p) for k, dl, p in zip(kernel, dilation, pad)]
    big = weight.new_zeros(*weight.shape[:2], *(2 * r + 1 for r in reach))
    index = tuple(slice(r - p, r - p + dl * (k - 1) + 1, dl) for k, dl, p, r in zip(kernel, dilation, pad, reach))
    big[(slice(None), slice(None), *index)] = weight
    groups = getattr(conv, "groups", 1)
    channels_in = weight.shape[1] * groups
    out = type(conv)(
        channels_in,
        weight.shape[0],
        tuple(big.shape[2:]),
        padding=tuple(reach),
        groups=groups,
        bias=bias is not None,
        padding_mode="circular",
        dtype=weight.dtype,
        device=weight.device,
    )
    with torch.no_grad():
        out.weight.copy_(big)
        if bias is not None:
            out.bias.copy_(bias.detach())
    return out


def _tiling_grid(
    label: str,
    grid: tuple[int, ...],
    kernel: Sequence[int],
    stride: Sequence[int],
    pad: Sequence[int],
    dilation: Sequence[int],
    ceil_mode: bool = False,
) -> tuple[int, ...]:
    """The coarse grid ``N / s`` of a strided layer, after checking that its windows tile the periodic grid."""
    for n, k, s, p, dl in zip(grid, kernel, stride, pad, dilation):
        if n % s:
            raise ValueError(
                f"cannot convert {label} exactly: stride {tuple(stride)} does not divide the grid {grid} where it "
                "sits, so its samples are not a periodic grid; train and convert on a grid divisible by the strides"
            )
        span = n + 2 * p - dl * (k - 1) - 1
        out = (-(-span // s) if ceil_mode else span // s) + 1
        if ceil_mode and (out - 1) * s >= n + p:
            out -= 1
        if out != n // s:
            raise ValueError(
                f"cannot convert {label} exactly: on the grid {grid} it outputs {out} points along an axis of {n}, "
                f"not {n}/{s} = {n // s}, so its windows do not tile the periodic grid (kernel {tuple(kernel)}, "
                f"padding {tuple(pad)})"
            )
    return tuple(n // s for n, s in zip(grid, stride))


def _padding(conv: nn.Module) -> tuple[int, ...]:
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            return (0,) * len(conv.kernel_size)
        return tuple(dl * (k - 1) // 2 for k, dl in zip(conv.kernel_size, conv.dilation))
    return tuple(conv.padding)


def _check_ndim(label: str, d: int, grid: tuple[int, ...]) -> None:
    if d != len(grid):
        raise ValueError(f"cannot convert {label}: it is {d}-D but the grid where it sits is {grid}")


def _spatial_ndim(model: nn.Module, default: int) -> int:
    for module in model.modules():
        if isinstance(module, _CONV):
            return len(module.kernel_size)
        if isinstance(module, (*_AVG_POOL, *_ADAPTIVE)):
            return _ndim_of(module)
    return default


def _ndim_of(module: nn.Module) -> int:
    for family in (_CONV, _AVG_POOL, _ADAPTIVE, _ADAPTIVE_MAX):
        for d, cls in enumerate(family, start=1):
            if isinstance(module, cls):
                return d
    raise TypeError(f"{type(module).__name__} is not a 1-D, 2-D or 3-D layer")


def _dtype_device(model: nn.Module) -> tuple[torch.dtype, torch.device]:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype, p.device
    return torch.get_default_dtype(), torch.device("cpu")
