"""Shallow water on the sphere: one step with our sparse spherical operator vs torch-harmonics' SFNO.

Run from the repository root::

    python -m experiments.sphere --seed 0 --threads 1     # ~8 min on one core
    python -m experiments.sphere --quick                  # smoke run; writes sphere/seed0_quick/

Data, generated at run time by torch-harmonics' ``ShallowWaterSolver``
(``spectral_sparse.sphere.swe``): random initial states (Mach 0.2) on a 64x128
Legendre-Gauss solver grid with degrees ``l < 22``, integrated one hour (6 solver
steps of 600 s); the learned map is state -> state one hour later (geopotential,
vorticity, divergence, each normalised by the training inputs' per-channel mean and
standard deviation). 128 training pairs (seed ``seed``), 16 test pairs (seed
``seed + 1``). The fields are band-limited, so the same truth is sampled exactly on
every grid: training on the 32x64 Legendre-Gauss grid, testing there and, zero-shot,
on 64x128 Legendre-Gauss and 64x128 equiangular grids.

Models, same recipe (seed, data order, AdamW lr 3e-3 with cosine decay, batch 8,
epochs, loss: relative L2 error on the sphere, quadrature-weighted):

* ``SFNO``: ``torch_harmonics.examples.models.SphericalFourierNeuralOperator``
  (scale_factor 1, per-degree (Driscoll-Healy) weights up to
  ``l < 32``, channel MLPs, ``pos_embed="spectral"``); on 64x128 it is rebuilt with
  ``scale_factor=2`` (same weight shapes, same internal 32x64 grid) and the trained
  weights loaded: torch-harmonics' way of running it on another grid.
* ``SphericalOperator degree l<22``: ours, per-degree weights on the degrees the data
  hold (``l < 22``, 253 modes), xyz embedding; SFNO's operator restricted to them.
* ``SphericalOperator lm l<22``: ours, one matrix per mode ``(l, m)``, ``l < 22``.

All with width (embed_dim) 16 and 4 layers.

Writes ``benchmarks/results/sphere/seed<N>/results.csv``/``.json`` and the figure ``predictions.png``
beside them (``--quick`` appends ``_quick`` to the run folder).
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import platform
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from benchmarks.timing import device_name
from spectral_sparse.models import count_parameters
from spectral_sparse.sphere.conv import triangular_modes
from spectral_sparse.sphere.model import SphericalOperator
from spectral_sparse.sphere.swe import ShallowWaterData, sphere_weights

ROOT = Path(__file__).resolve().parents[1]

TRAIN_GRID = (32, 64, "legendre-gauss")
TEST_GRIDS = [(32, 64, "legendre-gauss"), (64, 128, "legendre-gauss"), (64, 128, "equiangular")]


def grid_name(g: tuple[int, int, str]) -> str:
    return f"{g[0]}x{g[1]} {'LG' if g[2] == 'legendre-gauss' else 'equiangular'}"


def sphere_rel_l2(pred: Tensor, truth: Tensor, weights: Tensor) -> Tensor:
    """Per-sample relative L2 error on the sphere (all channels), shape ``(B,)``."""
    w = weights.to(pred.dtype)
    num = ((pred - truth) ** 2 * w).sum(dim=(1, 2, 3))
    return torch.sqrt(num / (truth**2 * w).sum(dim=(1, 2, 3)))


class SFNOAnyGrid(nn.Module):
    """torch-harmonics' SFNO trained at one grid, rebuilt for another grid when called there."""

    def __init__(self, embed_dim: int, n_layers: int) -> None:
        super().__init__()
        self.kwargs = dict(
            in_chans=3,
            out_chans=3,
            embed_dim=embed_dim,
            num_layers=n_layers,
            grid_internal="legendre-gauss",
            use_mlp=True,
            pos_embed="spectral",
        )
        self.net = self._build(TRAIN_GRID)
        self._copies: dict[tuple[int, int, str], nn.Module] = {}

    def _build(self, g: tuple[int, int, str]) -> nn.Module:
        from torch_harmonics.examples.models import SphericalFourierNeuralOperator

        scale = g[0] // TRAIN_GRID[0]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return SphericalFourierNeuralOperator(img_size=g[:2], grid=g[2], scale_factor=scale, **self.kwargs)

    def forward(self, x: Tensor, grid: str) -> Tensor:
        g = (x.shape[2], x.shape[3], grid)
        if g == TRAIN_GRID:
            return self.net(x)
        if g not in self._copies:
            copy = self._build(g)
            state = {k: v for k, v in self.net.state_dict().items() if "pos_embed" not in k}
            missing, unexpected = copy.load_state_dict(state, strict=False)
            assert not unexpected and all("pos_embed" in k for k in missing), (missing, unexpected)
            self._copies[g] = copy.eval()
        return self._copies[g](x)


def make_models(seed: int, width: int) -> dict[str, nn.Module]:
    models: dict[str, nn.Module] = {}
    torch.manual_seed(seed)
    models["SFNO (torch-harmonics)"] = SFNOAnyGrid(width, 4)
    torch.manual_seed(seed)
    models["SphericalOperator degree l<22"] = SphericalOperator(
        3, 3, width, triangular_modes(22), 4, grid=TRAIN_GRID[2], share="degree"
    )
    torch.manual_seed(seed)
    models["SphericalOperator lm l<22"] = SphericalOperator(3, 3, width, triangular_modes(22), 4, grid=TRAIN_GRID[2])
    return models


def call(model: nn.Module, x: Tensor, grid: str) -> Tensor:
    return model(x, grid=grid)


def train(model: nn.Module, x: Tensor, y: Tensor, w: Tensor, args: argparse.Namespace) -> float:
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.0)
    gen = torch.Generator().manual_seed(args.seed)
    start = time.perf_counter()
    for epoch in range(args.epochs):
        for group in opt.param_groups:
            group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * epoch / args.epochs))
        model.train()
        total = 0.0
        for idx in torch.randperm(len(x), generator=gen).split(args.batch_size):
            loss = sphere_rel_l2(call(model, x[idx], TRAIN_GRID[2]), y[idx], w).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += loss.item() * len(idx)
        if not args.no_progress:
            print(f"    epoch {epoch + 1:3d}/{args.epochs}  train rel L2 {total / len(x):.4f}", flush=True)
    return time.perf_counter() - start


def plot(sample: dict[str, Tensor], path: Path, title: str) -> None:
    """Top row: truth and each model's prediction; bottom row: each model's absolute error."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    models = [k for k in sample if k != "truth" and not k.startswith("error")]
    fig, axes = plt.subplots(2, len(models) + 1, figsize=(3.4 * (len(models) + 1), 4.2), constrained_layout=True)
    truth = sample["truth"]
    lo, hi = float(truth.min()), float(truth.max())
    emax = max(float(sample[f"error {m}"].abs().max()) for m in models)
    panels = [(axes[0, 0], truth, "truth", False)]
    panels += [(axes[0, i + 1], sample[m], m, False) for i, m in enumerate(models)]
    panels += [(axes[1, i + 1], sample[f"error {m}"], f"|error| {m}", True) for i, m in enumerate(models)]
    for ax, img, name, is_err in panels:
        im = ax.imshow(
            img.numpy(), cmap="magma" if is_err else "RdBu_r", vmin=0 if is_err else lo, vmax=emax if is_err else hi
        )
        ax.set_title(name, fontsize=8)
        fig.colorbar(im, ax=ax, shrink=0.7)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[1, 0].axis("off")
    fig.suptitle(title, fontsize=9)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def build_parser() -> argparse.ArgumentParser:
    """The command line of ``python -m experiments.sphere`` (parsing only; ``main`` runs it)."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--n-train", type=int, default=128)
    parser.add_argument("--n-test", type=int, default=16)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--quick", action="store_true", help="tiny data and 1 epoch; writes seed<N>_quick/")
    parser.add_argument(
        "--results",
        type=Path,
        default=ROOT / "benchmarks" / "results" / "sphere",
        help="experiment folder; each run writes into <results>/seed<N>/ [benchmarks/results/sphere]",
    )
    parser.add_argument(
        "--img", type=Path, default=None, help="experiment folder of the figures (<img>/seed<N>/) [--results]"
    )
    parser.add_argument("--no-progress", action="store_true")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    args.img = args.img or args.results
    torch.set_num_threads(args.threads)
    if args.quick:
        args.epochs, args.n_train, args.n_test = 1, 16, 4

    start = time.perf_counter()
    data = ShallowWaterData(64, 128, "legendre-gauss", dt=3600.0, solver_dt=600.0)
    train_spec = data.sample(args.n_train, seed=args.seed)
    test_spec = data.sample(args.n_test, seed=args.seed + 1)
    gen_s = time.perf_counter() - start
    print(f"generated {args.n_train} + {args.n_test} pairs in {gen_s:.0f} s (lmax {data.lmax})", flush=True)
    x_tr = data.on_grid(train_spec[0], *TRAIN_GRID)
    mean = x_tr.mean(dim=(0, 2, 3), keepdim=True)
    std = x_tr.std(dim=(0, 2, 3), keepdim=True)

    def fields(spec: tuple[Tensor, Tensor], g: tuple[int, int, str]) -> tuple[Tensor, Tensor]:
        return tuple(((data.on_grid(s, *g) - mean) / std).float() for s in spec)  # type: ignore[return-value]

    x_train, y_train = fields(train_spec, TRAIN_GRID)
    tests = {g: fields(test_spec, g) for g in TEST_GRIDS}
    w_train = sphere_weights(*TRAIN_GRID)
    persistence = {grid_name(g): float(sphere_rel_l2(x, y, sphere_weights(*g)).mean()) for g, (x, y) in tests.items()}

    models = make_models(args.seed, args.width)
    results: list[dict[str, Any]] = []
    samples: dict[str, dict[str, Tensor]] = {grid_name(g): {"truth": tests[g][1][0, 0]} for g in TEST_GRIDS}
    for name, model in models.items():
        print(f"training {name} ({count_parameters(model):,} parameters)", flush=True)
        train_s = train(model, x_train, y_train, w_train, args)
        row: dict[str, Any] = {"model": name, "params": count_parameters(model), "train_s": train_s}
        model.eval()
        with torch.no_grad():
            for g, (x, y) in tests.items():
                pred = call(model, x, g[2])
                row[f"rel_l2 {grid_name(g)}"] = float(sphere_rel_l2(pred, y, sphere_weights(*g)).mean())
                samples[grid_name(g)][name] = pred[0, 0]
                samples[grid_name(g)][f"error {name}"] = (pred[0, 0] - y[0, 0]).abs()
        print("  " + "  ".join(f"{k}: {v:.4f}" for k, v in row.items() if k.startswith("rel_l2")), flush=True)
        results.append(row)

    meta = {
        "command": "python -m experiments.sphere " + " ".join(sys.argv[1:] if argv is None else argv),
        "data": f"torch-harmonics ShallowWaterSolver 64x128 LG, lmax {data.lmax}, dt 3600 s (6 x 600 s), "
        f"{args.n_train} train (seed {args.seed}) / {args.n_test} test (seed {args.seed + 1})",
        "train_grid": grid_name(TRAIN_GRID),
        "persistence_rel_l2": persistence,
        "seed": args.seed,
        "epochs": args.epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "cpu": device_name(torch.device("cpu")),
        "machine": platform.machine(),
        "data_generation_s": gen_s,
    }
    run = f"seed{args.seed}{'_quick' if args.quick else ''}"
    (args.results / run).mkdir(parents=True, exist_ok=True)
    with open(args.results / run / "results.csv", "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(results[0]))
        writer.writeheader()
        writer.writerows(results)
    with open(args.results / run / "results.json", "w") as f:
        json.dump({"meta": meta, "results": results}, f, indent=2)
    (args.img / run).mkdir(parents=True, exist_ok=True)
    fine = grid_name(TEST_GRIDS[1])
    plot(
        samples[fine],
        args.img / run / "predictions.png",
        f"geopotential (normalised), test pair 0 on the {fine} grid; models trained on {grid_name(TRAIN_GRID)}",
    )
    print("persistence (predict no change):", persistence)
    for row in results:
        print(f"{row['model']:32s} {row['params']:9,d}  " + "  ".join(f"{v:.4f}" for k, v in row.items() if "rel" in k))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
