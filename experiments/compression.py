"""Compression of the MNIST spectral classifier: accuracy across grids, checkpoint bytes and CPU latency.

Run from the repository root (phases can run separately; later ones read the
checkpoints earlier ones wrote, and a phase reuses a checkpoint that exists)::

    python -m experiments.compression --phase train   --threads 1  # dense, pruned90, lowrank (~20 min)
    python -m experiments.compression --phase eval    --threads 1  # quantize, save, size, accuracy at 7 grids
    python -m experiments.compression --phase latency --threads 1  # every model, one process, medians
    python -m experiments.compression --phase report               # CSV -> table + compression_mnist.png
    python -m experiments.compression --quick --phase all          # smoke run on a few images, seconds

Data: MNIST split (``spectral_sparse.data.SPLIT_NOTE``: first 8,000 images of the
official test set for training, last 2,000 for testing), trained at 28x28,
evaluated at 14, 20, 28, 42, 56, 84 and 112 (Fourier resampling). Model: the
classifier of ``docs/classification.md`` (width 32, radial modes of radius 8 ->
99 modes per layer, depth 4). Models:

* ``dense``: Adam, one-cycle, 8 epochs (the recipe of ``experiments.sparsity``);
* ``pruned90``: ``dense`` with 90% of its modes removed in one shot (energy,
  global), compacted, retrained 20 epochs on ``distillation_loss(dense, T=4,
  alpha=0.9)`` (the ``distill`` recipe of ``experiments.sparsity``);
* ``lowrank``: ``low_rank(dense, --rank)`` (Tucker factors by truncated HOSVD,
  :mod:`spectral_sparse.lowrank`; rank 8 of 32 channels by default), retrained
  ``--lowrank-epochs`` (20) epochs on the same distillation loss and schedule;
* ``<model>+int8`` / ``<model>+int4``: :func:`spectral_sparse.quantize.quantize_model`
  of a float model (spectral weights per mode; pointwise and linear weights in int8,
  per output channel), no retraining.

Bytes: the size of the file :func:`spectral_sparse.checkpoint.save_checkpoint`
writes (architecture, weights, metadata). Latency: the forward pass on a batch of
256 images at 28x28 (``--threads`` threads, default 1), all models timed
round-robin in one process (:mod:`benchmarks.timing`, medians after warm-up), and
its ratio to the dense model in the same loop. Writes
``benchmarks/results/compression/mnist/`` (``results.csv``, ``results.json``, ``accuracy.png``;
``--quick``: ``mnist_quick/``);
checkpoints go to ``--checkpoints`` (default ``benchmarks/checkpoints/compression``,
not committed).
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime
import json
import sys
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.timing import device_name, interleaved_times, median_ms
from spectral_sparse import quantize
from spectral_sparse.checkpoint import load_checkpoint, save_checkpoint
from spectral_sparse.data import SPLIT_NOTE, default_data_root, mnist_split
from spectral_sparse.lowrank import low_rank
from spectral_sparse.models import SpectralClassifier
from spectral_sparse.prune import distillation_loss, prune_modes
from spectral_sparse.training import evaluate_resolutions, train_classifier

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "results" / "compression" / "mnist"
MODEL = {"width": 32, "modes": 8.0, "depth": 4}
DENSE = {"epochs": 8, "batch_size": 64, "lr": 3e-3}
DISTILL = {"epochs": 20, "lr": 3e-3, "temperature": 4.0, "alpha": 0.9}
RESOLUTIONS = (14, 20, 28, 42, 56, 84, 112)
FLOAT_MODELS = ("dense", "pruned90", "lowrank")
#: (float model, bits) of the quantized models, in table order
QUANTIZED = (("dense", 8), ("dense", 4), ("pruned90", 8), ("pruned90", 4), ("lowrank", 8))
PHASES = ("train", "eval", "latency", "report")
#: the issue's goal: at most 1/20 of the dense checkpoint's bytes, within 1 point of dense at every grid from 20 up
GOAL_BYTES, GOAL_POINTS, GOAL_FROM = 1 / 20, 0.01, 20


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.compression`` (parsing only; ``main`` runs it)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--phase", choices=(*PHASES, "all"), default="all")
    p.add_argument("--rank", type=float, default=0.25, help="lowrank: rank as a fraction of the channels [0.25]")
    p.add_argument("--lowrank-epochs", type=int, default=20, help="lowrank: distillation fine-tuning epochs [20]")
    p.add_argument("--amount", type=float, default=0.9, help="pruned90: fraction of the modes removed [0.9]")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="a few hundred images, one epoch: a smoke run")
    p.add_argument("--checkpoints", type=Path, default=ROOT / "benchmarks" / "checkpoints" / "compression")
    p.add_argument("--results", type=Path, default=RESULTS, help="run folder: results.csv, results.json, accuracy.png")
    p.add_argument("--data-dir", type=Path, default=None)
    return p


def _data(args: argparse.Namespace) -> tuple[tuple, tuple]:
    root = args.data_dir or default_data_root()
    if root is None:
        raise SystemExit("no MNIST data: pass --data-dir or set SPECTRAL_SPARSE_DATA")
    (xtr, ytr), (xte, yte) = mnist_split(root)
    if args.quick:
        xtr, ytr, xte, yte = xtr[:512], ytr[:512], xte[:256], yte[:256]
    return (xtr, ytr), (xte, yte)


def _ckpt(args: argparse.Namespace, name: str) -> Path:
    return args.checkpoints / f"{name.replace('+', '_')}.pt"


def _kd(teacher: torch.nn.Module) -> Any:
    return distillation_loss(teacher, temperature=DISTILL["temperature"], alpha=DISTILL["alpha"])


def _train_dense(args: argparse.Namespace, train: tuple) -> dict[str, Any]:
    torch.manual_seed(args.seed)
    model = SpectralClassifier(1, 10, **MODEL)
    epochs = 1 if args.quick else DENSE["epochs"]
    h = train_classifier(
        model, *train, epochs=epochs, batch_size=DENSE["batch_size"], lr=DENSE["lr"], seed=args.seed, progress=False
    )
    info = {"recipe": f"Adam, one-cycle, {epochs} epochs", "train_seconds": round(h["train_seconds"], 1)}
    save_checkpoint(_ckpt(args, "dense"), model, **info)
    return info


def _distilled(
    args: argparse.Namespace, train: tuple, name: str, model: torch.nn.Module, teacher: torch.nn.Module, *,
    seed: int, epochs: int, recipe: str,
) -> dict[str, Any]:  # fmt: skip
    """Retrain ``model`` (made from ``teacher``) on distillation from it, save it as ``name``; its recipe."""
    epochs = 1 if args.quick else epochs
    h = train_classifier(
        model, *train, epochs=epochs, lr=DISTILL["lr"], batch_size=64, seed=seed, loss_fn=_kd(teacher),
        progress=False,
    )  # fmt: skip
    info = {"recipe": f"{recipe}, {epochs} epochs distillation", "train_seconds": round(h["train_seconds"], 1)}
    save_checkpoint(_ckpt(args, name), model, **info)
    return info


def _train_pruned(args: argparse.Namespace, train: tuple) -> dict[str, Any]:
    teacher = load_checkpoint(_ckpt(args, "dense"))[0].eval()
    model = copy.deepcopy(teacher)
    batches = [(train[0][i : i + 64], train[1][i : i + 64]) for i in range(0, 256, 64)]  # pruning scores
    prune_modes(model, args.amount, criterion="energy", scope="global", data=batches, loss_fn=F.cross_entropy)
    for layer in model.spectral:
        layer.compact()
    recipe = f"{args.amount:.0%} of modes removed (energy, global, one shot)"
    return _distilled(
        args, train, "pruned90", model, teacher, seed=args.seed + 1, epochs=DISTILL["epochs"], recipe=recipe
    )


def _train_lowrank(args: argparse.Namespace, train: tuple) -> dict[str, Any]:
    teacher = load_checkpoint(_ckpt(args, "dense"))[0].eval()
    model = low_rank(teacher, args.rank)
    recipe = f"low_rank(dense, {args.rank:g}) (HOSVD)"
    return _distilled(
        args, train, "lowrank", model, teacher, seed=args.seed + 2, epochs=args.lowrank_epochs, recipe=recipe
    )


def phase_train(args: argparse.Namespace, train: tuple) -> dict[str, dict[str, Any]]:
    """Train the float models whose checkpoints are missing; their recipes and training times."""
    out = {}
    for name, fn in (("dense", _train_dense), ("pruned90", _train_pruned), ("lowrank", _train_lowrank)):
        path = _ckpt(args, name)
        if path.exists():
            meta = load_checkpoint(path)[1]
            out[name] = {k: meta[k] for k in ("recipe", "train_seconds") if k in meta}
            print(f"[train] {name}: reusing {path}", flush=True)
            continue
        out[name] = fn(args, train)
        print(f"[train] {name}: {out[name]}", flush=True)
    return out


def _models(args: argparse.Namespace) -> dict[str, torch.nn.Module]:
    """Every model of the table by name: the float checkpoints and their quantized versions (saved too)."""
    models = {}
    for name in FLOAT_MODELS:
        if not _ckpt(args, name).exists():
            raise SystemExit(f"no checkpoint {_ckpt(args, name)}: run --phase train first")
        models[name] = load_checkpoint(_ckpt(args, name))[0].eval()
    for source, bits in QUANTIZED:
        name = f"{source}+int{bits}"
        q = quantize.quantize_model(models[source], bits=bits)
        save_checkpoint(_ckpt(args, name), q, source=source, bits=bits)
        models[name] = load_checkpoint(_ckpt(args, name))[0].eval()  # what a user loads back
    return models


def phase_eval(args: argparse.Namespace, test: tuple) -> list[dict[str, Any]]:
    """Checkpoint bytes, parameter counts and accuracy at every grid of each model."""
    models = _models(args)
    dense_bytes = _ckpt(args, "dense").stat().st_size
    rows = []
    for name, model in models.items():
        nbytes = _ckpt(args, name).stat().st_size
        accs = evaluate_resolutions(model, *test, list(RESOLUTIONS))
        rows.append({
            "model": name,
            "modes": sum(len(layer.modes) for layer in model.spectral),
            # real numbers of the weights (complex counted twice; the frozen float twins of quantized weights too)
            "values": sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters()),
            "checkpoint_bytes": nbytes,
            "bytes_ratio": round(nbytes / dense_bytes, 4),
            **{f"acc_{r['resolution']}": round(r["accuracy"], 4) for r in accs},
        })  # fmt: skip
        print(rows[-1], flush=True)
    return score(rows)


def score(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Add ``max_drop_from_20`` (largest accuracy loss against ``rows[0]``, the dense model, at grids >= 20)
    and ``goal_met`` (at most 1/20 of its bytes and at most 1 point below it at every such grid)."""
    dense = rows[0]
    for row in rows:
        gaps = [float(dense[f"acc_{r}"]) - float(row[f"acc_{r}"]) for r in RESOLUTIONS if r >= GOAL_FROM]
        row["max_drop_from_20"] = round(max(gaps), 4)
        row["goal_met"] = bool(float(row["bytes_ratio"]) <= GOAL_BYTES and max(gaps) <= GOAL_POINTS + 1e-9)
    return rows


def phase_latency(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    """Forward latency of every model on 256 images at 28x28, round-robin in one process, and ratio to dense."""
    models = _models(args)
    x = torch.randn(256, 1, 28, 28, generator=torch.Generator().manual_seed(0))

    def fwd(m: torch.nn.Module) -> Any:
        def f() -> Any:
            with torch.inference_mode():
                return m(x)

        return f

    repeats = 3 if args.quick else 21
    times = interleaved_times({n: fwd(m) for n, m in models.items()}, repeats, 3, torch.device("cpu"))
    ms = {name: median_ms(ts) for name, ts in times.items()}
    return {n: {"latency_ms_b256": round(t, 2), "latency_ratio": round(t / ms["dense"], 3)} for n, t in ms.items()}


def _write(rows: list[dict[str, Any]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for row in rows for k in row))
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="") as f:
        w = csv.DictWriter(f, keys)
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open() as f:
        return list(csv.DictReader(f))


def table(path: Path) -> str:
    """The docs table (markdown) of a results CSV."""
    rows = _read(path)
    head = "| model | modes kept | weights | checkpoint | vs dense | " + " | ".join(f"{r}" for r in RESOLUTIONS)
    head += " | latency b256 (ms) | vs dense |"
    lines = [head, "|" + "---|" * (7 + len(RESOLUTIONS))]
    for row in rows:
        accs = " | ".join(f"{100 * float(row[f'acc_{r}']):.2f}" for r in RESOLUTIONS)
        kb = int(row["checkpoint_bytes"]) / 1024
        ratio = float(row["bytes_ratio"])
        lat = row.get("latency_ms_b256") or ""
        lines.append(
            f"| {row['model']} | {row['modes']} | {int(row['values']):,} | {kb:,.0f} KiB | "
            f"1/{1 / ratio:.1f} | {accs} | {lat} | {row.get('latency_ratio') or ''} |"
        )
    return "\n".join(lines)


def plot(path: Path, png: Path) -> None:
    """Accuracy against grid (left) and against checkpoint bytes at 28 (right), one marker per model."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _read(path)
    fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4))
    for row in rows:
        accs = [100 * float(row[f"acc_{r}"]) for r in RESOLUTIONS]
        a.plot(RESOLUTIONS, accs, marker="o", label=row["model"])
        b.scatter(int(row["checkpoint_bytes"]) / 1024, 100 * float(row["acc_28"]))
        b.annotate(row["model"], (int(row["checkpoint_bytes"]) / 1024, 100 * float(row["acc_28"])), fontsize=7)
    dense = rows[0]
    b.axvline(int(dense["checkpoint_bytes"]) / 1024 * GOAL_BYTES, ls="--", c="gray", lw=0.8)
    b.axhline(100 * (float(dense["acc_28"]) - GOAL_POINTS), ls="--", c="gray", lw=0.8)
    a.set(xscale="log", xlabel="test grid (trained at 28)", ylabel="test accuracy (%)", xticks=list(RESOLUTIONS))
    a.minorticks_off()
    a.set_xticklabels([str(r) for r in RESOLUTIONS])
    a.legend(fontsize=7)
    b.set(xscale="log", xlabel="checkpoint (KiB)", ylabel="accuracy at 28 (%)", title="dashed: 1/20 bytes, -1 point")
    fig.tight_layout()
    fig.savefig(png, dpi=120)
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.threads < 1:
        raise SystemExit(f"--threads must be a positive int, got {args.threads}")
    if not 0 < args.amount < 1:
        raise SystemExit(f"--amount must be in (0, 1), got {args.amount}")
    torch.set_num_threads(args.threads)
    if args.quick:
        args.checkpoints = args.checkpoints.with_name(args.checkpoints.name + "_quick")
        args.results = args.results.with_name(args.results.name + "_quick")
    phases = PHASES if args.phase == "all" else (args.phase,)
    args.out = args.results / "results.csv"
    meta_path = args.results / "results.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    if "train" in phases or "eval" in phases:
        train, test = _data(args)
    if "train" in phases:
        meta["models"] = phase_train(args, train)
    if "eval" in phases:
        rows = phase_eval(args, test)
        old = {r["model"]: r for r in _read(args.out)} if args.out.exists() else {}
        for row in rows:  # keep latencies measured before
            row.update({k: v for k, v in old.get(row["model"], {}).items() if k.startswith("latency")})
        _write(rows, args.out)
    if "latency" in phases:
        lat = phase_latency(args)
        rows = _read(args.out)
        for row in rows:
            row.update(lat.get(row["model"], {}))
        _write(rows, args.out)
    if "report" in phases:
        plot(args.out, args.results / "accuracy.png")
        print(table(args.out))
    if phases != ("report",):
        meta.update(
            command="python -m experiments.compression " + " ".join(sys.argv[1:] if argv is None else argv),
            split=SPLIT_NOTE,
            model=MODEL,
            resolutions=list(RESOLUTIONS),
            threads=args.threads,
            seed=args.seed,
            rank=args.rank,
            amount=args.amount,
            machine=f"{device_name(torch.device('cpu'))}, {torch.get_num_threads()} thread(s), "
            f"torch {torch.__version__}",
            date=datetime.date.today().isoformat(),
        )
        meta_path.parent.mkdir(parents=True, exist_ok=True)
        meta_path.write_text(json.dumps(meta, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
