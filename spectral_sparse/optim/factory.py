"""Param groups for sparse spectral training, and one factory for every optimizer the trainer offers."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn
from torch.optim import Optimizer

from .bregman import AdaBreg, LinBreg, ProxSGD
from .regularizers import Regularizer, make_regularizer
from .sparsity import _require_layers

__all__ = ["OPTIMIZERS", "make_optimizer", "spectral_groups"]

#: Names accepted by :func:`make_optimizer`.
OPTIMIZERS = ("adam", "sgd", "linbreg", "adabreg", "proxsgd")


def spectral_groups(
    model: nn.Module, reg: Regularizer | str | None = "mode", lam: float | None = None, **group_options: Any
) -> list[dict[str, Any]]:
    """Two param groups: the spectral weights of every ``SparseSpectralConv`` regularized, the rest not.

    Parameters
    ----------
    model : nn.Module
        Holds at least one :class:`~spectral_sparse.SparseSpectralConv`.
    reg : Regularizer, str or None
        Regularizer of the spectral weights (see :func:`~.regularizers.make_regularizer`).
    lam : float, optional
        Its strength (overrides ``reg.lam``).
    **group_options
        Extra settings for both groups (``lr``, ``delta``, ``momentum``, ...).

    Returns
    -------
    list of dict
        ``[{"params": spectral weights, "reg": ..., "lam": ...}, {"params": others, "reg": None, "lam": 0.0}]``;
        the second is left out when the model has no other trainable parameter.

    Examples
    --------
    >>> import spectral_sparse as ss
    >>> model = ss.models.SpectralClassifier(1, 3, width=4, modes=2, depth=2)
    >>> groups = spectral_groups(model, "l1", lam=1e-3)
    >>> [len(g["params"]) for g in groups], groups[0]["reg"]
    ([2, 10], L1(lam=0.001))
    """
    layers = _require_layers(model)
    reg = make_regularizer(reg, lam)
    spectral, seen = [], set()
    for _, layer in layers:
        if layer.weight.requires_grad and id(layer.weight) not in seen:
            seen.add(id(layer.weight))
            spectral.append(layer.weight)
    if not spectral:
        raise ValueError(
            f"the SparseSpectralConv weights of {type(model).__name__} are all frozen (requires_grad=False)"
        )
    others = [p for p in model.parameters() if p.requires_grad and id(p) not in seen]
    groups = [{"params": spectral, "reg": reg, "lam": reg.lam, **group_options}]
    if others:
        groups.append({"params": others, "reg": None, "lam": 0.0, **group_options})
    return groups


def make_optimizer(
    name: str,
    model: nn.Module,
    lr: float,
    lam: float = 0.0,
    reg: Regularizer | str | None = "mode",
    *,
    delta: float = 1.0,
    momentum: float = 0.0,
    betas: tuple[float, float] = (0.9, 0.999),
    weight_decay: float = 0.0,
) -> Optimizer:
    """The optimizer ``name`` for ``model``; the sparse ones regularize only the spectral weights.

    Parameters
    ----------
    name : {"adam", "sgd", "linbreg", "adabreg", "proxsgd"}
        ``"adam"``/``"sgd"``: plain torch optimizers on all parameters (``lam`` and
        ``reg`` ignored, ``weight_decay`` used). The others use :func:`spectral_groups`.
    model : nn.Module
    lr : float
    lam : float
        Regularization strength of the spectral weights.
    reg : Regularizer, str or None
        Their regularizer (default ``"mode"``: group lasso over modes).
    delta, momentum, betas, weight_decay
        Passed on where the optimizer takes them (``delta``: LinBreg/AdaBreg;
        ``momentum``: SGD/LinBreg/ProxSGD; ``betas``: Adam/AdaBreg).

    Examples
    --------
    >>> import spectral_sparse as ss
    >>> model = ss.models.SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    >>> opt = make_optimizer("linbreg", model, lr=0.1, lam=0.01)
    >>> type(opt).__name__, opt.param_groups[0]["reg"]
    ('LinBreg', ModeGroupL1L2(lam=0.01, weighted=True))
    """
    if not isinstance(name, str) or name.lower() not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer {name!r}; choose one of {list(OPTIMIZERS)}")
    name = name.lower()
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    if name == "adam":
        return torch.optim.Adam(model.parameters(), lr=lr, betas=betas, weight_decay=weight_decay)
    if name == "sgd":
        return torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay)
    groups = spectral_groups(model, reg, lam)
    if name == "linbreg":
        return LinBreg(groups, lr=lr, delta=delta, momentum=momentum)
    if name == "adabreg":
        return AdaBreg(groups, lr=lr, betas=betas, delta=delta)
    return ProxSGD(groups, lr=lr, momentum=momentum)
