r"""Analytic shapes: a classification set whose images exist at every resolution.

Each sample is a plane shape (disk, square, triangle, cross, ring or bar) with
a random centre, size and rotation, placed on the periodic unit square
``[0, 1)^2``. Its image is not a raster but a continuous function: the
trigonometric polynomial

.. math:: f(x) = \sum_{|k| \le k_{max}} w(|k|)\, \hat 1_S(k)\, e^{2\pi i k \cdot x},

whose coefficients :math:`\hat 1_S(k) = \int_S e^{-2\pi i k\cdot x} dx` are the
exact Fourier coefficients of the shape's indicator, computed in closed form
(edge sums for polygons, a Bessel function for disks and rings), and
``w`` is a smooth radial cosine taper that vanishes at ``|k| = kmax + 1``.
The band limit is isotropic, so a rotated shape looks the same at every angle.

A grid ``N`` samples ``f`` at ``x = n / N``. Every grid with ``N_i > 2 kmax``
on both axes resolves ``f`` exactly: the 28x28 image, interpolated with
:func:`spectral_sparse.resample` to 56x56, *is* the 56x56 image (up to
rounding). That makes the set a clean test of discretization invariance: the
truth is the same function on every grid.

Axis ``0`` of a coefficient grid and of an image is the first grid axis (rows,
``H``), axis ``1`` the second (columns, ``W``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from .._checks import as_shape

__all__ = ["CLASSES", "make_shapes", "render_coefficients", "shape_coefficients"]

#: Class names, in label order.
CLASSES: tuple[str, ...] = ("disk", "square", "triangle", "cross", "ring", "bar")

# Geometry in units of the size parameter s (chosen so areas are comparable, 2.1 s^2 to 3.1 s^2,
# and the mean intensity says little about the class).
_SQUARE_HALF = 0.85
_TRIANGLE_RADIUS = 1.3
_CROSS_ARM, _CROSS_HALF_WIDTH = 1.1, 0.35
_RING_OUTER, _RING_INNER = 1.1, 0.6
_BAR_HALF_LENGTH, _BAR_HALF_WIDTH = 1.3, 0.4


def _polygon_templates() -> dict[str, Tensor]:
    """Counter-clockwise vertices of the polygonal classes, centred, unrotated, for s = 1."""
    a, w = _CROSS_ARM, _CROSS_HALF_WIDTH
    tri = [
        (_TRIANGLE_RADIUS * math.cos(t), _TRIANGLE_RADIUS * math.sin(t))
        for t in (math.pi / 2, math.pi / 2 + 2 * math.pi / 3, math.pi / 2 + 4 * math.pi / 3)
    ]
    h, bl, bw = _SQUARE_HALF, _BAR_HALF_LENGTH, _BAR_HALF_WIDTH
    polys = {
        "square": [(-h, -h), (h, -h), (h, h), (-h, h)],
        "triangle": tri,
        "cross": [
            *[(w, -w), (a, -w), (a, w), (w, w), (w, a), (-w, a)],
            *[(-w, w), (-a, w), (-a, -w), (-w, -w), (-w, -a), (w, -a)],
        ],
        "bar": [(-bl, -bw), (bl, -bw), (bl, bw), (-bl, bw)],
    }
    return {name: torch.tensor(v, dtype=torch.float64) for name, v in polys.items()}


def _frequencies(kmax: int) -> Tensor:
    """Integer frequencies ``(2 kmax + 1, 2 kmax + 1, 2)`` as float64, ``k = -kmax .. kmax`` per axis."""
    k = torch.arange(-kmax, kmax + 1, dtype=torch.float64)
    return torch.stack(torch.meshgrid(k, k, indexing="ij"), dim=-1)


def _polygon_ft(vertices: Tensor, xi: Tensor) -> Tensor:
    r"""Exact Fourier transform of polygon indicators at frequencies ``xi``.

    By the divergence theorem, for ``xi != 0``
    ``∫_P e^{-2πi ξ·x} dx = Σ_edges i (ξ × e) / (2π |ξ|^2) · e^{-2πi ξ·m} sinc(ξ·e)``
    with ``e`` the edge vector, ``m`` its midpoint and ``ξ × e = ξ_0 e_1 - ξ_1 e_0``;
    at ``xi = 0`` it is the area.

    Parameters
    ----------
    vertices : Tensor, shape (B, V, 2), float64
        Counter-clockwise vertices (any simple polygon).
    xi : Tensor, shape (F, 2), float64

    Returns
    -------
    Tensor, shape (B, F), complex128
    """
    p, q = vertices, torch.roll(vertices, -1, dims=1)
    e, m = q - p, (p + q) / 2  # (B, V, 2)
    xe = torch.einsum("fj,bvj->bfv", xi, e)  # ξ·e
    xm = torch.einsum("fj,bvj->bfv", xi, m)  # ξ·m
    cross = xi[None, :, None, 0] * e[:, None, :, 1] - xi[None, :, None, 1] * e[:, None, :, 0]
    norm2 = (xi**2).sum(-1)  # (F,)
    safe = torch.where(norm2 > 0, norm2, torch.ones_like(norm2))
    edge = torch.polar(torch.sinc(xe), -2 * math.pi * xm)  # e^{-2πi ξ·m} sinc(ξ·e)
    ft = (1j * cross * edge).sum(-1) / (2 * math.pi * safe)
    area = 0.5 * (p[..., 0] * q[..., 1] - q[..., 0] * p[..., 1]).sum(-1)  # shoelace, (B,)
    return torch.where(norm2 > 0, ft, area[:, None].to(ft.dtype))


def _disk_ft(radius: Tensor, xi: Tensor) -> Tensor:
    """Exact Fourier transform of centred disks: ``r J1(2π r |ξ|) / |ξ|`` (``π r^2`` at 0); (B,), (F, 2) -> (B, F)."""
    rho = xi.norm(dim=-1)[None, :]
    r = radius[:, None]
    safe = torch.where(rho > 0, rho, torch.ones_like(rho))
    ft = r * torch.special.bessel_j1(2 * math.pi * r * safe) / safe
    return torch.where(rho > 0, ft, math.pi * r**2).to(torch.complex128)


def shape_coefficients(
    n: int,
    seed: int = 0,
    kmax: int = 7,
    size_range: tuple[float, float] = (0.16, 0.26),
    classes: Sequence[str] = CLASSES,
) -> tuple[Tensor, Tensor]:
    """Fourier coefficients of ``n`` random band-limited shapes.

    Parameters
    ----------
    n : int
        Number of samples (labels are balanced up to one, in shuffled order).
    seed : int
        The samples are a deterministic function of ``(n, seed, kmax, size_range, classes)``.
    kmax : int
        Band limit: coefficients vanish for ``|k| >= kmax + 1`` (Euclidean norm), so
        every grid with more than ``2 kmax`` points per axis resolves the image.
    size_range : (float, float)
        Range of the size parameter ``s`` (a disk has radius ``s``; the other
        shapes have comparable area), in units of the periodic domain.
    classes : sequence of str
        Subset of :data:`CLASSES`; label ``i`` means ``classes[i]``.

    Returns
    -------
    coefficients : Tensor, shape (n, 2 kmax + 1, 2 kmax + 1), complex128
        ``coefficients[b, kmax + k0, kmax + k1]`` multiplies ``exp(2πi (k0 x0 + k1 x1))``;
        Hermitian (``c(-k) = conj c(k)``), so the images are real.
    labels : LongTensor, shape (n,)

    Examples
    --------
    >>> c, y = shape_coefficients(4, seed=1)
    >>> c.shape, y.shape
    (torch.Size([4, 15, 15]), torch.Size([4]))
    >>> bool(torch.allclose(c, c.flip(1, 2).conj()))
    True
    """
    if not isinstance(n, int) or isinstance(n, bool) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    if not isinstance(kmax, int) or isinstance(kmax, bool) or kmax < 0:
        raise ValueError(f"kmax must be a non-negative int, got {kmax!r}")
    lo, hi = size_range
    if not 0 < lo <= hi:
        raise ValueError(f"size_range must satisfy 0 < low <= high, got {tuple(size_range)}")
    unknown = [c for c in classes if c not in CLASSES]
    if unknown or len(classes) == 0 or len(set(classes)) != len(classes):
        raise ValueError(f"classes must be distinct names from {CLASSES}, got {list(classes)}")

    gen = torch.Generator().manual_seed(int(seed))
    labels = torch.arange(n) % len(classes)
    labels = labels[torch.randperm(n, generator=gen)]
    centre = torch.rand(n, 2, generator=gen, dtype=torch.float64)
    size = lo + (hi - lo) * torch.rand(n, generator=gen, dtype=torch.float64)
    angle = 2 * math.pi * torch.rand(n, generator=gen, dtype=torch.float64)

    freq = _frequencies(kmax)
    xi = freq.reshape(-1, 2)
    coeffs = torch.zeros(n, xi.shape[0], dtype=torch.complex128)
    templates = _polygon_templates()
    for label, name in enumerate(classes):
        sel = torch.nonzero(labels == label).flatten()
        if sel.numel() == 0:
            continue
        s = size[sel]
        if name == "disk":
            ft = _disk_ft(s, xi)
        elif name == "ring":
            ft = _disk_ft(_RING_OUTER * s, xi) - _disk_ft(_RING_INNER * s, xi)
        else:
            cos, sin = torch.cos(angle[sel]), torch.sin(angle[sel])
            rot = torch.stack([torch.stack([cos, -sin], -1), torch.stack([sin, cos], -1)], -2)  # (b, 2, 2)
            verts = torch.einsum("bij,vj->bvi", rot, templates[name]) * s[:, None, None]
            ft = _polygon_ft(verts, xi)
        # translation by the centre c multiplies the transform by e^{-2πi k·c}
        ft = ft * torch.polar(torch.ones_like(ft.real), -2 * math.pi * (centre[sel] @ xi.T))
        coeffs[sel] = ft

    rho = freq.norm(dim=-1).reshape(-1)
    taper = torch.where(rho < kmax + 1, 0.5 * (1 + torch.cos(math.pi * rho / (kmax + 1))), torch.zeros_like(rho))
    coeffs = coeffs * taper
    return coeffs.reshape(n, 2 * kmax + 1, 2 * kmax + 1), labels


def render_coefficients(coefficients: Tensor, resolution: int | Sequence[int], dtype=torch.float32) -> Tensor:
    """Evaluate band-limited images given by their Fourier coefficients on a grid.

    Parameters
    ----------
    coefficients : Tensor, shape (n, 2 kmax + 1, 2 kmax + 1), complex
        As returned by :func:`shape_coefficients` (Hermitian).
    resolution : int or (int, int)
        Grid ``(H, W)``; an int means a square grid. Each axis needs more than
        ``2 kmax`` points to hold the band exactly.
    dtype : torch.dtype
        Real dtype of the result.

    Returns
    -------
    Tensor, shape (n, 1, H, W)
        ``f(h / H, w / W)``, computed in float64 by separable sums.

    Examples
    --------
    >>> c, _ = shape_coefficients(2, seed=0)
    >>> render_coefficients(c, (28, 40)).shape
    torch.Size([2, 1, 28, 40])
    """
    grid = as_shape(resolution, "resolution")
    if len(grid) == 1:
        grid = grid * 2
    if len(grid) != 2:
        raise ValueError(f"resolution must be an int or (H, W), got {resolution!r}")
    if coefficients.ndim != 3 or coefficients.shape[1] != coefficients.shape[2] or coefficients.shape[1] % 2 != 1:
        raise ValueError(f"coefficients must have shape (n, 2 kmax + 1, 2 kmax + 1), got {tuple(coefficients.shape)}")
    kmax = (coefficients.shape[1] - 1) // 2
    if min(grid) <= 2 * kmax:
        raise ValueError(
            f"grid {grid} does not resolve the band limit kmax={kmax}: each axis needs > {2 * kmax} points"
        )
    k = torch.arange(-kmax, kmax + 1)

    def basis(size: int) -> Tensor:  # (size, 2 kmax + 1): exp(2πi k n / N), phase reduced mod N in integers
        phase = (torch.arange(size)[:, None] * k[None, :]) % size
        return torch.polar(torch.ones(phase.shape, dtype=torch.float64), 2 * math.pi * phase.double() / size)

    c = coefficients.to(torch.complex128)
    img = torch.einsum("hk,bkl,wl->bhw", basis(grid[0]), c, basis(grid[1])).real
    return img[:, None].to(dtype)


def make_shapes(
    n: int,
    resolution: int | Sequence[int],
    seed: int = 0,
    kmax: int = 7,
    size_range: tuple[float, float] = (0.16, 0.26),
    classes: Sequence[str] = CLASSES,
) -> tuple[Tensor, Tensor]:
    """Random band-limited shapes rendered on one grid.

    The same ``(n, seed, kmax, size_range, classes)`` give the same shapes on
    every grid: ``make_shapes(n, 28, seed)`` and ``make_shapes(n, 56, seed)``
    are samples of the same functions.

    Parameters
    ----------
    n : int
    resolution : int or (int, int)
        Grid ``(H, W)``; each axis needs more than ``2 kmax`` points.
    seed, kmax, size_range, classes
        See :func:`shape_coefficients`.

    Returns
    -------
    images : Tensor, shape (n, 1, H, W), float32
        Values roughly in ``[-0.1, 1.1]`` (0 outside the shape, 1 inside, smooth edges).
    labels : LongTensor, shape (n,)
        Indices into ``classes``.

    Examples
    --------
    >>> import spectral_sparse as ss
    >>> x28, y = make_shapes(8, 28, seed=3)
    >>> x56, _ = make_shapes(8, 56, seed=3)
    >>> x28.shape, x28.dtype, y.dtype
    (torch.Size([8, 1, 28, 28]), torch.float32, torch.int64)
    >>> float((ss.resample(x28.double(), (56, 56)) - x56).abs().max()) < 1e-5
    True
    """
    coeffs, labels = shape_coefficients(n, seed=seed, kmax=kmax, size_range=size_range, classes=classes)
    return render_coefficients(coeffs, resolution), labels
