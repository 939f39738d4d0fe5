"""``spectral-sparse attack`` and ``robustness``: smoke runs on a tiny shapes checkpoint, and one-line errors."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import spectral_sparse.cli as cli

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(autouse=True)
def _register(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(cli.SUBCOMMANDS, "attack", ".attack")
    monkeypatch.setitem(cli.SUBCOMMANDS, "robustness", ".robustness")


@pytest.fixture
def checkpoint(tiny_checkpoint: Path) -> Path:
    """The session's tiny shapes checkpoint (tests/conftest.py); attacks read it, never write next to it."""
    return tiny_checkpoint


def test_attack_writes_results_and_examples(checkpoint: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "a"
    argv = [
        "attack",
        str(checkpoint),
        "--resolutions",
        "16",
        "20",
        "--attack-steps",
        "2",
        "--eps",
        "0.1",
        "--n-test",
        "8",
    ]
    assert cli.main([*argv, "--no-progress", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["attack"] == "PGD" and res["eps"] == 0.1 and res["steps"] == 2 and res["norm"] == "linf"
    assert [(r["resolution"], r["n"]) for r in res["rows"]] == [(16, 8), (20, 8)]
    assert all(0 <= r["robust_accuracy"] <= r["clean_accuracy"] + 1e-9 <= 1 + 1e-9 for r in res["rows"])
    with (out / "results.csv").open() as f:
        assert len(list(csv.DictReader(f))) == 2
    assert (out / "examples.png").read_bytes()[:8] == PNG
    assert "robust %" in capsys.readouterr().out

    out = tmp_path / "f"
    argv = ["attack", str(checkpoint), "--attack", "fourier-pgd", "--fourier-modes", "3", "--resolutions", "20"]
    assert cli.main([*argv, "--attack-steps", "1", "--n-test", "4", "--no-progress", "--out", str(out)]) == 0
    res = json.loads((out / "results.json").read_text())
    assert res["attack"] == "FourierPGD" and res["norm"] == "l2" and res["modes"] == 15


def test_robustness_matrix_and_corruptions(checkpoint: Path, tmp_path: Path) -> None:
    out = tmp_path / "r"
    base = ["robustness", str(checkpoint), "--sources", "16", "20", "--targets", "16", "24", "--attack-steps", "1"]
    argv = [*base, "--n-test", "6", "--corruptions", "contrast", "gaussian_noise", "--severities", "1", "5"]
    assert cli.main([*argv, "--no-progress", "--out", str(out)]) == 0
    for name in ("results.json", "results.csv", "matrix.json", "matrix.csv", "matrix.png", "corruptions.json"):
        assert (out / name).is_file(), name
    summary = json.loads((out / "results.json").read_text())  # what every analysis subcommand writes
    assert summary["matrix"]["rows"] == json.loads((out / "matrix.json").read_text())["rows"]
    assert summary["corruptions"] == json.loads((out / "corruptions.json").read_text())["rows"]
    assert (out / "results.csv").read_text() == (out / "matrix.csv").read_text()
    assert (out / "matrix.png").read_bytes()[:8] == PNG
    m = json.loads((out / "matrix.json").read_text())
    assert m["sources"] == [16, 20] and m["targets"] == [16, 24]
    assert [(r["source"], r["target"]) for r in m["rows"]] == [(16, 16), (16, 24), (20, 16), (20, 24)]
    assert {r["resolution"] for r in m["clean"]} == {16, 20, 24}
    with (out / "corruptions.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [(r["corruption"], r["severity"]) for r in rows] == [
        ("clean", "0"),
        ("contrast", "1"),
        ("contrast", "5"),
        ("gaussian_noise", "1"),
        ("gaussian_noise", "5"),
    ]
    out2 = tmp_path / "r2"  # corruptions skipped with an empty list
    assert cli.main([*base, "--n-test", "4", "--corruptions", "--no-progress", "--out", str(out2)]) == 0
    assert (out2 / "matrix.csv").is_file() and not (out2 / "corruptions.csv").exists()
    assert json.loads((out2 / "results.json").read_text())["corruptions"] is None


def test_errors_are_one_line(checkpoint: Path, tmp_path: Path, capsys) -> None:
    cases = [
        (["attack", str(tmp_path / "missing.pt")], "does not exist"),
        (["attack", str(checkpoint), "--attack", "pgd", "--norm", "l1"], "norm must be one of"),
        (["attack", str(checkpoint), "--attack", "fgsm", "--norm", "l2"], "FGSM is an L-inf attack"),
        (["attack", str(checkpoint), "--attack", "fourier-pgd", "--resolutions", "8"], "does not resolve"),
        (["robustness", str(checkpoint), "--corruptions", "fog"], "unknown corruption 'fog'"),
    ]
    for argv, message in cases:
        assert (
            cli.main([*argv, "--n-test", "2", "--attack-steps", "1", "--no-progress", "--out", str(tmp_path / "e")])
            == 1
        )
        err = capsys.readouterr().err.strip()
        assert err.count("\n") == 0 and "Traceback" not in err and message in err, err
    with pytest.raises(SystemExit) as exc:
        cli.main(["attack", str(checkpoint), "--eps", "-1"])
    assert exc.value.code == 2
