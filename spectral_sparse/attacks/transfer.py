"""Moving adversarial examples between resolutions.

:func:`transfer` resizes adversarial images to another grid with
:func:`spectral_sparse.data.resize` (``"fourier"``: exact trigonometric
interpolation, or the usual interpolations), optionally clamping the result to
the input domain (Fourier resizing rings, bilinear/bicubic can overshoot).
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from ..data.transforms import resize
from .gradient import Domain, check_domain

__all__ = ["TRANSFER_METHODS", "transfer"]

#: Methods :func:`transfer` accepts (those of :func:`spectral_sparse.data.resize`).
TRANSFER_METHODS = ("fourier", "bilinear", "bicubic", "nearest", "nearest-exact", "area")


def transfer(x_adv: Tensor, shape: int | Sequence[int], method: str = "fourier", domain: Domain = None) -> Tensor:
    """Adversarial images ``(B, C, H, W)`` moved to the grid ``shape``.

    Parameters
    ----------
    x_adv : Tensor, shape (B, C, H, W) or (C, H, W), real floating
    shape : int or (H', W')
    method : str
        One of :data:`TRANSFER_METHODS` (see :mod:`spectral_sparse.data.transforms`).
    domain : (lo, hi) or None
        Clamp the result to this range (default: no clamping).

    Returns
    -------
    Tensor, shape (B, C, H', W')

    Raises
    ------
    ValueError
        Unknown method, bad shape or domain, images not 3-D or 4-D.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 1, 14, 14)
    >>> y = transfer(x, 56)
    >>> y.shape, bool(torch.allclose(transfer(y, 14), x, atol=1e-5))   # Fourier: up then down is exact
    (torch.Size([2, 1, 56, 56]), True)
    >>> float(transfer(x, 28, "bicubic", domain=(0, 1)).max()) <= 1.0
    True
    """
    if method not in TRANSFER_METHODS:
        raise ValueError(f"unknown transfer method {method!r}; valid methods: {', '.join(map(repr, TRANSFER_METHODS))}")
    return resize(x_adv, shape, method=method, clamp=check_domain(domain))
