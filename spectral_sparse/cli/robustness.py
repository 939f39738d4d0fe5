"""``spectral-sparse robustness``: the source x target resolution matrix of robust accuracy, and corruption accuracy.

An attack is crafted at every source grid and its adversarial images are moved
(``--transfer-method``) to every target grid, where the model classifies them
(:func:`spectral_sparse.attacks.robustness_matrix`). Then the test images at
``--corruption-resolution`` are corrupted (:mod:`spectral_sparse.attacks.corruptions`)
at every severity. Writes, like the other analysis subcommands, ``results.json``
(everything: the matrix and the corruption rows) and ``results.csv`` (the matrix
rows), and also ``matrix.json``, ``matrix.csv``, ``matrix.png`` (heat map),
``corruptions.csv`` and ``corruptions.json``.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..data.mnist import SPLIT_NOTE
from ._common import CLIError, describe_attack, positive_int, prepare_run, save_figure, write_csv, write_json
from ._shared import add_attack_arguments, build_attack, load_attacked

HELP = "resolution matrix of robust accuracy (heat map) and accuracy under common corruptions"
DESCRIPTION = (
    "Craft an attack at each --sources grid, evaluate it at each --targets grid, and measure accuracy under "
    "the corruption suite (5 severities) at --corruption-resolution. Writes results.json, results.csv, "
    "matrix.json, matrix.csv, matrix.png, corruptions.json and corruptions.csv to --out. MNIST: " + SPLIT_NOTE + "."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``robustness``."""
    add_attack_arguments(parser)
    parser.add_argument("--sources", type=positive_int, nargs="+", default=[14, 28, 56], metavar="N")
    parser.add_argument("--targets", type=positive_int, nargs="+", default=None, metavar="N", help="[the sources]")
    parser.add_argument("--transfer-method", default=None, help="how adversarial images move grids [--method]")
    parser.add_argument(
        "--corruptions", nargs="*", default=None, metavar="NAME", help="corruption names (default: all; none: skip)"
    )
    parser.add_argument("--severities", type=positive_int, nargs="+", default=[1, 2, 3, 4, 5], metavar="S")
    parser.add_argument("--corruption-resolution", type=positive_int, default=28, help="grid of the corruptions [28]")


def plot_matrices(panels: Sequence[tuple[str, dict[str, Any]]], path: Path, title: str = "", ncols: int = 4) -> None:
    """Heat maps of robust accuracy (%, rows: source grid, columns: target), one panel per ``(name, result)``."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    n = len(panels)
    ncols = min(ncols, n)
    nrows = -(-n // ncols)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(3.3 * ncols, 3.1 * nrows + 0.4), squeeze=False, constrained_layout=True
    )
    for ax in axes.flat[n:]:
        ax.axis("off")
    for ax, (name, res) in zip(axes.flat, panels):
        m = 100 * res["matrix"].double().numpy()
        ax.imshow(m, cmap="viridis", vmin=0, vmax=100)
        for i in range(m.shape[0]):
            for j in range(m.shape[1]):
                ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", color="w" if m[i, j] < 60 else "k")
        ax.set_xticks(range(m.shape[1]), [str(t) for t in res["targets"]])
        ax.set_yticks(range(m.shape[0]), [str(s) for s in res["sources"]])
        ax.set_xlabel("evaluated at")
        ax.set_ylabel("crafted at")
        ax.set_title(name, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=9)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def format_matrix(res: dict[str, Any]) -> str:
    """Text table of a :func:`~spectral_sparse.attacks.robustness_matrix` result (robust accuracy %)."""
    head = f"{'crafted at':>10} |" + "".join(f"{t!s:>8}" for t in res["targets"])
    lines = [head, "-" * len(head)]
    for i, s in enumerate(res["sources"]):
        lines.append(f"{s!s:>10} |" + "".join(f"{100 * float(v):8.1f}" for v in res["matrix"][i]))
    clean = {r["resolution"]: r["accuracy"] for r in res["clean"]}
    lines.append(f"{'clean':>10} |" + "".join(f"{100 * clean[t]:8.1f}" for t in res["targets"]))
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Matrix and corruptions; print tables; write the results files and the heat map."""
    from ..attacks import corrupt, evaluate_corruptions, robustness_matrix
    from ..data.transforms import resize

    t0 = time.perf_counter()
    env = prepare_run(args)
    model, meta, x, y = load_attacked(args)
    attack = build_attack(args, model)
    if args.corruptions:
        for name in args.corruptions:
            try:
                corrupt(x[:1], name, 1)
            except ValueError as err:
                raise CLIError(str(err)) from None
    try:
        res = robustness_matrix(
            model,
            x,
            y,
            attack,
            args.sources,
            args.targets,
            method=args.method,
            transfer_method=args.transfer_method,
            batch_size=args.batch_size,
            progress=not args.no_progress,
        )
    except ValueError as err:
        raise CLIError(str(err)) from None
    facts = describe_attack(attack)
    out = args.out
    common = {**env, **facts, "checkpoint": str(args.checkpoint), "split": meta.get("split", "")}
    matrix = {k: v for k, v in res.items() if k != "matrix"}
    matrix_rows = [{**r, "attack": facts["attack"], "eps": facts["eps"]} for r in res["rows"]]
    write_json(out / "matrix.json", {**common, **matrix})
    write_csv(out / "matrix.csv", matrix_rows)
    plot_matrices([(f"{facts['attack']} eps={args.eps}", res)], out / "matrix.png", str(args.checkpoint))
    print(f"Robust accuracy (%) under {facts['attack']} eps={args.eps} on {len(y)} test images")
    print(format_matrix(res))
    files = ["matrix.json", "matrix.csv", "matrix.png"]
    rows: list[dict[str, Any]] | None = None
    if args.corruptions is None or args.corruptions:
        xc = resize(x, args.corruption_resolution, method=args.method, clamp=(0.0, 1.0))
        try:
            rows = evaluate_corruptions(
                model,
                xc,
                y,
                args.corruptions,
                args.severities,
                seed=args.seed,
                batch_size=args.batch_size,
                progress=not args.no_progress,
            )
        except ValueError as err:
            raise CLIError(str(err)) from None
        write_csv(out / "corruptions.csv", rows)
        write_json(out / "corruptions.json", {**common, "rows": rows, "wall_seconds": time.perf_counter() - t0})
        files += ["corruptions.json", "corruptions.csv"]
        print(f"\nAccuracy (%) under corruptions at {args.corruption_resolution}x{args.corruption_resolution}")
        by_name: dict[str, dict[int, float]] = {}
        for r in rows:
            by_name.setdefault(r["corruption"], {})[r["severity"]] = r["accuracy"]
        for name, accs in by_name.items():
            print(f"{name:>15} " + " ".join(f"{100 * a:6.1f}" for a in accs.values()))
    # the files every analysis subcommand writes: results.json (everything) and results.csv (the main table)
    write_json(
        out / "results.json",
        {**common, "matrix": matrix, "corruptions": rows, "wall_seconds": time.perf_counter() - t0},
    )
    write_csv(out / "results.csv", matrix_rows)
    files = ["results.json", "results.csv", *files]
    if common["split"]:
        print(common["split"])
    print(f"Wrote {', '.join(files)} to {out}/")
    return 0
