"""``spectral-sparse prune``: end to end on a tiny checkpoint, pruned checkpoints that load, one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

import spectral_sparse.cli
from spectral_sparse.checkpoint import load_checkpoint
from spectral_sparse.cli import main

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TINY = ["--width", "6", "--modes", "3", "--depth", "2"]  # 15 modes per spectral layer
SHAPES = ["--data", "shapes", "--train-resolution", "16", "--n-train", "48", "--n-test", "32"]


@pytest.fixture(autouse=True)
def _register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(spectral_sparse.cli.SUBCOMMANDS, "prune", ".prune")


def _train(out: Path, *extra: str) -> Path:
    argv = ["train", "--epochs", "1", "--batch-size", "16", "--no-progress", "--out", str(out), *extra]
    assert main(argv) == 0
    return out / "checkpoint.pt"


def _prune(ckpt: Path, out: Path, *extra: str) -> int:
    return main(["prune", str(ckpt), "--no-progress", "--out", str(out), *extra])


def test_prune_shapes_end_to_end(tiny_checkpoint: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ckpt = tiny_checkpoint  # trained with SHAPES and TINY (tests/conftest.py)
    out = tmp_path / "pruned"
    assert _prune(ckpt, out, "--amount", "0.4", "--scope", "layer") == 0
    for name in ("checkpoint.pt", "results.json", "results.csv", "sparsity.csv"):
        assert (out / name).is_file(), name
    results = json.loads((out / "results.json").read_text())
    for key in ("accuracy_before", "accuracy_after", "report_before", "report_after", "history", "seed", "split"):
        assert key in results, key
    assert results["report_before"]["totals"]["modes_kept"] == 30
    assert [r["modes_kept"] for r in results["report_after"]["rows"]] == [9, 9]  # 0.4 * 15 = 6 removed per layer
    assert results["report_after"]["totals"]["flops"] < results["report_before"]["totals"]["flops"]
    with (out / "results.csv").open() as f:
        stages = list(csv.DictReader(f))
    assert [s["stage"] for s in stages] == ["before", "after"] and [s["modes"] for s in stages] == ["30", "18"]
    with (out / "sparsity.csv").open() as f:
        assert [r["name"] for r in csv.DictReader(f)] == ["spectral.0", "spectral.1", "total"]

    # the pruned checkpoint loads with its compacted layers and reproduces the reported accuracy
    model, meta = load_checkpoint(out / "checkpoint.pt")
    assert [len(layer.modes) for layer in model.spectral] == [9, 9]
    assert meta["modes_initial"] == {"spectral.0": 15, "spectral.1": 15}
    assert meta["pruning"][0]["accuracy_after"] == results["accuracy_after"]
    captured = capsys.readouterr().out
    assert "modes 30 -> 18" in captured and "spectral.1" in captured

    # prune again, with taylor scores, a schedule and fine-tuning; the original counts are kept
    out2 = tmp_path / "pruned2"
    argv = ["--amount", "0.5", "--criterion", "taylor", "--schedule", "gradual", "--steps", "2"]
    assert _prune(out / "checkpoint.pt", out2, *argv, "--fine-tune-epochs", "1", "--n-train", "32") == 0
    results = json.loads((out2 / "results.json").read_text())
    assert (
        results["report_after"]["totals"]["modes_kept"] == 9 and results["report_after"]["totals"]["modes_total"] == 30
    )
    assert [s["target"] for s in results["history"]["steps"]] == pytest.approx([0.5 * (1 - 0.5**3), 0.5])
    assert all("fine_tune_loss" in s for s in results["history"]["steps"])
    model2, meta2 = load_checkpoint(out2 / "checkpoint.pt")
    assert sum(len(layer.modes) for layer in model2.spectral) == 9 and len(meta2["pruning"]) == 2
    x = torch.randn(2, 1, 16, 16)
    assert model2(x).shape == (2, 6)


def test_prune_mnist_tiny(tmp_path: Path) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data directory {SHARED_DATA} (../shared/data) is absent")
    data = ["--data-dir", str(SHARED_DATA)]
    ckpt = _train(tmp_path / "m", "--data", "mnist", *data, "--n-train", "32", "--n-test", "20", *TINY)
    argv = ["--amount", "0.3", "--criterion", "energy", "--n-train", "32", "--n-test", "40", *data]
    assert _prune(ckpt, tmp_path / "p", *argv) == 0
    results = json.loads((tmp_path / "p" / "results.json").read_text())
    assert results["n_test"] == 40 and results["split"].startswith("MNIST: fixed split")
    assert results["report_after"]["totals"]["modes_kept"] == 30 - 9


def test_prune_errors_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cnn = _train(tmp_path / "cnn", *SHAPES, "--model", "cnn", "--cnn-widths", "4")
    assert _prune(cnn, tmp_path / "p") == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "spectral-sparse prune: error:" in err and "no Fourier modes to prune" in err
    assert _prune(tmp_path / "missing.pt", tmp_path / "p") == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.pt" in err and "does not exist" in err
    with pytest.raises(SystemExit) as exit_info:
        _prune(cnn, tmp_path / "p", "--amount", "1.0")
    assert exit_info.value.code == 2
    assert "expected a number in [0, 1)" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        _prune(cnn, tmp_path / "p", "--criterion", "l1")
    assert "invalid choice: 'l1'" in capsys.readouterr().err
