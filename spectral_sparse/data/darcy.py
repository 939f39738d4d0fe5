"""neuraloperator's small 2-D Darcy-flow set from ``.pt`` files in any directory.

The set (from the neuraloperator project, MIT licence) holds 1,000 training pairs
at 16x16 and 50 test pairs each at 16x16 and 32x32: ``x`` a binary permeability
field, ``y`` the pressure solving ``-div(a grad u) = 1`` with ``u = 0`` on the
boundary. The samples sit on the periodic grid ``n / N`` of ``[0, 1)`` per axis:
row and column 0 are the boundary (``y`` is ~0 there) and the far boundary
``x = 1`` is not stored, so the 16-point grid is every other point of the
32-point grid and the pressure, extended periodically, is continuous (with a
kink at the boundary).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import torch
from torch import Tensor

from .mnist import DATA_ENV, default_data_root

__all__ = ["DARCY_MD5", "load_darcy"]

#: md5 sums of the files, as listed in the data README.
DARCY_MD5: dict[str, str] = {
    "darcy_train_16.pt": "248e3c55c8c4b5a41ff2b972bf56c7d9",
    "darcy_test_16.pt": "9f747d431dc5fd91b5bff2dd580ae452",
    "darcy_test_32.pt": "f7138583fcca2703975e773d3aa4c746",
}
_SUBDIRS = ("darcy", "darcy_flow")


def _resolve_dir(root: str | os.PathLike | None, name: str) -> Path:
    if root is None:
        found = default_data_root()
        if found is None:
            raise FileNotFoundError(
                f"no data directory given and none found: pass root=..., set {DATA_ENV}, "
                "or run from a directory that has ../shared/data beside it"
            )
        root = found
    root = Path(root).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"Darcy data directory {root} does not exist; it should hold {name}")
    for folder in (root, *(root / sub for sub in _SUBDIRS)):
        if (folder / name).is_file():
            return folder
    subdirs = ", ".join(f"{s}/" for s in _SUBDIRS)
    raise FileNotFoundError(f"{name} not found in {root} (nor in its subdirectories {subdirs})")


def load_darcy(
    root: str | os.PathLike | None = None,
    split: str = "train",
    resolution: int = 16,
    check_md5: bool = True,
) -> tuple[Tensor, Tensor]:
    """Load one split of neuraloperator's small Darcy-flow set.

    Reads ``darcy_<split>_<resolution>.pt`` from ``root`` or its subdirectory
    ``darcy/`` (the layout of ``../shared/data``), with ``torch.load(weights_only=True)``.

    Parameters
    ----------
    root : str, PathLike or None
        The directory; ``None`` uses :func:`~spectral_sparse.data.default_data_root`.
    split : {"train", "test"}
    resolution : {16, 32}
        The training split exists at 16 only.
    check_md5 : bool
        Verify the file against its published md5 sum (:data:`DARCY_MD5`).

    Returns
    -------
    x : Tensor, shape (n, 1, R, R), float32 in {0, 1}
        Permeability.
    y : Tensor, shape (n, 1, R, R), float32
        Pressure.

    Raises
    ------
    FileNotFoundError
        The directory or the file is missing (the message names the directory).
    ValueError
        Bad ``split``/``resolution``, an md5 mismatch, or unexpected contents.

    Examples
    --------
    >>> load_darcy("/nonexistent", "test", 32)
    Traceback (most recent call last):
    ...
    FileNotFoundError: Darcy data directory /nonexistent does not exist; it should hold darcy_test_32.pt
    """
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    if resolution not in (16, 32) or isinstance(resolution, bool):
        raise ValueError(f"resolution must be 16 or 32, got {resolution!r}")
    if split == "train" and resolution != 16:
        raise ValueError(f"the training split exists at resolution 16 only, got {resolution}")
    name = f"darcy_{split}_{resolution}.pt"
    path = _resolve_dir(root, name) / name
    if check_md5:
        actual = hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()
        if actual != DARCY_MD5[name]:
            raise ValueError(
                f"{path}: md5 {actual} does not match the published {DARCY_MD5[name]}; "
                "the file may be corrupt or another version (check_md5=False skips the check)"
            )
    data = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(data, dict) or not {"x", "y"} <= set(data):
        raise ValueError(f"{path}: expected a dict with keys 'x' and 'y', got {type(data).__name__}")
    x, y = data["x"], data["y"]
    if x.ndim != 3 or y.shape != x.shape or tuple(x.shape[1:]) != (resolution, resolution):
        raise ValueError(
            f"{path}: expected x and y of shape (n, {resolution}, {resolution}), "
            f"got {tuple(x.shape)} and {tuple(y.shape)}"
        )
    return x.to(torch.float32).unsqueeze(1), y.to(torch.float32).unsqueeze(1)
