"""Deprecated alias of :mod:`spectral_sparse.models.cnn_conversion`.

Renamed because the module converts a trained CNN into a spectral network. Importing
``spectral_sparse.models.convert`` emits a :class:`DeprecationWarning` and gives the objects of the
new module (every name, private ones included), so old imports keep working.
"""

from __future__ import annotations

import warnings

from . import cnn_conversion as _new

__all__ = list(getattr(_new, "__all__", ()))
globals().update({k: v for k, v in vars(_new).items() if not k.startswith("__")})

warnings.warn(
    "spectral_sparse.models.convert is deprecated and will be removed; "
    "import from spectral_sparse.models.cnn_conversion instead",
    DeprecationWarning,
    stacklevel=2,
)
