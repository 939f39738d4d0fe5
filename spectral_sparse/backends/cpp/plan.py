"""Index plans and trigonometric tables of the ``cpp`` backend (torch only).

A plan holds, for one mode set and two grids, everything the kernels need
besides the data:

* the level structure of the separable transform (as in the ``dft`` backend):
  the distinct last-axis frequencies ``U``; then per earlier axis, in analysis
  order, the distinct suffixes ``(k_i, ..., k_last)`` that some mode uses, each
  with the index of its parent one level down and of its frequency ``k_i``;
  the last level is the modes, in mode order;
* per grid, cos/sin tables of integer-reduced phases ``(f n mod N)`` in both
  layouts the kernels read, zero padded to the vector width. The input grid's
  tables carry the analysis scale (the even-split Nyquist factor and ``1/N``
  per axis); the output grid's are unscaled. A frequency that either grid does
  not resolve on an axis (``2|f| > min(N, N')``) gets zero rows, so modes the
  grids do not resolve contribute nothing: the op can take an unrestricted mode
  set (no data-dependent shapes under ``torch.compile``).

With ``with_zero`` a virtual mode ``k = 0`` is appended when the set lacks one:
its analysis of the output gradient is the bias gradient.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._common import LRUCache, phase_matrix, synthesis_factor

__all__ = ["CppPlan", "GridTables", "clear_cache", "get_plan"]


@dataclass(frozen=True, eq=False)
class GridTables:
    """cos/sin tables of one grid. Shapes: ``last_bcast_*`` (L, U), ``last_rows_*`` (U, Lp), ``stage_*`` (F, Np)."""

    grid: tuple[int, ...]
    last_bcast_cos: Tensor
    last_bcast_sin: Tensor
    last_rows_cos: Tensor
    last_rows_sin: Tensor
    stage_cos: tuple[Tensor, ...]
    stage_sin: tuple[Tensor, ...]


@dataclass(frozen=True, eq=False)
class CppPlan:
    """Level structure and tables for (modes, input grid, output grid, dtype)."""

    n_modes: int  # K, the real modes (the plan may hold a virtual k = 0 after them)
    n_entries: int  # modes in the plan, K or K + 1
    zero: int | None  # position of k = 0 (a mode or the virtual one), or None
    n_last: int  # U
    stage_out: tuple[int, ...]
    stage_parent: tuple[Tensor, ...]  # int64
    stage_freq: tuple[Tensor, ...]  # int64
    ck: Tensor  # (K,) synthesis weights c_k (1 for k = 0, else 2), real, in the plan's dtype
    inp: GridTables  # input grid, scaled (forward analysis; adjoint synthesis)
    out: GridTables  # output grid, unscaled (forward synthesis; adjoint analysis)


_CACHE = LRUCache(maxsize=64)


def clear_cache() -> None:
    """Drop every cached plan."""
    _CACHE.clear()


def _round_up(a: int, b: int) -> int:
    return (a + b - 1) // b * b


def _axis(freqs: Tensor, n: int, limit: int, scaled: bool) -> tuple[Tensor, Tensor]:
    """(n, F) float64 cos and sin of ``2π f m / n``, scaled and masked."""
    c, s = phase_matrix(freqs, n, torch.float64, torch.device("cpu"))
    factor = torch.ones(freqs.shape, dtype=torch.float64)
    if scaled:
        factor = torch.where(2 * freqs.abs() == n, 0.5, 1.0).to(torch.float64) / n
    factor = torch.where(2 * freqs.abs() > limit, 0.0, factor)
    return c * factor, s * factor


def _pad_rows(t: Tensor, width: int) -> Tensor:
    """(F, n) -> (F, width) with zeros."""
    out = t.new_zeros(t.shape[0], width)
    out[:, : t.shape[1]] = t
    return out


def _tables(
    last: Tensor,
    stage_freqs: list[Tensor],
    grid: tuple[int, ...],
    limit: tuple[int, ...],
    scaled: bool,
    dtype: torch.dtype,
    vl: int,
) -> GridTables:
    d = len(grid)
    n = grid[-1]
    length = n // 2 + 1
    c, s = _axis(last, n, limit[-1], scaled)
    c, s = c[:length].clone(), s[:length].clone()
    s[0] = 0.0  # exact zeros where the fold takes no odd part
    if n % 2 == 0:
        s[n // 2] = 0.0
    rows_c = _pad_rows(c.t(), _round_up(length, vl))
    rows_s = _pad_rows(s.t(), _round_up(length, vl))
    stage_c, stage_s = [], []
    for freqs, axis in zip(stage_freqs, range(d - 2, -1, -1)):
        ca, sa = _axis(freqs, grid[axis], limit[axis], scaled)
        width = _round_up(grid[axis], vl)
        stage_c.append(_pad_rows(ca.t(), width).to(dtype).contiguous())
        stage_s.append(_pad_rows(sa.t(), width).to(dtype).contiguous())
    return GridTables(
        grid=tuple(grid),
        last_bcast_cos=c.to(dtype).contiguous(),
        last_bcast_sin=s.to(dtype).contiguous(),
        last_rows_cos=rows_c.to(dtype).contiguous(),
        last_rows_sin=rows_s.to(dtype).contiguous(),
        stage_cos=tuple(stage_c),
        stage_sin=tuple(stage_s),
    )


def _build(
    indices: Tensor,
    in_grid: tuple[int, ...],
    out_grid: tuple[int, ...],
    dtype: torch.dtype,
    with_zero: bool,
    vector_bytes: int,
) -> CppPlan:
    n_modes, d = indices.shape
    idx = indices
    zero_rows = torch.nonzero((idx == 0).all(1)).flatten()
    zero: int | None = int(zero_rows[0]) if zero_rows.numel() else None
    if zero is None and with_zero:
        idx = torch.cat([idx, idx.new_zeros(1, d)])
        zero = n_modes
    vl = max(1, vector_bytes // (8 if dtype == torch.float64 else 4))
    stage_out: list[int] = []
    parents: list[Tensor] = []
    freqs_idx: list[Tensor] = []
    stage_freqs: list[Tensor] = []
    if d == 1:
        last = idx[:, 0]
    else:
        last, parent_index = torch.unique(idx[:, -1], return_inverse=True)
        for i in range(d - 2, -1, -1):
            if i == 0:
                rows_i, level_index, parent = idx, torch.arange(idx.shape[0]), parent_index
            else:
                rows_i, level_index = torch.unique(
                    torch.stack([idx[:, i], parent_index], dim=1), dim=0, return_inverse=True
                )
                parent = rows_i[:, 1]
            values, f_inv = torch.unique(rows_i[:, 0], return_inverse=True)
            stage_out.append(int(rows_i.shape[0]))
            parents.append(parent.to(torch.int64).contiguous())
            freqs_idx.append(f_inv.to(torch.int64).contiguous())
            stage_freqs.append(values)
            parent_index = level_index
    limit = tuple(min(a, b) for a, b in zip(in_grid, out_grid))
    return CppPlan(
        n_modes=n_modes,
        n_entries=int(idx.shape[0]),
        zero=zero,
        n_last=int(last.numel()),
        stage_out=tuple(stage_out),
        stage_parent=tuple(parents),
        stage_freq=tuple(freqs_idx),
        ck=(2 * synthesis_factor(indices, torch.float64)).to(dtype),
        inp=_tables(last, stage_freqs, in_grid, limit, True, dtype, vl),
        out=_tables(last, stage_freqs, out_grid, limit, False, dtype, vl),
    )


def get_plan(
    indices: Tensor,
    in_grid: tuple[int, ...],
    out_grid: tuple[int, ...],
    dtype: torch.dtype,
    with_zero: bool,
    vector_bytes: int,
) -> CppPlan:
    """The (cached) plan for a mode set (``(K, d)`` canonical indices), two grids and a dtype."""
    idx = indices.detach().to(device="cpu", dtype=torch.long).contiguous()
    key = (idx.numpy().tobytes(), tuple(idx.shape), tuple(in_grid), tuple(out_grid), dtype, with_zero, vector_bytes)
    return _CACHE.get(key, lambda: _build(idx, tuple(in_grid), tuple(out_grid), dtype, with_zero, vector_bytes))
