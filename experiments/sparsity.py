"""Sparsity in Fourier modes: accuracy, size and CPU latency of the MNIST spectral classifier.

Run from the repository root (phases can run separately; later ones read the
checkpoints the earlier ones wrote)::

    python -m experiments.sparsity --phase dense    --threads 1   # train the dense model (~5 min)
    python -m experiments.sparsity --phase prune    --threads 1   # magnitude pruning + fine-tuning (~6 min)
    python -m experiments.sparsity --phase bregman  --threads 1   # LinBreg / AdaBreg runs (~4 min each)
    python -m experiments.sparsity --phase distill  --threads 1   # one-shot pruning + distillation retraining
    python -m experiments.sparsity --phase distill --from-method distill --width-amount 0.5 --tag _2stage
    python -m experiments.sparsity --phase latency  --threads 1   # time every compacted model in one process
    python -m experiments.sparsity --phase report                 # CSV -> accuracy_latency.png next to it
    python -m experiments.sparsity --quick --phase all            # smoke run on a few images, seconds

Data: MNIST split (``spectral_sparse.data.SPLIT_NOTE``: first 8,000 images of
the official test set for training, last 2,000 for testing), at 28x28. Model:
the classifier of ``docs/classification.md`` (width 32, radial modes of radius
8 -> 99 modes per layer, depth 4). Methods, one row each per fraction of modes
removed (0, 50, 80, 90, 95, 98%):

* ``dense``: Adam, one-cycle, 8 epochs (the 0% row of every method);
* ``magnitude``: the dense model pruned step by step (50 -> 80 -> 90 -> 95 -> 98%
  of the original modes, global scope, magnitude criterion), each step compacted
  and fine-tuned for ``--fine-tune-epochs`` epochs;
* ``distill``: the dense model pruned in one shot (energy, global) to each fraction, then
  retrained 20 epochs against the dense model's soft predictions (``distillation_loss``);
  ``distill_w50*``: also half of the hidden channels removed (``prune_channels``), in the
  same shot or as a second stage after ``distill`` (``--from-method``);
* ``adabreg`` / ``linbreg``: linearized Bregman iterations with the mode-group
  L1-L2 regulariser and a controller that steers the mode sparsity to a target
  raised stage by stage (50 -> 80 -> 90 -> 95 -> 98%, ``--stage-epochs`` each);
  AdaBreg from scratch (sparse start), LinBreg from the dense checkpoint (see
  :func:`phase_bregman`); the model at the end of each stage is compacted.

Latency: every compacted model's forward pass on a batch of 256 (and of 1)
28x28 images, timed round-robin in one process (medians after warm-up,
:mod:`benchmarks.timing`), ratio against the dense model measured in that loop.
Writes ``benchmarks/results/sparsity/mnist/results.csv`` (``--out``; ``results.<phase>.json`` with
each phase's settings and ``accuracy_latency.png`` beside it; ``--validation`` writes the run folder
``validation/`` instead of ``mnist/``, ``--quick`` appends ``_quick`` to it) and the
checkpoints to ``--checkpoints`` (default ``benchmarks/checkpoints/sparsity``,
not committed).
"""

from __future__ import annotations

import argparse
import copy
import csv
import datetime
import json
import math
import platform
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from benchmarks.timing import device_name, interleaved_times, median_ms
from spectral_sparse.checkpoint import load_checkpoint, save_checkpoint
from spectral_sparse.data import SPLIT_NOTE, default_data_root, mnist_split
from spectral_sparse.models import SpectralClassifier
from spectral_sparse.prune import prune_modes, sparsity_report
from spectral_sparse.training import evaluate_resolutions, train_classifier

ROOT = Path(__file__).resolve().parents[1]

AMOUNTS = (0.5, 0.8, 0.9, 0.95, 0.98)
MODEL = {"width": 32, "modes": 8.0, "depth": 4}
DENSE = {"epochs": 8, "batch_size": 64, "lr": 3e-3}
EVAL_RESOLUTIONS = (14, 28, 56)
RESULTS = ROOT / "benchmarks" / "results"
#: Bregman runs: start (scratch: sparse init at the first target; dense: the dense checkpoint), lr, initial lam,
#: steps between lam updates of the sparsity controller
BREGMAN: dict[str, dict[str, Any]] = {
    "adabreg": {"start": "scratch", "lr": 1e-3, "lam": 0.1, "interval": 10},
    "linbreg": {"start": "dense", "lr": 0.01, "momentum": 0.9, "lam": 0.1, "interval": 10},
}
PHASES = ("dense", "prune", "bregman", "small", "distill", "latency", "report")
#: distillation retraining after one-shot pruning (Hinton et al. 2015's usual temperature and weight)
DISTILL = {"epochs": 20, "lr": 3e-3, "temperature": 4.0, "alpha": 0.9}


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.sparsity`` (parsing only; ``main`` runs it)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--phase", choices=(*PHASES, "all"), default="all")
    p.add_argument("--methods", nargs="+", default=["linbreg", "adabreg"], help="Bregman optimizers to run")
    p.add_argument("--amounts", type=float, nargs="+", default=list(AMOUNTS))
    p.add_argument("--fine-tune-epochs", type=int, default=2)
    p.add_argument("--fine-tune-lr", type=float, default=1e-3, help="peak one-cycle lr of each fine-tuning")
    p.add_argument("--tag", default="", help="suffix of the method name (to keep runs with other settings apart)")
    p.add_argument(
        "--criterion", choices=("magnitude", "energy", "taylor"), default="magnitude", help="pruning criterion"
    )
    p.add_argument("--stage-epochs", type=int, default=2, help="Bregman epochs per target sparsity")
    p.add_argument(
        "--width-amount", type=float, default=0.0, help="distill phase: fraction of hidden channels also pruned"
    )
    p.add_argument(
        "--from-method", default=None, help="distill phase: start from this method's checkpoints (a second stage)"
    )
    p.add_argument("--distill", action="store_true", help="bregman phase: train on distillation_loss(dense)")
    p.add_argument("--distill-epochs", type=int, default=DISTILL["epochs"], help="distill phase: retraining epochs")
    p.add_argument("--small-radii", type=float, nargs="+", default=[2.5, 1.5], help="radii of the small-dense baseline")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--validation",
        action="store_true",
        help="train on the first 7,000 training images, score on the last 1,000 (to compare recipes "
        "without the test set); writes the run folder validation/ (beside mnist/) and its own checkpoints",
    )
    p.add_argument("--quick", action="store_true", help="a few hundred images, one epoch: a smoke run")
    p.add_argument("--checkpoints", type=Path, default=ROOT / "benchmarks" / "checkpoints" / "sparsity")
    p.add_argument(
        "--out",
        type=Path,
        default=RESULTS / "sparsity" / "mnist" / "results.csv",
        help="CSV of the run (the figure and the JSON go beside it) [benchmarks/results/sparsity/mnist/results.csv]",
    )
    p.add_argument("--data-dir", type=Path, default=None)
    return p


def _data(args: argparse.Namespace) -> tuple[tuple, tuple]:
    root = args.data_dir or default_data_root()
    if root is None:
        raise SystemExit("no MNIST data: pass --data-dir or set SPECTRAL_SPARSE_DATA")
    (xtr, ytr), (xte, yte) = mnist_split(root)
    if args.validation:  # hold out the last 1,000 training images; the test images are not touched
        (xtr, ytr), (xte, yte) = (xtr[:7000], ytr[:7000]), (xtr[7000:], ytr[7000:])
    if args.quick:
        xtr, ytr, xte, yte = xtr[:512], ytr[:512], xte[:256], yte[:256]
    return (xtr, ytr), (xte, yte)


def _ckpt(args: argparse.Namespace, method: str, amount: float) -> Path:
    return args.checkpoints / f"{method}_{round(100 * amount):02d}.pt"


def _record(model: torch.nn.Module, test: tuple, method: str, target: float, extra: dict[str, Any]) -> dict[str, Any]:
    rep = sparsity_report(model, (28, 28), original=SpectralClassifier(1, 10, **MODEL))
    accs = {f"acc_{r['resolution']}": r["accuracy"] for r in evaluate_resolutions(model, *test, list(EVAL_RESOLUTIONS))}
    t = rep.totals
    return {
        "method": method,
        "target_removed": target,
        "modes_kept": t["modes_kept"],
        "modes_total": t["modes_total"],
        "removed": round(1 - t["modes_kept"] / t["modes_total"], 4),
        **accs,
        "parameters": t["parameters"],
        "spectral_parameters": t["spectral_parameters"],
        "spectral_mflops_per_sample": round(t["flops"] / 1e6, 3),
        **extra,
    }


def phase_dense(args: argparse.Namespace, train: tuple, test: tuple) -> list[dict[str, Any]]:
    torch.manual_seed(args.seed)
    model = SpectralClassifier(1, 10, **MODEL)
    epochs = 1 if args.quick else DENSE["epochs"]
    h = train_classifier(
        model, *train, epochs=epochs, batch_size=DENSE["batch_size"], lr=DENSE["lr"], seed=args.seed, progress=False
    )
    save_checkpoint(_ckpt(args, "dense", 0.0), model, method="dense", seed=args.seed, epochs=epochs)
    return [_record(model, test, "dense", 0.0, {"epochs": epochs, "train_seconds": round(h["train_seconds"], 1)})]


def phase_small(args: argparse.Namespace, train: tuple, test: tuple) -> list[dict[str, Any]]:
    """Baseline: the same architecture with a small radial mode set, trained densely from scratch (Adam)."""
    rows = []
    full = len(SpectralClassifier(1, 10, **MODEL).spectral[0].modes)
    for radius in args.small_radii:
        torch.manual_seed(args.seed)
        model = SpectralClassifier(1, 10, **{**MODEL, "modes": radius})
        epochs = 1 if args.quick else DENSE["epochs"]
        h = train_classifier(
            model, *train, epochs=epochs, batch_size=DENSE["batch_size"], lr=DENSE["lr"], seed=args.seed, progress=False
        )
        target = round(1 - len(model.spectral[0].modes) / full, 4)
        save_checkpoint(_ckpt(args, "small", target), model, method="small", radius=radius)
        extra = {"epochs": epochs, "train_seconds": round(h["train_seconds"], 1), "radius": radius}
        rows.append(_record(model, test, "small", target, extra))
        print(rows[-1], flush=True)
    return rows


def phase_prune(args: argparse.Namespace, train: tuple, test: tuple) -> list[dict[str, Any]]:
    model = load_checkpoint(_ckpt(args, "dense", 0.0))[0]
    rows, removed, seconds = [], 0.0, 0.0
    epochs = 1 if args.quick else args.fine_tune_epochs
    name = args.criterion + args.tag
    for step, target in enumerate(sorted(args.amounts)):
        # the fraction of the modes still kept that takes the model from `removed` to `target` of the original
        batches = [(train[0][i : i + 64], train[1][i : i + 64]) for i in range(0, 256, 64)]  # energy/taylor scores
        amount = 1 - (1 - target) / (1 - removed)
        prune_modes(model, amount, criterion=args.criterion, scope="global", data=batches, loss_fn=F.cross_entropy)
        removed = target
        h = train_classifier(
            model, *train, epochs=epochs, lr=args.fine_tune_lr, batch_size=64, seed=args.seed + step + 1, progress=False
        )
        seconds += h["train_seconds"]
        save_checkpoint(_ckpt(args, name, target), model, method=name, target=target)
        rows.append(
            _record(model, test, name, target, {"epochs": epochs * (step + 1), "train_seconds": round(seconds, 1)})
        )
        print(rows[-1], flush=True)
    return rows


def _kd_args() -> dict[str, float]:
    return {"temperature": DISTILL["temperature"], "alpha": DISTILL["alpha"]}


def phase_distill(args: argparse.Namespace, train: tuple, test: tuple) -> list[dict[str, Any]]:
    """One-shot pruning of the dense model to each amount, then retraining with distillation from it.

    Modes are pruned globally by ``energy``; with ``--width-amount w`` that
    fraction of the hidden channels is removed too (``prune_channels``,
    ``energy``), which shrinks the pointwise layers, GELUs and transforms that
    mode pruning leaves. The pruned model is retrained from its pruned weights
    for ``--distill-epochs`` epochs (Adam, one-cycle, peak 3e-3, as the dense
    model) on ``distillation_loss(dense, T=4, alpha=0.9)``. With ``--from-method M`` each
    target starts from ``M``'s checkpoint at that target instead of the dense model (e.g. a
    width-pruning stage after a mode-pruning stage); the teacher is still the dense model.
    """
    from spectral_sparse.prune import distillation_loss, prune_channels

    teacher = load_checkpoint(_ckpt(args, "dense", 0.0))[0].eval()
    name = "distill" + (f"_w{round(100 * args.width_amount)}" if args.width_amount else "") + args.tag
    epochs = 1 if args.quick else args.distill_epochs
    batches = [(train[0][i : i + 64], train[1][i : i + 64]) for i in range(0, 256, 64)]  # pruning scores
    rows = []
    total = sum(len(layer.modes) for layer in teacher.spectral)
    for target in sorted(args.amounts):
        if args.from_method:  # a second stage: start from that method's model at this target
            model, meta = load_checkpoint(_ckpt(args, args.from_method, target))
            done = int(meta.get("epochs", DENSE["epochs"]))
        else:
            model, done = copy.deepcopy(teacher), DENSE["epochs"]
        kept = sum(len(layer.modes) for layer in model.spectral)
        n_remove = kept - (total - math.ceil(target * total - 1e-9))  # remove at least `target` of the original
        if n_remove > 0:
            amount = n_remove / kept
            prune_modes(model, amount, criterion="energy", scope="global", data=batches, loss_fn=F.cross_entropy)
        if args.width_amount:
            prune_channels(model, args.width_amount, criterion="energy", data=batches)
        kd = distillation_loss(teacher, **_kd_args())
        h = train_classifier(
            model,
            *train,
            epochs=epochs,
            lr=DISTILL["lr"],
            batch_size=64,
            seed=args.seed + 1,
            loss_fn=kd,
            progress=False,
        )
        save_checkpoint(_ckpt(args, name, target), model, method=name, target=target, epochs=done + epochs)
        extra = {
            "epochs": done + epochs,
            "train_seconds": round(h["train_seconds"], 1),
            "width": model.config["width"],
        }
        rows.append(_record(model, test, name, target, extra))
        print(rows[-1], flush=True)
    return rows


def _compacted(model: torch.nn.Module) -> torch.nn.Module:
    out = copy.deepcopy(model)
    for layer in out.spectral:
        layer.compact()
    return out


def phase_bregman(args: argparse.Namespace, train: tuple, test: tuple) -> list[dict[str, Any]]:
    """One run per Bregman optimizer whose target sparsity steps through ``--amounts``, a stage each.

    ``adabreg`` trains from scratch (the paper's setting, with the start made
    sparse at the first target's density); ``linbreg``, an SGD-type method that
    does not train this architecture from scratch within the budget (measured:
    10% test accuracy after 2 epochs at lr 0.1, momentum 0.9), starts from the
    dense checkpoint. The model at the end of every stage is compacted,
    evaluated and saved; training continues from the uncompacted state (a
    Bregman iteration may switch modes back on).
    """
    from spectral_sparse import optim
    from spectral_sparse.prune import distillation_loss

    rows = []
    amounts = sorted(args.amounts)
    kd = None
    if args.distill:  # train on the dense model's soft predictions instead of the labels alone
        kd = distillation_loss(load_checkpoint(_ckpt(args, "dense", 0.0))[0].eval(), **_kd_args())
    stage_epochs = 1 if args.quick else args.stage_epochs
    for method in args.methods:
        cfg = BREGMAN[method]
        torch.manual_seed(args.seed)
        if cfg["start"] == "dense":
            model = load_checkpoint(_ckpt(args, "dense", 0.0))[0]
        else:
            model = SpectralClassifier(1, 10, **MODEL)
            optim.sparse_init(model, density=1 - amounts[0], seed=args.seed)
        opt = optim.make_optimizer(
            method, model, lr=cfg["lr"], lam=cfg["lam"], reg="mode", momentum=cfg.get("momentum", 0.0)
        )
        ctl = optim.SparsityController(
            opt, amounts[0], measure=lambda m=model: optim.mode_sparsity(m), interval=cfg["interval"]
        )
        seconds = 0.0
        for stage, target in enumerate(amounts):
            ctl.target = target
            h = train_classifier(
                model,
                *train,
                epochs=stage_epochs,
                batch_size=64,
                lr=cfg["lr"],
                schedule="constant",
                optimizer=opt,
                callback=lambda step, c=ctl: c.step(),
                seed=args.seed + stage + 1,
                progress=False,
                loss_fn=kd,
            )
            seconds += h["train_seconds"]
            small = _compacted(model)
            save_checkpoint(_ckpt(args, method + args.tag, target), small, method=method + args.tag, target=target)
            extra = {
                "epochs": stage_epochs * (stage + 1) + (DENSE["epochs"] if cfg["start"] == "dense" else 0),
                "train_seconds": round(seconds, 1),
                "final_lam": float(opt.param_groups[0]["lam"]),
                "start": cfg["start"],
            }
            rows.append(_record(small, test, method + args.tag, target, extra))
            print(rows[-1], flush=True)
    return rows


def phase_latency(args: argparse.Namespace) -> dict[str, dict[str, float]]:
    models = {p.stem: load_checkpoint(p)[0].eval() for p in sorted(args.checkpoints.glob("*.pt"))}
    if "dense_00" not in models:
        raise SystemExit(f"no dense checkpoint in {args.checkpoints}: run --phase dense first")
    out: dict[str, dict[str, float]] = {name: {} for name in models}
    for batch in (256, 1):
        x = torch.randn(batch, 1, 28, 28, generator=torch.Generator().manual_seed(0))

        def fwd(m: torch.nn.Module, x: torch.Tensor = x) -> Any:
            def f() -> Any:
                with torch.inference_mode():
                    return m(x)

            return f

        repeats = 5 if args.quick else (15 if batch > 1 else 100)
        times = interleaved_times({n: fwd(m) for n, m in models.items()}, repeats, 3, torch.device("cpu"))
        for name, ts in times.items():
            out[name][f"latency_ms_b{batch}"] = round(median_ms(ts), 3)
        for name in models:
            out[name][f"latency_ratio_b{batch}"] = round(
                out[name][f"latency_ms_b{batch}"] / out["dense_00"][f"latency_ms_b{batch}"], 3
            )
    return out


def _read_rows(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _write_rows(rows: list[dict[str, Any]], path: Path) -> None:
    keys: list[str] = []
    for r in rows:
        keys += [k for k in r if k not in keys]
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def _merge(path: Path, new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Replace the rows of the same (method, target) in the CSV, keep the others."""
    key = lambda r: (r["method"], float(r["target_removed"]))  # noqa: E731
    fresh = {key(r) for r in new}
    rows = [r for r in _read_rows(path) if key(r) not in fresh] + new
    rows.sort(key=lambda r: (r["method"] != "dense", r["method"], float(r["target_removed"])))
    _write_rows(rows, path)
    return rows


def table(path: Path) -> str:
    """The CSV as the markdown table of ``docs/sparsity.md``."""
    rows = _read_rows(path)
    head = (
        "| method | width | modes kept (of 396) | removed | acc 14 | acc 28 | acc 56 | parameters "
        "| spectral MFLOP / sample | latency b256 (ms) | vs dense | latency b1 (ms) | vs dense |"
    )
    lines = [head, "|" + "---|" * 13]
    for r in rows:
        name = r["method"] + (f" (r {float(r['radius']):g})" if r.get("radius") else "")
        lat = [r.get(k) or "" for k in ("latency_ms_b256", "latency_ratio_b256", "latency_ms_b1", "latency_ratio_b1")]
        lat = [f"{float(v):.{d}f}" if v else "" for v, d in zip(lat, (1, 2, 2, 2))]
        cells = [
            name,
            r.get("width") or "32",
            r["modes_kept"],
            f"{100 * float(r['removed']):.1f}%",
            *(f"{100 * float(r[f'acc_{k}']):.2f}" for k in EVAL_RESOLUTIONS),
            f"{int(r['parameters']):,}",
            f"{float(r['spectral_mflops_per_sample']):.2f}",
            *lat,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def plot(path: Path, png: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _read_rows(path)
    dense = [r for r in rows if r["method"] == "dense"]
    fig, axes = plt.subplots(1, 3, figsize=(16, 4.6))
    for method in dict.fromkeys(r["method"] for r in rows if r["method"] != "dense"):
        rs = dense + [r for r in rows if r["method"] == method]
        xs = [100 * float(r["removed"]) for r in rs]
        for ax in axes[:2]:
            ax.plot(xs, [100 * float(r["acc_28"]) for r in rs], "o-", label=method)
        if all(r.get("latency_ratio_b256") for r in rs):
            axes[2].plot(xs, [float(r["latency_ratio_b256"]) for r in rs], "o-", label=method)
    acc = 100 * float(dense[0]["acc_28"]) if dense else None
    axes[0].set(xlabel="spectral modes removed (%)", ylabel="test accuracy at 28x28 (%)", title="accuracy")
    axes[1].set(xlabel="spectral modes removed (%)", ylabel="test accuracy at 28x28 (%)", title="accuracy (zoom)")
    axes[1].set_ylim(93, 99.5)
    axes[1].set_xlim(75, 100)
    if acc is not None:
        axes[1].axhline(acc - 1, color="gray", ls="--", lw=1, label="goal: dense - 1 point")
    axes[2].axhline(1 / 3, color="gray", ls="--", lw=1, label="goal 1/3")
    axes[2].set(xlabel="spectral modes removed (%)", ylabel="latency / dense (batch 256)", title="CPU latency")
    for ax in axes:
        ax.grid(alpha=0.3)
    axes[1].legend(fontsize=7, loc="lower left")
    axes[2].legend(fontsize=7, loc="upper right")
    fig.suptitle("MNIST split, spectral classifier (dense: width 32, 99 modes/layer): benchmarks/sparsity.py, seed 0")
    fig.tight_layout()
    png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(png, dpi=120)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.validation:
        args.checkpoints = args.checkpoints.with_name(args.checkpoints.name + "_validation")
        args.out = args.out.parent.with_name("validation") / args.out.name
    if args.quick:
        args.checkpoints = args.checkpoints.with_name(args.checkpoints.name + "_quick")
        args.out = args.out.parent.with_name(args.out.parent.name + "_quick") / args.out.name
    args.checkpoints.mkdir(parents=True, exist_ok=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    phases = PHASES if args.phase == "all" else (args.phase,)
    meta = {
        "split": SPLIT_NOTE,
        "model": MODEL,
        "dense": DENSE,
        "distill": {**DISTILL, "epochs": args.distill_epochs, "width_amount": args.width_amount},
        "seed": args.seed,
        "threads": args.threads,
        "device": device_name(torch.device("cpu")),
        "torch": torch.__version__,
        "machine": platform.machine(),
        "date": datetime.date.today().isoformat(),
        "quick": args.quick,
    }
    t0 = time.perf_counter()
    if any(p in phases for p in ("dense", "prune", "bregman", "small", "distill")):
        train, test = _data(args)
    for phase in phases:
        print(f"== {phase}", flush=True)
        if phase == "dense":
            _merge(args.out, phase_dense(args, train, test))
        elif phase == "prune":
            _merge(args.out, phase_prune(args, train, test))
        elif phase == "bregman":
            _merge(args.out, phase_bregman(args, train, test))
        elif phase == "small":
            _merge(args.out, phase_small(args, train, test))
        elif phase == "distill":
            _merge(args.out, phase_distill(args, train, test))
        elif phase == "latency":
            lat = phase_latency(args)
            rows = _read_rows(args.out)
            for r in rows:
                name = _ckpt(args, r["method"], float(r["target_removed"])).stem
                r.update(lat.get(name, {}))
            _write_rows(rows, args.out)
        elif phase == "report":
            plot(args.out, args.out.with_name("accuracy_latency.png"))
            print(table(args.out))
    meta["seconds"] = round(time.perf_counter() - t0, 1)
    with open(args.out.with_suffix(f".{args.phase}.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
