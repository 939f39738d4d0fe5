"""Darcy flow: SparseFNO (dense box, and pruned) against neuraloperator's FNO and TFNO.

Run from the repository root::

    python -m experiments.darcy --seed 0 --threads 1        # ~12 min on one core (selection + final)
    python -m experiments.darcy --quick                     # smoke run, seconds; writes darcy/seed0_quick/
    python -m experiments.darcy --sweep 0.5 0.8 0.9 0.95 0.98 --threads 1   # error/latency vs modes removed

Data: neuraloperator's small Darcy-flow set (``spectral_sparse.data.darcy``): all
1,000 training pairs at 16x16; test on the 50 pairs at 16x16 and, zero-shot, on
the 50 pairs at 32x32 (the models see the 32x32 input directly).

Every model gets the same recipe: seed, data order, AdamW (lr 5e-3, weight decay
1e-4), cosine learning-rate decay per epoch, batch 32, the same number of epochs
(20), relative L2 loss on the output normalised like neuraloperator's example
(``encode_output``: one mean and standard deviation fitted on the training
pressures; inputs are not normalised); the test error is the relative L2 error of
the decoded output against the raw pressure, averaged over the test pairs.

Models (hidden width 32, 4 layers each):

* ``neuralop FNO``: ``FNO(n_modes=(16, 16), hidden_channels=32, projection_channel_ratio=2)``
  with its defaults (grid positional embedding, channel MLPs, linear skips, no padding).
* ``neuralop TFNO``: the same with ``TFNO`` (Tucker factorisation, its default rank 0.1).
* ``SparseFNO box``: ``SparseFNO(1, 1, 32, (16, 16), config=FNOConfig(channel_mlp=0.5))``
  (Fourier positional embedding; channel MLPs like neuraloperator's blocks).
* ``SparseFNO sparse``: our sparse model. How it gets sparse is chosen **on held-out
  validation data, never on the test set**: every candidate in ``CANDIDATES`` (one-shot
  ``energy`` pruning of 75% of all modes at 30, 40, 50 or 60% of the epochs; cubic
  gradual pruning to 75% in five steps between 10% and 50% of the epochs; a radial
  mode set of radius 4.5 from the start) is trained with the same recipe on the first
  900 training pairs and scored by its relative L2 error on the last 100; the
  candidate with the lowest validation error among those with at most 25% of FNO's
  spectral parameters is then trained on all 1,000 pairs like every other model.
  Pruning is ``spectral_sparse.prune.prune_modes(model, amount, "energy", scope="global")``
  (whole modes, compacted; a mode's score is the energy of its output on 256 training
  inputs), followed by a fresh optimizer at the scheduled learning rate.
* ``SparseFNO pruned (magnitude)``: the selected pruning plan (one-shot at 50% of the
  epochs if a radial set was selected) with the ``magnitude`` criterion instead.
* ``SparseFNO radial``: ``ModeSet.radial(4, 2)`` modes from the start (25 per layer).

Writes ``benchmarks/results/darcy/seed<N>/results.csv``, ``results.json`` and ``selection.csv``
and, for seed 0, the figure ``predictions.png`` beside them (``--sweep``:
``darcy/sweep_seed<N>/results.csv``; ``--quick`` appends ``_quick`` to the run folder).
CPU latency: inference of a batch of 50 at 16x16 and 32x32, median over
interleaved repeats after warm-up, in this process with the thread count given.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import math
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.timing import device_name, interleaved_times, median_ms
from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.data.darcy import load_darcy
from spectral_sparse.models import count_parameters
from spectral_sparse.models.fno import FNOConfig, SparseFNO
from spectral_sparse.prune import prune_modes
from spectral_sparse.prune.schedules import gradual

ROOT = Path(__file__).resolve().parents[1]

WIDTH, N_MODES = 32, (16, 16)


def relative_l2(pred: Tensor, truth: Tensor) -> Tensor:
    """Per-sample ``||pred - truth|| / ||truth||``, shape ``(B,)``."""
    diff = (pred - truth).flatten(1).norm(dim=1)
    return diff / truth.flatten(1).norm(dim=1)


def spectral_stats(model: nn.Module) -> tuple[int, list[int]]:
    """Real spectral parameters (weight tensors, complex counted twice, no biases) and our modes per layer."""
    params, modes = 0, []
    for module in model.modules():
        if isinstance(module, SparseSpectralConv):
            params += 2 * module.weight.numel()
            modes.append(len(module.modes))
        elif type(module).__name__ == "SpectralConv":  # neuraloperator's, dense or factorised weight
            for name, p in module.named_parameters():
                if "bias" not in name:
                    params += p.numel() * (2 if p.is_complex() else 1)
    return params, modes


def neuralop_modes(model: nn.Module) -> list[int]:
    """Stored frequency bins per layer of a neuraloperator FNO: ``prod(n_modes[:-1]) * (n_modes[-1] // 2 + 1)``."""
    n = list(model.n_modes)
    return [math.prod(n[:-1]) * (n[-1] // 2 + 1)] * model.n_layers


@dataclass(frozen=True)
class Candidate:
    """How the sparse SparseFNO gets its modes: pruning steps or a fixed radial set.

    ``plan`` holds ``(fraction of the epochs, fraction of all modes removed by then)``
    pairs; ``radius`` a radial mode set used from the start instead.
    """

    label: str
    plan: tuple[tuple[float, float], ...] = ()
    radius: float | None = None

    def steps(self, epochs: int) -> dict[int, float]:
        """``{epoch: amount relative to the modes kept before it}`` for a run of ``epochs`` epochs."""
        cumulative: dict[int, float] = {}  # epoch -> fraction removed by then (steps landing on one epoch merge)
        for frac, target in self.plan:
            cumulative[max(1, min(epochs - 1, round(frac * epochs)))] = target
        out, before = {}, 0.0
        for epoch in sorted(cumulative):
            out[epoch] = 1.0 - (1.0 - cumulative[epoch]) / (1.0 - before)
            before = cumulative[epoch]
        return out


AMOUNT = 0.75  # fraction of the box model's modes removed: 137 -> 34 per layer on average, 23.8% of FNO's
CANDIDATES = (
    *(Candidate(f"one-shot at {round(100 * f)}%", ((f, AMOUNT),)) for f in (0.3, 0.4, 0.5, 0.6)),
    Candidate("gradual 10-50%", tuple(zip((0.1, 0.2, 0.3, 0.4, 0.5), gradual(AMOUNT, 5).targets()))),
    Candidate("radial 4.5", radius=4.5),
)


def sparse_model(seed: int, channel_mlp: float, candidate: Candidate) -> nn.Module:
    """Our model for a candidate: the box model's initialisation (same seed), or a radial mode set."""
    torch.manual_seed(seed)
    modes = N_MODES if candidate.radius is None else ModeSet.radial(candidate.radius, ndim=2)
    return SparseFNO(1, 1, WIDTH, modes, config=FNOConfig(channel_mlp=channel_mlp))


def make_models(seed: int, radius: float, channel_mlp: float, chosen: Candidate) -> dict[str, nn.Module]:
    from neuralop.models import FNO, TFNO

    models: dict[str, nn.Module] = {}
    torch.manual_seed(seed)
    models["neuralop FNO"] = FNO(
        n_modes=N_MODES, in_channels=1, out_channels=1, hidden_channels=WIDTH, projection_channel_ratio=2
    )
    torch.manual_seed(seed)
    models["neuralop TFNO"] = TFNO(
        n_modes=N_MODES, in_channels=1, out_channels=1, hidden_channels=WIDTH, projection_channel_ratio=2
    )
    torch.manual_seed(seed)
    models["SparseFNO box"] = SparseFNO(1, 1, WIDTH, N_MODES, config=FNOConfig(channel_mlp=channel_mlp))
    models["SparseFNO sparse"] = sparse_model(seed, channel_mlp, chosen)
    models["SparseFNO pruned (magnitude)"] = copy.deepcopy(models["SparseFNO box"])
    torch.manual_seed(seed)
    models["SparseFNO radial"] = SparseFNO(
        1, 1, WIDTH, ModeSet.radial(radius, ndim=2), config=FNOConfig(channel_mlp=channel_mlp)
    )
    return models


def train(
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    norm: tuple[float, float],
    args: argparse.Namespace,
    steps: dict[int, float] | None = None,
    criterion: str = "energy",
) -> dict[str, Any]:
    """The common recipe; ``steps`` = ``{epoch: amount}`` prunes whole modes globally before those epochs."""
    x, y = data
    mean, std = norm
    target = (y - mean) / std
    gen = torch.Generator().manual_seed(args.seed)
    info: dict[str, Any] = {}
    steps = steps or {}

    def optimizer() -> torch.optim.Optimizer:
        return torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)

    opt = optimizer()
    start = time.perf_counter()
    for epoch in range(args.epochs):
        if epoch in steps:
            extra = {} if criterion == "magnitude" else {"data": [x[:256]]}
            prune_modes(model, steps[epoch], criterion=criterion, scope="global", **extra)
            info.setdefault("pruned_at_epochs", []).append(epoch)
            opt = optimizer()  # compact() replaced the spectral weights
        lr = args.lr * 0.5 * (1 + math.cos(math.pi * epoch / args.epochs))
        for group in opt.param_groups:
            group["lr"] = lr
        model.train()
        total = 0.0
        for idx in torch.randperm(len(x), generator=gen).split(args.batch_size):
            loss = relative_l2(model(x[idx]), target[idx]).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if not args.no_progress:
            print(f"    epoch {epoch + 1:3d}/{args.epochs}  train rel L2 {total / len(x):.4f}", flush=True)
    info["train_s"] = time.perf_counter() - start
    return info


def select(x: Tensor, y: Tensor, fno_spectral: int, args: argparse.Namespace) -> tuple[Candidate, list[dict]]:
    """Train every candidate on the first ``len(x) - n_val`` pairs; pick the best on the last ``n_val``."""
    n_fit = len(x) - args.n_val
    fit, val = (x[:n_fit], y[:n_fit]), (x[n_fit:], y[n_fit:])
    norm = (float(fit[1].mean()), float(fit[1].std()))
    rows = []
    for cand in CANDIDATES:
        if args.candidates and cand.label not in args.candidates:
            continue
        model = sparse_model(args.seed, args.channel_mlp, cand)
        print(f"selection: {cand.label} (train {n_fit}, validate {args.n_val})", flush=True)
        info = train(model, fit, norm, args, cand.steps(args.epochs))
        err = evaluate(model, *val, norm)[0]
        spectral, modes = spectral_stats(model)
        rows.append(
            {
                "seed": args.seed,
                "candidate": cand.label,
                "val_rel_l2_16": err,
                "spectral_frac_of_fno": spectral / fno_spectral,
                "modes_per_layer": " ".join(map(str, modes)),
                "pruned_at_epochs": " ".join(map(str, info.get("pruned_at_epochs", []))),
                "train_s": info["train_s"],
            }
        )
        print(f"  validation rel L2 {err:.4f}, {100 * spectral / fno_spectral:.1f}% of FNO's spectral parameters")
    eligible = [r for r in rows if r["spectral_frac_of_fno"] <= 0.25]
    if not eligible:
        raise SystemExit("no candidate has at most 25% of FNO's spectral parameters")
    best = min(eligible, key=lambda r: r["val_rel_l2_16"])["candidate"]
    for r in rows:
        r["selected"] = r["candidate"] == best
    return next(c for c in CANDIDATES if c.label == best), rows


@torch.inference_mode()
def evaluate(model: nn.Module, x: Tensor, y: Tensor, norm: tuple[float, float]) -> tuple[float, Tensor]:
    model.eval()
    pred = model(x) * norm[1] + norm[0]
    return float(relative_l2(pred, y).mean()), pred


def latency(models: dict[str, nn.Module], tests: dict[int, Tensor], args: argparse.Namespace) -> dict[str, dict]:
    out: dict[str, dict] = {name: {} for name in models}
    for res, x in tests.items():
        batch = x[:50]
        fns = {}
        for name, model in models.items():
            model.eval()

            def call(model: nn.Module = model, batch: Tensor = batch) -> None:
                with torch.inference_mode():
                    model(batch)

            fns[name] = call
        times = interleaved_times(fns, repeats=args.repeats, warmup=3, device=torch.device("cpu"), seed=args.seed)
        for name in models:
            out[name][res] = median_ms(times[name])
    return out


def plot(preds: dict[str, dict[int, Tensor]], truth: dict[int, Tensor], path: Path, sample: int = 0) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ours, ref = "SparseFNO sparse", "neuralop FNO"
    fig, axes = plt.subplots(2, 5, figsize=(15, 6), constrained_layout=True)
    for row, res in enumerate(sorted(truth)):
        t = truth[res][sample, 0]
        p_ours, p_ref = preds[ours][res][sample, 0], preds[ref][res][sample, 0]
        vmax = float(t.max())
        emax = float(max((p_ours - t).abs().max(), (p_ref - t).abs().max()))
        panels = [
            (t, f"truth {res}x{res}", "viridis", 0, vmax),
            (p_ours, f"{ours}", "viridis", 0, vmax),
            (p_ref, f"{ref}", "viridis", 0, vmax),
            ((p_ours - t).abs(), f"|{ours} - truth|", "magma", 0, emax),
            ((p_ref - t).abs(), f"|{ref} - truth|", "magma", 0, emax),
        ]
        for ax, (img, title, cmap, lo, hi) in zip(axes[row], panels):
            im = ax.imshow(img.numpy(), cmap=cmap, vmin=lo, vmax=hi, origin="lower")
            ax.set_title(title, fontsize=9)
            ax.set_xticks([])
            ax.set_yticks([])
            fig.colorbar(im, ax=ax, shrink=0.8)
    fig.suptitle(f"Darcy test pair {sample}: trained at 16x16; top 16x16, bottom 32x32 (zero-shot)")
    fig.savefig(path, dpi=110)
    plt.close(fig)


def setup(args: argparse.Namespace) -> tuple[Tensor, Tensor, dict[int, tuple[Tensor, Tensor]], tuple, int]:
    """Training pairs, test pairs per resolution, the output normalisation and FNO's spectral parameter count."""
    from neuralop.models import FNO

    x_train, y_train = load_darcy(args.data_dir, "train", 16)
    if args.quick:
        x_train, y_train = x_train[:200], y_train[:200]
    tests = {res: load_darcy(args.data_dir, "test", res) for res in (16, 32)}
    norm = (float(y_train.mean()), float(y_train.std()))
    fno = FNO(n_modes=N_MODES, in_channels=1, out_channels=1, hidden_channels=WIDTH)
    return x_train, y_train, tests, norm, spectral_stats(fno)[0]


def sweep(args: argparse.Namespace) -> int:
    """Error, size and latency against the fraction of modes removed (``--sweep``; writes sweep_seed<N>/results.csv).

    The box model (0%) and, for each amount, the same initialisation pruned in one shot
    (energy, global) at 30% of the epochs, the plan selected on validation for 75%.
    """
    x_train, y_train, tests, norm, fno_spectral = setup(args)
    models, rows = {}, []
    for amount in [0.0, *args.sweep]:
        plan = Candidate(f"one-shot {amount:g} at 30%", ((0.3, amount),) if amount else ())
        model = sparse_model(args.seed, args.channel_mlp, plan)
        print(f"sweep: {100 * amount:g}% of the modes removed", flush=True)
        info = train(model, (x_train, y_train), norm, args, plan.steps(args.epochs))
        spectral, modes = spectral_stats(model)
        name = f"{100 * amount:g}%"
        models[name] = model
        rows.append(
            {
                "removed_target": amount,
                "modes_per_layer": " ".join(map(str, modes)),
                "removed": 1 - sum(modes) / (len(modes) * len(ModeSet.box(N_MODES))),
                "params": count_parameters(model),
                "spectral_params": spectral,
                "spectral_frac_of_fno": spectral / fno_spectral,
                **{f"rel_l2_{res}": evaluate(model, x, y, norm)[0] for res, (x, y) in tests.items()},
                "train_s": info["train_s"],
            }
        )
        print(f"  rel L2 @16 {rows[-1]['rel_l2_16']:.4f} @32 {rows[-1]['rel_l2_32']:.4f}", flush=True)
    times = latency(models, {res: x for res, (x, _) in tests.items()}, args)
    for row, name in zip(rows, models):
        for res in (16, 32):
            row[f"latency_ms_{res}"] = times[name][res]
            row[f"latency_ratio_{res}"] = times[name][res] / times["0%"][res]
    path = args.results / _run(args, "sweep_") / "results.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    for row in rows:
        print(
            f"{100 * row['removed']:5.1f}% removed  {row['params']:9,d} params  L2@16 {row['rel_l2_16']:.4f}  "
            f"L2@32 {row['rel_l2_32']:.4f}  ms@16 {row['latency_ms_16']:.1f} ({row['latency_ratio_16']:.2f})  "
            f"ms@32 {row['latency_ms_32']:.1f} ({row['latency_ratio_32']:.2f})"
        )
    print(f"wrote {path}")
    return 0


def _run(args: argparse.Namespace, prefix: str = "") -> str:
    """The run folder's name: ``seed<N>`` (``sweep_seed<N>`` for the sweep), ``_quick`` appended for ``--quick``."""
    return f"{prefix}seed{args.seed}{'_quick' if args.quick else ''}"


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.darcy`` (parsing only; ``main`` runs it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--n-val", type=int, default=100, help="training pairs held out to select the sparse model")
    parser.add_argument(
        "--candidates", nargs="+", default=None, help="restrict the selection to these candidate labels"
    )
    parser.add_argument("--channel-mlp", type=float, default=0.5, help="FNOConfig.channel_mlp of our models")
    parser.add_argument("--radius", type=float, default=4.0, help="radius of the radial SparseFNO")
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=30, help="timed repeats per model and resolution")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="200 training pairs, 2 epochs; writes seed<N>_quick/")
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "darcy",
        help="experiment folder; each run writes into <results>/seed<N>/ [benchmarks/results/darcy]",
    )
    parser.add_argument(
        "--img", type=Path, default=None, help="experiment folder of the figures (<img>/seed<N>/) [--results]"
    )
    parser.add_argument("--no-progress", action="store_true")
    parser.add_argument(
        "--sweep", type=float, nargs="+", default=None, help="instead: error and latency vs these fractions removed"
    )
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.img = args.img or args.results
    torch.set_num_threads(args.threads)
    if args.quick:
        args.epochs, args.repeats, args.n_val = 3, 3, 40
    if args.sweep:
        return sweep(args)
    x_train, y_train, tests, norm, fno_spectral = setup(args)
    chosen, selection = select(x_train, y_train, fno_spectral, args)
    print(f"selected on validation: {chosen.label}", flush=True)
    models = make_models(args.seed, args.radius, args.channel_mlp, chosen)
    magnitude_plan = chosen if chosen.plan else CANDIDATES[2]

    results: dict[str, dict[str, Any]] = {}
    preds: dict[str, dict[int, Tensor]] = {}
    for name, model in models.items():
        print(f"training {name} ({count_parameters(model):,} parameters)", flush=True)
        if name == "SparseFNO sparse":
            info = train(model, (x_train, y_train), norm, args, chosen.steps(args.epochs))
            info["config"] = chosen.label
        elif "magnitude" in name:
            info = train(model, (x_train, y_train), norm, args, magnitude_plan.steps(args.epochs), "magnitude")
            info["config"] = magnitude_plan.label
        else:
            info = train(model, (x_train, y_train), norm, args)
        errors, preds[name] = {}, {}
        for res, (x, y) in tests.items():
            errors[res], preds[name][res] = evaluate(model, x, y, norm)
        spectral, modes = spectral_stats(model)
        if name.startswith("neuralop"):
            modes = neuralop_modes(model)
        results[name] = {
            "model": name,
            "params": count_parameters(model),
            "spectral_params": spectral,
            "spectral_frac_of_fno": spectral / fno_spectral,
            "modes_per_layer": modes,
            "rel_l2_16": errors[16],
            "rel_l2_32": errors[32],
            **info,
        }
        print(f"  test rel L2: 16x16 {errors[16]:.4f}  32x32 {errors[32]:.4f}  ({info['train_s']:.0f} s)", flush=True)

    times = latency(models, {res: x for res, (x, _) in tests.items()}, args)
    ref = results["neuralop FNO"]
    for name, row in results.items():
        row["latency_ms_16"], row["latency_ms_32"] = times[name][16], times[name][32]
        for res in (16, 32):
            row[f"err_vs_fno_{res}"] = row[f"rel_l2_{res}"] / ref[f"rel_l2_{res}"] - 1
            row[f"speedup_vs_fno_{res}"] = ref[f"latency_ms_{res}"] / row[f"latency_ms_{res}"]

    ours = results["SparseFNO sparse"]
    goals = {
        "error_within_5pct_16": ours["err_vs_fno_16"] <= 0.05,
        "error_within_5pct_32": ours["err_vs_fno_32"] <= 0.05,
        "spectral_params_le_25pct": ours["spectral_frac_of_fno"] <= 0.25,
        "faster_cpu_16": ours["speedup_vs_fno_16"] > 1,
        "faster_cpu_32": ours["speedup_vs_fno_32"] > 1,
    }
    meta = {
        "command": "python -m experiments.darcy " + " ".join(sys.argv[1:] if argv is None else argv),
        "data": "neuraloperator small Darcy: train 1000 @16x16, test 50 @16x16 and 50 @32x32 (zero-shot)",
        "seed": args.seed,
        "epochs": args.epochs,
        "selection": f"first {len(x_train) - args.n_val} training pairs, validated on the last {args.n_val}",
        "selected": chosen.label,
        "amount": AMOUNT,
        "channel_mlp": args.channel_mlp,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": device_name(torch.device("cpu")),
        "machine": platform.machine(),
        "latency": f"batch 50, inference_mode, median of {args.repeats} interleaved repeats after 3 warm-up calls",
        "goals": goals,
    }
    run = args.results / _run(args)
    run.mkdir(parents=True, exist_ok=True)
    fields = [
        "model",
        "config",
        "params",
        "spectral_params",
        "spectral_frac_of_fno",
        "modes_per_layer",
        "rel_l2_16",
        "rel_l2_32",
        "err_vs_fno_16",
        "err_vs_fno_32",
        "latency_ms_16",
        "latency_ms_32",
        "speedup_vs_fno_16",
        "speedup_vs_fno_32",
        "train_s",
    ]
    with open(run / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields, extrasaction="ignore")
        writer.writeheader()
        for row in results.values():
            writer.writerow({k: (" ".join(map(str, v)) if isinstance(v, list) else v) for k, v in row.items()})
    with open(run / "results.json", "w") as f:
        json.dump({"meta": meta, "selection": selection, "results": list(results.values())}, f, indent=2)
    with open(run / "selection.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(selection[0]))
        writer.writeheader()
        writer.writerows(selection)
    img = args.img / _run(args)
    img.mkdir(parents=True, exist_ok=True)
    if args.seed == 0 or args.quick:
        plot(preds, {res: y for res, (_, y) in tests.items()}, img / "predictions.png")

    print(
        f"\n{'model':28s} {'params':>9s} {'spec.':>9s} {'%FNO':>6s} {'L2@16':>7s} {'L2@32':>7s} "
        f"{'ms@16':>7s} {'ms@32':>7s}"
    )
    for row in results.values():
        print(
            f"{row['model']:28s} {row['params']:9,d} {row['spectral_params']:9,d} "
            f"{100 * row['spectral_frac_of_fno']:5.1f}% {row['rel_l2_16']:7.4f} {row['rel_l2_32']:7.4f} "
            f"{row['latency_ms_16']:7.2f} {row['latency_ms_32']:7.2f}"
        )
    print("goals:", goals)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
