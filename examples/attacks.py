"""Attacks across resolutions: craft at one grid, evaluate at another.

A small spectral classifier is trained on analytic shapes at 28x28. Then:

1. PGD (L-inf, pixel space) crafts adversarial images at 28x28; ``attacks.transfer``
   moves them to 56x56 by exact trigonometric interpolation, and the model is
   evaluated at both grids.
2. FourierPGD crafts a band-limited perturbation given by Fourier coefficients (a
   function, not a pixel array), so the same perturbation can be rendered on any
   grid and added to the same shapes sampled there.

The shapes take values slightly outside [0, 1], so the attacks run with
``domain=None`` (no clamping).

Run: python examples/attacks.py [--smoke] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import spectral_sparse as ss
from spectral_sparse import attacks


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds on a CPU)")
    parser.add_argument("--eps", type=float, default=0.1, help="L-inf budget of PGD")
    parser.add_argument("--out", type=Path, default=Path("examples_out/attacks"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    n_train, n_test, epochs, steps = (128, 32, 1, 2) if args.smoke else (3000, 500, 8, 20)

    x_train, y_train = ss.data.make_shapes(n_train, 28, seed=0)
    model = ss.models.SpectralClassifier(1, len(ss.data.CLASSES), width=16, modes=4.0, depth=3)
    ss.training.train_classifier(model, x_train, y_train, epochs=epochs, batch_size=32, lr=1e-2, progress=False)
    model.eval()

    # the same test shapes (seed 1) sampled at the attack grid and at a finer one
    x28, y = ss.data.make_shapes(n_test, 28, seed=1)
    x56, _ = ss.data.make_shapes(n_test, 56, seed=1)
    acc = attacks.accuracy

    # 1. pixel-space PGD at 28x28, moved to 56x56
    pgd = attacks.PGD(model, eps=args.eps, alpha=2.5 * args.eps / steps, steps=steps, domain=None)
    adv28 = pgd(x28, y)
    adv56 = attacks.transfer(adv28, (56, 56))
    print(f"clean accuracy:         28x28 {acc(model, x28, y):.3f}   56x56 {acc(model, x56, y):.3f}")
    print(f"PGD crafted at 28x28:   28x28 {acc(model, adv28, y):.3f}   56x56 (transferred) {acc(model, adv56, y):.3f}")

    # 2. a function-space perturbation: coefficients on a few modes, rendered on any grid
    fpgd = attacks.FourierPGD(model, eps=0.5, steps=steps, modes=4.0, norm="l2", domain=None)
    coeffs = fpgd.perturbation(x28, y)  # (B, C, K) complex, grid-free
    f28, f56 = fpgd.apply(x28, coeffs), fpgd.apply(x56, coeffs)
    print(f"FourierPGD (L2 function norm 0.5): 28x28 {acc(model, f28, y):.3f}   56x56 {acc(model, f56, y):.3f}")
    diff = (ss.resample(fpgd.render(coeffs, 28), (56, 56)) - fpgd.render(coeffs, 56)).abs().max().item()
    print(f"the rendered perturbation is one function: 28x28 interpolated to 56x56 vs rendered at 56x56 {diff:.1e}")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    panels = [
        (x28[0, 0], "clean 28x28"),
        (adv28[0, 0] - x28[0, 0], "PGD perturbation 28x28"),
        (adv56[0, 0] - x56[0, 0], "PGD transferred, 56x56"),
        (fpgd.render(coeffs, 28)[0, 0], "FourierPGD at 28x28"),
        (fpgd.render(coeffs, 56)[0, 0], "FourierPGD at 56x56"),
    ]
    fig, axes = plt.subplots(1, len(panels), figsize=(3 * len(panels), 3))
    for ax, (img, title) in zip(axes, panels):
        ax.imshow(img.detach(), cmap="gray" if title.startswith("clean") else "RdBu")
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    path = args.out / "attacks.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
