"""``spectral-sparse reconstruct train`` / ``evaluate``: end to end on tiny settings, and one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import spectral_sparse.cli

pytest.importorskip("deepinv")

TINY = ["--width", "4", "--modes", "3", "--depth", "1", "--patch", "64", "--n-train", "4", "--batch-size", "2"]


@pytest.fixture(autouse=True)
def _registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(spectral_sparse.cli.SUBCOMMANDS, "reconstruct", ".reconstruct")


def main(argv: list[str]) -> int:
    return spectral_sparse.cli.main(argv)


@pytest.mark.parametrize(
    ("physics", "extra", "baselines"),
    [
        ("mri", ["--param", "k_max=5", "--wrapper", "unrolled", "--n-iter", "2"], ["input", "tv"]),
        ("deblur", ["--param", "width=0.03", "--param", "noise_sigma=0.01"], ["input", "wiener"]),
        ("mri", ["--param", "k_max=None", "--wrapper", "hqs", "--n-iter", "2", "--data-last", "--augment"], ["input"]),
    ],
)
def test_train_then_evaluate(tmp_path: Path, capsys: pytest.CaptureFixture[str], physics, extra, baselines) -> None:
    out = tmp_path / "train"
    argv = ["reconstruct", "train", "--physics", physics, "--train-resolution", "16", "--epochs", "1", *TINY, *extra]
    assert main([*argv, "--out", str(out), "--no-progress"]) == 0  # common options after the action
    assert (out / "checkpoint.pt").is_file()
    hist = json.loads((out / "history.json").read_text())
    for key in ("history", "physics", "params", "train_resolution", "split", "seed", "parameters", "torch_version"):
        assert key in hist, key
    assert hist["physics"] == physics and hist["train_resolution"] == 16 and len(hist["history"]["loss"]) == 1
    if "k_max=None" in extra:
        assert hist["params"]["k_max"] is None  # "None" on the command line is Python's None
        assert hist["config"]["data_last"] is True and hist["augment"] is True

    ev = tmp_path / "eval"
    argv = ["reconstruct", "--out", str(ev), "--no-progress", "evaluate", str(out / "checkpoint.pt")]  # ... or before
    assert main([*argv, "--resolutions", "16", "24", "--n-test", "2", "--baselines", *baselines]) == 0
    for name in ("results.json", "results.csv", "panels.png"):
        assert (ev / name).is_file(), name
    assert (ev / "panels.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    results = json.loads((ev / "results.json").read_text())
    assert {(r["method"], r["resolution"]) for r in results["rows"]} == {
        (m, n) for m in (*baselines, "ours") for n in (16, 24)
    }
    assert all(r["psnr"] > 5 and 0 < r["ssim"] <= 1 and r["n"] == 2 for r in results["rows"])
    with (ev / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == len(results["rows"])
    assert "PSNR (dB) / SSIM" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["train", "--physics", "radar"], "unknown physics 'radar'"),
        (["train", "--physics", "mri", "--param", "k_max=12", "--train-resolution", "16"], "cannot take mri"),
        (["train", "--physics", "tomography", "--param", "angles=3"], "unknown parameter(s) 'angles'"),
        (["evaluate", "no-such-checkpoint.pt"], "does not exist"),
        (["train", "--data-last"], "--data-last needs --wrapper hqs"),
    ],
)
def test_bad_arguments_are_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str], argv, message) -> None:
    code = main(["reconstruct", *argv, "--out", str(tmp_path / "o"), "--no-progress"])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "Traceback" not in err
    assert err.startswith("spectral-sparse reconstruct: error:") and message in err


def test_not_a_checkpoint(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "notes.txt"
    bad.write_text("hello")
    assert main(["reconstruct", "evaluate", str(bad), "--out", str(tmp_path / "o"), "--no-progress"]) == 1
    assert "not a spectral_sparse inverse checkpoint" in capsys.readouterr().err


def test_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["reconstruct"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        main(["reconstruct", "train", "--param", "oops"])
    assert exc.value.code == 2 and "expected key=value" in capsys.readouterr().err
