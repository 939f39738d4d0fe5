"""The separable partial-DFT backend: only the needed frequencies, as matrix products.

Analysis runs axis by axis from the last one. Along the last axis the real
input is multiplied by the interleaved ``[cos, -sin]`` columns of the distinct
last-axis frequencies ``U`` (one real GEMM that reads ``x`` once); its output,
viewed as complex, is the partial spectrum. Along every earlier axis ``i`` the
complex partial spectrum is contracted with ``exp(-2πi f n / N_i)`` at that
axis' distinct frequencies ``A_i`` (one complex product), and the suffixes
``(k_i, ..., k_last)`` that some mode uses are gathered. Mixing is one batched
complex product over the modes. Synthesis evaluates
``sum_k c_k Re(ŷ(k) exp(2πi k·n/N'))`` literally, in the reverse order, so
aliasing at the output grid's Nyquist is exact by construction. The bias is
added to the ``k = 0`` coefficient (a constant field is that mode), so the
output is written once, by the last product.
Work is ``O(|N| |U|)`` for the first and last pass and grows with the number
of modes elsewhere, instead of ``O(|N| log |N|)``.

The two large real products (first and last pass) go through oneDNN on CPU
float32 when PyTorch has it (about 2.5x faster than MKL's sgemm on the last
pass and 10-30% on the first, on an AVX-512 CPU), with an explicit adjoint;
every other path is plain PyTorch under autograd. Matrices and index plans are cached
per (mode set, grids, device, dtype). Backward is the exact adjoint; the input
is not saved, only the small partial spectra.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from . import ConvCall, complex_dtype, dtype_reasons, register
from ._common import LRUCache, mode_shape, phase_matrix, synthesis_factor

__all__ = ["DFTBackend", "clear_cache"]

_MAX_MATRIX_BYTES = 1 << 30


@dataclass
class _Stage:
    """One earlier axis: its complex analysis/synthesis matrices and the suffix gather index."""

    analysis: Tensor  # (N_i, A) complex: exp(-2πi f n / N_i) * nyquist / N_i
    synthesis: Tensor  # (A, N'_i) complex: exp(+2πi f n / N'_i)
    parent: Tensor  # (P_i,) the suffix one level deeper of each level-i suffix (index into P_{i+1})
    freq: Tensor  # (P_i,) the index of its k_i among the A frequencies
    flat: Tensor  # (P_i,) parent * A + freq: flat index into (P_{i+1}, A)
    n_freq: int  # A
    n_parent: int  # P_{i+1}


@dataclass
class _Plan:
    """Everything but the data. The plan may hold one extra, virtual mode ``k = 0`` (last)."""

    last_analysis: tuple[Tensor, Tensor]  # ((2U, N_last), its transpose): rows cos_u, -sin_u interleaved
    last_synthesis: tuple[Tensor, Tensor]  # ((N'_last, 2U), its transpose): columns cos_u, -sin_u interleaved
    stages: list[_Stage]  # for axes d-2 .. 0 (analysis order)
    c_k: Tensor  # (K, 1, 1) complex synthesis weights c_k (1 for k = 0, else 2), real modes only
    n_modes: int  # K, the real modes
    zero: Tensor | None  # (1,) position of k = 0 (== K when virtual), or None when absent


def _pair(w_t: Tensor) -> tuple[Tensor, Tensor]:
    return w_t.contiguous(), w_t.t().contiguous()


def _interleave(c: Tensor, s: Tensor) -> Tensor:
    """(n, F) and (n, F) -> (n, 2F) with columns c_0, s_0, c_1, s_1, ..."""
    return torch.stack([c, s], dim=2).reshape(c.shape[0], -1)


_CACHE = LRUCache(maxsize=64)

# oneDNN's matmul (the op inductor uses for CPU linear layers) beats MKL's sgemm on this backend's
# tall, skinny products on AVX-512 CPUs (about 2.5x on the last pass); feature-detected, float32 only
_DNN_LINEAR = getattr(getattr(torch.ops, "mkldnn", None), "_linear_pointwise", None)
# below this many output columns MKL's "A @ B^T" kernel streams A faster than oneDNN
_DNN_MIN_COLUMNS = 9


def _use_dnn(a: Tensor) -> bool:
    # under torch.compile the plain product is traced instead (inductor lowers this op only
    # for weights it has frozen as graph constants)
    return (
        _DNN_LINEAR is not None
        and not torch.compiler.is_compiling()
        and a.device.type == "cpu"
        and a.dtype == torch.float32
        and torch.backends.mkldnn.is_available()
        and torch.backends.mkldnn.enabled
    )


def _linear_fast(a: Tensor, w_t: Tensor) -> Tensor:
    """``a @ w_t.T`` for a 2-D ``a`` (M, K) and constant ``w_t`` (n, K); no autograd."""
    if w_t.shape[0] >= _DNN_MIN_COLUMNS:
        return _DNN_LINEAR(a.contiguous(), w_t, None, "none", [], "")
    return torch.nn.functional.linear(a, w_t)


class _ConstLinear(torch.autograd.Function):
    """``a @ w_t.T`` with a constant matrix, through the fast CPU kernels; the adjoint is ``g @ w``."""

    @staticmethod
    def forward(a: Tensor, w_t: Tensor, w: Tensor) -> Tensor:  # type: ignore[override]
        return _linear_fast(a, w_t)

    @staticmethod
    def setup_context(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
        _, ctx.w_t, ctx.w = inputs

    @staticmethod
    def backward(ctx, grad: Tensor) -> tuple[Tensor, None, None]:  # type: ignore[override]
        return _ConstLinear.apply(grad, ctx.w, ctx.w_t), None, None


def _linear(a: Tensor, w_t: Tensor, w: Tensor) -> Tensor:
    """``a @ w_t.T`` where ``w = w_t.T`` (both contiguous, constant)."""
    if _use_dnn(a):
        return _ConstLinear.apply(a, w_t, w)
    return torch.nn.functional.linear(a, w_t)


def clear_cache() -> None:
    """Drop every cached DFT plan."""
    _CACHE.clear()


def _unique_rows(rows: Tensor) -> tuple[Tensor, Tensor]:
    uniq, inverse = torch.unique(rows, dim=0, return_inverse=True)
    return uniq, inverse


def _build_plan(call: ConvCall) -> _Plan:
    idx = call.modes.indices  # CPU (K, d)
    n_modes, d = idx.shape
    is_zero = torch.nonzero((idx == 0).all(1)).flatten()
    zero: Tensor | None = None
    if is_zero.numel():
        zero = is_zero[:1]
    elif call.bias is not None:  # a virtual k = 0 to carry the bias
        idx = torch.cat([idx, idx.new_zeros(1, d)])
        zero = torch.tensor([n_modes])
    dtype, device = call.dtype, call.device
    cdtype = complex_dtype(dtype)
    n_in, n_out = call.in_grid, call.out_grid

    def axis_matrices(freqs: Tensor, axis: int, dt: torch.dtype) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        cin, sin_ = phase_matrix(freqs, n_in[axis], torch.float64, torch.device("cpu"))
        half = torch.full(freqs.shape, 0.5, dtype=torch.float64)
        scale = torch.where(2 * freqs.abs() == n_in[axis], half, 2 * half) / n_in[axis]
        cout, sout = phase_matrix(freqs, n_out[axis], torch.float64, torch.device("cpu"))
        return tuple(m.to(device=device, dtype=dt) for m in (cin * scale, sin_ * scale, cout, sout))  # type: ignore[return-value]

    if d == 1:  # the modes themselves, in mode order
        last_freqs, last_inv = idx[:, 0], torch.arange(idx.shape[0])
    else:  # distinct last-axis values; last_inv maps each mode to its value
        last_freqs, last_inv = torch.unique(idx[:, -1], return_inverse=True)
    ca, sa, cs, ss = axis_matrices(last_freqs, d - 1, dtype)
    last_analysis = _pair(_interleave(ca, -sa).t())
    synthesis_t = _interleave(cs, -ss)  # (N'_last, 2U)
    last_synthesis = _pair(synthesis_t)

    stages: list[_Stage] = []
    if d > 1:
        # level i holds the distinct suffixes (k_i, ..., k_last) that some mode uses;
        # each is (its k_i, the index of its suffix one level deeper)
        parent_index = last_inv  # per mode: index into level i+1
        n_parent = int(last_freqs.numel())
        for i in range(d - 2, -1, -1):
            if i == 0:
                rows_i = idx
                suffix_parent = parent_index
                level_index = torch.arange(idx.shape[0])
            else:
                suf, inv = _unique_rows(torch.cat([idx[:, i : i + 1], parent_index[:, None]], dim=1))
                rows_i, level_index = suf, inv
                suffix_parent = suf[:, 1]
            freqs_i, a_inv = torch.unique(rows_i[:, 0], return_inverse=True)
            n_freq = int(freqs_i.numel())
            ca, sa, cs, ss = axis_matrices(freqs_i, i, torch.float64)
            stages.append(
                _Stage(
                    analysis=torch.complex(ca, -sa).contiguous().to(cdtype),
                    synthesis=torch.complex(cs, ss).t().contiguous().to(cdtype),
                    parent=suffix_parent.to(device),
                    freq=a_inv.to(device),
                    flat=(suffix_parent * n_freq + a_inv).to(device),
                    n_freq=n_freq,
                    n_parent=n_parent,
                )
            )
            parent_index = level_index
            n_parent = int(rows_i.shape[0])
    c_k = (2 * synthesis_factor(idx[:n_modes], torch.float64)).to(device=device, dtype=cdtype).reshape(-1, 1, 1)
    return _Plan(last_analysis, last_synthesis, stages, c_k, n_modes, None if zero is None else zero.to(device))


def _plan_for(call: ConvCall) -> _Plan:
    key = (call.modes.key, call.in_grid, call.out_grid, str(call.device), call.dtype, call.bias is not None)
    return _CACHE.get(key, lambda: _build_plan(call))


def _analysis(x: Tensor, plan: _Plan, grid: tuple[int, ...]) -> Tensor:
    """Real (B, C, *grid) -> complex spectrum at the modes, shape (K, B*C).

    After the first pass the partial spectrum is kept frequency-major,
    ``(P, B*C*N_0..N_{i-1}, N_i)``, so every later contraction runs over the
    last axis as one product and every gather picks whole rows.
    """
    t = _linear(x.reshape(-1, grid[-1]), *plan.last_analysis)  # (B*C*N_0..N_{d-2}, 2U), [re, im] interleaved
    t = torch.view_as_complex(t.reshape(t.shape[0], -1, 2)).t()  # (U, rows): a view
    if plan.stages:
        t = t.contiguous()
    for stage, n_i in zip(plan.stages, reversed(grid[:-1])):
        p = t.shape[0]
        r = (t.reshape(-1, n_i) @ stage.analysis).reshape(p, -1, stage.n_freq)  # (P, R, A)
        t = r[stage.parent, :, stage.freq]  # (P_i, R)
    return t[: plan.n_modes]  # without a virtual k = 0


def _synthesis(yk: Tensor, plan: _Plan, bias: Tensor | None, batch: int) -> Tensor:
    """Complex (K, B*O) -> real (B*O*prod(grid[:-1]), grid[-1]), plus the bias."""
    t = yk
    if bias is not None and plan.zero is not None:  # a constant field: add it to the k = 0 coefficient
        row = bias.to(yk.dtype).expand(batch, -1).reshape(1, -1)
        t = torch.cat([t, row]) if int(plan.zero[0]) == plan.n_modes else t.index_add(0, plan.zero, row)
    for stage in reversed(plan.stages):
        z = t.new_zeros(stage.n_parent * stage.n_freq, t.shape[1]).index_copy(0, stage.flat, t)
        z = z.reshape(stage.n_parent, stage.n_freq, -1).transpose(1, 2)  # (P, R, A)
        t = torch.matmul(z, stage.synthesis).reshape(stage.n_parent, -1)  # (P, R * N'_i)
    u, rows = t.shape
    return _linear(torch.view_as_real(t.t().contiguous()).reshape(rows, 2 * u), *plan.last_synthesis)


def _mix(xk: Tensor, weight: Tensor, c_k: Tensor, batch: int) -> Tensor:
    """Complex (K, B*C) -> (K, B*O), with the synthesis weights c_k folded in."""
    k = xk.shape[0]
    xk = xk.reshape(k, batch, -1)
    if weight.ndim == 2:  # diagonal: (K, C)
        return (xk * (weight[:, None, :] * c_k)).reshape(k, -1)
    return torch.bmm(xk, weight * c_k).reshape(k, -1)


def _cost_terms(call: ConvCall) -> tuple[float, ...]:
    """Work of one call, in the units of :data:`_CPU_COST` (counts, not seconds)."""
    shape = mode_shape(call.modes)
    k, b, c, o = len(call.modes), call.batch, call.in_channels, call.out_channels
    u = k if len(shape.distinct) == 1 else shape.distinct[-1]
    x_elems, y_elems = b * c * math.prod(call.in_grid), b * o * math.prod(call.out_grid)
    rows = b * c * math.prod(call.in_grid[:-1]) + b * o * math.prod(call.out_grid[:-1])
    stage_macs = 0
    for axis, (a, p) in zip(range(len(shape.stages) - 1, -1, -1), shape.stages):
        stage_macs += (
            a * p * (b * c * math.prod(call.in_grid[: axis + 1]) + b * o * math.prod(call.out_grid[: axis + 1]))
        )
    y_bytes = y_elems * call.x.element_size()
    return (
        x_elems + y_elems,  # streamed through the first and last pass
        2 * u * (x_elems + y_elems),  # their real multiply-adds
        stage_macs,  # complex multiply-adds of the middle contractions
        k * b * c * (1 if call.diagonal else o),  # complex multiply-adds of the mixing
        k * b * (c + o) + rows * u,  # complex coefficients gathered, scattered, transposed
        y_bytes if y_bytes >= _FRESH_BYTES else 0,  # output bytes that fault in fresh pages
    )


# CPU: a fixed cost per call (dispatch, plan lookup, ~20 small ops) and seconds per unit of each
# term of _cost_terms; the GEMM-like terms run on every thread (divided by the thread count), the
# gathers and transposes do not. Fitted on an AMD EPYC (AVX-512) with PyTorch 2.14 (MKL, oneDNN) to
# ``python -m benchmarks --suite auto`` at 1 and 2 threads.
_CPU_FIXED = 4.7e-4
_CPU_COST = (2.9e-10, 2.4e-11, 6.7e-11, 1.2e-11, 5.7e-9, 2.3e-10)
_CPU_SERIAL = (False, False, False, False, True, False)
# glibc serves allocations of 32 MiB and more with fresh pages from the OS on every call
_FRESH_BYTES = 32 << 20
# CUDA: launches dominate small calls; rough throughputs of a current GPU (not calibrated here)
_GPU_FIXED = 2.5e-4
_GPU_FLOPS = 2e13
_GPU_BYTES = 1.5e12


class DFTBackend:
    """Separable partial DFT with real matrix products (CPU and CUDA)."""

    name = "dft"

    def not_supported_reasons(self, call: ConvCall) -> list[str]:
        reasons = dtype_reasons(self.name, call)
        nbytes = _matrix_bytes(call)
        if nbytes > _MAX_MATRIX_BYTES:
            reasons.append(f"dft: its DFT matrices would need {nbytes / 2**20:.0f} MiB (limit 1024 MiB)")
        return reasons

    def cost(self, call: ConvCall) -> float:
        """Estimated seconds: the first and last pass over the grid, the middle, the mixing."""
        terms = _cost_terms(call)
        if call.device.type == "cuda":
            elems, macs, stage, mix, moves, _ = terms
            nbytes = call.x.element_size() * (elems + 4 * moves)
            return _GPU_FIXED + (2 * macs + 8 * (stage + mix)) / _GPU_FLOPS + nbytes / _GPU_BYTES
        threads = max(1, torch.get_num_threads())
        work = sum(c * t * (1 if serial else 1 / threads) for c, t, serial in zip(_CPU_COST, terms, _CPU_SERIAL))
        return _CPU_FIXED + work

    def run(self, call: ConvCall) -> Tensor:
        plan = _plan_for(call)
        batch = call.batch
        xk = _analysis(call.x, plan, call.in_grid)
        yk = _mix(xk, call.weight, plan.c_k, batch)
        y = _synthesis(yk, plan, call.bias, batch)
        return y.reshape(batch, call.out_channels, *call.out_grid)


def _matrix_bytes(call: ConvCall) -> int:
    distinct = mode_shape(call.modes).distinct
    total = sum(2 * f * (n_in + n_out) for f, n_in, n_out in zip(distinct, call.in_grid, call.out_grid))
    return total * call.x.element_size()


register(DFTBackend())
