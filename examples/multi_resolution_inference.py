"""Multi-resolution inference: one classifier, inputs on mixed grids, one call.

A small spectral classifier is trained on analytic shapes rendered at 28x28. The same
test shapes are then rendered on other grids (finer, coarser, non-square) and
``ss.predict`` classifies all batches in one call: it groups them by shape and picks
the backend of every spectral layer per shape. Because each shape is a continuous
function, the prediction should not depend on the grid it was sampled on.

Run: python examples/multi_resolution_inference.py [--smoke] [--out DIR]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import spectral_sparse as ss


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds on a CPU)")
    parser.add_argument("--out", type=Path, default=Path("examples_out/multi_resolution_inference"))
    args = parser.parse_args(argv)
    torch.manual_seed(0)
    torch.set_num_threads(1)
    n_train, n_test, epochs = (128, 50, 1) if args.smoke else (3000, 1000, 8)

    # train at 28x28 only
    x_train, y_train = ss.data.make_shapes(n_train, 28, seed=0)
    model = ss.models.SpectralClassifier(1, len(ss.data.CLASSES), width=16, modes=4.0, depth=3)  # the demo's model
    ss.training.train_classifier(model, x_train, y_train, epochs=epochs, batch_size=32, lr=1e-2, progress=False)

    # the same test functions (seed 1) sampled on several grids; make_shapes needs > 2*kmax points per axis
    grids = [(28, 28), (16, 16), (56, 56), (20, 33)]
    batches, labels = [], None
    for grid in grids:
        x, labels = ss.data.make_shapes(n_test, grid, seed=1)
        batches.append(x)
    predictions = ss.predict(model, batches)  # one call, mixed grids; a list in the input order
    print("grid      accuracy  agreement with 28x28")
    acc, agree = [], []
    for grid, p in zip(grids, predictions):
        acc.append((p == labels).float().mean().item())
        agree.append((p == predictions[0]).float().mean().item())
        print(f"{grid[0]:>3}x{grid[1]:<4}  {acc[-1]:8.3f}  {agree[-1]:8.3f}")
    print("backends chosen per layer at 56x56:", ss.inference.plan_backends(model, (1, 1, 56, 56)))

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, len(grids) + 1, figsize=(3 * (len(grids) + 1), 3))
    for ax, grid, x in zip(axes, grids, batches):
        ax.imshow(x[0, 0], cmap="gray")
        ax.set_title(f"{grid[0]}x{grid[1]}")
        ax.axis("off")
    names = [f"{g[0]}x{g[1]}" for g in grids]
    axes[-1].bar(names, acc, label="accuracy")
    axes[-1].plot(names, agree, "ko-", label="agreement with 28x28")
    axes[-1].set_ylim(0, 1.05)
    axes[-1].legend(fontsize=7)
    path = args.out / "multi_resolution_inference.png"
    fig.savefig(path, dpi=100, bbox_inches="tight")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
