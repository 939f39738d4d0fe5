"""Learn one hour of the shallow-water equations on a coarse sphere grid, then predict on a finer one.

Data come from torch-harmonics' spectral solver at run time (no download): random
initial states and their states one hour later, kept as spherical-harmonic
coefficients, so the same truth can be sampled on any grid. A small
:class:`~spectral_sparse.sphere.SphericalOperator` (spherical convolutions keeping the
degrees ``l < 22`` that the data hold, one weight per degree) is trained on a 32x64
Legendre-Gauss grid and evaluated, with the same weights, on that grid and on 64x128
Legendre-Gauss and equiangular grids.

Run from the repository root (one to two minutes on one core)::

    python examples/shallow_water.py [--out DIR]

``--smoke`` runs a tiny version in seconds (32x64 solver, 16x32 training grid,
8 samples, 1 epoch) to check that everything works; its numbers mean nothing.
The plot (truth, prediction and error of the first field on the finest grid, and the
test error per grid) goes to ``--out`` (default ``examples_out/shallow_water``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from spectral_sparse.sphere import SphericalOperator, triangular_modes
from spectral_sparse.sphere.swe import ShallowWaterData, sphere_weights


def rel_l2(pred: torch.Tensor, truth: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
    """Relative L2 error on the sphere (quadrature-weighted), averaged over the batch."""
    w = w.to(pred.dtype)
    return (((pred - truth) ** 2 * w).sum((1, 2, 3)) / (truth**2 * w).sum((1, 2, 3))).sqrt().mean()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds on a CPU)")
    parser.add_argument("--out", type=Path, default=Path("examples_out/shallow_water"), help="folder for the plot")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    # (solver grid, training grid, train / test samples, epochs, width, layers)
    if args.smoke:
        solver, train_lat, n_train, n_test, epochs, width, n_layers = (32, 64), 16, 8, 2, 1, 8, 2
    else:
        solver, train_lat, n_train, n_test, epochs, width, n_layers = (64, 128), 32, 64, 8, 10, 16, 3
    data = ShallowWaterData(*solver, "legendre-gauss", dt=3600.0, solver_dt=600.0)
    train_spec, test_spec = data.sample(n_train, seed=0), data.sample(n_test, seed=1)

    train_grid = (train_lat, 2 * train_lat, "legendre-gauss")
    x = data.on_grid(train_spec[0], *train_grid)
    mean, std = x.mean((0, 2, 3), keepdim=True), x.std((0, 2, 3), keepdim=True)

    def fields(spec, grid):
        return [((data.on_grid(s, *grid) - mean) / std).float() for s in spec]

    x_train, y_train = fields(train_spec, train_grid)
    w_train = sphere_weights(*train_grid)
    model = SphericalOperator(
        3, 3, width=width, modes=triangular_modes(data.lmax), n_layers=n_layers, grid="legendre-gauss", share="degree"
    )
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    for epoch in range(epochs):
        for idx in torch.randperm(len(x_train)).split(8):
            loss = rel_l2(model(x_train[idx]), y_train[idx], w_train)
            opt.zero_grad()
            loss.backward()
            opt.step()
        print(f"epoch {epoch + 1}: train relative L2 {loss.item():.3f}")

    model.eval()
    errors = {}
    with torch.no_grad():
        for grid in [train_grid, (*solver, "legendre-gauss"), (*solver, "equiangular")]:
            x_test, y_test = fields(test_spec, grid)
            pred = model(x_test, grid=grid[2])
            err = rel_l2(pred, y_test, sphere_weights(*grid))
            errors[f"{grid[0]}x{grid[1]}\n{grid[2]}"] = err.item()
            print(f"test relative L2 on {grid[0]}x{grid[1]} {grid[2]}: {err:.4f}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 4, figsize=(16, 3))
    for ax, img, title in zip(
        axes, (y_test[0, 0], pred[0, 0], pred[0, 0] - y_test[0, 0]), ("truth", "prediction", "error")
    ):
        ax.imshow(img, cmap="RdBu_r")
        ax.set_title(f"{title}, field 0, {grid[0]}x{grid[1]} {grid[2]}", fontsize=8)
        ax.axis("off")
    axes[3].bar(list(errors), list(errors.values()))
    axes[3].set_ylabel("test relative L2")
    axes[3].tick_params(labelsize=7)
    path = args.out / "shallow_water.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
