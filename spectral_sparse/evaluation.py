"""Accuracy of a classifier on one test set put on many grids, and the resolution helpers training shares.

* :func:`evaluate_resolutions`: accuracy on a test set put on many grids,
  either seen directly (``mode="raw"``) or first resized back to the training
  grid (``mode="resize-first"``, the usual way to feed a fixed-grid model).
* :func:`resolution_name`: the value a grid is stored as in result rows.

Both are re-exported by :mod:`spectral_sparse.training`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from torch import Tensor, nn

from ._checks import grid_shape, resolution_name
from ._checks import progress as _progress
from .data.transforms import resize
from .inference import predict

__all__ = ["EVAL_MODES", "check_labeled_images", "evaluate_resolutions", "resolution_name"]

#: The ways :func:`evaluate_resolutions` feeds a test grid to the model.
EVAL_MODES = ("raw", "resize-first")

Resolution = int | Sequence[int]


def check_labeled_images(images: Tensor, labels: Tensor) -> None:
    """ValueError unless ``images`` is a non-empty ``(n, C, H, W)`` tensor and ``labels`` has shape ``(n,)``.

    Examples
    --------
    >>> import torch
    >>> check_labeled_images(torch.zeros(2, 1, 4, 4), torch.zeros(2, dtype=torch.long))
    """
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor (n, C, H, W), got {getattr(images, 'shape', type(images))}")
    if not isinstance(labels, Tensor) or labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(getattr(labels, 'shape', ()))}")
    if len(images) == 0:
        raise ValueError("images is empty")


def evaluate_resolutions(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    resolutions: Sequence[Resolution],
    *,
    method: str = "fourier",
    mode: Literal["raw", "resize-first"] = "raw",
    train_resolution: Resolution | None = None,
    batch_size: int = 250,
    backend: str = "auto",
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Accuracy of a classifier on one test set put on several grids.

    For each resolution ``r`` the test images are resized to ``r`` with
    ``method`` (this is the test data "at resolution r"). Then

    * ``mode="raw"``: the model sees the ``r`` images directly;
    * ``mode="resize-first"``: the ``r`` images are resized (same method) to
      ``train_resolution`` before the model sees them, the usual way to use a
      model trained on one grid.

    Forward passes go through :func:`spectral_sparse.inference.predict`
    (eval mode, no gradients, a backend chosen per grid).

    Parameters
    ----------
    model : nn.Module
    images : Tensor, shape (n, C, H, W)
        Test images at their native grid.
    labels : LongTensor, shape (n,)
    resolutions : sequence of int or (H, W)
    method : str
        Resize method (see :func:`spectral_sparse.data.resize`), default ``"fourier"``.
    mode : {"raw", "resize-first"}
    train_resolution : int or (H, W), optional
        Required for ``mode="resize-first"``.
    batch_size : int
        Samples per forward call.
    backend : str
        Passed to :func:`~spectral_sparse.inference.predict`.
    progress : bool
        Show a tqdm bar over the resolutions.

    Returns
    -------
    list of dict
        One row per resolution: ``resolution`` (int, or ``"HxW"`` when not
        square), ``accuracy`` (fraction in [0, 1]), ``n``, ``mode``, ``method``.

    Raises
    ------
    ValueError
        Unknown mode, ``resize-first`` without ``train_resolution``, mismatched
        labels.

    Examples
    --------
    >>> from spectral_sparse.data import make_shapes
    >>> from spectral_sparse.models import SpectralClassifier
    >>> x, y = make_shapes(16, 24, seed=1)
    >>> model = SpectralClassifier(1, 4, width=4, modes=3, depth=1)
    >>> rows = evaluate_resolutions(model, x, y, [20, 48], mode="resize-first", train_resolution=24)
    >>> [(r["resolution"], r["n"], r["mode"]) for r in rows]
    [(20, 16, 'resize-first'), (48, 16, 'resize-first')]
    """
    if mode not in EVAL_MODES:
        raise ValueError(f"mode must be one of {', '.join(map(repr, EVAL_MODES))}, got {mode!r}")
    if mode == "resize-first" and train_resolution is None:
        raise ValueError("mode='resize-first' needs train_resolution (the grid the model was trained on)")
    if not isinstance(labels, Tensor) or labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(getattr(labels, 'shape', ()))}")
    train_grid = grid_shape(train_resolution, 2, "train_resolution") if train_resolution is not None else None
    labels = labels.cpu()
    rows = []
    for res in _progress(list(resolutions), progress, desc=f"evaluate {mode}"):
        grid = grid_shape(res)
        x = resize(images, grid, method=method)
        if mode == "resize-first":
            x = resize(x, train_grid, method=method)
        pred = predict(model, x, batch_size=batch_size, backend=backend).cpu()
        rows.append(
            {
                "resolution": resolution_name(grid),
                "accuracy": float((pred == labels).float().mean()),
                "n": len(labels),
                "mode": mode,
                "method": method,
            }
        )
    return rows
