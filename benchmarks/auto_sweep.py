"""How often ``backend="auto"`` picks the faster backend.

A sweep over grids (small 8..32, the benchmark sizes, 1-D, 2-D, 3-D), mode
sets (boxes, radial, scattered, every mode of the grid as ``from_conv``
makes), batch and channel counts, dense and diagonal mixing. For each case
every registered backend that accepts the call (on the CPU: ``fft``, ``cpp``
and ``dft``) is timed round-robin (forward under
``no_grad``, and forward+backward), and the case is a hit when the backend
that ``auto`` picks is the faster one in forward.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch

from spectral_sparse import ModeSet
from spectral_sparse.backends import ConvCall, get_backend, registered_backends
from spectral_sparse.functional import prepare_call, select_backend, sparse_spectral_conv

from .layer_bench import mode_subset
from .timing import device_name, interleaved_times, median_ms

__all__ = ["Case", "cases", "run_auto_sweep"]

#: backends whose columns every row has (a backend that refuses a call gets empty cells)
PEERS = ("fft", "cpp", "dft")


@dataclass(frozen=True)
class Case:
    batch: int
    channels: int
    grid: tuple[int, ...]
    modes_name: str
    modes: ModeSet
    diagonal: bool = False
    out_grid: tuple[int, ...] | None = None

    @property
    def name(self) -> str:
        grid = "x".join(map(str, self.grid))
        out = "" if self.out_grid is None else "->" + "x".join(map(str, self.out_grid))
        mix = "-diag" if self.diagonal else ""
        return f"B{self.batch}-C{self.channels}-{grid}{out}-{self.modes_name}{mix}"


def _box_fraction(n_modes: tuple[int, ...], frac: float, kind: str, seed: int) -> ModeSet:
    box = ModeSet.box(n_modes)
    return box[mode_subset(box, frac, kind, seed)]


def cases(quick: bool = False, seed: int = 0) -> list[Case]:
    """The sweep (a handful of small cases when ``quick``)."""
    out: list[Case] = []
    if quick:
        return [
            Case(2, 4, (16, 16), "box8x8", ModeSet.box((8, 8))),
            Case(2, 4, (28, 28), "full28x28", ModeSet.full((28, 28))),
            Case(2, 4, (64,), "box16", ModeSet.box(16)),
        ]
    box16 = ModeSet.box((16, 16))
    # the benchmark configurations and their mode fractions
    for n in (128, 256):
        out.append(Case(8, 32, (n, n), "box16x16", box16))
        for kind in ("radial", "scattered"):
            for frac in (0.5, 0.1):
                out.append(Case(8, 32, (n, n), f"{kind}{frac:g}", _box_fraction((16, 16), frac, kind, seed)))
    # 2-D, other sizes, boxes and channel counts
    for bc in ((1, 4), (8, 32), (32, 64)):
        for n in (8, 16, 24, 32):
            out.append(Case(*bc, (n, n), f"box{min(n, 16)}", ModeSet.box((min(n, 16), min(n, 16)))))
            out.append(Case(*bc, (n, n), f"full{n}x{n}", ModeSet.full((n, n))))
        for n in (64, 128) if bc != (32, 64) else (64,):
            out.append(Case(*bc, (n, n), "box32x32", ModeSet.box((32, 32))))
            out.append(Case(*bc, (n, n), "box12x12", ModeSet.box((12, 12))))
    out.append(Case(8, 16, (28, 28), "full28x28", ModeSet.full((28, 28))))
    out.append(Case(64, 16, (28, 28), "full28x28", ModeSet.full((28, 28))))
    out.append(Case(64, 16, (28, 28), "full28x28", ModeSet.full((28, 28)), diagonal=True))
    out.append(Case(8, 32, (64, 64), "radial8", ModeSet.radial(8, 2)))
    out.append(Case(8, 32, (256, 256), "radial4", ModeSet.radial(4, 2)))
    out.append(Case(8, 32, (128, 128), "box16x16", box16, diagonal=True))
    out.append(Case(8, 32, (64, 64), "box16x16", box16, out_grid=(128, 128)))
    out.append(Case(8, 32, (128, 128), "box16x16", box16, out_grid=(64, 64)))
    # 1-D
    for bc in ((8, 32), (32, 64)):
        for n in (64, 256, 1024, 4096):
            out.append(Case(*bc, (n,), "box16", ModeSet.box(16)))
            out.append(Case(*bc, (n,), "box64", ModeSet.box(64)))
        out.append(Case(*bc, (64,), "full64", ModeSet.full(64)))
        out.append(Case(*bc, (256,), "full256", ModeSet.full(256)))
    # 3-D
    for bc in ((2, 8), (8, 32)):
        for n in (16, 32, 48) if bc == (2, 8) else (16, 32):
            out.append(Case(*bc, (n, n, n), "box8", ModeSet.box((8, 8, 8))))
            out.append(Case(*bc, (n, n, n), "box12", ModeSet.box((12, 12, 12))))
        out.append(Case(*bc, (8, 8, 8), "full8", ModeSet.full((8, 8, 8))))
        out.append(Case(*bc, (16, 16, 16), "full16", ModeSet.full((16, 16, 16))))
        out.append(Case(*bc, (32, 32, 32), "scattered0.1", _box_fraction((12, 12, 12), 0.1, "scattered", seed)))
    return out


def _time_case(
    case: Case, seed: int, repeats: int, warmup: int, device: torch.device
) -> tuple[ConvCall, str, dict[str, float], dict[str, float], dict[str, float], dict[str, float]]:
    """The call, auto's pick, both cost estimates, median forward / forward+backward ms and min forward ms."""
    gen = torch.Generator().manual_seed(seed)
    o = case.channels
    shape = (len(case.modes), case.channels) if case.diagonal else (len(case.modes), case.channels, o)
    weight = torch.randn(*shape, dtype=torch.cfloat, generator=gen).to(device)
    x = torch.randn(case.batch, case.channels, *case.grid, generator=gen).to(device)
    bias = torch.randn(o, generator=gen).to(device)
    call = prepare_call(x, weight, case.modes, bias, case.out_grid)
    pick = select_backend(call, "auto").name
    peers = tuple(n for n, b in registered_backends().items() if not b.not_supported_reasons(call))
    costs = {name: get_backend(name).cost(call) for name in peers}

    def fwd(name: str) -> Callable[[], object]:
        def run() -> object:
            with torch.no_grad():
                return sparse_spectral_conv(x, weight, case.modes, bias, case.out_grid, backend=name)

        return run

    xg, wg, bg = (t.detach().clone().requires_grad_(True) for t in (x, weight, bias))

    def fwd_bwd(name: str) -> Callable[[], object]:
        def run() -> object:
            xg.grad = wg.grad = bg.grad = None
            sparse_spectral_conv(xg, wg, case.modes, bg, case.out_grid, backend=name).sum().backward()
            return xg.grad

        return run

    t_f = interleaved_times({n: fwd(n) for n in peers}, repeats, warmup, device, seed)
    t_fb = interleaved_times({n: fwd_bwd(n) for n in peers}, repeats, warmup, device, seed + 1)
    med_f = {n: median_ms(t_f[n]) for n in peers}
    med_fb = {n: median_ms(t_fb[n]) for n in peers}
    min_f = {n: 1e3 * min(t_f[n]) for n in peers}
    return call, pick, costs, med_f, med_fb, min_f


def _cell(values: dict[str, float], name: str) -> float | str:
    return round(values[name], 3) if name in values else ""


def run_auto_sweep(
    repeats: int,
    warmup: int,
    device: torch.device,
    seed: int,
    quick: bool = False,
    log: Callable[[str], None] = print,
) -> list[dict[str, object]]:
    rows: list[dict[str, object]] = []
    date = datetime.date.today().isoformat()
    all_cases = cases(quick, seed)
    for i, case in enumerate(all_cases):
        call, pick, costs, med_f, med_fb, min_f = _time_case(case, seed + i, repeats, warmup, device)
        best_f, best_fb = min(med_f, key=med_f.get), min(med_fb, key=med_fb.get)
        row = {
            "case": case.name,
            "ndim": len(case.grid),
            "batch": case.batch,
            "channels": case.channels,
            "grid": "x".join(map(str, case.grid)),
            "out_grid": "" if case.out_grid is None else "x".join(map(str, case.out_grid)),
            "modes": case.modes_name,
            "n_modes": len(call.modes),
            "mixing": "diagonal" if case.diagonal else "dense",
            "auto_pick": pick,
            **{f"{n}_fwd_ms": _cell(med_f, n) for n in PEERS},
            **{f"{n}_fwd_bwd_ms": _cell(med_fb, n) for n in PEERS},
            **{f"{n}_cost_ms": _cell({k: 1e3 * v for k, v in costs.items()}, n) for n in PEERS},
            "pick_fwd_ms": round(med_f[pick], 3),
            "pick_cost_ms": round(1e3 * costs[pick], 3),
            "fastest_fwd": best_f,
            "fastest_fwd_bwd": best_fb,
            "hit_fwd": int(pick == best_f),
            "hit_fwd_bwd": int(pick == best_fb),
            **{f"{n}_fwd_ms_min": _cell(min_f, n) for n in PEERS},
            "hit_fwd_min": int(pick == min(min_f, key=min_f.get)),
            "fwd_slowdown_of_pick": round(med_f[pick] / med_f[best_f], 3),
            "fwd_bwd_slowdown_of_pick": round(med_fb[pick] / med_fb[best_fb], 3),
            "threads": torch.get_num_threads(),
            "load_avg": f"{os.getloadavg()[0]:.2f}",
            "device": device_name(device),
            "repeats": repeats,
            "seed": seed,
            "torch": torch.__version__,
            "date": date,
        }
        rows.append(row)
        mark = "hit " if row["hit_fwd"] else "MISS"
        log(
            f"{i + 1:>3}/{len(all_cases)} {mark} {case.name:<42} auto={pick:<3} "
            + " ".join(f"{n} {med_f[n]:7.2f} ({1e3 * costs[n]:7.2f})" for n in med_f)
            + " ms (model)"
        )
    n = len(rows)
    hits_f = sum(int(r["hit_fwd"]) for r in rows)
    hits_fb = sum(int(r["hit_fwd_bwd"]) for r in rows)
    hits_min = sum(int(r["hit_fwd_min"]) for r in rows)
    near = sum(1 for r in rows if float(r["fwd_slowdown_of_pick"]) <= 1.1)
    worst = max(float(r["fwd_slowdown_of_pick"]) for r in rows)
    log(
        f"auto hit rate: forward {hits_f}/{n} ({hits_f / n:.0%}), forward+backward {hits_fb}/{n} "
        f"({hits_fb / n:.0%}); forward by min time {hits_min}/{n}; pick within 10% of the best (forward) "
        f"{near}/{n}; worst slowdown {worst:.2f}x"
    )
    return rows
