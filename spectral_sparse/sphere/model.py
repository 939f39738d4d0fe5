"""A small neural operator on the sphere made of sparse spherical convolutions."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn

from .._checks import positive_int
from .conv import GRIDS, SparseSphericalConv

__all__ = ["SphericalOperator", "xyz_embedding"]


def xyz_embedding(nlat: int, nlon: int, grid: str) -> Tensor:
    """The Cartesian coordinates ``(x, y, z)`` of the grid points, shape ``(3, nlat, nlon)``.

    They are degree-1 spherical harmonics, so the embedding is band-limited and the
    same continuous field on every grid. Latitudes come from torch-harmonics
    (colatitude ``theta`` from the north pole); longitudes are ``2 pi j / nlon``.

    Examples
    --------
    >>> e = xyz_embedding(4, 8, "legendre-gauss")
    >>> e.shape, bool(torch.allclose(e.square().sum(0), torch.ones(4, 8)))
    (torch.Size([3, 4, 8]), True)
    """
    from torch_harmonics.quadrature import precompute_latitudes

    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {GRIDS}, got {grid!r}")
    theta, _ = precompute_latitudes(nlat, grid=grid)  # colatitudes of the nodes
    theta = torch.as_tensor(theta, dtype=torch.float64)
    phi = 2 * torch.pi * torch.arange(nlon, dtype=torch.float64) / nlon
    sin_t = torch.sin(theta)[:, None]
    xyz = torch.stack(
        [sin_t * torch.cos(phi)[None, :], sin_t * torch.sin(phi)[None, :], torch.cos(theta)[:, None].expand(nlat, nlon)]
    )
    return xyz.to(torch.float32)


class SphericalOperator(nn.Module):
    """``lift -> n_layers x act(SparseSphericalConv(h) + W h) -> projection``, on any sphere grid.

    Lifting and projection are two-layer pointwise MLPs (hidden ``2 * width``); the
    skips are pointwise; no activation after the last block. With ``embedding=True``
    the Cartesian coordinates of the grid points (degree-1 harmonics, see
    :func:`xyz_embedding`) are appended to the input, so the model knows the latitude
    (the Coriolis force of the shallow-water equations depends on it).

    Parameters
    ----------
    in_channels, out_channels, width : int
    modes : int or (K, 2) array, or a list of ``n_layers`` ints / (K, 2) tensors (one per layer)
        See :class:`SparseSphericalConv`.
    n_layers : int
    grid : {"equiangular", "legendre-gauss"}
    embedding : bool
    share : {"none", "degree"}

    Examples
    --------
    >>> import torch
    >>> model = SphericalOperator(3, 3, width=8, modes=6, n_layers=2)
    >>> model(torch.randn(2, 3, 12, 24)).shape
    torch.Size([2, 3, 12, 24])
    >>> model(torch.randn(2, 3, 12, 24), output_shape=(24, 48)).shape
    torch.Size([2, 3, 24, 48])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int,
        modes: int | Tensor | Sequence,
        n_layers: int = 4,
        grid: str = "equiangular",
        embedding: bool = True,
        share: str = "none",
    ) -> None:
        super().__init__()
        for name, value in (("width", width), ("n_layers", n_layers), ("in_channels", in_channels)):
            positive_int(value, name)
        # a list of n_layers ints or (K, 2) tensors is one entry per layer; any other array is one mode list
        per_layer = (
            isinstance(modes, list)
            and len(modes) == n_layers
            and all(isinstance(m, (int, Tensor)) and not isinstance(m, bool) for m in modes)
        )
        layer_modes = modes if per_layer else [modes] * n_layers
        self.grid, self.embedding = grid, embedding
        self.in_channels, self.out_channels, self.width = in_channels, out_channels, width
        lift_in = in_channels + (3 if embedding else 0)
        self.lift = nn.Sequential(nn.Conv2d(lift_in, 2 * width, 1), nn.GELU(), nn.Conv2d(2 * width, width, 1))
        self.spectral = nn.ModuleList(SparseSphericalConv(width, width, m, grid=grid, share=share) for m in layer_modes)
        self.skips = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(n_layers))
        self.act = nn.GELU()
        self.projection = nn.Sequential(
            nn.Conv2d(width, 2 * width, 1), nn.GELU(), nn.Conv2d(2 * width, out_channels, 1)
        )

    def forward(self, x: Tensor, grid: str | None = None, output_shape: Sequence[int] | None = None) -> Tensor:
        """Apply the operator to ``x`` of shape ``(B, in_channels, nlat, nlon)`` on ``grid`` (default: the model's).

        With ``output_shape`` the last spectral layer synthesises on that grid (same
        grid type) and its skip input is resampled there spectrally.
        """
        grid = self.grid if grid is None else grid
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (B, {self.in_channels}, nlat, nlon), got {getattr(x, 'shape', x)}")
        if self.embedding:
            emb = xyz_embedding(x.shape[2], x.shape[3], grid).to(device=x.device, dtype=x.dtype)
            x = torch.cat([x, emb.expand(x.shape[0], *emb.shape)], dim=1)
        h = self.lift(x)
        last = len(self.spectral) - 1
        for i, (spectral, skip) in enumerate(zip(self.spectral, self.skips)):
            out = output_shape if i == last and output_shape is not None else None
            s = skip(h)
            if out is not None and tuple(out) != tuple(h.shape[2:]):
                s = _resample_sphere(s, grid, tuple(out))
            h = spectral(h, grid=grid, output_shape=out) + s
            if i < last:
                h = self.act(h)
        return self.projection(h)


def _resample_sphere(x: Tensor, grid: str, shape: tuple[int, int]) -> Tensor:
    """Spectral resampling: analyse on the input grid, synthesise the resolved degrees on ``shape``."""
    from .conv import _transforms, max_degree

    lmax = min(max_degree(x.shape[2], x.shape[3], grid), max_degree(shape[0], shape[1], grid))
    sht, _ = _transforms(x.shape[2], x.shape[3], grid, lmax, str(x.device))
    _, isht = _transforms(shape[0], shape[1], grid, lmax, str(x.device))
    return isht(sht(x))
