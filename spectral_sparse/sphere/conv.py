"""Sparse spectral convolution on the sphere, on torch-harmonics' spherical harmonic transforms."""

from __future__ import annotations

import math
from collections.abc import Sequence
from functools import lru_cache

import torch
from torch import Tensor, nn

from .._checks import positive_int

__all__ = ["GRIDS", "SparseSphericalConv", "max_degree", "triangular_modes"]

#: Grid types the layer accepts (torch-harmonics' names).
GRIDS = ("equiangular", "legendre-gauss")


def max_degree(nlat: int, nlon: int, grid: str) -> int:
    """Number of degrees ``L`` a grid resolves exactly: modes ``(l, m)`` with ``l < L`` and ``m <= l``.

    A Legendre-Gauss grid of ``nlat`` points integrates polynomials in ``cos(theta)`` of
    degree ``2 nlat - 1`` exactly, an equiangular (Clenshaw-Curtis) one those of degree
    ``nlat - 1``; the analysis of a degree-``l`` field against degree-``l`` harmonics
    needs degree ``2 l``, so ``L = nlat`` and ``L = ceil(nlat / 2)``. Along the
    longitude ``m`` must stay below the Nyquist order: ``2 m < nlon``.

    Examples
    --------
    >>> max_degree(32, 64, "legendre-gauss"), max_degree(32, 64, "equiangular"), max_degree(32, 16, "legendre-gauss")
    (32, 16, 8)
    """
    if grid not in GRIDS:
        raise ValueError(f"grid must be one of {GRIDS}, got {grid!r}")
    for name, value in (("nlat", nlat), ("nlon", nlon)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 2:
            raise ValueError(f"{name} must be an int >= 2, got {value!r}")
    lat = nlat if grid == "legendre-gauss" else (nlat + 1) // 2
    return min(lat, (nlon + 1) // 2)


def triangular_modes(lmax: int) -> Tensor:
    """All ``(l, m)`` with ``0 <= m <= l < lmax``, shape ``(lmax (lmax + 1) / 2, 2)``, sorted by ``l`` then ``m``.

    Examples
    --------
    >>> triangular_modes(3).tolist()
    [[0, 0], [1, 0], [1, 1], [2, 0], [2, 1], [2, 2]]
    """
    positive_int(lmax, "lmax")
    return torch.tensor([(deg, m) for deg in range(lmax) for m in range(deg + 1)], dtype=torch.long)


def _check_modes(modes: int | Tensor | Sequence[Sequence[int]]) -> Tensor:
    if isinstance(modes, int) and not isinstance(modes, bool):
        return triangular_modes(modes)
    idx = torch.as_tensor(modes)
    if idx.dtype.is_floating_point or idx.dtype.is_complex or idx.dtype == torch.bool:
        raise TypeError(f"modes must hold integers (l, m), got dtype {idx.dtype}")
    idx = idx.to(torch.long)
    if idx.ndim != 2 or idx.shape[1] != 2 or len(idx) == 0:
        raise ValueError(
            f"modes must be an int lmax or a non-empty (K, 2) array of (l, m), got shape {tuple(idx.shape)}"
        )
    deg, m = idx[:, 0], idx[:, 1]
    if bool((m < 0).any() or (m > deg).any()):
        bad = idx[(m < 0) | (m > deg)][0].tolist()
        raise ValueError(f"modes need 0 <= m <= l (real fields keep m >= 0), got (l, m) = {tuple(bad)}")
    order = torch.argsort(deg * (int(deg.max()) + 1) + m)
    idx = idx[order]
    if bool((idx[1:] == idx[:-1]).all(dim=1).any()):
        raise ValueError("modes contain duplicate (l, m) pairs")
    return idx


@lru_cache(maxsize=64)
def _transforms(nlat: int, nlon: int, grid: str, lmax: int, device: str) -> tuple[nn.Module, nn.Module]:
    """torch-harmonics' analysis and synthesis for degrees ``< lmax`` on one grid (cached)."""
    import warnings

    from torch_harmonics import InverseRealSHT, RealSHT

    with warnings.catch_warnings():  # the truncation notice of torch-harmonics 0.9 (we pass lmax explicitly)
        warnings.simplefilter("ignore", UserWarning)
        sht = RealSHT(nlat, nlon, lmax=lmax, mmax=lmax, grid=grid).to(device)
        isht = InverseRealSHT(nlat, nlon, lmax=lmax, mmax=lmax, grid=grid).to(device)
    return sht, isht


class SparseSphericalConv(nn.Module):
    """Spectral convolution on the sphere that keeps a sparse set of spherical-harmonic modes ``(l, m)``.

    For real fields ``x_c(theta, phi)`` on a latitude-longitude grid:

    * analysis (torch-harmonics' ``RealSHT``, orthonormal harmonics with the
      Condon-Shortley phase): ``x_c[l, m] = integral x_c conj(Y_l^m)``, for the kept modes;
    * mixing, one complex matrix per kept mode: ``y_o[l, m] = sum_c W[l, m][c, o] x_c[l, m]``
      (``share="degree"``: one matrix per degree ``l``, shared by its orders);
    * synthesis (``InverseRealSHT``) on the output grid:
      ``y_o = b_o + sum_(l, m) c_m Re(y_o[l, m] Y_l^m)``, ``c_0 = 1``, ``c_m = 2`` for ``m > 0``
      (only the real part of an ``m = 0`` coefficient survives: the field is real).

    Per-mode matrices make the layer the sparse analogue of a general spectral operator
    diagonal in the harmonic basis (torch-harmonics' ``SpectralConvS2`` with a diagonal
    operator, restricted to chosen modes). ``share="degree"`` gives SFNO's
    Driscoll-Healy form: with all orders of each kept degree it commutes with rotations.

    The layer is resolution agnostic: it runs on any ``nlat x nlon`` equiangular or
    Legendre-Gauss grid, using the kept modes that both the input and the output grid
    resolve (see :func:`max_degree`). For a band-limited input (degrees below what the
    input grid resolves) the output is the same continuous field on every grid.

    Parameters
    ----------
    in_channels, out_channels : int
    modes : int or (K, 2) integer array
        An int ``L`` keeps every ``(l, m)`` with ``m <= l < L``; an array lists the
        kept ``(l, m)`` pairs (``0 <= m <= l``, no duplicates).
    grid : {"equiangular", "legendre-gauss"}
        Default grid type of inputs and outputs (``forward`` can override it).
    share : {"none", "degree"}
    bias : bool

    Attributes
    ----------
    weight : complex Parameter, shape (K, in, out), or (number of kept degrees, in, out) with ``share="degree"``
    mode_indices : LongTensor buffer, shape (K, 2), the kept ``(l, m)`` sorted by ``l`` then ``m``

    Examples
    --------
    >>> import torch
    >>> conv = SparseSphericalConv(3, 4, modes=8)
    >>> conv(torch.randn(2, 3, 16, 32)).shape
    torch.Size([2, 4, 16, 32])
    >>> conv(torch.randn(2, 3, 12, 24), grid="legendre-gauss", output_shape=(33, 64)).shape
    torch.Size([2, 4, 33, 64])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: int | Tensor | Sequence[Sequence[int]],
        grid: str = "equiangular",
        share: str = "none",
        bias: bool = True,
    ) -> None:
        super().__init__()
        positive_int(in_channels, "in_channels")
        positive_int(out_channels, "out_channels")
        if grid not in GRIDS:
            raise ValueError(f"grid must be one of {GRIDS}, got {grid!r}")
        if share not in ("none", "degree"):
            raise ValueError(f"share must be 'none' or 'degree', got {share!r}")
        idx = _check_modes(modes)
        self.in_channels, self.out_channels, self.grid, self.share = in_channels, out_channels, grid, share
        self.register_buffer("mode_indices", idx)
        degrees, self._weight_index = torch.unique(idx[:, 0], return_inverse=True)
        n = len(degrees) if share == "degree" else len(idx)
        self.weight = nn.Parameter(
            torch.randn(n, in_channels, out_channels, dtype=torch.cfloat) / math.sqrt(in_channels)
        )
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    @property
    def lmax(self) -> int:
        """One more than the largest kept degree: the smallest ``L`` a grid must resolve to keep every mode."""
        return int(self.mode_indices[:, 0].max()) + 1

    def mode_weights(self) -> Tensor:
        """The mixing matrix of every kept mode, shape ``(K, in, out)`` (expanded when shared per degree)."""
        if self.share == "degree":
            return self.weight[self._weight_index.to(self.weight.device)]
        return self.weight

    def resolved(self, nlat: int, nlon: int, grid: str) -> Tensor:
        """Boolean mask ``(K,)`` of the kept modes the grid resolves (``l < max_degree(nlat, nlon, grid)``)."""
        return self.mode_indices[:, 0] < max_degree(nlat, nlon, grid)

    def forward(
        self,
        x: Tensor,
        grid: str | None = None,
        output_shape: Sequence[int] | None = None,
        output_grid: str | None = None,
    ) -> Tensor:
        """Apply the layer.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, nlat, nlon), real floating
        grid : str, optional
            Grid type of ``x`` (default: the layer's ``grid``).
        output_shape : (nlat', nlon'), optional
            Output grid (default: the input's).
        output_grid : str, optional
            Output grid type (default: the input's).

        Returns
        -------
        Tensor, shape (B, out_channels, nlat', nlon')

        Raises
        ------
        ValueError
            Wrong shape, unknown grid, or grids that resolve none of the kept modes.
        """
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a real floating tensor, got {getattr(x, 'dtype', type(x))}")
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"x must have shape (B, {self.in_channels}, nlat, nlon), got {tuple(x.shape)}")
        grid = self.grid if grid is None else grid
        output_grid = grid if output_grid is None else output_grid
        nlat, nlon = int(x.shape[2]), int(x.shape[3])
        if output_shape is None:
            out_lat, out_lon = nlat, nlon
        else:
            if len(output_shape) != 2:
                raise ValueError(f"output_shape must be (nlat, nlon), got {tuple(output_shape)}")
            out_lat, out_lon = (int(s) for s in output_shape)
        limit = min(max_degree(nlat, nlon, grid), max_degree(out_lat, out_lon, output_grid))
        keep = self.mode_indices[:, 0] < limit
        if not bool(keep.any()):
            raise ValueError(
                f"the grids ({nlat}x{nlon} {grid} -> {out_lat}x{out_lon} {output_grid}) resolve degrees l < {limit}, "
                f"none of the layer's modes (smallest kept degree {int(self.mode_indices[:, 0].min())})"
            )
        idx = self.mode_indices[keep]
        lmax = int(idx[:, 0].max()) + 1
        device = str(x.device)
        sht, _ = _transforms(nlat, nlon, grid, lmax, device)
        _, isht = _transforms(out_lat, out_lon, output_grid, lmax, device)
        coeffs = sht(x)  # (B, C, lmax, lmax) complex
        deg, m = idx[:, 0].to(x.device), idx[:, 1].to(x.device)
        weight = self.mode_weights()[keep.to(self.weight.device)].to(coeffs.dtype)
        mixed = torch.einsum("bck,kco->bok", coeffs[:, :, deg, m], weight)
        spectrum = coeffs.new_zeros(x.shape[0], self.out_channels, lmax, lmax)
        spectrum[:, :, deg, m] = mixed
        y = isht(spectrum)
        if self.bias is not None:
            y = y + self.bias.to(y.dtype).reshape(1, -1, 1, 1)
        return y

    def extra_repr(self) -> str:
        return (
            f"{self.in_channels}, {self.out_channels}, modes={len(self.mode_indices)} (l < {self.lmax}), "
            f"grid={self.grid!r}, share={self.share!r}, bias={self.bias is not None}"
        )
