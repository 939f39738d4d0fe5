"""Figures of docs/concepts.md: mode sets, discretization invariance, the cost of a layer against its modes.

Run from the repository root (seconds; seed 0)::

    python -m experiments.concept_figures

Writes ``concepts_modes.png``, ``concepts_invariance.png`` and ``concepts_cost.png`` into
``--out`` (default ``benchmarks/results/concepts``; ``python -m benchmarks figure concepts_modes``
copies them into docs/img). The cost figure reads the CPU layer benchmark
``benchmarks/results/layer/cpu/results.csv`` (``python -m benchmarks --suite layer --device cpu``; see
docs/benchmarks.md for its machine and settings); the other two compute what they show.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import torch

import spectral_sparse as ss
from spectral_sparse.attacks.fourier import render

ROOT = Path(__file__).resolve().parents[1]

OUT = ROOT / "benchmarks" / "results" / "concepts"


def modes_figure(path: Path) -> None:
    box, radial = ss.ModeSet.box((16, 16)), ss.ModeSet.radial(8, ndim=2)
    keep = torch.randperm(len(radial), generator=torch.Generator().manual_seed(0))[: len(radial) // 5]
    scattered = radial[keep.sort().values]
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), sharex=True, sharey=True)
    for ax, (name, m) in zip(
        axes,
        [
            ("ModeSet.box((16, 16))", box),
            ("ModeSet.radial(8, ndim=2)", radial),
            ("a pruned subset (20% of radial)", scattered),
        ],
    ):
        k = m.indices
        ax.scatter(k[:, 1], k[:, 0], s=14, color="C0", label="stored (canonical)")
        ax.scatter(-k[:, 1], -k[:, 0], s=14, facecolors="none", edgecolors="C0", alpha=0.5, label="implied -k")
        ax.set(title=f"{name}: K = {len(m)}", xlabel="k_last", aspect="equal")
        ax.axhline(0, color="gray", lw=0.5)
        ax.axvline(0, color="gray", lw=0.5)
        ax.grid(alpha=0.2)
    axes[0].set_ylabel("k_0")
    axes[0].legend(loc="lower left", fontsize=8)
    fig.suptitle("Each stored mode k stands for the pair {k, -k} (canonical: last non-zero coordinate > 0, or k = 0)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def invariance_figure(path: Path) -> float:
    torch.manual_seed(0)
    layer = ss.SparseSpectralConv(1, 1, ss.ModeSet.radial(6, ndim=2)).double()
    band = ss.ModeSet.radial(5, ndim=2)
    coeff = torch.randn(len(band), dtype=torch.complex128) / (1 + band.indices.double().norm(dim=1))
    fine = 128

    def field(n: int) -> torch.Tensor:  # the same band-limited function sampled on an n x n grid
        return render(coeff[None, None], band, n)

    grids = (12, 16, 24, 64)
    outs = {n: ss.resample(layer(field(n)), (fine, fine)).detach()[0, 0] for n in grids}
    ref = outs[grids[-1]]
    worst = max(float((o - ref).abs().max() / ref.abs().max()) for o in outs.values())
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    axes[0].imshow(field(64)[0, 0], cmap="RdBu_r")
    axes[0].set(title="input: a band-limited field (|k| <= 5), shown at 64x64", xticks=[], yticks=[])
    x = torch.arange(fine) / fine
    for n, style in zip(grids, ["-", "--", "-.", ":"]):
        axes[1].plot(x, outs[n][fine // 3], style, lw=2 if n == grids[0] else 1.5, label=f"input on {n}x{n}")
    axes[1].set(
        title=f"layer output (one row), interpolated to {fine}x{fine}\nmax relative difference {worst:.1e}",
        xlabel="x (unit periodic domain)",
    )
    axes[1].legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return worst


def cost_figure(path: Path) -> None:
    rows = list(csv.DictReader(open(ROOT / "benchmarks" / "results" / "layer" / "cpu" / "results.csv")))
    fig, axes = plt.subplots(1, 2, figsize=(11, 4), sharey=False)
    for ax, grid in zip(axes, ("128x128", "256x256")):
        rs = [r for r in rows if r["grid"] == grid]
        peer = next(float(r["fwd_ms"]) for r in rs if r["impl"] == "neuralop")
        floor = next((float(r["fwd_ms"]) for r in rs if r["impl"] == "memory_floor"), None)
        for backend, color in (("cpp", "C0"), ("dft", "C1")):
            full = [
                (int(r["n_modes"]), float(r["fwd_ms"]))
                for r in rs
                if r["backend"] == backend and r["mode_set"] == "box"
            ]
            for mode_set, marker, ls in (("radial", "o", "-"), ("scattered", "s", "--")):
                pts = [
                    (int(r["n_modes"]), float(r["fwd_ms"]))
                    for r in rs
                    if r["backend"] == backend and r["mode_set"] == mode_set
                ]
                if pts:
                    ax.plot(
                        *zip(*sorted(pts + full)),
                        marker=marker,
                        ls=ls,
                        color=color,
                        label=f"ours ({backend}), {mode_set} subsets of the box",
                    )
        ax.axhline(peer, color="C3", ls="--", label="neuraloperator SpectralConv (137 modes)")
        if floor is not None:
            ax.axhline(floor, color="gray", ls=":", label="memory floor (read x, write y)")
        ax.set(title=f"B8, C32, grid {grid}", xlabel="modes kept K", ylabel="forward (ms, median)")
        ax.set_xlim(left=0)
        ax.set_ylim(bottom=0)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(
        "Cost of one layer against the modes it keeps (CPU, 2 threads; benchmarks/results/layer/cpu/results.csv)"
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.concept_figures`` (parsing only; ``main`` runs it)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=OUT, help=f"folder of the figures [{OUT.relative_to(ROOT)}]")
    return p


def main(argv: list[str] | None = None) -> int:
    out = build_parser().parse_args(argv).out
    out.mkdir(parents=True, exist_ok=True)
    modes_figure(out / "concepts_modes.png")
    worst = invariance_figure(out / "concepts_invariance.png")
    cost_figure(out / "concepts_cost.png")
    print(f"wrote {out}/concepts_{{modes,invariance,cost}}.png; invariance: max relative difference {worst:.2e}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
