"""Learn one hour of the shallow-water equations on a coarse sphere grid, then predict on a finer one.

Data come from torch-harmonics' spectral solver at run time (no download): random
initial states and their states one hour later, kept as spherical-harmonic
coefficients, so the same truth can be sampled on any grid. A small
:class:`~spectral_sparse.sphere.SphericalOperator` (spherical convolutions keeping the
degrees ``l < 22`` that the data hold, one weight per degree) is trained on a 32x64
Legendre-Gauss grid and evaluated, with the same weights, on that grid and on 64x128
Legendre-Gauss and equiangular grids.

Run from the repository root (one to two minutes on one core)::

    python examples/shallow_water.py
"""

from __future__ import annotations

import torch

from spectral_sparse.sphere import SphericalOperator, triangular_modes
from spectral_sparse.sphere.swe import ShallowWaterData, sphere_weights


def rel_l2(pred: torch.Tensor, truth: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Relative L2 error on the sphere (quadrature-weighted), averaged over the batch."""
    w = w.to(pred.dtype)
    return (((pred - truth) ** 2 * w).sum((1, 2, 3)) / (truth**2 * w).sum((1, 2, 3))).sqrt().mean()


def main() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)
    data = ShallowWaterData(64, 128, "legendre-gauss", dt=3600.0, solver_dt=600.0)
    train_spec, test_spec = data.sample(64, seed=0), data.sample(8, seed=1)

    train_grid = (32, 64, "legendre-gauss")
    x = data.on_grid(train_spec[0], *train_grid)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)

    def fields(spec, grid):
        return [((data.on_grid(s, *grid) - mean) / std).float() for s in spec]

    x_train, y_train = fields(train_spec, train_grid)
    w_train = sphere_weights(*train_grid)
    model = SphericalOperator(
        3, 3, width=16, modes=triangular_modes(22), n_layers=3, grid="legendre-gauss", share="degree"
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(10):
        for idx in torch.randperm(len(x_train)).split(8):
            loss = rel_l2(model(x_train[idx]), y_train[idx], w_train)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: train relative L2 {loss.item():.3f}")

    model.eval()
    with torch.no_grad():
        for grid in [train_grid, (64, 128, "legendre-gauss"), (64, 128, "equiangular")]:
            x_test, y_test = fields(test_spec, grid)
            err = rel_l2(model(x_test, grid=grid[2]), y_test, sphere_weights(*grid))
            print(f"test relative L2 on {grid[0]}x{grid[1]} {grid[2]}: {err:.4f}")


if __name__ == "__main__":
    main()
