"""Reconstructors that run at any resolution: a sparse-spectral denoiser, artifact removal, unrolled PGD.

* :class:`SpectralDenoiser` — deepinv's denoiser interface ``forward(x, sigma)``:
  ``x + project(blocks(lift([x, sigma])))`` with ``depth`` blocks
  ``GELU(SparseSpectralConv(h) + 1x1(h))``. Every layer is grid-independent
  (spectral weights at fixed frequencies, pointwise skips), so the same weights apply
  on every grid; ``sigma`` enters as a constant extra channel.
* :func:`artifact_removal` — deepinv's ``ArtifactRemoval`` around a backbone, fed the
  grid-consistent image of the physics (``physics.input_mode``: ``y``, ``A^T y`` or
  ``A^dagger y``).
* :class:`UnrolledPGD` — deepinv's unfolded proximal gradient descent (``deepinv.optim.PGD``,
  ``unfold=True``) with the spectral denoiser as the learned prior (``PnP``); the
  gradient step is ``A^T(Ax - y) / ||A^T A||`` (:func:`grid_l2`), the same continuous
  update at every grid; step sizes and denoiser noise levels are learned per iteration.
* :class:`UnrolledHQS` — deepinv's unfolded half-quadratic splitting (``deepinv.optim.HQS``):
  the data step is the exact proximal step of the data fidelity (a Wiener/Tikhonov solve
  for Fourier-diagonal physics such as deblur and MRI), so it uses every frequency the
  grid measures, including those a coarser training grid never saw.
* :func:`build_reconstructor` — any of the above, or deepinv's ``UNet`` / ``DnCNN``
  baselines in ``ArtifactRemoval``, from a plain config dict (for checkpoints).

deepinv is imported when a deepinv-backed object is built, not at import time.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from .._checks import count_parameters, positive_int
from ..layers import SparseSpectralConv
from ..modes import ModeSet

__all__ = [
    "ARCHS",
    "WRAPPERS",
    "SpectralDenoiser",
    "UnrolledHQS",
    "UnrolledPGD",
    "artifact_removal",
    "build_reconstructor",
    "count_parameters",
    "grid_l2",
    "initial_image",
]

#: Backbones :func:`build_reconstructor` knows.
ARCHS: tuple[str, ...] = ("spectral", "unet", "dncnn")
#: Ways to turn a backbone into a reconstructor.
WRAPPERS: tuple[str, ...] = ("artifact", "unrolled", "hqs")


class SpectralDenoiser(nn.Module):
    """Residual denoiser from sparse spectral blocks with pointwise skips; runs on any grid.

    Parameters
    ----------
    channels : int
        Image channels ``C``.
    width : int
        Hidden channels.
    modes : ModeSet or float
        Modes of every spectral convolution (a number is the radius of
        ``ModeSet.radial(radius, ndim=2)``, in cycles per field of view).
    depth : int
        Number of blocks.

    Shapes
    ------
    ``forward(x, sigma)``: ``x`` ``(B, C, H, W)``, ``sigma`` a float, a 0-d tensor, a
    ``(B,)`` tensor or ``None`` (0) -> ``(B, C, H, W)``.

    Examples
    --------
    >>> import torch
    >>> net = SpectralDenoiser(width=8, modes=3, depth=2)
    >>> net(torch.rand(2, 1, 24, 24), 0.1).shape, net(torch.rand(2, 1, 40, 32), None).shape
    (torch.Size([2, 1, 24, 24]), torch.Size([2, 1, 40, 32]))
    """

    def __init__(self, channels: int = 1, width: int = 32, modes: ModeSet | float = 12.0, depth: int = 4) -> None:
        super().__init__()
        for name, value in (("channels", channels), ("width", width), ("depth", depth)):
            positive_int(value, name)
        if not isinstance(modes, ModeSet):
            modes = ModeSet.radial(float(modes), ndim=2)
        if modes.ndim != 2:
            raise ValueError(f"SpectralDenoiser works on 2-D images; got {modes.ndim}-D modes")
        self.channels, self.width, self.depth = channels, width, depth
        self.lift = nn.Conv2d(channels + 1, width, 1)
        self.spectral = nn.ModuleList(SparseSpectralConv(width, width, modes) for _ in range(depth))
        self.skips = nn.ModuleList(nn.Conv2d(width, width, 1) for _ in range(depth))
        self.project = nn.Sequential(nn.Conv2d(width, width, 1), nn.GELU(), nn.Conv2d(width, channels, 1))
        nn.init.zeros_(self.project[-1].weight)
        nn.init.zeros_(self.project[-1].bias)
        self.act = nn.GELU()

    @property
    def modes(self) -> ModeSet:
        """The modes of the spectral convolutions."""
        return self.spectral[0].modes

    def forward(self, x: Tensor, sigma: float | Tensor | None = None, **kwargs: Any) -> Tensor:
        """Denoise ``x`` at noise level ``sigma`` (see the class docstring for shapes)."""
        if not isinstance(x, Tensor) or x.ndim != 4 or x.shape[1] != self.channels:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"expected images of shape (B, {self.channels}, H, W), got {shape}")
        s = torch.zeros((), dtype=x.dtype, device=x.device) if sigma is None else torch.as_tensor(sigma)
        s = s.to(dtype=x.dtype, device=x.device)
        s = s.reshape(-1, 1, 1, 1) if s.numel() > 1 else s.reshape(1, 1, 1, 1)
        h = self.lift(torch.cat([x, s.expand(x.shape[0], 1, *x.shape[2:])], dim=1))
        for i, (spec, skip) in enumerate(zip(self.spectral, self.skips)):
            h = spec(h) + skip(h)
            if i < self.depth - 1:
                h = self.act(h)
        return x + self.project(h)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain types."""
        return {
            "channels": self.channels,
            "width": self.width,
            "modes": self.modes.indices.tolist(),
            "depth": self.depth,
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SpectralDenoiser:
        """Rebuild from :attr:`config`."""
        modes = config["modes"]
        if isinstance(modes, list):
            modes = ModeSet.from_indices(torch.tensor(modes, dtype=torch.long).reshape(-1, 2))
        return cls(config["channels"], config["width"], modes, config["depth"])


def initial_image(y: Tensor, physics: Any) -> Tensor:
    """The grid-consistent image of the measurements: ``y``, ``A^T y`` or ``A^dagger y`` per ``physics.input_mode``."""
    mode = getattr(physics, "input_mode", "adjoint")
    if mode == "direct":
        return y
    if mode == "pinv":
        return physics.A_dagger(y)
    return physics.A_adjoint(y)


def artifact_removal(backbone: nn.Module, mode: str = "adjoint") -> nn.Module:
    """deepinv's ``ArtifactRemoval(backbone, mode)``: ``backbone(image(y), sigma)``, ``mode`` in direct/adjoint/pinv.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.inverse import make_physics
    >>> physics = make_physics("deblur", 20)
    >>> model = artifact_removal(SpectralDenoiser(width=4, modes=2, depth=1), physics.input_mode)
    >>> model(physics(torch.rand(1, 1, 20, 20)), physics).shape
    torch.Size([1, 1, 20, 20])
    """
    from deepinv.models import ArtifactRemoval

    if mode not in ("direct", "adjoint", "pinv"):
        raise ValueError(f"mode must be 'direct', 'adjoint' or 'pinv', got {mode!r}")
    return ArtifactRemoval(backbone, mode=mode, device="cpu")


def grid_l2() -> Any:
    """deepinv ``L2`` data fidelity ``||Ax - y||^2 / (2 ||A^T A||)``, grid-consistent in its gradient and prox.

    The gradient is ``A^T(Ax - y) / physics.lipschitz``; the proximal step with step
    ``gamma`` is deepinv's ``physics.prox_l2`` with ``gamma / physics.lipschitz``.
    """
    from deepinv.optim import L2

    class GridL2(L2):
        def grad(self, x: Tensor, y: Tensor, physics: Any, *args: Any, **kwargs: Any) -> Tensor:
            return (physics.A_adjoint_A(x) - physics.A_adjoint(y)) / getattr(physics, "lipschitz", 1.0)

        def prox(self, x: Tensor, y: Tensor, physics: Any, *args: Any, gamma: Any = 1.0, **kwargs: Any) -> Tensor:
            return physics.prox_l2(x, y, self.norm * gamma / getattr(physics, "lipschitz", 1.0))

    return GridL2()


class _Unrolled(nn.Module):
    """A deepinv optimiser unfolded around a learned denoiser (``self.algo``), called as ``model(y, physics)``."""

    algo: nn.Module

    def forward(self, y: Tensor, physics: Any, **kwargs: Any) -> Tensor:
        """Reconstruct images ``(B, C, H, W)`` from measurements ``y`` of ``physics``."""
        return self.algo(y, physics)


class UnrolledPGD(_Unrolled):
    """Unrolled proximal gradient descent with a learned denoiser as the proximal step.

    ``x_0 = image(y)`` (:func:`initial_image`), then ``n_iter`` times
    ``x <- D(x - gamma_k A^T(A x - y) / ||A^T A||, sigma_k)``, with ``gamma_k`` and
    ``sigma_k`` trainable; built on ``deepinv.optim.PGD(unfold=True)`` and ``PnP(D)``.

    Parameters
    ----------
    denoiser : nn.Module
        ``denoiser(x, sigma)``, shared across iterations.
    n_iter : int
    stepsize, sigma : float
        Initial ``gamma_k`` and ``sigma_k``.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.inverse import make_physics
    >>> physics = make_physics("mri", 16, k_max=4)
    >>> model = UnrolledPGD(SpectralDenoiser(width=4, modes=2, depth=1), n_iter=2)
    >>> model(physics(torch.rand(1, 1, 16, 16)), physics).shape
    torch.Size([1, 1, 16, 16])
    """

    def __init__(self, denoiser: nn.Module, n_iter: int = 4, stepsize: float = 1.0, sigma: float = 0.05) -> None:
        super().__init__()
        from deepinv.optim import PGD

        self.denoiser, self.n_iter = denoiser, n_iter
        self.algo = _unfolded(PGD, denoiser, n_iter, stepsize, sigma)


def _unfolded(algorithm: type, denoiser: nn.Module, n_iter: int, stepsize: float, sigma: float, **kw: Any) -> Any:
    """A deepinv optimiser unfolded for ``n_iter`` iterations: PnP prior, grid-consistent L2, trainable steps."""
    from deepinv.optim import PnP

    positive_int(n_iter, "n_iter")
    return algorithm(
        data_fidelity=grid_l2(),
        prior=PnP(denoiser=denoiser),
        stepsize=[float(stepsize)] * n_iter,
        g_param=[float(sigma)] * n_iter,
        max_iter=n_iter,
        unfold=True,
        trainable_params=["stepsize", "g_param"],
        custom_init=lambda y, physics: initial_image(y, physics),
        **kw,
    )


class UnrolledHQS(_Unrolled):
    """Unrolled half-quadratic splitting with a learned denoiser as the prior step.

    ``x_0 = image(y)``, then ``n_iter`` times
    ``x <- D(prox_{gamma_k f}(x), sigma_k)`` with ``f(x) = ||Ax - y||^2 / (2 ||A^T A||)``
    (:func:`grid_l2`), ``gamma_k`` and ``sigma_k`` trainable; built on
    ``deepinv.optim.HQS(unfold=True)``. For Fourier-diagonal physics (deblur, MRI) the
    proximal step is exact and costs two FFTs; for others deepinv solves it by
    conjugate gradients.

    Parameters
    ----------
    denoiser, n_iter, stepsize, sigma
        As for :class:`UnrolledPGD`.
    data_last : bool
        Swap the order of the two steps, ``x <- prox_{gamma_k f}(D(x, sigma_k))``, so that
        the output comes from a data step: for noise-free measurements (MRI) the result
        keeps the measured data (exactly as ``gamma_k`` grows) and the network only fills
        in what was not measured. For noisy data the default (denoiser last) suits better.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.inverse import make_physics
    >>> physics = make_physics("deblur", 16, width=0.05)
    >>> model = UnrolledHQS(SpectralDenoiser(width=4, modes=2, depth=1), n_iter=2)
    >>> model(physics(torch.rand(1, 1, 16, 16)), physics).shape
    torch.Size([1, 1, 16, 16])
    """

    def __init__(
        self,
        denoiser: nn.Module,
        n_iter: int = 4,
        stepsize: float = 1.0,
        sigma: float = 0.05,
        data_last: bool = False,
    ) -> None:
        super().__init__()
        from deepinv.optim import HQS

        self.denoiser, self.n_iter, self.data_last = denoiser, n_iter, bool(data_last)
        self.algo = _unfolded(HQS, denoiser, n_iter, stepsize, sigma, g_first=self.data_last)


def _backbone(config: dict[str, Any]) -> nn.Module:
    arch, c = config["arch"], int(config.get("channels", 1))
    if arch == "spectral":
        return SpectralDenoiser(c, int(config["width"]), config["modes"], int(config["depth"]))
    if arch == "unet":
        from deepinv.models import UNet

        return UNet(c, c, scales=int(config.get("scales", 3)), batch_norm=False, circular_padding=True)
    if arch == "dncnn":
        from deepinv.models import DnCNN

        depth = int(config.get("depth", 8))
        if depth < 2:  # deepinv's DnCNN has an input and an output convolution
            raise ValueError(f"dncnn needs depth >= 2, got {depth}")
        return DnCNN(c, c, depth=depth, nf=int(config["width"]), pretrained=None)
    raise ValueError(f"unknown arch {arch!r}; valid: {', '.join(map(repr, ARCHS))}")


def build_reconstructor(config: dict[str, Any]) -> nn.Module:
    """A reconstructor ``model(y, physics)`` from a plain config.

    Parameters
    ----------
    config : dict
        ``arch`` (one of :data:`ARCHS`), ``wrapper`` (one of :data:`WRAPPERS`;
        ``unrolled`` needs ``arch="spectral"``), ``input_mode`` (artifact removal),
        ``channels``; spectral: ``width``, ``modes`` (radius or list of frequency
        vectors), ``depth``, and for ``unrolled`` / ``hqs`` ``n_iter``
        (``hqs``: also ``data_last``); unet: ``scales``;
        dncnn: ``depth``, ``width``.

    Examples
    --------
    >>> model = build_reconstructor({"arch": "spectral", "wrapper": "artifact", "width": 4, "modes": 2, "depth": 1})
    >>> type(model).__name__, type(model.backbone_net).__name__
    ('ArtifactRemoval', 'SpectralDenoiser')
    """
    wrapper = config.get("wrapper", "artifact")
    if wrapper not in WRAPPERS:
        raise ValueError(f"unknown wrapper {wrapper!r}; valid: {', '.join(map(repr, WRAPPERS))}")
    if config.get("arch") == "spectral" and isinstance(config.get("modes"), list):
        backbone: nn.Module = SpectralDenoiser.from_config(config)
    else:
        backbone = _backbone(config)
    if wrapper in ("unrolled", "hqs"):
        if config["arch"] != "spectral":
            raise ValueError(f"the {wrapper} wrapper is built for arch='spectral'")
        n_iter = int(config.get("n_iter", 4))
        if wrapper == "hqs":
            return UnrolledHQS(backbone, n_iter=n_iter, data_last=bool(config.get("data_last", False)))
        return UnrolledPGD(backbone, n_iter=n_iter)
    return artifact_removal(backbone, config.get("input_mode", "adjoint"))
