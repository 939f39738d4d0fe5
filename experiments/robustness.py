"""Robustness across resolutions on the MNIST split: attacks crafted at one grid, evaluated at another; corruptions.

Run from the repository root::

    python -m experiments.robustness --seed 0 --threads 1            # reduced protocol, ~1 h on one busy CPU core
    python -m experiments.robustness --quick                          # smoke run, a minute

Data: ``spectral_sparse.data.SPLIT_NOTE`` (first 8,000 images of the official
MNIST test set for training, the last 2,000 for testing; the first
``--n-test`` of those are attacked).

Models (all trained here at 28x28 unless stated):

* ``dense``: ``SpectralClassifier(1, 10, width, modes=radius, depth)``;
* ``pruned90``: ``dense`` with 90% of its modes removed (``spectral_sparse.prune.prune_modes``,
  ``--prune-criterion`` magnitude or energy, global), fine-tuned ``--prune-epochs`` epochs;
* ``cnn``: ``CNNClassifier(1, 10, widths=(32, 64, 96))``, fed every grid directly;
* ``cnn-resize``: the same CNN behind a differentiable Fourier resize to 28x28 (the resize-first baseline);
* ``dense-adv``: ``dense`` fine-tuned with multi-resolution PGD adversarial training
  (``spectral_sparse.attacks.adversarial_train``, a grid from ``--adv-resolutions`` per batch);
* ``pruned90-adv``: ``dense-adv`` pruned the same way, then ``--prune-epochs`` (or ``--prune-adv-epochs``)
  epochs of adversarial training; with ``--prune-stages 0.5 0.75 0.9`` gradually (one adversarial
  epoch after each stage before the last).
* ``bregman90`` / ``bregman90-adv``: ``dense`` / ``dense-adv`` trained ``--bregman-epochs`` epochs with
  ``LinBreg`` (momentum 0.9, ``--bregman-lr``, mode-group regularizer, ``lam`` steered by a
  ``SparsityController`` to 90% of the modes at zero; clean / the same adversarial training), then compacted.

With ``--distill`` the pruned models are retrained on ``spectral_sparse.prune.distillation_loss``
(T = 4, alpha = 0.9) from the model they were pruned from (``dense`` / ``dense-adv``, evaluated on the
same, adversarial, batch) instead of the labels alone; their cache keys get ``-distill``.

Attacks: PGD L-inf (``--eps``, ``--steps``, alpha = 2.5 eps / steps, random start, seed) and FourierPGD
(function-space L2 budget ``--fourier-eps`` on the modes of radius ``--fourier-modes``); crafted at each
source grid and moved to each target grid with the exact Fourier method (clamped to [0, 1]). Corruptions:
the nine of ``spectral_sparse.attacks.corruptions`` at five severities, at 28x28.

Writes ``matrix.csv``, ``corruptions.csv`` and ``mnist.json`` into the run folder
``benchmarks/results/robustness/<run>/``, ``<run>`` being ``--suffix`` without its leading ``_``
(``--suffix _w32`` -> ``robustness/w32/``; no suffix -> ``robustness/default/``; ``--quick`` ->
``robustness/quick/``), then redraws the combined figures ``matrix.png`` and ``corruptions.png`` in
``benchmarks/results/robustness/combined/`` (``python -m benchmarks figure robustness_matrix`` copies
them into docs/img) from the CSVs of every run whose suffix contains ``_w32`` (the main protocol),
and ``matrix_w16.png`` / ``corruptions_w16.png`` from the others (the reduced protocol); not for
``--quick``. With ``--results DIR`` the run folder is ``DIR/<run>/`` instead (same file names), for
runs kept out of the combined figures (e.g. ``benchmarks/results/robustness_compressed/``), which
are then not redrawn.
Trained models are cached in ``--cache`` so an interrupted run resumes.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import torch

from spectral_sparse.attacks import (
    PGD,
    FourierPGD,
    adversarial_train,
    evaluate_corruptions,
    robustness_matrix,
)
from spectral_sparse.cli.robustness import format_matrix, plot_matrices
from spectral_sparse.data import SPLIT_NOTE, mnist_split, resize
from spectral_sparse.models import CNNClassifier, SpectralClassifier, count_parameters
from spectral_sparse.prune import distillation_loss
from spectral_sparse.training import train_classifier

ROOT = Path(__file__).resolve().parents[1]

RESULTS = ROOT / "benchmarks" / "results" / "robustness"


def run_name(suffix: str) -> str:
    """The run folder of ``--suffix``: without its leading ``_``; ``default`` for no suffix."""
    return (suffix[1:] if suffix.startswith("_") else suffix) or "default"


def n_modes(model: torch.nn.Module) -> int:
    """Modes kept in all spectral layers of a ``SpectralClassifier``."""
    return sum(len(layer.modes) for layer in model.spectral)


def prune_to(
    model: torch.nn.Module, criterion: str = "magnitude", data: Any = None, target: float = 0.9, total: int = 0
) -> dict[str, Any]:
    """Prune in place (global, ``spectral_sparse.prune.prune_modes``) until ``target`` of ``total`` modes are gone.

    ``total`` is the number of modes of the unpruned model (0: the model's current count), so a
    stage of gradual pruning can name the cumulative fraction removed.
    """
    from spectral_sparse.prune import prune_modes

    kept = n_modes(model)
    total = total or kept
    amount = 1.0 - (1.0 - target) * total / kept  # of the modes kept now
    info = prune_modes(model, amount, criterion=criterion, scope="global", data=data)
    return {k: info[k] for k in ("modes_before", "modes_after", "removed")}


class ResizeFirst(torch.nn.Module):
    """``model(resize(x, grid))``: a fixed-grid model fed at any grid (differentiable, exact Fourier resize)."""

    def __init__(self, model: torch.nn.Module, grid: int = 28) -> None:
        super().__init__()
        self.model, self.grid = model, grid

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(resize(x, self.grid))


def cached(cache: Path, name: str, build: Any) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Load ``name`` from the cache or build it with ``build() -> (model, info)`` and store it."""
    path = cache / f"{name}.pt"
    if path.is_file():
        blob = torch.load(path, weights_only=False)
        print(f"[cache] {name} from {path}", flush=True)
        return blob["model"], blob["info"]
    t = time.perf_counter()
    model, info = build()
    info["seconds"] = time.perf_counter() - t
    cache.mkdir(parents=True, exist_ok=True)
    torch.save({"model": model, "info": info}, path)
    print(f"[train] {name}: {info}", flush=True)
    return model, info


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.robustness`` (parsing only; ``main`` runs it)."""
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--width", type=int, default=16)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--modes", type=float, default=8.0)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--adv-epochs", type=int, default=3)
    p.add_argument("--adv-lr", type=float, default=3e-3)
    p.add_argument("--prune-epochs", type=int, default=2, help="fine-tuning epochs after pruning")
    p.add_argument("--prune-lr", type=float, default=3e-3)
    p.add_argument(
        "--prune-criterion",
        choices=("magnitude", "energy"),
        default="magnitude",
        help="mode criterion of the 90%% pruning (energy: the data-aware one, see docs/sparsity.md)",
    )
    p.add_argument(
        "--distill",
        action="store_true",
        help="retrain pruned models with distillation_loss (T=4, alpha=0.9) from the model they were pruned from",
    )
    p.add_argument("--bregman-epochs", type=int, default=8, help="LinBreg epochs of the bregman90 models")
    p.add_argument("--bregman-lr", type=float, default=0.01)
    p.add_argument("--prune-adv-epochs", type=int, default=None, help="adversarial epochs after pruning")
    p.add_argument(
        "--prune-stages",
        type=float,
        nargs="+",
        default=[0.9],
        help="pruned90-adv: cumulative fractions of the modes removed, one adversarial epoch after each "
        "stage but the last (gradual pruning; must end at 0.9)",
    )
    p.add_argument("--tag", default="", help="appended to the model names in the results")
    p.add_argument("--adv-steps", type=int, default=5)
    p.add_argument("--adv-resolutions", type=int, nargs="+", default=[14, 28, 56])
    p.add_argument("--clean-weight", type=float, default=0.25)
    p.add_argument("--n-test", type=int, default=200)
    p.add_argument("--n-corrupt", type=int, default=1000)
    p.add_argument("--eps", type=float, default=0.1)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--fourier-eps", type=float, default=0.1)
    p.add_argument("--fourier-modes", type=float, default=6.0)
    p.add_argument("--resolutions", type=int, nargs="+", default=[14, 28, 56, 112])
    p.add_argument("--batch-size", type=int, default=25)
    p.add_argument("--models", nargs="+", default=["dense", "pruned90", "cnn", "dense-adv", "pruned90-adv"])
    p.add_argument("--cache", type=Path, default=Path("/tmp/spectral_sparse_robustness_cache"))
    p.add_argument(
        "--suffix",
        default="",
        help="names the run: its folder benchmarks/results/robustness/<suffix without the leading _> "
        "(default: robustness/default/; with --results DIR: DIR/<suffix without the leading _>/)",
    )
    p.add_argument(
        "--results",
        type=Path,
        default=None,
        help="results root instead of benchmarks/results/robustness: the run folder is DIR/<run>/ (the combined "
        "figures are then not redrawn); --report reads this folder",
    )
    p.add_argument("--rank", type=float, default=0.5, help="lowrank models: rank as a fraction of the channels [0.5]")
    p.add_argument(
        "--compress-adv-epochs",
        type=int,
        default=1,
        help="lowrank-adv: adversarial fine-tuning epochs after the truncation (same attack and settings) [1]",
    )
    p.add_argument(
        "--quick", action="store_true", help="tiny smoke run (results go to benchmarks/results/robustness/quick/)"
    )
    p.add_argument(
        "--replot",
        action="store_true",
        help="only redraw the combined figures {matrix,corruptions}{,_w16}.png in "
        "benchmarks/results/robustness/combined/",
    )
    p.add_argument(
        "--report",
        nargs="+",
        metavar="MODEL",
        help="only print markdown tables (summary, and each model minus the first under each attack) from the CSVs",
    )
    return p


def main(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if args.report:
        report(args.report, args.results or RESULTS)
        return 0
    stages = args.prune_stages
    if stages[-1] != 0.9 or any(not 0 <= a < b for a, b in zip([0.0, *stages], stages)):
        p.error(f"--prune-stages must increase from above 0 and end at 0.9, got {stages}")
    if args.replot:
        replot()
        return 0
    if args.quick:
        args.width, args.depth, args.epochs, args.adv_epochs, args.n_test, args.n_corrupt = 8, 2, 1, 1, 20, 50
        args.resolutions, args.adv_resolutions, args.steps = [14, 28], [14, 28], 3
        args.suffix, args.cache = "_quick", args.cache.with_name(args.cache.name + "_quick")
    torch.set_num_threads(args.threads)
    t0 = time.perf_counter()
    (x, y), (xt, yt) = mnist_split()
    if args.quick:
        x, y = x[:500], y[:500]
    xa, ya = xt[: args.n_test], yt[: args.n_test]
    xc, yc = xt[: args.n_corrupt], yt[: args.n_corrupt]
    pgd_kw = {"alpha": 2.5 * args.eps / args.adv_steps, "steps": args.adv_steps}

    def train_dense() -> tuple[torch.nn.Module, dict[str, Any]]:
        torch.manual_seed(args.seed + 100)
        m = SpectralClassifier(1, 10, width=args.width, modes=args.modes, depth=args.depth)
        h = train_classifier(m, x, y, epochs=args.epochs, seed=args.seed, progress=False)
        return m, {"train_seconds": h["train_seconds"], "parameters": h["parameters"]}

    def train_cnn() -> tuple[torch.nn.Module, dict[str, Any]]:
        torch.manual_seed(args.seed + 200)
        m = CNNClassifier(1, 10, widths=(32, 64, 96))
        h = train_classifier(m, x, y, epochs=args.epochs, seed=args.seed, progress=False)
        return m, {"train_seconds": h["train_seconds"], "parameters": h["parameters"]}

    def adv(
        m: torch.nn.Module, epochs: int, seed: int, lr: float, teacher: Any = None, sparse: Any = None
    ) -> dict[str, Any]:
        opt, ctl = sparse if sparse is not None else (None, None)
        h = adversarial_train(
            m,
            x,
            y,
            lambda mm: PGD(mm, args.eps, **pgd_kw),
            resolutions=args.adv_resolutions,
            epochs=epochs,
            lr=lr,
            clean_weight=args.clean_weight,
            seed=seed,
            progress=False,
            loss_fn=None if teacher is None else distillation_loss(teacher),
            optimizer=opt,
            callback=None if ctl is None else (lambda step: ctl.step()),
        )
        return {"adv_seconds": h["train_seconds"], "adv_loss": h["loss"], "adv_accuracy": h["adv_accuracy"]}

    score_batches = [(x[i : i + 64], y[i : i + 64]) for i in range(0, 256, 64)]  # for the energy criterion

    def build_pruned() -> tuple[torch.nn.Module, dict[str, Any]]:
        m = copy.deepcopy(models["dense"][0])
        info = prune_to(m, args.prune_criterion, score_batches)
        kd = distillation_loss(models["dense"][0]) if args.distill else None
        h = train_classifier(
            m, x, y, epochs=args.prune_epochs, lr=args.prune_lr, seed=args.seed + 1, loss_fn=kd, progress=False
        )
        return m, {**info, "finetune_seconds": h["train_seconds"], "parameters": count_parameters(m)}

    def build_dense_adv() -> tuple[torch.nn.Module, dict[str, Any]]:
        m = copy.deepcopy(models["dense"][0])
        return m, adv(m, args.adv_epochs, args.seed + 2, args.adv_lr)

    def build_pruned_adv() -> tuple[torch.nn.Module, dict[str, Any]]:
        m = copy.deepcopy(models["dense-adv"][0])
        total = n_modes(m)
        teacher = models["dense-adv"][0] if args.distill else None
        stages = []
        for i, target in enumerate(args.prune_stages[:-1]):  # gradual: prune, one adversarial epoch, repeat
            info = prune_to(m, args.prune_criterion, score_batches, target, total)
            stages.append({**info, **adv(m, 1, args.seed + 10 + i, args.prune_lr, teacher)})
        info = prune_to(m, args.prune_criterion, score_batches, args.prune_stages[-1], total)
        info.update(modes_before=total, removed=total - info["modes_after"])
        epochs = args.prune_adv_epochs or args.prune_epochs
        info.update(adv(m, epochs, args.seed + 3, args.prune_lr, teacher), parameters=count_parameters(m))
        return m, {**info, **({"stages": stages} if stages else {})}

    def linbreg(m: torch.nn.Module) -> tuple[Any, Any]:
        """LinBreg on ``m`` (mode groups) with a controller steering 90% of the modes to zero."""
        from spectral_sparse import optim

        opt = optim.make_optimizer("linbreg", m, lr=args.bregman_lr, lam=0.1, reg="mode", momentum=0.9)
        return opt, optim.SparsityController(opt, 0.9, measure=lambda: optim.mode_sparsity(m), interval=10)

    def compacted(m: torch.nn.Module) -> dict[str, Any]:
        for layer in m.spectral:
            layer.compact()
        return {"modes_after": n_modes(m)}

    def build_bregman() -> tuple[torch.nn.Module, dict[str, Any]]:
        m = copy.deepcopy(models["dense"][0])
        total = n_modes(m)
        opt, ctl = linbreg(m)
        kd = distillation_loss(models["dense"][0]) if args.distill else None
        h = train_classifier(
            m, x, y, epochs=args.bregman_epochs, optimizer=opt, schedule="constant", lr=args.bregman_lr,
            callback=lambda step: ctl.step(), loss_fn=kd, seed=args.seed + 4, progress=False,
        )  # fmt: skip
        info = {"modes_before": total, **compacted(m), "train_seconds": h["train_seconds"]}
        return m, {**info, "removed_fraction": 1 - info["modes_after"] / total, "parameters": count_parameters(m)}

    def build_bregman_adv() -> tuple[torch.nn.Module, dict[str, Any]]:
        m = copy.deepcopy(models["dense-adv"][0])
        total = n_modes(m)
        teacher = models["dense-adv"][0] if args.distill else None
        info = adv(m, args.bregman_epochs, args.seed + 5, args.bregman_lr, teacher, linbreg(m))
        info.update(modes_before=total, **compacted(m))
        return m, {**info, "removed_fraction": 1 - info["modes_after"] / total, "parameters": count_parameters(m)}

    def quantized(source: str, bits: int) -> Any:
        def build() -> tuple[torch.nn.Module, dict[str, Any]]:
            from spectral_sparse import quantize

            m = quantize.quantize_model(copy.deepcopy(models[source][0]), bits=bits)
            return m, {"source": source, "bits": bits, "parameters": count_parameters(m)}

        return build

    def build_lowrank_adv() -> tuple[torch.nn.Module, dict[str, Any]]:
        from spectral_sparse.lowrank import low_rank

        m = low_rank(models["dense-adv"][0], args.rank)
        teacher = models["dense-adv"][0] if args.distill else None
        info = {"rank": args.rank, "parameters_truncated": count_parameters(m)}
        if args.compress_adv_epochs:
            info.update(adv(m, args.compress_adv_epochs, args.seed + 6, args.prune_lr, teacher))
        return m, {**info, "parameters": count_parameters(m)}

    builders = {
        "int8-adv": quantized("dense-adv", 8),
        "int4-adv": quantized("dense-adv", 4),
        "lowrank-adv": build_lowrank_adv,
        "lowrank-int8-adv": quantized("lowrank-adv", 8),
        "pruned90-int8-adv": quantized("pruned90-adv", 8),
        "dense": train_dense,
        "cnn": train_cnn,
        "pruned90": build_pruned,
        "dense-adv": build_dense_adv,
        "pruned90-adv": build_pruned_adv,
        "bregman90": build_bregman,
        "bregman90-adv": build_bregman_adv,
        "cnn-resize": lambda: (ResizeFirst(models["cnn"][0]), {"note": "cnn fed resize(x, 28), Fourier"}),
    }
    models: dict[str, tuple[torch.nn.Module, dict[str, Any]]] = {}
    order = ["dense", "cnn", "pruned90", "bregman90", "dense-adv", "pruned90-adv", "bregman90-adv", "cnn-resize"]
    order += ["int8-adv", "int4-adv", "lowrank-adv", "lowrank-int8-adv", "pruned90-int8-adv"]
    needed = set(args.models) | ({"dense"} if set(args.models) - {"cnn", "cnn-resize"} else set())
    needed |= {"cnn"} if "cnn-resize" in args.models else set()
    needed |= {"lowrank-adv"} if "lowrank-int8-adv" in args.models else set()
    needed |= {"pruned90-adv"} if "pruned90-int8-adv" in args.models else set()
    from_adv = {"pruned90-adv", "bregman90-adv", "lowrank-adv", "int8-adv", "int4-adv"}
    needed |= {"dense-adv"} if from_adv & needed else set()
    for name in order:
        if name in needed:
            key = (
                name
                if "pruned" not in name or args.prune_criterion == "magnitude"
                else f"{name}-{args.prune_criterion}"
            )
            key += "-distill" if args.distill and ("pruned" in name or "bregman" in name) else ""
            if name == "pruned90-adv" and len(args.prune_stages) > 1:
                key += "-stages" + "-".join(f"{a:g}" for a in args.prune_stages)
            if "lowrank" in name:
                key += f"-r{args.rank:g}-e{args.compress_adv_epochs}"
            models[name] = cached(args.cache, key, builders[name])
            models[name][0].eval()

    matrix_rows, corruption_rows, summary = [], [], {}
    for name in args.models:
        model = models[name][0]
        attacks = {
            "PGD": PGD(model, args.eps, steps=args.steps, seed=args.seed),
            "FourierPGD": FourierPGD(
                model, args.fourier_eps, steps=args.steps, modes=args.fourier_modes, seed=args.seed
            ),
        }
        for aname, attack in attacks.items():
            t = time.perf_counter()
            res = robustness_matrix(model, xa, ya, attack, args.resolutions, batch_size=args.batch_size)
            secs = time.perf_counter() - t
            print(f"\n{name} / {aname} ({secs:.0f} s)\n{format_matrix(res)}", flush=True)
            clean = {r["resolution"]: r["accuracy"] for r in res["clean"]}
            for r in res["rows"]:
                matrix_rows.append({"model": name + args.tag, "attack": aname, **r})
            summary[f"{name}{args.tag}/{aname}"] = {
                "min_robust": float(res["matrix"].min()),
                "min_clean": min(clean.values()),
                "seconds": secs,
            }
        t = time.perf_counter()
        for r in evaluate_corruptions(model, xc, yc, seed=args.seed, batch_size=250):
            corruption_rows.append({"model": name + args.tag, **r})
        print(f"{name}: corruptions in {time.perf_counter() - t:.0f} s", flush=True)

    results = (RESULTS if args.results is None else args.results) / run_name(args.suffix)  # the run folder
    names = {"matrix": "matrix.csv", "corruptions": "corruptions.csv", "mnist": "mnist.json"}
    results.mkdir(parents=True, exist_ok=True)
    with (results / names["matrix"]).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(matrix_rows[0]))
        w.writeheader()
        w.writerows(matrix_rows)
    with (results / names["corruptions"]).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(corruption_rows[0]))
        w.writeheader()
        w.writerows(corruption_rows)
    facts = {
        "command": "python -m experiments.robustness " + " ".join(argv if argv is not None else sys.argv[1:]),
        "split": SPLIT_NOTE,
        "settings": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "models": {k: v[1] for k, v in models.items()},
        "summary": summary,
        "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
        "cpu_count": torch.get_num_threads(),
        "torch_version": torch.__version__,
        "wall_seconds": time.perf_counter() - t0,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }
    (results / names["mnist"]).write_text(json.dumps(facts, indent=2) + "\n")
    print(f"wrote {results}/{{{','.join(names.values())}}}")
    if not args.quick and args.results is None:
        replot()  # the combined figures, from every run's CSVs
    print(json.dumps(summary, indent=2))
    print(f"done in {time.perf_counter() - t0:.0f} s")
    return 0


#: Panel order of the combined figures (tags such as ``-w32`` and ``-s1`` are ignored for the order).
MODEL_ORDER = (
    "dense",
    "pruned90",
    "pruned90-short",
    "bregman90",
    "cnn",
    "cnn-resize",
    "dense-adv",
    "pruned90-adv",
    "pruned90-adv-long",
    "pruned90-adv-gradual",
    "pruned90-energy",
    "pruned90-adv-energy",
    "pruned90-adv-distill",
    "bregman90-distill",
    "bregman90-adv",
    "bregman90-adv-distill",
)

#: Runs whose name (``_`` + the run folder's name, or the flat file's stem) holds this belong to the
#: main protocol (width 32); the others to the earlier reduced one (width 16, 100 attacked images),
#: whose figures end in ``_w16``.
MAIN_PROTOCOL = "_w32"

#: Folder of ``RESULTS`` that holds the combined figures, not a run.
COMBINED = "combined"


def _rank(model: str) -> tuple[int, str]:
    """Sort key: the place in ``MODEL_ORDER`` without the ``-w32`` and seed (``-s1``) tags, then the name."""
    base = re.sub(r"-s\d+$", "", model).replace("-w32", "")
    return (MODEL_ORDER.index(base) if base in MODEL_ORDER else len(MODEL_ORDER), model)


def _run_of(path: Path) -> str:
    """What names the run of a result CSV: ``_`` + its run folder (``w32/matrix.csv`` -> ``_w32``), or the
    stem of a flat file (``robustness_matrix_w32.csv``)."""
    return path.stem if path.stem.startswith("robustness_") else "_" + path.parent.name


def _csvs(kind: str, main: bool | None = None, root: Path | None = None) -> list[Path]:
    """Result CSVs of one kind (``matrix`` / ``corruptions``) in ``root``, not quick runs; ``main``: one protocol's.

    Both layouts are read: the run folders ``root/<run>/<kind>.csv`` and the flat files
    ``root/robustness_<kind>_<run>.csv`` (what ``--results DIR`` writes).
    """
    root = RESULTS if root is None else root
    paths = sorted(q for q in root.glob(f"*/{kind}.csv") if q.parent.name != COMBINED)
    paths += sorted(root.glob(f"robustness_{kind}_*.csv"))
    paths = [q for q in paths if not _run_of(q).endswith("_quick")]
    return paths if main is None else [q for q in paths if (MAIN_PROTOCOL in _run_of(q)) == main]


def _matrices(main: bool | None = None, root: Path | None = None) -> dict[tuple[str, str], list[dict[str, str]]]:
    """``{(model, attack): rows}`` from the matrix CSVs (``main``: only those of one protocol; None: all)."""
    matrix: dict[tuple[str, str], list[dict[str, str]]] = {}
    for path in _csvs("matrix", main, root):
        with path.open() as f:
            for r in csv.DictReader(f):
                matrix.setdefault((r["model"], r["attack"]), []).append(r)
    return matrix


def report(models: list[str], root: Path | None = None) -> None:
    """Markdown: per model and attack clean / robust min, mean, max (%), the cell-wise gap to ``models[0]``, and
    each model's corruption-suite accuracy (clean, mean over corruptions and severities, worst corruption)."""
    root = RESULTS if root is None else root
    matrix = _matrices(None, root)
    missing = [m for m in models if not any(k[0] == m for k in matrix)]
    if missing:
        raise SystemExit(f"no results for {missing} in {root}/*/matrix.csv or {root}/robustness_matrix_*.csv")
    print("| model | attack | n | clean (per grid) | robust min | robust mean | robust max | diagonal |")
    print("|---|---|---:|---|---:|---:|---:|---|")
    for model, attack in [(m, a) for m in models for a in ("PGD", "FourierPGD") if (m, a) in matrix]:
        rows = matrix[(model, attack)]
        rob = [100 * float(r["robust_accuracy"]) for r in rows]
        clean = [100 * float(r["clean_accuracy"]) for r in rows]
        diag = " / ".join(f"{100 * float(r['robust_accuracy']):.1f}" for r in rows if r["source"] == r["target"])
        print(
            f"| {model} | {attack} | {rows[0]['n']} | {min(clean):.1f}-{max(clean):.1f} | {min(rob):.1f} "
            f"| {sum(rob) / len(rob):.1f} | {max(rob):.1f} | {diag} |"
        )
    ref = models[0]
    for model in models[1:]:
        for attack in ("PGD", "FourierPGD"):
            a, b = matrix.get((model, attack)), matrix.get((ref, attack))
            if not a or not b:
                continue
            base = {(r["source"], r["target"]): float(r["robust_accuracy"]) for r in b}
            gaps = [100 * (float(r["robust_accuracy"]) - base[(r["source"], r["target"])]) for r in a]
            worst = 100 * (min(float(r["robust_accuracy"]) for r in a) - min(base.values()))
            print(
                f"\n{model} minus {ref}, {attack} (points): per cell {min(gaps):+.1f} .. {max(gaps):+.1f}, "
                f"mean {sum(gaps) / len(gaps):+.1f}, minimum of the matrix {worst:+.1f}"
            )
    corruptions: dict[str, list[dict[str, str]]] = {}
    for path in _csvs("corruptions", None, root):
        with path.open() as f:
            for r in csv.DictReader(f):
                corruptions.setdefault(r["model"], []).append(r)
    if any(m in corruptions for m in models):
        print("\n| model | clean | corrupted mean | worst corruption (mean over severities) |")
        print("|---|---:|---:|---|")
    for model in [m for m in models if m in corruptions]:
        rows = corruptions[model]
        clean = [100 * float(r["accuracy"]) for r in rows if r["corruption"] == "clean"]
        by_name: dict[str, list[float]] = {}
        for r in rows:
            if r["corruption"] != "clean":
                by_name.setdefault(r["corruption"], []).append(100 * float(r["accuracy"]))
        means = {k: sum(v) / len(v) for k, v in by_name.items()}
        allv = [a for v in by_name.values() for a in v]
        worst = min(means, key=means.get)  # type: ignore[arg-type]
        print(
            f"| {model} | {clean[0] if clean else float('nan'):.1f} | {sum(allv) / len(allv):.1f} "
            f"| {worst} {means[worst]:.1f} |"
        )


def replot() -> None:
    """Each protocol's combined figures from its CSVs: ``{matrix,corruptions}{,_w16}.png`` in ``RESULTS/combined``."""
    img = RESULTS / COMBINED
    img.mkdir(parents=True, exist_ok=True)
    title = "MNIST robust accuracy (%); rows: crafted at, columns: evaluated at"
    for main, fig in ((True, ""), (False, "_w16")):
        matrix = _matrices(main)
        panels = []
        for model in sorted({m for m, _ in matrix}, key=_rank):
            for attack in ("PGD", "FourierPGD"):
                rows = matrix.get((model, attack))
                if not rows:
                    continue
                sources = list(dict.fromkeys(int(r["source"]) for r in rows))
                targets = list(dict.fromkeys(int(r["target"]) for r in rows))
                m = torch.zeros(len(sources), len(targets), dtype=torch.float64)
                for r in rows:
                    m[sources.index(int(r["source"])), targets.index(int(r["target"]))] = float(r["robust_accuracy"])
                panels.append((f"{model} / {attack}", {"matrix": m, "sources": sources, "targets": targets}))
        plot_matrices(panels, img / f"matrix{fig}.png", title, ncols=2)
        corruptions: list[dict[str, Any]] = []
        for path in _csvs("corruptions", main):
            with path.open() as f:
                corruptions += [{**r, "accuracy": float(r["accuracy"])} for r in csv.DictReader(f)]
        corruptions.sort(key=lambda r: _rank(r["model"]))  # stable: the models in panel order
        plot_corruptions(corruptions, img / f"corruptions{fig}.png")
        print(f"wrote {img}/{{matrix,corruptions}}{fig}.png ({len(panels)} matrix panels)")


def plot_corruptions(rows: list[dict[str, Any]], path: Path) -> None:
    """Mean accuracy over severities per corruption, one bar group per model."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(r["model"] for r in rows))
    names = list(dict.fromkeys(r["corruption"] for r in rows))
    fig, ax = plt.subplots(figsize=(12, 4.5 + 0.25 * ((len(models) + 3) // 4)), constrained_layout=True)
    width = 0.8 / len(models)
    colors = plt.get_cmap("tab20" if len(models) > 10 else "tab10").colors
    for i, m in enumerate(models):
        vals = []
        for c in names:
            accs = [r["accuracy"] for r in rows if r["model"] == m and r["corruption"] == c]
            vals.append(100 * sum(accs) / len(accs))
        ax.bar([j + i * width for j in range(len(names))], vals, width, label=m, color=colors[i % len(colors)])
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(names))], names, rotation=20)
    ax.set_ylabel("accuracy (%), mean over severities 1-5")
    ax.set_ylim(0, 100)
    fig.legend(fontsize=8, ncols=min(len(models), 4), loc="outside upper center")
    ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    raise SystemExit(main())
