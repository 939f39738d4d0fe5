"""The reference backend: full FFT, gather, mix, scatter, inverse FFT.

This is the specification in code. It is simple rather than fast: the
analysis is ``rfftn`` (norm "forward"), the modes are gathered from their
bins, mixed, and scattered into a zero spectrum of the output grid whose
``k_last = 0`` and ``k_last = N'/2`` planes are filled Hermitian-symmetrically,
so that ``irfftn`` evaluates exactly
``y(n) = b + sum_k c_k Re(ŷ(k) exp(2πi k·n/N'))``.
Backward is autograd through these differentiable ops.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from . import ConvCall, dtype_reasons, register
from ._plan import mix, nyquist_scale, synthesis_factor

__all__ = ["FFTBackend"]


def _bin_index(indices: Tensor, grid: tuple[int, ...], negate: bool = False) -> Tensor:
    """Flat index into an rfftn spectrum of ``grid`` for each (canonical) mode."""
    d = len(grid)
    half = [*list(grid[:-1]), grid[-1] // 2 + 1]
    k = -indices if negate else indices
    flat = torch.zeros(indices.shape[0], dtype=torch.long, device=indices.device)
    for i in range(d):
        ki = k[:, i] % grid[i] if i < d - 1 else k[:, i].abs()
        flat = flat * half[i] + ki
    return flat


class FFTBackend:
    """Reference backend (CPU and CUDA, float32 and float64)."""

    name = "fft"

    def not_supported_reasons(self, call: ConvCall) -> list[str]:
        return dtype_reasons(self.name, call)

    def cost(self, call: ConvCall) -> float:
        # FFTs are roughly 5 N log2 N flops per transform, at a modest fraction of GEMM speed
        def fft_flops(grid: tuple[int, ...], channels: int) -> float:
            n = math.prod(grid)
            return 2.5 * n * max(1.0, math.log2(n)) * channels * call.batch

        flops = fft_flops(call.in_grid, call.in_channels) + fft_flops(call.out_grid, call.out_channels)
        bytes_moved = (
            4
            * call.x.element_size()
            * call.batch
            * (call.in_channels * math.prod(call.in_grid) + call.out_channels * math.prod(call.out_grid))
        )
        return flops / 4e9 + bytes_moved / 8e9 + 2e-4

    def run(self, call: ConvCall) -> Tensor:
        x, modes = call.x, call.modes
        d = modes.ndim
        dims = tuple(range(-d, 0))
        idx = modes.indices.to(x.device)
        batch = x.shape[0]

        spec = torch.fft.rfftn(x, dim=dims, norm="forward")
        xk = spec.flatten(2)[:, :, _bin_index(idx, call.in_grid)]  # (B, C, K)
        xk = xk * nyquist_scale(idx, call.in_grid, x.dtype)

        yk = mix(xk, call.weight)  # (B, O, K)
        yk = yk * synthesis_factor(idx, x.dtype)  # c_k / 2: 1/2 for k = 0, else 1

        out_grid = call.out_grid
        half = [*list(out_grid[:-1]), out_grid[-1] // 2 + 1]
        z = yk.new_zeros(batch, call.out_channels, math.prod(half))
        z = z.index_add(2, _bin_index(idx, out_grid), yk)
        # off the k_last = 0 and Nyquist planes irfftn supplies the mirror -k itself
        # (giving 2 Re); on those planes it does not, so -k is written explicitly
        last = idx[:, -1]
        on_plane = (last == 0) | (2 * last == out_grid[-1])
        z = z.index_add(2, _bin_index(idx[on_plane], out_grid, negate=True), yk[:, :, on_plane].conj())
        y = torch.fft.irfftn(z.reshape(batch, call.out_channels, *half), s=out_grid, dim=dims, norm="forward")
        if call.bias is not None:
            y = y + call.bias.reshape(1, -1, *([1] * d))
        return y


register(FFTBackend())
