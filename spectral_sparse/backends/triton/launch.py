"""Kernel loading and launching (triton is imported here lazily, on first launch).

``@triton.jit`` decides when it runs whether a kernel is compiled or
interpreted (``triton.knobs.runtime.interpret``, read from
``TRITON_INTERPRET``). So :func:`load_kernels` executes ``kernels.py`` once
per mode, as a module of its own, with that knob set for the duration: CPU
tensors always get the interpreter, CUDA tensors get compiled kernels unless
``TRITON_INTERPRET=1``. The order in which triton, torch and this package are
imported therefore does not matter.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path
from types import ModuleType

import torch
from torch import Tensor

__all__ = ["analysis", "load_kernels", "mix", "synthesis", "use_interpreter", "weight_grad"]

_KERNELS: dict[bool, ModuleType] = {}


def use_interpreter(device: torch.device) -> bool:
    """CPU tensors run under Triton's interpreter; so does everything when ``TRITON_INTERPRET=1``."""
    return device.type == "cpu" or os.environ.get("TRITON_INTERPRET", "0") == "1"


def load_kernels(interpret: bool) -> ModuleType:
    """The kernels module, its ``@triton.jit`` functions compiled or interpreted."""
    mod = _KERNELS.get(interpret)
    if mod is not None:
        return mod
    import triton

    name = f"{__package__}._kernels_{'interpreted' if interpret else 'compiled'}"
    runtime = getattr(getattr(triton, "knobs", None), "runtime", None)
    saved_env = os.environ.get("TRITON_INTERPRET")
    saved_knob = runtime.__dict__.get("interpret", _MISSING) if runtime is not None else _MISSING
    os.environ["TRITON_INTERPRET"] = "1" if interpret else "0"
    if runtime is not None:
        runtime.__dict__.pop("interpret", None)  # let the knob read the environment
    try:
        spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name("kernels.py"))
        assert spec is not None and spec.loader is not None
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
    finally:
        if saved_env is None:
            os.environ.pop("TRITON_INTERPRET", None)
        else:
            os.environ["TRITON_INTERPRET"] = saved_env
        if runtime is not None and saved_knob is not _MISSING:
            runtime.__dict__["interpret"] = saved_knob
    _KERNELS[interpret] = mod
    return mod


_MISSING = object()

#: Tuning knobs (tests lower them to reach the multi-tile code paths on tiny shapes):
#: every block size is capped at ``BLOCK_LIMIT`` (when set), and the 2-D synthesis keeps
#: the first-axis partial sums for all of ``U`` on chip when ``U <= ONE_U_TILE_MAX``.
BLOCK_LIMIT: int | None = None
ONE_U_TILE_MAX = 64

# Block sizes, from ptxas register reports for sm_90 (no GPU run yet; to be tuned there):
# full-fp32 ``tl.dot`` lowers to FMA, which holds a whole reduction slice of both operands
# in registers, so every reduction dimension (``_RED``) is 16, and tiles of >= 1024
# outputs per plane get 8 warps. With these choices no kernel spills.
_RED = 16


def _warps(tile: int) -> int:
    return 8 if tile >= 1024 else 4


def _pow2(n: int) -> int:
    p = 1
    while p < n:
        p *= 2
    return p


def _block(n: int, lo: int = 16, hi: int = 64) -> int:
    """Power of two >= n, clamped to [lo, hi] (tl.dot needs every dimension >= 16)."""
    if BLOCK_LIMIT is not None:
        hi = min(hi, BLOCK_LIMIT)
    return max(lo, min(hi, _pow2(n)))


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


def _tl_dtype(kern: ModuleType, dtype: torch.dtype):  # -> tl.dtype
    return kern.tl.float64 if dtype == torch.float64 else kern.tl.float32


def analysis(kern: ModuleType, x: Tensor, t1: Tensor, t2: Tensor, pos: Tensor, n_modes: int, zero_fill: bool) -> Tensor:
    """x (R, N1, N2) -> spectrum (2, K, R) in the tables' dtype (kernel twin: ``reference.analysis``)."""
    rows, n1, n2 = x.shape
    a, u = pos.shape
    alloc = torch.zeros if zero_fill or u == 0 else torch.empty
    out = alloc((2, n_modes, rows), dtype=t2.dtype, device=x.device)
    if u == 0 or rows == 0:
        return out
    x = x.contiguous()
    acc = _tl_dtype(kern, t2.dtype)
    if n1 == 1 and a == 1 and t1.shape[2] == 1:  # 1-D: a GEMM over rows
        br, bu = _block(rows, hi=32), _block(u)
        grid = (_cdiv(rows, br), _cdiv(u, bu))
        kern.analysis_1d_kernel[grid](
            x, t2, pos, out, rows, n2, u, n_modes,
            ACC=acc, BLOCK_R=br, BLOCK_N=_RED, BLOCK_U=bu, num_warps=_warps(br * bu),
        )  # fmt: skip
    else:
        ba, bu = _block(a), _block(u)
        grid = (rows, _cdiv(u, bu), _cdiv(a, ba))
        kern.analysis_2d_kernel[grid](
            x, t1, t2, pos, out, rows, n1, n2, a, u, n_modes,
            ACC=acc, BLOCK_N1=_RED, BLOCK_N2=_RED, BLOCK_A=ba, BLOCK_U=bu, num_warps=_warps(ba * bu),
        )  # fmt: skip
    return out


def synthesis(
    kern: ModuleType,
    spec: Tensor,
    t1: Tensor,
    t2: Tensor,
    pos: Tensor,
    bias: Tensor | None,
    out_channels: int,
    n1: int,
    n2: int,
    out_dtype: torch.dtype,
) -> Tensor:
    """Spectrum (2, K, R) -> y (R, N1, N2) with ``bias[r % O]`` added (twin: ``reference.synthesis``)."""
    _, n_modes, rows = spec.shape
    a, u = pos.shape
    if u == 0 or rows == 0:
        y = torch.zeros((rows, n1, n2), dtype=out_dtype, device=spec.device)
        if bias is not None and rows:
            y += bias.to(out_dtype).repeat(rows // out_channels)[:, None, None]
        return y
    y = torch.empty((rows, n1, n2), dtype=out_dtype, device=spec.device)
    spec = spec.contiguous()
    has_bias = bias is not None
    bias_arg = bias.contiguous() if has_bias else spec
    acc = _tl_dtype(kern, spec.dtype)
    if n1 == 1 and a == 1 and t1.shape[2] == 1:
        br, bn = _block(rows, hi=32), _block(n2)
        grid = (_cdiv(rows, br), _cdiv(n2, bn))
        kern.synthesis_1d_kernel[grid](
            spec, t2, pos, bias_arg, y, rows, n2, u, n_modes, out_channels,
            HAS_BIAS=has_bias, ACC=acc, BLOCK_R=br, BLOCK_N=bn, BLOCK_U=_RED, num_warps=_warps(br * bn),
        )  # fmt: skip
    else:
        one_u = u <= ONE_U_TILE_MAX
        # one U tile: the reduction over u is the whole (padded) U, the price of keeping Z on chip
        bu = _pow2(max(u, 16)) if one_u else _RED
        b2 = _block(n2)
        grid = (rows, _cdiv(n1, _RED))
        kern.synthesis_2d_kernel[grid](
            spec, t1, t2, pos, bias_arg, y, rows, n1, n2, a, u, n_modes, out_channels,
            HAS_BIAS=has_bias, ONE_U_TILE=one_u, ACC=acc,
            BLOCK_N1=_RED, BLOCK_N2=b2, BLOCK_A=_RED, BLOCK_U=bu, num_warps=8 if bu >= 64 else 4,
        )  # fmt: skip
    return y


def mix(kern: ModuleType, spec: Tensor, w: Tensor, ck: Tensor, adjoint: bool) -> Tensor:
    """Per-mode mixing of planes (2, K, B, I) -> (2, K, B, J) (twins: ``reference.mix_dense/mix_diagonal``).

    ``w`` is the weight as real pairs: (K, C, O, 2) dense or (K, C, 2) diagonal;
    ``adjoint`` applies ``W^H`` (conjugate transpose) instead of ``W``.
    """
    _, k, b, i = spec.shape
    spec = spec.contiguous()
    w = w.contiguous()
    if w.ndim == 3:  # diagonal
        out = torch.empty_like(spec)
        if out.numel():
            block = _block(b * i, lo=64, hi=1024)
            kern.mix_diagonal_kernel[(k, _cdiv(b * i, block))](spec, w, ck, out, k, b, i, CONJ=adjoint, BLOCK=block)
        return out
    c, o = w.shape[1], w.shape[2]
    if adjoint:  # in = O, out = C, W^H[o, c] = conj W[c, o]
        j, swi, swj = c, 2, 2 * o
    else:
        j, swi, swj = o, 2 * o, 2
    out = torch.empty((2, k, b, j), dtype=spec.dtype, device=spec.device)
    if out.numel() == 0:
        return out
    bb, bj = _block(b, hi=32), _block(j)
    grid = (k, _cdiv(b, bb), _cdiv(j, bj))
    kern.mix_dense_kernel[grid](
        spec, w, ck, out, k, b, i, j, 2 * c * o, swi, swj,
        CONJ=adjoint, ACC=_tl_dtype(kern, spec.dtype), BLOCK_B=bb, BLOCK_I=_RED, BLOCK_J=bj,
        num_warps=_warps(bb * bj),
    )  # fmt: skip
    return out


def weight_grad(kern: ModuleType, x_spec: Tensor, g_spec: Tensor, ck: Tensor, diagonal: bool) -> Tensor:
    """``ck X^H G`` per mode -> (K, C, O, 2), or its diagonal (K, C, 2) (twins: ``reference.weight_grad_*``)."""
    _, k, b, c = x_spec.shape
    o = g_spec.shape[3]
    x_spec, g_spec = x_spec.contiguous(), g_spec.contiguous()
    acc = _tl_dtype(kern, x_spec.dtype)
    if diagonal:
        gw = torch.empty((k, c, 2), dtype=x_spec.dtype, device=x_spec.device)
        if gw.numel() == 0:
            return gw
        if b == 0:
            return gw.zero_()
        bc = _block(c, lo=16, hi=256)
        kern.weight_grad_diagonal_kernel[(k, _cdiv(c, bc))](x_spec, g_spec, ck, gw, k, b, c, ACC=acc, BLOCK_C=bc)
        return gw
    gw = torch.empty((k, c, o, 2), dtype=x_spec.dtype, device=x_spec.device)
    if gw.numel() == 0:
        return gw
    if b == 0:
        return gw.zero_()
    bc, bo = _block(c), _block(o, hi=32)
    kern.weight_grad_dense_kernel[(k, _cdiv(c, bc), _cdiv(o, bo))](
        x_spec, g_spec, ck, gw, k, b, c, o,
        ACC=acc, BLOCK_B=_RED, BLOCK_C=bc, BLOCK_O=bo, num_warps=_warps(bc * bo),
    )  # fmt: skip
    return gw
