"""Deprecated alias of :mod:`spectral_sparse.spectral_weights`.

Renamed because the module turns other layers into sparse spectral weights. Importing
``spectral_sparse.convert`` emits a :class:`DeprecationWarning` and gives the objects of the new
module (every name, private ones included), so old imports keep working.
"""

from __future__ import annotations

import warnings

from . import spectral_weights as _new

__all__ = list(getattr(_new, "__all__", ()))
globals().update({k: v for k, v in vars(_new).items() if not k.startswith("__")})

warnings.warn(
    "spectral_sparse.convert is deprecated and will be removed; import from spectral_sparse.spectral_weights instead",
    DeprecationWarning,
    stacklevel=2,
)
