"""Removing modes while an earlier graph is still alive (a ``loss`` kept between steps, as training loops do).

Autograd caches a leaf's gradient accumulator with the leaf's shape; ``compact`` and
``set_modes`` resize the weight Parameter in place, so they must renew that cache
(``layers.resize_parameter``), or the next backward fails with "invalid gradient".
"""

from __future__ import annotations

import copy

import torch

from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.lowrank import LowRankSpectralConv
from spectral_sparse.testing import TOLERANCES


def _prune_half(layer) -> None:
    with torch.no_grad():
        p = layer.weight if isinstance(layer, SparseSpectralConv) else layer.mode_parameter
        p[len(p) // 2 :] = 0


def _check(layer) -> None:
    x = torch.randn(3, layer.in_channels, 12, 12, dtype=torch.float64)
    kept = layer(x).square().sum()
    kept.backward()  # `kept` keeps the first graph (and its gradient accumulators) alive
    _prune_half(layer)
    twin = copy.deepcopy(layer)  # same weights, never had a graph
    layer.compact()
    twin.compact()
    for m in (layer, twin):
        m.zero_grad(set_to_none=True)
        m(x).square().sum().backward()
    p, q = (
        (layer.weight, twin.weight)
        if isinstance(layer, SparseSpectralConv)
        else (layer.mode_parameter, twin.mode_parameter)
    )
    assert p.shape[0] == q.shape[0] < 16
    rtol, atol = TOLERANCES[torch.float64]
    torch.testing.assert_close(p.grad, q.grad, rtol=rtol, atol=atol)
    assert kept.grad_fn is not None


def test_compact_with_a_live_graph_then_backward() -> None:
    torch.manual_seed(0)
    _check(SparseSpectralConv(2, 3, ModeSet.box((4, 4))).double())


def test_set_modes_with_a_live_graph_then_backward() -> None:
    torch.manual_seed(0)
    layer = SparseSpectralConv(2, 3, ModeSet.box((4, 4))).double()
    layer(torch.randn(2, 2, 10, 10, dtype=torch.float64)).sum().backward()
    kept = layer(torch.randn(2, 2, 10, 10, dtype=torch.float64)).sum()
    layer.set_modes(ModeSet.radial(1.5, ndim=2))  # 5 modes instead of 11
    layer(torch.randn(2, 2, 10, 10, dtype=torch.float64)).sum().backward()
    assert layer.weight.grad.shape == layer.weight.shape and kept.grad_fn is not None


def test_low_rank_compact_with_a_live_graph_then_backward() -> None:
    torch.manual_seed(0)
    _check(LowRankSpectralConv(2, 3, ModeSet.box((4, 4)), rank=2).double())
