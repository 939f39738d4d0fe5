"""Deprecated alias of :mod:`spectral_sparse.optim.sparsity`.

Renamed because the module holds sparse initialisation and the mode-sparsity measures. Importing
``spectral_sparse.optim.init`` emits a :class:`DeprecationWarning` and gives the objects of the new
module (every name, private ones included), so old imports keep working.
"""

from __future__ import annotations

import warnings

from . import sparsity as _new

__all__ = list(getattr(_new, "__all__", ()))
globals().update({k: v for k, v in vars(_new).items() if not k.startswith("__")})

warnings.warn(
    "spectral_sparse.optim.init is deprecated and will be removed; import from spectral_sparse.optim.sparsity instead",
    DeprecationWarning,
    stacklevel=2,
)
