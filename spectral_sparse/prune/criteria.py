"""Importance scores of the Fourier modes of sparse spectral layers: a small registry of criteria.

A criterion maps the layers to be pruned to one non-negative score per mode
(higher = more important); :func:`~spectral_sparse.prune.prune_modes` removes
the lowest-scoring modes. Every criterion has the signature::

    criterion(model, layers, data, loss_fn) -> list[Tensor]   # one float64 CPU tensor (K_l,) per layer

* ``"magnitude"``: ``m_k ||W_k||_F^2``, the squared Frobenius norm of the mode's
  mixing matrix times its multiplicity ``m_k`` (1 for ``k = 0``, 2 otherwise:
  a stored mode stands for the pair ``{k, -k}``). Summed over the modes it is
  the squared Hilbert-Schmidt norm of the layer's spectral part, so the score
  is each mode's share of it. For ``k = 0`` only ``Re W_0`` acts (``x̂(0)`` is
  real and the synthesis takes the real part), so its score is ``||Re W_0||_F^2``.
  Needs no data.
* ``"energy"``: ``m_k E_x sum_o |ŷ_o(k)|^2`` with ``ŷ(k) = W_k^T x̂(k)`` and
  ``x̂`` the layer's actual input spectrum (norm "forward", at the input grid)
  over the batches of ``data``, recorded with forward pre-hooks. By Parseval
  it is the mean energy (mean over grid points, summed over channels, averaged
  over samples) that the layer's output loses when the mode is removed
  (``|Re ŷ(0)|^2`` for ``k = 0``, the part the output keeps). Modes the input
  grid does not resolve score 0.
* ``"taylor"``: the first-order Taylor estimate of the change of the loss
  when the mode is removed, ``|Re <G_k, W_k>|`` with ``G_k = dL/dW_k``
  (PyTorch's complex gradient, so that ``dL = Re sum conj(G) dW``), averaged
  over the batches of ``data`` as absolute values per batch (Molchanov et al.,
  2017). Needs ``data`` and ``loss_fn``.

``data`` is an iterable of batches (a list, a ``DataLoader``); a batch is an
input tensor ``x`` or a sequence ``(x, target, ...)``. The loss of a batch is
``loss_fn(model(x), target, ...)``, or ``loss_fn(model(x))`` for a bare tensor.
Scores are computed in eval mode under the model's current device; the model's
training flag is restored afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..layers import SparseSpectralConv

__all__ = [
    "CRITERIA",
    "Criterion",
    "energy",
    "get_criterion",
    "magnitude",
    "mode_parameter",
    "mode_weights",
    "multiplicity",
    "taylor",
]

Criterion = Callable[[nn.Module, Sequence[SparseSpectralConv], Any, Any], list[Tensor]]


def multiplicity(layer: SparseSpectralConv) -> Tensor:
    """``m_k``: 1 for ``k = 0`` and 2 for every other stored mode (it stands for ``{k, -k}``), float64 ``(K,)``.

    Examples
    --------
    >>> from spectral_sparse import ModeSet
    >>> multiplicity(SparseSpectralConv(1, 1, ModeSet.box(4))).tolist()
    [1.0, 2.0, 2.0]
    """
    idx = layer.modes.indices
    return torch.where((idx == 0).all(dim=1), 1.0, 2.0).to(torch.float64)


def mode_weights(layer: nn.Module) -> Tensor:
    """The per-mode matrices ``W_k`` the layer computes with, complex ``(K, in, out)`` or ``(K, channels)``.

    ``layer.weight`` for a :class:`~spectral_sparse.SparseSpectralConv`; ``U_in G_k U_out^T``
    for a :class:`~spectral_sparse.lowrank.LowRankSpectralConv` (its ``dense_weight()``).
    """
    return layer.dense_weight() if hasattr(layer, "dense_weight") else layer.weight


def mode_parameter(layer: nn.Module) -> nn.Parameter:
    """The Parameter with one row per stored mode (zeroing a row removes that mode).

    ``layer.weight``, or a low-rank layer's ``mode_parameter`` (its per-mode cores or mode factor).
    """
    return layer.mode_parameter if hasattr(layer, "mode_parameter") else layer.weight


def magnitude(
    model: nn.Module, layers: Sequence[SparseSpectralConv], data: Any = None, loss_fn: Any = None
) -> list[Tensor]:
    """``m_k ||W_k||_F^2`` per mode of every layer (data and loss_fn are not used).

    Examples
    --------
    >>> from spectral_sparse import ModeSet
    >>> layer = SparseSpectralConv(1, 1, ModeSet.box(4), bias=False)
    >>> with torch.no_grad():
    ...     layer.weight[:] = torch.tensor([3.0, 1.0, 2j]).reshape(3, 1, 1)
    >>> magnitude(layer, [layer])[0].tolist()
    [9.0, 2.0, 8.0]
    """
    scores = []
    for layer in layers:
        w = mode_weights(layer).detach().flatten(1)
        scores.append(_power(w, layer).sum(dim=1).to(torch.float64).cpu() * multiplicity(layer))
    return scores


def _power(z: Tensor, layer: SparseSpectralConv) -> Tensor:
    """``|z|^2`` per entry of a ``(K, ...)`` complex tensor, ``(Re z)^2`` on the rows of ``k = 0``."""
    zero = (layer.modes.indices == 0).all(dim=1).to(z.device).reshape(-1, *([1] * (z.ndim - 1)))
    return torch.where(zero, z.real**2, z.abs() ** 2)


def _batches(data: Any, criterion: str) -> Iterator[tuple[Tensor, tuple]]:
    """``(x, targets)`` for every batch of ``data``; clear errors for anything else."""
    if data is None:
        raise ValueError(
            f"criterion {criterion!r} needs data: an iterable of batches, each an input tensor or (inputs, targets)"
        )
    if isinstance(data, Tensor) or not isinstance(data, Iterable):
        raise TypeError(
            f"data must be an iterable of batches (e.g. a list of (inputs, targets) or a DataLoader), "
            f"got {type(data).__name__}"
        )
    count = 0
    for batch in data:
        if isinstance(batch, Tensor):
            x, rest = batch, ()
        elif isinstance(batch, (tuple, list)) and batch and isinstance(batch[0], Tensor):
            x, rest = batch[0], tuple(batch[1:])
        else:
            raise TypeError(
                f"each batch of data must be a tensor or a sequence (inputs, targets, ...), got {type(batch).__name__}"
            )
        count += 1
        yield x, rest
    if count == 0:
        raise ValueError(f"criterion {criterion!r} got data with no batches")


def _device(model: nn.Module) -> torch.device:
    return next((p.device for p in model.parameters()), torch.device("cpu"))


def mode_spectrum(x: Tensor, layer: SparseSpectralConv) -> Tensor:
    """The input spectrum at the layer's modes, ``x̂(k)`` (norm "forward"), complex ``(K, B, C)``.

    Modes the grid of ``x`` does not resolve (``2|k_i| > N_i``) get 0.
    """
    grid = tuple(x.shape[2:])
    modes = layer.modes
    if len(grid) != modes.ndim:
        raise ValueError(f"layer input has grid {grid} but the layer's modes are {modes.ndim}-D")
    spec = torch.fft.rfftn(x, dim=tuple(range(2, x.ndim)), norm="forward")  # (B, C, N_0, ..., N_last//2 + 1)
    idx = modes.indices.to(x.device)
    resolved = modes.resolved(grid).to(x.device)
    pos = [idx[:, i] % grid[i] for i in range(modes.ndim - 1)]
    pos.append(idx[:, -1].clamp_max(grid[-1] // 2))
    vals = spec[(slice(None), slice(None), *pos)]  # (B, C, K)
    return (vals * resolved).permute(2, 0, 1)


@torch.no_grad()
def energy(
    model: nn.Module, layers: Sequence[SparseSpectralConv], data: Any = None, loss_fn: Any = None
) -> list[Tensor]:
    """``m_k E sum_o |ŷ_o(k)|^2`` per mode, from the layers' inputs on the batches of ``data`` (loss_fn unused).

    Examples
    --------
    >>> from spectral_sparse import ModeSet
    >>> layer = SparseSpectralConv(1, 1, ModeSet.box(4), bias=False)
    >>> with torch.no_grad():
    ...     layer.weight[:] = 1.0
    >>> x = torch.cos(2 * torch.pi * torch.arange(8.0) / 8).reshape(1, 1, 8)  # x̂(±1) = 1/2
    >>> [round(v, 6) for v in energy(layer, [layer], [x])[0].tolist()]
    [0.0, 0.5, 0.0]
    """
    totals = [torch.zeros(len(layer.modes), dtype=torch.float64) for layer in layers]
    seen = [0] * len(layers)
    samples = 0

    def make_hook(i: int, layer: SparseSpectralConv) -> Callable:
        def hook(module: nn.Module, args: tuple, kwargs: dict) -> None:
            x = args[0] if args else kwargs["x"]
            xk = mode_spectrum(x.detach(), layer)  # (K, B, C)
            w = mode_weights(layer).detach()
            yk = xk * w[:, None, :] if w.ndim == 2 else torch.bmm(xk, w.to(xk.dtype))
            totals[i] += _power(yk, layer).sum(dim=(1, 2)).to(torch.float64).cpu()
            seen[i] += 1

        return hook

    handles = [layer.register_forward_pre_hook(make_hook(i, layer), with_kwargs=True) for i, layer in enumerate(layers)]
    was_training = model.training
    device = _device(model)
    try:
        model.eval()
        for x, _ in _batches(data, "energy"):
            model(x.to(device))
            samples += x.shape[0]
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    _check_called(layers, seen, "energy")
    return [t * multiplicity(layer) / samples for t, layer in zip(totals, layers)]


def taylor(
    model: nn.Module, layers: Sequence[SparseSpectralConv], data: Any = None, loss_fn: Any = None
) -> list[Tensor]:
    """``mean over batches of |Re <dL/dW_k, W_k>|`` per mode: first-order loss change when the mode is removed.

    Examples
    --------
    >>> from spectral_sparse import ModeSet
    >>> layer = SparseSpectralConv(1, 1, ModeSet.box(2), bias=False)
    >>> x = torch.randn(2, 1, 8)
    >>> s = taylor(layer, [layer], [x], loss_fn=lambda y: y.sum())
    >>> s[0].shape, bool((s[0] >= 0).all())
    (torch.Size([2]), True)
    """
    if loss_fn is None:
        raise ValueError("criterion 'taylor' needs loss_fn: loss_fn(outputs, targets) or loss_fn(outputs) -> scalar")
    if not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable, got {type(loss_fn).__name__}")
    totals = [torch.zeros(len(layer.modes), dtype=torch.float64) for layer in layers]
    n_batches = 0
    was_training = model.training
    device = _device(model)
    try:
        model.eval()
        for x, rest in _batches(data, "taylor"):
            loss = loss_fn(model(x.to(device)), *(r.to(device) if isinstance(r, Tensor) else r for r in rest))
            if not isinstance(loss, Tensor) or loss.numel() != 1:
                raise ValueError(f"loss_fn must return a scalar tensor, got {getattr(loss, 'shape', type(loss))}")
            params = [mode_parameter(layer) for layer in layers]
            grads = torch.autograd.grad(loss.reshape(()), params, allow_unused=True)
            for i, g in enumerate(grads):
                if g is None:
                    raise ValueError(f"the loss does not depend on spectral layer {i} (was it called in forward?)")
                w = params[i].detach()
                inner = (g.conj() * w).real.flatten(1).sum(dim=1)
                totals[i] += inner.abs().to(torch.float64).cpu()
            n_batches += 1
    finally:
        model.train(was_training)
    return [t / n_batches for t in totals]


def _check_called(layers: Sequence[SparseSpectralConv], seen: Sequence[int], criterion: str) -> None:
    missing = [i for i, n in enumerate(seen) if n == 0]
    if missing:
        raise ValueError(
            f"criterion {criterion!r}: spectral layer(s) {missing} were never called in forward on the data"
        )


#: Criterion name -> function. Add an entry to make a criterion available by name.
CRITERIA: dict[str, Criterion] = {"magnitude": magnitude, "energy": energy, "taylor": taylor}


def get_criterion(name: str) -> Criterion:
    """The criterion registered under ``name``; ValueError listing the valid names otherwise.

    Examples
    --------
    >>> get_criterion("magnitude").__name__
    'magnitude'
    """
    if not isinstance(name, str) or name not in CRITERIA:
        raise ValueError(f"unknown criterion {name!r}; valid criteria: {', '.join(sorted(CRITERIA))}")
    return CRITERIA[name]
