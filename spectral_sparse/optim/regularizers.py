"""Sparsity regularizers with closed-form proximal maps, for real and complex weights.

Every regularizer is ``lam * R(p)`` with a convex, positively homogeneous ``R``.
A complex tensor is treated as a real vector with twice as many entries (real
and imaginary parts), so ``|z|`` is the Euclidean norm of ``(Re z, Im z)`` and a
gradient follows PyTorch's convention for real losses of complex parameters,
``dL/dRe + i dL/dIm``; :meth:`Regularizer.subgradient` agrees with autograd
wherever ``R`` is differentiable.

========================  ====================================  =========================================
class                     ``R(p)``                              ``prox_{t lam R}(p)``
========================  ====================================  =========================================
:class:`Null`             ``0``                                 ``p``
:class:`L1`               ``sum_i |p_i|``                       ``p_i max(0, 1 - t lam / |p_i|)``
:class:`ModeGroupL1L2`    ``sum_k w ||p[k]||_2``                ``p[k] max(0, 1 - t lam w / ||p[k]||_2)``
:class:`ChannelGroupL1L2` ``sum_c w ||p[..., c]||_2``           same, per channel slice
:class:`NuclearPerMode`   ``sum_k ||p[k]||_*``                  ``U_k max(0, S_k - t lam) V_k^H``
========================  ====================================  =========================================

Group weights: ``w = sqrt(group size)`` (counting a complex entry once) unless
``weighted=False``. With it, ``w ||g||_2 >= ||g||_1`` with equality when all
entries of the group have the same modulus, so a given ``lam`` means roughly
the same for ``L1`` and for the group norms, whatever the channel counts.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

__all__ = [
    "L1",
    "REGULARIZERS",
    "ChannelGroupL1L2",
    "ModeGroupL1L2",
    "NuclearPerMode",
    "Null",
    "Regularizer",
    "make_regularizer",
]


def _check_lam(lam: Any) -> float:
    if isinstance(lam, bool) or not isinstance(lam, (int, float)) or not math.isfinite(lam) or lam < 0:
        raise ValueError(f"lam must be a finite number >= 0, got {lam!r}")
    return float(lam)


def _check_step(step: Any) -> float:
    if isinstance(step, bool) or not isinstance(step, (int, float)) or not math.isfinite(step) or step < 0:
        raise ValueError(f"prox step must be a finite number >= 0, got {step!r}")
    return float(step)


def _shrink(p: Tensor, norms: Tensor, threshold: float) -> Tensor:
    """``p * max(0, 1 - threshold / norms)`` with ``norms`` broadcastable to ``p`` (0 where ``norms == 0``)."""
    tiny = torch.finfo(norms.dtype).tiny
    scale = (1.0 - threshold / norms.clamp_min(tiny)).clamp_min(0.0)
    return p * scale


def _unit(p: Tensor, norms: Tensor) -> Tensor:
    """``p / norms`` where ``norms > 0``, else 0: the minimal-norm subgradient of a norm."""
    return torch.where(norms > 0, p / norms.clamp_min(torch.finfo(norms.dtype).tiny), torch.zeros_like(p))


class Regularizer:
    """Base class: ``lam * R(p)`` with its proximal map and a subgradient.

    Subclasses implement ``_value``, ``_prox`` and ``_subgradient`` for ``lam = 1``.

    Attributes
    ----------
    lam : float
        Regularization strength (>= 0).
    name : str
        The key of the class in :data:`REGULARIZERS`.
    """

    name = ""

    def __init__(self, lam: float = 1.0) -> None:
        self.lam = _check_lam(lam)

    def __call__(self, p: Tensor) -> Tensor:
        """``lam * R(p)``, a real scalar tensor (differentiable)."""
        return self.lam * self._value(p)

    def prox(self, p: Tensor, step: float) -> Tensor:
        """``argmin_x 1/2 ||x - p||^2 + step * lam * R(x)`` (a new tensor, same shape and dtype)."""
        t = _check_step(step) * self.lam
        return p.clone() if t == 0 else self._prox(p, t)

    def subgradient(self, p: Tensor) -> Tensor:
        """An element of ``lam * dR(p)`` (the gradient where ``R`` is differentiable; 0 on zero groups)."""
        return self.lam * self._subgradient(p)

    def zero_groups(self, p: Tensor) -> Tensor:
        """Boolean mask of the groups of ``p`` that are exactly zero (entries for :class:`L1`)."""
        return p == 0

    def config(self) -> dict[str, Any]:
        """Plain-data description; ``make_regularizer(reg.config())`` rebuilds it."""
        return {"name": self.name, "lam": self.lam}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "name")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Regularizer) and self.config() == other.config()

    # for lam = 1 ----------------------------------------------------------------
    def _value(self, p: Tensor) -> Tensor:
        raise NotImplementedError

    def _prox(self, p: Tensor, t: float) -> Tensor:
        raise NotImplementedError

    def _subgradient(self, p: Tensor) -> Tensor:
        raise NotImplementedError


class Null(Regularizer):
    """No regularization: ``R = 0``, ``prox = identity``.

    Examples
    --------
    >>> Null().prox(torch.ones(2), 1.0)
    tensor([1., 1.])
    """

    name = "none"

    def __init__(self, lam: float = 0.0) -> None:
        super().__init__(lam)

    def _value(self, p: Tensor) -> Tensor:
        return p.real.sum() * 0.0  # keeps the graph, so backward works as for the others

    def _prox(self, p: Tensor, t: float) -> Tensor:
        return p.clone()

    def _subgradient(self, p: Tensor) -> Tensor:
        return torch.zeros_like(p)

    def zero_groups(self, p: Tensor) -> Tensor:
        return p == 0


class L1(Regularizer):
    """``R(p) = sum_i |p_i|`` (modulus of complex entries); prox: (complex) soft-thresholding.

    ``prox_{t lam R}(p)_i = p_i max(0, 1 - t lam / |p_i|)``: the modulus shrinks by
    ``t lam``, the phase is kept. Subgradient: ``p_i / |p_i|`` (0 at ``p_i = 0``).

    Examples
    --------
    >>> L1(lam=0.5).prox(torch.tensor([2.0, -0.3, -1.0]), step=1.0)
    tensor([ 1.5000, -0.0000, -0.5000])
    >>> L1(lam=1.0).prox(torch.tensor([3 + 4j]), step=1.0)
    tensor([2.4000+3.2000j])
    """

    name = "l1"

    def _value(self, p: Tensor) -> Tensor:
        return p.abs().sum()

    def _prox(self, p: Tensor, t: float) -> Tensor:
        return _shrink(p, p.abs(), t)

    def _subgradient(self, p: Tensor) -> Tensor:
        return _unit(p, p.abs())


class _GroupL1L2(Regularizer):
    """``R(p) = sum_g w_g ||p_g||_2`` where a group is one index along ``self._axis(p)``."""

    def __init__(self, lam: float = 1.0, weighted: bool = True) -> None:
        super().__init__(lam)
        if not isinstance(weighted, bool):
            raise TypeError(f"weighted must be a bool, got {weighted!r}")
        self.weighted = weighted

    def config(self) -> dict[str, Any]:
        return {**super().config(), "weighted": self.weighted}

    def _axis(self, p: Tensor) -> int:
        raise NotImplementedError

    def _norms(self, p: Tensor) -> tuple[Tensor, float]:
        """Group norms shaped to broadcast against ``p``, and the group weight."""
        if p.ndim == 0:
            raise ValueError(f"{type(self).__name__} needs a tensor with at least one axis, got a scalar")
        axis = self._axis(p)
        others = tuple(d for d in range(p.ndim) if d != axis)
        norms = torch.linalg.vector_norm(p, dim=others, keepdim=True) if others else p.abs()
        size = p.numel() // max(1, p.shape[axis])
        return norms, (math.sqrt(size) if self.weighted else 1.0)

    def _value(self, p: Tensor) -> Tensor:
        norms, w = self._norms(p)
        return w * norms.sum()

    def _prox(self, p: Tensor, t: float) -> Tensor:
        norms, w = self._norms(p)
        return _shrink(p, norms, t * w)

    def _subgradient(self, p: Tensor) -> Tensor:
        norms, w = self._norms(p)
        return w * _unit(p, norms)

    def zero_groups(self, p: Tensor) -> Tensor:
        """Boolean mask, one entry per group, true where the group is exactly zero."""
        norms, _ = self._norms(p)
        return (norms == 0).flatten()


class ModeGroupL1L2(_GroupL1L2):
    """Group lasso over modes: one group is one mode's whole weight ``p[k]``; removes whole modes.

    ``R(p) = sum_k w ||p[k]||_2`` with ``w = sqrt(p[k].numel())`` (1 if ``weighted=False``);
    ``prox_{t lam R}(p)[k] = p[k] max(0, 1 - t lam w / ||p[k]||_2)``.
    For a ``SparseSpectralConv`` weight, shape ``(K, in, out)`` or ``(K, C)``.

    Examples
    --------
    >>> w = torch.zeros(3, 2, 2, dtype=torch.cfloat)
    >>> w[0] = 1.0
    >>> w[1] = 0.1j
    >>> out = ModeGroupL1L2(lam=0.5).prox(w, step=1.0)
    >>> out[0, 0, 0], bool((out[1:] == 0).all())
    (tensor(0.5000+0.j), True)
    """

    name = "mode"

    def _axis(self, p: Tensor) -> int:
        return 0


class ChannelGroupL1L2(_GroupL1L2):
    """Group lasso over channels of a spectral weight; removes whole channels across all modes.

    ``channels="out"``: a group is ``p[:, :, o]`` of a dense ``(K, in, out)`` weight;
    ``channels="in"``: a group is ``p[:, i, :]``. For a diagonal ``(K, C)`` weight
    both mean ``p[:, c]``. Formulas as :class:`ModeGroupL1L2`.

    Examples
    --------
    >>> w = torch.ones(4, 3, 2, dtype=torch.cfloat)
    >>> w[..., 1] = 0.01
    >>> out = ChannelGroupL1L2(lam=0.1, channels="out").prox(w, step=1.0)
    >>> bool((out[..., 1] == 0).all()), bool((out[..., 0] != 0).all())
    (True, True)
    """

    name = "channel"

    def __init__(self, lam: float = 1.0, channels: str = "out", weighted: bool = True) -> None:
        super().__init__(lam, weighted)
        if channels not in ("out", "in"):
            raise ValueError(f"channels must be 'out' or 'in', got {channels!r}")
        self.channels = channels

    def config(self) -> dict[str, Any]:
        return {**super().config(), "channels": self.channels}

    def _axis(self, p: Tensor) -> int:
        if p.ndim < 2:
            raise ValueError(f"ChannelGroupL1L2 needs a (K, in, out) or (K, C) weight, got shape {tuple(p.shape)}")
        return p.ndim - 1 if self.channels == "out" else 1


class NuclearPerMode(Regularizer):
    """Nuclear norm of each mode's mixing matrix: low-rank channel mixing per mode.

    ``R(p) = sum_k ||p[k]||_* = sum_k sum_j s_j(p[k])`` for a dense ``(K, in, out)``
    weight; ``prox_{t lam R}(p)[k] = U_k diag(max(0, s - t lam)) V_k^H`` with
    ``p[k] = U_k diag(s) V_k^H`` (``torch.linalg.svd``); subgradient ``U_k V_k^H``
    over the (numerically) nonzero singular values. A diagonal ``(K, C)`` weight stands for the
    matrices ``diag(p[k])``, whose nuclear norm is ``sum_c |p[k, c]|``: there this
    is exactly :class:`L1`.

    Examples
    --------
    >>> w = torch.diag(torch.tensor([3.0, 1.0, 0.5]))[None].to(torch.cfloat)
    >>> torch.linalg.svdvals(NuclearPerMode(lam=0.8).prox(w, 1.0)[0])
    tensor([2.2000, 0.2000, 0.0000])
    """

    name = "nuclear"

    def _check(self, p: Tensor) -> None:
        if p.ndim not in (2, 3):
            raise ValueError(f"NuclearPerMode needs a (K, in, out) or (K, C) weight, got shape {tuple(p.shape)}")

    def _value(self, p: Tensor) -> Tensor:
        self._check(p)
        return p.abs().sum() if p.ndim == 2 else torch.linalg.svdvals(p).sum()

    def _prox(self, p: Tensor, t: float) -> Tensor:
        self._check(p)
        if p.ndim == 2:
            return _shrink(p, p.abs(), t)
        u, s, vh = torch.linalg.svd(p, full_matrices=False)
        s = (s - t).clamp_min(0.0)
        return (u * s.to(u.dtype).unsqueeze(-2)) @ vh

    def _subgradient(self, p: Tensor) -> Tensor:
        self._check(p)
        if p.ndim == 2:
            return _unit(p, p.abs())
        u, s, vh = torch.linalg.svd(p, full_matrices=False)
        # numerically zero singular values (as in torch.linalg.matrix_rank) get no direction
        tol = s.amax(-1, keepdim=True) * max(p.shape[-2:]) * torch.finfo(s.dtype).eps
        return (u * (s > tol).to(u.dtype).unsqueeze(-2)) @ vh

    def zero_groups(self, p: Tensor) -> Tensor:
        """One entry per mode: true where the mode's matrix is exactly zero."""
        self._check(p)
        return ~(p != 0).reshape(p.shape[0], -1).any(dim=1)


#: Regularizer classes by name (the strings :func:`make_regularizer` and the optimizers accept).
REGULARIZERS: dict[str, type[Regularizer]] = {
    cls.name: cls for cls in (Null, L1, ModeGroupL1L2, ChannelGroupL1L2, NuclearPerMode)
}


def make_regularizer(spec: Regularizer | str | dict[str, Any] | None, lam: float | None = None) -> Regularizer:
    """A new regularizer from a name, a :meth:`Regularizer.config` dict, an instance (copied) or ``None``.

    Parameters
    ----------
    spec : Regularizer, str, dict or None
        A name in :data:`REGULARIZERS` (``"none"``, ``"l1"``, ``"mode"``, ``"channel"``,
        ``"nuclear"``), a config dict, an instance, or ``None`` for :class:`Null`.
    lam : float, optional
        Overrides the strength of ``spec``.

    Examples
    --------
    >>> make_regularizer("mode", lam=0.1)
    ModeGroupL1L2(lam=0.1, weighted=True)
    >>> make_regularizer({"name": "channel", "lam": 0.2, "channels": "in"})
    ChannelGroupL1L2(lam=0.2, weighted=True, channels='in')
    """
    if spec is None:
        spec = "none"
    if isinstance(spec, Regularizer):
        kwargs = spec.config()
    elif isinstance(spec, str):
        kwargs = {"name": spec}
    elif isinstance(spec, dict):
        kwargs = dict(spec)
    else:
        raise TypeError(f"reg must be a Regularizer, a name, a config dict or None, got {type(spec).__name__}")
    name = kwargs.pop("name", None)
    if name not in REGULARIZERS:
        raise ValueError(f"unknown regularizer {name!r}; choose one of {sorted(REGULARIZERS)}")
    if lam is not None:
        kwargs["lam"] = lam
    try:
        return REGULARIZERS[name](**kwargs)
    except TypeError as err:
        raise TypeError(f"bad options for regularizer {name!r}: {err}") from None
