"""The robustness benchmark's own logic: staged (gradual) pruning to a cumulative fraction, argument checks, report."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from experiments import robustness as rb
from spectral_sparse.models import SpectralClassifier


def test_staged_pruning_reaches_the_same_count_as_one_shot() -> None:
    torch.manual_seed(0)
    staged = SpectralClassifier(1, 10, width=4, modes=8.0, depth=4)
    one_shot = SpectralClassifier(1, 10, width=4, modes=8.0, depth=4)
    total = rb.n_modes(staged)
    assert total == 396
    kept = []
    for target in (0.5, 0.75, 0.9):
        info = rb.prune_to(staged, "magnitude", None, target, total)
        kept.append(rb.n_modes(staged))
        assert info["modes_after"] == kept[-1]
    assert kept == [198, 99, 40]
    rb.prune_to(one_shot)  # default: 90% of the current modes
    assert rb.n_modes(one_shot) == 40


@pytest.mark.parametrize("stages", [["0.5", "0.8"], ["0.75", "0.5", "0.9"], ["0", "0.9"], ["0.9", "0.9"]])
def test_bad_prune_stages_are_rejected(stages: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as err:
        rb.main(["--prune-stages", *stages, "--quick"])
    assert err.value.code == 2
    assert "--prune-stages must increase" in capsys.readouterr().err


def test_report_prints_gaps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rb, "RESULTS", tmp_path)
    rows = []
    for model, accs in (("a", [0.9, 0.8, 0.85, 0.95]), ("b", [0.88, 0.79, 0.85, 0.9])):
        cells = [(14, 14), (14, 28), (28, 14), (28, 28)]
        for (s, t), acc in zip(cells, accs):
            rows.append(
                {"model": model, "attack": "PGD", "source": s, "target": t, "robust_accuracy": acc,
                 "clean_accuracy": 0.99, "n": 100}
            )  # fmt: skip
    with (tmp_path / "robustness_matrix_x.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    assert rb.main(["--report", "a", "b"]) == 0
    out = capsys.readouterr().out
    assert "| a | PGD | 100 | 99.0-99.0 | 80.0 | 87.5 | 95.0 | 90.0 / 95.0 |" in out
    assert "b minus a, PGD (points): per cell -5.0 .. +0.0, mean -2.0, minimum of the matrix -1.0" in out
    with pytest.raises(SystemExit, match="no results for"):
        rb.main(["--report", "a", "nope"])


def _write(path: Path, rows: list[dict[str, object]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def test_run_folder_names() -> None:
    assert rb.run_name("_w32_gradual") == "w32_gradual"
    assert rb.run_name("") == rb.run_name("_") == "default"
    assert rb.run_name("x") == "x"
    assert rb.RESULTS.parts[-3:] == ("benchmarks", "results", "robustness")


def test_csvs_read_run_folders_and_flat_files(tmp_path: Path) -> None:
    row = {"model": "m", "attack": "PGD", "source": 14, "target": 14, "robust_accuracy": 0.5,
           "clean_accuracy": 0.9, "n": 10}  # fmt: skip
    runs = ("w32", "w32_gradual", "standard", "quick")
    flat = ("robustness_matrix_w32_s1.csv", "robustness_matrix_ref.csv", "robustness_matrix_x_quick.csv")
    for path in [f"{r}/matrix.csv" for r in runs] + list(flat):
        _write(tmp_path / path, [row])
    (tmp_path / rb.COMBINED).mkdir()
    (tmp_path / rb.COMBINED / "matrix.png").write_bytes(b"")
    names = lambda paths: [q.relative_to(tmp_path).as_posix() for q in paths]  # noqa: E731
    assert names(rb._csvs("matrix", None, tmp_path)) == [
        "standard/matrix.csv", "w32/matrix.csv", "w32_gradual/matrix.csv",
        "robustness_matrix_ref.csv", "robustness_matrix_w32_s1.csv",
    ]  # fmt: skip
    assert names(rb._csvs("matrix", True, tmp_path)) == [
        "w32/matrix.csv",
        "w32_gradual/matrix.csv",
        "robustness_matrix_w32_s1.csv",
    ]
    assert names(rb._csvs("matrix", False, tmp_path)) == ["standard/matrix.csv", "robustness_matrix_ref.csv"]
    assert rb._csvs("corruptions", None, tmp_path) == []


def test_report_reads_the_run_folders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(rb, "RESULTS", tmp_path)
    _write(
        tmp_path / "w32" / "matrix.csv",
        [{"model": "a", "attack": "PGD", "source": 14, "target": 14, "robust_accuracy": 0.5, "clean_accuracy": 0.9,
          "n": 10}],
    )  # fmt: skip
    _write(tmp_path / "w32" / "corruptions.csv", [
        {"model": "a", "corruption": "clean", "severity": 0, "accuracy": 0.9},
        {"model": "a", "corruption": "contrast", "severity": 1, "accuracy": 0.6},
    ])  # fmt: skip
    assert rb.main(["--report", "a"]) == 0
    out = capsys.readouterr().out
    assert "| a | PGD | 10 | 90.0-90.0 | 50.0 | 50.0 | 50.0 | 50.0 |" in out
    assert "| a | 90.0 | 60.0 | contrast 60.0 |" in out
