"""Sparsity reports: modes, parameters and FLOPs of every sparse spectral layer of a model.

FLOPs are an operation count of the ``dft`` backend's forward for **one
sample** on an input grid ``N`` (output grid = input grid), counting a real
multiply-add as 2 FLOPs and a complex one as 8. With ``C`` input and ``O``
output channels, ``M'`` the modes the grid resolves (``K' = |M'|``), ``U`` the
distinct last-axis frequencies of ``M'`` (``U = K'`` in 1-D), and for every
earlier axis ``i = 0..d-2`` ``A_i`` its distinct frequencies and ``P_{i+1}`` the
distinct suffixes ``(k_{i+1}, ..., k_last)``::

    analysis, last axis     4 U C |N|                                (real GEMM against [cos, -sin])
    analysis, axis i        8 A_i P_{i+1} C prod(N_0..N_i)            (complex products)
    mixing                  8 K' C O     (diagonal: 8 K' C)
    synthesis, axis i       8 A_i P_{i+1} O prod(N_0..N_i)
    synthesis, last axis    4 U O |N|

A :class:`~spectral_sparse.lowrank.LowRankSpectralConv` with ranks ``r_in``,
``r_out`` counts its 1x1 projection ``2 C r_in |N|`` and expansion ``2 r_out O |N|``
plus the terms above with ``C, O`` replaced by ``r_in, r_out``; rebuilding its cores
from a mode factor (once per call, not per sample) is not counted.

The bias (folded into ``k = 0``), gathers, scatters and the synthesis weights
are not counted. The formula follows :mod:`spectral_sparse.backends.dft`; it is
a count of arithmetic, not a time (timings belong in ``benchmarks/``).
"""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Mapping, Sequence
from typing import Any

import torch
from torch import nn

from .._checks import grid_shape as check_grid
from ..layers import SparseSpectralConv
from .core import spectral_layers

__all__ = ["SparsityReport", "layer_flops", "sparsity_report"]

_NEED = "the layer's modes are"  # completes "grid_shape (4,) has 1 axes but ... 2-D"
_COLUMNS = ("name", "modes_kept", "modes_total", "kept_fraction", "parameters", "flops")


def _real_count(module: nn.Module, recurse: bool = True) -> int:
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in module.parameters(recurse=recurse))


def layer_flops(layer: nn.Module, grid_shape: int | Sequence[int]) -> int:
    """FLOPs of the layer's ``dft`` forward for one sample on ``grid_shape`` (formula in the module docstring).

    Examples
    --------
    >>> from spectral_sparse import ModeSet
    >>> layer = SparseSpectralConv(2, 3, ModeSet.box(3))  # 1-D, K = 2 modes: k = 0, 1
    >>> layer_flops(layer, 16) == 4 * 2 * (2 + 3) * 16 + 8 * 2 * 2 * 3
    True
    """
    modes = layer.modes
    grid = check_grid(grid_shape, modes.ndim, "grid_shape", need=_NEED)
    idx = modes.restrict(grid).indices
    k = int(idx.shape[0])
    if k == 0:
        return 0
    c, o, d = layer.in_channels, layer.out_channels, modes.ndim
    pre = 0
    rank = getattr(layer, "rank", None)
    if rank is not None and not isinstance(layer, SparseSpectralConv):  # LowRankSpectralConv: 1x1 maps + ranks
        r_in, r_out = int(rank[0]), int(rank[1])
        pre = 2 * (c * r_in + r_out * o) * math.prod(grid)
        c, o = r_in, r_out
    channels = c + o
    u = k if d == 1 else int(torch.unique(idx[:, -1]).numel())
    flops = 4 * u * channels * math.prod(grid)
    for i in range(d - 1):
        a = int(torch.unique(idx[:, i]).numel())
        p = int(torch.unique(idx[:, i + 1 :], dim=0).shape[0])
        flops += 8 * a * p * channels * math.prod(grid[: i + 1])
    flops += 8 * k * c * (1 if getattr(layer, "mixing", "dense") == "diagonal" else o)
    return flops + pre


class SparsityReport:
    """Per-layer rows and model totals; ``str(report)`` is a text table.

    Attributes
    ----------
    rows : list of dict
        One per sparse spectral layer: ``name``, ``modes_kept``, ``modes_total``
        (``None`` when unknown), ``kept_fraction``, ``parameters`` (real count of
        weight and bias, complex = 2), ``flops`` (``None`` without a grid).
    totals : dict
        ``modes_kept``, ``modes_total``, ``kept_fraction``, ``spectral_parameters``,
        ``parameters`` (the whole model), ``flops`` (sum over the spectral layers,
        or ``None``), ``grid_shape``.
    """

    def __init__(self, rows: list[dict[str, Any]], totals: dict[str, Any]) -> None:
        self.rows = rows
        self.totals = totals

    def to_dict(self) -> dict[str, Any]:
        """``{"rows": [...], "totals": {...}}`` (plain types, JSON-ready)."""
        return {"rows": [dict(r) for r in self.rows], "totals": dict(self.totals)}

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """The rows, plus a final ``total`` row, as CSV text; also written to ``path`` when given."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(_COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(self.rows)
        t = self.totals
        writer.writerow({**{k: t.get(k) for k in _COLUMNS}, "name": "total", "parameters": t["spectral_parameters"]})
        text = buf.getvalue()
        if path is not None:
            with open(path, "w", newline="") as f:
                f.write(text)
        return text

    def __str__(self) -> str:
        def fmt(value: Any, spec: str = ",") -> str:
            if value is None:
                return "-"
            return format(value, spec)

        head = ("layer", "modes", "of", "kept", "params", "FLOPs")
        body = [
            (
                r["name"],
                fmt(r["modes_kept"]),
                fmt(r["modes_total"]),
                fmt(r["kept_fraction"], ".1%"),
                fmt(r["parameters"]),
                fmt(r["flops"]),
            )
            for r in self.rows
        ]
        t = self.totals
        body.append(
            (
                "total",
                fmt(t["modes_kept"]),
                fmt(t["modes_total"]),
                fmt(t["kept_fraction"], ".1%"),
                fmt(t["spectral_parameters"]),
                fmt(t["flops"]),
            )
        )
        widths = [max(len(row[i]) for row in (head, *body)) for i in range(len(head))]
        lines = [
            "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths)))
            for row in (head, *body)
        ]
        lines.insert(1, "-" * len(lines[0]))
        grid = t["grid_shape"]
        where = f"FLOPs per sample at grid {'x'.join(map(str, grid))} (dft backend)" if grid else "no grid: no FLOPs"
        lines.append(f"model parameters: {t['parameters']:,} (spectral {t['spectral_parameters']:,}); {where}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return (
            f"SparsityReport({len(self.rows)} layers, modes {self.totals['modes_kept']}/{self.totals['modes_total']})"
        )


def sparsity_report(
    model: nn.Module,
    grid_shape: int | Sequence[int] | None = None,
    *,
    original: Mapping[str, int] | nn.Module | None = None,
) -> SparsityReport:
    """Modes kept, parameters and FLOPs of every sparse spectral layer of ``model``.

    Parameters
    ----------
    model : nn.Module
    grid_shape : int or tuple of int, optional
        Input grid for the FLOP count (see :func:`layer_flops`; an int is that
        size along every axis); none: no FLOPs.
    original : mapping or nn.Module, optional
        Mode counts before pruning: ``{layer name: count}`` or an unpruned
        model with the same layer names. Default: each layer's
        ``initial_num_modes`` (its count at construction), which is right for a
        model pruned since it was built; it is not trusted (reported as
        unknown, ``None``) when it is below the kept count, as after loading a
        checkpoint of a differently pruned model.

    Returns
    -------
    SparsityReport

    Raises
    ------
    ValueError
        A model without sparse spectral layers, or a grid of the wrong rank.

    Examples
    --------
    >>> from spectral_sparse import ModeSet
    >>> layer = SparseSpectralConv(2, 2, ModeSet.box(3), bias=False)
    >>> r = sparsity_report(layer, 8)
    >>> r.rows[0]["modes_kept"], r.rows[0]["parameters"], r.totals["flops"]
    (2, 16, 320)
    """
    named = spectral_layers(model)
    if not named:
        raise ValueError(f"{type(model).__name__} has no SparseSpectralConv layers to report on")
    grid = None if grid_shape is None else check_grid(grid_shape, named[0][1].modes.ndim, "grid_shape", need=_NEED)
    if isinstance(original, nn.Module):
        original = {name: len(layer.modes) for name, layer in spectral_layers(original)}
    rows = []
    for name, layer in named:
        kept = len(layer.modes)
        if original is not None:
            total = original.get(name)
        else:
            init = getattr(layer, "initial_num_modes", None)
            total = init if isinstance(init, int) and init >= kept else None
        rows.append(
            {
                "name": name,
                "modes_kept": kept,
                "modes_total": total,
                "kept_fraction": kept / total if total else None,
                "parameters": _real_count(layer),
                "flops": None if grid is None else layer_flops(layer, grid),
            }
        )
    kept = sum(r["modes_kept"] for r in rows)
    known = all(r["modes_total"] is not None for r in rows)
    total = sum(r["modes_total"] for r in rows) if known else None
    totals = {
        "modes_kept": kept,
        "modes_total": total,
        "kept_fraction": kept / total if total else None,
        "spectral_parameters": sum(r["parameters"] for r in rows),
        "parameters": _real_count(model),
        "flops": None if grid is None else sum(r["flops"] for r in rows),
        "grid_shape": list(grid) if grid is not None else None,
    }
    return SparsityReport(rows, totals)
