"""On a CUDA machine: check the ``triton`` backend against the float64 reference and time it.

Run ``python -m spectral_sparse.backends.triton.gpucheck [--repeat 50]``. For
each case it prints one CSV row: the relative errors of ``y``, ``grad_x``,
``grad_weight`` against ``fft`` in float64, and median forward and
forward+backward times of ``triton``, ``dft`` and ``fft`` in float32 (after
warm-up, in the same process). It exits non-zero when an error exceeds the
float32 tolerance. This is a smoke check for the GPU, not the benchmark suite.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import torch

__all__ = ["main"]

CASES = [
    # (name, grid, out_grid, n_modes, channels, batch, diagonal)
    ("1d-4096-box64", (4096,), None, 64, 32, 8, False),
    ("2d-64-box16", (64, 64), None, (16, 16), 32, 8, False),
    ("2d-128-box32", (128, 128), None, (32, 32), 32, 8, False),
    ("2d-256-box16-diag", (256, 256), None, (16, 16), 32, 8, True),
    ("2d-255x256-box24-resample", (255, 256), (128, 130), (24, 24), 16, 4, False),
    ("2d-128-box100-last", (128, 256), None, (16, 200), 8, 4, False),
]


def _time(fn, repeat: int) -> float:
    for _ in range(3):
        fn()
    torch.cuda.synchronize()
    samples = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        torch.cuda.synchronize()
        samples.append(time.perf_counter() - t)
    return statistics.median(samples)


def main(argv: list[str] | None = None) -> int:
    import spectral_sparse as ss
    from spectral_sparse.functional import sparse_spectral_conv
    from spectral_sparse.testing import TOLERANCES, relative_error

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        print("no CUDA device", file=sys.stderr)
        return 2
    dev = torch.device("cuda")
    print(f"# device: {torch.cuda.get_device_name()}, torch {torch.__version__}")
    print(
        "case,err_y,err_grad_x,err_grad_w,fwd_triton_ms,fwd_dft_ms,fwd_fft_ms,fwdbwd_triton_ms,fwdbwd_dft_ms,fwdbwd_fft_ms"
    )
    rtol = TOLERANCES[torch.float32][0]
    worst = 0.0
    for name, grid, out, n_modes, ch, batch, diagonal in CASES:
        modes = ss.ModeSet.box(n_modes)
        g = torch.Generator(device="cpu").manual_seed(0)
        x = torch.randn(batch, ch, *grid, generator=g, dtype=torch.float64).to(dev)
        wshape = (len(modes), ch) if diagonal else (len(modes), ch, ch)
        w = (torch.randn(*wshape, generator=g, dtype=torch.complex128) / ch**0.5).to(dev)
        b = torch.randn(ch, generator=g, dtype=torch.float64).to(dev)

        def run(backend: str, dtype: torch.dtype, x=x, w=w, b=b, modes=modes, out=out):
            xx = x.detach().to(dtype).requires_grad_()
            ww = w.detach().to(torch.complex128 if dtype == torch.float64 else torch.complex64).requires_grad_()
            y = sparse_spectral_conv(xx, ww, modes, b.to(dtype), output_shape=out, backend=backend)
            y.backward(torch.ones_like(y))
            return y, xx.grad, ww.grad

        ref = run("fft", torch.float64)
        got = run("triton", torch.float32)
        errs = [relative_error(a, r) for a, r in zip(got, ref)]
        worst = max(worst, *errs)
        times = []
        for with_backward in (False, True):
            for backend in ("triton", "dft", "fft"):
                x32, w32, b32 = x.detach().float(), w.detach().to(torch.complex64), b.float()
                if with_backward:
                    x32.requires_grad_()
                    w32.requires_grad_()

                def step(backend=backend, with_backward=with_backward, x32=x32, w32=w32, b32=b32, modes=modes, out=out):
                    y = sparse_spectral_conv(x32, w32, modes, b32, output_shape=out, backend=backend)
                    if with_backward:
                        y.sum().backward()

                try:
                    times.append(1e3 * _time(step, args.repeat))
                except ValueError:  # a backend that refuses the case
                    times.append(float("nan"))
        print(name + "," + ",".join(f"{e:.2e}" for e in errs) + "," + ",".join(f"{t:.3f}" for t in times))
    print(f"# worst relative error {worst:.2e} (float32 tolerance {rtol:.0e})")
    return 0 if worst <= rtol else 1


if __name__ == "__main__":
    sys.exit(main())
