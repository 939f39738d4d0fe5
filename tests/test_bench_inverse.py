"""The inverse benchmark's own logic: the goal comparisons and the report, and a smoke run end to end."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
import torch

from experiments import inverse as ib
from spectral_sparse.inverse import ground_truth, load_reconstructor, make_physics
from spectral_sparse.inverse.train import measure

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
    (tmp_path / "ref").mkdir()
    _write(tmp_path / "ref" / "inverse_deblur.csv", [("ours-hqs@256", 26.5), ("tv", 99.0)])
    g = ib.goals_at(tmp_path / "inverse_deblur.csv", "deblur", ref_path=tmp_path / "ref" / "inverse_deblur.csv")
    assert g["ref"] == (-1.5, "ours-hqs@64 vs @256") and g["classical"] == (1.5, "wiener")  # only @256 rows taken
    assert "-1.50 (ours-hqs@64 vs @256): **missed**" in ib.report(tmp_path, ["deblur"], tmp_path / "ref")
    with pytest.raises(SystemExit):  # --ref-from without --report
        ib.main(["--ref-from", str(tmp_path / "ref"), "--out", str(tmp_path)])
    with pytest.raises(FileNotFoundError, match="reference CSV"):
        ib.goals_at(tmp_path / "inverse_deblur.csv", "deblur", ref_path=tmp_path / "nope.csv")
    text = ib.report(tmp_path, ["deblur"])
    assert "| ours-hqs@64 | 7 | 28.00 / 0.500 | 25.00 / 0.500 |" in text
    line = next(s for s in text.splitlines() if s.startswith("| deblur |"))
    assert line.count("**missed**") == 1 and "+1.50 (wiener): **missed**" in line  # 1.5 < 3 dB
    assert "-0.40 (ours-hqs@64 vs @256): met" in line and "+1.20 (ours-hqs@64->up): met" in line
    assert "against upper bounds" not in text  # no inverse_ceilings.csv yet
    with (tmp_path / "inverse_ceilings.csv").open("w") as f:
        f.write("physics,bound,resolution,psnr,ssim,n_test\n")
        f.write("deblur,band-limit@64,256,26.0,0.7,2\ndeblur,oracle-wiener,256,24.4,0.6,2\n")
        f.write("deblur,band-limit@64,128,99.0,0.9,2\n")  # another grid: not in the 256 table
    line = [s for s in ib.report(tmp_path, ["deblur"]).splitlines() if s.startswith("| deblur |")][-1]
    # goal 2 needs the best ->up + 1 = 23.8 + 1; goal 4 the best classical + 3 = 23.5 + 3
    assert line == "| deblur | 25.00 | 24.80 | 26.50 | 26.00 | 24.40 |"
    # the results layout: run folders <physics>.csv and the bounds in the sibling ceilings/results.csv
    (tmp_path / "inverse" / "ceilings").mkdir(parents=True)
    (tmp_path / "inverse_ceilings.csv").rename(tmp_path / "inverse" / "ceilings" / "results.csv")
    run = tmp_path / "inverse" / "steps1200"
    run.mkdir()
    (tmp_path / "inverse_deblur.csv").rename(run / "deblur.csv")
    assert ib.result_file(run, "deblur") == run / "deblur.csv"
    assert ib.result_file(tmp_path / "ref", "deblur", "png") == tmp_path / "ref" / "inverse_deblur.png"  # older layout
    line = [s for s in ib.report(run, ["deblur"]).splitlines() if s.startswith("| deblur |")][-1]
    assert line == "| deblur | 25.00 | 24.80 | 26.50 | 26.00 | 24.40 |"
    assert ib.default_out(4800, 1) == ib.RESULTS / "steps4800_seed1" and ib.default_out(1200) == ib.DEFAULT_OUT
    assert ib.default_out(1200, 0, True).name == "steps1200_quick" and ib.CEILINGS.parent.parent == ib.RESULTS


def test_oracle_wiener_inverts_noise_free_blur_and_ignores_empty_frequencies() -> None:
    physics = make_physics("deblur", 32, width=0.005, noise_sigma=0.0)
    x = ground_truth("phantoms", "test", 2, 32).double()
    y = measure(physics, x.float(), 0).double()
    assert torch.allclose(ib.oracle_wiener(physics, x, y).double(), x, atol=1e-4)  # sigma 0: the exact inverse
    noisy = make_physics("deblur", 32, width=0.005, noise_sigma=0.1)
    flat = torch.full((1, 1, 32, 32), 0.5)  # only the mean is non-zero: every other gain is 0
    out = ib.oracle_wiener(noisy, flat, measure(noisy, flat, 0))
    assert torch.allclose(out, out.mean().expand_as(out), atol=1e-6)


def test_ceilings_bound_every_upsampled_pipeline(tmp_path: Path) -> None:
    assert ib.main(["--ceilings", "--quick", "--physics", "deblur", "tomography", "--out", str(tmp_path)]) == 0
    with (tmp_path / "results.csv").open() as f:
        psnr = {(r["physics"], r["bound"], int(r["resolution"])): float(r["psnr"]) for r in csv.DictReader(f)}
    assert {k[2] for k in psnr} == {64, 128, 256}
    assert ("tomography", "oracle-wiener", 256) not in psnr  # deblur only
    for n in (128, 256):
        # the projection on the 64 grid's frequencies is the closest any ...@64->up can be
        assert psnr[("deblur", "oracle-wiener@64->up", n)] < psnr[("deblur", "band-limit@64", n)]
        assert psnr[("deblur", "band-limit@64", n)] < psnr[("deblur", "band-limit@64", 64)]


def test_quick_run_writes_csv_json_and_panels(tmp_path: Path) -> None:
    argv = ["--quick", "--physics", "mri-band", "--out", str(tmp_path), "--no-progress", "--save", str(tmp_path / "m")]
    assert ib.main(argv) == 0
    with (tmp_path / "mri-band.csv").open() as f:
        rows = list(csv.DictReader(f))
    methods = {r["method"] for r in rows}
    assert {"input", "tv", "ours-hqs@64", "ours-hqs@256", "dncnn@64->up"} <= methods
    assert {int(r["resolution"]) for r in rows} == {64, 128, 256}
    meta = json.loads((tmp_path / "mri-band.json").read_text())
    assert meta["kind"] == "mri" and meta["params"]["k_max"] is None and meta["reference_at_256"] == "ours-hqs"
    assert (tmp_path / "mri-band.png").read_bytes()[:4] == b"\x89PNG"
    assert ib.goals_at(tmp_path / "mri-band.csv", "mri-band")["ours"][1].endswith("@64")
    _, config, meta = load_reconstructor(tmp_path / "m" / "mri-band_ours-hqs@256.pt")
    assert config["wrapper"] == "hqs" and meta["params"]["k_max"] is None


def test_rerun_tv_replaces_only_the_tv_rows(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="run the benchmark"):
        ib.main(["--rerun-tv", "--quick", "--physics", "deblur", "--out", str(tmp_path)])
    _write(tmp_path / "inverse_deblur.csv", ROWS)
    path = tmp_path / "inverse_deblur.csv"  # hand-made: grids 64 and 256 only
    path.write_text(path.read_text().replace("x,", "deblur,"))
    (tmp_path / "inverse_deblur.json").write_text(json.dumps({"tv_iter": 40, "rows": []}))
    assert ib.main(["--rerun-tv", "--quick", "--physics", "deblur", "--out", str(tmp_path)]) == 0
    with (tmp_path / "inverse_deblur.csv").open() as f:
        rows = list(csv.DictReader(f))
    tv = [r for r in rows if r["method"] == "tv"]
    assert [int(r["resolution"]) for r in tv] == [64, 256] and {r["tv_iter"] for r in tv} == {"3"}
    assert all(float(r["psnr"]) not in (23.0, 26.0) and r["n_test"] == "2" for r in tv)  # measured, not kept
    others = [(r["method"], int(r["resolution"]), float(r["psnr"])) for r in rows if r["method"] != "tv"]
    assert others == [(m, n, v + (3.0 if n == 64 else 0.0)) for m, v in ROWS if m != "tv" for n in (64, 256)]
    meta = json.loads((tmp_path / "inverse_deblur.json").read_text())
    assert meta["tv_iter"] == 3 and len(meta["rows"]) == len(rows)


def test_tv_convergence_writes_one_tuned_row_per_iteration_count(tmp_path: Path) -> None:
    from experiments import tv_convergence as tc

    argv = ["--physics", "deblur", "--resolution", "16", "--iterations", "1", "3", "--lambdas", "0.01", "0.1"]
    assert tc.main([*argv, "--n-test", "2", "--out", str(tmp_path)]) == 0
    with (tmp_path / "deblur.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["iterations"]) for r in rows] == [1, 3]
    assert all(float(r["lambda"]) in (0.01, 0.1) and r["n_test"] == "2" for r in rows)
    with pytest.raises(SystemExit):
        tc.main(["--iterations", "0"])


def test_a_setting_can_widen_the_tv_weight_grid(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import argparse

    from experiments import tv_convergence as tc

    seen: list[tuple[float, ...]] = []

    def fake_tune(make, grid, physics, x):  # records the grid, picks its largest weight
        seen.append(tuple(grid))
        return grid[-1], 0.0

    monkeypatch.setattr(ib, "_tune", fake_tune)
    monkeypatch.setattr(ib, "RESOLUTIONS", (16,))
    args = argparse.Namespace(seed=0, tv_iter=2)
    for name, grid in (
        ("mri-band-phantoms-noisy", ib.PHYSICS["mri-band-phantoms-noisy"]["tv_grid"]),
        ("deblur", ib.TV_GRID),
    ):
        cfg = ib.PHYSICS[name]
        phys = {16: make_physics(cfg.get("kind", name), 16, **cfg["params"])}
        seen.clear()
        out = ib._classical(name, phys, args, wiener=False)
        assert seen == [tuple(grid)] and out["tv"][16][2]["lambda"] == grid[-1]
    assert ib.PHYSICS["mri-band-phantoms-noisy"]["params"]["noise_sigma"] > 0
    # the convergence script tunes over the same grid unless --lambdas says otherwise
    argv = ["--resolution", "16", "--iterations", "1", "--n-test", "1", "--out", str(tmp_path)]
    for name, extra, grid in (
        ("mri-band-phantoms-noisy", [], ib.tv_grid("mri-band-phantoms-noisy")),
        ("deblur", [], ib.TV_GRID),
        ("deblur", ["--lambdas", "0.5"], (0.5,)),
    ):
        seen.clear()
        assert tc.main([*argv, "--physics", name, *extra]) == 0
        assert seen == [tuple(grid)]


def test_band_split_adds_up_and_places_errors_where_they_are() -> None:
    from experiments.inverse_bands import band_mse

    n = 128
    physics = make_physics("mri", n, **ib.PHYSICS["mri-band-phantoms"]["params"])
    measured = (physics.mask != 0).reshape(n, n)
    x = ground_truth("phantoms", "test", 2, n)
    x_hat = x + 0.01 * torch.randn_like(x)
    parts = band_mse(x_hat, x, measured)
    assert sum(parts.values()) == pytest.approx(float(((x_hat - x).double() ** 2).mean()), rel=1e-6)
    assert all(v > 0 for v in parts.values())
    # an error made only of unmeasured frequencies above the 64 grid's band lands in that part alone
    k = torch.fft.fftfreq(n, 1.0 / n).abs()
    high = torch.maximum(k[:, None], k[None, :]) > 32
    spec = torch.fft.fft2(torch.randn(2, 1, n, n, dtype=torch.float64)) * (high & ~measured)
    e = torch.fft.ifft2(spec).real
    parts = band_mse(x + e, x, measured)
    assert parts["high-unmeasured"] == pytest.approx(float((e**2).mean()), rel=1e-6)
    assert (
        max(parts[b] for b in ("low-measured", "low-unmeasured", "high-measured"))
        < 1e-12 * parts["high-unmeasured"] + 1e-20
    )
    # without a measured set (tomography) two parts: the same error lies wholly above the band
    two = band_mse(x + e, x, None)
    assert set(two) == {"low", "high"} and two["high"] == pytest.approx(parts["high-unmeasured"], rel=1e-9)
    assert two["low"] < 1e-12 * two["high"] + 1e-20


def test_inverse_bands_end_to_end_and_argument_errors(tmp_path: Path) -> None:
    from experiments import inverse_bands as bands
    from spectral_sparse.inverse import build_reconstructor, save_reconstructor

    conf = ib._config("ours-hqs", "pinv", True)
    save_reconstructor(tmp_path / "m" / "mri-band-phantoms_ours-hqs@64.pt", build_reconstructor(conf), conf)
    argv = ["--models", str(tmp_path / "m"), "--tv-lambda", "0.01", "--tv-iter", "2", "--n-test", "2"]
    assert bands.main([*argv, "--resolution", "64", "--out", str(tmp_path)]) == 0
    with (tmp_path / "mri-band-phantoms_64.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [r["method"] for r in rows] == ["input", "tv", "ours-hqs@64"]
    assert all(r["psnr_high-unmeasured"] == "inf" for r in rows)  # the 64 grid has no frequency above its band
    assert all(float(r["psnr_total"]) <= float(r["psnr_low-unmeasured"]) for r in rows)
    for bad in (["--resolution", "32"], ["--tv-lambda", "0"], ["--physics", "deblur"]):
        with pytest.raises(SystemExit):
            bands.main([*argv, *bad])
