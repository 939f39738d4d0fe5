"""Deprecated alias of :mod:`spectral_sparse.backends._common`.

Renamed because the module holds what every backend shares (mixing, the Nyquist convention, DFT
matrices, caches), not only plans. Importing ``spectral_sparse.backends._plan`` emits a
:class:`DeprecationWarning` and gives the objects of the new module (every name, private ones
included), so old imports keep working.
"""

from __future__ import annotations

import warnings

from . import _common as _new

__all__ = list(getattr(_new, "__all__", ()))
globals().update({k: v for k, v in vars(_new).items() if not k.startswith("__")})

warnings.warn(
    "spectral_sparse.backends._plan is deprecated and will be removed; "
    "import from spectral_sparse.backends._common instead",
    DeprecationWarning,
    stacklevel=2,
)
