"""Inverse problems at any resolution: deblurring trained at 32x32, used at 64x64.

``make_physics("deblur", grid, width=...)`` builds deepinv's blur with the kernel width
given in units of the field of view, so the 32x32 and the 64x64 operators are samples
of the same continuous operator. A small reconstructor (deepinv's ``ArtifactRemoval``
around a ``SpectralDenoiser``) is trained at 32x32 on analytic shapes (any grid, no
download; ``spectral_sparse.inverse.ground_truth`` gives photographs and phantoms) and
then applied, unchanged, to measurements at 64x64.

Run: python examples/inverse_problem.py [--smoke] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import spectral_sparse as ss
from spectral_sparse.inverse import SpectralDenoiser, artifact_removal, make_physics


def psnr(x: torch.Tensor, ref: torch.Tensor) -> float:
    """Peak signal-to-noise ratio in dB with peak 1, averaged over the batch."""
    mse = (x - ref).square().flatten(1).mean(1)
    return (10 * torch.log10(1 / mse)).mean().item()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds on a CPU)")
    parser.add_argument("--out", type=Path, default=Path("examples_out/inverse_problem"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    n_train, n_test, steps = (32, 4, 5) if args.smoke else (1000, 100, 600)

    # the same continuous blur (Gaussian, width 6% of the field of view, noise 0.01) at two grids
    physics = {grid: make_physics("deblur", grid, width=0.06, noise_sigma=0.01) for grid in (32, 64)}
    x_train, _ = ss.data.make_shapes(n_train, 32, seed=0)
    y_train = physics[32](x_train)  # deepinv physics: measurements y = A x

    denoiser = SpectralDenoiser(width=8 if args.smoke else 24, modes=8.0, depth=2)
    model = artifact_removal(denoiser, physics[32].input_mode)  # applies the net to A^T y (the "adjoint" input)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    gen = torch.Generator().manual_seed(0)
    for step in range(steps):
        idx = torch.randint(n_train, (16,), generator=gen)
        loss = torch.nn.functional.mse_loss(model(y_train[idx], physics[32]), x_train[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        if (step + 1) % max(1, steps // 5) == 0:
            print(f"step {step + 1}: training MSE {loss.item():.4f}")

    # evaluate at the training grid and at twice the resolution, same weights
    results = {}
    with torch.no_grad():
        for grid, phys in physics.items():
            x, _ = ss.data.make_shapes(n_test, grid, seed=1)
            y = phys(x)
            rec = model(y, phys)
            results[grid] = (x, y, rec)
            print(f"{grid}x{grid}: PSNR blurred {psnr(y, x):.2f} dB, reconstructed {psnr(rec, x):.2f} dB")

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(2, 3, figsize=(8, 5.5))
    for row, (grid, (x, y, rec)) in zip(axes, results.items()):
        for ax, img, title in zip(row, (x, y, rec), ("truth", "blurred", "reconstructed")):
            ax.imshow(img[0, 0], cmap="gray", vmin=0, vmax=1)
            ax.set_title(f"{title} {grid}x{grid}", fontsize=9)
            ax.axis("off")
    path = args.out / "inverse_problem.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
