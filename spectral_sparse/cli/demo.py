"""``spectral-sparse demo``: train at one resolution, test at many.

A :class:`~spectral_sparse.models.SpectralClassifier` and a
:class:`~spectral_sparse.models.CNNClassifier` of about the same size are
trained on band-limited analytic shapes (:mod:`spectral_sparse.data.shapes`)
rendered at one grid, then tested on the same test shapes rendered on grids
from coarse to fine, square and not. Because every image is a sample of the
same band-limited function, a model that computes a function of the
continuous image gives the same answers on every grid; the table shows
whether each model does. Everything is generated on the fly (no downloads).
"""

from __future__ import annotations

import argparse
import re
import time
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import progress as _progress
from ..data.shapes import CLASSES, render_coefficients, shape_coefficients
from ..models import CNNClassifier, SpectralClassifier
from ..training import train_classifier
from ._common import positive_float, positive_int, prepare_run, write_csv, write_json
from ._report import format_table, plot_results, summary_sentence

HELP = "train a spectral and a CNN classifier at one resolution, test both at many (offline, ~1 min on CPU)"
DESCRIPTION = (
    "Train a SpectralClassifier and a CNN of similar size on band-limited analytic shapes at one grid, then "
    "evaluate both on the same test shapes rendered at several grids. Prints a table and writes results.json, "
    "results.csv and accuracy_vs_resolution.png to --out."
)

#: Band limit of the shapes: images hold |k| <= KMAX, so any grid with more than 2 KMAX points per axis resolves them.
KMAX = 7
DEFAULT_RESOLUTIONS = "16,20,28,40,56,84,28x40"


@dataclass
class DemoConfig:
    """Everything that defines a demo run (recorded in ``results.json``)."""

    n_train: int = 3000
    n_test: int = 1000
    epochs: int = 8
    batch_size: int = 64
    lr: float = 1e-2
    train_resolution: tuple[int, int] = (28, 28)
    resolutions: tuple[tuple[int, int], ...] = ()
    kmax: int = KMAX
    spectral_width: int = 16
    spectral_radius: float = 4.0
    spectral_depth: int = 3
    cnn_widths: tuple[int, ...] = (24, 48, 64)


QUICK = {"n_train": 384, "n_test": 60, "epochs": 3}


def parse_resolution(text: str) -> tuple[int, int]:
    """``"28"`` -> ``(28, 28)``, ``"28x40"`` -> ``(28, 40)``; the grid must resolve the shapes' band limit."""
    m = re.fullmatch(r"\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"invalid resolution {text!r} (expected N or HxW, e.g. 28 or 28x40)")
    h = int(m.group(1))
    w = int(m.group(2)) if m.group(2) else h
    if min(h, w) <= 2 * KMAX:
        raise argparse.ArgumentTypeError(
            f"resolution {text!r} does not resolve the shapes (band limit |k| <= {KMAX}): "
            f"each axis needs more than {2 * KMAX} points"
        )
    return h, w


def parse_resolutions(text: str) -> tuple[tuple[int, int], ...]:
    """Comma-separated resolutions, e.g. ``"16,28,56,28x40"``."""
    items = [t for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError("expected at least one resolution, e.g. 16,28,56,28x40")
    return tuple(dict.fromkeys(parse_resolution(t) for t in items))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The demo's own options."""
    d = DemoConfig()
    parser.add_argument("--quick", action="store_true", help="tiny data and one epoch: a smoke test in seconds")
    parser.add_argument("--n-train", type=positive_int, default=None, help=f"training images [{d.n_train}]")
    parser.add_argument("--n-test", type=positive_int, default=None, help=f"test images [{d.n_test}]")
    parser.add_argument("--epochs", type=positive_int, default=None, help=f"training epochs [{d.epochs}]")
    parser.add_argument(
        "--batch-size", type=positive_int, default=d.batch_size, help=f"training batch size [{d.batch_size}]"
    )
    parser.add_argument(
        "--lr", type=positive_float, default=d.lr, help=f"peak learning rate of Adam's one-cycle schedule [{d.lr}]"
    )
    parser.add_argument(
        "--train-resolution", type=parse_resolution, default=(28, 28), metavar="N|HxW", help="training grid [28]"
    )
    parser.add_argument(
        "--resolutions",
        type=parse_resolutions,
        nargs="+",
        default=[parse_resolutions(DEFAULT_RESOLUTIONS)],
        metavar="LIST",
        help=f"test grids (N or HxW), space- or comma-separated [{DEFAULT_RESOLUTIONS}]",
    )


def _config(args: argparse.Namespace) -> DemoConfig:
    cfg = DemoConfig(batch_size=args.batch_size, lr=args.lr, train_resolution=args.train_resolution)
    for key in ("n_train", "n_test", "epochs"):
        explicit = getattr(args, key)
        setattr(cfg, key, explicit if explicit is not None else QUICK[key] if args.quick else getattr(cfg, key))
    # the training grid is always evaluated: the agreement column is measured against it
    # one tuple of grids per word: --resolutions 16 28x40 and --resolutions 16,28x40 give the same grids
    res = tuple(dict.fromkeys(r for group in args.resolutions for r in group))
    cfg.resolutions = res if cfg.train_resolution in res else (cfg.train_resolution, *res)
    return cfg


def train_model(
    model: nn.Module, images: Tensor, labels: Tensor, cfg: DemoConfig, seed: int, name: str, progress: bool
) -> dict[str, Any]:
    """Adam with a one-cycle schedule and cross-entropy (:func:`~spectral_sparse.training.train_classifier`)."""
    history = train_classifier(
        model, images, labels, epochs=cfg.epochs, batch_size=cfg.batch_size, lr=cfg.lr, seed=seed, progress=progress
    )
    return {
        "parameters": history["parameters"],
        "train_seconds": history["train_seconds"],
        "final_epoch_loss": history["loss"][-1],
        "final_epoch_train_accuracy": history["train_accuracy"][-1],
    }


@torch.no_grad()
def predict(model: nn.Module, images: Tensor, batch_size: int = 250) -> Tensor:
    """Predicted classes, shape ``(n,)``, for images ``(n, C, H, W)``."""
    model.eval()
    return torch.cat([model(images[i : i + batch_size]).argmax(1) for i in range(0, len(images), batch_size)]).cpu()


def run(args: argparse.Namespace) -> int:
    """Run the demo; print the table; write results.json, results.csv and accuracy_vs_resolution.png."""
    t0 = time.perf_counter()
    env = prepare_run(args)
    # once training loss is tiny, Adam's second moments underflow into denormals, which are ~10x slower on CPU
    flush_denormal = torch.set_flush_denormal(True)
    try:
        return _run(args, env, flush_denormal, t0)
    finally:
        torch.set_flush_denormal(False)


def _run(args: argparse.Namespace, env: dict[str, Any], flush_denormal: bool, t0: float) -> int:
    cfg = _config(args)
    device, progress = args.device, not args.no_progress
    res_name = "{}x{}".format

    coeff_train, y_train = shape_coefficients(cfg.n_train, seed=args.seed, kmax=cfg.kmax)
    coeff_test, y_test = shape_coefficients(cfg.n_test, seed=args.seed + 1, kmax=cfg.kmax)
    x_train = render_coefficients(coeff_train, cfg.train_resolution).to(device)
    y_train = y_train.to(device)

    builders = {
        "spectral": lambda: SpectralClassifier(
            1, len(CLASSES), cfg.spectral_width, cfg.spectral_radius, cfg.spectral_depth
        ),
        "cnn": lambda: CNNClassifier(1, len(CLASSES), cfg.cnn_widths),
    }
    models: dict[str, nn.Module] = {}
    training: dict[str, dict[str, Any]] = {}
    for i, (name, build) in enumerate(builders.items()):
        torch.manual_seed(args.seed + 100 * (i + 1))  # each model's init independent of the other
        models[name] = build().to(device)
        training[name] = train_model(models[name], x_train, y_train, cfg, args.seed + i, name, progress)

    preds: dict[str, dict[tuple[int, int], Tensor]] = {name: {} for name in models}
    t_eval = time.perf_counter()
    for res in _progress(cfg.resolutions, progress, desc="evaluate"):
        x_test = render_coefficients(coeff_test, res).to(device)
        for name, model in models.items():
            preds[name][res] = predict(model, x_test)
    eval_seconds = time.perf_counter() - t_eval

    rows = []
    for res in cfg.resolutions:
        row: dict[str, Any] = {"resolution": res_name(*res), "height": res[0], "width": res[1]}
        for name in models:
            row[f"{name}_accuracy"] = int((preds[name][res] == y_test).sum()) / cfg.n_test
        for name in models:
            row[f"{name}_agreement"] = int((preds[name][res] == preds[name][cfg.train_resolution]).sum()) / cfg.n_test
        rows.append(row)

    train_name = res_name(*cfg.train_resolution)
    summary = summary_sentence(rows, train_name, len(CLASSES))
    results = {
        **env,
        "train_resolution": train_name,
        "quick": bool(args.quick),
        "flush_denormal": bool(flush_denormal),
        "config": {
            **asdict(cfg),
            "train_resolution": train_name,
            "resolutions": [res_name(*res) for res in cfg.resolutions],
        },
        "classes": list(CLASSES),
        "models": {name: {"architecture": repr_line(model), **training[name]} for name, model in models.items()},
        "eval_seconds": eval_seconds,
        "rows": rows,
        "summary": summary,
        "wall_seconds": time.perf_counter() - t0,
    }
    out = args.out
    write_json(out / "results.json", results)
    write_csv(out / "results.csv", rows)
    plot_results(rows, train_name, out / "accuracy_vs_resolution.png", len(CLASSES))

    print(
        f"Trained at {train_name} on {cfg.n_train} shapes ({cfg.epochs} epoch(s), seed {args.seed}, "
        f"{env['torch_threads']} threads, {env['device']}); "
        f"spectral {training['spectral']['parameters']:,} parameters in {training['spectral']['train_seconds']:.1f} s, "
        f"CNN {training['cnn']['parameters']:,} in {training['cnn']['train_seconds']:.1f} s; "
        f"tested on {cfg.n_test} shapes."
    )
    print(format_table(rows, train_name))
    print(summary)
    files = "results.json, results.csv, accuracy_vs_resolution.png"
    print(f"Wrote {files} to {out}/ (total {results['wall_seconds']:.1f} s)")
    return 0


def repr_line(model: nn.Module) -> str:
    """A one-line description of a demo model."""
    if isinstance(model, SpectralClassifier):
        spec = model.spectral[0]
        return f"SpectralClassifier(width={spec.in_channels}, modes={spec.modes!r}, depth={len(model.spectral)})"
    if isinstance(model, CNNClassifier):
        widths = [m.out_channels for m in model.body if isinstance(m, nn.Conv2d)]
        return f"CNNClassifier(widths={tuple(widths)})"
    return type(model).__name__
