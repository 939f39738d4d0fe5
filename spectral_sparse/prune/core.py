"""Pruning Fourier modes: :func:`prune_modes`, :func:`fine_tune` and :func:`prune_and_fine_tune`.

A :class:`~spectral_sparse.SparseSpectralConv` costs in proportion to the modes
it keeps, so pruning here removes whole modes (a mode's complete mixing
matrix ``W_k``), never single weights. Conventions:

* ``amount`` is the fraction of the modes **currently kept** that a call
  removes (as in ``torch.nn.utils.prune``): calling twice with 0.5 keeps a
  quarter. Schedules (:mod:`~spectral_sparse.prune.schedules`) state their
  targets relative to the original modes and :func:`prune_and_fine_tune`
  converts them into exact counts.
* Counts round half up: a layer of ``n`` modes (scope ``"layer"``) or a pool
  of ``n`` modes (scope ``"global"``) loses exactly ``floor(amount * n + 0.5)``.
* Every layer keeps at least one mode (its highest-scoring one), in both
  scopes; when that caps the count, fewer are removed, a ``UserWarning`` says
  so and the summary's ``removed`` is below ``requested``.
* Scope ``"global"`` pools the modes of all layers after dividing each
  layer's scores by their mean over that layer, so a mode is compared with
  the typical mode of its own layer (raw scores differ in scale between
  layers: weight initialisation, input energy, depth).
* Ties are broken towards removing the higher frequency (larger ``|k|^2``)
  first, then the later mode (and, globally, the later layer).
* With ``compact=True`` modes whose weights are already all zero (e.g. after
  sparse training) are dropped first and do not count as kept.
* Pruning zeroes the removed modes' weights and then (``compact=True``)
  calls :meth:`~spectral_sparse.SparseSpectralConv.compact`, which drops every
  all-zero mode, so the outputs are unchanged and pruned modes cost nothing.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .._checks import spectral_layers as named_layers
from ..layers import SparseSpectralConv
from ..lowrank import LowRankSpectralConv
from .criteria import Criterion, get_criterion, mode_parameter
from .schedules import Schedule, check_amount, get_schedule

__all__ = ["SCOPES", "fine_tune", "prune_and_fine_tune", "prune_modes", "spectral_layers"]

#: Valid ``scope`` values of :func:`prune_modes`.
SCOPES = ("global", "layer")


def spectral_layers(model: nn.Module) -> list[tuple[str, SparseSpectralConv]]:
    """``(name, layer)`` for every :class:`~spectral_sparse.SparseSpectralConv` in ``model`` (the model itself: ``""``).

    :class:`~spectral_sparse.lowrank.LowRankSpectralConv` layers are included: their
    modes are pruned through their per-mode parameter (cores or mode factor).

    Examples
    --------
    >>> from spectral_sparse.models import SpectralClassifier
    >>> [name for name, _ in spectral_layers(SpectralClassifier(1, 3, width=4, modes=2, depth=2))]
    ['spectral.0', 'spectral.1']
    """
    return named_layers(model, (SparseSpectralConv, LowRankSpectralConv), what="a torch.nn.Module")


def _layers_or_raise(model: nn.Module) -> list[tuple[str, SparseSpectralConv]]:
    layers = spectral_layers(model)
    if not layers:
        raise ValueError(
            f"{type(model).__name__} has no SparseSpectralConv layers, so it has no Fourier modes to prune "
            "(convert a CNN first, e.g. with spectral_sparse.models.cnn_to_spectral)"
        )
    return layers


def _n_remove(amount: float, n: int) -> int:
    """``floor(amount * n + 0.5)``: round half up."""
    return math.floor(amount * n + 0.5)


def _resolve_criterion(criterion: str | Criterion) -> tuple[str, Criterion]:
    if callable(criterion) and not isinstance(criterion, str):
        return getattr(criterion, "__name__", "custom"), criterion
    return criterion, get_criterion(criterion)  # type: ignore[arg-type]


def _order(layer: SparseSpectralConv, scores: Tensor) -> list[tuple[float, int, int]]:
    """Sort keys ``(score, -|k|^2, -position)`` of the layer's modes, first = removed first."""
    norm2 = (layer.modes.indices**2).sum(dim=1).tolist()
    return sorted((float(s), -int(q), -i) for i, (s, q) in enumerate(zip(scores.tolist(), norm2)))


def _select(
    layers: list[SparseSpectralConv], scores: list[Tensor], scope: str, counts: list[int] | int
) -> tuple[list[list[int]], int]:
    """Positions to remove per layer, and the number requested; every layer keeps its best mode."""
    removal: list[list[int]] = []
    if scope == "layer":
        assert isinstance(counts, list)
        for layer, s, c in zip(layers, scores, counts):
            order = _order(layer, s)
            removal.append([-neg_i for _, _, neg_i in order[: max(0, min(c, len(order) - 1))]])
        return removal, sum(counts)
    assert isinstance(counts, int)
    pool = []
    for j, (layer, s) in enumerate(zip(layers, scores)):
        mean = float(s.mean()) if len(s) else 0.0
        normed = s / mean if mean > 0 else s
        order = _order(layer, normed)[:-1]  # the best mode of each layer is never in the pool
        pool += [(score, neg_q, -j, neg_i) for score, neg_q, neg_i in order]
    pool.sort()
    removal = [[] for _ in layers]
    for _, _, neg_j, neg_i in pool[:counts]:
        removal[-neg_j].append(-neg_i)
    return removal, counts


@torch.no_grad()
def _apply(
    named: list[tuple[str, SparseSpectralConv]],
    removal: list[list[int]],
    *,
    compact: bool,
) -> list[dict[str, Any]]:
    rows = []
    for (name, layer), positions in zip(named, removal):
        before = len(layer.modes)
        param = mode_parameter(layer)
        if positions:
            param[torch.tensor(positions, dtype=torch.long, device=param.device)] = 0
        if compact:
            layer.compact()
        after = int((mode_parameter(layer) != 0).flatten(1).any(dim=1).sum())
        rows.append({"name": name, "modes_before": before, "removed": len(positions), "modes_after": after})
    return rows


def _prune(
    model: nn.Module,
    scope: str,
    criterion: str | Criterion,
    counts_of: Callable[[list[int]], list[int] | int],
    *,
    data: Any,
    loss_fn: Any,
    compact: bool,
) -> dict[str, Any]:
    named = _layers_or_raise(model)
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; valid scopes: {', '.join(SCOPES)}")
    name, fn = _resolve_criterion(criterion)
    for layer_name, layer in named:
        if not all(bool(torch.isfinite(p.detach()).all()) for p in layer.parameters()):
            raise ValueError(
                f"layer {layer_name or type(layer).__name__!r} has NaN or infinite weights: their modes cannot "
                "be ranked (NaN sorts arbitrarily), so nothing was pruned; fix or reinitialise the weights first"
            )
    layers = [layer for _, layer in named]
    if compact:  # modes already all-zero (e.g. after sparse training) are not kept: drop them before counting
        for layer in layers:
            layer.compact()
    scores = fn(model, layers, data, loss_fn)
    if len(scores) != len(layers) or any(s.shape != (len(layer.modes),) for s, layer in zip(scores, layers)):
        raise ValueError(f"criterion {name!r} must return one score tensor (K,) per layer")
    scores = [s.detach().to(torch.float64).cpu() for s in scores]
    for (layer_name, layer), s in zip(named, scores):
        if not bool(torch.isfinite(s).all()):
            raise ValueError(
                f"criterion {name!r} gave NaN or infinite scores for layer {layer_name or type(layer).__name__!r} "
                "(NaN or infinite data or gradients?), so nothing was pruned"
            )
    counts = counts_of([len(layer.modes) for layer in layers])
    removal, requested = _select(layers, scores, scope, counts)
    rows = _apply(named, removal, compact=compact)
    removed = sum(r["removed"] for r in rows)
    if removed < requested:
        warnings.warn(
            f"every layer keeps at least one mode: removed {removed} of the {requested} modes requested",
            UserWarning,
            stacklevel=3,
        )
    return {
        "criterion": name,
        "scope": scope,
        "requested": requested,
        "removed": removed,
        "modes_before": sum(r["modes_before"] for r in rows),
        "modes_after": sum(r["modes_after"] for r in rows),
        "layers": rows,
    }


def prune_modes(
    model: nn.Module,
    amount: float,
    criterion: str | Criterion = "magnitude",
    scope: str = "global",
    *,
    data: Any = None,
    loss_fn: Callable[..., Tensor] | None = None,
    compact: bool = True,
) -> dict[str, Any]:
    """Remove the fraction ``amount`` of the kept Fourier modes of every sparse spectral layer, in place.

    Parameters
    ----------
    model : nn.Module
        A :class:`~spectral_sparse.SparseSpectralConv` or a model holding some.
    amount : float in [0, 1)
        Fraction of the modes currently kept to remove: ``floor(amount * n + 0.5)``
        of each layer's ``n`` (scope ``"layer"``) or of all ``n`` pooled
        (``"global"``); every layer keeps at least one mode.
    criterion : {"magnitude", "energy", "taylor"} or callable
        Mode importance, see :mod:`spectral_sparse.prune.criteria` (a callable
        ``(model, layers, data, loss_fn) -> list of (K_l,) scores`` also works).
    scope : {"global", "layer"}
        ``"global"`` compares modes across layers after dividing each layer's
        scores by their mean.
    data : iterable of batches, optional
        Needed by ``"energy"`` and ``"taylor"``: each batch an input tensor or
        ``(inputs, targets)``.
    loss_fn : callable, optional
        Needed by ``"taylor"``: ``loss_fn(model(inputs), targets) -> scalar``.
    compact : bool
        Drop the zeroed modes afterwards (default) so they cost nothing; with
        ``False`` they stay in the layer with zero weights.

    Returns
    -------
    dict
        ``criterion``, ``scope``, ``amount``, ``requested`` and ``removed`` (mode
        counts), ``modes_before``, ``modes_after`` (modes with a non-zero weight)
        and ``layers``: one ``{name, modes_before, removed, modes_after}`` per layer.

    Raises
    ------
    ValueError
        ``amount`` outside [0, 1), unknown criterion or scope, a model without
        sparse spectral layers, ``energy``/``taylor`` without ``data`` (or
        ``taylor`` without ``loss_fn``), a layer with NaN or infinite weights or
        scores (the message names the layer; nothing is pruned).
    TypeError
        ``amount`` not a number, ``model`` not a module, malformed ``data``.

    Notes
    -----
    Compaction gives the pruned layers new weight ``Parameter`` objects:
    optimizers built before the call must be rebuilt (:func:`fine_tune` does).

    Examples
    --------
    >>> import spectral_sparse as ss
    >>> layer = ss.SparseSpectralConv(2, 2, ss.ModeSet.box((4, 4)))
    >>> info = prune_modes(layer, 0.5)
    >>> info["modes_before"], info["modes_after"], len(layer.modes)
    (11, 5, 5)
    """
    amount = check_amount(amount)
    summary = _prune(
        model,
        scope,
        criterion,
        lambda sizes: [_n_remove(amount, n) for n in sizes] if scope == "layer" else _n_remove(amount, sum(sizes)),
        data=data,
        loss_fn=loss_fn,
        compact=compact,
    )
    return {"amount": amount, **summary}


def fine_tune(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    epochs: int = 1,
    *,
    lr: float = 1e-3,
    batch_size: int = 64,
    **kwargs: Any,
) -> dict[str, Any]:
    """Fine-tune a (pruned) classifier with the training loop :func:`spectral_sparse.training.fit`.

    A fresh Adam optimizer and one-cycle schedule are built on the model's
    current parameters, so compacted layers train with their kept modes only
    (a compacted layer cannot regrow pruned modes). ``kwargs`` are those of
    :func:`~spectral_sparse.training.train_classifier` (``resolutions``, ``seed``,
    ``device``, ``progress``, ``loss_fn``, ...; see :func:`~spectral_sparse.training.fit_arguments`).

    Returns
    -------
    dict
        ``train_classifier``'s history.
    """
    from ..training import fit, fit_arguments

    kwargs.setdefault("progress", False)
    config, fit_kwargs = fit_arguments(epochs=epochs, lr=lr, batch_size=batch_size, **kwargs)
    return fit(model, (images, labels), config, **fit_kwargs)


def prune_and_fine_tune(
    model: nn.Module,
    amount: float,
    schedule: str | Schedule = "one_shot",
    data: tuple[Tensor, Tensor] | None = None,
    *,
    steps: int = 1,
    criterion: str | Criterion = "magnitude",
    scope: str = "global",
    fine_tune_epochs: int = 1,
    lr: float = 1e-3,
    batch_size: int = 64,
    score_batches: int = 4,
    loss_fn: Callable[..., Tensor] | None = None,
    callback: Callable[[int, dict[str, Any]], None] | None = None,
    resume: Mapping[str, Any] | None = None,
    **train_kwargs: Any,
) -> dict[str, Any]:
    """Alternate pruning steps (compacting after each) and fine-tuning, following a schedule.

    After step ``t`` the model has lost exactly ``floor(s_t * n0 + 0.5)`` of its
    original ``n0`` modes per layer (scope ``"layer"``) or in total (``"global"``),
    where ``s_t`` is the schedule's cumulative target (up to the one mode every
    layer keeps). Each step compacts, so pruned modes stay at zero while
    fine-tuning.

    Parameters
    ----------
    model : nn.Module
        A classifier holding sparse spectral layers; changed in place.
    amount : float in [0, 1)
        Final fraction of the original modes removed.
    schedule : {"one_shot", "iterative", "gradual"} or Schedule
        A name (with ``steps``) or a :class:`Schedule` whose ``amount`` equals ``amount``.
    data : (images, labels)
        Training data for fine-tuning, and (its first ``score_batches`` batches
        of ``batch_size``) for the ``energy`` and ``taylor`` criteria. Optional
        only for ``magnitude`` with ``fine_tune_epochs=0``.
    steps : int
        Pruning steps of a named schedule.
    fine_tune_epochs : int
        Epochs of fine-tuning after every step (0: none).
    loss_fn : callable, optional
        For ``taylor`` (default: cross-entropy).
    callback : callable, optional
        Called as ``callback(step, summary)`` after each step's fine-tuning.
    resume : dict, optional
        The history of an interrupted call with the same arguments, as far as it
        got (``schedule``, ``amount``, ``targets``, ``modes_initial`` and the
        ``steps`` done), with ``model`` in the state it had after the last of
        those steps. The call continues with the next step; since every step
        prunes relative to ``modes_initial`` and fine-tunes with a fresh, seeded
        optimizer, the result equals that of an uninterrupted call.
    **train_kwargs
        Passed to :func:`fine_tune` (``seed``, ``device``, ``resolutions``, ``progress``...).

    Returns
    -------
    dict
        ``schedule``, ``amount``, ``targets``, ``modes_before``, ``modes_after``
        and ``steps``: per step the :func:`prune_modes` summary plus ``target``
        and, when fine-tuning, ``fine_tune_loss`` (last epoch's mean loss).

    Raises
    ------
    ValueError
        As :func:`prune_modes` (including a layer with NaN or infinite weights at any
        step), a schedule whose amount differs, a negative ``fine_tune_epochs``,
        missing ``data``, or a ``resume`` history of another schedule or model.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.models import SpectralClassifier
    >>> model = SpectralClassifier(1, 3, width=4, modes=2, depth=2)
    >>> info = prune_and_fine_tune(model, 0.5, "iterative", steps=2, fine_tune_epochs=0)
    >>> info["modes_before"], [s["modes_after"] for s in info["steps"]]
    (14, [10, 7])
    """
    amount = check_amount(amount)
    if isinstance(schedule, Schedule):
        if not math.isclose(schedule.amount, amount):
            raise ValueError(f"schedule.amount ({schedule.amount}) differs from amount ({amount})")
        sched = schedule
    else:
        sched = get_schedule(schedule, amount, steps)
    if isinstance(fine_tune_epochs, bool) or not isinstance(fine_tune_epochs, int) or fine_tune_epochs < 0:
        raise ValueError(f"fine_tune_epochs must be a non-negative int, got {fine_tune_epochs!r}")
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}; valid scopes: {', '.join(SCOPES)}")
    crit_name, _ = _resolve_criterion(criterion)
    if data is None and (fine_tune_epochs > 0 or crit_name in ("energy", "taylor")):
        raise ValueError(
            "data=(images, labels) is needed for fine-tuning and for the energy and taylor criteria "
            f"(got criterion {crit_name!r}, fine_tune_epochs={fine_tune_epochs})"
        )
    score_data = None
    if data is not None:
        if not (isinstance(data, (tuple, list)) and len(data) == 2 and all(isinstance(t, Tensor) for t in data)):
            raise TypeError("data must be a pair of tensors (images, labels)")
        images, labels = data
        score_data = [
            (images[i : i + batch_size], labels[i : i + batch_size])
            for i in range(0, min(len(images), score_batches * batch_size), batch_size)
        ]
    named = _layers_or_raise(model)
    n0 = [len(layer.modes) for _, layer in named]
    history: dict[str, Any] = {
        "schedule": sched.kind,
        "amount": amount,
        "targets": sched.targets(),
        "modes_before": sum(n0),
        "modes_initial": {name: n for (name, _), n in zip(named, n0)},
        "steps": [],
    }
    if resume is not None:
        n0 = _check_resume(resume, history, [name for name, _ in named])
        history.update(modes_before=sum(n0), modes_initial=dict(resume["modes_initial"]))
        history["steps"] = [dict(s) for s in resume["steps"]]

    def counts_for(target: float) -> Callable[[list[int]], list[int] | int]:
        def counts(sizes: list[int]) -> list[int] | int:
            if scope == "layer":
                return [max(0, n - (n_orig - _n_remove(target, n_orig))) for n, n_orig in zip(sizes, n0)]
            return max(0, sum(sizes) - (sum(n0) - _n_remove(target, sum(n0))))

        return counts

    for t, target in enumerate(sched.targets(), start=1):
        if t <= len(history["steps"]):
            continue  # done before the interruption
        summary = _prune(
            model,
            scope,
            criterion,
            counts_for(target),
            data=score_data,
            loss_fn=loss_fn or F.cross_entropy,
            compact=True,
        )
        summary["target"] = target
        if fine_tune_epochs > 0:
            hist = fine_tune(model, images, labels, fine_tune_epochs, lr=lr, batch_size=batch_size, **train_kwargs)
            summary["fine_tune_loss"] = hist["loss"][-1]
        history["steps"].append(summary)
        if callback is not None:
            callback(t, summary)
    history["modes_after"] = sum(len(layer.modes) for _, layer in named)
    return history


def _check_resume(resume: Mapping[str, Any], fresh: dict[str, Any], names: list[str]) -> list[int]:
    """The original mode counts of an interrupted :func:`prune_and_fine_tune`; ValueError when it does not fit."""
    needed = ("schedule", "targets", "modes_initial", "steps")
    if not isinstance(resume, Mapping) or not all(k in resume for k in needed):
        raise ValueError("resume must be the history of an interrupted prune_and_fine_tune (schedule, targets, ...)")
    for key in ("schedule", "amount", "targets"):
        mine, theirs = fresh[key], resume.get(key, fresh[key])
        if key == "targets":
            mine, theirs = list(mine), list(theirs) if isinstance(theirs, (list, tuple)) else theirs
        if theirs != mine:
            raise ValueError(f"resume: the interrupted run's {key} {theirs!r} differs from this call's {mine!r}")
    initial = resume["modes_initial"]
    if not isinstance(initial, Mapping) or list(initial) != names:
        raise ValueError(f"resume: the interrupted run pruned the layers {list(initial)}, this model has {names}")
    if not isinstance(resume["steps"], (list, tuple)) or len(resume["steps"]) > len(fresh["targets"]):
        raise ValueError(f"resume: steps must list at most {len(fresh['targets'])} finished steps")
    return [int(initial[name]) for name in names]
