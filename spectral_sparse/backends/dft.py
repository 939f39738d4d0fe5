"""The separable partial-DFT backend: only the needed frequencies, as real GEMMs.

Analysis runs axis by axis from the last one. Along the last axis the real
input is multiplied by ``[cos | -sin]`` at the distinct last-axis frequencies
``U`` (one GEMM that reads ``x`` once). Along every earlier axis ``i`` the
complex partial spectrum (real and imaginary planes side by side) is
contracted with ``[cos; -sin]`` at that axis' distinct frequencies ``A_i``,
and the suffixes ``(k_i, ..., k_last)`` that some mode uses are gathered.
Synthesis evaluates ``sum_k c_k Re(ŷ(k) exp(2πi k·n/N'))`` literally, in the
reverse order, so aliasing at the output grid's Nyquist is exact by
construction. Work is ``O(|N| |U|)`` for the first and last pass and grows
with the number of modes elsewhere, instead of ``O(|N| log |N|)``.

Matrices and index plans are cached per (mode set, grids, device, dtype).
Backward is autograd through matrix products (the exact adjoint); the input is
not saved, only the small partial spectra.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from . import ConvCall, dtype_reasons, register
from ._plan import LRUCache, phase_matrix, synthesis_factor

__all__ = ["DFTBackend", "clear_cache"]

_MAX_MATRIX_BYTES = 1 << 30


@dataclass
class _Stage:
    """One earlier axis: its analysis/synthesis matrices and the suffix gather index."""

    analysis: Tensor  # (2A, N_i): [cos; -sin] * nyquist / N_i
    synthesis: Tensor  # (N'_i, 2A): [cos | sin]
    gather: Tensor  # (P_i,) flat index into (A, P_{i+1})
    n_freq: int  # A
    n_parent: int  # P_{i+1}


@dataclass
class _Plan:
    last_analysis: Tensor  # (N_last, 2U)
    last_synthesis: Tensor  # (2U, N'_last)
    stages: list[_Stage]  # for axes d-2 .. 0 (analysis order)
    c_k: Tensor  # (K,) synthesis weights c_k (1 for k = 0, else 2)


_CACHE = LRUCache(maxsize=64)


def clear_cache() -> None:
    """Drop every cached DFT plan."""
    _CACHE.clear()


def _unique_rows(rows: Tensor) -> tuple[Tensor, Tensor]:
    uniq, inverse = torch.unique(rows, dim=0, return_inverse=True)
    return uniq, inverse


def _build_plan(call: ConvCall) -> _Plan:
    idx = call.modes.indices  # CPU (K, d)
    d = idx.shape[1]
    dtype, device = call.dtype, call.device
    n_in, n_out = call.in_grid, call.out_grid

    def axis_matrices(freqs: Tensor, axis: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        cin, sin_ = phase_matrix(freqs, n_in[axis], dtype, device)
        half = torch.full(freqs.shape, 0.5, dtype=torch.float64)
        scale = torch.where(2 * freqs.abs() == n_in[axis], half, 2 * half) / n_in[axis]
        scale = scale.to(device, dtype)
        cout, sout = phase_matrix(freqs, n_out[axis], dtype, device)
        return cin * scale, sin_ * scale, cout, sout

    if d == 1:  # the modes themselves, in mode order
        last_freqs, last_inv = idx[:, 0], torch.arange(idx.shape[0])
    else:  # distinct last-axis values; last_inv maps each mode to its value
        last_freqs, last_inv = torch.unique(idx[:, -1], return_inverse=True)
    ca, sa, cs, ss = axis_matrices(last_freqs, d - 1)
    last_analysis = torch.cat([ca, -sa], dim=1).contiguous()
    last_synthesis = torch.cat([cs, -ss], dim=1).t().contiguous()

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
            gather = a_inv * n_parent + suffix_parent
            ca, sa, cs, ss = axis_matrices(freqs_i, i)
            stages.append(
                _Stage(
                    analysis=torch.cat([ca, -sa], dim=1).t().contiguous(),
                    synthesis=torch.cat([cs, ss], dim=1).contiguous(),
                    gather=gather.to(device),
                    n_freq=int(freqs_i.numel()),
                    n_parent=n_parent,
                )
            )
            parent_index = level_index
            n_parent = int(rows_i.shape[0])
    c_k = (2 * synthesis_factor(idx, dtype)).to(device)
    return _Plan(last_analysis, last_synthesis, stages, c_k)


def _plan_for(call: ConvCall) -> _Plan:
    key = (call.modes.key, call.in_grid, call.out_grid, str(call.device), call.dtype)
    return _CACHE.get(key, lambda: _build_plan(call))


def _analysis(x: Tensor, plan: _Plan, grid: tuple[int, ...]) -> tuple[Tensor, Tensor]:
    """Real (B, C, *grid) -> real and imaginary planes (B*C, K) at the modes."""
    bc = x.shape[0] * x.shape[1]
    t = x.reshape(-1, grid[-1]) @ plan.last_analysis  # (bc*N_0..N_{d-2}, 2U)
    for stage, n_i in zip(plan.stages, reversed(grid[:-1])):
        p = t.shape[-1] // 2
        t = t.reshape(-1, n_i, 2 * p)
        r = torch.matmul(stage.analysis, t)  # (batch, 2A, 2P)
        a = stage.n_freq
        re = (r[:, :a, :p] - r[:, a:, p:]).reshape(r.shape[0], a * p)[:, stage.gather]
        im = (r[:, :a, p:] + r[:, a:, :p]).reshape(r.shape[0], a * p)[:, stage.gather]
        t = torch.cat([re, im], dim=1)
    k = t.shape[-1] // 2
    t = t.reshape(bc, 2 * k)
    return t[:, :k], t[:, k:]


def _synthesis(re: Tensor, im: Tensor, plan: _Plan, grid: tuple[int, ...]) -> Tensor:
    """Real and imaginary planes (B*O, K) -> real (B*O, prod(grid))."""
    for stage in reversed(plan.stages):
        rows = re.shape[0]
        a, p = stage.n_freq, stage.n_parent
        zr = re.new_zeros(rows, a * p).index_copy(1, stage.gather, re).reshape(rows, a, p)
        zi = im.new_zeros(rows, a * p).index_copy(1, stage.gather, im).reshape(rows, a, p)
        stacked = torch.cat([torch.cat([zr, zi], dim=2), torch.cat([-zi, zr], dim=2)], dim=1)
        t = torch.matmul(stage.synthesis, stacked)  # (rows, N'_i, 2P)
        t = t.reshape(-1, 2 * p)
        re, im = t[:, :p], t[:, p:]
    y = torch.cat([re, im], dim=1) @ plan.last_synthesis
    return y


def _mix(re: Tensor, im: Tensor, weight: Tensor, c_k: Tensor, batch: int) -> tuple[Tensor, Tensor]:
    """(B*C, K) planes -> (B*O, K) planes, with the synthesis weights c_k folded in."""
    k = c_k.shape[0]
    wr, wi = weight.real, weight.imag
    if weight.ndim == 2:  # diagonal: (K, C)
        wr, wi = (wr * c_k[:, None]).t(), (wi * c_k[:, None]).t()  # (C, K)
        re3, im3 = re.reshape(batch, -1, k), im.reshape(batch, -1, k)
        out_re = re3 * wr - im3 * wi
        out_im = re3 * wi + im3 * wr
        return out_re.reshape(-1, k), out_im.reshape(-1, k)
    wr, wi = wr * c_k[:, None, None], wi * c_k[:, None, None]  # (K, C, O)
    stacked_w = torch.cat([torch.cat([wr, wi], dim=2), torch.cat([-wi, wr], dim=2)], dim=1)  # (K, 2C, 2O)
    c = wr.shape[1]
    xin = torch.cat([re.reshape(batch, c, k), im.reshape(batch, c, k)], dim=1)  # (B, 2C, K)
    out = torch.bmm(xin.permute(2, 0, 1), stacked_w)  # (K, B, 2O)
    o = wr.shape[2]
    out = out.permute(1, 2, 0)  # (B, 2O, K)
    return out[:, :o].reshape(-1, k), out[:, o:].reshape(-1, k)


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
        idx = call.modes.indices
        n_last_in, n_last_out = call.in_grid[-1], call.out_grid[-1]
        u = int(torch.unique(idx[:, -1]).numel())
        rows_in = call.batch * call.in_channels * math.prod(call.in_grid[:-1])
        rows_out = call.batch * call.out_channels * math.prod(call.out_grid[:-1])
        flops = 2 * 2 * u * (rows_in * n_last_in + rows_out * n_last_out)
        if idx.shape[1] > 1:  # earlier axes: roughly the bounding box of the frequencies
            a = int(torch.unique(idx[:, 0]).numel())
            flops += (
                8 * a * u * call.batch * (call.in_channels * call.in_grid[0] + call.out_channels * call.out_grid[0])
            )
        flops += 8 * len(call.modes) * call.batch * call.in_channels * call.out_channels
        return flops / 2.5e10 + 2e-4

    def run(self, call: ConvCall) -> Tensor:
        plan = _plan_for(call)
        batch = call.batch
        re, im = _analysis(call.x, plan, call.in_grid)
        weight = call.weight
        re, im = _mix(re, im, weight, plan.c_k, batch)
        y = _synthesis(re, im, plan, call.out_grid)
        y = y.reshape(batch, call.out_channels, *call.out_grid)
        if call.bias is not None:
            y = y + call.bias.reshape(1, -1, *([1] * len(call.out_grid)))
        return y


def _matrix_bytes(call: ConvCall) -> int:
    idx = call.modes.indices
    total = 0
    for axis in range(idx.shape[1]):
        f = int(torch.unique(idx[:, axis]).numel())
        total += 2 * f * (call.in_grid[axis] + call.out_grid[axis])
    return total * call.x.element_size()


register(DFTBackend())
