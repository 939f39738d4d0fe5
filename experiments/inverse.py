"""Inverse problems across resolutions: train at 64x64, reconstruct at 64, 128 and 256.

Run from the repository root::

    OMP_NUM_THREADS=1 python -m experiments.inverse --threads 1                 # every setting in PHYSICS
    OMP_NUM_THREADS=1 python -m experiments.inverse --physics deblur --quick    # smoke run
    python -m experiments.inverse --report                                      # tables and goals from the CSVs

For each setting of :data:`PHYSICS` (``spectral_sparse.inverse.make_physics`` parameters and data):

* ``input`` — the physics' grid-consistent image (``A^T y`` for deblur, zero-filled
  ``A^dagger y`` for MRI, filtered back-projection for tomography);
* ``tv`` — TV-regularised PGD through deepinv (``TVPrior``); ``wiener`` (deblur) — the
  Tikhonov/Wiener filter ``prox_l2``; both weights tuned at every grid on training images
  of that grid;
* ``dncnn@64`` — deepinv's DnCNN in ``ArtifactRemoval``, trained at 64 with the same data,
  steps and batch size as ours, applied directly at every grid;
* ``ours-artifact@64``, ``ours-hqs@64``, ``ours-unrolled@64`` — ``SpectralDenoiser`` in
  ``ArtifactRemoval``, in unrolled HQS and in unrolled PGD (per setting, see ``models``),
  trained at 64, applied directly at every grid;
* ``...@64->up`` — "reconstruct at 64 then Fourier-upsample": the same pipeline run at
  64 (ground truth resampled to 64, measured by the 64-grid operator, reconstructed)
  and the result resampled to the test grid with ``ss.resample``;
* ``<ref>@256`` — the architecture named by ``ref`` trained directly at 256.

Data: scikit-image photographs (patches of 256 native pixels, split by image,
``spectral_sparse.inverse.SPLIT_NOTE``) or deepinv's random-ellipse phantoms (train/test
seeds disjoint). Metrics: deepinv PSNR and SSIM (``max_pixel=1``), mean over the test
images. Writes ``<setting>.csv`` / ``.json`` and the panels ``<setting>.png`` into the run
folder ``--out`` (default ``benchmarks/results/inverse/steps<steps>``, ``_seed<seed>`` appended for
a seed other than 0, ``_quick`` for ``--quick``; the panels are copied into ``docs/img`` by
``python -m benchmarks figure``). A folder in the older layout that holds
``inverse_<setting>.csv`` keeps those names (read and rewritten as they are). ``--ceilings``
writes ``benchmarks/results/inverse/ceilings/results.csv`` (``--out DIR``: ``DIR/results.csv``).
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

import spectral_sparse as ss
from spectral_sparse.cli.reconstruct import plot_panels
from spectral_sparse.inverse import SPLIT_NOTE, build_reconstructor, ground_truth, make_physics
from spectral_sparse.inverse.models import count_parameters, initial_image
from spectral_sparse.inverse.train import (
    evaluate_reconstructor,
    measure,
    reconstruct_batched,
    save_reconstructor,
    score,
    train_reconstructor,
    tv_reconstruction,
    wiener_reconstruction,
)

ROOT = Path(__file__).resolve().parents[1]

PHYSICS: dict[str, dict[str, Any]] = {
    "deblur": {
        "params": {"width": 0.015, "noise_sigma": 0.01},
        "data": "photos",
        "models": ("ours-artifact", "ours-hqs", "dncnn"),
        "ref": "ours-hqs",
    },
    "mri": {
        "params": {"k_max": 24, "k_center": 3, "acceleration": 3.0, "seed": 0, "noise_sigma": 0.0},
        "data": "photos",
        "models": ("ours-artifact", "ours-hqs", "dncnn"),
        "ref": "ours-hqs",
    },
    "mri-band": {  # the same line pattern without an upper frequency: a finer grid measures more
        "kind": "mri",
        "params": {"k_max": None, "k_center": 3, "acceleration": 4.0, "seed": 0, "noise_sigma": 0.0},
        "data": "photos",
        "models": ("ours-artifact", "ours-hqs", "dncnn"),
        "ref": "ours-hqs",
        "augment": True,  # ten training photographs: without it every network overfits (see docs/inverse.md)
        "data_last": True,  # noise-free data: HQS ends with the data step
    },
    "mri-band-phantoms": {
        "kind": "mri",
        "params": {"k_max": None, "k_center": 3, "acceleration": 4.0, "seed": 0, "noise_sigma": 0.0},
        "data": "phantoms",
        "models": ("ours-artifact", "ours-hqs", "dncnn"),
        "ref": "ours-hqs",
        "augment": True,
        "data_last": True,
    },
    "mri-band-phantoms-noisy": {  # the same scan with noise on every measured coefficient
        "kind": "mri",
        "params": {"k_max": None, "k_center": 3, "acceleration": 4.0, "seed": 0, "noise_sigma": 3e-4},
        "data": "phantoms",
        "models": ("ours-artifact", "ours-hqs", "dncnn"),
        "ref": "ours-hqs",
        "augment": True,
        "tv_grid": (1e-3, 3e-3, 1e-2, 3e-2, 1e-1),  # noise moves the best weight up
    },
    "tomography": {
        "params": {"n_angles": 24, "noise_sigma": 0.0},
        "data": "phantoms",
        "models": ("ours-artifact", "ours-unrolled", "dncnn"),
        "ref": "ours-artifact",  # unrolled PGD at 256 costs ~6 s per step on one CPU thread
    },
}
SPECTRAL = {"arch": "spectral", "width": 16, "modes": 20.0, "depth": 4}
UNROLLED = {"arch": "spectral", "wrapper": "unrolled", "width": 12, "modes": 20.0, "depth": 3, "n_iter": 4}
HQS = {**UNROLLED, "wrapper": "hqs"}
DNCNN = {"arch": "dncnn", "width": 32, "depth": 8}
MODELS: dict[str, dict[str, Any]] = {
    "ours-artifact": SPECTRAL,
    "ours-unrolled": UNROLLED,
    "ours-hqs": HQS,
    "dncnn": DNCNN,
}
TRAIN_RES, RESOLUTIONS = 64, (64, 128, 256)
RESULTS = ROOT / "benchmarks" / "results" / "inverse"  # one run folder per run; the figure manifest copies panels
DEFAULT_OUT = RESULTS / "steps1200"  # the run folder of the default settings (see default_out)
CEILINGS = RESULTS / "ceilings" / "results.csv"
TV_GRID = (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)
WIENER_GRID = (1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 1e-1)
TV_TUNE = 4  # TV weights are tuned on this many of the tuning images


def default_out(steps: int, seed: int = 0, quick: bool = False) -> Path:
    """The run folder of a run without ``--out``: ``RESULTS/steps<steps>[_seed<seed>][_quick]``."""
    return RESULTS / (f"steps{steps}" + (f"_seed{seed}" if seed else "") + ("_quick" if quick else ""))


def result_file(out: Path | str, name: str, ext: str = "csv") -> Path:
    """``out/<name>.<ext>``; ``out/inverse_<name>.<ext>`` in a folder of the older layout (one that holds
    ``inverse_<name>.csv`` and no ``<name>.csv``), so the CSV, JSON and panels of a run keep one naming."""
    out = Path(out)
    legacy = not (out / f"{name}.csv").exists() and (out / f"inverse_{name}.csv").exists()
    return out / (f"inverse_{name}.{ext}" if legacy else f"{name}.{ext}")


def tv_grid(name: str) -> tuple[float, ...]:
    """The TV weights tuned over for setting ``name``: its ``tv_grid``, else :data:`TV_GRID`."""
    return tuple(PHYSICS[name].get("tv_grid", TV_GRID))


def eval_set(name: str, physics: Any, n_test: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The benchmark's test images of setting ``name`` on ``physics``' grid and their measurement.

    Images: test split, ``seed``; noise: ``seed + 7``. Every script that compares with the
    benchmark's rows takes its test data from here.
    """
    x = ground_truth(PHYSICS[name]["data"], "test", n_test, physics.grid[0], seed=seed)
    return x, measure(physics, x, seed + 7)


def tune_set(name: str, n: int, seed: int) -> torch.Tensor:
    """The 16 training images of setting ``name`` at grid ``n`` (``seed + 1``) that classical weights are tuned on.

    Wiener is tuned on all 16, TV (slower) on the first :data:`TV_TUNE`.
    """
    return ground_truth(PHYSICS[name]["data"], "train", 16, n, seed=seed + 1)


def _config(name: str, mode: str, data_last: bool = False) -> dict[str, Any]:
    conf = dict(MODELS[name])
    if conf.get("wrapper") == "hqs" and data_last:
        conf["data_last"] = True
    return conf if conf.get("wrapper") in ("unrolled", "hqs") else {**conf, "input_mode": mode}


def _upsampled(method: Any, kind: str, params: dict[str, Any]) -> Any:
    """Reconstruct at 64 (fresh 64-grid measurement of the ground truth resampled to 64), then resample up."""
    p64 = make_physics(kind, TRAIN_RES, **params)

    def run(x: torch.Tensor, seed: int) -> torch.Tensor:
        x64 = ss.resample(x.double(), (TRAIN_RES, TRAIN_RES)).float()
        y64 = measure(p64, x64, seed)
        return ss.resample(reconstruct_batched(method, y64, p64).double(), tuple(x.shape[-2:])).float()

    return run


def _write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    import csv

    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(dict.fromkeys(k for r in rows for k in r)))
        w.writeheader()
        w.writerows(rows)


def _tune(make: Any, grid: tuple[float, ...], physics: Any, x: torch.Tensor) -> tuple[float, float]:
    """The weight of ``grid`` whose method ``make(weight)`` scores best on ``x``, and that score."""
    psnr = {lam: evaluate_reconstructor(make(lam), physics, x, seed=1)["psnr"] for lam in grid}
    best = max(psnr, key=psnr.get)
    return best, psnr[best]


def _train(
    name: str, conf: dict[str, Any], physics: Any, x: torch.Tensor, steps: int, args: argparse.Namespace, augment: bool
):
    torch.manual_seed(args.seed)
    model = build_reconstructor(conf)
    t0 = time.perf_counter()
    hist = train_reconstructor(
        model,
        physics,
        x,
        epochs=max(1, steps * args.batch_size // len(x)),
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        progress=not args.no_progress,
        augment=augment,
    )
    res = physics.grid[0]
    print(
        f"[{physics.kind}] trained {name}@{res}: {hist['steps']} steps, {time.perf_counter() - t0:.0f} s, "
        f"{hist['parameters']:,} params, loss {hist['loss'][0]:.4g} -> {hist['loss'][-1]:.4g}",
        flush=True,
    )
    return model, {**hist, "train_resolution": res}


def _classical(
    name: str, phys: dict[int, Any], args: argparse.Namespace, wiener: bool = True
) -> dict[str, dict[int, Any]]:
    """TV (and, with ``wiener``, Wiener for deblur), weights tuned at every grid on training images of that grid."""
    cfg = PHYSICS[name]
    kind = cfg.get("kind", name)
    classical: dict[str, Any] = {"tv": {}, "wiener": {}}
    for n in RESOLUTIONS:
        x_tune = tune_set(name, n, args.seed)
        lam, _ = _tune(lambda v: tv_reconstruction(v, n_iter=args.tv_iter), tv_grid(name), phys[n], x_tune[:TV_TUNE])
        info = {"lambda": lam, "tv_iter": args.tv_iter}
        classical["tv"][n] = (tv_reconstruction(lam, n_iter=args.tv_iter), 0, info)
        if kind == "deblur" and wiener:
            lam_w, _ = _tune(wiener_reconstruction, WIENER_GRID, phys[n], x_tune)
            classical["wiener"][n] = (wiener_reconstruction(lam_w), 0, {"lambda": lam_w})
        print(
            f"[{name}] {n}: tuned tv {lam:g}" + (f", wiener {lam_w:g}" if n in classical["wiener"] else ""), flush=True
        )
    return classical


def _score_row(
    name: str,
    label: str,
    n: int,
    method: Any,
    n_params: int,
    extra: dict[str, Any],
    x: torch.Tensor,
    y: torch.Tensor,
    physics: Any,
    noise_seed: int,
) -> tuple[dict[str, Any], torch.Tensor]:
    """Run one method on the test set of grid ``n``, print its line and return its CSV row and output.

    ``...->up`` methods take the truth and the noise seed (they measure at 64 themselves);
    every other method reconstructs from ``y`` on ``physics``.
    """
    t0 = time.perf_counter()
    x_hat = method(x, noise_seed) if label.endswith("->up") else reconstruct_batched(method, y, physics)
    r = score(x_hat, x)
    row = {
        "physics": name,
        "method": label,
        "resolution": n,
        "psnr": round(r["psnr"], 3),
        "ssim": round(r["ssim"], 4),
        "parameters": n_params,
        "n_test": r["n"],
        "seconds": round(time.perf_counter() - t0, 2),
        **extra,
    }
    print(f"[{name}] {n:>3} {label:<24} PSNR {r['psnr']:6.2f}  SSIM {r['ssim']:.3f}  params {n_params:,}", flush=True)
    return row, x_hat


def rerun_tv(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Tune and evaluate TV again with ``args.tv_iter`` iterations and replace the ``tv`` rows.

    Rewrites ``<out>/<name>.csv`` (and ``tv_iter`` in the JSON beside it); the
    test images, noise and tuning images are those of the run that wrote the CSV (same
    ``--seed`` and ``--n-test``). For checking how much a baseline gains from iterating
    to convergence without training every network again.
    """
    import csv

    cfg = PHYSICS[name]
    kind = cfg.get("kind", name)
    path = result_file(args.out, name)
    if not path.is_file():
        raise FileNotFoundError(f"{str(path)!r} does not exist: run the benchmark for {name!r} first")
    with path.open() as f:
        rows = list(csv.DictReader(f))
    phys = {n: make_physics(kind, n, **cfg["params"]) for n in RESOLUTIONS}
    classical = _classical(name, phys, args, wiener=False)["tv"]
    new = {}
    for n in RESOLUTIONS:
        x, y = eval_set(name, phys[n], args.n_test, args.seed)
        method, n_params, info = classical[n]
        new[n], _ = _score_row(name, "tv", n, method, n_params, info, x, y, phys[n], args.seed + 7)
    rows = [new[int(r["resolution"])] if r["method"] == "tv" else r for r in rows]
    _write_csv(path, rows)
    meta_path = path.with_suffix(".json")
    if meta_path.is_file():
        meta = json.loads(meta_path.read_text())
        meta.update(tv_iter=args.tv_iter, rows=rows)
        meta_path.write_text(json.dumps(meta, indent=2) + "\n")
    return rows


def run_physics(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    cfg = PHYSICS[name]
    kind, params, data = cfg.get("kind", name), cfg["params"], cfg["data"]
    x_train = ground_truth(data, "train", args.n_train, TRAIN_RES, seed=args.seed)
    phys = {n: make_physics(kind, n, **params) for n in RESOLUTIONS}
    mode = phys[TRAIN_RES].input_mode
    aug, dl = bool(cfg.get("augment", False)), bool(cfg.get("data_last", False))
    trained: dict[str, tuple[Any, dict[str, Any]]] = {}
    for model_name in cfg["models"]:
        if model_name not in args.skip:
            conf = _config(model_name, mode, dl)
            trained[f"{model_name}@64"] = _train(model_name, conf, phys[TRAIN_RES], x_train, args.steps, args, aug)
    if f"{cfg['ref']}@256" not in args.skip:
        x256 = ground_truth(data, "train", args.n_256, 256, seed=args.seed)
        ref = _train(cfg["ref"], _config(cfg["ref"], mode, dl), phys[256], x256, args.steps_256, args, aug)
        trained[f"{cfg['ref']}@256"] = ref
    if args.save:
        for label, (model, _) in trained.items():
            conf = _config(label.split("@")[0], mode, dl)
            save_reconstructor(Path(args.save) / f"{name}_{label}.pt", model, conf, physics=kind, params=params)
    classical = _classical(name, phys, args)
    rows, panels = [], {}
    for n in RESOLUTIONS:
        p = phys[n]
        x, y = eval_set(name, p, args.n_test, args.seed)
        entries: list[tuple[str, tuple[Any, int, dict[str, Any]]]] = [("input", (initial_image, 0, {}))]
        entries += [(c, classical[c][n]) for c in ("tv", "wiener") if n in classical[c]]
        for label, (model, hist) in trained.items():
            info = {"steps": hist["steps"], "train_seconds": round(hist["train_seconds"], 1)}
            entries.append((label, (model, count_parameters(model), info)))
        for label, (model, hist) in trained.items():
            if label.endswith("@64"):
                info = {"steps": hist["steps"], "train_seconds": round(hist["train_seconds"], 1)}
                entries.append((f"{label}->up", (_upsampled(model, kind, params), count_parameters(model), info)))
        panels[n] = {"truth": x[:1], "input": initial_image(y[:1], p)}
        for label, (method, n_params, extra) in entries:
            row, x_hat = _score_row(name, label, n, method, n_params, extra, x, y, p, args.seed + 7)
            if label in PANELS or label.endswith("@256"):
                panels[n][label] = x_hat[:1]
            rows.append(row)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    _write_csv(result_file(out, name), rows)
    meta = {
        "physics": name,
        "kind": kind,
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
        "models": {m: _config(m, mode, dl) for m in cfg["models"]},
        "augment": aug,
        "reference_at_256": cfg["ref"],
        "tv_lambda_grid": tv_grid(name),
        "wiener_lambda_grid": WIENER_GRID,
        "tv_iter": args.tv_iter,
        "losses": {label: hist["loss"] for label, (_, hist) in trained.items()},
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.machine(),
        "cpu_count": __import__("os").cpu_count(),
        "rows": rows,
    }
    result_file(out, name, "json").write_text(json.dumps(meta, indent=2) + "\n")
    plot_panels(
        panels,
        result_file(out, name, "png"),
        title=f"{name}: trained at 64x64 ({params})",
    )
    return rows


def oracle_wiener(physics: Any, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Per-image oracle Wiener filter for ``deblur``: the gain ``h |X|^2 / (h^2 |X|^2 + sigma^2)`` per frequency.

    Uses the true spectrum ``X`` of each image and the true noise level, so no filter that is
    diagonal in Fourier does better on average over the noise; a bound for linear
    deconvolution, not for non-linear methods.
    """
    h = physics.mask.double()
    spec_x = torch.fft.rfft2(x.double(), norm="ortho")
    power = spec_x.abs() ** 2
    gain = h * power / (h**2 * power + physics.params["noise_sigma"] ** 2)
    spec_y = torch.fft.rfft2(y.double(), norm="ortho")
    return torch.fft.irfft2(gain * spec_y, s=tuple(x.shape[-2:]), norm="ortho").float()


def ceilings(name: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Upper bounds on the test images of setting ``name`` at every grid in :data:`RESOLUTIONS`.

    ``band-limit@64``: the truth resampled to 64 and back (its orthogonal projection on the
    frequencies of the 64 grid), the closest in L2 that any ``...@64->up`` reconstruction
    can be. ``oracle-wiener`` (deblur): :func:`oracle_wiener` on the benchmark's measurement,
    and ``oracle-wiener@64->up`` the same at 64, resampled up.
    """
    cfg = PHYSICS[name]
    kind, params, data = cfg.get("kind", name), cfg["params"], cfg["data"]
    rows = []
    p64 = make_physics(kind, TRAIN_RES, **params)
    for n in RESOLUTIONS:
        x = ground_truth(data, "test", args.n_test, n, seed=args.seed)
        x64 = ss.resample(x.double(), (TRAIN_RES, TRAIN_RES))
        bounds = {"band-limit@64": ss.resample(x64, (n, n)).float()}
        if kind == "deblur":
            p = make_physics(kind, n, **params)
            bounds["oracle-wiener"] = oracle_wiener(p, x, measure(p, x, args.seed + 7))
            up = oracle_wiener(p64, x64.float(), measure(p64, x64.float(), args.seed + 7))
            bounds["oracle-wiener@64->up"] = ss.resample(up.double(), (n, n)).float()
        for label, x_hat in bounds.items():
            r = score(x_hat, x)
            rows.append(
                {
                    "physics": name,
                    "bound": label,
                    "resolution": n,
                    "psnr": round(r["psnr"], 3),
                    "ssim": round(r["ssim"], 4),
                    "n_test": r["n"],
                }
            )
            print(f"[{name}] {n:>3} {label:<22} PSNR {r['psnr']:6.2f}  SSIM {r['ssim']:.3f}", flush=True)
    return rows


#: Methods shown in the panels (plus the 256-trained reference).
PANELS = ("tv", "ours-artifact@64", "ours-unrolled@64", "ours-hqs@64", "dncnn@64", "ours-hqs@64->up", "dncnn@64->up")


def report(out: Path, kinds: list[str], ref_from: Path | None = None) -> str:
    """Markdown tables (PSNR / SSIM per method and grid, parameters) from ``out/<physics>.csv``.

    ``ref_from``: a run folder whose ``<physics>.csv`` holds the 256-trained reference used for
    goal 1 (see :func:`goals_at`). Folders in the older layout (``inverse_<physics>.csv``) are
    read too (:func:`result_file`). The upper bounds come from ``out/inverse_ceilings.csv`` where
    that exists (the older layout), else from the sibling run folder ``out/../ceilings/results.csv``
    (:data:`CEILINGS` for the run folders of ``benchmarks/results/inverse``).
    """
    import csv

    lines = []
    for kind in kinds:
        path = result_file(out, kind)
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
    goals = []
    for kind in kinds:
        ref = None if ref_from is None else result_file(ref_from, kind)
        g = goals_at(result_file(out, kind), kind, ref_path=ref)
        if g:
            goals.append(g)
    if goals:
        lines += [
            "**Against the goals at 256x256** (dB, positive: ours is better; ours = the best of ours trained at 64)",
            "",
            "| physics | ours (PSNR) | same arch. trained at 256 (goal > -1) | best ...@64->up (goal >= 1) "
            "| best CNN@64, direct or upsampled (goal >= 1) | best classical (goal >= 3) |",
            "|---|---|---|---|---|---|",
        ]
        for g in goals:
            cells = []
            for key, need in (("ref", -1.0), ("up", 1.0), ("cnn", 1.0), ("classical", 3.0)):
                if key not in g:
                    cells.append("n/a")
                    continue
                diff, who = g[key]
                ok = diff > need if key == "ref" else diff >= need
                cells.append(f"{diff:+.2f} ({who}): {'met' if ok else '**missed**'}")
            lines.append(f"| {g['physics']} | {g['ours'][1]} {g['ours'][0]:.2f} | " + " | ".join(cells) + " |")
        lines.append("")
    legacy = Path(out) / "inverse_ceilings.csv"
    bounds = _ceilings_at(legacy if legacy.is_file() else Path(out).parent / CEILINGS.parent.name / CEILINGS.name)
    if goals and bounds:
        lines += [
            "**What the goals ask at 256x256, against upper bounds** (PSNR dB; see `ceilings`)",
            "",
            "| physics | ours | goal 2 needs | goal 4 needs | band-limit@64 | oracle-wiener |",
            "|---|---:|---:|---:|---:|---:|",
        ]
        for g in goals:
            b = bounds.get(g["physics"], {})
            ours = g["ours"][0]
            need = [f"{ours - g[k][0] + t:.2f}" if k in g else "n/a" for k, t in (("up", 1.0), ("classical", 3.0))]
            have = [f"{b[k]:.2f}" if k in b else "n/a" for k in ("band-limit@64", "oracle-wiener")]
            lines.append(f"| {g['physics']} | {ours:.2f} | " + " | ".join(need + have) + " |")
        lines.append("")
    return "\n".join(lines)


def _ceilings_at(path: Path, resolution: int = 256) -> dict[str, dict[str, float]]:
    """``{physics: {bound: psnr}}`` at ``resolution`` from a ceilings CSV (empty if absent)."""
    import csv

    if not path.is_file():
        return {}
    out: dict[str, dict[str, float]] = {}
    with path.open() as f:
        for r in csv.DictReader(f):
            if int(r["resolution"]) == resolution:
                out.setdefault(r["physics"], {})[r["bound"]] = float(r["psnr"])
    return out


def goals_at(path: Path, physics: str, resolution: int = 256, ref_path: Path | None = None) -> dict[str, Any]:
    """The issue's four comparisons at ``resolution`` from one ``<physics>.csv`` (empty if absent).

    ``ours``: the best ``ours-*@64`` row; ``ref``: the 256-trained architecture's ``@64`` row
    minus its ``@256`` row (the same architecture, whichever of ours is best); ``up``: ours
    minus the best ``...->up`` row; ``cnn``: ours minus the best ``dncnn@64`` / ``unet@64``
    row, applied directly or upsampled; ``classical``: ours minus the best of ``tv`` and
    ``wiener``. Values are ``(difference in dB, compared method)``. With ``ref_path`` (the
    CSV of a run that trained only the reference, same test images and noise), the ``@256``
    rows come from there instead.
    """
    import csv

    if not path.is_file():
        return {}
    with path.open() as f:
        psnr = {r["method"]: float(r["psnr"]) for r in csv.DictReader(f) if int(r["resolution"]) == resolution}
    if ref_path is not None:
        if not ref_path.is_file():
            raise FileNotFoundError(f"reference CSV {str(ref_path)!r} does not exist")
        psnr = {m: v for m, v in psnr.items() if not m.endswith("@256")}
        with ref_path.open() as f:
            rows = [r for r in csv.DictReader(f) if int(r["resolution"]) == resolution]
        psnr.update({r["method"]: float(r["psnr"]) for r in rows if r["method"].endswith("@256")})
    ours = {m: v for m, v in psnr.items() if m.startswith("ours-") and m.endswith("@64")}
    if not ours:
        return {}
    best = max(ours, key=ours.get)
    out: dict[str, Any] = {"physics": physics, "ours": (ours[best], best)}

    def versus(candidates: list[str], mine: str = best) -> tuple[float, str] | None:
        cands = [m for m in candidates if m in psnr]
        if not cands:
            return None
        other = max(cands, key=psnr.get)
        return round(psnr[mine] - psnr[other], 2), other

    refs = [m for m in psnr if m.endswith("@256")]
    if refs:
        arch = refs[0].removesuffix("@256")
        if f"{arch}@64" in psnr:
            out["ref"] = (round(psnr[f"{arch}@64"] - psnr[refs[0]], 2), f"{arch}@64 vs @256")
    for key, cands in (
        ("up", [m for m in psnr if m.endswith("->up")]),
        ("cnn", [m for m in psnr if m.split("@")[0] in ("dncnn", "unet")]),
        ("classical", ["tv", "wiener"]),
    ):
        v = versus(cands)
        if v is not None:
            out[key] = v
    return out


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.inverse`` (parsing only; ``main`` runs it)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--physics", nargs="+", default=list(PHYSICS), choices=list(PHYSICS))
    ap.add_argument("--steps", type=int, default=1200, help="training steps at 64 [1200]")
    ap.add_argument("--steps-256", type=int, default=400, help="training steps of the 256-trained model [400]")
    ap.add_argument("--batch-size", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--n-train", type=int, default=960)
    ap.add_argument("--n-256", type=int, default=400, help="training images at 256")
    ap.add_argument("--n-test", type=int, default=16)
    ap.add_argument("--tv-iter", type=int, default=40)
    ap.add_argument("--skip", nargs="*", default=[], help="model names to skip (e.g. ours-unrolled)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument(
        "--out",
        default=None,
        help="run folder [benchmarks/results/inverse/steps<steps>, _seed<seed> for seed > 0, _quick for --quick; "
        "--ceilings: benchmarks/results/inverse/ceilings]",
    )
    ap.add_argument(
        "--quick", action="store_true", help="tiny budgets (smoke run into a *_quick folder; results not for the docs)"
    )
    ap.add_argument("--no-progress", action="store_true")
    ap.add_argument("--save", metavar="DIR", help="also write every trained model to DIR/<physics>_<model>.pt")
    ap.add_argument("--report", action="store_true", help="only print markdown tables from the CSVs in --out")
    ap.add_argument(
        "--ref-from",
        metavar="DIR",
        help="with --report: take the 256-trained reference rows from the CSVs of run folder DIR "
        "(e.g. benchmarks/results/inverse/ref256_2400)",
    )
    ap.add_argument(
        "--rerun-tv",
        action="store_true",
        help="only tune and evaluate TV again (--tv-iter) and replace its rows in the CSVs in --out",
    )
    ap.add_argument(
        "--ceilings",
        action="store_true",
        help="only write the upper bounds benchmarks/results/inverse/ceilings/results.csv (--out DIR: DIR/results.csv; "
        "no training)",
    )
    return ap


def main(argv: list[str] | None = None) -> int:
    ap = build_parser()
    args = ap.parse_args(argv)
    if args.ref_from and not args.report:
        ap.error("--ref-from only applies with --report")
    if args.out is None:
        args.out = str(CEILINGS.parent if args.ceilings else default_out(args.steps, args.seed, args.quick))
    if args.report:
        print(report(Path(args.out), args.physics, args.ref_from))
        return 0
    if args.quick:
        args.steps, args.steps_256, args.n_train, args.n_256, args.n_test, args.tv_iter = 4, 2, 16, 4, 2, 3
    torch.set_num_threads(args.threads)
    if args.rerun_tv:
        for kind in args.physics:
            rerun_tv(kind, args)
        return 0
    if args.ceilings:
        rows = [row for kind in args.physics for row in ceilings(kind, args)]
        _write_csv(Path(args.out) / "results.csv", rows)
        return 0
    for kind in args.physics:
        run_physics(kind, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
