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
from ._common import mix, nyquist_scale, synthesis_factor

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
        """Estimated seconds: rfftn and irfftn, the gather and scatter of the modes, the mixing.

        CPU constants were fitted to ``python -m benchmarks --suite auto`` at 1 and 2 threads on
        an AMD EPYC (AVX-512) with PyTorch 2.14 (MKL's FFT): the transforms run on every thread
        (divided by the thread count); the mixing (an einsum that copies per mode), gathers and
        scatters do not. CUDA constants are rough throughputs of a current GPU (cuFFT), not
        calibrated here.
        """
        k, b, c, o = len(call.modes), call.batch, call.in_channels, call.out_channels
        n_in, n_out = math.prod(call.in_grid), math.prod(call.out_grid)
        fft_in = b * c * n_in * math.log2(max(2, n_in))
        fft_out = b * o * n_out * math.log2(max(2, n_out))
        mix = k * b * c * (1 if call.diagonal else o)  # complex multiply-adds
        moves = k * b * (c + o)  # complex coefficients gathered and scattered
        size = call.x.element_size()
        half_in = 2 * size * b * c * (n_in // call.in_grid[-1]) * (call.in_grid[-1] // 2 + 1)  # bytes
        half_out = 2 * size * b * o * (n_out // call.out_grid[-1]) * (call.out_grid[-1] // 2 + 1)
        if call.device.type == "cuda":
            nbytes = size * (b * c * n_in + b * o * n_out) + 2 * (half_in + half_out)
            return 2e-4 + (5 * (fft_in + fft_out) + 8 * mix) / 2e13 + nbytes / 1.5e12
        rows = b * c * n_in // call.in_grid[-1] + b * o * n_out // call.out_grid[-1]  # 1-D transforms
        # glibc serves buffers of 32 MiB and more with fresh pages (page faults) on every call
        fresh = sum(nb for nb in (half_in, half_out, size * b * o * n_out) if nb >= 32 << 20)
        parallel = 7.9e-11 * fft_in + 3.5e-10 * fft_out + 5.4e-8 * rows + 1.55e-9 * fresh
        # einsum's batched product copies each mode's (B, C) slice when B > 1: ~2 us per mode
        serial = 2.15e-10 * mix + 5.8e-9 * moves + 3.0e-7 * k + 2.0e-6 * k * (b > 1)
        return 4.0e-4 + serial + parallel / max(1, torch.get_num_threads())

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
