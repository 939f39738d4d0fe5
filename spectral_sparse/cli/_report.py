"""Tables, sentences and plots for the demo's accuracy-versus-resolution results."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ._common import save_figure

__all__ = ["format_table", "plot_results", "summary_sentence"]

_COLUMNS = (
    ("resolution", "resolution"),
    ("spectral_accuracy", "spectral acc"),
    ("cnn_accuracy", "CNN acc"),
    ("spectral_agreement", "spectral agree"),
    ("cnn_agreement", "CNN agree"),
)


def format_table(rows: Sequence[dict[str, Any]], train_name: str) -> str:
    """A fixed-width text table; the training grid is marked with ``*``.

    Examples
    --------
    >>> row = {"resolution": "28x28", "spectral_accuracy": 0.9, "cnn_accuracy": 0.8,
    ...        "spectral_agreement": 1.0, "cnn_agreement": 1.0}
    >>> print(format_table([row], "28x28"))
    resolution  spectral acc   CNN acc  spectral agree  CNN agree
    28x28 *            0.900     0.800           1.000      1.000
    (agree: fraction of test shapes given the same class as at the training grid 28x28, marked *)
    """
    widths = [max(len(title), 8) for _, title in _COLUMNS]
    lines = [
        "  ".join(
            title.ljust(w) if i == 0 else title.rjust(w) for i, ((_, title), w) in enumerate(zip(_COLUMNS, widths))
        )
    ]
    for row in rows:
        name = row["resolution"] + (" *" if row["resolution"] == train_name else "")
        cells = [name.ljust(widths[0])] + [f"{row[key]:.3f}".rjust(w) for (key, _), w in zip(_COLUMNS[1:], widths[1:])]
        lines.append("  ".join(cells))
    lines.append(
        f"(agree: fraction of test shapes given the same class as at the training grid {train_name}, marked *)"
    )
    return "\n".join(lines)


def summary_sentence(rows: Sequence[dict[str, Any]], train_name: str, n_classes: int) -> str:
    """One sentence stating what the numbers show, worded from the numbers themselves."""
    others = [r for r in rows if r["resolution"] != train_name]
    if not others:
        return f"Only the training grid {train_name} was evaluated, so there is nothing to compare across grids."

    def span(key: str) -> tuple[float, float]:
        values = [r[key] for r in others]
        return min(values), max(values)

    s_agree, c_agree = span("spectral_agreement"), span("cnn_agreement")
    s_acc, c_acc = span("spectral_accuracy"), span("cnn_accuracy")
    grids = ", ".join(r["resolution"] for r in others)

    def fmt(lo_hi: tuple[float, float], spec: str) -> str:
        lo, hi = (format(v, spec) for v in lo_hi)
        return lo if lo == hi else f"{lo}-{hi}"

    facts = (
        f"on the other grids ({grids}) the spectral model gives the same class as at {train_name} for "
        f"{fmt(s_agree, '.1%')} of test shapes (accuracy {fmt(s_acc, '.3f')}), "
        f"the CNN for {fmt(c_agree, '.1%')} (accuracy {fmt(c_acc, '.3f')})"
    )
    train = next(r for r in rows if r["resolution"] == train_name)
    chance = 1.0 / n_classes
    if min(train["spectral_accuracy"], train["cnn_accuracy"]) < chance + 0.2:
        verdict = (
            f"but at least one model is barely better than chance ({chance:.2f}) at its training grid, "
            "so agreement says little here (train longer than --quick)"
        )
    elif s_agree[0] >= 0.95 and c_agree[0] < s_agree[0] - 0.1:
        verdict = (
            "the spectral model computes (nearly) the same function of the image on every grid, "
            "while the CNN, whose kernels are defined in pixels, does not"
        )
    elif s_agree[0] >= 0.95 and c_agree[0] >= 0.95:
        verdict = "both models are nearly resolution-invariant in this run"
    else:
        verdict = "the spectral model is not clearly resolution-invariant in this run (too little training?)"
    return f"Trained only at {train_name}: {facts}; {verdict}."


def plot_results(rows: Sequence[dict[str, Any]], train_name: str, path: Path, n_classes: int) -> None:
    """Accuracy and agreement against resolution (``sqrt(H W)``, log axis), one PNG with two panels."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    square = sorted((r for r in rows if r["height"] == r["width"]), key=lambda r: r["height"])
    other = [r for r in rows if r["height"] != r["width"]]
    train = next(r for r in rows if r["resolution"] == train_name)
    fig, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    styles = {"spectral": ("tab:blue", "o", "SpectralClassifier"), "cnn": ("tab:orange", "s", "CNNClassifier")}
    for ax, metric, title in (
        (axes[0], "accuracy", "test accuracy"),
        (axes[1], "agreement", f"agreement with own {train_name} predictions"),
    ):
        for model, (color, marker, label) in styles.items():
            key = f"{model}_{metric}"
            ax.plot([r["height"] for r in square], [r[key] for r in square], marker=marker, color=color, label=label)
            for r in other:
                ax.scatter(
                    (r["height"] * r["width"]) ** 0.5, r[key], marker=marker, facecolors="none", edgecolors=color, s=70
                )
                ax.annotate(
                    r["resolution"],
                    ((r["height"] * r["width"]) ** 0.5, r[key]),
                    fontsize=7,
                    textcoords="offset points",
                    xytext=(5, -10),
                )
        ax.axvline((train["height"] * train["width"]) ** 0.5, color="gray", ls="--", lw=1, label=f"train {train_name}")
        ax.set_xscale("log")
        xs = sorted({r["height"] for r in square} | {round((r["height"] * r["width"]) ** 0.5) for r in other})
        ax.set_xticks(xs, [str(x) for x in xs], minor=False)
        ax.minorticks_off()
        ax.set_ylim(-0.02, 1.02)
        ax.set_xlabel("pixels per side (hollow: non-square, at sqrt(H W))")
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0].axhline(1.0 / n_classes, color="gray", ls=":", lw=1, label="chance")
    axes[0].legend(loc="center right")
    fig.suptitle("Trained at one resolution, tested at many: band-limited analytic shapes")
    save_figure(fig, path, dpi=120)
    plt.close(fig)
