"""Differential fuzzing of every CPU backend against a literal evaluation of the contract.

Hypothesis draws calls of :func:`spectral_sparse.functional.sparse_spectral_conv`:
1-D, 2-D and 3-D grids of 1..40 points per axis (odd and even), scattered mode
sets that include modes beyond the grid and modes exactly at the input's or the
output's Nyquist frequency, dense and diagonal mixing, with or without bias,
output grids equal, finer, coarser or mixed per axis, float32 and float64.
Every registered backend that accepts the call (``fft``, ``dft``, ``cpp`` when
built, ``triton`` under ``TRITON_INTERPRET=1``) is run and compared with the
section-1 formula evaluated term by term in float64 (``tests/_literal.py``):
the output, and the gradients with respect to the input, the weight and the
bias for a random upstream gradient, within :data:`spectral_sparse.testing.TOLERANCES`.
A call whose grids resolve none of the modes must raise ``ValueError``.

The test suite runs a bounded number of examples (``tests/test_fuzz.py``);
this script runs more and writes the counts::

    python -m benchmarks.fuzz --examples 100000 --seconds 240
"""

from __future__ import annotations

import argparse
import csv
import math
import platform
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from hypothesis import HealthCheck, given, seed, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from spectral_sparse import ModeSet  # noqa: E402
from spectral_sparse.backends import registered_backends  # noqa: E402
from spectral_sparse.functional import prepare_call, sparse_spectral_conv  # noqa: E402
from spectral_sparse.testing import TOLERANCES, relative_error  # noqa: E402
from tests._literal import literal_conv  # noqa: E402

__all__ = ["FuzzCall", "Tally", "calls", "check_call", "main"]

MAX_AXIS = 40
MAX_POINTS = 12_000  # per grid: keeps the literal evaluation (modes x points) quick


@dataclass(frozen=True)
class FuzzCall:
    """One drawn call: data, modes and grids (tensors in float64; cast per dtype when run)."""

    x: torch.Tensor  # (B, C, *grid) float64
    weight: torch.Tensor  # (K, C, O) or (K, C) complex128
    modes: ModeSet
    bias: torch.Tensor | None  # (O,) float64
    output_shape: tuple[int, ...] | None
    dtype: torch.dtype
    grad_out: torch.Tensor  # (B, O, *out_grid) float64

    @property
    def grid(self) -> tuple[int, ...]:
        return tuple(self.x.shape[2:])

    @property
    def out_grid(self) -> tuple[int, ...]:
        return self.grid if self.output_shape is None else self.output_shape

    def describe(self) -> str:
        mixing = "diagonal" if self.weight.ndim == 2 else "dense"
        return (
            f"grid {self.grid} -> {self.out_grid}, {len(self.modes)} modes {self.modes.indices.tolist()}, "
            f"{mixing}, bias {self.bias is not None}, {self.dtype}"
        )


def _canonical(k: tuple[int, ...]) -> tuple[int, ...]:
    nz = [v for v in k if v != 0]
    return tuple(-v for v in k) if nz and nz[-1] < 0 else k


@st.composite
def calls(draw: Any) -> FuzzCall:
    """A hypothesis strategy of :class:`FuzzCall`."""
    d = draw(st.integers(1, 3))
    grid = tuple(draw(st.integers(1, MAX_AXIS)) for _ in range(d))
    if math.prod(grid) > MAX_POINTS:
        grid = tuple(max(1, s // 2) for s in grid)
    kind = draw(st.sampled_from(["same", "finer", "coarser", "mixed"]))
    if kind == "same":
        out = None
    elif kind == "finer":
        out = tuple(s + draw(st.integers(1, 12)) for s in grid)
    elif kind == "coarser":
        out = tuple(max(1, s - draw(st.integers(1, 12))) for s in grid)
    else:
        out = tuple(draw(st.integers(1, MAX_AXIS)) for _ in grid)
    if out is not None and math.prod(out) > MAX_POINTS:
        out = tuple(max(1, s // 2) for s in out)
    out_grid = grid if out is None else out
    count = draw(st.integers(1, 10))
    rows: dict[tuple[int, ...], None] = {}
    for _ in range(count):
        k = []
        for n, m in zip(grid, out_grid):
            choice = draw(st.sampled_from(["inside", "beyond", "nyquist_in", "nyquist_out", "zero"]))
            if choice == "inside":
                v = draw(st.integers(-(max(n, m) // 2), max(n, m) // 2))
            elif choice == "beyond":
                v = draw(st.integers(max(n, m) // 2 + 1, max(n, m) // 2 + 6)) * draw(st.sampled_from([1, -1]))
            elif choice == "nyquist_in":
                v = n // 2 if n % 2 == 0 else (n + 1) // 2  # odd: just past the last resolved frequency
            elif choice == "nyquist_out":
                v = m // 2 if m % 2 == 0 else (m + 1) // 2
            else:
                v = 0
            k.append(v)
        rows.setdefault(_canonical(tuple(k)), None)
    modes = ModeSet.from_indices(torch.tensor(list(rows), dtype=torch.long).reshape(-1, d))
    diagonal = draw(st.booleans())
    c = draw(st.integers(1, 3))
    o = c if diagonal else draw(st.integers(1, 3))
    b = draw(st.integers(1, 2))
    gen = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    x = torch.randn(b, c, *grid, generator=gen, dtype=torch.float64)
    shape = (len(modes), c) if diagonal else (len(modes), c, o)
    weight = torch.randn(*shape, generator=gen, dtype=torch.complex128)
    bias = torch.randn(o, generator=gen, dtype=torch.float64) if draw(st.booleans()) else None
    grad_out = torch.randn(b, o, *out_grid, generator=gen, dtype=torch.float64)
    dtype = draw(st.sampled_from([torch.float32, torch.float64]))
    return FuzzCall(x, weight, modes, bias, out, dtype, grad_out)


def _backends_for(call: FuzzCall) -> tuple[list[str], list[str]]:
    """(backends that accept the call, backends that refuse it)."""
    x = call.x.to(call.dtype)
    prepared = prepare_call(x, call.weight, call.modes, call.bias, call.output_shape)
    ok, refused = [], []
    for name, backend in registered_backends().items():
        (refused if backend.not_supported_reasons(prepared) else ok).append(name)
    return ok, refused


def _resolves_any(call: FuzzCall) -> bool:
    idx = call.modes.indices
    both = [min(a, b) for a, b in zip(call.grid, call.out_grid)]
    return bool((2 * idx.abs() <= torch.tensor(both)).all(1).any())


@dataclass
class Tally:
    """Counts of a fuzz run, per (backend, dtype, ndim), and the first mismatches."""

    examples: int = 0
    refused_calls: int = 0  # grids resolving none of the modes: ValueError, as required
    counts: Counter = field(default_factory=Counter)
    mismatches: list[str] = field(default_factory=list)

    def add(self, key: tuple[str, str, int], what: str) -> None:
        self.counts[(*key, what)] += 1


def check_call(call: FuzzCall, tally: Tally | None = None) -> list[str]:
    """Run ``call`` on every accepting backend; return the mismatches (empty when all agree)."""
    tally = tally if tally is not None else Tally()
    tally.examples += 1
    dtype = call.dtype
    x = call.x.to(dtype)
    problems: list[str] = []
    if not _resolves_any(call):
        tally.refused_calls += 1
        try:
            sparse_spectral_conv(x, call.weight, call.modes, call.bias, call.output_shape)
        except ValueError as err:
            if "resolves none" not in str(err):
                problems.append(f"unclear refusal ({err}) for {call.describe()}")
        else:
            problems.append(f"no error although no mode is resolved: {call.describe()}")
        tally.mismatches.extend(problems)
        return problems

    xr = call.x.clone().requires_grad_(True)
    wr = call.weight.clone().requires_grad_(True)
    br = call.bias.clone().requires_grad_(True) if call.bias is not None else None
    yr = literal_conv(xr, wr, call.modes, br, call.output_shape)
    reference = yr.detach()
    ref_grads = torch.autograd.grad(yr, [t for t in (xr, wr, br) if t is not None], call.grad_out)
    rtol, atol = TOLERANCES[dtype]
    ok, refused = _backends_for(call)
    for name in refused:
        tally.add((name, str(dtype).removeprefix("torch."), len(call.grid)), "not_supported")
    for name in ok:
        key = (name, str(dtype).removeprefix("torch."), len(call.grid))
        tally.add(key, "calls")
        xb = x.clone().requires_grad_(True)
        wb = call.weight.to(torch.complex64 if dtype == torch.float32 else torch.complex128).requires_grad_(True)
        bb = call.bias.to(dtype).requires_grad_(True) if call.bias is not None else None
        y = sparse_spectral_conv(xb, wb, call.modes, bb, call.output_shape, backend=name)
        grads = torch.autograd.grad(y, [t for t in (xb, wb, bb) if t is not None], call.grad_out.to(dtype))
        pairs = [("output", y, reference), *zip(("grad x", "grad weight", "grad bias"), grads, ref_grads)]
        for what, got, want in pairs:
            err = relative_error(got, want)
            scale = want.abs().max().item() if want.numel() else 0.0
            if err > rtol and err * scale > atol:
                tally.add(key, f"mismatch_{what.replace(' ', '_')}")
                problems.append(f"{name}: {what} relative error {err:.2e} > {rtol:.0e} for {call.describe()}")
    tally.mismatches.extend(problems)
    return problems


def _run(examples: int, seconds: float, seed_value: int, tally: Tally, batch: int = 200) -> None:
    """Run hypothesis in batches of ``batch`` examples (seeds ``seed_value``, +1, ...) until either limit."""
    start = time.perf_counter()
    done = 0
    while done < examples and time.perf_counter() - start < seconds:
        size = min(batch, examples - done)

        @seed(seed_value + done // batch)
        @settings(
            max_examples=size,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=False,
        )
        @given(calls())
        def run(call: FuzzCall) -> None:
            check_call(call, tally)

        run()
        done += size


def write_csv(path: Path, tally: Tally, meta: dict[str, Any]) -> None:
    keys = sorted({k[:3] for k in tally.counts})
    fields = ["backend", "dtype", "ndim", "calls", "not_supported", "mismatch_output", "mismatch_grad_x",
              "mismatch_grad_weight", "mismatch_grad_bias"]  # fmt: skip
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*fields, *meta])
        for key in keys:
            writer.writerow([*key, *(tally.counts.get((*key, w), 0) for w in fields[3:]), *meta.values()])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--examples", type=int, default=100_000, help="hypothesis examples at most [100000]")
    p.add_argument("--seconds", type=float, default=240.0, help="start no new batch after this long [240]")
    p.add_argument("--seed", type=int, default=0, help="hypothesis seed [0]")
    p.add_argument("--threads", type=int, default=1, help="torch threads [1]")
    p.add_argument("--out", type=Path, default=None, help="CSV [benchmarks/results/fuzz/seed<N>/results.csv]")
    args = p.parse_args(argv)
    args.out = args.out or ROOT / "benchmarks" / "results" / "fuzz" / f"seed{args.seed}" / "results.csv"
    torch.set_num_threads(args.threads)
    tally = Tally()
    t0 = time.perf_counter()
    _run(args.examples, args.seconds, args.seed, tally)
    wall = time.perf_counter() - t0
    calls_total = sum(v for k, v in tally.counts.items() if k[3] == "calls")
    meta = {
        "examples": tally.examples,
        "refused_calls": tally.refused_calls,
        "seed": args.seed,
        "seconds": round(wall, 1),
        "torch": torch.__version__,
        "machine": platform.machine(),
    }
    write_csv(args.out, tally, meta)
    print(f"{'backend':<8} {'dtype':<8} {'ndim':>4} {'calls':>7} {'refused':>8} {'mismatches':>10}")
    for key in sorted({k[:3] for k in tally.counts}):
        bad = sum(v for k, v in tally.counts.items() if k[:3] == key and k[3].startswith("mismatch"))
        print(
            f"{key[0]:<8} {key[1]:<8} {key[2]:>4} {tally.counts.get((*key, 'calls'), 0):>7} "
            f"{tally.counts.get((*key, 'not_supported'), 0):>8} {bad:>10}"
        )
    print(
        f"{tally.examples} examples ({tally.refused_calls} resolving no mode, refused with ValueError as required), "
        f"{calls_total} backend calls, {len(tally.mismatches)} mismatches, {wall:.0f} s; wrote {args.out}"
    )
    for line in tally.mismatches[:10]:
        print("  " + line)
    return 1 if tally.mismatches else 0


if __name__ == "__main__":
    raise SystemExit(main())
