"""Command line of the benchmarks.

Examples
--------
The CPU tables of ``docs/benchmarks.md``::

    python -m benchmarks --threads 2 --repeats 15 --out benchmarks/results/layer/cpu/results.csv
    python -m benchmarks --suite auto --threads 2 --repeats 15 --out benchmarks/results/auto/cpu/results.csv

A smoke run (small sizes, few repeats)::

    python -m benchmarks --quick --out /tmp/quick.csv

A figure or table of the docs, rerun from the manifest ``benchmarks/figures.toml``
(``benchmarks.figures``)::

    python -m benchmarks figure --list
    python -m benchmarks figure darcy_predictions
"""

from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

import torch

__all__ = ["build_parser", "main", "write_csv"]

#: Subcommands given as the first argument (``python -m benchmarks figure ...``); without one the
#: arguments are the timing suites' (``python -m benchmarks --suite ...``).
SUBCOMMANDS = ("figure",)


def build_parser() -> argparse.ArgumentParser:
    """The timing suites' parser (``python -m benchmarks [--suite ...]``)."""
    return _parser()


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="Time SparseSpectralConv against neuraloperator's SpectralConv (medians after warm-up, "
        "peers interleaved in one process) and write CSV. Subcommand: 'figure' (python -m benchmarks figure "
        "--help) reruns a figure or table of the docs.",
    )
    p.add_argument(
        "--suite",
        choices=("layer", "auto"),
        default="layer",
        help="layer: the comparison and mode-fraction tables; auto: the backend='auto' hit-rate sweep",
    )
    p.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: leave as is)")
    p.add_argument("--repeats", type=int, default=15, help="timed rounds per peer (median reported)")
    p.add_argument("--warmup", type=int, default=3, help="untimed calls per peer before timing")
    p.add_argument(
        "--out", type=Path, default=None, help="CSV path (default: benchmarks/results/<suite>/<device>/results.csv)"
    )
    p.add_argument("--device", choices=("cpu", "cuda"), default="cpu")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quick", action="store_true", help="small sizes and few repeats (a smoke test)")
    return p


def write_csv(rows: list[dict[str, object]], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields: list[str] = []
    for row in rows:
        fields.extend(k for k in row if k not in fields)
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "figure":
        from .figures import main as figure_main

        return figure_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        print("error: --device cuda but CUDA is not available", file=sys.stderr)
        return 2
    device = torch.device(args.device)
    if args.threads is not None:
        if args.threads < 1:
            print("error: --threads must be >= 1", file=sys.stderr)
            return 2
        torch.set_num_threads(args.threads)
    if args.repeats < 1 or args.warmup < 0:
        print("error: --repeats must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    repeats, warmup = (min(args.repeats, 3), min(args.warmup, 1)) if args.quick else (args.repeats, args.warmup)
    out = args.out or Path("benchmarks/results") / args.suite / args.device / "results.csv"
    print(
        f"threads={torch.get_num_threads()} device={args.device} torch={torch.__version__} "
        f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '-')} seed={args.seed}",
        flush=True,
    )

    def log(msg: str) -> None:
        print(msg, flush=True)

    if args.suite == "layer":
        from .layer_bench import CONFIGS, QUICK_CONFIGS, run_layer_suite

        configs = QUICK_CONFIGS if args.quick else CONFIGS
        rows = run_layer_suite(configs, repeats, warmup, device, args.seed, log=log)
    else:
        from .auto_sweep import run_auto_sweep

        rows = run_auto_sweep(repeats, warmup, device, args.seed, quick=args.quick, log=log)
    write_csv(rows, out)
    print(f"wrote {len(rows)} rows to {out}")
    return 0
