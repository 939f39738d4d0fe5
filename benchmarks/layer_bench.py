"""Layer benchmark: SparseSpectralConv against neuraloperator's SpectralConv.

For every configuration one neuraloperator ``SpectralConv`` is built (seeded)
and converted with :meth:`SparseSpectralConv.from_neuralop`, so both compute
the same function on the same data. Besides the full box, sub-layers keep a
fraction of its modes, either radial (the lowest ``|k|`` first) or scattered
(a seeded random subset of the same size), with the box's weights at those
modes. All peers of one configuration are timed round-robin in one process
(see :mod:`benchmarks.timing`); ratios are against the neuraloperator time
measured in that same loop.
"""

from __future__ import annotations

import datetime
import math
import os
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.backends import registered_backends
from spectral_sparse.functional import prepare_call, select_backend, sparse_spectral_conv
from spectral_sparse.testing import relative_error

from .timing import device_name, interleaved_times, median_ms, peak_memory_mb

__all__ = ["FRACTIONS", "Config", "MemoryFloor", "mode_subset", "run_layer_suite"]

FRACTIONS = (1.0, 0.5, 0.25, 0.1)
#: backends timed on the full box: every registered backend that supports the call, and auto
BACKENDS = None
#: ... and on the reduced mode sets: the same less ``fft`` (its FFTs cost the same for any set)
FRACTION_BACKENDS = None


@dataclass(frozen=True)
class Config:
    batch: int
    channels: int
    grid: tuple[int, ...]
    n_modes: tuple[int, ...]

    @property
    def name(self) -> str:
        grid = "x".join(map(str, self.grid))
        box = "x".join(map(str, self.n_modes))
        return f"B{self.batch}-C{self.channels}-{grid}-box{box}"


CONFIGS = (Config(8, 32, (128, 128), (16, 16)), Config(8, 32, (256, 256), (16, 16)))
QUICK_CONFIGS = (Config(2, 8, (64, 64), (16, 16)),)


def mode_subset(modes: ModeSet, fraction: float, kind: str, seed: int = 0) -> Tensor:
    """Positions (sorted) of ``round(fraction * K)`` modes of ``modes``.

    ``kind="radial"`` keeps the lowest ``|k|`` (ties in the set's order);
    ``kind="scattered"`` a random subset drawn with ``seed``.
    """
    k = len(modes)
    n = max(1, round(fraction * k))
    if kind == "radial":
        norm2 = (modes.indices.double() ** 2).sum(1)
        chosen = torch.sort(norm2, stable=True).indices[:n]
    elif kind == "scattered":
        chosen = torch.randperm(k, generator=torch.Generator().manual_seed(seed))[:n]
    else:
        raise ValueError(f"kind must be 'radial' or 'scattered', got {kind!r}")
    return torch.sort(chosen).values


def _sub_layer(full: SparseSpectralConv, keep: Tensor, backend: str) -> SparseSpectralConv:
    layer = SparseSpectralConv(
        full.in_channels, full.out_channels, full.modes[keep], bias=full.bias is not None, backend=backend
    )
    with torch.no_grad():
        layer.weight.copy_(full.weight[keep.to(full.weight.device)])
        if full.bias is not None:
            layer.bias.copy_(full.bias)
    return layer.to(full.weight.device)


class MemoryFloor(nn.Module):
    """``y = 1.0 * x``: reads the input and writes a fresh output of the same size, nothing else.

    Its forward (and forward+backward) time is the memory floor of any layer
    with this input and output: what remains when the modes cost nothing.
    """

    def forward(self, x: Tensor) -> Tensor:
        return x * 1.0


def _reference(layer: SparseSpectralConv, x: Tensor, grad: Tensor) -> tuple[Tensor, Tensor]:
    """Output and input gradient of the float64 fft reference."""
    x64 = x.detach().double().requires_grad_(True)
    bias = None if layer.bias is None else layer.bias.detach().double()
    y = sparse_spectral_conv(x64, layer.weight.detach().to(torch.complex128), layer.modes, bias, backend="fft")
    y.backward(grad.double())
    return y.detach(), x64.grad


def _forward_fn(module: nn.Module, x: Tensor) -> Callable[[], object]:
    def run() -> object:
        with torch.no_grad():
            return module(x)

    return run


def _forward_backward_fn(module: nn.Module, x: Tensor, grad: Tensor) -> Callable[[], object]:
    params = [p for p in module.parameters() if p.requires_grad]
    xg = x.detach().clone().requires_grad_(True)

    def run() -> object:
        xg.grad = None
        for p in params:
            p.grad = None
        module(xg).backward(grad)
        return xg.grad

    return run


def _errors(module: nn.Module, x: Tensor, grad: Tensor, ref: tuple[Tensor, Tensor]) -> tuple[float, float]:
    xg = x.detach().clone().requires_grad_(True)
    y = module(xg)
    y.backward(grad)
    return relative_error(y, ref[0]), relative_error(xg.grad, ref[1])


def _backend_used(layer: SparseSpectralConv, x: Tensor) -> str:
    if layer.backend != "auto":
        return layer.backend
    call = prepare_call(x, layer.weight, layer.modes, layer.bias, None)
    return select_backend(call, "auto").name


def run_layer_suite(
    configs: tuple[Config, ...],
    repeats: int,
    warmup: int,
    device: torch.device,
    seed: int,
    fractions: tuple[float, ...] = FRACTIONS,
    backends: tuple[str, ...] | None = BACKENDS,
    fraction_backends: tuple[str, ...] | None = FRACTION_BACKENDS,
    log: Callable[[str], None] = print,
) -> list[dict[str, object]]:
    """Time every (mode set, backend) peer of each configuration; one CSV row each."""
    import neuralop
    from neuralop.layers.spectral_convolution import SpectralConv

    rows: list[dict[str, object]] = []
    common = {
        "threads": torch.get_num_threads(),
        "device": device_name(device),
        "dtype": "float32",
        "repeats": repeats,
        "warmup": warmup,
        "seed": seed,
        "torch": torch.__version__,
        "neuralop": getattr(neuralop, "__version__", ""),
        "date": datetime.date.today().isoformat(),
    }
    for cfg in configs:
        torch.manual_seed(seed)
        sc = SpectralConv(cfg.channels, cfg.channels, n_modes=cfg.n_modes).to(device)
        x = torch.randn(cfg.batch, cfg.channels, *cfg.grid, device=device)
        grad = torch.randn(cfg.batch, cfg.channels, *cfg.grid, device=device)
        full = SparseSpectralConv.from_neuralop(sc).to(device)

        sets: list[tuple[str, float, Tensor]] = [("box", 1.0, torch.arange(len(full.modes)))]
        for kind in ("radial", "scattered"):
            for frac in fractions:
                if frac < 1.0:
                    sets.append((kind, frac, mode_subset(full.modes, frac, kind, seed)))

        if backends is None:
            call = prepare_call(x, full.weight, full.modes, full.bias, None)
            usable = [name for name, b in registered_backends().items() if not b.not_supported_reasons(call)]
            backends = (*usable, "auto")
        if fraction_backends is None:
            fraction_backends = tuple(b for b in backends if b != "fft")
        peers: dict[str, nn.Module] = {"neuralop": sc, "floor": MemoryFloor()}
        meta: dict[str, dict[str, object]] = {
            "neuralop": {"mode_set": "box", "fraction": 1.0},
            "floor": {"mode_set": "-", "fraction": ""},
        }
        for kind, frac, keep in sets:
            for backend in backends if kind == "box" else fraction_backends:
                name = f"{kind}-{frac:g}-{backend}"
                peers[name] = _sub_layer(full, keep, backend)
                meta[name] = {"mode_set": kind, "fraction": frac}

        load_before = _load_average()
        log(f"[{cfg.name}] {len(peers)} peers, {repeats} rounds (load average {load_before}): forward ...")
        fwd = interleaved_times({n: _forward_fn(m, x) for n, m in peers.items()}, repeats, warmup, device, seed)
        log(f"[{cfg.name}] forward+backward ...")
        fb_fns = {n: _forward_backward_fn(m, x, grad) for n, m in peers.items()}
        fwd_bwd = interleaved_times(fb_fns, repeats, warmup, device, seed + 1)

        load_after = _load_average()
        refs: dict[str, tuple[Tensor, Tensor]] = {}
        base_fwd, base_fb = median_ms(fwd["neuralop"]), median_ms(fwd_bwd["neuralop"])
        for name, module in peers.items():
            is_ours = isinstance(module, SparseSpectralConv)
            is_floor = isinstance(module, MemoryFloor)
            layer = module if is_ours else full
            if is_floor:
                err_text = err_grad_text = "-"
            else:
                set_key = f"{meta[name]['mode_set']}-{meta[name]['fraction']:g}"
                if set_key not in refs:
                    refs[set_key] = _reference(layer, x, grad)
                err, err_grad = _errors(module, x, grad, refs[set_key])
                err_text, err_grad_text = f"{err:.2e}", f"{err_grad:.2e}"
            t_fwd, t_fb = median_ms(fwd[name]), median_ms(fwd_bwd[name])
            backend = module.backend if is_ours else "-"
            full_name = f"box-1-{backend}" if is_ours else "neuralop"
            full_name = full_name if full_name in fwd and not is_floor else name
            row = {
                "config": cfg.name,
                "batch": cfg.batch,
                "channels": cfg.channels,
                "grid": "x".join(map(str, cfg.grid)),
                "box": "x".join(map(str, cfg.n_modes)),
                "mode_set": meta[name]["mode_set"],
                "fraction": meta[name]["fraction"],
                "n_modes": 0 if is_floor else len(layer.modes),
                "impl": "spectral_sparse" if is_ours else ("memory_floor" if is_floor else "neuralop"),
                "backend": backend,
                "backend_used": _backend_used(module, x) if is_ours else "-",
                **common,
                "fwd_ms": round(t_fwd, 3),
                "fwd_bwd_ms": round(t_fb, 3),
                "fwd_speedup_vs_neuralop": round(base_fwd / t_fwd, 3),
                "fwd_bwd_speedup_vs_neuralop": round(base_fb / t_fb, 3),
                "fwd_vs_full": round(t_fwd / median_ms(fwd[full_name]), 3),
                "fwd_bwd_vs_full": round(t_fb / median_ms(fwd_bwd[full_name]), 3),
                "max_rel_err": err_text,
                "max_rel_err_grad_x": err_grad_text,
                "peak_mem_fwd_mb": _fmt_mem(peak_memory_mb(_forward_fn(module, x), device)),
                "peak_mem_fwd_bwd_mb": _fmt_mem(peak_memory_mb(fb_fns[name], device)),
                "fwd_ms_min": round(1e3 * min(fwd[name]), 3),
                "fwd_bwd_ms_min": round(1e3 * min(fwd_bwd[name]), 3),
                "load_avg_before": load_before,
                "load_avg_after": load_after,
            }
            rows.append(row)
        log(format_rows([r for r in rows if r["config"] == cfg.name]))
    return rows


def _load_average() -> str:
    """The machine's 1-minute load average (other processes compete for the cores)."""
    try:
        return f"{os.getloadavg()[0]:.2f}"
    except OSError:
        return ""


def _fmt_mem(mb: float | None) -> str:
    return "" if mb is None or math.isnan(mb) else f"{mb:.1f}"


def format_rows(rows: list[dict[str, object]]) -> str:
    """A plain-text table of the timing rows."""
    head = f"{'mode set':>16} {'K':>4} {'backend':>9} {'fwd ms':>9} {'x nop':>6} {'f+b ms':>9} {'x nop':>6} "
    head += f"{'/full':>6} {'err':>9}"
    lines = [head]
    for r in rows:
        backend = r["backend"] if r["backend"] in ("-", r["backend_used"]) else f"{r['backend']}>{r['backend_used']}"
        label = r["impl"] if r["impl"] != "spectral_sparse" else f"{r['mode_set']} {float(r['fraction']):.0%}"
        lines.append(
            f"{label:>16} {r['n_modes']:>4} {backend:>9} {r['fwd_ms']:>9.2f} {r['fwd_speedup_vs_neuralop']:>6.2f} "
            f"{r['fwd_bwd_ms']:>9.2f} {r['fwd_bwd_speedup_vs_neuralop']:>6.2f} {r['fwd_vs_full']:>6.2f} "
            f"{r['max_rel_err']:>9}"
        )
    return "\n".join(lines)
