"""Sparse initialisation of spectral layers, and measuring their mode sparsity.

Bregman training (:class:`~spectral_sparse.optim.LinBreg`) starts from a sparse
net and switches modes on as their accumulated gradients grow, so the usual
start is :func:`sparse_init` with a small ``density``.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from .._checks import spectral_layers as named_layers
from ..layers import SparseSpectralConv

__all__ = ["layer_mode_sparsity", "mode_sparsity", "sparse_init", "spectral_layers"]


def spectral_layers(model: nn.Module) -> list[tuple[str, SparseSpectralConv]]:
    """The ``(name, layer)`` pairs of every :class:`SparseSpectralConv` in ``model`` (the model itself included)."""
    return named_layers(model, SparseSpectralConv, root="<model>")


def _require_layers(model: nn.Module) -> list[tuple[str, SparseSpectralConv]]:
    layers = spectral_layers(model)
    if not layers:
        raise ValueError(f"{type(model).__name__} has no SparseSpectralConv layer")
    return layers


def _zero_modes(layer: SparseSpectralConv) -> torch.Tensor:
    w = layer.weight.detach()
    return ~(w != 0).reshape(w.shape[0], -1).any(dim=1)


def layer_mode_sparsity(model: nn.Module) -> dict[str, float]:
    """Fraction of modes whose weights are all zero, per :class:`SparseSpectralConv` (by module name).

    Examples
    --------
    >>> from spectral_sparse import SparseSpectralConv
    >>> layer = SparseSpectralConv(2, 2, (4, 4))
    >>> with torch.no_grad():
    ...     layer.weight[:2] = 0
    >>> layer_mode_sparsity(nn.Sequential(layer))
    {'0': 0.18181818181818182}
    """
    out = {}
    for name, layer in _require_layers(model):
        mask = _zero_modes(layer)
        out[name] = int(mask.sum()) / mask.numel() if mask.numel() else 0.0
    return out


def mode_sparsity(model: nn.Module) -> float:
    """Fraction of all modes (over every :class:`SparseSpectralConv`) whose weights are all zero.

    Modes are counted as they are stored, so a layer with more modes weighs more;
    a compacted layer (:meth:`SparseSpectralConv.compact`) no longer holds its
    removed modes.

    Examples
    --------
    >>> from spectral_sparse import SparseSpectralConv
    >>> mode_sparsity(SparseSpectralConv(1, 1, (4, 4)))
    0.0
    """
    zero = total = 0
    for _, layer in _require_layers(model):
        mask = _zero_modes(layer)
        zero += int(mask.sum())
        total += mask.numel()
    return zero / total if total else 0.0


@torch.no_grad()
def sparse_init(model: nn.Module, density: float, seed: int | None = 0) -> dict[str, torch.Tensor]:
    """Zero the weights of all but a random fraction ``density`` of each spectral layer's modes.

    Each layer keeps ``density * K`` (rounded half up) of its ``K`` modes (at least one when
    ``density > 0``), drawn uniformly without replacement; the kept weights are
    left as they are. Build (or :meth:`~spectral_sparse.optim.LinBreg.reset_subgradients`)
    the Bregman optimizer afterwards, so its subgradients start from the sparse weights.

    Parameters
    ----------
    model : nn.Module
        Holds at least one :class:`SparseSpectralConv`.
    density : float
        In ``[0, 1]``.
    seed : int or None
        Seed of the draw (``None``: torch's global generator).

    Returns
    -------
    dict of str to BoolTensor
        The kept-mode mask, shape ``(K,)``, of each layer by module name.

    Examples
    --------
    >>> from spectral_sparse import SparseSpectralConv
    >>> layer = SparseSpectralConv(2, 3, (6, 6))
    >>> kept = sparse_init(layer, density=0.25, seed=0)
    >>> int(kept["<model>"].sum()), mode_sparsity(layer)
    (6, 0.7272727272727273)
    """
    if isinstance(density, bool) or not isinstance(density, (int, float)) or not 0 <= density <= 1:
        raise ValueError(f"density must be a number in [0, 1], got {density!r}")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        raise TypeError(f"seed must be an int or None, got {seed!r}")
    generator = None
    if seed is not None:
        generator = torch.Generator().manual_seed(seed)
    masks = {}
    for name, layer in _require_layers(model):
        k = len(layer.modes)
        n_keep = min(k, max(1, math.floor(density * k + 0.5))) if density > 0 else 0
        order = torch.randperm(k, generator=generator)
        keep = torch.zeros(k, dtype=torch.bool)
        keep[order[:n_keep]] = True
        layer.weight[~keep.to(layer.weight.device)] = 0
        masks[name] = keep
    return masks
