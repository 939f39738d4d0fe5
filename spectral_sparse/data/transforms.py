"""Resolution transforms: one image set at any resolution.

:func:`resize` changes the grid of a batch of images by one of several methods,
:class:`ResolutionTransform` wraps it for data pipelines, and :func:`make_test_set`
resizes a whole labelled set.

Methods
-------
``"fourier"``
    Exact trigonometric interpolation (:func:`spectral_sparse.resample`): the
    images are read as periodic band-limited functions, sampled at ``x = n / N``
    (the grid convention of the spectral layers). Upsampling is exact, a
    band-limited image is recovered on every grid that resolves it, and
    downsampling is an ideal low-pass; values may overshoot the input range
    (Gibbs ringing) unless ``clamp`` is given.
``"bilinear"``, ``"bicubic"``
    :func:`torch.nn.functional.interpolate` with ``align_corners=False``, and
    ``antialias=True`` when an axis is downsampled (a triangle / cubic filter
    widened by the scale factor, as in PIL).
``"nearest"``, ``"nearest-exact"``
    ``interpolate`` modes of the same names: ``"nearest"`` takes source pixel
    ``floor(m * N / M)`` (for an integer factor ``s``, downsampling is
    ``x[..., ::s, ::s]``), ``"nearest-exact"`` the source pixel whose centre is
    nearest (as PIL and scikit-image do).
``"area"``
    ``interpolate(mode="area")``, i.e. adaptive average pooling: each output pixel
    is the mean of the input pixels its bin covers (for upsampling, a replication).

The ``interpolate`` methods place pixel ``n`` at the centre ``(n + 1/2) / N`` of its
cell, ``"fourier"`` at ``n / N``: resized from ``N`` to ``M`` pixels, the two families
differ by a translation of ``(1/M - 1/N) / 2`` of the image width (a quarter of an
input pixel for 2x upsampling), which is immaterial to most uses but shows in
pixel-wise comparisons between methods.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

from .._checks import grid_shape, positive_int
from ..resample import resample

__all__ = ["METHODS", "ResolutionTransform", "make_test_set", "resize"]

#: The resize methods, in the order error messages list them.
METHODS: tuple[str, ...] = ("fourier", "bilinear", "bicubic", "nearest", "nearest-exact", "area")
_ANTIALIAS = ("bilinear", "bicubic")


def _check_method(method: str) -> str:
    if method not in METHODS:
        raise ValueError(f"unknown resize method {method!r}; valid methods: {', '.join(map(repr, METHODS))}")
    return method


def _check_clamp(clamp: tuple[float, float] | None) -> tuple[float, float] | None:
    if clamp is None:
        return None
    lo, hi = clamp
    if not lo <= hi:
        raise ValueError(f"clamp must be (low, high) with low <= high, got {clamp!r}")
    return float(lo), float(hi)


def resize(
    images: Tensor,
    shape: int | Sequence[int],
    method: str = "fourier",
    clamp: tuple[float, float] | None = None,
) -> Tensor:
    """Resize images to another grid.

    Parameters
    ----------
    images : Tensor, shape (n, c, H, W) or (c, H, W), real floating
    shape : int or (int, int)
        The new grid ``(H', W')``; an int ``s`` means ``(s, s)``.
    method : str
        One of :data:`METHODS` (see the module documentation):
        ``"fourier"`` (default), ``"bilinear"``, ``"bicubic"``, ``"nearest"``,
        ``"nearest-exact"``, ``"area"``.
    clamp : (float, float) or None
        Clip the result to ``[low, high]``, e.g. ``(0.0, 1.0)`` to keep pixel
        values in range after Fourier or bicubic overshoot. Off by default.

    Returns
    -------
    Tensor, shape (n, c, H', W') or (c, H', W'), the dtype of ``images``
        Differentiable in ``images``. When the grid is unchanged (and ``clamp``
        is ``None``) ``images`` itself is returned.

    Raises
    ------
    ValueError
        Unknown method (the message lists the valid ones), a bad ``shape``, or
        ``images`` not 3-D or 4-D.
    TypeError
        ``images`` not a real floating-point tensor.

    Examples
    --------
    >>> x = torch.rand(2, 1, 28, 28)
    >>> resize(x, 56).shape
    torch.Size([2, 1, 56, 56])
    >>> resize(x, (14, 20), method="area").shape
    torch.Size([2, 1, 14, 20])
    >>> bool(torch.allclose(resize(resize(x, 64), 28), x, atol=1e-5))  # Fourier: up then down is exact
    True
    """
    method = _check_method(method)
    new = grid_shape(shape, 2, "shape", error=ValueError)
    bounds = _check_clamp(clamp)
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim not in (3, 4):
        raise ValueError(f"images must have shape (n, c, H, W) or (c, H, W), got {tuple(images.shape)}")
    if images.is_complex() or not images.is_floating_point():
        raise TypeError(f"images must be real floating point, got dtype {images.dtype}")
    if any(s == 0 for s in images.shape[-2:]):
        raise ValueError(f"cannot resize images with an empty grid {tuple(images.shape[-2:])}")
    old = tuple(images.shape[-2:])
    if old == new:
        out = images
    elif images.numel() == 0:  # no images (n == 0 or c == 0): torch.fft refuses empty batches
        out = images.new_empty((*images.shape[:-2], *new))
    elif method == "fourier":
        out = resample(images, new)
    else:
        batch = images if images.ndim == 4 else images.unsqueeze(0)
        kwargs: dict[str, object] = {}
        if method in _ANTIALIAS:
            kwargs = {"align_corners": False, "antialias": any(m < o for m, o in zip(new, old))}
        out = F.interpolate(batch, size=new, mode=method, **kwargs)  # type: ignore[arg-type]
        out = out if images.ndim == 4 else out.squeeze(0)
    if bounds is not None:
        out = out.clamp(*bounds)
    return out


class ResolutionTransform:
    """A callable that resizes images, for data pipelines.

    Parameters
    ----------
    shape : int or (int, int)
        The target grid.
    method : str
        One of :data:`METHODS`.
    clamp : (float, float) or None
        See :func:`resize`.

    Examples
    --------
    >>> t = ResolutionTransform(32, method="bilinear")
    >>> t
    ResolutionTransform(shape=(32, 32), method='bilinear', clamp=None)
    >>> t(torch.rand(1, 28, 28)).shape
    torch.Size([1, 32, 32])
    """

    def __init__(
        self, shape: int | Sequence[int], method: str = "fourier", clamp: tuple[float, float] | None = None
    ) -> None:
        self.shape = grid_shape(shape, 2, "shape", error=ValueError)
        self.method = _check_method(method)
        self.clamp = _check_clamp(clamp)

    def __call__(self, images: Tensor) -> Tensor:
        """Resize ``images`` of shape (n, c, H, W) or (c, H, W) to ``self.shape``."""
        return resize(images, self.shape, self.method, self.clamp)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(shape={self.shape}, method={self.method!r}, clamp={self.clamp})"


def make_test_set(
    images: Tensor,
    labels: Tensor,
    resolution: int | Sequence[int],
    method: str = "fourier",
    clamp: tuple[float, float] | None = None,
    batch_size: int = 1024,
) -> tuple[Tensor, Tensor]:
    """A labelled image set resized to another resolution.

    Parameters
    ----------
    images : Tensor, shape (n, c, H, W), real floating
    labels : Tensor, shape (n, ...)
        Returned unchanged.
    resolution : int or (int, int)
        The new grid ``(H', W')``.
    method : str
        One of :data:`METHODS`.
    clamp : (float, float) or None
        See :func:`resize`.
    batch_size : int
        Images resized at a time (bounds the memory of intermediate spectra).

    Returns
    -------
    images : Tensor, shape (n, c, H', W')
    labels : Tensor, shape (n, ...), the input ``labels``

    Examples
    --------
    >>> x, y = torch.rand(10, 1, 28, 28), torch.arange(10)
    >>> x64, y64 = make_test_set(x, y, 64, method="bicubic")
    >>> x64.shape, bool((y64 == y).all())
    (torch.Size([10, 1, 64, 64]), True)
    """
    if not isinstance(images, Tensor) or images.ndim != 4:
        shape = tuple(images.shape) if isinstance(images, Tensor) else type(images).__name__
        raise ValueError(f"images must be a tensor of shape (n, c, H, W), got {shape}")
    if not isinstance(labels, Tensor) or labels.ndim < 1 or len(labels) != len(images):
        shape = tuple(labels.shape) if isinstance(labels, Tensor) else type(labels).__name__
        raise ValueError(f"labels must be a tensor with one entry per image ({len(images)}), got {shape}")
    positive_int(batch_size, "batch_size")
    transform = ResolutionTransform(resolution, method, clamp)
    if len(images) <= batch_size:
        return transform(images), labels
    return torch.cat([transform(chunk) for chunk in images.split(batch_size)]), labels
