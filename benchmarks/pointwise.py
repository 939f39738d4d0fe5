"""Pointwise (1x1) convolution: torch's ``nn.Conv2d`` (oneDNN) against :class:`PointwiseConv` (batched matmul).

Run from the repository root::

    python benchmarks/pointwise.py --threads 1        # ~1 min

Both compute the same map with the same parameters (the test suite compares
outputs and gradients). Timed round-robin in one process (medians after
warm-up, :mod:`benchmarks.timing`), forward under ``inference_mode`` and
forward + backward. Writes ``benchmarks/results/pointwise/cpu/results.csv`` (``--out``).
"""

from __future__ import annotations

import argparse
import csv
import datetime
import platform
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks.timing import device_name, interleaved_times, median_ms  # noqa: E402
from spectral_sparse.models.pointwise import PointwiseConv  # noqa: E402

SHAPES = ((256, 32, 28, 28), (64, 32, 28, 28), (8, 32, 128, 128), (1, 32, 28, 28))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument(
        "--out", type=Path, default=ROOT / "benchmarks" / "results" / "pointwise" / "cpu" / "results.csv"
    )
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    rows = []
    for shape in SHAPES:
        c = shape[1]
        conv = torch.nn.Conv2d(c, c, 1)
        ours = PointwiseConv(2, c, c)
        ours.load_state_dict(conv.state_dict())
        x = torch.randn(shape)
        xg = x.clone().requires_grad_(True)

        def fwd(m: torch.nn.Module, x: torch.Tensor = x) -> object:
            def f() -> object:
                with torch.inference_mode():
                    return m(x)

            return f

        def fwd_bwd(m: torch.nn.Module, xg: torch.Tensor = xg) -> object:
            return lambda: m(xg).sum().backward()

        for what, make in (("forward", fwd), ("forward+backward", fwd_bwd)):
            times = interleaved_times(
                {"conv2d": make(conv), "pointwise": make(ours)}, args.repeats, 3, torch.device("cpu")
            )
            ms = {k: median_ms(v) for k, v in times.items()}
            rows.append(
                {
                    "shape": "x".join(map(str, shape)),
                    "pass": what,
                    "conv2d_ms": round(ms["conv2d"], 3),
                    "pointwise_ms": round(ms["pointwise"], 3),
                    "speedup": round(ms["conv2d"] / ms["pointwise"], 2),
                    "threads": args.threads,
                    "device": device_name(torch.device("cpu")),
                    "torch": torch.__version__,
                    "machine": platform.machine(),
                    "date": datetime.date.today().isoformat(),
                }
            )
            print(rows[-1])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
