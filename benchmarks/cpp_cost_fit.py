"""Fit the ``cpp`` backend's cost model (``spectral_sparse/backends/cpp/__init__.py``) to measured times.

Run from the repository root (about 15 s)::

    python -m benchmarks.cpp_cost_fit

Times the ``cpp`` forward (minimum of 9 calls after one warm-up, one thread) on
2-D and 3-D grids from 8 to 128 points per axis with boxes, radial and full
mode sets and batch/channel counts 2/4, 8/32 and 64/16, then fits
``t = fixed + a·elems + b·U·elems + c·K·rows + d·mix`` by non-negative least
squares on relative error (``elems``: grid points of x and y over batch and
channels; ``U``: distinct last-axis frequencies; ``rows``: grid rows of x and y;
``mix``: complex multiply-adds of the mixing). Prints the coefficients and the
spread of predicted over measured times, and writes
``benchmarks/results/cpp_cost_fit/cpu/results.csv`` (one row per case).
"""

from __future__ import annotations

import argparse
import math
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import nnls

from benchmarks.runner import write_csv
from spectral_sparse import ModeSet
from spectral_sparse.functional import prepare_call, sparse_spectral_conv

ROOT = Path(__file__).resolve().parents[1]


def _min_time(fn, n: int = 9) -> float:
    fn()
    best = math.inf
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _cases() -> list[tuple[tuple[int, ...], str, ModeSet, int, int]]:
    out = []
    for grid in [(8, 8), (16, 16), (28, 28), (64, 64), (128, 128), (8, 8, 8), (16, 16, 16)]:
        d = len(grid)
        sets = {
            "box4": ModeSet.box((4,) * d),
            "box8": ModeSet.box((min(8, grid[0]),) * d),
            "radial2": ModeSet.radial(2.0, ndim=d),
            "full": ModeSet.full(grid) if math.prod(grid) <= 4096 else ModeSet.box((16,) * d),
        }
        for name, modes in sets.items():
            for b, c in [(2, 4), (8, 32), (64, 16)]:
                if math.prod(grid) * b * c <= 2**23:
                    out.append((grid, name, modes, b, c))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cpp_cost_fit", description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "cpp_cost_fit" / "cpu" / "results.csv")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    rows, feats, times = [], [], []
    for grid, name, modes, b, c in _cases():
        x = torch.randn(b, c, *grid, generator=gen)
        w = torch.randn(len(modes), c, c, dtype=torch.cfloat, generator=gen)
        call = prepare_call(x, w, modes, None, None)
        k, u = len(call.modes), int(torch.unique(call.modes.indices[:, -1]).numel())
        elems, grid_rows = 2 * b * c * math.prod(grid), 2 * b * c * math.prod(grid[:-1])
        t = _min_time(lambda x=x, w=w, modes=modes: sparse_spectral_conv(x, w, modes, backend="cpp"))
        feats.append([1.0, elems, u * elems, k * grid_rows, k * b * c * c])
        times.append(t)
        rows.append(
            {
                "grid": "x".join(map(str, grid)),
                "modes": name,
                "K": k,
                "U": u,
                "batch": b,
                "channels": c,
                "fwd_ms_min": round(1e3 * t, 4),
            }
        )
    a, y = np.array(feats), np.array(times)
    coef, _ = nnls(a / y[:, None], np.ones_like(y))
    pred = a @ coef
    for row, pr in zip(rows, pred):
        row["model_ms"] = round(1e3 * pr, 4)
        row["cpu"] = platform.processor() or platform.machine()
        row["torch"] = torch.__version__
    names = ("fixed", "per_elem", "per_freq_elem", "per_mode_row", "per_mix")
    print("  ".join(f"{n}={v:.3g}" for n, v in zip(names, coef)))
    ratio = pred / y
    print(f"model / measured: median {np.median(ratio):.2f}, range {ratio.min():.2f} .. {ratio.max():.2f}")
    write_csv(rows, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
