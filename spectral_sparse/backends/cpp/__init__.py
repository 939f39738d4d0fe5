"""The ``cpp`` backend: the separable partial DFT fused into two CPU kernels.

The algorithm of :mod:`spectral_sparse.backends.dft` (the last axis at its
distinct frequencies, then one contraction per earlier axis to the suffixes
the modes use), with each pass fused per (batch, channel) field:

1. analysis (one read of ``x``): per block of rows, the last-axis transform
   at the distinct last-axis frequencies, folding ``n`` with ``N - n`` so each
   pair of samples costs one multiply-add per cos/sin, in vector registers;
   the result stays in a per-thread buffer and is contracted along the
   earlier axes straight to the modes;
2. mixing: one batched complex product over the modes (``torch.bmm``), or an
   elementwise product for diagonal weights;
3. synthesis (one write of ``y``): the mirror, with the bias added in the store.

Work is proportional to the distinct frequencies and the modes, with no
layout copies between the passes. The kernels are plain C++17 built on first
use (:mod:`.build`) and parallel over fields with OpenMP, honouring
``torch.set_num_threads``. Float32 and float64, 1-D to 3-D, dense and diagonal
mixing, any output grid. When the kernels cannot be built, the backend
refuses every call with the reason (see :func:`spectral_sparse.backends.available_backends`)
and ``auto`` takes ``dft``.
"""

from __future__ import annotations

import math

import torch

from .. import ConvCall, register
from .._common import mode_shape
from . import ops as ops  # registers the custom ops
from .build import library, status

__all__ = ["CppBackend", "available"]


def available() -> bool:
    """Whether the kernels are built and loaded (builds them on the first call; a constant under compile)."""
    return library() is not None


# what torch.compiler.assume_constant_result(available) does, without importing torch._dynamo at
# import time (it imports triton and takes about a second); tests/test_cpp.py checks the equivalence
available._dynamo_marked_constant = True  # type: ignore[attr-defined]


class CppBackend:
    """Fused, vectorised, multi-threaded CPU kernels (float32 and float64, 1-D to 3-D)."""

    name = "cpp"
    #: evaluates an unrestricted mode set itself (modes a grid does not resolve contribute zero)
    handles_unresolved_modes = True

    def not_supported_reasons(self, call: ConvCall) -> list[str]:
        reasons = []
        if call.device.type != "cpu":
            reasons.append(f"cpp: device {call.device.type!r} is not supported (CPU tensors only)")
        if call.dtype not in (torch.float32, torch.float64):
            reasons.append(f"cpp: input dtype {call.dtype} is not supported (float32 or float64 only)")
        d = len(call.in_grid)
        if d not in (1, 2, 3):
            reasons.append(f"cpp: {d}-D grids are not supported (1-D to 3-D)")
        if not available():
            reasons.extend(status() if not torch.compiler.is_compiling() else ["cpp: the kernels are unavailable"])
        return reasons

    def cost(self, call: ConvCall) -> float:
        """Estimated seconds: a fixed cost, the grid passes (per element and per last-axis frequency),
        the earlier-axis contractions (per mode and row) and the mixing."""
        u = mode_shape(call.modes).distinct[-1]
        k = len(call.modes)
        b, c, o = call.batch, call.in_channels, call.out_channels
        elems = b * c * math.prod(call.in_grid) + b * o * math.prod(call.out_grid)
        rows = b * c * math.prod(call.in_grid[:-1]) + b * o * math.prod(call.out_grid[:-1])
        mix = k * b * c * (1 if call.diagonal else o)
        work = _PER_ELEM * elems + _PER_FREQ_ELEM * u * elems + _PER_MODE_ROW * k * rows + _PER_MIX * mix
        return _FIXED + work / max(1, torch.get_num_threads())

    def run(self, call: ConvCall) -> torch.Tensor:
        return ops.conv(call.x, call.weight, call.bias, call.modes.indices, list(call.out_grid))


# Seconds: per call (argument checks, plan lookup, two kernel calls), per grid element of x and y,
# per element and distinct last-axis frequency, per mode and grid row, per complex multiply-add of
# the mixing. ``python -m benchmarks.cpp_cost_fit`` (one thread, AMD EPYC Zen 3 with AVX2; 2-D and
# 3-D grids 8..128, boxes, radial and full mode sets) fits them: model/measured 0.51 .. 1.42. The
# mixing term is the measured rate of torch.bmm instead (26M complex multiply-adds in 6.6 ms at one
# thread): the fit's 9.2e-10, confounded with the passes, made auto pick dft for wide channels.
_FIXED = 2.3e-4
_PER_ELEM = 2.1e-10
_PER_FREQ_ELEM = 1.2e-10
_PER_MODE_ROW = 2.9e-11
_PER_MIX = 2.5e-10


register(CppBackend())
