"""Drop-in layer: SparseSpectralConv in place of neuraloperator's SpectralConv.

1. One neuraloperator ``SpectralConv`` and its exact sparse twin
   (``SparseSpectralConv.from_neuralop``) give the same output on several grids.
2. Inside neuraloperator's ``FNO`` the spectral convolutions are swapped for their
   twins; the model's output does not change.
3. ``FNO(..., conv_module=ss.SparseSpectralConv)`` builds the FNO on sparse layers
   from the start, and a radial mode set keeps fewer modes than the box.

Run: python examples/drop_in_layer.py [--smoke] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
from pathlib import Path

import torch

import spectral_sparse as ss
from spectral_sparse.testing import TOLERANCES
from spectral_sparse.testing import relative_error as rel_diff  # max |a - b| / max |b|


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds on a CPU)")
    parser.add_argument("--out", type=Path, default=Path("examples_out/drop_in_layer"), help="folder for the plot")
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    from neuralop.layers.spectral_convolution import SpectralConv
    from neuralop.models import FNO

    width, n_modes = (4, (6, 6)) if args.smoke else (16, (12, 12))
    grids = [(16, 16), (24, 20)] if args.smoke else [(32, 32), (48, 40), (64, 64)]

    # 1. one layer: neuraloperator's SpectralConv and its exact sparse twin
    conv = SpectralConv(width, width, n_modes)
    twin = ss.SparseSpectralConv.from_neuralop(conv)
    print(f"SpectralConv {n_modes} -> SparseSpectralConv with {len(twin.modes)} canonical modes")
    diffs = []
    with torch.no_grad():
        for grid in grids:
            x = torch.randn(2, width, *grid)
            diffs.append(rel_diff(twin(x), conv(x)))
            print(f"  grid {grid}: relative difference {diffs[-1]:.1e}")

    # 2. inside neuraloperator's FNO: replace every spectral convolution by its twin
    fno = FNO(n_modes=n_modes, in_channels=1, out_channels=1, hidden_channels=width, n_layers=2)
    sparse_fno = copy.deepcopy(fno)
    for i, c in enumerate(sparse_fno.fno_blocks.convs):
        sparse_fno.fno_blocks.convs[i] = ss.SparseSpectralConv.from_neuralop(c)
    fno_diffs = []
    with torch.no_grad():
        for grid in grids:
            x = torch.randn(2, 1, *grid)
            fno_diffs.append(rel_diff(sparse_fno(x), fno(x)))
            print(f"FNO with sparse twins vs original FNO on {grid}: relative difference {fno_diffs[-1]:.1e}")

    # 3. build the FNO on sparse layers directly, then keep a disc of modes instead of the box
    model = FNO(
        n_modes=n_modes, in_channels=1, out_channels=1, hidden_channels=width, n_layers=2,
        conv_module=ss.SparseSpectralConv,
    )  # fmt: skip
    box = len(model.fno_blocks.convs[0].modes)
    radial = ss.ModeSet.radial(n_modes[0] / 2, ndim=2)
    for c in model.fno_blocks.convs:
        c.set_modes(radial)
    print(f"FNO(conv_module=SparseSpectralConv): {box} modes per layer (box), {len(radial)} after set_modes(radial)")
    with torch.no_grad():
        print("  output shapes:", [tuple(model(torch.randn(1, 1, *g)).shape) for g in grids])

    # plot: the kept modes of the box and of the disc
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    fig, ax = plt.subplots(figsize=(4, 4))
    for modes, label, marker in [(twin.modes, "box (neuraloperator)", "s"), (radial, "radial", "o")]:
        k = modes.indices
        ax.scatter(k[:, 1], k[:, 0], marker=marker, label=f"{label}: {len(modes)}", alpha=0.6)
    ax.set_xlabel("k_last")
    ax.set_ylabel("k_first")
    ax.set_title("canonical modes kept")
    ax.legend(fontsize=8)
    path = args.out / "drop_in_layer.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"wrote {path}")
    rtol = TOLERANCES[torch.float32][0]  # the library's float32 tolerance for backend-vs-reference comparisons
    if max(diffs + fno_diffs) > rtol:
        raise SystemExit(f"the sparse twins differ from neuraloperator by {max(diffs + fno_diffs):.1e} > {rtol:.0e}")


if __name__ == "__main__":
    main()
