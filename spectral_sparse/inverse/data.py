"""Offline ground truth at any resolution: photographs, random phantoms, Shepp-Logan.

Every source first produces a high-resolution raster of the field of view (the unit
square) and then brings it to the requested grid with :func:`spectral_sparse.resample`
(exact trigonometric interpolation, pixel ``n`` at ``n / N``): the images at every grid
are samples of one band-limited function, ``ground_truth(..., 64)`` equals
``resample(ground_truth(..., 256), 64)`` exactly, and they match the grid convention
of the physics. The price is mild Gibbs ringing at sharp edges after downsampling
(values may leave ``[0, 1]`` slightly); nothing is clipped, so the consistency is exact.

Sources
-------
``"photos"``
    Square patches of side ``patch`` native pixels (default 256) cropped at random
    positions (seeded) from scikit-image's bundled grayscale-converted photographs,
    which ship inside the wheel (no download). **Split by image**: training patches
    come only from :data:`PHOTO_TRAIN`, test patches only from :data:`PHOTO_TEST`.
``"phantoms"``
    deepinv's random-ellipse phantom model (``deepinv.utils.phantoms.random_shapes``:
    a Poisson(``n_ellipse``) number of ellipses, intensities summed and clipped to
    ``[0, 1]``), rendered at 256x256 at pixel positions ``2 n / 256 - 1``. Train and
    test phantoms use disjoint seeds (test: ``seed + TEST_SEED_OFFSET``).
``"shepp-logan"``
    scikit-image's 400x400 Shepp-Logan phantom (one image; a test image only).
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from torch import Tensor

from .._checks import positive_int
from ..resample import resample

__all__ = ["DATA_SOURCES", "PHOTO_TEST", "PHOTO_TRAIN", "SPLIT_NOTE", "TEST_SEED_OFFSET", "ground_truth"]

#: Ground-truth sources.
DATA_SOURCES: tuple[str, ...] = ("photos", "phantoms", "shepp-logan")
#: scikit-image photographs used for training patches.
PHOTO_TRAIN: tuple[str, ...] = (
    "astronaut",
    "brick",
    "cell",
    "coins",
    "grass",
    "hubble_deep_field",
    "immunohistochemistry",
    "moon",
    "retina",
    "rocket",
)
#: scikit-image photographs used for test patches (disjoint from :data:`PHOTO_TRAIN`).
PHOTO_TEST: tuple[str, ...] = ("camera", "chelsea", "coffee", "gravel")
#: Seed offset of the test split for generated sources.
TEST_SEED_OFFSET = 1_000_003
SPLIT_NOTE = (
    "photos split by image: train patches from scikit-image's "
    + ", ".join(PHOTO_TRAIN)
    + "; test patches from "
    + ", ".join(PHOTO_TEST)
    + f"; phantoms: test seed = train seed + {TEST_SEED_OFFSET}"
)
_PHANTOM_RASTER = 256


@functools.cache
def _photo(name: str) -> Tensor:
    import skimage.data
    from skimage.color import rgb2gray

    img = getattr(skimage.data, name)()
    if img.ndim == 3:
        img = rgb2gray(img[..., :3])
    img = np.asarray(img, dtype=np.float64)
    if img.max() > 1.0:
        img = img / 255.0
    return torch.from_numpy(img).float()


def _photo_patches(split: str, n: int, patch: int, seed: int) -> Tensor:
    names = PHOTO_TRAIN if split == "train" else PHOTO_TEST
    g = torch.Generator().manual_seed(int(seed) + (0 if split == "train" else TEST_SEED_OFFSET))
    out = torch.empty(n, 1, patch, patch)
    for i in range(n):
        img = _photo(names[i % len(names)])
        h, w = img.shape
        if min(h, w) < patch:
            raise ValueError(f"patch={patch} is larger than photograph {names[i % len(names)]!r} ({h}x{w})")
        top = int(torch.randint(0, h - patch + 1, (1,), generator=g))
        left = int(torch.randint(0, w - patch + 1, (1,), generator=g))
        out[i, 0] = img[top : top + patch, left : left + patch]
    return out


def _phantoms(n: int, seed: int, n_ellipse: int = 30) -> Tensor:
    from deepinv.utils.phantoms import random_shapes

    # deepinv's random_shapes draws from numpy's global generator: seed it, then restore the caller's state
    state = np.random.get_state()  # noqa: NPY002
    np.random.seed(seed)  # noqa: NPY002
    try:
        t = torch.arange(_PHANTOM_RASTER, dtype=torch.float64) * 2 / _PHANTOM_RASTER - 1
        xx, yy = torch.meshgrid(t, t, indexing="ij")
        out = torch.zeros(n, 1, _PHANTOM_RASTER, _PHANTOM_RASTER, dtype=torch.float64)
        for i in range(n):
            for _ in range(np.random.poisson(n_ellipse)):  # noqa: NPY002
                a, b, c, x0, y0, theta = random_shapes(interior=True)
                xr = (xx - x0) * np.cos(theta) + (yy - y0) * np.sin(theta)
                yr = -(xx - x0) * np.sin(theta) + (yy - y0) * np.cos(theta)
                out[i, 0] += a * (((xr / b) ** 2 + (yr / c) ** 2) <= 1)
    finally:
        np.random.set_state(state)  # noqa: NPY002
    return out.clamp(0, 1).float()


def ground_truth(
    source: str,
    split: str,
    n: int,
    resolution: int,
    *,
    seed: int = 0,
    patch: int = 256,
) -> Tensor:
    """``n`` ground-truth images of ``source`` at ``resolution x resolution``.

    Parameters
    ----------
    source : {"photos", "phantoms", "shepp-logan"}
    split : {"train", "test"}
        Photos: which photographs (split by image); phantoms: which seeds.
        Shepp-Logan has one image and ignores ``split`` and ``n``.
    n : int
    resolution : int
    seed : int
    patch : int
        Photos: native side of the square crops.

    Returns
    -------
    Tensor, shape (n, 1, resolution, resolution), float32 (n = 1 for Shepp-Logan)

    Examples
    --------
    >>> x = ground_truth("photos", "test", 2, 32, patch=64)
    >>> x.shape
    torch.Size([2, 1, 32, 32])
    >>> bool(torch.allclose(resample(ground_truth("photos", "test", 2, 64, patch=64), (32, 32)), x, atol=1e-5))
    True
    """
    if source not in DATA_SOURCES:
        raise ValueError(f"unknown data source {source!r}; valid: {', '.join(map(repr, DATA_SOURCES))}")
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    for name, value in (("n", n), ("resolution", resolution), ("patch", patch)):
        positive_int(value, name)
    if source == "photos":
        raster = _photo_patches(split, n, patch, seed)
    elif source == "phantoms":
        raster = _phantoms(n, int(seed) + (0 if split == "train" else TEST_SEED_OFFSET))
    else:
        import skimage.data

        raster = torch.from_numpy(np.asarray(skimage.data.shepp_logan_phantom(), dtype=np.float32))[None, None]
    return resample(raster.double(), (resolution, resolution)).float()
