"""Shared test helpers: the section-1 formula evaluated literally, random mode sets, band-limited fields.

Nothing here uses ``torch.fft``: the literal formula is a loop over modes with explicit
exponential sums, so it is an independent check of every backend.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from spectral_sparse import ModeSet


def grid_points(shape: Sequence[int]) -> Tensor:
    """(*shape, d) float64 integer coordinates of a grid."""
    axes = [torch.arange(s, dtype=torch.float64) for s in shape]
    return torch.stack(torch.meshgrid(*axes, indexing="ij"), dim=-1)


def literal_conv(
    x: Tensor,
    weight: Tensor,
    modes: ModeSet,
    bias: Tensor | None = None,
    output_shape: Sequence[int] | None = None,
) -> Tensor:
    """The contract of ``spectral_sparse.functional``, term by term, in float64.

    * analysis: ``x̂_c(k) = s_N(k) / |N| Σ_n x_c(n) exp(-2πi k·n/N)`` with the even-split
      factor ``s_N(k) = Π_i (1/2 if 2|k_i| = N_i else 1)``;
    * mixing: dense ``Σ_c W_k[c, o] x̂_c(k)`` or diagonal ``W_k[c] x̂_c(k)``;
    * synthesis: ``y_o(n) = b_o + Σ_{k ∈ M'} c_k Re(ŷ_o(k) exp(2πi k·n/N'))``,
      ``M'`` = modes with ``2|k_i| <= N_i`` and ``2|k_i| <= N'_i``.

    Differentiable: gradients of the result reach ``x``, ``weight`` and ``bias``.
    """
    x = x.to(torch.float64)
    batch, channels, *grid = x.shape
    grid = tuple(grid)
    out_grid = grid if output_shape is None else tuple(output_shape)
    d = len(grid)
    w = weight.to(torch.complex128)
    diagonal = w.ndim == 2
    out_channels = channels if diagonal else w.shape[-1]
    n_in, n_out = grid_points(grid), grid_points(out_grid)
    xc = x.to(torch.complex128)
    y = torch.zeros(batch, out_channels, *out_grid, dtype=torch.float64)
    for j, k in enumerate(modes.indices.tolist()):
        if not all(2 * abs(ki) <= ni and 2 * abs(ki) <= mi for ki, ni, mi in zip(k, grid, out_grid)):
            continue
        split = math.prod(0.5 if 2 * abs(ki) == ni else 1.0 for ki, ni in zip(k, grid))
        phase_in = sum(k[i] * n_in[..., i] / grid[i] for i in range(d))
        basis_in = torch.exp(-2j * math.pi * phase_in.to(torch.complex128))
        xk = split * (xc * basis_in).flatten(2).sum(-1) / math.prod(grid)  # (B, C)
        yk = xk * w[j][None, :] if diagonal else xk @ w[j]  # (B, O)
        phase_out = sum(k[i] * n_out[..., i] / out_grid[i] for i in range(d))
        basis_out = torch.exp(2j * math.pi * phase_out.to(torch.complex128))
        c_k = 1.0 if all(ki == 0 for ki in k) else 2.0
        y = y + c_k * (yk.reshape(batch, out_channels, *([1] * d)) * basis_out).real
    if bias is not None:
        y = y + bias.to(torch.float64).reshape(1, -1, *([1] * d))
    return y


def random_modes(gen: torch.Generator, ndim: int, count: int, kmax: int | Sequence[int]) -> ModeSet:
    """A scattered mode set: ``count`` distinct modes with ``|k_i| <= kmax_i``, random signs and order."""
    kmax = [kmax] * ndim if isinstance(kmax, int) else list(kmax)
    seen: set[tuple[int, ...]] = set()
    rows: list[list[int]] = []
    for _ in range(50 * count):
        k = [int(torch.randint(-m, m + 1, (1,), generator=gen)) for m in kmax]
        canon = tuple(k)
        nz = [v for v in k if v != 0]
        if nz and nz[-1] < 0:
            canon = tuple(-v for v in k)
        if canon in seen:
            continue
        seen.add(canon)
        rows.append(k)  # deliberately not canonical: from_indices must canonicalise
        if len(rows) == count:
            break
    return ModeSet.from_indices(torch.tensor(rows, dtype=torch.long).reshape(-1, ndim))


def random_weight(gen: torch.Generator, modes: ModeSet, cin: int, cout: int, mixing: str, dtype: torch.dtype) -> Tensor:
    shape = (len(modes), cin) if mixing == "diagonal" else (len(modes), cin, cout)
    return torch.randn(*shape, generator=gen, dtype=dtype)


def bandlimited_coefficients(
    gen: torch.Generator, batch: int, channels: int, bandwidth: Sequence[int]
) -> tuple[Tensor, Tensor]:
    """Random Fourier coefficients on all ``k`` with ``|k_i| <= bandwidth_i``.

    Returns ``(freqs, coeffs)``: ``freqs`` (P, d) long, ``coeffs`` (B, C, P) complex128.
    The field is ``f(t) = Re Σ_k a_k exp(2πi k·t)`` for ``t`` in the unit torus.
    """
    axes = [torch.arange(-b, b + 1) for b in bandwidth]
    freqs = torch.cartesian_prod(*axes).reshape(-1, len(bandwidth))
    coeffs = torch.randn(batch, channels, freqs.shape[0], generator=gen, dtype=torch.complex128)
    coeffs = coeffs / (1 + freqs.abs().sum(1)).to(torch.float64)  # decaying spectrum
    return freqs, coeffs


def evaluate_field(freqs: Tensor, coeffs: Tensor, shape: Sequence[int]) -> Tensor:
    """Sample ``Re Σ_k a_k exp(2πi k·n/N)`` exactly on the grid ``shape``: (B, C, *shape) float64."""
    pts = grid_points(shape)  # (*shape, d)
    n = torch.tensor(shape, dtype=torch.float64)
    phase = (pts / n) @ freqs.to(torch.float64).t()  # (*shape, P)
    basis = torch.exp(2j * math.pi * phase.to(torch.complex128))
    return torch.einsum("bcp,...p->bc...", coeffs, basis).real.contiguous()


def cpu_backends(include_reference: bool = True) -> list[str]:
    """Registered backends that accept a plain CPU call here (float32 and float64, 2-D).

    A backend registered later is picked up automatically; one that refuses CPU tensors on
    this machine (a GPU-only backend, or Triton without ``TRITON_INTERPRET=1``) is left out.
    """
    from spectral_sparse.backends import registered_backends
    from spectral_sparse.functional import prepare_call

    modes = ModeSet.box((4, 4))
    names = []
    for name, backend in registered_backends().items():
        if name == "fft" and not include_reference:
            continue
        ok = True
        for dtype in (torch.float32, torch.float64):
            x = torch.zeros(1, 1, 6, 5, dtype=dtype)
            weight = torch.zeros(len(modes), 1, 1, dtype=torch.complex128)
            ok = ok and not backend.not_supported_reasons(prepare_call(x, weight, modes, None, None))
        if ok:
            names.append(name)
    return names
