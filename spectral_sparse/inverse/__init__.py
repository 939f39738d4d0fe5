"""Inverse problems at any resolution, with deepinv: physics, reconstructors, offline data, training.

* :func:`make_physics` — deepinv forward operators from continuous parameters
  (denoising, deblur, inpainting, mri, tomography), the same operator at every grid.
* :class:`SpectralDenoiser`, :func:`artifact_removal`, :class:`UnrolledPGD`, :class:`UnrolledHQS`,
  :func:`build_reconstructor` — reconstructors that run on any grid.
* :func:`ground_truth` — offline images (scikit-image photographs split by image,
  deepinv's random phantoms, Shepp-Logan) at any resolution.
* :func:`train_reconstructor`, :func:`evaluate_reconstructor` — deepinv's ``Trainer``,
  PSNR and SSIM.

deepinv is imported only when a deepinv object is built.

Examples
--------
>>> import torch
>>> from spectral_sparse.inverse import make_physics, SpectralDenoiser
>>> physics = make_physics("deblur", 24, width=0.03)
>>> SpectralDenoiser(width=4, modes=2, depth=1)(physics.A(torch.rand(1, 1, 24, 24)), 0.0).shape
torch.Size([1, 1, 24, 24])
"""

from __future__ import annotations

from .data import DATA_SOURCES, SPLIT_NOTE, ground_truth
from .models import ARCHS, WRAPPERS, SpectralDenoiser, UnrolledHQS, UnrolledPGD, artifact_removal, build_reconstructor
from .physics import DEFAULTS, PHYSICS_KINDS, make_physics
from .train import evaluate_reconstructor, load_reconstructor, save_reconstructor, train_reconstructor

__all__ = [
    "ARCHS",
    "DATA_SOURCES",
    "DEFAULTS",
    "PHYSICS_KINDS",
    "SPLIT_NOTE",
    "WRAPPERS",
    "SpectralDenoiser",
    "UnrolledHQS",
    "UnrolledPGD",
    "artifact_removal",
    "build_reconstructor",
    "evaluate_reconstructor",
    "ground_truth",
    "load_reconstructor",
    "make_physics",
    "save_reconstructor",
    "train_reconstructor",
]
