"""Linearized Bregman optimizers (LinBreg, AdaBreg) and proximal SGD for sparse training.

Following Bungert, Roith, Tenbrinck and Burger, "A Bregman learning framework
for sparse neural networks" (JMLR 2022). With a regularizer ``J = lam R`` and
the elastic-net functional ``J_delta(p) = J(p) + ||p||^2 / (2 delta)``, the
linearized Bregman iteration keeps a subgradient variable ``v in dJ_delta(p)``
per parameter and steps

.. code-block:: text

    v <- v - lr * g                       (g: gradient, or its momentum / Adam estimate)
    p <- prox_{delta J}(delta * v)        (= argmin_p J_delta(p) - <v, p>)

so a weight stays exactly zero until its accumulated gradient ``v`` leaves the
set ``dJ(0)`` (``|v_i| <= lam`` for L1): training starts sparse and switches
parameters on one by one, instead of shrinking a dense net. ``v`` is
initialised from the current parameters as ``p / delta + dJ(p)`` (lazily, at
the first step, or on :meth:`LinBreg.reset_subgradients`), which makes a step
with zero gradient leave ``p`` unchanged. On an unregularized group
(``reg=None``) the iteration is SGD with learning rate ``lr * delta``.

Complex parameters are vectors in ``R^2``: ``v`` is complex and PyTorch's
gradient of a real loss, ``dL/dRe + i dL/dIm``, is the ``R^2`` gradient.

Every param group has its own ``reg`` (a :class:`~.regularizers.Regularizer`,
a name or ``None``) and ``lam``, so spectral weights can go in a regularized
group and everything else in an unregularized one
(:func:`~spectral_sparse.optim.spectral_groups` builds the two).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import Tensor
from torch.optim import Optimizer

from .regularizers import Regularizer, make_regularizer

__all__ = ["AdaBreg", "LinBreg", "ProxSGD"]


def _number(name: str, value: Any, low: float, high: float = math.inf, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if value < low or (low_open and value == low) or value >= high:
        interval = f"{'(' if low_open else '['}{low}, {high})"
        raise ValueError(f"{name} must be in {interval}, got {value!r}")
    return float(value)


class _RegularizedOptimizer(Optimizer):
    """Shared group handling: a regularizer per group, validation, a state_dict of plain data."""

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        super().add_param_group(param_group)
        group = self.param_groups[-1]
        group["reg"] = make_regularizer(group["reg"], group["lam"])
        group["lam"] = group["reg"].lam
        self._check_group(group)

    def _check_group(self, group: dict[str, Any]) -> None:
        _number("lr", group["lr"], 0.0)
        if "momentum" in group:
            _number("momentum", group["momentum"], 0.0, 1.0)
        if "delta" in group:
            _number("delta", group["delta"], 0.0, low_open=True)

    @staticmethod
    def _reg(group: dict[str, Any]) -> Regularizer:
        """The group's regularizer, with ``lam`` synchronised to ``group["lam"]`` (which a schedule may change)."""
        reg = group["reg"]
        lam = _number("lam", group["lam"], 0.0)
        if reg.lam != lam:
            reg.lam = lam
        return reg

    def state_dict(self) -> dict[str, Any]:
        """As :meth:`torch.optim.Optimizer.state_dict`, with each group's ``reg`` as a plain config dict."""
        state = super().state_dict()
        for group in state["param_groups"]:
            group["reg"] = group["reg"].config()
        return state

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore the state (subgradients, moments, step counts) and the groups' settings."""
        super().load_state_dict(state_dict)
        for group in self.param_groups:
            group["reg"] = make_regularizer(group["reg"], group["lam"])

    @torch.no_grad()
    def step(self, closure: Any = None) -> Tensor | None:  # type: ignore[override]
        """One iteration; ``closure`` (optional) re-evaluates and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            reg = self._reg(group)
            for p in group["params"]:
                if p.grad is None:
                    continue
                if p.grad.is_sparse:
                    raise TypeError(f"{type(self).__name__} does not support sparse gradients")
                self._update(p, group, self.state[p], reg)
        return loss

    def _update(self, p: Tensor, group: dict[str, Any], state: dict[str, Any], reg: Regularizer) -> None:
        """Update ``p`` (in place, under ``no_grad``) from ``p.grad``; ``state`` is its optimizer state."""
        raise NotImplementedError

    @staticmethod
    def _momentum(state: dict[str, Any], grad: Tensor, momentum: float) -> Tensor:
        if momentum == 0:
            return grad
        buf = state.get("momentum_buffer")
        if buf is None:
            buf = state["momentum_buffer"] = grad.clone()
        else:
            buf.mul_(momentum).add_(grad)
        return buf


class LinBreg(_RegularizedOptimizer):
    """Linearized Bregman iteration (optionally with heavy-ball momentum on the gradient).

    Parameters
    ----------
    params : iterable of Tensor or of dict
        Parameters or param groups; a group may set ``lr``, ``reg``, ``lam``,
        ``delta``, ``momentum``.
    lr : float
        Step size of the subgradient variable (>= 0).
    reg : Regularizer, str or None
        Regularizer (copied per group); ``None`` means no regularization.
    lam : float, optional
        Strength; overrides ``reg.lam``.
    delta : float
        Elastic-net parameter (> 0): ``J_delta = J + ||.||^2 / (2 delta)``.
    momentum : float
        In ``[0, 1)``: ``m <- momentum * m + g``, ``v <- v - lr * m``.

    Examples
    --------
    >>> from spectral_sparse.optim import L1
    >>> p = torch.nn.Parameter(torch.zeros(4))
    >>> opt = LinBreg([p], lr=0.1, reg=L1(lam=1.0))
    >>> for _ in range(6):
    ...     opt.zero_grad()
    ...     ((p - torch.tensor([3.0, 0.0, 0.0, -2.0])) ** 2).sum().backward()
    ...     opt.step()
    >>> (p != 0).tolist()  # only the coordinates the loss needs have switched on
    [True, False, False, True]
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        reg: Regularizer | str | None = None,
        lam: float | None = None,
        delta: float = 1.0,
        momentum: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "reg": reg, "lam": lam, "delta": delta, "momentum": momentum})

    @torch.no_grad()
    def reset_subgradients(self) -> None:
        """Set ``v = p / delta + dJ(p)`` for every parameter, e.g. after changing the weights by hand."""
        for group in self.param_groups:
            reg = self._reg(group)
            for p in group["params"]:
                self.state[p]["v"] = p.detach() / group["delta"] + reg.subgradient(p.detach())

    def _direction(self, group: dict[str, Any], state: dict[str, Any], grad: Tensor) -> Tensor:
        return self._momentum(state, grad, group["momentum"])

    def _update(self, p: Tensor, group: dict[str, Any], state: dict[str, Any], reg: Regularizer) -> None:
        delta = group["delta"]
        if "v" not in state:
            state["v"] = p.detach() / delta + reg.subgradient(p.detach())
        state["step"] = state.get("step", 0) + 1
        v = state["v"]
        v.add_(self._direction(group, state, p.grad), alpha=-group["lr"])
        p.copy_(reg.prox(delta * v, delta))


class AdaBreg(LinBreg):
    """Linearized Bregman iteration driven by Adam's bias-corrected moment estimate.

    ``m <- b1 m + (1 - b1) g``, ``s <- b2 s + (1 - b2) |g|^2``,
    ``v <- v - lr * (m / (1 - b1^t)) / (sqrt(s / (1 - b2^t)) + eps)``,
    ``p <- prox_{delta J}(delta v)``. For complex parameters ``|g|^2`` is the
    squared modulus of each entry, so the step does not depend on the phase
    convention (``torch.optim.Adam`` scales real and imaginary parts apart).

    Parameters
    ----------
    params, lr, reg, lam, delta
        As :class:`LinBreg`.
    betas : (float, float)
        In ``[0, 1)``.
    eps : float
        > 0.

    Examples
    --------
    >>> p = torch.nn.Parameter(torch.zeros(3, dtype=torch.cfloat))
    >>> opt = AdaBreg([p], lr=0.05, reg="l1", lam=0.5)
    >>> for _ in range(30):
    ...     opt.zero_grad()
    ...     (p - torch.tensor([2j, 0.0, -1.0])).abs().pow(2).sum().backward()
    ...     opt.step()
    >>> (p != 0).tolist()
    [True, False, True]
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        reg: Regularizer | str | None = None,
        lam: float | None = None,
        delta: float = 1.0,
    ) -> None:
        defaults = {"lr": lr, "betas": betas, "eps": eps, "reg": reg, "lam": lam, "delta": delta}
        _RegularizedOptimizer.__init__(self, params, defaults)

    def _check_group(self, group: dict[str, Any]) -> None:
        super()._check_group(group)
        betas = group["betas"]
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise ValueError(f"betas must be a pair of numbers in [0, 1), got {betas!r}")
        for i, beta in enumerate(betas):
            _number(f"betas[{i}]", beta, 0.0, 1.0)
        _number("eps", group["eps"], 0.0, low_open=True)

    def _direction(self, group: dict[str, Any], state: dict[str, Any], grad: Tensor) -> Tensor:
        beta1, beta2 = group["betas"]
        if "exp_avg" not in state:
            state["exp_avg"] = torch.zeros_like(grad)
            state["exp_avg_sq"] = torch.zeros_like(grad.real if grad.is_complex() else grad)
        t = state["step"]
        m, s = state["exp_avg"], state["exp_avg_sq"]
        m.mul_(beta1).add_(grad, alpha=1 - beta1)
        sq = grad.real.square() + grad.imag.square() if grad.is_complex() else grad.square()
        s.mul_(beta2).add_(sq, alpha=1 - beta2)
        denom = (s / (1 - beta2**t)).sqrt_().add_(group["eps"])
        return m / (1 - beta1**t) / denom


class ProxSGD(_RegularizedOptimizer):
    """Proximal (stochastic) gradient descent: ``p <- prox_{lr J}(p - lr * g)``, the baseline.

    With ``momentum``, ``g`` is replaced by ``m <- momentum * m + g``.

    Parameters
    ----------
    params, lr, reg, lam, momentum
        As :class:`LinBreg`.

    Examples
    --------
    >>> p = torch.nn.Parameter(torch.tensor([1.0, 0.05]))
    >>> opt = ProxSGD([p], lr=0.5, reg="l1", lam=0.2)
    >>> p.grad = torch.zeros(2)
    >>> _ = opt.step()
    >>> p.data
    tensor([0.9000, 0.0000])
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        reg: Regularizer | str | None = None,
        lam: float | None = None,
        momentum: float = 0.0,
    ) -> None:
        super().__init__(params, {"lr": lr, "reg": reg, "lam": lam, "momentum": momentum})

    def _update(self, p: Tensor, group: dict[str, Any], state: dict[str, Any], reg: Regularizer) -> None:
        state["step"] = state.get("step", 0) + 1
        direction = self._momentum(state, p.grad, group["momentum"])
        p.copy_(reg.prox(p - group["lr"] * direction, group["lr"]))
