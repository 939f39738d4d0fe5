"""Same function on any grid: a sparse spectral layer on a band-limited field.

Samples one band-limited field on three grids, applies one layer to each, and
compares the outputs on a common grid. Also shows that a circular-padded
convolution and its spectral twin agree on the grid they were converted at.

Run: python examples/discretization_invariance.py
"""

from __future__ import annotations

import math

import torch
from torch import nn

import spectral_sparse as ss


def band_limited_field(grid: tuple[int, int], seed: int = 0, kmax: int = 5) -> torch.Tensor:
    """One random trigonometric polynomial with |k_i| <= kmax, sampled on ``grid``, shape (1, 1, *grid)."""
    g = torch.Generator().manual_seed(seed)
    ks = [(a, b) for a in range(-kmax, kmax + 1) for b in range(-kmax, kmax + 1)]
    coeffs = torch.randn(len(ks), 2, generator=g, dtype=torch.float64)
    n1 = torch.arange(grid[0], dtype=torch.float64)[:, None] / grid[0]
    n2 = torch.arange(grid[1], dtype=torch.float64)[None, :] / grid[1]
    field = sum(
        c[0] * torch.cos(2 * math.pi * (a * n1 + b * n2)) + c[1] * torch.sin(2 * math.pi * (a * n1 + b * n2))
        for (a, b), c in zip(ks, coeffs)
    )
    return field[None, None]


def main() -> None:
    torch.manual_seed(0)
    layer = ss.SparseSpectralConv(1, 4, ss.ModeSet.radial(6, ndim=2)).double()
    layer.weight.data = layer.weight.data.to(torch.complex128)
    common = (64, 64)
    outputs = {grid: ss.resample(layer(band_limited_field(grid)), common) for grid in [(16, 16), (23, 31), (48, 40)]}
    reference = outputs[(48, 40)]
    print("layer output on three input grids, compared on 64x64:")
    for grid, y in outputs.items():
        err = ((y - reference).abs().max() / reference.abs().max()).item()
        print(f"  input grid {grid}: relative difference to the 48x40 result {err:.1e}")

    conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular").double()
    twin = ss.SparseSpectralConv.from_conv(conv, (28, 28))
    x = torch.randn(4, 2, 28, 28, dtype=torch.float64)
    err = ((twin(x) - conv(x)).abs().max() / conv(x).abs().max()).item()
    print(f"circular conv vs its spectral twin on 28x28: relative difference {err:.1e} ({len(twin.modes)} modes)")


if __name__ == "__main__":
    main()
