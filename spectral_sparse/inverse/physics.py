"""Forward operators defined in continuous units, so that one operator exists at every grid.

:func:`make_physics` returns a deepinv ``LinearPhysics`` for an image grid ``(H, W)``.
Every parameter is continuous: lengths are fractions of the field of view (the unit
square ``[0, 1)^2``, periodic where the operator is a convolution), frequencies are in
cycles per field of view, and pixel ``n`` of an ``N``-grid sits at ``n / N`` (the grid
convention of :func:`spectral_sparse.resample` and the spectral layers). The operator
built at another grid is therefore the same continuous operator sampled there, and a
band-limited image measured at two resolutions gives consistent data:

``"denoising"``
    ``A = I`` with Gaussian (``sigma``) or Poisson (``gain``) noise, per pixel.
``"deblur"``
    Periodic Gaussian blur of standard deviation ``width`` (fraction of the field of
    view), applied in Fourier: coefficient ``k`` (integer, cycles per field of view) is
    multiplied by ``exp(-2 pi^2 width^2 |k|^2)``, the transfer function of the
    continuous blur. Measurements are pixel values of the blurred image.
``"inpainting"``
    Multiplication by a mask ``m(t)``: 0 inside ``n_disks`` random disks and ``n_lines``
    random segments (scratches) placed in ``[0, 1)^2`` with ``seed`` (periodic wrap),
    1 elsewhere, sampled at ``t = n / N``.
``"mri"``
    Fourier subsampling of real images. The measured set is a fixed set of integer
    frequencies ``(k_y, k_x)``: ``|k_x|, |k_y| <= k_max`` and ``k_y`` on a sampled line
    (all ``|k_y| <= k_center`` plus random lines ``+-j`` drawn with ``seed`` so that about
    ``1 / acceleration`` of the ``2 k_max + 1`` lines are kept). Measurements are the
    Fourier coefficients of the underlying periodic function (norm ``"forward"``), as
    ``(..., H, W, 2)`` real/imaginary pairs, zero off the measured set; a grid that
    resolves ``k_max`` (``H, W > 2 k_max``) sees exactly the same numbers, a finer one
    nothing more. ``A_dagger`` is the zero-filled reconstruction.
    With ``k_max=None`` the pattern has no upper frequency: line ``+-j`` (``j > k_center``)
    is sampled with probability ``1 / acceleration`` by a draw that depends only on
    ``seed`` and ``j``, and a grid measures every sampled frequency it resolves
    (``|k_y| <= (H - 1) // 2``, ``|k_x| <= (W - 1) // 2``; the Nyquist line is left out).
    The sets nest: a finer grid measures everything a coarser one does, with the same
    numbers, and more (a scanner acquiring further out in k-space).
``"tomography"``
    deepinv's parallel-beam ``Tomography`` with ``n_angles`` fixed angles in
    ``[0, 180)`` degrees, ``circle=False`` (the whole square is measured, detectors
    span its diagonal, one detector per pixel width) and the operator divided by ``N``
    so that a measurement is a line integral with the field of view of side 1 (sums of
    pixels times the pixel size); ``A_dagger`` is the filtered back-projection.
    Square grids only. Consistency across grids is approximate (bilinear rotation).

Every returned physics carries ``kind``, ``params`` (the continuous parameters),
``grid`` (``(H, W)``), ``lipschitz`` (``||A^T A||``, used to make gradient steps
grid-consistent: a step ``A^T(Ax - y) / lipschitz`` is the same continuous update at
every grid) and ``input_mode`` (the deepinv ``ArtifactRemoval`` mode whose image is
grid-consistent: ``"direct"``, ``"adjoint"`` or ``"pinv"``). Noise (``noise_sigma``,
per measurement) is off by default except for denoising.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from .._checks import grid_shape

__all__ = ["DEFAULTS", "PHYSICS_KINDS", "inpainting_mask", "make_physics", "mri_frequencies"]

#: The operator kinds :func:`make_physics` knows.
PHYSICS_KINDS: tuple[str, ...] = ("denoising", "deblur", "inpainting", "mri", "tomography")

#: Default continuous parameters per kind (every key is a valid keyword of :func:`make_physics`).
DEFAULTS: dict[str, dict[str, Any]] = {
    "denoising": {"noise": "gaussian", "sigma": 0.1, "gain": 0.05},
    "deblur": {"width": 0.02, "noise_sigma": 0.0},
    "inpainting": {"n_disks": 12, "radius": 0.05, "n_lines": 4, "line_width": 0.015, "seed": 0, "noise_sigma": 0.0},
    "mri": {"k_max": 24, "k_center": 3, "acceleration": 4.0, "seed": 0, "noise_sigma": 0.0},
    "tomography": {"n_angles": 30, "noise_sigma": 0.0},
}
_INPUT_MODE = {"denoising": "direct", "deblur": "adjoint", "inpainting": "adjoint", "mri": "pinv", "tomography": "pinv"}
_MIN_GRID = 4


def _freqs(n: int, real: bool = False) -> Tensor:
    """Integer frequencies (cycles per field of view) of torch.fft's bins for ``n`` samples."""
    return torch.fft.rfftfreq(n, 1.0 / n) if real else torch.fft.fftfreq(n, 1.0 / n)


def _check_image_grid(x: Any, grid: tuple[int, int], kind: str) -> None:
    """An image must lie on the grid its operator was built for; name both grids otherwise."""
    if isinstance(x, Tensor) and x.ndim >= 2 and tuple(x.shape[-2:]) != tuple(grid):
        got = tuple(int(s) for s in x.shape[-2:])
        raise ValueError(
            f"image grid {got} differs from the grid {tuple(grid)} this {kind} physics was built for; "
            f"build one for the image's grid (make_physics({kind!r}, {got}, ...): the same continuous "
            "operator) or resample the image"
        )


def _noise(sigma: float) -> Any:
    from deepinv.physics import GaussianNoise, ZeroNoise

    return GaussianNoise(sigma=float(sigma)) if sigma > 0 else ZeroNoise()


def _deblur_class() -> type:
    from deepinv.physics import DecomposablePhysics

    class FourierGaussianBlur(DecomposablePhysics):
        """Periodic Gaussian blur as a Fourier multiplier (singular values = transfer function)."""

        def __init__(self, grid: tuple[int, int], width: float, channels: int, dtype: torch.dtype, **kw: Any) -> None:
            ky, kx = _freqs(grid[0]).to(dtype), _freqs(grid[1], real=True).to(dtype)
            transfer = torch.exp(-2 * math.pi**2 * width**2 * (ky[:, None] ** 2 + kx[None, :] ** 2))
            super().__init__(mask=transfer, img_size=(channels, *grid), **kw)
            self.image_grid = tuple(grid)

        def A(self, x: Tensor, mask: Tensor | None = None, **kwargs: Any) -> Tensor:
            if mask is None:
                _check_image_grid(x, self.image_grid, "deblur")
            return super().A(x, mask, **kwargs)

        def V_adjoint(self, x: Tensor) -> Tensor:
            return torch.fft.rfft2(x, norm="ortho")

        def V(self, x: Tensor) -> Tensor:
            return torch.fft.irfft2(x, s=self.img_size[-2:], norm="ortho")

        def U(self, x: Tensor) -> Tensor:
            return self.V(x)

        def U_adjoint(self, x: Tensor) -> Tensor:
            return self.V_adjoint(x)

    return FourierGaussianBlur


def _mri_class() -> type:
    from deepinv.physics import DecomposablePhysics

    class FourierSubsampling(DecomposablePhysics):
        """Real image -> its Fourier coefficients (norm "forward") on a measured set, as real/imag pairs."""

        def __init__(self, grid: tuple[int, int], mask: Tensor, channels: int, **kw: Any) -> None:
            super().__init__(mask=mask / math.sqrt(grid[0] * grid[1]), img_size=(channels, *grid), **kw)
            self.image_grid = tuple(grid)

        def A(self, x: Tensor, mask: Tensor | None = None, **kwargs: Any) -> Tensor:
            if mask is None:
                _check_image_grid(x, self.image_grid, "mri")
            return super().A(x, mask, **kwargs)

        def V_adjoint(self, x: Tensor) -> Tensor:
            return torch.fft.fft2(x, norm="ortho")

        def V(self, x: Tensor) -> Tensor:
            return torch.fft.ifft2(x, norm="ortho").real

        def U(self, x: Tensor) -> Tensor:
            return torch.view_as_real(x)

        def U_adjoint(self, x: Tensor) -> Tensor:
            return torch.view_as_complex(x.contiguous())

    return FourierSubsampling


def _tomography_class() -> type:
    from deepinv.physics import Tomography

    class GridTomography(Tomography):
        """deepinv's Tomography divided by the grid size (line integrals over a unit field of view); A_dagger = FBP."""

        def __init__(self, n_angles: int, width: int, dtype: torch.dtype, **kw: Any) -> None:
            angles = torch.linspace(0, 180, n_angles + 1, dtype=torch.float64)[:-1].to(dtype)
            super().__init__(angles, width, circle=False, normalize=False, adjoint_via_backprop=True, dtype=dtype, **kw)
            # deepinv's own normalisation path: A = radon / operator_norm, and the FBP is rescaled to match
            self.register_buffer("operator_norm", torch.tensor(float(width), dtype=dtype))
            self.normalize = True
            self._auto_grad_adjoint_fn = None
            self._center_rotation(width, dtype)  # deepinv's A already refuses an image on another grid, naming both

        def _center_rotation(self, width: int, dtype: torch.dtype) -> None:
            """Rotate about the field-of-view centre (pixel index ``N / 2``) at every grid.

            deepinv pads the image to ``P = ceil(sqrt(2) N)`` and rotates about the padded
            centre, which lands on pixel ``N / 2`` or half a pixel before it depending on the
            parity of ``P``; that half-pixel wobble would make grids disagree by ~10%. The
            sampling grids are rebuilt with the translation that moves the centre to ``N / 2``
            (detector ``i`` then sits at ``(i - (P - 1) / 2 - delta) / N`` from the centre).
            """
            size = self.radon.all_grids.shape[1]
            pad = size - width
            centre = (size - 1) / 2 - ((width + pad) // 2 - width // 2)
            self.detector_offset = delta = width / 2 - centre
            if delta == 0:
                return
            d = 2 * delta / (size - 1)  # align_corners=True units
            grids = []
            for theta in torch.deg2rad(self.radon.theta.to(torch.float64)).tolist():
                c, s = math.cos(theta), math.sin(theta)
                affine = torch.tensor([[[c, s, d * (1 - c - s)], [-s, c, d * (1 + s - c)]]], dtype=dtype)
                grids.append(torch.nn.functional.affine_grid(affine, [1, 1, size, size], align_corners=True))
            self.radon.all_grids = torch.cat(grids, 2).to(self.radon.all_grids.device)

        def A_dagger(self, y: Tensor, fbp: bool = True, **kwargs: Any) -> Tensor:
            return super().A_dagger(y, fbp=fbp, **kwargs)

    return GridTomography


def _inpainting_class() -> type:
    from deepinv.physics import Inpainting

    class GridInpainting(Inpainting):
        """deepinv's Inpainting that names both grids when an image on another grid comes in."""

        def __init__(self, img_size: tuple[int, int, int], **kw: Any) -> None:
            super().__init__(img_size, **kw)
            self.image_grid = tuple(img_size[-2:])

        def A(self, x: Tensor, mask: Tensor | None = None, **kwargs: Any) -> Tensor:
            if mask is None:
                _check_image_grid(x, self.image_grid, "inpainting")
            return super().A(x, mask, **kwargs)

    return GridInpainting


def mri_frequencies(
    k_max: int | None, k_center: int, acceleration: float, seed: int, grid: tuple[int, int] | None = None
) -> Tensor:
    """The measured integer frequencies ``(k_y, k_x)`` of the ``"mri"`` operator.

    With an int ``k_max`` the set is independent of any grid. With ``k_max=None`` (no
    upper frequency) it is the part of one unbounded pattern that ``grid`` resolves:
    line ``+-j`` (``j > k_center``) is kept when a uniform draw seeded by ``(seed, j)``
    falls below ``1 / acceleration``, so the set at a finer grid contains the set at a
    coarser one.

    Returns
    -------
    LongTensor, shape (K, 2)
        Closed under ``k -> -k`` (real images have Hermitian spectra).

    Examples
    --------
    >>> k = mri_frequencies(4, 1, 3.0, seed=0)
    >>> bool((k.abs() <= 4).all()), len(k) % 9 == 0
    (True, True)
    >>> small, large = (set(map(tuple, mri_frequencies(None, 2, 3.0, 0, grid=(n, n)).tolist())) for n in (16, 32))
    >>> small < large, max(abs(k) for f in small for k in f)
    (True, 7)
    """
    _check_int("k_center", k_center, 0)
    if not (isinstance(acceleration, (int, float)) and acceleration >= 1):
        raise ValueError(f"acceleration must be a number >= 1, got {acceleration!r}")
    if k_max is None:
        if grid is None:
            raise ValueError("mri with k_max=None needs the grid: the measured set is what the grid resolves")
        ky_max, kx_max = (grid[0] - 1) // 2, (grid[1] - 1) // 2
        if min(ky_max, kx_max) < k_center:
            raise ValueError(
                f"grid {grid} cannot take mri with k_center={k_center}: every side must exceed 2 * k_center"
            )

        def draw(j: int) -> float:  # one uniform per line, the same at every grid
            gen = torch.Generator().manual_seed(int(seed) * 1_000_003 + j)
            return float(torch.rand((), generator=gen, dtype=torch.float64))

        outer = range(k_center + 1, ky_max + 1)
        chosen = torch.tensor([j for j in outer if draw(j) < 1 / acceleration], dtype=torch.long)
    else:
        _check_int("k_max", k_max, 1)
        if k_center > k_max:
            raise ValueError(f"k_center ({k_center}) must not exceed k_max ({k_max})")
        ky_max = kx_max = k_max
        n_lines = 2 * k_max + 1
        pairs = max(0, round((n_lines / acceleration - (2 * k_center + 1)) / 2))
        outer = torch.arange(k_center + 1, k_max + 1)
        chosen = outer[torch.randperm(len(outer), generator=torch.Generator().manual_seed(int(seed)))[:pairs]]
    lines = torch.cat([torch.arange(-k_center, k_center + 1), chosen, -chosen]).sort().values
    kx = torch.arange(-kx_max, kx_max + 1)
    return torch.stack(torch.meshgrid(lines, kx, indexing="ij"), dim=-1).reshape(-1, 2)


def inpainting_mask(
    grid: tuple[int, int],
    *,
    n_disks: int = 12,
    radius: float = 0.05,
    n_lines: int = 4,
    line_width: float = 0.015,
    seed: int = 0,
) -> Tensor:
    """The inpainting mask ``m(t)`` (1 = observed) sampled at ``t = (i / H, j / W)``.

    Disks: centres uniform in ``[0, 1)^2``, radii uniform in ``[radius / 2, 3 radius / 2]``.
    Segments: centres uniform, lengths uniform in ``[0.2, 0.6]``, random angle, width
    ``line_width``. Distances use the periodic (minimum image) convention.

    Returns
    -------
    Tensor, shape (H, W), float32 of 0 and 1

    Examples
    --------
    >>> m = inpainting_mask((32, 32), n_disks=3, n_lines=1, seed=1)
    >>> m.shape, 0.3 < float(m.mean()) < 1.0
    (torch.Size([32, 32]), True)
    """
    g = torch.Generator().manual_seed(int(seed))
    t_y = torch.arange(grid[0], dtype=torch.float64)[:, None] / grid[0]
    t_x = torch.arange(grid[1], dtype=torch.float64)[None, :] / grid[1]

    def wrap(d: Tensor) -> Tensor:
        return d - torch.round(d)

    keep = torch.ones(grid, dtype=torch.bool)
    disks = torch.rand(n_disks, 3, generator=g, dtype=torch.float64)
    for cy, cx, r in disks.tolist():
        r = radius * (0.5 + r)
        keep &= wrap(t_y - cy) ** 2 + wrap(t_x - cx) ** 2 > r**2
    segs = torch.rand(n_lines, 4, generator=g, dtype=torch.float64)
    for cy, cx, length, angle in segs.tolist():
        length, angle = 0.2 + 0.4 * length, math.pi * angle
        dy, dx = wrap(t_y - cy), wrap(t_x - cx)
        along = dy * math.sin(angle) + dx * math.cos(angle)
        across = -dy * math.cos(angle) + dx * math.sin(angle)
        keep &= ~((along.abs() <= length / 2) & (across.abs() <= line_width / 2))
    return keep.float()


def _check_int(name: str, value: Any, low: int) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        raise ValueError(f"{name} must be an int >= {low}, got {value!r}")


def _check_float(name: str, value: Any, low: float, strict: bool) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < low or (strict and value == low):
        raise ValueError(f"{name} must be {'>' if strict else '>='} {low}, got {value!r}")
    return float(value)


def make_physics(
    kind: str,
    shape: int | Sequence[int],
    *,
    channels: int = 1,
    dtype: torch.dtype = torch.float32,
    device: str | torch.device = "cpu",
    **params: Any,
) -> Any:
    """Build the deepinv forward operator ``kind`` on the grid ``shape`` from continuous parameters.

    Parameters
    ----------
    kind : {"denoising", "deblur", "inpainting", "mri", "tomography"}
    shape : int or (H, W) or (C, H, W)
        The image grid (an int means square); a leading channel entry is ignored
        (use ``channels``).
    channels : int
        Image channels ``C``.
    dtype : torch.dtype
        ``float32`` or ``float64``.
    device : str or torch.device
    **params
        The continuous parameters of ``kind``; see :data:`DEFAULTS` and the module
        documentation. Unknown names raise ``ValueError``.

    Returns
    -------
    deepinv.physics.LinearPhysics
        Images ``(B, C, H, W)``; measurements ``(B, C, H, W)`` (denoising, deblur,
        inpainting), ``(B, C, H, W, 2)`` (mri) or ``(B, C, D, n_angles)`` (tomography).
        Extra attributes: ``kind``, ``params``, ``grid``, ``lipschitz``, ``input_mode``.

    Raises
    ------
    ValueError
        Unknown kind or parameter, bad parameter value, or a grid the operator cannot
        take (too small, non-square for tomography, not resolving ``k_max`` for mri).
        The returned operator's ``A`` (and so ``physics(x)``) raises ``ValueError``
        naming both grids for an image on another grid than ``shape`` (every kind but
        ``"denoising"``, whose ``A = I`` takes any grid).
    TypeError
        A ``dtype`` other than float32 or float64.

    Examples
    --------
    >>> import torch
    >>> physics = make_physics("deblur", 32, width=0.03)
    >>> physics(torch.rand(2, 1, 32, 32)).shape
    torch.Size([2, 1, 32, 32])
    >>> make_physics("mri", (16, 16), k_max=4).A(torch.rand(1, 1, 16, 16)).shape
    torch.Size([1, 1, 16, 16, 2])
    """
    if kind not in PHYSICS_KINDS:
        raise ValueError(f"unknown physics {kind!r}; valid kinds: {', '.join(map(repr, PHYSICS_KINDS))}")
    unknown = sorted(set(params) - set(DEFAULTS[kind]))
    if unknown:
        raise ValueError(
            f"unknown parameter(s) {', '.join(map(repr, unknown))} for {kind!r}; valid: {', '.join(DEFAULTS[kind])}"
        )
    if dtype not in (torch.float32, torch.float64):
        raise TypeError(f"dtype must be torch.float32 or torch.float64, got {dtype}")
    _check_int("channels", channels, 1)
    grid = grid_shape(shape, 2, "shape", minimum=_MIN_GRID, trailing=True, error=ValueError)
    p = {**DEFAULTS[kind], **params}
    sigma = _check_float("noise_sigma", p.get("noise_sigma", 0.0), 0.0, strict=False)
    common = {"device": device}
    if kind == "denoising":
        from deepinv.physics import Denoising, GaussianNoise, PoissonNoise

        if p["noise"] == "gaussian":
            noise = GaussianNoise(sigma=_check_float("sigma", p["sigma"], 0.0, strict=False))
        elif p["noise"] == "poisson":
            noise = PoissonNoise(gain=_check_float("gain", p["gain"], 0.0, strict=True), clip_positive=True)
        else:
            raise ValueError(f"noise must be 'gaussian' or 'poisson', got {p['noise']!r}")
        physics, lipschitz = Denoising(noise_model=noise, **common), 1.0
    elif kind == "deblur":
        width = _check_float("width", p["width"], 0.0, strict=True)
        physics = _deblur_class()(grid, width, channels, dtype, noise_model=_noise(sigma), **common)
        lipschitz = 1.0
    elif kind == "inpainting":
        for name in ("n_disks", "n_lines", "seed"):
            _check_int(name, p[name], 0)
        _check_float("radius", p["radius"], 0.0, strict=False)
        _check_float("line_width", p["line_width"], 0.0, strict=False)
        mask = inpainting_mask(grid, **{k: p[k] for k in ("n_disks", "radius", "n_lines", "line_width", "seed")})
        mask = mask.to(dtype)[None].expand(channels, *grid).clone()
        physics = _inpainting_class()((channels, *grid), mask=mask, noise_model=_noise(sigma), **common)
        lipschitz = 1.0
    elif kind == "mri":
        k = mri_frequencies(p["k_max"], p["k_center"], p["acceleration"], p["seed"], grid=grid)
        if p["k_max"] is not None and min(grid) <= 2 * p["k_max"]:
            raise ValueError(
                f"grid {grid} cannot take mri with k_max={p['k_max']}: every side must exceed 2 * k_max = "
                f"{2 * p['k_max']} so that all measured frequencies are resolved"
            )
        mask = torch.zeros(grid, dtype=dtype)
        mask[k[:, 0] % grid[0], k[:, 1] % grid[1]] = 1.0
        physics = _mri_class()(grid, mask, channels, noise_model=_noise(sigma), **common)
        lipschitz = 1.0 / (grid[0] * grid[1])
    else:
        _check_int("n_angles", p["n_angles"], 1)
        if grid[0] != grid[1]:
            raise ValueError(f"tomography needs a square grid, got {grid}")
        physics = _tomography_class()(p["n_angles"], grid[0], dtype, noise_model=_noise(sigma), **common)
        lipschitz = _power_norm(physics, grid, dtype)
    physics.kind, physics.params, physics.grid = kind, p, grid
    physics.lipschitz, physics.input_mode = float(lipschitz), _INPUT_MODE[kind]
    return physics


_NORMS: dict[tuple, float] = {}


def _power_norm(physics: Any, grid: tuple[int, int], dtype: torch.dtype) -> float:
    """``||A^T A||`` by power iteration (deterministic start; cached per operator and grid)."""
    key = (len(physics.angles), grid, dtype)
    if key not in _NORMS:
        x = torch.rand(1, 1, *grid, generator=torch.Generator().manual_seed(0), dtype=dtype)
        with torch.no_grad():
            value = physics.compute_sqnorm(x, max_iter=60, tol=1e-4, verbose=False)
        _NORMS[key] = float(value)
    return _NORMS[key]
