"""``spectral-sparse attack``: robust accuracy of a saved classifier under an adversarial attack, per resolution.

The checkpoint (written by ``spectral-sparse train``) names its data set; its
test images are resized to every ``--resolutions`` grid (clamped to [0, 1]) and
attacked there white-box (FGSM, PGD or FourierPGD). Writes ``results.json``,
``results.csv`` and ``examples.png`` (clean image, adversarial image and
perturbation at each grid).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from ..data.mnist import SPLIT_NOTE
from ._common import CLIError, describe_attack, positive_int, prepare_run, save_figure, write_csv, write_json
from ._shared import add_attack_arguments, build_attack, load_attacked

HELP = "attack a saved classifier (FGSM, PGD, FourierPGD) at several resolutions; JSON, CSV and example PNG"
DESCRIPTION = (
    "Load a checkpoint written by 'spectral-sparse train', attack its test split (first --n-test images) at "
    "every --resolutions grid and report clean and robust accuracy. Inputs are in [0, 1]. Writes results.json, "
    "results.csv and examples.png to --out. MNIST: " + SPLIT_NOTE + "."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``attack``."""
    add_attack_arguments(parser)
    parser.add_argument(
        "--resolutions", type=positive_int, nargs="+", default=[28], metavar="N", help="grids to attack at [28]"
    )


#: ``model, metadata, x_test, y_test`` (images clamped to [0, 1]): :func:`~spectral_sparse.cli._shared.load_attacked`.
load = load_attacked


#: Plain facts about an attack for the results files (:func:`~spectral_sparse.cli._common.describe_attack`).
describe = describe_attack


def plot_examples(examples: list[tuple[int, Any, Any]], path: Path, title: str) -> None:
    """One column per grid: clean image, adversarial image, perturbation (symmetric colour scale)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, len(examples), figsize=(2.4 * len(examples), 7.2), squeeze=False)
    for j, (res, clean, adv) in enumerate(examples):
        delta = (adv - clean)[0].numpy()
        lim = max(float(abs(delta).max()), 1e-6)
        axes[0, j].imshow(clean[0].numpy(), cmap="gray", vmin=0, vmax=1)
        axes[1, j].imshow(adv[0].numpy(), cmap="gray", vmin=0, vmax=1)
        axes[2, j].imshow(delta, cmap="RdBu_r", vmin=-lim, vmax=lim)
        axes[0, j].set_title(f"{res}x{res}")
        axes[2, j].set_xlabel(f"max |delta| = {lim:.3f}")
        for ax in axes[:, j]:
            ax.set_xticks([])
            ax.set_yticks([])
    for i, name in enumerate(("clean", "adversarial", "perturbation")):
        axes[i, 0].set_ylabel(name)
    fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def run(args: argparse.Namespace) -> int:
    """Attack at every grid; print a table; write results.json, results.csv and examples.png."""
    from ..attacks import accuracy, robust_accuracy
    from ..data.transforms import resize

    t0 = time.perf_counter()
    env = prepare_run(args)
    model, meta, x, y = load(args)
    attack = build_attack(args, model)
    rows, examples = [], []
    for res in args.resolutions:
        xr = resize(x, res, method=args.method, clamp=(0.0, 1.0))
        try:
            robust = robust_accuracy(model, xr, y, attack, args.batch_size, progress=not args.no_progress)
            adv = attack(xr[:1], y[:1])
        except ValueError as err:
            raise CLIError(f"at {res}x{res}: {err}") from None
        rows.append(
            {
                "resolution": res,
                "clean_accuracy": accuracy(model, xr, y, args.batch_size),
                "robust_accuracy": robust,
                "n": len(y),
            }
        )
        examples.append((res, xr[0].cpu(), adv[0].cpu()))
    facts = describe(attack)
    results = {
        **env,
        **facts,
        "checkpoint": str(args.checkpoint),
        "model": meta.get("model"),
        "split": meta.get("split", ""),
        "method": args.method,
        "rows": rows,
        "wall_seconds": time.perf_counter() - t0,
    }
    out = args.out
    write_json(out / "results.json", results)
    write_csv(out / "results.csv", [{**r, "attack": facts["attack"], "eps": facts["eps"]} for r in rows])
    plot_examples(examples, out / "examples.png", f"{facts['attack']} eps={args.eps} on {args.checkpoint}")
    print(f"{facts['attack']} (eps={args.eps}, steps={facts.get('steps', 1)}) on {len(y)} test images")
    print(f"{'resolution':>10} {'clean %':>9} {'robust %':>9}")
    for r in rows:
        print(f"{r['resolution']:>10} {100 * r['clean_accuracy']:9.2f} {100 * r['robust_accuracy']:9.2f}")
    if results["split"]:
        print(results["split"])
    print(f"Wrote results.json, results.csv and examples.png to {out}/")
    return 0
