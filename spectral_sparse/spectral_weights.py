"""Exact conversions of other layers into sparse spectral weights.

Both functions return ``(modes, weight, bias, mixing)`` and are used by
:meth:`SparseSpectralConv.from_conv` and :meth:`SparseSpectralConv.from_neuralop`.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from ._checks import as_shape
from .modes import ModeSet, _lexsort_last_axis_first, canonicalize

__all__ = ["conv_to_spectral_weights", "neuralop_to_spectral_weights"]


def conv_to_spectral_weights(
    conv: nn.Module, grid_shape: int | Sequence[int]
) -> tuple[ModeSet, Tensor, Tensor | None, str]:
    """Transfer function of a circular convolution at every mode of a grid.

    For PyTorch's cross-correlation ``y_o(n) = b_o + Σ_c Σ_j w[o, c, j] x_c(n + d·j - p)``
    the spectral weight is ``W_k[c, o] = Σ_j w[o, c, j] exp(2πi k·(d·j - p)/N)``,
    evaluated at every mode of ``ModeSet.full(grid_shape)`` (both signs of a
    Nyquist frequency, so the even-split convention makes the two layers equal).
    """
    if not isinstance(conv, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
        raise TypeError(f"from_conv takes nn.Conv1d, nn.Conv2d or nn.Conv3d, got {type(conv).__name__}")
    d = len(conv.kernel_size)
    grid = as_shape(grid_shape, "grid_shape")
    if len(grid) != d:
        raise ValueError(f"grid_shape {grid} has {len(grid)} axes but the convolution is {d}-D")
    if any(s != 1 for s in conv.stride):
        raise ValueError(f"from_conv needs stride 1, got stride {conv.stride}")
    kernel, dilation = conv.kernel_size, conv.dilation
    if isinstance(conv.padding, str):
        pad = [0] * d if conv.padding == "valid" else [dl * (k - 1) // 2 for k, dl in zip(kernel, dilation)]
    else:
        pad = list(conv.padding)
    if any(2 * p != dl * (k - 1) for p, k, dl in zip(pad, kernel, dilation)) and conv.padding != "same":
        raise ValueError(
            f"from_conv needs a convolution that keeps the grid (padding = dilation*(kernel-1)/2 or 'same'); "
            f"got kernel {kernel}, dilation {dilation}, padding {conv.padding}"
        )
    if conv.padding_mode != "circular" and any(k > 1 for k in kernel):
        raise ValueError(
            f"from_conv is exact only for padding_mode='circular' (periodic fields), got {conv.padding_mode!r}"
        )
    in_ch, out_ch = conv.in_channels, conv.out_channels
    if conv.groups == 1:
        mixing = "dense"
    elif conv.groups == in_ch == out_ch:
        mixing = "diagonal"
    else:
        raise ValueError(f"from_conv supports groups=1 or depthwise groups=in=out, got groups={conv.groups}")

    modes = ModeSet.full(grid)
    idx = modes.indices
    w = conv.weight.detach().to(torch.float64).cpu()  # (O, C/groups, *kernel)
    # separable phases per axis: E_i[k, j] = exp(2πi k (d_i j - p_i) / N_i), reduced mod N_i in integers
    out = w.to(torch.complex128).reshape(w.shape[0], w.shape[1], -1)  # (O, C', J)
    offsets = [
        torch.tensor([dl * j - p for j in range(k)], dtype=torch.long) for k, dl, p in zip(kernel, dilation, pad)
    ]
    taps = torch.tensor(list(itertools.product(*offsets)), dtype=torch.long).reshape(-1, d)  # (J, d)
    phase = torch.zeros(idx.shape[0], taps.shape[0], dtype=torch.float64)
    for i in range(d):
        phase += ((idx[:, i : i + 1] * taps[None, :, i]) % grid[i]).to(torch.float64) / grid[i]
    e = torch.polar(torch.ones_like(phase), 2 * math.pi * phase)  # (K, J)
    h = torch.einsum("ocj,kj->kco", out, e)  # (K, C', O)
    dtype = torch.complex128 if conv.weight.dtype == torch.float64 else torch.complex64
    weight = h[:, 0, :] if mixing == "diagonal" else h
    bias = None if conv.bias is None else conv.bias.detach().cpu().clone()
    return modes, weight.to(dtype), bias, mixing


def neuralop_to_spectral_weights(spectral_conv: nn.Module) -> tuple[ModeSet, Tensor, Tensor | None, str]:
    """Canonical weights equal to a neuraloperator ``SpectralConv`` with real data.

    neuraloperator keeps the rfft bins of a box; on the ``k_last = 0`` plane
    both ``k`` and ``-k`` have weights, and ``irfftn`` reads the real part of
    their sum, so they fold into the canonical mode as ``(W[k] + conj W[-k]) / 2``
    (an unpaired ``-m/2`` contributes ``conj(W)/2``).
    """
    for attr in ("weight", "n_modes", "max_n_modes"):
        if not hasattr(spectral_conv, attr):
            raise TypeError(
                f"from_neuralop takes a neuraloperator SpectralConv; {type(spectral_conv).__name__} has no {attr!r}"
            )
    if getattr(spectral_conv, "complex_data", False):
        raise ValueError("from_neuralop converts layers for real data; this one has complex_data=True")
    weight = spectral_conv.weight
    if hasattr(weight, "to_tensor"):  # tensorly-torch (factorized or dense) tensors
        weight = weight.to_tensor()
    weight = weight.detach().cpu()
    separable = bool(getattr(spectral_conv, "separable", False))
    n_modes = list(spectral_conv.n_modes)
    max_modes = list(spectral_conv.max_n_modes)
    d = len(n_modes)
    # neuraloperator's own slicing of a max_n_modes weight down to n_modes
    starts = [m - n for m, n in zip(max_modes, n_modes)]
    slices: list[slice] = [slice(None)] * (1 if separable else 2)
    slices += [slice(s // 2, -s // 2) if s else slice(None) for s in starts[:-1]]
    slices += [slice(None, -starts[-1]) if starts[-1] else slice(None)]
    weight = weight[tuple(slices)]
    sizes = weight.shape[-d:]

    ranges = [range(-(m // 2), -(m // 2) + m) for m in sizes[:-1]] + [range(sizes[-1])]
    box = torch.tensor(list(itertools.product(*ranges)), dtype=torch.long).reshape(-1, d)
    flat = weight.reshape(*weight.shape[: weight.ndim - d], -1).movedim(-1, 0)  # (P, C[, O])
    canon = canonicalize(box)
    flipped = (canon != box).any(dim=1)
    on_plane = box[:, -1] == 0
    is_zero = (box == 0).all(dim=1)
    expand = (slice(None),) + (None,) * (flat.ndim - 1)
    contrib = torch.where(flipped[expand], flat.conj(), flat)
    contrib = torch.where(on_plane[expand], contrib / 2, contrib)
    contrib = torch.where(is_zero[expand], flat.real.to(flat.dtype), contrib)
    uniq, inverse = torch.unique(canon, dim=0, return_inverse=True)
    summed = torch.zeros(uniq.shape[0], *flat.shape[1:], dtype=flat.dtype).index_add(0, inverse, contrib)
    order = _lexsort_last_axis_first(uniq)
    modes = ModeSet(uniq[order].contiguous(), _checked=True)
    bias = spectral_conv.bias
    bias = None if bias is None else bias.detach().cpu().reshape(-1).clone()
    return modes, summed[order], bias, "diagonal" if separable else "dense"
