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
from ._common import (
    ATTACKS,
    CLIError,
    describe_attack,
    make_attack,
    non_negative_float,
    positive_int,
    prepare_run,
    save_figure,
    write_csv,
    write_json,
)

HELP = "attack a saved classifier (FGSM, PGD, FourierPGD) at several resolutions; JSON, CSV and example PNG"
DESCRIPTION = (
    "Load a checkpoint written by 'spectral-sparse train', attack its test split (first --n-test images) at "
    "every --resolutions grid and report clean and robust accuracy. Inputs are in [0, 1]. Writes results.json, "
    "results.csv and examples.png to --out. MNIST: " + SPLIT_NOTE + "."
)


def add_attack_arguments(parser: argparse.ArgumentParser) -> None:
    """Checkpoint, data and attack options shared by ``attack`` and ``robustness``."""
    parser.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="checkpoint.pt written by train")
    parser.add_argument("--attack", choices=ATTACKS, default="pgd", help="attack [pgd]")
    parser.add_argument("--eps", type=non_negative_float, default=0.1, help="budget [0.1]")
    parser.add_argument("--alpha", type=non_negative_float, default=None, help="step size [2.5 eps / steps]")
    parser.add_argument("--steps", type=positive_int, default=20, help="iterations (PGD, FourierPGD) [20]")
    parser.add_argument(
        "--norm", default=None, help="PGD: linf or l2 [linf]; FourierPGD: l2 or linf-coeff (function space) [l2]"
    )
    parser.add_argument("--fourier-modes", type=non_negative_float, default=6.0, help="FourierPGD mode radius [6]")
    parser.add_argument("--no-random-start", action="store_true", help="start PGD at the clean image")
    parser.add_argument("--n-test", type=positive_int, default=200, help="attack the first N test images [200]")
    parser.add_argument("--batch-size", type=positive_int, default=50, help="images attacked at a time [50]")
    parser.add_argument("--method", default="fourier", help="resize method that puts the test set on a grid [fourier]")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="MNIST directory (default: the checkpoint's, else the default)"
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``attack``."""
    add_attack_arguments(parser)
    parser.add_argument(
        "--resolutions", type=positive_int, nargs="+", default=[28], metavar="N", help="grids to attack at [28]"
    )


def load(args: argparse.Namespace) -> tuple[Any, dict[str, Any], Any, Any]:
    """``model, metadata, x_test, y_test`` (test images clamped to [0, 1]); CLIError for bad files or data."""
    from ..checkpoint import load_checkpoint
    from .evaluate import _test_set

    try:
        model, meta = load_checkpoint(args.checkpoint)
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(str(err)) from None
    model.to(args.device)
    x, y = _test_set(meta, argparse.Namespace(**{**vars(args), "n_test": args.n_test}))
    return model, meta, x.clamp(0, 1), y


def build_attack(args: argparse.Namespace, model: Any) -> Any:
    """The attack named by ``--attack`` with its options, bound to ``model``; CLIError for bad combinations."""
    return make_attack(
        model,
        args.attack,
        args.eps,
        alpha=args.alpha,
        steps=args.steps,
        norm=args.norm,
        fourier_modes=args.fourier_modes,
        random_start=not args.no_random_start,
        seed=args.seed,
    )


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
