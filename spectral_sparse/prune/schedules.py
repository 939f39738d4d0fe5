"""Pruning schedules: how much of the original modes is removed after each pruning step.

A :class:`Schedule` gives the *cumulative* target ``s_t`` after step ``t = 1..n``:
the fraction of the modes the model had before the first step that are gone
after step ``t``; ``s_n`` is the final ``amount``. :meth:`Schedule.step_amounts`
turns the targets into the per-step amounts that
:func:`~spectral_sparse.prune.prune_modes` takes, which are relative to the
modes still kept: ``a_t = 1 - (1 - s_t) / (1 - s_{t-1})`` with ``s_0 = 0``.

* :func:`one_shot`: one step, ``s_1 = amount``.
* :func:`iterative`: geometric, every step removes the same fraction
  ``r = 1 - (1 - amount)^(1/n)`` of what is left: ``s_t = 1 - (1 - amount)^(t/n)``.
* :func:`gradual`: the cubic schedule of Zhu & Gupta (2017) from ``s_i = 0``:
  ``s_t = s_f + (s_i - s_f)(1 - t/n)^3 = amount (1 - (1 - t/n)^3)``, which
  prunes fast early, while many modes are redundant, and slowly at the end.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from .._checks import positive_int

__all__ = ["SCHEDULES", "Schedule", "check_amount", "get_schedule", "gradual", "iterative", "one_shot"]

#: Schedule names accepted by :func:`get_schedule` (and the CLI's ``--schedule``).
SCHEDULES = ("one_shot", "iterative", "gradual")


def check_amount(amount: float, what: str = "amount") -> float:
    """``amount`` as a float in [0, 1); TypeError for a non-number, ValueError outside the range.

    Examples
    --------
    >>> check_amount(0.5)
    0.5
    """
    if isinstance(amount, bool) or not isinstance(amount, (int, float)):
        raise TypeError(f"{what} must be a number in [0, 1), got {type(amount).__name__}")
    amount = float(amount)
    if not (math.isfinite(amount) and 0.0 <= amount < 1.0):
        raise ValueError(f"{what} must be in [0, 1) (the fraction of modes to remove), got {amount!r}")
    return amount


@dataclass(frozen=True)
class Schedule:
    """Cumulative pruning targets over ``n_steps`` steps (see the module docstring).

    Parameters
    ----------
    kind : {"one_shot", "iterative", "gradual"}
    amount : float in [0, 1)
        Final fraction of the original modes removed.
    n_steps : int
        Number of pruning steps (1 for ``one_shot``).

    Examples
    --------
    >>> s = iterative(0.75, 2)
    >>> s.targets(), s.step_amounts()
    ([0.5, 0.75], [0.5, 0.5])
    >>> [round(s, 6) for s in gradual(0.8, 2).targets()]
    [0.7, 0.8]
    """

    kind: str
    amount: float
    n_steps: int = 1

    def __post_init__(self) -> None:
        if self.kind not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.kind!r}; valid schedules: {', '.join(SCHEDULES)}")
        object.__setattr__(self, "amount", check_amount(self.amount))
        positive_int(self.n_steps, "n_steps")
        if self.kind == "one_shot" and self.n_steps != 1:
            raise ValueError(f"a one_shot schedule has exactly 1 step, got n_steps={self.n_steps}")

    def __len__(self) -> int:
        return self.n_steps

    def target(self, t: int) -> float:
        """``s_t``: cumulative fraction of the original modes removed after step ``t`` (``s_0 = 0``)."""
        if not 0 <= t <= self.n_steps:
            raise ValueError(f"step t must be in 0..{self.n_steps}, got {t}")
        if t == 0:
            return 0.0
        if t == self.n_steps:
            return self.amount
        frac = t / self.n_steps
        if self.kind == "iterative":
            return 1.0 - (1.0 - self.amount) ** frac
        return self.amount * (1.0 - (1.0 - frac) ** 3)  # gradual; one_shot has no intermediate steps

    def targets(self) -> list[float]:
        """``[s_1, ..., s_n]``, non-decreasing, ending at ``amount``."""
        return [self.target(t) for t in range(1, self.n_steps + 1)]

    def step_amounts(self) -> list[float]:
        """Per-step amounts relative to the modes kept before each step: ``1 - (1 - s_t) / (1 - s_{t-1})``."""
        return [1.0 - (1.0 - self.target(t)) / (1.0 - self.target(t - 1)) for t in range(1, self.n_steps + 1)]


def one_shot(amount: float) -> Schedule:
    """Remove ``amount`` of the modes in one step.

    Examples
    --------
    >>> one_shot(0.3).targets()
    [0.3]
    """
    return Schedule("one_shot", amount, 1)


def iterative(amount: float, n_steps: int) -> Schedule:
    """Geometric schedule: each of ``n_steps`` steps removes the same fraction of the modes left.

    Examples
    --------
    >>> [round(a, 6) for a in iterative(0.875, 3).step_amounts()]
    [0.5, 0.5, 0.5]
    """
    return Schedule("iterative", amount, n_steps)


def gradual(amount: float, n_steps: int) -> Schedule:
    """Zhu & Gupta's cubic schedule from 0 to ``amount`` over ``n_steps`` steps.

    Examples
    --------
    >>> [round(s, 6) for s in gradual(0.5, 4).targets()]
    [0.289062, 0.4375, 0.492188, 0.5]
    """
    return Schedule("gradual", amount, n_steps)


def get_schedule(name: str, amount: float, n_steps: int = 1) -> Schedule:
    """The schedule called ``name`` (``one_shot`` ignores ``n_steps``); ValueError listing the valid names.

    Examples
    --------
    >>> get_schedule("iterative", 0.5, 3).n_steps
    3
    """
    if not isinstance(name, str) or name.replace("-", "_") not in SCHEDULES:
        raise ValueError(f"unknown schedule {name!r}; valid schedules: {', '.join(SCHEDULES)}")
    name = name.replace("-", "_")
    return Schedule(name, amount, 1 if name == "one_shot" else n_steps)
