"""Where in frequency each reconstruction's error lies, at one grid of the inverse benchmark.

Run from the repository root, after a benchmark run that saved its models::

    OMP_NUM_THREADS=1 python -m experiments.inverse --physics mri-band-phantoms --steps 4800 --tv-iter 300 --save models
    OMP_NUM_THREADS=1 python -m experiments.inverse_bands --physics mri-band-phantoms --models models \\
        --tv-lambda 0.003 --tv-iter 300 --out benchmarks/results/inverse_bands/steps4800

Same test images, noise and physics as ``benchmarks/inverse.py`` (``--seed``, ``--n-test``).
The error ``x_hat - x`` of every method (``input``, TV with the given weight and
iterations, and every ``<physics>_<label>.pt`` in ``--models``) is split by Parseval into
parts of the grid's Fourier plane: inside the band of the 64 training grid
(``max(|k_y|, |k_x|) <= 32`` cycles per field of view) or above it (columns ``low``,
``high``), and, for MRI, measured or not (``low-measured`` ... ``high-unmeasured``).
Each part is reported as the PSNR the error of that part alone would give
(``10 log10(1 / MSE_part)``, MSE averaged over the test images; the parts' MSEs add up
to the total). Writes ``<physics>_<resolution>.csv`` into the run folder ``--out`` (default
``benchmarks/results/inverse_bands/seed<seed>``; name it after the benchmark run whose models it
reads, e.g. ``inverse_bands/steps4800``).
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import torch

from experiments import inverse as ib
from spectral_sparse.inverse import load_reconstructor, make_physics
from spectral_sparse.inverse.models import initial_image
from spectral_sparse.inverse.train import reconstruct_batched, tv_reconstruction

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "inverse_bands"

BANDS = ("low-measured", "low-unmeasured", "high-measured", "high-unmeasured")


def band_mse(x_hat: torch.Tensor, x: torch.Tensor, measured: torch.Tensor | None) -> dict[str, float]:
    """MSE of ``x_hat - x`` (``(B, 1, N, N)``) per part of the Fourier plane, mean over the batch.

    ``measured``: boolean ``(N, N)`` in ``torch.fft.fft2`` order: four parts (:data:`BANDS`);
    or ``None`` (no measured set, e.g. tomography): two parts, ``"low"`` and ``"high"``.
    The values add up to the total MSE.
    """
    n = x.shape[-1]
    err = torch.fft.fft2((x_hat - x).double(), norm="ortho").abs() ** 2 / (n * n)  # Parseval: sums to the MSE
    k = torch.fft.fftfreq(n, 1.0 / n).abs()
    low = torch.maximum(k[:, None], k[None, :]) <= ib.TRAIN_RES // 2
    if measured is None:
        parts = {"low": low, "high": ~low}
    else:
        parts = dict(zip(BANDS, (low & measured, low & ~measured, ~low & measured, ~low & ~measured), strict=True))
    return {name: float(err[..., m].sum(-1).mean()) for name, m in parts.items()}


def _psnr(mse: float) -> float:
    return round(10 * math.log10(1.0 / mse), 2) if mse > 0 else float("inf")


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.inverse_bands`` (parsing only; ``main`` runs it)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--physics", default="mri-band-phantoms", choices=list(ib.PHYSICS))
    ap.add_argument("--resolution", type=int, default=256)
    ap.add_argument("--models", required=True, help="directory of <physics>_<label>.pt from inverse.py --save")
    ap.add_argument("--tv-lambda", type=float, required=True, help="TV weight (the benchmark's tuned one)")
    ap.add_argument("--tv-iter", type=int, default=300)
    ap.add_argument("--n-test", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="run folder [benchmarks/results/inverse_bands/seed<seed>]")
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.resolution < ib.TRAIN_RES or args.tv_lambda <= 0 or args.tv_iter < 1:
        ap.error(f"--resolution must be >= {ib.TRAIN_RES}, --tv-lambda > 0 and --tv-iter >= 1")
    files = sorted(Path(args.models).glob(f"{args.physics}_*.pt"))
    if not files:
        ap.error(f"no {args.physics}_*.pt in {args.models!r} (write them with inverse.py --save DIR)")
    torch.set_num_threads(1)
    cfg = ib.PHYSICS[args.physics]
    kind, n = cfg.get("kind", args.physics), args.resolution
    physics = make_physics(kind, n, **cfg["params"])
    x, y = ib.eval_set(args.physics, physics, args.n_test, args.seed)
    measured = (physics.mask != 0).reshape(n, n) if kind == "mri" else None
    methods = {"input": initial_image, "tv": tv_reconstruction(args.tv_lambda, args.tv_iter)}
    for f in files:
        methods[f.stem.removeprefix(f"{args.physics}_")] = load_reconstructor(f)[0]
    rows = []
    for label, method in methods.items():
        x_hat = reconstruct_batched(method, y, physics)
        mse = band_mse(x_hat, x, measured)
        row = {"physics": args.physics, "resolution": n, "method": label}
        row.update(tv_lambda=args.tv_lambda if label == "tv" else "", tv_iter=args.tv_iter if label == "tv" else "")
        row["psnr_total"] = _psnr(sum(mse.values()))  # of the mean MSE (the benchmark averages per-image PSNR)
        row.update({f"psnr_{b}": _psnr(v) for b, v in mse.items()})
        rows.append(row)
        print(" | ".join(str(v) for v in row.values()), flush=True)
    out = Path(args.out or RESULTS / f"seed{args.seed}") / f"{args.physics}_{n}.csv"
    ib._write_csv(out, rows)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
