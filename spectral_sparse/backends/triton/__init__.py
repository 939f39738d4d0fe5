"""The ``triton`` backend: the separable partial DFT fused into Triton kernels.

The same algorithm as :mod:`spectral_sparse.backends.dft`, with real and
imaginary planes kept apart (Triton has no complex dtype), in three kernels
per direction:

1. analysis (:func:`kernels.analysis_2d_kernel`): per (batch, channel) row,
   the last-axis transform at the distinct last-axis frequencies ``U`` is
   formed as ``x`` is loaded and immediately contracted along the first axis
   into the ``(A, U)`` frequency box held in registers; only the box entries
   that are modes are stored. In 1-D it is one GEMM over rows;
2. mixing (:func:`kernels.mix_dense_kernel`, ``mix_diagonal_kernel``): per
   mode ``(B, C) x (C, O)`` complex products as four real ``tl.dot``;
3. synthesis (:func:`kernels.synthesis_2d_kernel`): the mirror; the first-axis
   partial sums stay in registers and the last-axis synthesis is fused with
   the bias into the store of ``y``.

Backward reuses the same kernels with each other's tables (analysis and
synthesis with one set of tables are exact adjoints) plus a per-mode outer
product for the weight gradient; autograd saves the input spectrum at the
modes, not ``x``. Every product runs in full precision (``tl.dot`` with
``input_precision="ieee"``, no TF32). float16/bfloat16 inputs are accepted
(fp32 tables, spectra and accumulation; the output is rounded to the input
dtype), float64 stays float64.

The kernels are exposed as ``torch.library`` custom ops (:mod:`.ops`) and
run on CPU tensors under Triton's interpreter when ``TRITON_INTERPRET=1``.
Importing this package never imports triton.
"""

from __future__ import annotations

import importlib.util
import math
import os

import torch

from .. import ConvCall, register
from . import ops as ops  # registers the custom ops (torch only)

__all__ = ["TritonBackend"]

_TRITON_FOUND = importlib.util.find_spec("triton") is not None
_DTYPES = (torch.float32, torch.float64, torch.float16, torch.bfloat16)
_MAX_INDEX = 2**31 - 1


class TritonBackend:
    """Fused partial-DFT kernels on CUDA (and on CPU under ``TRITON_INTERPRET=1``), 1-D and 2-D."""

    name = "triton"
    #: evaluates an unrestricted mode set itself (modes a grid does not resolve contribute zero)
    handles_unresolved_modes = True

    def not_supported_reasons(self, call: ConvCall) -> list[str]:
        reasons = []
        if not _TRITON_FOUND:
            reasons.append("triton: the triton package is not installed (pip install 'spectral-sparse[triton]')")
        device = call.device.type
        if device == "cpu":
            if os.environ.get("TRITON_INTERPRET", "0") != "1":
                reasons.append("triton: CPU tensors run only under Triton's interpreter (set TRITON_INTERPRET=1)")
        elif device != "cuda":
            reasons.append(f"triton: device {device!r} is not supported (cuda, or cpu with TRITON_INTERPRET=1)")
        if call.dtype not in _DTYPES:
            reasons.append(f"triton: input dtype {call.dtype} is not supported (float32, float64, float16, bfloat16)")
        d = len(call.in_grid)
        if d == 3:
            reasons.append(
                "triton: 3-D falls back: the fused kernels hold one first-axis contraction on chip and a 3-D "
                "field needs a second, per-(k2, k3) partial spectrum between the axes (use dft or fft)"
            )
        elif d not in (1, 2):
            reasons.append(f"triton: {d}-D grids are not supported (1-D and 2-D only)")
        k = int(call.weight.shape[0])
        sizes = {
            "input": call.batch * call.in_channels * math.prod(call.in_grid),
            "output": call.batch * call.out_channels * math.prod(call.out_grid),
            "spectrum": 2 * k * call.batch * max(call.in_channels, call.out_channels),
            "weight": 2 * int(call.weight.numel()),
        }
        for what, n in sizes.items():
            if n > _MAX_INDEX:
                reasons.append(f"triton: the {what} has {n} elements; the kernels index with 32 bits (< 2**31)")
        return reasons

    def cost(self, call: ConvCall) -> float:
        if call.device.type != "cuda":
            return 1e9  # the interpreter is for testing; never pick it on the CPU
        idx = call.modes.indices
        u = int(torch.unique(idx[:, -1]).numel())
        a = int(torch.unique(idx[:, 0]).numel()) if idx.shape[1] > 1 else 1
        rows_in = call.batch * call.in_channels * math.prod(call.in_grid[:-1])
        rows_out = call.batch * call.out_channels * math.prod(call.out_grid[:-1])
        flops = 4 * u * (rows_in * call.in_grid[-1] + rows_out * call.out_grid[-1])
        if idx.shape[1] > 1:
            flops += 8 * a * u * (rows_in + rows_out)
        flops += 8 * len(call.modes) * call.batch * call.in_channels * call.out_channels
        bytes_moved = call.x.element_size() * (rows_in * call.in_grid[-1] + rows_out * call.out_grid[-1])
        # fp32 FMA (no tensor cores) at a fraction of peak; three launches
        return flops / 1e11 + bytes_moved / 1e12 + 3e-5

    def run(self, call: ConvCall) -> torch.Tensor:
        y, _ = torch.ops.spectral_sparse.triton_conv(
            call.x, call.weight, call.bias, call.modes.indices, list(call.out_grid)
        )
        return y


register(TritonBackend())
