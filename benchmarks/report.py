"""Markdown tables from the benchmark CSVs (the tables of ``docs/benchmarks.md``).

Usage::

    python -m benchmarks.report benchmarks/results/layer/cpu/results.csv [benchmarks/results/auto/cpu/results.csv]
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

__all__ = ["auto_summary", "comparison_table", "fraction_table", "main"]


def _read(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _label(row: dict[str, str]) -> str:
    if row["impl"] == "neuralop":
        return "neuraloperator `SpectralConv`"
    if row["impl"] == "memory_floor":
        return "memory floor (`y = 1.0 * x`)"
    backend = row["backend"]
    if backend == "auto":
        backend = f"auto → {row['backend_used']}"
    return f"`SparseSpectralConv` ({backend})"


def comparison_table(rows: list[dict[str, str]]) -> str:
    """Full box: every peer of every configuration."""
    lines = [
        "| config | layer | forward ms (min) | speed-up | fwd+bwd ms (min) | speed-up "
        "| max rel. error | grad-x error |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["mode_set"] not in ("box", "-"):
            continue
        lines.append(
            f"| {r['grid']}, B={r['batch']}, C={r['channels']}, box {r['box']} | {_label(r)} "
            f"| {float(r['fwd_ms']):.1f} ({float(r['fwd_ms_min']):.1f}) | {float(r['fwd_speedup_vs_neuralop']):.2f}x "
            f"| {float(r['fwd_bwd_ms']):.1f} ({float(r['fwd_bwd_ms_min']):.1f}) "
            f"| {float(r['fwd_bwd_speedup_vs_neuralop']):.2f}x | {r['max_rel_err']} | {r['max_rel_err_grad_x']} |"
        )
    return "\n".join(lines)


def fraction_table(rows: list[dict[str, str]], backend: str = "auto") -> str:
    """How the time falls as modes are removed (one backend)."""
    lines = [
        "| config | mode set | kept | K | backend | forward ms | / full box | fwd+bwd ms | / full box "
        "| speed-up vs neuralop (fwd) |",
        "|---|---|---:|---:|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        if r["impl"] != "spectral_sparse" or r["backend"] != backend:
            continue
        used = r["backend_used"] if backend == "auto" else backend
        lines.append(
            f"| {r['grid']} | {r['mode_set']} | {float(r['fraction']):.0%} | {r['n_modes']} | {used} "
            f"| {float(r['fwd_ms']):.1f} | {float(r['fwd_vs_full']):.2f} | {float(r['fwd_bwd_ms']):.1f} "
            f"| {float(r['fwd_bwd_vs_full']):.2f} | {float(r['fwd_speedup_vs_neuralop']):.2f}x |"
        )
    return "\n".join(lines)


def auto_summary(rows: list[dict[str, str]]) -> str:
    """Hit rate of ``backend="auto"`` and the misses."""
    n = len(rows)
    hits = sum(int(r["hit_fwd"]) for r in rows)
    hits_fb = sum(int(r["hit_fwd_bwd"]) for r in rows)
    near = sum(float(r["fwd_slowdown_of_pick"]) <= 1.1 for r in rows)
    hits_min = sum(int(r.get("hit_fwd_min", 0)) for r in rows)
    worst = max(rows, key=lambda r: float(r["fwd_slowdown_of_pick"]))
    names = [n for n in ("fft", "cpp", "dft") if any(r.get(f"{n}_fwd_ms", "") != "" for r in rows)]
    picks = {name: sum(r["auto_pick"] == name for r in rows) for name in names}
    cell = lambda r, n: f"{float(r[f'{n}_fwd_ms']):.2f}" if r.get(f"{n}_fwd_ms", "") != "" else "-"  # noqa: E731
    out = [
        f"- cases: {n} (auto picked " + ", ".join(f"{k} {v}" for k, v in picks.items()) + ")",
        f"- forward hit rate: {hits}/{n} = {hits / n:.0%}; "
        f"within 10% of the fastest backend: {near}/{n} = {near / n:.0%}",
        f"- forward hit rate judged by the fastest (min) run: {hits_min}/{n} = {hits_min / n:.0%}",
        f"- forward+backward hit rate (same pick): {hits_fb}/{n} = {hits_fb / n:.0%}",
        f"- worst forward slowdown of a pick: {float(worst['fwd_slowdown_of_pick']):.2f}x ({worst['case']})",
        "",
        "| case | auto | " + " | ".join(f"{k} fwd ms" for k in names) + " | slowdown of the pick |",
        "|---|---|" + "---:|" * len(names) + "---:|",
    ]
    for r in rows:
        if not int(r["hit_fwd"]):
            out.append(
                f"| {r['case']} | {r['auto_pick']} | "
                + " | ".join(cell(r, k) for k in names)
                + f" | {float(r['fwd_slowdown_of_pick']):.2f}x |"
            )
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        print(__doc__)
        return 2
    rows = _read(Path(args[0]))
    print("## Comparison (full box)\n")
    print(comparison_table(rows))
    print("\n## Mode fractions (backend auto)\n")
    print(fraction_table(rows, "auto"))
    for backend in ("cpp", "dft"):
        if any(r.get("backend") == backend for r in rows):
            print(f"\n## Mode fractions (backend {backend})\n")
            print(fraction_table(rows, backend))
    if len(args) > 1:
        print("\n## backend='auto'\n")
        print(auto_summary(_read(Path(args[1]))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
