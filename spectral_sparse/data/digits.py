"""scikit-learn's bundled handwritten digits (1,797 images, 8x8), at any resolution.

The set ships inside scikit-learn (UCI ML hand-written digits, test part), so it
needs no download. scikit-learn is not a dependency of this package; it is
imported only when :func:`load_digits` is called.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from .transforms import resize

__all__ = ["load_digits"]

_DIGITS_MAX = 16.0  # the pixels are counts of set bits in 4x4 blocks: integers 0..16


def load_digits(
    resolution: int | Sequence[int] | None = None,
    method: str = "fourier",
    clamp: tuple[float, float] | None = None,
) -> tuple[Tensor, Tensor]:
    """Load scikit-learn's digits as images in [0, 1].

    Parameters
    ----------
    resolution : int, (int, int) or None
        Resize the 8x8 images to this grid with
        :func:`spectral_sparse.data.transforms.resize`; ``None`` keeps 8x8.
    method : str
        The resize method (see :data:`spectral_sparse.data.transforms.METHODS`).
    clamp : (float, float) or None
        See :func:`~spectral_sparse.data.transforms.resize`; e.g. ``(0.0, 1.0)``
        to clip the overshoot of Fourier interpolation.

    Returns
    -------
    images : Tensor, shape (1797, 1, H, W), float32
        In [0, 1] at 8x8 (the 0..16 pixel counts divided by 16); other grids
        may overshoot slightly unless ``clamp`` is given.
    labels : Tensor, shape (1797,), int64 in 0..9

    Raises
    ------
    ImportError
        scikit-learn is not installed.

    Examples
    --------
    >>> images, labels = load_digits()
    >>> images.shape, labels.shape
    (torch.Size([1797, 1, 8, 8]), torch.Size([1797]))
    >>> load_digits(resolution=28)[0].shape
    torch.Size([1797, 1, 28, 28])
    """
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:
        raise ImportError(
            "load_digits needs scikit-learn, which spectral_sparse does not install: pip install scikit-learn"
        ) from exc
    bunch = _sk_load_digits()
    images = torch.as_tensor(bunch.images, dtype=torch.float32).div_(_DIGITS_MAX).unsqueeze(1)
    labels = torch.as_tensor(bunch.target, dtype=torch.int64)
    if resolution is not None:
        images = resize(images, resolution, method, clamp)
    return images.contiguous(), labels
