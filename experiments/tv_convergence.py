"""How far the inverse benchmark's TV baseline is from converged: PSNR against PGD iterations.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m experiments.tv_convergence --physics mri-band-phantoms --lambdas 0.003 0.01 0.02 0.03
    OMP_NUM_THREADS=1 python -m experiments.tv_convergence --physics tomography --lambdas 0.001 0.003 0.01

For every iteration count, the TV weight is tuned on the benchmark's four tuning images
(training split, ``seed + 1``) and the tuned TV is scored on the benchmark's test images
and noise (``seed``, ``seed + 7``), exactly as ``benchmarks/inverse.py`` does for its
``tv`` rows. Prints one line per iteration count and writes ``<physics>.csv`` into the run
folder ``--out`` (default ``benchmarks/results/tv_convergence/seed<seed>``; other weights, e.g.
``tv_convergence/small_weights``, into a folder of their own).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch

from experiments import inverse as ib
from spectral_sparse.inverse import make_physics
from spectral_sparse.inverse.train import reconstruct_batched, score, tv_reconstruction

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "tv_convergence"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.tv_convergence`` (parsing only; ``main`` runs it)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--physics", default="mri-band-phantoms", choices=list(ib.PHYSICS))
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--iterations", type=int, nargs="+", default=[40, 120, 300])
    ap.add_argument("--lambdas", type=float, nargs="+", help="TV weights [the setting's grid, ib.tv_grid]")
    ap.add_argument("--n-test", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="run folder [benchmarks/results/tv_convergence/seed<seed>]")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    args.lambdas = args.lambdas or list(ib.tv_grid(args.physics))
    if args.resolution < 8 or min(args.iterations) < 1 or min(args.lambdas) <= 0:
        ap.error("--resolution must be >= 8, --iterations >= 1 and --lambdas > 0")
    torch.set_num_threads(1)
    cfg = ib.PHYSICS[args.physics]
    kind, n = cfg.get("kind", args.physics), args.resolution
    physics = make_physics(kind, n, **cfg["params"])
    x_tune = ib.tune_set(args.physics, n, args.seed)[: ib.TV_TUNE]
    x, y = ib.eval_set(args.physics, physics, args.n_test, args.seed)
    rows = []
    for it in args.iterations:
        t0 = time.perf_counter()
        best, tune_psnr = ib._tune(
            lambda v, it=it: tv_reconstruction(v, n_iter=it), tuple(args.lambdas), physics, x_tune
        )
        r = score(reconstruct_batched(tv_reconstruction(best, n_iter=it), y, physics), x)
        rows.append(
            {
                "physics": args.physics,
                "resolution": n,
                "iterations": it,
                "lambda": best,
                "tune_psnr": round(tune_psnr, 3),
                "psnr": round(r["psnr"], 3),
                "ssim": round(r["ssim"], 4),
                "n_test": r["n"],
                "seconds": round(time.perf_counter() - t0, 1),
            }
        )
        print(f"[{args.physics}] {n} TV {it:>4} iterations: weight {best:g}, test PSNR {r['psnr']:.2f}", flush=True)
    out = Path(args.out or RESULTS / f"seed{args.seed}") / f"{args.physics}.csv"
    ib._write_csv(out, rows)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
