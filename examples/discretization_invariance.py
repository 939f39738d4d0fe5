"""Same function on any grid: a sparse spectral layer on a band-limited field.

Samples one band-limited field on three grids, applies one layer to each, and
compares the outputs on a common grid. Also shows that a circular-padded
convolution and its spectral twin agree on the grid they were converted at.

Run: python examples/discretization_invariance.py [--out DIR]

It takes seconds; ``--smoke`` is accepted (for the test suite) and changes nothing.
The plot (the input on each grid and the layer's output, one channel) goes to ``--out``
(default ``examples_out/discretization_invariance``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="accepted for the test suite; the example is already fast")
    parser.add_argument(
        "--out", type=Path, default=Path("examples_out/discretization_invariance"), help="folder for the plot"
    )
    args = parser.parse_args(argv)
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

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    grids = list(outputs)
    fig, axes = plt.subplots(2, len(grids), figsize=(3 * len(grids), 6))
    with torch.no_grad():
        for col, grid in enumerate(grids):
            axes[0, col].imshow(band_limited_field(grid)[0, 0], cmap="viridis")
            axes[0, col].set_title(f"input on {grid[0]}x{grid[1]}", fontsize=9)
            axes[1, col].imshow(layer(band_limited_field(grid))[0, 0], cmap="RdBu_r")
            axes[1, col].set_title(f"layer output on {grid[0]}x{grid[1]}", fontsize=9)
    for ax in axes.flat:
        ax.axis("off")
    path = args.out / "discretization_invariance.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
