r"""Function-space attacks: :class:`FourierPGD`, a band-limited perturbation given by its Fourier coefficients.

The perturbation is a real periodic function on the unit domain ``[0, 1)^d``
defined by complex coefficients ``a_k`` on a set ``M`` of canonical modes (a
:class:`~spectral_sparse.ModeSet`), with the synthesis of the layer contract:

.. math:: \delta(x) = \sum_{k \in M} c_k \operatorname{Re}(a_k e^{2\pi i k \cdot x}),
   \qquad c_0 = 1,\ c_k = 2 \text{ otherwise}

(the imaginary part of ``a_0`` is unused and kept at zero). The coefficients do
not depend on any grid: :func:`render` samples the same function at
``x = n / N`` on every grid ``N`` that resolves the modes strictly
(``2 |k_i| < N_i``), so a perturbation crafted at one resolution can be
rendered at another. Budgets are function-space norms per sample (summed over
channels):

* ``norm="l2"``: the L2 norm over the unit domain, by Parseval
  ``||delta||_2 = sqrt(sum_k c_k |a_k|^2)``; on any grid it equals the RMS of
  the rendered samples, ``sqrt(mean_n delta(n)^2)`` (summed over channels);
* ``norm="linf-coeff"``: every coefficient's modulus ``|a_k| <= eps``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import as_shape
from ..modes import ModeSet
from .gradient import Domain, _clamp, _IterativeAttack, check_batch, eval_mode, model_dtype

__all__ = ["FOURIER_NORMS", "FourierPGD", "function_norm", "render"]

#: Budgets of :class:`FourierPGD`.
FOURIER_NORMS = ("l2", "linf-coeff")


def _as_modes(modes: ModeSet | float, ndim: int = 2) -> ModeSet:
    if isinstance(modes, ModeSet):
        if len(modes) == 0:
            raise ValueError("modes is empty; the perturbation needs at least one mode")
        return modes
    if isinstance(modes, bool) or not isinstance(modes, (int, float)):
        raise TypeError(f"modes must be a ModeSet or a radius (number), got {type(modes).__name__}")
    return ModeSet.radial(float(modes), ndim=ndim)


def _weights(modes: ModeSet, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``c_k``: 1 for ``k = 0``, 2 otherwise, shape (K,)."""
    zero = (modes.indices == 0).all(dim=1)
    return torch.where(zero, 1.0, 2.0).to(device=device, dtype=dtype)


def _check_grid(modes: ModeSet, grid: Sequence[int]) -> tuple[int, ...]:
    grid = as_shape(grid, "grid")
    if len(grid) != modes.ndim:
        raise ValueError(f"grid {tuple(grid)} has {len(grid)} axes but the modes are {modes.ndim}-D")
    kmax = modes.indices.abs().amax(0)
    if bool((2 * kmax >= torch.tensor(grid)).any()):
        need = tuple(int(2 * k + 1) for k in kmax)
        raise ValueError(
            f"grid {tuple(grid)} does not resolve the perturbation's modes strictly (2|k_i| < N_i); "
            f"max |k| per axis is {tuple(int(k) for k in kmax)}, so the grid needs at least {need}"
        )
    return grid


def render(coefficients: Tensor, modes: ModeSet, grid: int | Sequence[int]) -> Tensor:
    """Sample the field ``sum_k c_k Re(a_k exp(2 pi i k.x))`` at ``x = n / N`` on ``grid``.

    Parameters
    ----------
    coefficients : complex Tensor, shape (..., K)
        ``a_k`` aligned with ``modes.indices`` (the imaginary part of ``a_0`` is ignored).
    modes : ModeSet
        ``K`` canonical modes in ``d`` dimensions.
    grid : int or sequence of d ints
        Must resolve every mode strictly, ``2 |k_i| < N_i`` (an int is used on every axis).

    Returns
    -------
    Tensor, shape (..., *grid), the real dtype of ``coefficients``
        Differentiable in ``coefficients``.

    Examples
    --------
    >>> import torch
    >>> modes = ModeSet.from_indices([[0, 1]])
    >>> f = render(torch.tensor([[0.5 + 0j]]), modes, 8)     # cos(2 pi y), amplitude 2 * 0.5
    >>> f.shape, round(float(f[0, 0, 0]), 6), round(float(f[0, 0, 2]), 6)
    (torch.Size([1, 8, 8]), 1.0, 0.0)
    """
    if not isinstance(coefficients, Tensor) or not coefficients.is_complex():
        raise TypeError("coefficients must be a complex tensor (..., K)")
    if not isinstance(modes, ModeSet):
        raise TypeError(f"modes must be a ModeSet, got {type(modes).__name__}")
    if coefficients.ndim < 1 or coefficients.shape[-1] != len(modes):
        got = tuple(coefficients.shape)
        raise ValueError(f"coefficients must have shape (..., {len(modes)}) (one per mode), got {got}")
    if isinstance(grid, int) and not isinstance(grid, bool):
        grid = (grid,) * modes.ndim
    grid = _check_grid(modes, grid)
    idx = modes.indices.to(coefficients.device)
    sizes = torch.tensor(grid, device=idx.device)
    strides = torch.tensor([math.prod(grid[i + 1 :]) for i in range(len(grid))], device=idx.device)
    pos = ((idx % sizes) * strides).sum(1)
    neg = ((-idx % sizes) * strides).sum(1)
    zero = (idx == 0).all(dim=1)
    a = torch.where(zero, coefficients.real.to(coefficients.dtype), coefficients)
    lead = coefficients.shape[:-1]
    spec = coefficients.new_zeros((*lead, math.prod(grid)))
    spec = spec.index_add(-1, pos, a)
    spec = spec.index_add(-1, neg[~zero], a[..., ~zero].conj())
    spec = spec.reshape(*lead, *grid)
    return torch.fft.ifftn(spec, dim=tuple(range(-len(grid), 0)), norm="forward").real


def function_norm(coefficients: Tensor, modes: ModeSet, norm: str = "l2") -> Tensor:
    """Per-sample budget norm of perturbations ``(B, C, K)``: L2 over the unit domain, or max ``|a_k|``.

    Examples
    --------
    >>> import torch
    >>> modes = ModeSet.from_indices([[0, 0], [0, 1]])
    >>> a = torch.tensor([[[1.0 + 0j, 0.5j]]])
    >>> function_norm(a, modes), function_norm(a, modes, "linf-coeff")   # sqrt(1 + 2 * 0.25)
    (tensor([1.2247]), tensor([1.]))
    """
    if norm not in FOURIER_NORMS:
        raise ValueError(f"norm must be one of {', '.join(map(repr, FOURIER_NORMS))}, got {norm!r}")
    zero = (modes.indices == 0).all(dim=1).to(coefficients.device)
    a = torch.where(zero, coefficients.real.to(coefficients.dtype), coefficients)
    if norm == "l2":
        c = _weights(modes, coefficients.real.dtype, coefficients.device)
        return ((a.abs() ** 2) * c).flatten(1).sum(1).sqrt()
    return a.abs().flatten(1).amax(1)


class FourierPGD(_IterativeAttack):
    """PGD on the Fourier coefficients of a band-limited perturbation; budget in function space.

    The adversarial image is ``clamp(x + render(a, grid of x), domain)``. The
    coefficients ``a`` (``(B, C, K)`` complex) are found by projected steepest
    ascent in the budget's norm: for ``"l2"`` the gradient is preconditioned by
    ``1 / c_k`` (the Riesz map of the weighted norm) and normalised, for
    ``"linf-coeff"`` each coefficient moves by ``alpha`` along its own gradient
    direction; after each step the coefficients are projected onto the
    ``eps``-ball. With ``domain=None`` the returned ``x_adv - x`` is exactly the
    band-limited field; with a domain, clamping may cut it where ``x + delta``
    leaves the domain (the coefficients, see :meth:`perturbation`, stay exact).

    Parameters
    ----------
    model : nn.Module
    eps : float
        Budget (>= 0) in the units of the images.
    alpha : float, optional
        Step size (> 0); default ``2.5 * eps / steps``.
    steps : int
    modes : ModeSet or float
        The perturbation's modes, or a radius for ``ModeSet.radial(radius, ndim=2)``.
    norm : {"l2", "linf-coeff"}
    random_start, targeted, domain, seed
        As for :class:`~spectral_sparse.attacks.PGD`.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.models import SpectralClassifier
    >>> model = SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    >>> x, y = torch.rand(2, 1, 16, 16), torch.tensor([0, 2])
    >>> atk = FourierPGD(model, eps=0.3, steps=3, modes=3.0, domain=None)
    >>> a = atk.perturbation(x, y)                       # (B, C, K) complex, grid-free
    >>> a.shape, bool(function_norm(a, atk.modes).max() <= 0.3 + 1e-6)
    (torch.Size([2, 1, 15]), True)
    >>> atk.render(a, (24, 40)).shape                     # the same function on another grid
    torch.Size([2, 1, 24, 40])
    """

    def __init__(
        self,
        model: nn.Module,
        eps: float,
        alpha: float | None = None,
        steps: int = 10,
        modes: ModeSet | float = 4.0,
        norm: str = "l2",
        random_start: bool = True,
        targeted: bool = False,
        domain: Domain = (0.0, 1.0),
        seed: int = 0,
    ) -> None:
        super().__init__(model, eps, alpha, steps, norm, FOURIER_NORMS, random_start, targeted, domain, seed)
        self.modes = _as_modes(modes)

    # ------------------------------------------------------------------ public helpers
    def render(self, coefficients: Tensor, grid: int | Sequence[int]) -> Tensor:
        """The perturbation field ``(B, C, *grid)`` of coefficients ``(B, C, K)``; see :func:`render`."""
        return render(coefficients, self.modes, grid)

    def apply(self, images: Tensor, coefficients: Tensor) -> Tensor:
        """``clamp(images + render(coefficients, grid of images), domain)``: the perturbation on any grid."""
        if not isinstance(images, Tensor) or images.ndim != 2 + self.modes.ndim:
            raise ValueError(f"images must have shape (B, C, *grid) with {self.modes.ndim} grid axes")
        field = self.render(coefficients, tuple(images.shape[2:])).to(images.device, images.dtype)
        if field.shape != images.shape:
            raise ValueError(f"coefficients {tuple(coefficients.shape)} do not match images {tuple(images.shape)}")
        return _clamp(images + field, self.domain)

    def perturbation(self, images: Tensor, labels: Tensor) -> Tensor:
        """The adversarial coefficients ``a``, complex, shape ``(B, C, K)`` (aligned with ``self.modes.indices``)."""
        check_batch(images, labels, self.domain)
        device, dtype = model_dtype(self.model, images)
        x = images.detach().to(device=device, dtype=dtype)
        y = labels.to(device=device, dtype=torch.long)
        with eval_mode(self.model):
            return torch.view_as_complex(self._craft(x, y).contiguous()).detach()

    # ------------------------------------------------------------------ internals
    def _run(self, x: Tensor, y: Tensor) -> Tensor:
        p = self._craft(x, y)
        return _clamp(x + self.render(torch.view_as_complex(p.contiguous()), tuple(x.shape[2:])), self.domain)

    def _norm(self, p: Tensor, c: Tensor) -> Tensor:
        """Per-sample weighted norm of real coefficient pairs ``p`` (B, C, K, 2)."""
        if self.norm == "l2":
            return ((p**2).sum(-1) * c).flatten(1).sum(1).sqrt().reshape(-1, 1, 1, 1)
        return p.norm(dim=-1, keepdim=True)  # per coefficient

    def _project(self, p: Tensor, c: Tensor) -> Tensor:
        return p * torch.clamp(self.eps / self._norm(p, c).clamp_min(1e-12), max=1.0)

    def _craft(self, x: Tensor, y: Tensor) -> Tensor:
        if x.ndim != 2 + self.modes.ndim:
            raise ValueError(
                f"images must have {self.modes.ndim} grid axes to match the modes, got shape {tuple(x.shape)}"
            )
        grid = _check_grid(self.modes, tuple(x.shape[2:]))
        b, ch, k = x.shape[0], x.shape[1], len(self.modes)
        c = _weights(self.modes, x.dtype, x.device).reshape(1, 1, k)
        keep = torch.ones(k, 2, dtype=x.dtype, device=x.device)
        keep[(self.modes.indices == 0).all(dim=1).to(x.device), 1] = 0  # Im a_0 is unused
        p = torch.zeros(b, ch, k, 2, dtype=x.dtype, device=x.device)
        if self.random_start and self.eps > 0:
            gen = torch.Generator().manual_seed(self.seed)
            p = torch.randn(p.shape, generator=gen, dtype=x.dtype).to(x.device) * keep
            if self.norm == "l2":
                p = p / c.unsqueeze(-1).sqrt()
                radius = torch.rand(b, generator=gen, dtype=x.dtype).to(x.device).reshape(-1, 1, 1, 1)
                p = p / self._norm(p, c).clamp_min(1e-12) * radius * self.eps
            else:
                radius = torch.rand(p.shape[:-1], generator=gen, dtype=x.dtype).to(x.device).sqrt().unsqueeze(-1)
                p = p / self._norm(p, c).clamp_min(1e-12) * radius * self.eps

        def objective_grad(p: Tensor) -> Tensor:
            p = p.detach().requires_grad_(True)
            with torch.enable_grad():
                adv = _clamp(x + render(torch.view_as_complex(p), self.modes, grid), self.domain)
                loss = F.cross_entropy(self.model(adv), y, reduction="sum")
                (g,) = torch.autograd.grad(-loss if self.targeted else loss, p)
            return g * keep

        for _ in range(self.steps):
            g = objective_grad(p)
            if self.norm == "l2":
                d = g / c.unsqueeze(-1)
                step = d / self._norm(d, c).clamp_min(1e-12)
            else:
                step = g / g.norm(dim=-1, keepdim=True).clamp_min(1e-12)
            p = self._project(p + self.alpha * step, c)
        return p.detach()
