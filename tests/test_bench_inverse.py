"""The inverse benchmark's own logic: the goal comparisons and the report, and a smoke run end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

from benchmarks import inverse as ib
from spectral_sparse.inverse import load_reconstructor

pytest.importorskip("deepinv")

ROWS = [  # method, PSNR at 256
    ("input", 20.0),
    ("tv", 23.0),
    ("wiener", 23.5),
    ("ours-artifact@64", 24.0),
    ("ours-hqs@64", 25.0),
    ("dncnn@64", 21.0),
    ("ours-hqs@256", 25.4),
    ("ours-artifact@64->up", 23.2),
    ("ours-hqs@64->up", 23.8),
    ("dncnn@64->up", 22.5),
]


def _write(path: Path, rows: list[tuple[str, float]]) -> None:
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["physics", "method", "resolution", "psnr", "ssim", "parameters"])
        w.writeheader()
        for method, psnr in rows:
            for n, shift in ((64, 3.0), (256, 0.0)):
                w.writerow(
                    {
                        "physics": "x",
                        "method": method,
                        "resolution": n,
                        "psnr": psnr + shift,
                        "ssim": 0.5,
                        "parameters": 7,
                    }
                )


def test_goals_pick_the_right_rows(tmp_path: Path) -> None:
    _write(tmp_path / "inverse_deblur.csv", ROWS)
    g = ib.goals_at(tmp_path / "inverse_deblur.csv", "deblur")
    assert g["ours"] == (25.0, "ours-hqs@64")  # the best of ours trained at 64, at 256
    assert g["ref"] == (-0.4, "ours-hqs@64 vs @256")
    assert g["up"] == (1.2, "ours-hqs@64->up")  # the best upsampled pipeline, ours included
    assert g["cnn"] == (2.5, "dncnn@64->up")  # the better of DnCNN applied directly and upsampled
    assert g["classical"] == (1.5, "wiener")
    assert ib.goals_at(tmp_path / "missing.csv", "deblur") == {}
    text = ib.report(tmp_path, ["deblur"])
    assert "| ours-hqs@64 | 7 | 28.00 / 0.500 | 25.00 / 0.500 |" in text
    line = next(s for s in text.splitlines() if s.startswith("| deblur |"))
    assert line.count("**missed**") == 1 and "+1.50 (wiener): **missed**" in line  # 1.5 < 3 dB
    assert "-0.40 (ours-hqs@64 vs @256): met" in line and "+1.20 (ours-hqs@64->up): met" in line


def test_quick_run_writes_csv_json_and_panels(tmp_path: Path) -> None:
    argv = ["--quick", "--physics", "mri-band", "--out", str(tmp_path), "--no-progress", "--save", str(tmp_path / "m")]
    assert ib.main(argv) == 0
    with (tmp_path / "inverse_mri-band.csv").open() as f:
        rows = list(csv.DictReader(f))
    methods = {r["method"] for r in rows}
    assert {"input", "tv", "ours-hqs@64", "ours-hqs@256", "dncnn@64->up"} <= methods
    assert {int(r["resolution"]) for r in rows} == {64, 128, 256}
    meta = json.loads((tmp_path / "inverse_mri-band.json").read_text())
    assert meta["kind"] == "mri" and meta["params"]["k_max"] is None and meta["reference_at_256"] == "ours-hqs"
    assert (tmp_path / "inverse_mri-band.png").read_bytes()[:4] == b"\x89PNG"
    assert ib.goals_at(tmp_path / "inverse_mri-band.csv", "mri-band")["ours"][1].endswith("@64")
    _, config, meta = load_reconstructor(tmp_path / "m" / "mri-band_ours-hqs@256.pt")
    assert config["wrapper"] == "hqs" and meta["params"]["k_max"] is None
