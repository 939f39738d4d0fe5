"""``spectral-sparse evaluate``: accuracy of saved classifiers across test resolutions.

Each checkpoint (written by ``spectral-sparse train``) names its data set; the
test images of that set are resized to every ``--resolutions`` grid with
``--method`` and fed to the model directly (``raw``) and/or after resizing back
to the training grid (``resize-first``). ``--convert-cnn`` adds, for CNN
checkpoints, the spectral model :func:`~spectral_sparse.models.cnn_to_spectral`
builds from the CNN at its training grid (evaluated raw).
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..data.mnist import SPLIT_NOTE
from ..models import CNNClassifier, cnn_to_spectral
from ..training import EVAL_MODES, evaluate_resolutions
from ._common import CLIError, positive_int, prepare_run, save_figure, write_csv, write_json
from ._shared import load_model, test_set

HELP = "test saved classifiers at many resolutions (raw and/or resize-first); table, CSV, JSON and a plot"
DESCRIPTION = (
    "Evaluate one or more checkpoints written by 'spectral-sparse train' on their data set's test split resized "
    "to several grids. Writes results.json, results.csv and accuracy_vs_resolution.png (one line per model and "
    "mode) to --out. MNIST: " + SPLIT_NOTE + "."
)
DEFAULT_RESOLUTIONS = (14, 20, 28, 42, 56, 84, 112)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``evaluate``."""
    parser.add_argument("checkpoints", type=Path, nargs="+", metavar="CHECKPOINT", help="checkpoint.pt file(s)")
    parser.add_argument(
        "--resolutions",
        type=positive_int,
        nargs="+",
        default=list(DEFAULT_RESOLUTIONS),
        metavar="N",
        help=f"test grids [{' '.join(map(str, DEFAULT_RESOLUTIONS))}]",
    )
    parser.add_argument("--method", default="fourier", help="resize method for the test grids [fourier]")
    parser.add_argument(
        "--mode", choices=(*EVAL_MODES, "both"), default="both", help="raw, resize-first or both [both]"
    )
    parser.add_argument(
        "--convert-cnn",
        action="store_true",
        help="for CNN checkpoints also evaluate cnn_to_spectral(cnn, training grid), raw",
    )
    parser.add_argument("--n-test", type=positive_int, default=None, help="use only the first N test images")
    parser.add_argument("--batch-size", type=positive_int, default=250, help="samples per forward call [250]")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory with the MNIST files (default: the checkpoint's, else default_data_root())",
    )


def _label(path: Path, used: set[str]) -> str:
    name = path.parent.name if path.stem == "checkpoint" and path.parent.name else path.stem
    label, i = name or "model", 2
    while label in used:
        label, i = f"{name}-{i}", i + 1
    used.add(label)
    return label


#: The old name of :func:`~spectral_sparse.cli._shared.test_set`.
_test_set = test_set


def evaluate_models(
    models: Sequence[tuple[str, Any, int, str]],
    images: Any,
    labels: Any,
    resolutions: Sequence[int],
    *,
    method: str = "fourier",
    modes: Sequence[str] = EVAL_MODES,
    batch_size: int = 250,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """Long-format rows ``{model, kind, mode, method, resolution, accuracy, n}``, one per ``(label, model, res, kind)``.

    Converted CNNs (kind ``"cnn->spectral"``) are evaluated raw only: resizing
    first would give exactly the CNN's resize-first numbers at the training grid.
    """
    rows = []
    for label, model, train_res, kind in models:
        for mode in modes:
            if mode == "resize-first" and kind == "cnn->spectral":
                continue
            for row in evaluate_resolutions(
                model,
                images,
                labels,
                resolutions,
                method=method,
                mode=mode,  # type: ignore[arg-type]
                train_resolution=train_res,
                batch_size=batch_size,
                progress=progress,
            ):
                rows.append({"model": label, "kind": kind, "train_resolution": train_res, **row})
    return rows


def plot_accuracy(rows: Sequence[dict[str, Any]], path: Path, title: str, note: str = "") -> None:
    """Accuracy against test resolution (log axis), one line per (model, mode, method); ``note`` under the title."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    lines: dict[tuple[str, str, str], list[tuple[int, float]]] = {}
    train_res = set()
    for r in rows:
        if isinstance(r["resolution"], int):
            lines.setdefault((r["model"], r["mode"], r["method"]), []).append((r["resolution"], r["accuracy"]))
            train_res.add(r["train_resolution"])
    methods = {k[2] for k in lines}
    fig, ax = plt.subplots(figsize=(8, 5), constrained_layout=True)
    for (model, mode, method), pts in lines.items():
        pts.sort()
        ls = "-" if mode == "raw" else "--"
        label = f"{model} ({mode}{', ' + method if len(methods) > 1 else ''})"
        ax.plot(
            [p[0] for p in pts], [100 * p[1] for p in pts], ls=ls, marker="o" if mode == "raw" else "s", label=label
        )
    for t in sorted(train_res):
        ax.axvline(t, color="gray", ls=":", lw=1)
    xs = sorted({p[0] for pts in lines.values() for p in pts})
    ax.set_xscale("log")
    ax.set_xticks(xs, [str(x) for x in xs])
    ax.minorticks_off()
    ax.set_xlabel("test resolution (pixels per side); dotted: training grid")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 101)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower center")
    ax.set_title(title + (f"\n{note}" if note else ""), fontsize=9)
    save_figure(fig, path, dpi=120)
    plt.close(fig)


def format_rows(rows: Sequence[dict[str, Any]]) -> str:
    """A text table: one line per (model, mode, method), one column per resolution (accuracy in %)."""
    res = list(dict.fromkeys(r["resolution"] for r in rows))
    lines: dict[tuple[str, str, str], dict[Any, float]] = {}
    for r in rows:
        lines.setdefault((r["model"], r["mode"], r["method"]), {})[r["resolution"]] = r["accuracy"]
    head = f"{'model':<28} {'mode':<13} {'method':<9}" + "".join(f"{x!s:>8}" for x in res)
    out = [head, "-" * len(head)]
    for (model, mode, method), acc in lines.items():
        cells = "".join(f"{100 * acc[x]:8.2f}" if x in acc else f"{'':>8}" for x in res)
        out.append(f"{model[:28]:<28} {mode:<13} {method:<9}{cells}")
    return "\n".join(out)


def run(args: argparse.Namespace) -> int:
    """Evaluate the checkpoints; print a table; write results.json, results.csv, accuracy_vs_resolution.png."""
    t0 = time.perf_counter()
    env = prepare_run(args)
    modes = EVAL_MODES if args.mode == "both" else (args.mode,)
    used: set[str] = set()
    rows: list[dict[str, Any]] = []
    checkpoints = []
    notes = set()
    for path in args.checkpoints:
        model, meta = load_model(path, args.device)
        label = _label(path, used)
        train_res = int(meta.get("train_resolution", 28))
        kind = "cnn" if isinstance(model, CNNClassifier) else "spectral"
        entries = [(label, model, train_res, kind)]
        if args.convert_cnn and isinstance(model, CNNClassifier):
            try:
                converted = cnn_to_spectral(model, (train_res, train_res))
            except ValueError as err:
                raise CLIError(f"cannot convert {label}: {err}") from None
            entries.append((f"{label}->spectral", converted, train_res, "cnn->spectral"))
        x, y = test_set(meta, args)
        notes.add(str(meta.get("split", "")))
        try:
            rows += evaluate_models(
                entries,
                x,
                y,
                args.resolutions,
                method=args.method,
                modes=modes,
                batch_size=args.batch_size,
                progress=not args.no_progress,
            )
        except ValueError as err:
            raise CLIError(str(err)) from None
        checkpoints.append({"path": str(path), "label": label, **meta})
    out = args.out
    note = "; ".join(sorted(n for n in notes if n))
    results = {
        **env,
        "method": args.method,
        "resolutions": list(args.resolutions),
        "modes": list(modes),
        "split": note,
        "checkpoints": checkpoints,
        "rows": rows,
        "wall_seconds": time.perf_counter() - t0,
    }
    write_json(out / "results.json", results)
    write_csv(out / "results.csv", rows)
    plot_accuracy(rows, out / "accuracy_vs_resolution.png", f"Accuracy vs test resolution ({args.method} resize)", note)
    print(format_rows(rows))
    if note:
        print(note)
    print(f"Wrote results.json, results.csv and accuracy_vs_resolution.png to {out}/")
    return 0
