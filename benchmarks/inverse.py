"""Inverse problems across resolutions: train at 64x64, reconstruct at 64, 128 and 256.

Run from the repository root::

    OMP_NUM_THREADS=1 python benchmarks/inverse.py --threads 1                 # deblur, mri, tomography
    OMP_NUM_THREADS=1 python benchmarks/inverse.py --physics deblur --quick    # smoke run

For each physics (``spectral_sparse.inverse.make_physics`` with :data:`PHYSICS`):

* ``input`` — the physics' grid-consistent image (``A^T y`` for deblur, zero-filled
  ``A^dagger y`` for MRI, filtered back-projection for tomography);
* ``tv`` — TV-regularised PGD through deepinv (``TVPrior``), weight tuned at 64 on
  training images; ``wiener`` (deblur) — Tikhonov/Wiener via ``prox_l2``, tuned likewise;
* ``dncnn@64`` — deepinv's DnCNN in ``ArtifactRemoval``, trained at 64 with the same
  data, steps and batch size as ours, applied directly at every grid;
* ``ours-artifact@64`` / ``ours-unrolled@64`` — ``SpectralDenoiser`` in ``ArtifactRemoval``
  and in unrolled PGD, trained at 64, applied directly at every grid;
* ``...@64->up`` — "reconstruct at 64 then Fourier-upsample": the same pipeline run at
  64 (ground truth resampled to 64, measured by the 64-grid operator, reconstructed)
  and the result resampled to the test grid with ``ss.resample``;
* ``ours-artifact@256`` — the same architecture trained directly at 256 (short budget).

Data: deblur and MRI use scikit-image photographs (patches of 256 native pixels,
split by image, ``spectral_sparse.inverse.SPLIT_NOTE``); tomography uses deepinv's
random-ellipse phantoms (train/test seeds disjoint). Metrics: deepinv PSNR and SSIM
(``max_pixel=1``), mean over the test images. Writes
``benchmarks/results/inverse_<physics>.csv`` / ``.json`` and ``docs/img/inverse_<physics>.png``.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import spectral_sparse as ss  # noqa: E402
from spectral_sparse.cli.reconstruct import plot_panels  # noqa: E402
from spectral_sparse.inverse import SPLIT_NOTE, build_reconstructor, ground_truth, make_physics  # noqa: E402
from spectral_sparse.inverse.models import count_parameters, initial_image  # noqa: E402
from spectral_sparse.inverse.train import (  # noqa: E402
    evaluate_reconstructor,
    measure,
    reconstruct_batched,
    score,
    train_reconstructor,
    tv_reconstruction,
    wiener_reconstruction,
)

PHYSICS: dict[str, dict[str, Any]] = {
    "deblur": {"params": {"width": 0.015, "noise_sigma": 0.01}, "data": "photos"},
    "mri": {
        "params": {"k_max": 24, "k_center": 3, "acceleration": 3.0, "seed": 0, "noise_sigma": 0.0},
        "data": "photos",
    },
    "tomography": {"params": {"n_angles": 24, "noise_sigma": 0.0}, "data": "phantoms"},
}
SPECTRAL = {"arch": "spectral", "width": 16, "modes": 20.0, "depth": 4}
UNROLLED = {"arch": "spectral", "wrapper": "unrolled", "width": 12, "modes": 20.0, "depth": 3, "n_iter": 4}
DNCNN = {"arch": "dncnn", "width": 32, "depth": 8}
TRAIN_RES, RESOLUTIONS = 64, (64, 128, 256)
TV_GRID = (1e-3, 3e-3, 1e-2, 3e-2)
WIENER_GRID = (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)


def _upsampled(method: Any, kind: str, params: dict[str, Any]) -> Any:
    """Reconstruct at 64 (fresh 64-grid measurement of the ground truth resampled to 64), then resample up."""
    p64 = make_physics(kind, TRAIN_RES, **params)

    def run(x: torch.Tensor, seed: int) -> torch.Tensor:
        x64 = ss.resample(x.double(), (TRAIN_RES, TRAIN_RES)).float()
        y64 = measure(p64, x64, seed)
        return ss.resample(reconstruct_batched(method, y64, p64).double(), tuple(x.shape[-2:])).float()

    return run


def _tune(make: Any, grid: tuple[float, ...], physics: Any, x: torch.Tensor) -> tuple[float, float]:
    best = max(grid, key=lambda lam: evaluate_reconstructor(make(lam), physics, x, seed=1)["psnr"])
    return best, evaluate_reconstructor(make(best), physics, x, seed=1)["psnr"]


def run_physics(kind: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    cfg = PHYSICS[kind]
    params, data = cfg["params"], cfg["data"]
    steps_epochs = max(1, args.steps * args.batch_size // args.n_train)
    x_train = ground_truth(data, "train", args.n_train, TRAIN_RES, seed=args.seed)
    tests = {n: ground_truth(data, "test", args.n_test, n, seed=args.seed) for n in RESOLUTIONS}
    phys = {n: make_physics(kind, n, **params) for n in RESOLUTIONS}
    mode = phys[TRAIN_RES].input_mode
    trained: dict[str, tuple[Any, dict[str, Any]]] = {}
    for name, conf, res, epochs in (
        ("ours-artifact", {**SPECTRAL, "input_mode": mode}, TRAIN_RES, steps_epochs),
        ("ours-unrolled", UNROLLED, TRAIN_RES, steps_epochs),
        ("dncnn", {**DNCNN, "input_mode": mode}, TRAIN_RES, steps_epochs),
        (
            "ours-artifact",
            {**SPECTRAL, "input_mode": mode},
            256,
            max(1, args.steps_256 * args.batch_size // args.n_256),
        ),
    ):
        if name in args.skip:
            continue
        torch.manual_seed(args.seed)
        model = build_reconstructor(conf)
        x = x_train if res == TRAIN_RES else ground_truth(data, "train", args.n_256, res, seed=args.seed)
        t0 = time.perf_counter()
        hist = train_reconstructor(
            model,
            phys.get(res) or make_physics(kind, res, **params),
            x,
            epochs=epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            progress=not args.no_progress,
        )
        print(
            f"[{kind}] trained {name}@{res}: {hist['steps']} steps, {time.perf_counter() - t0:.0f} s, "
            f"{hist['parameters']:,} params, loss {hist['loss'][0]:.4g} -> {hist['loss'][-1]:.4g}",
            flush=True,
        )
        trained[f"{name}@{res}"] = (model, {**hist, "train_resolution": res})
    methods: dict[str, tuple[Any, int, dict[str, Any]]] = {"input": (initial_image, 0, {})}
    lam, _ = _tune(lambda v: tv_reconstruction(v, n_iter=args.tv_iter), TV_GRID, phys[TRAIN_RES], x_train[:4])
    methods["tv"] = (tv_reconstruction(lam, n_iter=args.tv_iter), 0, {"lambda_at_64": lam})
    if kind == "deblur":
        lam_w, _ = _tune(wiener_reconstruction, WIENER_GRID, phys[TRAIN_RES], x_train[:16])
        methods["wiener"] = (wiener_reconstruction(lam_w), 0, {"lambda": lam_w})
    for label, (model, hist) in trained.items():
        methods[label] = (
            model,
            count_parameters(model),
            {"steps": hist["steps"], "train_seconds": hist["train_seconds"]},
        )
    rows, panels = [], {}
    for n in RESOLUTIONS:
        x, p = tests[n], phys[n]
        y = measure(p, x, args.seed + 7)
        entries = list(methods.items())
        for label in ("ours-artifact@64", "dncnn@64"):
            if label in methods:
                entries.append(
                    (
                        f"{label}->up",
                        (_upsampled(methods[label][0], kind, params), methods[label][1], methods[label][2]),
                    )
                )
        panels[n] = {"truth": x[:1], "input": initial_image(y[:1], p)}
        for label, (method, n_params, extra) in entries:
            t0 = time.perf_counter()
            if label.endswith("->up"):
                x_hat = method(x, args.seed + 7)
                r = score(x_hat, x)
                panels[n][label] = x_hat[:1]
            else:
                r = evaluate_reconstructor(method, p, x, y=y)
                if label in ("tv", "ours-artifact@64", "ours-unrolled@64", "dncnn@64", "ours-artifact@256"):
                    with torch.no_grad():
                        panels[n][label] = method(y[:1], p)
            row = {
                "physics": kind,
                "method": label,
                "resolution": n,
                "psnr": round(r["psnr"], 3),
                "ssim": round(r["ssim"], 4),
                "parameters": n_params,
                "n_test": r["n"],
                "seconds": round(time.perf_counter() - t0, 2),
                **extra,
            }
            rows.append(row)
            print(
                f"[{kind}] {n:>3} {label:<24} PSNR {r['psnr']:6.2f}  SSIM {r['ssim']:.3f}  params {n_params:,}",
                flush=True,
            )
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fields = sorted({k for r in rows for k in r}, key=lambda k: list(rows[0]).index(k) if k in rows[0] else 99)
    import csv

    with (out / f"inverse_{kind}.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    meta = {
        "physics": kind,
        "params": params,
        "data": data,
        "split": SPLIT_NOTE,
        "n_train": args.n_train,
        "n_test": args.n_test,
        "n_train_256": args.n_256,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "steps": args.steps,
        "steps_256": args.steps_256,
        "seed": args.seed,
        "spectral": SPECTRAL,
        "unrolled": UNROLLED,
        "dncnn": DNCNN,
        "tv_lambda_grid": TV_GRID,
        "tv_iter": args.tv_iter,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "cpu_count": __import__("os").cpu_count(),
        "rows": rows,
    }
    (out / f"inverse_{kind}.json").write_text(json.dumps(meta, indent=2) + "\n")
    plot_panels(
        panels,
        ROOT / "docs" / "img" / f"inverse_{kind}.png" if not args.quick else out / f"inverse_{kind}.png",
        title=f"{kind}: trained at 64x64 ({params})",
    )
    return rows


def report(out: Path, kinds: list[str]) -> str:
    """Markdown tables (PSNR / SSIM per method and grid, parameters) from ``inverse_<physics>.csv``."""
    import csv

    lines = []
    for kind in kinds:
        path = out / f"inverse_{kind}.csv"
        if not path.is_file():
            continue
        with path.open() as f:
            rows = list(csv.DictReader(f))
        res = sorted({int(r["resolution"]) for r in rows})
        lines += [f"**{kind}**", "", "| method | parameters | " + " | ".join(f"{n}x{n}" for n in res) + " |"]
        lines.append("|---|---:|" + "---:|" * len(res))
        for method in dict.fromkeys(r["method"] for r in rows):
            cells = {int(r["resolution"]): r for r in rows if r["method"] == method}
            params = next(iter(cells.values()))["parameters"]
            vals = [f"{float(cells[n]['psnr']):.2f} / {float(cells[n]['ssim']):.3f}" if n in cells else "" for n in res]
            lines.append(f"| {method} | {int(params):,} | " + " | ".join(vals) + " |")
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--physics", nargs="+", default=list(PHYSICS), choices=list(PHYSICS))
    ap.add_argument("--steps", type=int, default=300, help="training steps at 64 [300]")
    ap.add_argument("--steps-256", type=int, default=60, help="training steps of the 256-trained model [60]")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--n-train", type=int, default=320)
    ap.add_argument("--n-256", type=int, default=48, help="training images at 256")
    ap.add_argument("--n-test", type=int, default=12)
    ap.add_argument("--tv-iter", type=int, default=40)
    ap.add_argument("--skip", nargs="*", default=[], help="model names to skip (e.g. ours-unrolled)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "results"))
    ap.add_argument("--quick", action="store_true", help="tiny budgets (smoke run; results not for the docs)")
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--report", action="store_true", help="only print markdown tables from the CSVs in --out")
    args = ap.parse_args(argv)
    if args.report:
        print(report(Path(args.out), args.physics))
        return 0
    if args.quick:
        args.steps, args.steps_256, args.n_train, args.n_256, args.n_test, args.tv_iter = 4, 2, 16, 4, 2, 3
    torch.set_num_threads(args.threads)
    for kind in args.physics:
        run_physics(kind, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
