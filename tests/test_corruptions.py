"""Corruptions: determinism, the documented amounts, grid independence of the length scales, and errors."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from spectral_sparse.attacks import CORRUPTIONS, corrupt, evaluate_corruptions
from spectral_sparse.attacks.corruptions import SEVERITY_PARAMETERS


def _cosine(grid: int, k: tuple[int, int] = (3, 2), amp: float = 0.3) -> torch.Tensor:
    t = torch.arange(grid, dtype=torch.float64) / grid
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    return (0.5 + amp * torch.cos(2 * math.pi * (k[0] * yy + k[1] * xx)))[None, None]


@pytest.mark.parametrize("name", CORRUPTIONS)
def test_every_corruption_any_grid_deterministic_and_in_range(name: str) -> None:
    torch.manual_seed(0)
    for shape in ((2, 1, 20, 28), (1, 3, 16, 16)):
        x = torch.rand(shape)
        a = corrupt(x, name, 3, seed=7)
        assert a.shape == x.shape and a.dtype == x.dtype
        assert float(a.min()) >= 0 and float(a.max()) <= 1
        assert torch.equal(a, corrupt(x, name, 3, seed=7))
        assert not torch.equal(a, x)
    if name in ("gaussian_noise", "shot_noise", "impulse_noise"):
        assert not torch.equal(corrupt(x, name, 3, seed=7), corrupt(x, name, 3, seed=8))


def test_custom_domain_maps_to_unit_interval_and_back() -> None:
    x = torch.full((1, 1, 8, 8), 0.0)  # mid-grey of the domain [-1, 1]
    out = corrupt(x, "brightness", 5, domain=(-1.0, 1.0))  # +0.3 in [0, 1] units = +0.6 in domain units
    assert torch.allclose(out, torch.full_like(x, 0.6))


def test_noise_amounts() -> None:
    x = torch.full((4, 1, 64, 64), 0.5, dtype=torch.float64)  # far from 0 and 1: no clipping
    n = x.numel()
    for s, std in enumerate(SEVERITY_PARAMETERS["gaussian_noise"], start=1):
        d = corrupt(x, "gaussian_noise", s, seed=s) - x
        # the sample std of n = 16384 normal values is within 3% of sigma with probability ~1 - 1e-8
        assert abs(float(d.std()) / std - 1) < 0.03 and abs(float(d.mean())) < 4 * std / math.sqrt(n)
    for s, photons in enumerate(SEVERITY_PARAMETERS["shot_noise"], start=1):
        d = corrupt(x, "shot_noise", s, seed=s) - x
        std = math.sqrt(0.5 / photons)  # Poisson(x c) / c has variance x / c
        assert abs(float(d.std()) / std - 1) < 0.03
    for s, frac in enumerate(SEVERITY_PARAMETERS["impulse_noise"], start=1):
        out = corrupt(x, "impulse_noise", s, seed=s)
        hit = float((out != 0.5).double().mean())
        assert abs(hit - frac) < 5 * math.sqrt(frac / n)  # binomial: 5 standard deviations
        assert set(out.unique().tolist()) <= {0.0, 0.5, 1.0}


def test_brightness_and_contrast_amounts() -> None:
    x = _cosine(32)
    for s, shift in enumerate(SEVERITY_PARAMETERS["brightness"], start=1):
        assert torch.allclose(corrupt(x, "brightness", s), (x + shift).clamp(0, 1))
    rgb = torch.tensor([0.2, 0.4, 0.1], dtype=torch.float64).reshape(1, 3, 1, 1).expand(1, 3, 4, 4)
    out = corrupt(rgb, "brightness", 5)  # HSV value 0.4 -> 0.7, hue and saturation kept: rgb scaled by 0.7 / 0.4
    assert torch.allclose(out, rgb * 0.7 / 0.4)
    for s, c in enumerate(SEVERITY_PARAMETERS["contrast"], start=1):
        out = corrupt(x, "contrast", s)
        assert torch.allclose(out.mean(), x.mean()) and torch.allclose(out - x.mean(), c * (x - x.mean()))


@pytest.mark.parametrize("severity", [1, 5])
def test_blurs_are_the_same_continuous_operation_on_every_grid(severity: int) -> None:
    k = math.hypot(3, 2)
    sigma = SEVERITY_PARAMETERS["gaussian_blur"][severity - 1]
    r, a = SEVERITY_PARAMETERS["defocus_blur"][severity - 1]
    z = 2 * math.pi * r * k
    j1 = float(torch.special.bessel_j1(torch.tensor(z, dtype=torch.float64)))
    gains = {
        "gaussian_blur": math.exp(-2 * math.pi**2 * sigma**2 * k**2),
        "defocus_blur": 2 * j1 / z * math.exp(-2 * math.pi**2 * a**2 * k**2),
    }
    for name, gain in gains.items():
        assert 0 < gain < 1
        for grid in (24, 64):
            x = _cosine(grid)
            expected = 0.5 + gain * (x - 0.5)  # a cosine is an eigenfunction of every convolution
            assert torch.allclose(corrupt(x, name, severity), expected, atol=1e-12), (name, grid)


def test_pixelate_cells_are_fractions_of_the_field_of_view() -> None:
    cells = SEVERITY_PARAMETERS["pixelate"]
    assert cells == (30, 29, 27, 24, 21)
    x = torch.rand(1, 1, 60, 60, dtype=torch.float64)
    out = corrupt(x, "pixelate", 1)  # 30 cells on a 60 grid: 2x2 blocks holding their mean
    blocks = x.reshape(1, 1, 30, 2, 30, 2).mean(dim=(3, 5))
    assert torch.allclose(out, blocks.repeat_interleave(2, 2).repeat_interleave(2, 3))
    big = corrupt(torch.rand(1, 1, 84, 84), "pixelate", 5)  # 21 cells of 4x4 pixels
    assert big.reshape(21, 4, 21, 4).std(dim=(1, 3)).max() < 1e-6


def test_jpeg_error_grows_with_severity() -> None:
    torch.manual_seed(0)
    x = (_cosine(32) + 0.1 * torch.rand(1, 1, 32, 32, dtype=torch.float64)).clamp(0, 1).float()
    errors = [float((corrupt(x, "jpeg", s) - x).abs().mean()) for s in (1, 5)]
    assert 0 < errors[0] < errors[1]
    rgb = torch.rand(2, 3, 16, 16)
    assert corrupt(rgb, "jpeg", 2).shape == rgb.shape


def test_evaluate_corruptions_rows() -> None:
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    x, y = torch.rand(12, 1, 8, 8), torch.arange(12) % 3
    rows = evaluate_corruptions(model, x, y, ["gaussian_noise", "pixelate"], severities=[2, 4], seed=1)
    assert [(r["corruption"], r["severity"]) for r in rows] == [
        ("clean", 0),
        ("gaussian_noise", 2),
        ("gaussian_noise", 4),
        ("pixelate", 2),
        ("pixelate", 4),
    ]
    assert all(0 <= r["accuracy"] <= 1 and r["n"] == 12 and r["resolution"] == 8 for r in rows)
    with torch.no_grad():
        expected = float((model(corrupt(x, "pixelate", 4)).argmax(1) == y).float().mean())
    assert rows[-1]["accuracy"] == expected
    assert len(evaluate_corruptions(model, x, y)) == 1 + 5 * len(CORRUPTIONS)


def test_bad_arguments() -> None:
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="unknown corruption 'fog'; known corruptions: gaussian_noise"):
        corrupt(x, "fog", 1)
    for bad in (0, 6, 2.0, True):
        with pytest.raises(ValueError, match=r"severity must be an int in 1\.\.5"):
            corrupt(x, "contrast", bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"images must have shape \(n, C, H, W\)"):
        corrupt(x[0], "contrast", 1)
    with pytest.raises(TypeError, match="real floating point"):
        corrupt(x.long(), "contrast", 1)
    with pytest.raises(ValueError, match="lo < hi"):
        corrupt(x, "contrast", 1, domain=(1.0, 1.0))
    with pytest.raises(ValueError, match="finite domain"):
        corrupt(x, "contrast", 1, domain=None)
    model = nn.Sequential(nn.Flatten(), nn.Linear(64, 3))
    with pytest.raises(ValueError, match="unknown corruption 'snow'"):
        evaluate_corruptions(model, x, torch.zeros(2, dtype=torch.long), ["contrast", "snow"])
    with pytest.raises(ValueError, match=r"severity must be an int in 1\.\.5"):
        evaluate_corruptions(model, x, torch.zeros(2, dtype=torch.long), severities=[1, 7])
