"""Classification across resolutions: train at one grid, test at many (MNIST split and analytic shapes).

Run from the repository root::

    python -m experiments.classification --seed 0 --threads 2          # both data sets (~20-30 min on 2 CPU cores)
    python -m experiments.classification --data shapes --quick          # smoke run, seconds

MNIST: trained on the first 8,000 images of the official MNIST test set, tested
on the last 2,000 (``spectral_sparse.data.SPLIT_NOTE``), at 28x28; tested raw at
14, 20, 28, 42, 56, 84 and 112 (test images resized with the exact ``fourier``
method, plus a ``bilinear`` row for the spectral model). Models: the spectral
classifier, a CNN, the CNN converted with ``cnn_to_spectral`` at 28x28, and the
resize-first baseline (test image resized back to 28x28 first) for both.
Shapes: analytic band-limited shapes rendered at 32x32 for training and tested
from 16 to 128.

Writes ``benchmarks/results/classification/<data>/results.csv`` (long format: one row per data
set, model, mode, method and resolution; ``<data>`` is ``mnist`` or ``shapes``, ``mnist_quick`` and
``shapes_quick`` for ``--quick``), ``results.json`` (settings and per-epoch histories) and the figure
``accuracy.png`` beside them (``--img`` moves the figures' folders); ``--checkpoints DIR`` also saves
the trained models (``spectral_sparse.checkpoint``).
"""

from __future__ import annotations

import argparse
import csv
import json
import platform
import time
from pathlib import Path
from typing import Any

import torch

from spectral_sparse.checkpoint import save_checkpoint
from spectral_sparse.cli.evaluate import evaluate_models, format_rows, plot_accuracy
from spectral_sparse.data import CLASSES, SPLIT_NOTE, default_data_root, make_shapes, mnist_split
from spectral_sparse.models import CNNClassifier, SpectralClassifier, cnn_to_spectral
from spectral_sparse.training import train_classifier

ROOT = Path(__file__).resolve().parents[1]

#: Per data set: training grid, test grids, sizes and model/optimiser settings.
SETTINGS: dict[str, dict[str, Any]] = {
    "mnist": {
        "train_resolution": 28,
        "resolutions": [14, 20, 28, 42, 56, 84, 112],
        "spectral": {"width": 32, "modes": 8.0, "depth": 4},
        "cnn": {"widths": [32, 64, 96]},
        "epochs": 8,
        "batch_size": 64,
        "lr": 3e-3,
        "note": "trained on the first 8,000 images of the official MNIST test set, tested on the last 2,000",
    },
    "shapes": {
        "train_resolution": 32,
        "resolutions": [16, 20, 24, 32, 48, 64, 96, 128],
        "n_train": 3000,
        "n_test": 1000,
        "spectral": {"width": 24, "modes": 5.0, "depth": 3},
        "cnn": {"widths": [24, 48, 64]},
        "epochs": 8,
        "batch_size": 64,
        "lr": 1e-2,
        "note": "analytic band-limited shapes (|k| <= 7): 3,000 training shapes (seed s), 1,000 test shapes (seed s+1)",
    },
}
QUICK = {"epochs": 1, "n_train": 256, "n_test": 128}


def load(data: str, cfg: dict[str, Any], seed: int, quick: bool, data_dir: Path | None) -> tuple:
    """``(x_train, y_train, x_test, y_test, num_classes)``."""
    if data == "mnist":
        root = data_dir or default_data_root()
        if root is None or not Path(root).is_dir():
            raise SystemExit(f"classification.py: MNIST data directory not found ({root}); pass --data-dir")
        (x, y), (xt, yt) = mnist_split(root)
        if quick:
            x, y, xt, yt = x[: QUICK["n_train"]], y[: QUICK["n_train"]], xt[: QUICK["n_test"]], yt[: QUICK["n_test"]]
        return x, y, xt, yt, 10
    n_train, n_test = (QUICK["n_train"], QUICK["n_test"]) if quick else (cfg["n_train"], cfg["n_test"])
    res = cfg["train_resolution"]
    x, y = make_shapes(n_train, res, seed=seed)
    xt, yt = make_shapes(n_test, res, seed=seed + 1)
    return x, y, xt, yt, len(CLASSES)


def run_data(data: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Train both models on one data set, evaluate every variant, write the CSV and the plot."""
    cfg = SETTINGS[data]
    x, y, xt, yt, n_cls = load(data, cfg, args.seed, args.quick, args.data_dir)
    res = cfg["train_resolution"]
    epochs = args.epochs or (QUICK["epochs"] if args.quick else cfg["epochs"])
    models: dict[str, torch.nn.Module] = {}
    histories: dict[str, dict[str, Any]] = {}
    for i, (name, build) in enumerate(
        (
            ("spectral", lambda: SpectralClassifier(1, n_cls, **cfg["spectral"])),
            ("cnn", lambda: CNNClassifier(1, n_cls, widths=cfg["cnn"]["widths"])),
        )
    ):
        torch.manual_seed(args.seed + 100 * (i + 1))
        model = build()
        print(f"[{data}] training {name} at {res}x{res} for {epochs} epoch(s) ...", flush=True)
        histories[name] = train_classifier(
            model,
            x,
            y,
            epochs=epochs,
            batch_size=cfg["batch_size"],
            lr=cfg["lr"],
            seed=args.seed + i,
            val_images=xt,
            val_labels=yt,
            progress=not args.no_progress,
        )
        h = histories[name]
        print(
            f"[{data}] {name}: {h['parameters']:,} parameters, {h['train_seconds']:.0f} s, "
            f"test accuracy per epoch {[round(100 * a, 2) for a in h['val_accuracy']]}",
            flush=True,
        )
        models[name] = model
        if args.checkpoints:
            meta = {"data": data, "train_resolution": res, "seed": args.seed, "split": cfg["note"], "epochs": epochs}
            save_checkpoint(args.checkpoints / f"{data}_{name}.pt", model, **meta)
    converted = cnn_to_spectral(models["cnn"], (res, res))
    resolutions = cfg["resolutions"]
    rows = evaluate_models(
        [
            ("spectral", models["spectral"], res, "spectral"),
            ("cnn", models["cnn"], res, "cnn"),
            ("cnn->spectral", converted, res, "cnn->spectral"),
        ],
        xt,
        yt,
        resolutions,
        method="fourier",
        progress=not args.no_progress,
    )
    rows += evaluate_models([("spectral", models["spectral"], res, "spectral")], xt, yt, resolutions, method="bilinear")
    rows += evaluate_models([("cnn", models["cnn"], res, "cnn")], xt, yt, resolutions, method="bilinear", modes=["raw"])
    rows = [{"data": data, **r} for r in rows]
    for r in rows:
        r["accuracy"] = round(r["accuracy"], 6)
        r["parameters"] = histories["cnn" if r["kind"] != "spectral" else "spectral"]["parameters"]
    print(format_rows(rows))
    print(cfg["note"])
    run = f"{data}_quick" if args.quick else data
    (args.results / run).mkdir(parents=True, exist_ok=True)
    (args.img / run).mkdir(parents=True, exist_ok=True)
    csv_path = args.results / run / "results.csv"
    with csv_path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    meta = {
        "data": data,
        "settings": cfg,
        "epochs": epochs,
        "seed": args.seed,
        "quick": args.quick,
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "machine": platform.processor() or platform.machine(),
        "date": time.strftime("%Y-%m-%d"),
        "histories": histories,
    }
    csv_path.with_suffix(".json").write_text(json.dumps(meta, indent=2) + "\n")
    title = f"{data.upper() if data == 'mnist' else 'Analytic shapes'}: trained at {res}x{res}, tested at many grids"
    plot_accuracy(rows, args.img / run / "accuracy.png", title, cfg["note"])
    print(f"wrote {csv_path} and {args.img / run / 'accuracy.png'}", flush=True)
    return rows


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.classification`` (parsing only; ``main`` runs it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", choices=("mnist", "shapes", "both"), default="both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=None, help="override the per-data-set epochs")
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--quick", action="store_true", help="tiny data, 1 epoch; writes <data>_quick folders")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "classification",
        help="experiment folder; each data set writes into <results>/<data>/ [benchmarks/results/classification]",
    )
    parser.add_argument(
        "--img",
        type=Path,
        default=None,
        help="experiment folder of the figures (<img>/<data>/accuracy.png) [the --results folder]; docs/img gets them "
        "through the figure manifest (python -m benchmarks figure classification_mnist)",
    )
    parser.add_argument("--checkpoints", type=Path, default=None, help="also save the trained models here")
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Command line entry point."""
    parser = build_parser()
    args = parser.parse_args(argv)
    args.img = args.img or args.results
    if args.threads:
        torch.set_num_threads(args.threads)
    for d in (args.results, args.img, args.checkpoints):
        if d is not None:
            d.mkdir(parents=True, exist_ok=True)
    flush = torch.set_flush_denormal(True)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, flush_denormal={flush}; {SPLIT_NOTE}")
    for data in ("mnist", "shapes") if args.data == "both" else (args.data,):
        run_data(data, args)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
