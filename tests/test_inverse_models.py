"""Reconstructors, training, checkpoints and offline data of spectral_sparse.inverse."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import spectral_sparse as ss
from spectral_sparse.inverse import (
    SpectralDenoiser,
    UnrolledHQS,
    UnrolledPGD,
    build_reconstructor,
    ground_truth,
    load_reconstructor,
    make_physics,
    save_reconstructor,
    train_reconstructor,
)
from spectral_sparse.inverse.data import PHOTO_TEST, PHOTO_TRAIN
from spectral_sparse.inverse.models import grid_l2, initial_image
from spectral_sparse.inverse.train import evaluate_reconstructor, measure, score, tv_reconstruction
from spectral_sparse.testing import assert_close

pytest.importorskip("deepinv")

TINY = {"arch": "spectral", "width": 6, "modes": 3.0, "depth": 2}
GRIDS = (16, 24, 32)
PHYS = {"deblur": {}, "mri": {"k_max": 5}, "tomography": {"n_angles": 6}, "inpainting": {}}


@pytest.mark.parametrize("kind", list(PHYS))
def test_reconstructors_run_at_three_grids(kind: str) -> None:
    torch.manual_seed(0)
    models = {
        "artifact": build_reconstructor({**TINY, "input_mode": make_physics(kind, 16, **PHYS[kind]).input_mode}),
        "unrolled": build_reconstructor({**TINY, "wrapper": "unrolled", "n_iter": 2}),
        "hqs": build_reconstructor({**TINY, "wrapper": "hqs", "n_iter": 2}),
    }
    for grid in GRIDS:
        physics = make_physics(kind, grid, **PHYS[kind])
        x = torch.rand(2, 1, grid, grid)
        y = physics(x)
        for name, model in models.items():
            with torch.no_grad():
                out = model(y, physics)
            assert out.shape == x.shape, (name, grid)
            assert torch.isfinite(out).all()


def test_denoiser_interface_and_grid_independence() -> None:
    torch.manual_seed(0)
    net = SpectralDenoiser(width=6, modes=3.0, depth=2)
    x = torch.rand(3, 1, 20, 20)
    # deepinv's interface: float, 0-d or (B,) sigma, or None
    for sigma in (0.1, torch.tensor(0.1), torch.full((3,), 0.1)):
        assert_close(net(x, sigma), net(x, 0.1))
    assert torch.equal(net(x, 0.3), x)  # the last projection starts at zero: the initial network is the identity
    torch.nn.init.normal_(net.project[-1].weight)
    assert not torch.equal(net(x, None), net(x, 0.5))  # sigma is an input
    # the same weights on any grid: identical parameters, nothing depends on the grid size
    assert net(torch.rand(1, 1, 17, 40), 0.0).shape == (1, 1, 17, 40)
    with pytest.raises(ValueError, match=r"expected images of shape \(B, 1, H, W\)"):
        net(torch.rand(2, 3, 16, 16), 0.1)
    with pytest.raises(ValueError, match="width must be a positive int"):
        SpectralDenoiser(width=0)


def test_spectral_denoiser_is_discretization_invariant_without_nonlinearity() -> None:
    """With the GELUs replaced by identities the network is linear: a band-limited input gives the same function."""
    torch.manual_seed(0)
    net = SpectralDenoiser(width=4, modes=3.0, depth=2).double()
    net.act, net.project[1] = torch.nn.Identity(), torch.nn.Identity()
    torch.nn.init.normal_(net.project[-1].weight)
    x = ss.resample(torch.rand(1, 1, 9, 9, dtype=torch.float64), (16, 16))
    out16 = net(x, 0.1)
    out40 = net(ss.resample(x, (40, 40)), 0.1)
    assert_close(ss.resample(out16, (40, 40)), out40)


def test_training_reduces_the_loss() -> None:
    torch.manual_seed(0)
    physics = make_physics("denoising", 16, sigma=0.2)
    x = ground_truth("photos", "train", 8, 16, patch=64)
    model = build_reconstructor({**TINY, "input_mode": physics.input_mode})
    before = evaluate_reconstructor(model, physics, x)["psnr"]  # fixed noise seed: the same y before and after
    hist = train_reconstructor(model, physics, x, epochs=6, batch_size=4, lr=5e-2)
    after = evaluate_reconstructor(model, physics, x)["psnr"]
    assert hist["steps"] == 12 and len(hist["loss"]) == 6 and hist["parameters"] > 0
    assert hist["loss"][-1] < hist["loss"][0]
    assert after > before + 0.3, (before, after)  # measured: 13.8 -> 14.8 dB


@pytest.mark.parametrize(
    ("wrapper", "cls", "kind", "params"),
    [
        ("unrolled", UnrolledPGD, "mri", {"k_max": 5}),
        ("hqs", UnrolledHQS, "deblur", {"width": 0.05, "noise_sigma": 0.01}),
    ],
)
def test_unrolled_parameters_are_trained_end_to_end(wrapper: str, cls: type, kind: str, params: dict) -> None:
    torch.manual_seed(0)
    physics = make_physics(kind, 16, **params)
    model = build_reconstructor({**TINY, "wrapper": wrapper, "n_iter": 2})
    assert isinstance(model, cls)
    x = torch.rand(2, 1, 16, 16)
    loss = ((model(physics(x), physics) - x) ** 2).mean()
    loss.backward()
    grads = {n: p.grad for n, p in model.named_parameters()}
    assert any("stepsize" in n and g is not None and g.abs().sum() > 0 for n, g in grads.items())
    assert grads["denoiser.lift.weight"] is not None
    # x_0 is the physics' image (zero-filled for MRI); the data steps are grid-consistent (grid_l2)
    y = physics(x)
    assert_close(initial_image(y, physics), physics.A_dagger(y) if kind == "mri" else physics.A_adjoint(y))


@pytest.mark.parametrize("kind", ["deblur", "mri", "inpainting", "tomography"])
@pytest.mark.parametrize("grid", [16, 24])
def test_grid_l2_prox_is_the_proximal_point(kind: str, grid: int) -> None:
    """u = prox(x) solves gamma / L A^T(Au - y) + (u - x) = 0 (L = ||A^T A||), exactly for Fourier-diagonal physics."""
    torch.manual_seed(0)
    physics = make_physics(kind, grid, dtype=torch.float64, **PHYS[kind])
    fidelity = grid_l2()
    x = torch.rand(2, 1, grid, grid, dtype=torch.float64)
    y = physics(torch.rand(2, 1, grid, grid, dtype=torch.float64))
    for gamma in (0.3, 4.0):
        u = fidelity.prox(x, y, physics, gamma=gamma)
        residual = gamma * fidelity.grad(u, y, physics) + (u - x)
        # tomography: deepinv's conjugate gradients (tolerance 1e-3 relative to the right-hand side)
        bound = 1e-3 if kind == "tomography" else 1e-10
        assert residual.norm() <= bound * (x.norm() + gamma * fidelity.grad(x, y, physics).norm()), (kind, gamma)
    # a large step makes the data step a projection onto the measurements (noise-free MRI: hard data consistency)
    if kind == "mri":
        u = fidelity.prox(x, y, physics, gamma=1e8)
        assert float((physics.A(u) - y).abs().max()) <= 1e-6 * float(y.abs().max())


def test_hqs_untrained_is_the_tikhonov_solution() -> None:
    torch.manual_seed(0)
    physics = make_physics("deblur", 16, width=0.05, noise_sigma=0.01)
    x = torch.rand(2, 1, 16, 16)
    # the untrained denoiser is the identity, so one iteration is the Tikhonov solution from x_0 = A^T y
    one = build_reconstructor({**TINY, "wrapper": "hqs", "n_iter": 1})
    y = physics(x)
    with torch.no_grad():
        assert_close(one(y, physics), physics.prox_l2(physics.A_adjoint(y), y, 1.0), dtype=torch.float32)


def test_hqs_with_the_data_step_last_keeps_noise_free_measurements() -> None:
    torch.manual_seed(0)
    physics = make_physics("mri", 24, k_max=6, dtype=torch.float64)
    denoiser = SpectralDenoiser(width=4, modes=3.0, depth=1).double()
    torch.nn.init.normal_(denoiser.project[-1].weight)  # a denoiser that changes its input
    x = torch.rand(2, 1, 24, 24, dtype=torch.float64)
    y = physics(x)
    with torch.no_grad():
        last = UnrolledHQS(denoiser, n_iter=2, stepsize=1e9, data_last=True)(y, physics)
        first = UnrolledHQS(denoiser, n_iter=2, stepsize=1e9)(y, physics)
    assert float((physics.A(last) - y).abs().max()) <= 1e-6 * float(y.abs().max())  # measured data kept
    assert float((physics.A(first) - y).abs().max()) > 1e-2 * float(y.abs().max())  # the denoiser had the last word
    model = build_reconstructor({**TINY, "wrapper": "hqs", "n_iter": 2, "data_last": True})
    assert isinstance(model, UnrolledHQS) and model.data_last


def test_augmentation_draws_the_symmetries_of_the_square() -> None:
    from spectral_sparse.inverse.train import _Images

    torch.manual_seed(0)
    img = torch.arange(16.0).reshape(1, 1, 4, 4)
    group = {tuple(torch.rot90(f, k, (-2, -1)).flatten().tolist()) for f in (img[0], img[0].flip(-1)) for k in range(4)}
    seen = {tuple(_Images(img, augment=True)[0]["x"].flatten().tolist()) for _ in range(200)}
    assert seen == group and len(group) == 8
    rect = torch.arange(12.0).reshape(1, 1, 3, 4)
    flips = {tuple(f.flatten().tolist()) for f in (rect[0], rect[0].flip(-1), rect[0].flip(-2), rect[0].flip(-1, -2))}
    assert {tuple(_Images(rect, augment=True)[0]["x"].flatten().tolist()) for _ in range(100)} == flips
    assert torch.equal(_Images(img)[0]["x"], img[0])  # off by default
    physics = make_physics("deblur", 16, width=0.05)
    model = build_reconstructor({**TINY, "input_mode": physics.input_mode})
    hist = train_reconstructor(model, physics, torch.rand(4, 1, 16, 16), batch_size=2, augment=True)
    assert hist["steps"] == 2


def test_checkpoint_roundtrip_and_errors(tmp_path: Path) -> None:
    torch.manual_seed(0)
    config = {**TINY, "wrapper": "unrolled", "n_iter": 2}
    model = build_reconstructor(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(0.01 * torch.randn_like(p))
    path = save_reconstructor(tmp_path / "c.pt", model, config, physics="mri", params={"k_max": 5})
    loaded, cfg, meta = load_reconstructor(path)
    physics = make_physics("mri", 24, k_max=5)
    y = physics(torch.rand(1, 1, 24, 24))
    with torch.no_grad():
        assert_close(loaded(y, physics), model(y, physics))
    assert cfg == config and meta["params"] == {"k_max": 5}
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_reconstructor(tmp_path / "missing.pt")
    (tmp_path / "bad.pt").write_text("nope")
    with pytest.raises(ValueError, match="not a spectral_sparse inverse checkpoint"):
        load_reconstructor(tmp_path / "bad.pt")


def test_baselines_and_unknown_configs() -> None:
    physics = make_physics("deblur", 24, width=0.03, noise_sigma=0.01)
    x = ground_truth("photos", "test", 2, 24, patch=64)
    y = measure(physics, x, seed=0)
    assert torch.equal(y, measure(physics, x, seed=0))  # fixed noise
    tv = evaluate_reconstructor(tv_reconstruction(0.01, n_iter=10, inner=5), physics, x, y=y)
    raw = score(y, x)
    assert tv["psnr"] > raw["psnr"] - 1.0 and 0 < tv["ssim"] <= 1
    for cfg, match in (
        ({"arch": "vit"}, "unknown arch 'vit'"),
        ({**TINY, "wrapper": "admm"}, "unknown wrapper 'admm'"),
        ({"arch": "dncnn", "width": 4, "wrapper": "unrolled"}, "built for arch='spectral'"),
        ({"arch": "dncnn", "width": 4, "wrapper": "hqs"}, "hqs wrapper is built for arch='spectral'"),
        ({"arch": "dncnn", "width": 4, "depth": 1}, "dncnn needs depth >= 2"),
    ):
        with pytest.raises(ValueError, match=match):
            build_reconstructor(cfg)


def test_ground_truth_sources() -> None:
    assert not set(PHOTO_TRAIN) & set(PHOTO_TEST)  # split by image
    a = ground_truth("photos", "train", 3, 32, patch=64)
    b = ground_truth("photos", "test", 3, 32, patch=64)
    assert a.shape == b.shape == (3, 1, 32, 32) and not torch.equal(a, b)
    # one band-limited function per image: the 32-grid image is the 64-grid one resampled
    assert_close(ss.resample(ground_truth("photos", "test", 3, 64, patch=64), (32, 32)), b, dtype=torch.float32)
    p1, p2 = ground_truth("phantoms", "train", 2, 24), ground_truth("phantoms", "train", 2, 24)
    assert torch.equal(p1, p2) and not torch.equal(p1, ground_truth("phantoms", "test", 2, 24))
    assert ground_truth("shepp-logan", "test", 5, 40).shape == (1, 1, 40, 40)
    with pytest.raises(ValueError, match="unknown data source 'mnist'"):
        ground_truth("mnist", "train", 2, 16)
    with pytest.raises(ValueError, match="split must be"):
        ground_truth("photos", "val", 2, 16)
    with pytest.raises(ValueError, match="larger than photograph"):
        ground_truth("photos", "train", 1, 16, patch=2000)
