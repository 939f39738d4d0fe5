"""Index plans and trigonometric tables of the ``triton`` backend (torch only).

A plan is built from the full mode set and the two grids; modes that either
grid does not resolve get no box position (their spectrum is zero, so they
contribute nothing and receive a zero weight gradient). This lets the custom
op take the unrestricted mode set, which keeps ``torch.compile`` free of
data-dependent shapes.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from .._common import LRUCache, phase_matrix, synthesis_factor

__all__ = ["TritonPlan", "acc_dtype", "clear_cache", "get_plan"]


@dataclass(frozen=True, eq=False)
class TritonPlan:
    """Everything the kernels need besides the data.

    Attributes
    ----------
    n_modes : int
        K, the length of the (unrestricted) mode set.
    n_resolved : int
        How many of them both grids resolve.
    pos : Tensor, int32, shape (A, U)
        Mode index at box position (a, u), or -1.
    ck : Tensor, shape (K,)
        Synthesis weights c_k (1 for k = 0, else 2).
    in_t1, in_t2 : Tensor, shapes (2, A, N1) and (2, N2, U)
        cos and sin on the input grid, scaled by ``nyquist / N`` per axis
        (forward analysis; adjoint synthesis for the input gradient).
    out_t1, out_t2 : Tensor, shapes (2, A, N1') and (2, N2', U)
        cos and sin on the output grid, unscaled (forward synthesis; adjoint
        analysis of the output gradient).
    """

    n_modes: int
    n_resolved: int
    pos: Tensor
    ck: Tensor
    in_t1: Tensor
    in_t2: Tensor
    out_t1: Tensor
    out_t2: Tensor

    @property
    def box(self) -> tuple[int, int]:
        return int(self.pos.shape[0]), int(self.pos.shape[1])


_CACHE = LRUCache(maxsize=64)


def clear_cache() -> None:
    """Drop every cached plan."""
    _CACHE.clear()


def acc_dtype(dtype: torch.dtype) -> torch.dtype:
    """Accumulation (and table, and spectrum) dtype for an input dtype: float64 stays, the rest use float32."""
    return torch.float64 if dtype == torch.float64 else torch.float32


def _axis_table(freqs: Tensor, n: int, scaled: bool) -> Tensor:
    """(2, n, F) float64: cos and sin of ``2π f m / n``, times ``nyquist(f) / n`` when scaled."""
    c, s = phase_matrix(freqs, n, torch.float64, torch.device("cpu"))
    if scaled:
        half = torch.full(freqs.shape, 0.5, dtype=torch.float64)
        scale = torch.where(2 * freqs.abs() == n, half, 2 * half) / n
        c, s = c * scale, s * scale
    return torch.stack([c, s])


def _grid2(grid: tuple[int, ...]) -> tuple[int, int]:
    """A 1-D or 2-D grid as the kernels' ``(n1, n2)``: 1-D runs as ``(1, N)`` (shared with ops.py)."""
    return (1, grid[0]) if len(grid) == 1 else (grid[0], grid[1])


def _build(
    indices: Tensor, in_grid: tuple[int, ...], out_grid: tuple[int, ...], device: torch.device, dtype: torch.dtype
) -> TritonPlan:
    k, d = indices.shape
    lim = torch.minimum(torch.tensor(in_grid), torch.tensor(out_grid))
    keep = torch.nonzero((2 * indices.abs() <= lim).all(1)).flatten()
    idx = indices[keep]
    if d == 1:
        f1 = torch.zeros(1, dtype=torch.long)
        a_inv = torch.zeros(idx.shape[0], dtype=torch.long)
        f2, u_inv = idx[:, 0], torch.arange(idx.shape[0])
    else:
        f1, a_inv = torch.unique(idx[:, 0], return_inverse=True)
        f2, u_inv = torch.unique(idx[:, 1], return_inverse=True)
    pos = torch.full((f1.numel(), f2.numel()), -1, dtype=torch.int32)
    pos[a_inv, u_inv] = keep.to(torch.int32)

    (n1_in, n2_in), (n1_out, n2_out) = _grid2(in_grid), _grid2(out_grid)

    def tables(n1: int, n2: int, scaled: bool) -> tuple[Tensor, Tensor]:
        if d == 1:
            t1 = torch.tensor([[[1.0]], [[0.0]]], dtype=torch.float64)
        else:
            t1 = _axis_table(f1, n1, scaled).transpose(1, 2)  # (2, A, N1)
        t2 = _axis_table(f2, n2, scaled)  # (2, N2, U)
        return (t1.to(device=device, dtype=dtype).contiguous(), t2.to(device=device, dtype=dtype).contiguous())

    in_t1, in_t2 = tables(n1_in, n2_in, scaled=True)
    out_t1, out_t2 = tables(n1_out, n2_out, scaled=False)
    ck = (2 * synthesis_factor(indices, torch.float64)).to(device=device, dtype=dtype)
    return TritonPlan(
        n_modes=k,
        n_resolved=int(keep.numel()),
        pos=pos.to(device),
        ck=ck,
        in_t1=in_t1,
        in_t2=in_t2,
        out_t1=out_t1,
        out_t2=out_t2,
    )


def get_plan(
    indices: Tensor, in_grid: tuple[int, ...], out_grid: tuple[int, ...], device: torch.device, dtype: torch.dtype
) -> TritonPlan:
    """The (cached) plan for a mode set, two grids, a device and an accumulation dtype.

    Parameters
    ----------
    indices : LongTensor, shape (K, d), canonical modes (any device; read on the CPU)
    in_grid, out_grid : tuple of d ints
    device : torch.device
    dtype : torch.dtype
        float32 or float64 (see :func:`acc_dtype`).
    """
    idx = indices.detach().to(device="cpu", dtype=torch.long).contiguous()
    key = (idx.numpy().tobytes(), tuple(idx.shape), tuple(in_grid), tuple(out_grid), str(device), dtype)
    return _CACHE.get(key, lambda: _build(idx, tuple(in_grid), tuple(out_grid), device, dtype))
