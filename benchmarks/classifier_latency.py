"""CPU latency of the MNIST spectral classifier, dense and mode-pruned, on the ``cpp`` and ``dft`` backends.

Run from the repository root::

    python -m benchmarks.classifier_latency                # ~3 min on 2 cores
    python -m benchmarks.classifier_latency --quick        # a smoke run, seconds

The model is the classifier of ``docs/classification.md``
(``SpectralClassifier(1, 10, width=32, modes=8.0, depth=4)``: 99 radial modes
per layer). It is trained for ``--epochs`` epochs on the MNIST split's training
images (``spectral_sparse.data.SPLIT_NOTE``) so that magnitude pruning sees a
trained spectrum, then pruned by weight magnitude (global scope) to 50% and
90% of its modes removed and compacted (no fine-tuning: latency depends on the
kept mode sets, not on the accuracy). Each of the three models runs on the
``cpp`` backend (the default on CPU) and on ``dft`` (the CPU default before
``cpp``), plus ``dense-before``: the dense model evaluated as the library did
before the fused CPU kernel (``dft`` backend, the skip's matmul writing a fresh
output, an out-of-place GELU); the seven peers are timed round-robin in one process (``--repeats``
rounds after 3 warm-up calls, a new seeded order every round, medians), forward
under ``torch.inference_mode``, batch 256 at 28x28, ``--threads`` threads
(default 1). Writes ``benchmarks/results/classifier_latency/cpu/results.csv``: one row per
peer with the modes kept, the distinct last-axis frequencies per layer, the
median and minimum, and the ratios against the dense model on the same
backend and against ``dense-before``.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import os
import platform
from pathlib import Path
from typing import Any

import torch

from benchmarks.runner import write_csv
from benchmarks.timing import interleaved_times, median_ms
from spectral_sparse.data import default_data_root, mnist_split
from spectral_sparse.models import SpectralClassifier
from spectral_sparse.prune import prune_modes
from spectral_sparse.training import train_classifier

ROOT = Path(__file__).resolve().parents[1]
MODEL = {"width": 32, "modes": 8.0, "depth": 4}
AMOUNTS = (0.5, 0.9)
BACKENDS = ("cpp", "dft")


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks.classifier_latency", description=__doc__.splitlines()[0])
    p.add_argument("--epochs", type=int, default=1, help="training epochs before pruning")
    p.add_argument("--threads", type=int, default=1, help="threads while timing (training uses all cores)")
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--repeats", type=int, default=21)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", type=Path, default=None)
    p.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "classifier_latency" / "cpu" / "results.csv"
    )
    p.add_argument("--quick", action="store_true", help="512 training images, 3 rounds: a smoke run")
    return p


def _models(args: argparse.Namespace) -> dict[str, SpectralClassifier]:
    root = args.data_dir or default_data_root()
    if root is None:
        raise SystemExit("no MNIST data: pass --data-dir or set SPECTRAL_SPARSE_DATA (see ../shared/data/README.md)")
    (xtr, ytr), _ = mnist_split(root)
    if args.quick:
        xtr, ytr = xtr[:512], ytr[:512]
    torch.manual_seed(args.seed)
    dense = SpectralClassifier(1, 10, **MODEL)
    train_classifier(dense, xtr, ytr, epochs=args.epochs, batch_size=64, lr=3e-3, seed=args.seed, progress=False)
    models = {"dense": dense.eval()}
    for amount in AMOUNTS:
        pruned = copy.deepcopy(dense)
        prune_modes(pruned, amount, criterion="magnitude", scope="global")
        for layer in pruned.spectral:
            layer.compact()
        models[f"pruned{round(100 * amount)}"] = pruned.eval()
    return models


class _Before(torch.nn.Module):
    """The classifier's forward as it was before the fused kernel: fresh skip output, out-of-place GELU."""

    def __init__(self, model: SpectralClassifier) -> None:
        super().__init__()
        self.model = model
        self.spectral = model.spectral

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = self.model
        h = m.lift(x)
        for spectral, skip in zip(m.spectral, m.skips):
            h = m.act(skip(h, add=spectral(h)))
        return m.head(h.mean(dim=tuple(range(2, h.ndim))))


def _with_backend(model: SpectralClassifier, backend: str) -> SpectralClassifier:
    out = copy.deepcopy(model)
    for layer in out.spectral:
        layer.backend = backend
    return out


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.threads < 1 or args.batch < 1 or args.repeats < 1 or args.epochs < 0:
        raise SystemExit("--threads, --batch and --repeats must be >= 1 and --epochs >= 0")
    models = _models(args)
    torch.set_num_threads(args.threads)
    x = torch.randn(args.batch, 1, 28, 28, generator=torch.Generator().manual_seed(args.seed))
    peers = {f"{name}-{b}": _with_backend(m, b) for name, m in models.items() for b in BACKENDS}
    peers["dense-before"] = _Before(_with_backend(models["dense"], "dft"))

    def forward(model: SpectralClassifier):
        def f() -> Any:
            with torch.inference_mode():
                return model(x)

        return f

    repeats = 3 if args.quick else args.repeats
    times = interleaved_times({n: forward(m) for n, m in peers.items()}, repeats, 3, torch.device("cpu"), args.seed)
    med = {n: median_ms(t) for n, t in times.items()}
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    rows = []
    for name, model in peers.items():
        base, backend = name.rsplit("-", 1)
        kept = [len(layer.modes) for layer in model.spectral]
        distinct = [int(torch.unique(layer.modes.indices[:, -1]).numel()) for layer in model.spectral]
        rows.append(
            {
                "model": base,
                "backend": backend,
                "modes_kept_per_layer": "/".join(map(str, kept)),
                "last_axis_frequencies_per_layer": "/".join(map(str, distinct)),
                "batch": args.batch,
                "grid": "28x28",
                "threads": torch.get_num_threads(),
                "median_ms": round(med[name], 3),
                "min_ms": round(1e3 * min(times[name]), 3),
                "ratio_vs_dense_same_backend": round(med[name] / med[f"dense-{backend}"], 3)
                if backend != "before"
                else 1.0,
                "speedup_vs_dense_before": round(med["dense-before"] / med[name], 3),
                "repeats": repeats,
                "epochs": args.epochs,
                "seed": args.seed,
                "cpu": platform.processor() or platform.machine(),
                "load_1min": round(os.getloadavg()[0], 2),
                "torch": torch.__version__,
                "date": stamp,
            }
        )
        print(
            f"{name:>16} kept {rows[-1]['modes_kept_per_layer']:>16}"
            f" U {rows[-1]['last_axis_frequencies_per_layer']:>10}"
            f" {med[name]:8.2f} ms  x dense {rows[-1]['ratio_vs_dense_same_backend']:.3f}"
            f"  speed-up vs dense-before {rows[-1]['speedup_vs_dense_before']:.2f}",
            flush=True,
        )
    write_csv(rows, args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
