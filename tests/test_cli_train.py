"""``spectral-sparse train`` and ``evaluate``: smoke runs on tiny settings, and one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from spectral_sparse.cli import main

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
TINY_SPECTRAL = ["--width", "6", "--modes", "3", "--depth", "1"]


def _train(out: Path, *extra: str) -> int:
    return main(["train", "--epochs", "1", "--batch-size", "32", "--no-progress", "--out", str(out), *extra])


def test_train_then_evaluate_shapes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--data", "shapes", "--train-resolution", "20", "--n-train", "64", "--n-test", "32"]
    assert (
        _train(tmp_path / "spec", *common, "--model", "spectral", "--train-resolutions", "16", "20", *TINY_SPECTRAL)
        == 0
    )
    assert _train(tmp_path / "cnn", *common, "--model", "cnn", "--cnn-widths", "4", "8") == 0
    for name in ("spec", "cnn"):
        assert (tmp_path / name / "checkpoint.pt").is_file()
        hist = json.loads((tmp_path / name / "history.json").read_text())
        for key in ("history", "train_resolution", "seed", "split", "test_accuracy", "torch_version"):
            assert key in hist, key
        assert len(hist["history"]["loss"]) == 1
    assert json.loads((tmp_path / "spec" / "history.json").read_text())["train_resolutions"] == [16, 20]

    out = tmp_path / "eval"
    ckpts = [str(tmp_path / "spec" / "checkpoint.pt"), str(tmp_path / "cnn" / "checkpoint.pt")]
    argv = ["evaluate", *ckpts, "--resolutions", "16", "20", "40", "--convert-cnn", "--no-progress", "--out", str(out)]
    assert main(argv) == 0
    for name in ("results.json", "results.csv", "accuracy_vs_resolution.png"):
        assert (out / name).is_file(), name
    assert (out / "accuracy_vs_resolution.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((out / "results.json").read_text())
    for key in ("rows", "checkpoints", "method", "resolutions", "modes", "seed", "torch_version"):
        assert key in results, key
    lines = {(r["model"], r["mode"]) for r in results["rows"]}
    assert lines == {
        ("spec", "raw"),
        ("spec", "resize-first"),
        ("cnn", "raw"),
        ("cnn", "resize-first"),
        ("cnn->spectral", "raw"),
    }
    assert all(set(r) >= {"resolution", "accuracy", "n", "mode", "method", "model"} for r in results["rows"])
    with (out / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(results["rows"]) == 5 * 3
    # the converted CNN computes the CNN's function at its training grid
    acc = {(r["model"], r["mode"], r["resolution"]): r["accuracy"] for r in results["rows"]}
    assert acc[("cnn->spectral", "raw", 20)] == acc[("cnn", "raw", 20)]
    assert "spec" in capsys.readouterr().out


def test_train_mnist_tiny(tmp_path: Path) -> None:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data directory {SHARED_DATA} (../shared/data) is absent")
    out = tmp_path / "m"
    argv = ["--data", "mnist", "--data-dir", str(SHARED_DATA), "--n-train", "64", "--n-test", "50", *TINY_SPECTRAL]
    assert _train(out, *argv) == 0
    hist = json.loads((out / "history.json").read_text())
    assert hist["split"].startswith("MNIST: fixed split") and hist["n_train"] == 64
    ev = tmp_path / "e"
    argv = ["evaluate", str(out / "checkpoint.pt"), "--resolutions", "14", "28", "--mode", "raw", "--n-test", "50"]
    assert main([*argv, "--data-dir", str(SHARED_DATA), "--no-progress", "--out", str(ev)]) == 0
    rows = json.loads((ev / "results.json").read_text())["rows"]
    assert [(r["resolution"], r["n"], r["mode"]) for r in rows] == [(14, 50, "raw"), (28, 50, "raw")]


def test_missing_data_dir_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "no-such-dir"
    assert _train(tmp_path / "out", "--data", "mnist", "--data-dir", str(missing)) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert "spectral-sparse train: error:" in err and "no-such-dir" in err and "does not exist" in err


def test_bad_checkpoints_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "missing.pt"
    assert main(["evaluate", str(missing), "--no-progress", "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "missing.pt" in err and "does not exist" in err
    bad = tmp_path / "notes.txt"
    bad.write_text("not a checkpoint")
    assert main(["evaluate", str(bad), "--no-progress", "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "not a spectral_sparse checkpoint" in err


def test_train_sparse_optimizer_reaches_target_and_compacts(tmp_path: Path) -> None:
    from spectral_sparse.checkpoint import load_checkpoint

    common = ["--data", "shapes", "--train-resolution", "20", "--n-train", "256", "--n-test", "32", "--epochs", "2"]
    sparse = ["--optimizer", "linbreg", "--lr", "0.1", "--lam", "0.05", "--batch-size", "16"]
    steer = ["--target-sparsity", "0.5", "--control-interval", "1"]
    argv = [*common, "--width", "6", "--modes", "4", "--depth", "1", *sparse, *steer]
    assert _train(tmp_path / "lb", *argv) == 0
    hist = json.loads((tmp_path / "lb" / "history.json").read_text())
    facts = hist["sparse_training"]
    assert facts["optimizer"] == "linbreg" and facts["schedule"] == "constant"
    assert abs(facts["mode_sparsity"] - 0.5) <= 0.1, facts  # steered from dense to 0.5 (0.48 measured, seeds 0, 1)
    model = load_checkpoint(tmp_path / "lb" / "checkpoint.pt")[0]
    total = len(__import__("spectral_sparse").ModeSet.radial(4, ndim=2))
    kept = len(model.spectral[0].modes)
    assert kept == round((1 - facts["mode_sparsity"]) * total)  # compacted: zero modes are gone


def test_train_sparse_option_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--data", "shapes", "--train-resolution", "16", "--n-train", "32", "--n-test", "16", *TINY_SPECTRAL]
    assert _train(tmp_path / "a", *common, "--density", "0.5") == 1
    assert "need a sparse --optimizer" in capsys.readouterr().err
    assert _train(tmp_path / "b", *common[:-6], "--model", "cnn", "--optimizer", "adabreg") == 1
    assert "needs --model spectral" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        _train(tmp_path / "c", *common, "--optimizer", "linbreg", "--target-sparsity", "1.5")
    assert exc.value.code == 2
    assert "expected a number in [0, 1)" in capsys.readouterr().err
    assert _train(tmp_path / "d", *common, "--lr", "1e38", "--epochs", "3") == 1  # diverges: one line
    err = capsys.readouterr().err.strip()
    assert "training failed" in err or "NaN or infinite" in err or "diverged" in err
    assert len(err.splitlines()) == 1


def test_train_adversarial(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spectral_sparse.checkpoint import load_checkpoint

    common = ["--data", "shapes", "--train-resolution", "16", "--n-train", "64", "--n-test", "32", *TINY_SPECTRAL]
    adv = ["--attack", "pgd", "--eps", "0.05", "--attack-steps", "2", "--clean-weight", "0.5", "--epochs", "2"]
    assert _train(tmp_path / "adv", *common, "--train-resolutions", "12", "16", *adv) == 0
    assert "Adversarially trained with PGD" in capsys.readouterr().out
    hist = json.loads((tmp_path / "adv" / "history.json").read_text())
    facts = hist["adversarial_training"]
    assert facts["attack"] == "PGD" and facts["kind"] == "pgd" and facts["eps"] == 0.05 and facts["steps"] == 2
    assert facts["clean_weight"] == 0.5 and facts["norm"] == "linf" and facts["alpha"] == pytest.approx(0.0625)
    assert 0 <= facts["robust_test_accuracy"] <= hist["test_accuracy"] + 1e-9
    h = hist["history"]
    assert "adv_accuracy" in h and "train_accuracy" not in h and h["attack"] == "PGD" and h["domain"] == [0.0, 1.0]
    assert len(h["loss"]) == 2 and h["steps"] == 2 * 2 and sum(h["batches_per_resolution"].values()) == 4
    assert load_checkpoint(tmp_path / "adv" / "checkpoint.pt")[1]["adversarial_training"]["eps"] == 0.05
    # without --attack nothing changes, and that is recorded too
    assert _train(tmp_path / "plain", *common) == 0
    assert json.loads((tmp_path / "plain" / "history.json").read_text())["adversarial_training"] == {"attack": "none"}


def test_train_adversarial_option_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    common = ["--data", "shapes", "--train-resolution", "16", "--n-train", "32", "--n-test", "16", *TINY_SPECTRAL]
    for bad, message in [
        (["--attack", "cw"], "invalid choice: 'cw'"),
        (["--attack", "pgd", "--eps", "0"], "--eps: expected a positive number, got '0'"),
        (["--attack", "pgd", "--eps", "-0.1"], "--eps: expected a positive number"),
        (["--attack", "pgd", "--clean-weight", "1.5"], "--clean-weight: expected a number in [0, 1)"),
    ]:
        with pytest.raises(SystemExit) as exc:
            _train(tmp_path / "a", *common, *bad)
        assert exc.value.code == 2
        assert message in capsys.readouterr().err, bad
    for bad, message in [
        (["--eps", "0.1"], "--eps set but no adversarial training; add --attack pgd|fgsm|fourier-pgd"),
        (["--attack", "fgsm", "--attack-steps", "3"], "FGSM takes one step"),
        (["--attack", "none", "--clean-weight", "0.2", "--attack-steps", "2"], "--attack-steps, --clean-weight set"),
    ]:
        assert _train(tmp_path / "b", *common, *bad) == 1, bad
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "spectral-sparse train: error:" in err and message in err, (bad, err)
    assert not (tmp_path / "b" / "checkpoint.pt").exists()
