"""Pruning hidden channels of a :class:`~spectral_sparse.models.SpectralClassifier`: a smaller dense model.

Pruning Fourier modes removes only the spectral mixing cost. The rest of the
classifier (the lift, the 1x1 skips, GELU and the Fourier transforms of every
block) costs in proportion to the hidden width, so :func:`prune_channels`
removes whole hidden channels and **compacts** the model: every parameter that
reads from or writes to a removed channel is replaced by a smaller one, and the
result is an ordinary :class:`~spectral_sparse.models.SpectralClassifier` of
the new width (its ``config`` reports it, so checkpoints round-trip).

A hidden channel ``c`` is the row ``c`` of the lift and, in every block ``l``,
the input and output channel ``c`` of the spectral layer (both channel axes of
its weight ``(K, W, W)``, or the one axis of a diagonal weight ``(K, W)``) and of
the skip; the head reads its column ``c`` of the grid mean. Conventions:

* ``amount`` is the fraction of the current width ``W`` removed; the count
  rounds half up, ``floor(amount * W + 0.5)``, and at least one channel is
  kept (when that caps the count a ``UserWarning`` says so).
* The lowest-scoring channels are removed; ties remove the later channel first.
* Each spectral layer keeps its own mode set (layers pruned differently by
  :func:`~spectral_sparse.prune.prune_modes` stay so).
* Parameters are replaced by new ``nn.Parameter`` objects (same dtype, device
  and ``requires_grad``; gradients are dropped): optimizers built before the
  call must be rebuilt.

Criteria (:data:`CHANNEL_CRITERIA`; a higher score is more important):

* ``"energy"``: ``s_c = sum_l E[h_l[c]^2]``, where ``h_l = GELU(spectral_l(h) +
  skip_l(h))`` is the output of block ``l`` and ``E`` is the mean over the grid
  points of a sample, averaged over all samples of ``data`` (the model runs in
  eval mode under ``torch.no_grad()``). A channel whose every block output is
  zero on the data scores 0, and removing it leaves the logits unchanged.
* ``"magnitude"``: ``s_c = ||lift.weight[c]||^2 + sum_l (spectral_l(c) + ||S_l[c, :]||^2
  + ||S_l[:, c]||^2) + ||head.weight[:, c]||^2`` with ``S_l`` the skip's
  ``(W, W)`` matrix and ``spectral_l(c) = sum_k m_k (||W_k[c, :]||^2 +
  ||W_k[:, c]||^2)`` (dense) or ``2 sum_k m_k |W_k[c]|^2`` (diagonal): the
  squared norms of all weights reading from or writing to ``c`` (an entry that
  does both, ``W_k[c, c]``, ``S_l[c, c]`` or a diagonal gain, counts twice).
  ``m_k`` is 1 for ``k = 0`` and 2 otherwise, and only ``Re W_0`` counts, as in
  :func:`spectral_sparse.prune.criteria.magnitude`. Biases are not scored. Needs
  no data.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable
from typing import Any, Protocol, runtime_checkable

import torch
from torch import Tensor, nn

from ..layers import SparseSpectralConv
from ..models.classifier import SpectralClassifier
from ..models.pointwise import PointwiseConv
from .criteria import multiplicity
from .schedules import check_amount

__all__ = ["CHANNEL_CRITERIA", "HiddenChannelModel", "channel_scores", "prune_channels"]

#: Valid ``criterion`` values of :func:`prune_channels` and :func:`channel_scores`.
CHANNEL_CRITERIA = ("energy", "magnitude")


@runtime_checkable
class HiddenChannelModel(Protocol):
    """What channel pruning needs of a model: the structure of :class:`~spectral_sparse.models.SpectralClassifier`.

    ``lift`` (a :class:`~spectral_sparse.models.pointwise.PointwiseConv` to the
    hidden width), ``spectral`` and ``skips`` (``nn.ModuleList`` of
    :class:`~spectral_sparse.layers.SparseSpectralConv` and of ``PointwiseConv``,
    one each per block, width to width), ``act`` (the block nonlinearity applied to
    ``spectral(h) + skip(h)``) and ``head`` (an ``nn.Linear`` reading the grid
    mean). Any module with these attributes qualifies, whatever its class.

    Examples
    --------
    >>> isinstance(SpectralClassifier(1, 3, width=4, modes=2, depth=1), HiddenChannelModel)
    True
    >>> isinstance(nn.Linear(2, 2), HiddenChannelModel)
    False
    """

    lift: nn.Module
    spectral: nn.ModuleList
    skips: nn.ModuleList
    act: nn.Module
    head: nn.Linear


def _width(model: nn.Module) -> int:
    """The hidden width of a :class:`HiddenChannelModel` after checking its structure; TypeError otherwise."""
    if not isinstance(model, nn.Module) or not isinstance(model, HiddenChannelModel):
        raise TypeError(
            f"channel pruning needs a spectral_sparse.models.SpectralClassifier "
            f"(lift -> spectral blocks with skips -> head), or a model with that structure, got {type(model).__name__}"
        )
    lift, spectral, skips, head = (getattr(model, n, None) for n in ("lift", "spectral", "skips", "head"))
    problem = ""
    if not isinstance(lift, PointwiseConv):
        problem = "lift is not a PointwiseConv"
    elif not isinstance(head, nn.Linear):
        problem = "head is not an nn.Linear"
    elif not isinstance(spectral, nn.ModuleList) or not all(isinstance(m, SparseSpectralConv) for m in spectral):
        problem = "spectral is not a ModuleList of SparseSpectralConv"
    elif not isinstance(skips, nn.ModuleList) or not all(isinstance(m, PointwiseConv) for m in skips):
        problem = "skips is not a ModuleList of PointwiseConv"
    elif len(spectral) != len(skips) or len(spectral) == 0:
        problem = f"{len(spectral)} spectral layers but {len(skips)} skips"
    if problem:
        raise TypeError(f"{type(model).__name__} does not have the SpectralClassifier structure: {problem}")
    width = lift.weight.shape[0]
    for i, (layer, skip) in enumerate(zip(spectral, skips)):
        w = layer.weight
        if (w.ndim == 3 and tuple(w.shape[1:]) != (width, width)) or (w.ndim == 2 and w.shape[1] != width):
            raise TypeError(f"spectral.{i} weight {tuple(w.shape)} does not map the hidden width {width} to itself")
        if tuple(skip.weight.shape[:2]) != (width, width):
            raise TypeError(f"skips.{i} weight {tuple(skip.weight.shape)} does not map width {width} to itself")
    if head.weight.shape[1] != width:
        raise TypeError(f"head reads {head.weight.shape[1]} features but the hidden width is {width}")
    return width


@torch.no_grad()
def _energy_scores(model: SpectralClassifier, width: int, data: Any) -> Tensor:
    if data is None:
        raise ValueError(
            "criterion 'energy' needs data: an iterable of image batches or (images, labels) pairs "
            "(or use criterion='magnitude', which needs none)"
        )
    if isinstance(data, Tensor) or not isinstance(data, Iterable):
        raise TypeError(
            f"data must be an iterable of batches (a list of image tensors or of (images, labels), a DataLoader), "
            f"got {type(data).__name__}"
        )
    total = torch.zeros(width, dtype=torch.float64)
    calls = [0]

    def hook(module: nn.Module, args: tuple, output: Tensor) -> None:
        h = model.act(output).detach()  # block output GELU(spectral(h) + skip(h)), (B, W, *grid)
        total.add_(h.to(torch.float64).pow(2).flatten(2).mean(dim=2).sum(dim=0).cpu())
        calls[0] += 1

    param = model.lift.weight
    handles = [skip.register_forward_hook(hook) for skip in model.skips]
    was_training = model.training
    samples = 0
    try:
        model.eval()
        for batch in data:
            if isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
                batch = batch[0]
            if not isinstance(batch, Tensor):
                raise TypeError(f"each batch of data must be a tensor or (images, labels), got {type(batch).__name__}")
            x = batch.to(device=param.device, dtype=param.dtype if batch.is_floating_point() else None)
            model(x)
            samples += x.shape[0]
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    if samples == 0:
        raise ValueError("criterion 'energy' got data with no samples")
    if calls[0] == 0:
        raise ValueError("criterion 'energy': the skips were never called in forward on the data")
    return total / samples


@torch.no_grad()
def _magnitude_scores(model: SpectralClassifier) -> Tensor:
    def sq(t: Tensor) -> Tensor:
        return t.detach().to(torch.float64).pow(2).cpu()

    score = sq(model.lift.weight).flatten(1).sum(dim=1) + sq(model.head.weight).sum(dim=0)
    for layer, skip in zip(model.spectral, model.skips):
        s = sq(skip.weight).flatten(2).sum(dim=2)  # (W_out, W_in)
        score += s.sum(dim=1) + s.sum(dim=0)
        w = layer.weight.detach()
        zero = (layer.modes.indices == 0).all(dim=1).to(w.device).reshape(-1, *([1] * (w.ndim - 1)))
        power = torch.where(zero, w.real**2, w.abs() ** 2).to(torch.float64).cpu()
        power = power * multiplicity(layer).reshape(-1, *([1] * (w.ndim - 1)))
        if w.ndim == 3:  # (K, in, out)
            score += power.sum(dim=(0, 2)) + power.sum(dim=(0, 1))
        else:  # diagonal (K, C): each gain reads from and writes to its channel
            score += 2 * power.sum(dim=0)
    return score


def channel_scores(model: nn.Module, criterion: str = "energy", data: Any = None) -> Tensor:
    """Importance of every hidden channel of a SpectralClassifier (see the module docstring).

    Parameters
    ----------
    model : SpectralClassifier
    criterion : {"energy", "magnitude"}
    data : iterable of batches, optional
        Needed by ``"energy"``: each batch an image tensor ``(B, C, *grid)`` or
        ``(images, labels, ...)``.

    Returns
    -------
    Tensor
        float64 CPU tensor of shape ``(width,)``, non-negative.

    Examples
    --------
    >>> import torch
    >>> model = SpectralClassifier(1, 3, width=4, modes=2, depth=2)
    >>> channel_scores(model, "energy", [torch.randn(2, 1, 8, 8)]).shape
    torch.Size([4])
    """
    width = _width(model)
    if not isinstance(criterion, str) or criterion not in CHANNEL_CRITERIA:
        raise ValueError(f"unknown channel criterion {criterion!r}; valid criteria: {', '.join(CHANNEL_CRITERIA)}")
    if criterion == "energy":
        return _energy_scores(model, width, data)  # type: ignore[arg-type]
    return _magnitude_scores(model)  # type: ignore[arg-type]


def _new(param: Tensor, value: Tensor) -> nn.Parameter:
    return nn.Parameter(value.detach().clone().contiguous(), requires_grad=param.requires_grad)


@torch.no_grad()
def _compact(model: SpectralClassifier, keep: list[int]) -> None:
    """Keep only the hidden channels ``keep`` in every parameter; everything computed before assigning."""

    def idx(t: Tensor) -> Tensor:
        return torch.tensor(keep, dtype=torch.long, device=t.device)

    n = len(keep)
    new: list[tuple[nn.Module, str, nn.Parameter]] = []
    lift = model.lift
    new.append((lift, "weight", _new(lift.weight, lift.weight[idx(lift.weight)])))
    for layer, skip in zip(model.spectral, model.skips):
        w = layer.weight
        i = idx(w)
        value = w[:, i][:, :, i] if w.ndim == 3 else w[:, i]
        new.append((layer, "weight", _new(w, value)))
        i = idx(skip.weight)
        new.append((skip, "weight", _new(skip.weight, skip.weight[i][:, i])))
        for module in (layer, skip):
            if module.bias is not None:
                new.append((module, "bias", _new(module.bias, module.bias[idx(module.bias)])))
    if lift.bias is not None:
        new.append((lift, "bias", _new(lift.bias, lift.bias[idx(lift.bias)])))
    head = model.head
    new.append((head, "weight", _new(head.weight, head.weight[:, idx(head.weight)])))
    for module, name, param in new:
        setattr(module, name, param)
    lift.out_channels = n
    for layer, skip in zip(model.spectral, model.skips):
        layer.in_channels = layer.out_channels = n
        skip.in_channels = skip.out_channels = n
    head.in_features = n


def prune_channels(model: nn.Module, amount: float, criterion: str = "energy", data: Any = None) -> list[int]:
    """Remove the fraction ``amount`` of the hidden channels of a SpectralClassifier and compact it, in place.

    The lift's output rows, both channel axes of every spectral weight
    (``(K, W, W)``, or the axis of a diagonal ``(K, W)``) and every skip, their
    biases and the head's input columns are cut to the kept channels, so the
    model becomes a ``SpectralClassifier`` of the smaller width (``model.config``
    says so) whose cost shrinks with it. Each spectral layer keeps its modes.

    Parameters
    ----------
    model : SpectralClassifier
        Changed in place.
    amount : float in [0, 1)
        Fraction of the current width ``W`` to remove: ``floor(amount * W + 0.5)``
        channels, at most ``W - 1`` (a ``UserWarning`` when that caps the count).
    criterion : {"energy", "magnitude"}
        Channel importance (see the module docstring): mean squared block
        outputs on ``data``, or squared norms of the weights touching the channel.
    data : iterable of batches, optional
        Required by ``"energy"``: image tensors ``(B, C, *grid)`` or
        ``(images, labels)`` pairs.

    Returns
    -------
    list of int
        The kept channel indices (of the width before the call), sorted.

    Raises
    ------
    TypeError
        ``model`` is not a SpectralClassifier with the ``lift``/``spectral``/
        ``skips``/``head`` structure; ``amount`` not a number; malformed ``data``.
    ValueError
        ``amount`` outside [0, 1), unknown criterion, ``"energy"`` without data.

    Notes
    -----
    The parameters become new ``nn.Parameter`` objects: rebuild optimizers.

    Examples
    --------
    >>> import torch
    >>> _ = torch.manual_seed(0)
    >>> model = SpectralClassifier(1, 3, width=8, modes=2, depth=2)
    >>> kept = prune_channels(model, 0.5, "energy", data=[torch.randn(4, 1, 12, 12)])
    >>> len(kept), model.config["width"], tuple(model.spectral[0].weight.shape)
    (4, 4, (7, 4, 4))
    >>> model(torch.randn(2, 1, 16, 16)).shape
    torch.Size([2, 3])
    """
    width = _width(model)
    amount = check_amount(amount)
    scores = channel_scores(model, criterion, data)
    requested = math.floor(amount * width + 0.5)
    n_remove = min(requested, width - 1)
    if n_remove < requested:
        warnings.warn(
            f"at least one hidden channel is kept: removed {n_remove} of the {requested} channels requested",
            UserWarning,
            stacklevel=2,
        )
    order = sorted(range(width), key=lambda c: (float(scores[c]), -c))  # removed first: low score, later channel
    keep = sorted(order[n_remove:])
    if n_remove:
        _compact(model, keep)  # type: ignore[arg-type]
    return keep
