"""One-step shallow-water data on the sphere, generated with torch-harmonics' spectral solver.

The solver (``torch_harmonics.examples.ShallowWaterSolver``) integrates the
shallow-water equations in spherical-harmonic space (geopotential, vorticity,
divergence; degrees ``l < lmax``, the nonlinear terms computed on its own grid).
Samples are kept as spectral coefficients, so the same continuous input and target
fields can be sampled on any grid that resolves ``lmax`` (:meth:`ShallowWaterData.on_grid`):
a model trained on a coarse grid is tested on a finer one against the same truth.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .conv import GRIDS, max_degree

__all__ = ["ShallowWaterData", "sphere_weights"]


class ShallowWaterData:
    """Random initial states and their states one step ``dt`` later, as spectral coefficients.

    Parameters
    ----------
    nlat, nlon : int
        The solver's grid (default 64 x 128).
    grid : {"equiangular", "legendre-gauss"}
        The solver's grid type.
    dt : float
        The step to learn, in seconds (default one hour).
    solver_dt : float
        The solver's time step (``dt`` must be a multiple of it).
    lmax : int, optional
        Degrees kept by the solver (default ``ceil(nlat / 3)``, as torch-harmonics' ``PdeDataset``).
    mach : float
        Mach number of the random initial velocity (``PdeDataset`` uses 0.2).

    Examples
    --------
    >>> data = ShallowWaterData(nlat=12, nlon=24, dt=600.0, solver_dt=300.0)
    >>> inp, tar = data.sample(2, seed=0)
    >>> inp.shape, tar.shape, data.on_grid(inp, 10, 20, "legendre-gauss").shape
    (torch.Size([2, 3, 4, 4]), torch.Size([2, 3, 4, 4]), torch.Size([2, 3, 10, 20]))
    """

    def __init__(
        self,
        nlat: int = 64,
        nlon: int = 128,
        grid: str = "legendre-gauss",
        dt: float = 3600.0,
        solver_dt: float = 150.0,
        lmax: int | None = None,
        mach: float = 0.2,
    ) -> None:
        from torch_harmonics.examples import ShallowWaterSolver

        if grid not in GRIDS:
            raise ValueError(f"grid must be one of {GRIDS}, got {grid!r}")
        steps = dt / solver_dt
        if solver_dt <= 0 or dt <= 0 or abs(steps - round(steps)) > 1e-9:
            raise ValueError(f"dt ({dt}) must be a positive multiple of solver_dt ({solver_dt})")
        self.lmax = lmax if lmax is not None else math.ceil(nlat / 3)
        if self.lmax > max_degree(nlat, nlon, grid):
            raise ValueError(f"lmax={self.lmax} exceeds what the {nlat}x{nlon} {grid} solver grid resolves")
        self.nsteps, self.mach, self.dt = round(steps), mach, dt
        self.solver = ShallowWaterSolver(nlat, nlon, solver_dt, lmax=self.lmax, mmax=self.lmax, grid=grid)
        self._synth: dict[tuple[int, int, str], torch.nn.Module] = {}

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0) -> tuple[Tensor, Tensor]:
        """``n`` pairs (state, state after ``dt``), complex128 of shape ``(n, 3, lmax, lmax)``."""
        inputs, targets = [], []
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            for _ in range(n):
                u0 = self.solver.random_initial_condition(mach=self.mach)
                inputs.append(u0)
                targets.append(self.solver.timestep(u0, self.nsteps))
        return torch.stack(inputs), torch.stack(targets)

    def on_grid(self, spec: Tensor, nlat: int, nlon: int, grid: str) -> Tensor:
        """The fields of ``spec`` sampled on an ``nlat x nlon`` grid, float64 ``(..., 3, nlat, nlon)``.

        The grid must resolve the solver's degrees (``lmax <= max_degree(nlat, nlon, grid)``),
        so the samples are exact point values of the band-limited fields.
        """
        if self.lmax > max_degree(nlat, nlon, grid):
            raise ValueError(
                f"a {nlat}x{nlon} {grid} grid resolves degrees < {max_degree(nlat, nlon, grid)}, "
                f"the data hold degrees < {self.lmax}"
            )
        key = (nlat, nlon, grid)
        if key not in self._synth:
            from torch_harmonics import InverseRealSHT

            # the solver uses harmonics without the Condon-Shortley phase
            self._synth[key] = InverseRealSHT(nlat, nlon, lmax=self.lmax, mmax=self.lmax, grid=grid, csphase=False)
        return self._synth[key](spec.to(torch.complex128))


def sphere_weights(nlat: int, nlon: int, grid: str) -> Tensor:
    """Quadrature weights of the grid points, ``(nlat, 1)``, summing to ``4 pi`` over the grid.

    Examples
    --------
    >>> w = sphere_weights(8, 16, "legendre-gauss")
    >>> round(float(w.sum() * 16), 6) == round(4 * math.pi, 6)
    True
    """
    from torch_harmonics.quadrature import precompute_latitudes

    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {GRIDS}, got {grid!r}")
    _, w = precompute_latitudes(nlat, grid=grid)
    return (torch.as_tensor(w, dtype=torch.float64) * 2 * math.pi / nlon).reshape(nlat, 1)
