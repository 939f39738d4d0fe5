"""Steering the regularization strength to a target mode sparsity.

:class:`SparsityController` is a proportional-integral controller acting on
``log lam``: with the error ``e = target - sparsity`` (positive when the model
is too dense) it keeps a base strength per regularized param group and sets

.. code-block:: text

    base <- clip(base * exp(integral * e))
    lam   = clip(base * exp(proportional * e))

so ``lam`` grows geometrically while the model is denser than the target and
shrinks while it is sparser, and stops moving once the target is met. Acting on
the logarithm makes the rule scale-free: the same gains work whatever the size
of ``lam``.

The default is a pure integral rule (``integral=0.2``, ``proportional=0``). A
proportional term makes ``lam`` jump with every change of the measured
sparsity, and under a Bregman iteration a jump in ``lam`` at once switches off
every mode whose weights lie within the jump of the threshold: on the test
problem of ``tests/test_optim.py`` (LinBreg, 37 modes) ``proportional=0.5``
made the sparsity swing between 0.3 and 0.85 around a target of 0.6, while the
integral rule stays within 0.05 of it. AdaBreg is hard to steer: its
normalised steps move every switched-off mode towards the threshold at the
same speed, so they switch together (the same problem swung between 0.1 and
1.0 for every gain tried); steer LinBreg or ProxSGD.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch.optim import Optimizer

from .._checks import positive_int
from .regularizers import Null, Regularizer

__all__ = ["SparsityController", "group_mode_sparsity"]


def _is_regularized(group: dict[str, Any]) -> bool:
    return isinstance(group.get("reg"), Regularizer) and not isinstance(group["reg"], Null)


def group_mode_sparsity(optimizer: Optimizer) -> float:
    """Fraction of zero slices ``p[k]`` over the parameters of the regularized groups.

    For spectral weights ``(K, in, out)`` or ``(K, C)`` a slice is a mode, so this
    is the mode sparsity of the regularized layers. 0 when nothing is regularized.
    """
    zero = total = 0
    for group in optimizer.param_groups:
        if not _is_regularized(group):
            continue
        for p in group["params"]:
            if p.ndim == 0:
                continue
            nonzero = (p.detach() != 0).reshape(p.shape[0], -1).any(dim=1)
            zero += int((~nonzero).sum())
            total += nonzero.numel()
    return zero / total if total else 0.0


class SparsityController:
    """Multiplies ``lam`` of the regularized param groups up or down until a target sparsity is met.

    Call :meth:`step` after ``optimizer.step()``; it acts every ``interval`` calls.

    Parameters
    ----------
    optimizer : Optimizer
        A :class:`~spectral_sparse.optim.LinBreg`, :class:`~spectral_sparse.optim.AdaBreg`
        or :class:`~spectral_sparse.optim.ProxSGD`, with at least one group whose
        ``reg`` is not ``None`` and whose ``lam`` is > 0.
    target : float
        Target sparsity in ``[0, 1)``.
    measure : callable, optional
        Returns the current sparsity; default :func:`group_mode_sparsity` of the optimizer
        (pass ``lambda: mode_sparsity(model)`` to count every spectral layer).
    interval : int
        Act on every ``interval``-th call.
    integral, proportional : float
        Gains (>= 0) of the rule in the module docstring.
    lam_min, lam_max : float
        Bounds on ``lam`` (``0 < lam_min <= lam_max``).

    Attributes
    ----------
    history : list of (int, float, float)
        ``(call, sparsity, lam of the first regularized group)`` at every action.

    Examples
    --------
    >>> from spectral_sparse.optim import LinBreg
    >>> p = torch.nn.Parameter(torch.randn(8, 3))
    >>> opt = LinBreg([p], lr=0.1, reg="mode", lam=0.1)
    >>> ctl = SparsityController(opt, target=0.5)
    >>> ctl.step()  # dense: lam goes up
    0.0
    >>> round(opt.param_groups[0]["lam"], 4)
    0.1105
    """

    def __init__(
        self,
        optimizer: Optimizer,
        target: float,
        measure: Callable[[], float] | None = None,
        interval: int = 1,
        integral: float = 0.2,
        proportional: float = 0.0,
        lam_min: float = 1e-8,
        lam_max: float = 1e4,
    ) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
        if isinstance(target, bool) or not isinstance(target, (int, float)) or not 0 <= target < 1:
            raise ValueError(f"target sparsity must be a number in [0, 1), got {target!r}")
        positive_int(interval, "interval")
        for name, gain in (("integral", integral), ("proportional", proportional)):
            if isinstance(gain, bool) or not isinstance(gain, (int, float)) or not gain >= 0 or math.isinf(gain):
                raise ValueError(f"{name} gain must be a finite number >= 0, got {gain!r}")
        if not (0 < lam_min <= lam_max < math.inf):
            raise ValueError(f"need 0 < lam_min <= lam_max < inf, got lam_min={lam_min!r}, lam_max={lam_max!r}")
        self.groups = [g for g in optimizer.param_groups if _is_regularized(g)]
        if not self.groups:
            raise ValueError("the optimizer has no regularized param group (reg other than None) to steer")
        for g in self.groups:
            if not g["lam"] > 0:
                raise ValueError(f"a regularized group has lam={g['lam']!r}; a multiplicative rule needs lam > 0")
        self.optimizer, self.target = optimizer, float(target)
        self.measure = measure if measure is not None else (lambda: group_mode_sparsity(optimizer))
        self.interval, self.integral, self.proportional = interval, float(integral), float(proportional)
        self.lam_min, self.lam_max = float(lam_min), float(lam_max)
        self.base = [float(g["lam"]) for g in self.groups]
        self.calls = 0
        self.history: list[tuple[int, float, float]] = []

    def _clip(self, lam: float) -> float:
        return min(self.lam_max, max(self.lam_min, lam))

    @torch.no_grad()
    def step(self) -> float | None:
        """Count a call; every ``interval``-th, update ``lam``; return the sparsity measured (or ``None``)."""
        self.calls += 1
        if self.calls % self.interval:
            return None
        sparsity = float(self.measure())
        error = self.target - sparsity
        for i, group in enumerate(self.groups):
            self.base[i] = self._clip(self.base[i] * math.exp(self.integral * error))
            group["lam"] = self._clip(self.base[i] * math.exp(self.proportional * error))
        self.history.append((self.calls, sparsity, float(self.groups[0]["lam"])))
        return sparsity

    def state_dict(self) -> dict[str, Any]:
        """The controller's state (base strengths, call count, history)."""
        return {"base": list(self.base), "calls": self.calls, "history": list(self.history)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state_dict` output."""
        if len(state["base"]) != len(self.groups):
            raise ValueError(f"state has {len(state['base'])} groups, the controller {len(self.groups)}")
        self.base, self.calls = [float(b) for b in state["base"]], int(state["calls"])
        self.history = [tuple(h) for h in state["history"]]  # type: ignore[misc]
