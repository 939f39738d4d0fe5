"""Gradient attacks in pixel space: :class:`FGSM` and :class:`PGD` (L-inf and L2), on any grid and any input domain.

An attack is a small object bound to a model, called as ``attack(images, labels)``
and returning adversarial images of the same shape. It has no hidden global
state: random starts come from a generator seeded with the attack's ``seed`` at
every call, so the same call gives the same result. During a call the model is
put in eval mode (its train/eval flags are restored afterwards) and gradients
are taken with :func:`torch.autograd.grad` with respect to the input only, so
the ``.grad`` of the model's parameters is left untouched.

The loss is the summed cross-entropy, so every sample's gradient is independent
of the batch. *Untargeted* attacks ascend the loss of the true labels;
*targeted* attacks (``targeted=True``) take the **target** classes as ``labels``
and descend the loss of those.

Budgets are in pixel space: ``norm="linf"`` bounds ``max |x_adv - x| <= eps``
(the same meaning at every grid); ``norm="l2"`` bounds the Euclidean norm of
the pixel vector of each sample (``sqrt(sum over C, H, W)``, torchattacks'
convention, which grows with the grid for a fixed continuous perturbation; see
:class:`~spectral_sparse.attacks.FourierPGD` for a grid-independent budget).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import check_domain as _check_domain
from .._checks import positive_int

__all__ = ["FGSM", "NORMS", "PGD"]

#: Pixel-space norms of :class:`PGD`.
NORMS = ("linf", "l2")

Domain = tuple[float, float] | None


def check_eps(eps: float, name: str = "eps") -> float:
    """A finite number >= 0, as float."""
    if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not math.isfinite(eps) or eps < 0:
        raise ValueError(f"{name} must be a finite number >= 0, got {eps!r}")
    return float(eps)


def check_steps(steps: int) -> int:
    """An int >= 1."""
    return positive_int(steps, "steps", what="an int >= 1")


def check_domain(domain: Domain) -> Domain:
    """``None`` or a pair ``(lo, hi)`` of finite numbers with ``lo < hi``, as floats; ValueError otherwise."""
    return _check_domain(domain)


def check_batch(images: Tensor, labels: Tensor, domain: Domain) -> None:
    """Validate ``images (B, C, *grid)`` (real floating, finite, inside ``domain``) and ``labels (B,)`` (integer)."""
    if not isinstance(images, Tensor):
        raise TypeError(f"images must be a torch.Tensor, got {type(images).__name__}")
    if images.ndim < 3:
        raise ValueError(f"images must have shape (B, C, *grid), got {tuple(images.shape)}")
    if images.is_complex() or not images.is_floating_point():
        raise TypeError(f"images must be real floating point, got dtype {images.dtype}")
    if not isinstance(labels, Tensor):
        raise TypeError(f"labels must be a torch.Tensor, got {type(labels).__name__}")
    if labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},) (one per image), got {tuple(labels.shape)}")
    if labels.is_floating_point() or labels.is_complex() or labels.dtype == torch.bool:
        raise TypeError(f"labels must be an integer tensor, got dtype {labels.dtype}")
    if not bool(torch.isfinite(images).all()):
        raise ValueError("images contain NaN or infinite values")
    if domain is not None and images.numel():
        lo, hi = float(images.min()), float(images.max())
        tol = 1e-6 * max(1.0, domain[1] - domain[0])
        if lo < domain[0] - tol or hi > domain[1] + tol:
            raise ValueError(
                f"images lie outside the domain [{domain[0]}, {domain[1]}] (min {lo:.4g}, max {hi:.4g}); "
                "clamp them first (e.g. resize(..., clamp=domain)) or pass domain=None"
            )


@contextmanager
def eval_mode(model: nn.Module) -> Iterator[None]:
    """Put every submodule in eval mode; restore each one's flag afterwards (also on error)."""
    flags = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def model_dtype(model: nn.Module, images: Tensor) -> tuple[torch.device, torch.dtype]:
    """Device and floating dtype of the model's first floating parameter (else of ``images``)."""
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
        if p.is_complex():
            return p.device, p.real.dtype
    return images.device, images.dtype


def input_gradient(model: nn.Module, x: Tensor, labels: Tensor, targeted: bool) -> Tensor:
    """Gradient of the objective to *ascend* with respect to ``x`` only: CE(true) or -CE(target), summed."""
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x), labels, reduction="sum")
        if targeted:
            loss = -loss
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def _per_sample_norm(t: Tensor) -> Tensor:
    return t.flatten(1).norm(dim=1).reshape(-1, *([1] * (t.ndim - 1)))


def _clamp(x: Tensor, domain: Domain) -> Tensor:
    return x if domain is None else x.clamp(*domain)


class _Attack:
    """Shared argument handling; subclasses implement :meth:`_run`."""

    def __init__(self, model: nn.Module, eps: float, domain: Domain, targeted: bool) -> None:
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        self.model = model
        self.eps = check_eps(eps)
        self.domain = check_domain(domain)
        self.targeted = bool(targeted)

    def __call__(self, images: Tensor, labels: Tensor) -> Tensor:
        """Adversarial images, shape and dtype of ``images``, on the model's device.

        ``labels`` are the true classes (untargeted) or the target classes (``targeted=True``).
        """
        check_batch(images, labels, self.domain)
        device, dtype = model_dtype(self.model, images)
        x = images.detach().to(device=device, dtype=dtype)
        y = labels.to(device=device, dtype=torch.long)
        with eval_mode(self.model):
            adv = self._run(x, y)
        return adv.detach().to(images.dtype)

    def _run(self, x: Tensor, y: Tensor) -> Tensor:  # pragma: no cover - abstract
        raise NotImplementedError

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if k != "model")
        return f"{type(self).__name__}({type(self.model).__name__}, {args})"


class _IterativeAttack(_Attack):
    """Shared checks and attributes of the iterative attacks (:class:`PGD`, ``FourierPGD``)."""

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        alpha: float | None,
        steps: int,
        norm: str,
        norms: tuple[str, ...],
        random_start: bool,
        targeted: bool,
        domain: Domain,
        seed: int,
    ) -> None:
        super().__init__(model, eps, domain, targeted)
        self.steps = check_steps(steps)
        self.alpha = 2.5 * self.eps / self.steps if alpha is None else check_eps(alpha, "alpha")
        if self.alpha == 0 and self.eps > 0:
            raise ValueError("alpha must be > 0 when eps > 0")
        if norm not in norms:
            raise ValueError(f"norm must be one of {', '.join(map(repr, norms))}, got {norm!r}")
        self.norm = norm
        self.random_start = bool(random_start)
        self.seed = int(seed)


class FGSM(_Attack):
    """Fast gradient sign method: one L-inf step ``x + eps * sign(grad)``, clamped to ``domain``.

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, C, *grid)`` to logits ``(B, classes)``.
    eps : float
        L-inf budget (>= 0), in the units of the images.
    domain : (lo, hi) or None
        Valid input range; adversarial images are clamped to it (``None``: no
        clamping). Inputs outside it raise ``ValueError``.
    targeted : bool
        If true, ``labels`` are target classes and the step descends their loss.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.models import SpectralClassifier
    >>> model = SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    >>> x, y = torch.rand(2, 1, 12, 12), torch.tensor([0, 2])
    >>> adv = FGSM(model, eps=0.1)(x, y)
    >>> adv.shape, bool((adv - x).abs().max() <= 0.1 + 1e-6), bool(adv.min() >= 0)
    (torch.Size([2, 1, 12, 12]), True, True)
    """

    def __init__(self, model: nn.Module, eps: float, domain: Domain = (0.0, 1.0), *, targeted: bool = False) -> None:
        super().__init__(model, eps, domain, targeted)

    def _run(self, x: Tensor, y: Tensor) -> Tensor:
        grad = input_gradient(self.model, x, y, self.targeted)
        return _clamp(x + self.eps * grad.sign(), self.domain)


class PGD(_IterativeAttack):
    """Projected gradient descent (Madry et al.) with an L-inf or L2 budget in pixel space.

    Each of ``steps`` iterations takes an ascent step of size ``alpha``
    (``alpha * sign(grad)`` for L-inf, ``alpha * grad / ||grad||_2`` for L2),
    projects back onto the ``eps``-ball around the clean image and clamps to
    ``domain``. With ``random_start`` the search starts at a uniform point of
    the ball (L2: a uniform direction times a uniform radius), drawn from a
    generator seeded with ``seed`` at every call.

    Parameters
    ----------
    model : nn.Module
    eps : float
        Budget (>= 0): ``max |delta|`` (``"linf"``) or ``||delta||_2`` per sample over all pixels (``"l2"``).
    alpha : float, optional
        Step size (> 0); default ``2.5 * eps / steps``.
    steps : int
        Iterations (>= 1).
    norm : {"linf", "l2"}
    random_start : bool
    targeted : bool
        If true, ``labels`` are target classes and the steps descend their loss.
    domain : (lo, hi) or None
        Valid input range (default ``(0, 1)``); inputs outside it raise ``ValueError``.
    seed : int
        Seed of the random start.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.models import SpectralClassifier
    >>> model = SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    >>> x, y = torch.rand(2, 1, 12, 12), torch.tensor([0, 2])
    >>> atk = PGD(model, eps=0.5, alpha=0.2, steps=3, norm="l2", seed=1)
    >>> d = atk(x, y) - x
    >>> bool(d.flatten(1).norm(dim=1).max() <= 0.5 + 1e-5), torch.equal(atk(x, y), atk(x, y))
    (True, True)
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        alpha: float | None = None,
        steps: int = 10,
        norm: str = "linf",
        random_start: bool = True,
        targeted: bool = False,
        domain: Domain = (0.0, 1.0),
        seed: int = 0,
    ) -> None:
        super().__init__(model, eps, alpha, steps, norm, NORMS, random_start, targeted, domain, seed)

    def _project(self, delta: Tensor) -> Tensor:
        if self.norm == "linf":
            return delta.clamp(-self.eps, self.eps)
        norm = _per_sample_norm(delta)
        return delta * torch.clamp(self.eps / norm.clamp_min(1e-12), max=1.0)

    def _start(self, x: Tensor) -> Tensor:
        if not self.random_start or self.eps == 0:
            return torch.zeros_like(x)
        gen = torch.Generator().manual_seed(self.seed)
        if self.norm == "linf":
            delta = (torch.rand(x.shape, generator=gen, dtype=x.dtype) * 2 - 1) * self.eps
        else:
            delta = torch.randn(x.shape, generator=gen, dtype=x.dtype)
            radius = torch.rand(x.shape[0], generator=gen, dtype=x.dtype).reshape(-1, *([1] * (x.ndim - 1)))
            delta = delta / _per_sample_norm(delta).clamp_min(1e-12) * radius * self.eps
        return delta.to(x.device)

    def _run(self, x: Tensor, y: Tensor) -> Tensor:
        adv = _clamp(x + self._start(x), self.domain)
        for _ in range(self.steps):
            grad = input_gradient(self.model, adv, y, self.targeted)
            if self.norm == "linf":
                step = grad.sign()
            else:
                step = grad / _per_sample_norm(grad).clamp_min(1e-12)
            adv = _clamp(x + self._project(adv + self.alpha * step - x), self.domain)
        return adv
