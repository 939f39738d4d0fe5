r"""Common corruptions at any resolution, five severities each, in pure torch (JPEG through Pillow).

The parameters are those of CIFAR-10-C (Hendrycks & Dietterich, 2019, whose
images are 32x32, close to MNIST's 28x28), adapted to images in ``[0, 1]``
(grayscale or RGB, any grid) so that a severity means the same at every
resolution wherever the corruption has a length scale: blur widths and
pixelation cells are fractions of the field of view (the CIFAR pixel lengths
divided by 32), not pixel counts.

============== ================================================================ =====================================
name           what it does (``s`` = severity 1..5)                             parameter per severity
============== ================================================================ =====================================
gaussian_noise ``x + N(0, c^2)`` per pixel                                      std ``c`` = .04 .06 .08 .09 .10
shot_noise     ``Poisson(x c) / c`` per pixel                                   photons ``c`` = 500 250 100 75 50
impulse_noise  a fraction ``c`` of pixels set to 0 or 1 (half each)             ``c`` = .01 .02 .03 .05 .07
gaussian_blur  circular convolution with a Gaussian of std ``c`` (field of      ``c * 32`` = .4 .6 .7 .8 1.0
               view = 1)
defocus_blur   circular convolution with a uniform disk of radius ``r``, then   ``32 (r, a)`` = (.3, .4) (.4, .5)
               a Gaussian of std ``a`` (both fractions of the field of view)    (.5, .6) (1, .2) (1.5, .1)
contrast       ``(x - m) c + m``, ``m`` the image mean                          ``c`` = .75 .5 .4 .3 .15
brightness     HSV value ``V + c`` (grayscale: ``x + c``)                       ``c`` = .05 .1 .15 .2 .3
pixelate       mean over ``M x M`` cells covering the field of view, each       ``M = round(32 c)``, ``c`` = .95 .9
               pixel takes its cell's value                                     .85 .75 .65 (M = 30 29 27 24 21)
jpeg           JPEG round trip (Pillow) at quality ``c``                        ``c`` = 80 65 58 50 40
============== ================================================================ =====================================

Blurs are applied in the Fourier domain with the exact transform of the
continuous kernel (Gaussian ``exp(-2 pi^2 c^2 |k|^2)``, disk
``2 J1(2 pi r |k|) / (2 pi r |k|)``), so they are the same continuous
operation on every grid. Noise is i.i.d. per pixel (white), with the same
per-pixel statistics at every grid, and JPEG works on 8x8 pixel blocks: these
two are defined in pixels, as in the original benchmark. All results are
clamped to ``[0, 1]``; noise comes from a generator seeded with ``seed``, so a
call is deterministic.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import progress as progress_bar
from .gradient import Domain, check_domain

__all__ = ["CORRUPTIONS", "SEVERITY_PARAMETERS", "corrupt", "evaluate_corruptions"]

#: Parameter of every corruption at severities 1..5 (see the module docstring for their meaning).
SEVERITY_PARAMETERS: dict[str, tuple[Any, ...]] = {
    "gaussian_noise": (0.04, 0.06, 0.08, 0.09, 0.10),
    "shot_noise": (500, 250, 100, 75, 50),
    "impulse_noise": (0.01, 0.02, 0.03, 0.05, 0.07),
    "gaussian_blur": tuple(v / 32 for v in (0.4, 0.6, 0.7, 0.8, 1.0)),
    "defocus_blur": tuple((r / 32, a / 32) for r, a in ((0.3, 0.4), (0.4, 0.5), (0.5, 0.6), (1.0, 0.2), (1.5, 0.1))),
    "contrast": (0.75, 0.5, 0.4, 0.3, 0.15),
    "brightness": (0.05, 0.1, 0.15, 0.2, 0.3),
    "pixelate": tuple(round(32 * c) for c in (0.95, 0.9, 0.85, 0.75, 0.65)),
    "jpeg": (80, 65, 58, 50, 40),
}

#: Names accepted by :func:`corrupt`, in table order.
CORRUPTIONS: tuple[str, ...] = tuple(SEVERITY_PARAMETERS)


def _frequencies(h: int, w: int, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``|k|`` on the rfft2 grid of an (h, w) image (integer frequencies of the unit domain), shape (h, w//2+1)."""
    ky = torch.fft.fftfreq(h, d=1.0 / h, dtype=dtype, device=device)
    kx = torch.fft.rfftfreq(w, d=1.0 / w, dtype=dtype, device=device)
    return torch.sqrt(ky[:, None] ** 2 + kx[None, :] ** 2)


def _filter(x: Tensor, transfer: Tensor) -> Tensor:
    h, w = x.shape[-2:]
    return torch.fft.irfft2(torch.fft.rfft2(x) * transfer, s=(h, w))


def _gaussian(k: Tensor, sigma: float) -> Tensor:
    return torch.exp(-2 * math.pi**2 * sigma**2 * k**2)


def _disk(k: Tensor, radius: float) -> Tensor:
    z = 2 * math.pi * radius * k
    safe = torch.where(z > 0, z, torch.ones_like(z))
    return torch.where(z > 0, 2 * torch.special.bessel_j1(safe) / safe, torch.ones_like(z))


def _jpeg(x: Tensor, quality: int) -> Tensor:
    import numpy as np
    from PIL import Image

    out = torch.empty_like(x)
    rgb = x.shape[1] == 3
    for i in range(x.shape[0]):
        planes = [x[i]] if rgb else list(x[i])
        results = []
        for plane in planes:
            arr = (plane.permute(1, 2, 0) if rgb else plane).mul(255).round().clamp(0, 255).byte().cpu().numpy()
            buf = io.BytesIO()
            Image.fromarray(arr, mode="RGB" if rgb else "L").save(buf, format="JPEG", quality=int(quality))
            buf.seek(0)
            dec = torch.from_numpy(np.array(Image.open(buf), dtype=np.float32) / 255.0)
            results.append(dec.permute(2, 0, 1) if rgb else dec)
        out[i] = results[0] if rgb else torch.stack(results)
    return out


def _check_severity(severity: int) -> int:
    if isinstance(severity, bool) or not isinstance(severity, int) or not 1 <= severity <= 5:
        raise ValueError(f"severity must be an int in 1..5, got {severity!r}")
    return severity


def _check_name(name: str) -> str:
    if name not in SEVERITY_PARAMETERS:
        raise ValueError(f"unknown corruption {name!r}; known corruptions: {', '.join(CORRUPTIONS)}")
    return name


def corrupt(images: Tensor, name: str, severity: int, seed: int = 0, domain: Domain = (0.0, 1.0)) -> Tensor:
    """Apply one corruption at one severity to a batch of images on any grid.

    Parameters
    ----------
    images : Tensor, shape (n, C, H, W), real floating
        Images with values in ``domain`` (mapped affinely to [0, 1] for the
        corruption and back afterwards); ``C = 3`` is read as RGB by
        ``brightness`` and ``jpeg``, any other ``C`` as independent gray planes.
    name : str
        One of :data:`CORRUPTIONS`.
    severity : int
        1 (mild) to 5 (severe); the parameters are in :data:`SEVERITY_PARAMETERS`.
    seed : int
        Seeds the noise (a fresh generator per call: the same call gives the same result).
    domain : (lo, hi)
        The images' value range.

    Returns
    -------
    Tensor, shape and dtype of ``images``, values in ``domain``

    Raises
    ------
    ValueError
        Unknown corruption, severity outside 1..5, images not (n, C, H, W), bad domain.
    TypeError
        Non-tensor or non-floating images.

    Examples
    --------
    >>> import torch
    >>> x = torch.full((1, 1, 16, 16), 0.5)
    >>> [round(v, 6) for v in corrupt(x, "brightness", 3).unique().tolist()]   # + 0.15
    [0.65]
    >>> torch.equal(corrupt(x, "gaussian_noise", 2, seed=1), corrupt(x, "gaussian_noise", 2, seed=1))
    True
    """
    name = _check_name(name)
    severity = _check_severity(severity)
    domain = check_domain(domain)
    if domain is None:
        raise ValueError("corruptions need a finite domain (lo, hi), got None")
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim != 4:
        raise ValueError(f"images must have shape (n, C, H, W), got {tuple(images.shape)}")
    if images.is_complex() or not images.is_floating_point():
        raise TypeError(f"images must be real floating point, got dtype {images.dtype}")
    c = SEVERITY_PARAMETERS[name][severity - 1]
    lo, hi = domain
    x = ((images.detach() - lo) / (hi - lo)).clamp(0, 1)
    gen = torch.Generator().manual_seed(int(seed))
    h, w = x.shape[-2:]
    if name == "gaussian_noise":
        out = x + c * torch.randn(x.shape, generator=gen, dtype=x.dtype).to(x.device)
    elif name == "shot_noise":
        out = torch.poisson((x * c).cpu(), generator=gen).to(x.device) / c
    elif name == "impulse_noise":
        u = torch.rand(x.shape, generator=gen, dtype=x.dtype).to(x.device)
        out = torch.where(u < c / 2, 0.0, torch.where(u < c, 1.0, x))
    elif name == "gaussian_blur":
        out = _filter(x, _gaussian(_frequencies(h, w, x.dtype, x.device), c))
    elif name == "defocus_blur":
        k = _frequencies(h, w, x.dtype, x.device)
        out = _filter(x, _disk(k, c[0]) * _gaussian(k, c[1]))
    elif name == "contrast":
        mean = x.mean(dim=(1, 2, 3), keepdim=True)
        out = (x - mean) * c + mean
    elif name == "brightness":
        v = x.amax(dim=1, keepdim=True)
        new_v = (v + c).clamp(0, 1)
        out = torch.where(v > 0, x * new_v / v.clamp_min(1e-12), new_v.expand_as(x))
    elif name == "pixelate":
        cells = F.interpolate(x, size=(c, c), mode="area")
        out = F.interpolate(cells, size=(h, w), mode="nearest")
    else:
        out = _jpeg(x, c)
    return (out.clamp(0, 1) * (hi - lo) + lo).to(images.dtype)


def evaluate_corruptions(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    corruptions: Sequence[str] | None = None,
    severities: Iterable[int] = (1, 2, 3, 4, 5),
    *,
    seed: int = 0,
    domain: Domain = (0.0, 1.0),
    batch_size: int = 250,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Accuracy of a classifier under every corruption and severity.

    Parameters
    ----------
    model : nn.Module
    images : Tensor, shape (n, C, H, W)
        Test images at the grid to evaluate at, values in ``domain``.
    labels : LongTensor, shape (n,)
    corruptions : sequence of str, optional
        Names from :data:`CORRUPTIONS` (default: all).
    severities : iterable of int
        Severities in 1..5.
    seed, domain
        Passed to :func:`corrupt` (the same seed for every corruption).
    batch_size : int
        Images per forward call.
    progress : bool
        Show a tqdm bar over the corruptions.

    Returns
    -------
    list of dict
        ``{corruption, severity, accuracy, n, resolution}``; the first row is the
        clean accuracy (``corruption="clean"``, ``severity=0``).

    Examples
    --------
    >>> import torch
    >>> model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 2))
    >>> x, y = torch.rand(4, 1, 8, 8), torch.tensor([0, 1, 0, 1])
    >>> rows = evaluate_corruptions(model, x, y, ["contrast", "jpeg"], severities=[1, 5])
    >>> [(r["corruption"], r["severity"]) for r in rows]
    [('clean', 0), ('contrast', 1), ('contrast', 5), ('jpeg', 1), ('jpeg', 5)]
    """
    from .evaluate import accuracy

    names = list(CORRUPTIONS if corruptions is None else corruptions)
    for n in names:
        _check_name(n)
    sev = [_check_severity(s) for s in severities]
    if not names or not sev:
        raise ValueError("give at least one corruption and one severity")
    h, w = images.shape[-2:] if isinstance(images, Tensor) and images.ndim == 4 else (0, 0)
    res = h if h == w else f"{h}x{w}"
    clean = accuracy(model, images, labels, batch_size)
    rows = [{"corruption": "clean", "severity": 0, "accuracy": clean, "n": len(labels)}]
    for name in progress_bar(names, progress, desc="corruptions"):
        for s in sev:
            acc = accuracy(model, corrupt(images, name, s, seed=seed, domain=domain), labels, batch_size)
            rows.append({"corruption": name, "severity": s, "accuracy": acc, "n": len(labels)})
    for r in rows:
        r["resolution"] = res
    return rows
