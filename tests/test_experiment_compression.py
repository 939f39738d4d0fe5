"""experiments.compression: the goal test, the docs table and the plot (no training here)."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from experiments import compression


def _row(name: str, ratio: float, accs: dict[int, float]) -> dict:
    return {
        "model": name,
        "modes": 396,
        "values": 1000,
        "checkpoint_bytes": int(1_000_000 * ratio),
        "bytes_ratio": ratio,
        **{f"acc_{r}": accs.get(r, 0.98) for r in compression.RESOLUTIONS},
    }


def test_goal_needs_both_the_size_and_every_grid_from_20() -> None:
    rows = compression.score([
        _row("dense", 1.0, {}),
        _row("small-close", 0.04, {14: 0.90}),  # 14 is below the goal's grids: ignored
        _row("small-far-at-112", 0.04, {112: 0.965}),
        _row("big-close", 0.2, {}),
        _row("edge", 0.05, {20: 0.97}),  # exactly 1 point and exactly 1/20
    ])  # fmt: skip
    met = {r["model"]: r["goal_met"] for r in rows}
    assert met == {"dense": False, "small-close": True, "small-far-at-112": False, "big-close": False, "edge": True}
    assert rows[2]["max_drop_from_20"] == pytest.approx(0.015)


def test_table_and_plot_from_a_results_csv(tmp_path: Path) -> None:
    rows = compression.score([_row("dense", 1.0, {}), _row("pruned90+int8", 0.031, {28: 0.975})])
    path = tmp_path / "mnist.csv"
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    text = compression.table(path)
    assert "| pruned90+int8 | 396 | 1,000 | 30 KiB | 1/32.3 |" in text and "97.50" in text
    compression.plot(path, tmp_path / "mnist.png")
    assert (tmp_path / "mnist.png").stat().st_size > 1000


def test_parser_refuses_bad_arguments() -> None:
    with pytest.raises(SystemExit):
        compression.build_parser().parse_args(["--phase", "nope"])
    with pytest.raises(SystemExit, match="--amount"):
        compression.main(["--amount", "1.5", "--phase", "report"])
