"""Sparse spectral layers on the sphere, built on torch-harmonics' spherical harmonic transforms.

* :class:`SparseSphericalConv`: keeps a sparse set of spherical-harmonic modes ``(l, m)``
  with one complex channel-mixing matrix each; runs on any equiangular or
  Legendre-Gauss ``nlat x nlon`` grid.
* :class:`SphericalOperator`: lift, sparse spherical blocks with pointwise skips, projection.
* :mod:`~spectral_sparse.sphere.swe`: one-step shallow-water data from torch-harmonics' solver.

torch-harmonics is imported only when a transform is first built.
"""

from .conv import GRIDS, SparseSphericalConv, max_degree, triangular_modes
from .model import SphericalOperator

__all__ = ["GRIDS", "SparseSphericalConv", "SphericalOperator", "max_degree", "triangular_modes"]
