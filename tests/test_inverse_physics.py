"""Forward operators of spectral_sparse.inverse: adjointness, consistency across grids, errors."""

from __future__ import annotations

import math

import pytest
import torch

import spectral_sparse as ss
from spectral_sparse.inverse import PHYSICS_KINDS, make_physics
from spectral_sparse.inverse.physics import inpainting_mask, mri_frequencies
from spectral_sparse.testing import assert_close

pytest.importorskip("deepinv")

F64 = torch.float64
MRI = {"k_max": 5, "k_center": 1, "acceleration": 2.0, "seed": 3}


def _params(kind: str) -> dict:
    return MRI if kind == "mri" else {}


def _band_limited(n_src: int, grid: int, batch: int = 2, seed: int = 0) -> torch.Tensor:
    """Random field on an odd grid (no Nyquist mode), trigonometrically interpolated to ``grid``."""
    g = torch.Generator().manual_seed(seed)
    return ss.resample(torch.randn(batch, 1, n_src, n_src, generator=g, dtype=F64), (grid, grid))


@pytest.mark.parametrize("kind", PHYSICS_KINDS)
@pytest.mark.parametrize("grid", [16, 24, 33])
def test_adjointness(kind: str, grid: int) -> None:
    physics = make_physics(kind, grid, dtype=F64, **_params(kind))
    g = torch.Generator().manual_seed(grid)
    x = torch.randn(2, 1, grid, grid, generator=g, dtype=F64)
    y = physics.A(x)
    v = torch.randn(y.shape, generator=g, dtype=F64)
    lhs, rhs = (y * v).sum(), (x * physics.A_adjoint(v)).sum()
    assert_close(lhs.reshape(1), rhs.reshape(1), what=f"<Ax, v> vs <x, A^T v> ({kind}, {grid})")


def test_non_square_grids_where_allowed() -> None:
    for kind in ("deblur", "inpainting", "mri", "denoising"):
        physics = make_physics(kind, (20, 28), dtype=F64, **_params(kind))
        x = torch.randn(1, 1, 20, 28, dtype=F64)
        v = torch.randn(physics.A(x).shape, dtype=F64)
        assert_close((physics.A(x) * v).sum().reshape(1), (x * physics.A_adjoint(v)).sum().reshape(1))


# the blur's top singular values (1, exp(-2 pi^2 w^2), ...) are close, so the power iteration creeps up to 1
@pytest.mark.filterwarnings("ignore:Power iteration. convergence not reached")
@pytest.mark.parametrize("kind", ["deblur", "mri"])
def test_lipschitz_is_the_operator_norm(kind: str) -> None:
    physics = make_physics(kind, 24, dtype=F64, **_params(kind))
    x0 = torch.rand(1, 1, 24, 24, generator=torch.Generator().manual_seed(0), dtype=F64)
    norm = float(physics.compute_sqnorm(x0, max_iter=200, tol=1e-6, verbose=False))
    # power iteration converges from below; 1e-3 is far looser than its error here and far below any scale mistake
    assert abs(norm - physics.lipschitz) <= 1e-3 * physics.lipschitz


def test_deblur_is_the_same_continuous_operator_at_every_grid() -> None:
    x15 = _band_limited(15, 15)
    y15 = make_physics("deblur", 15, width=0.04, dtype=F64).A(x15)
    for grid in (16, 32, 45):
        y = make_physics("deblur", grid, width=0.04, dtype=F64).A(ss.resample(x15, (grid, grid)))
        assert_close(y, ss.resample(y15, (grid, grid)), what=f"deblur at {grid}")
    # the continuous transfer function: a pure cosine of frequency k is damped by exp(-2 pi^2 w^2 k^2)
    t = torch.arange(40, dtype=F64) / 40
    wave = torch.cos(2 * math.pi * 3 * t)[None, None, None, :].expand(1, 1, 40, 40)
    out = make_physics("deblur", 40, width=0.04, dtype=F64).A(wave)
    assert_close(out, wave * math.exp(-2 * math.pi**2 * 0.04**2 * 9))


def test_mri_measures_the_same_frequencies_at_every_grid() -> None:
    k = mri_frequencies(**{k: MRI[k] for k in ("k_max", "k_center", "acceleration", "seed")})
    assert set(map(tuple, k.tolist())) == set(map(tuple, (-k).tolist()))  # Hermitian-closed
    x13 = _band_limited(13, 13)
    ys = {}
    for grid in (16, 24, 40):
        physics = make_physics("mri", grid, dtype=F64, **MRI)
        y = torch.view_as_complex(physics.A(ss.resample(x13, (grid, grid))).contiguous())
        ys[grid] = y[..., k[:, 0] % grid, k[:, 1] % grid]
        measured = torch.zeros(grid, grid, dtype=torch.bool)
        measured[k[:, 0] % grid, k[:, 1] % grid] = True
        assert float(y[..., ~measured].abs().max()) == 0.0  # nothing beyond the measured set
        # zero-filled reconstruction: the same band-limited function at every grid
        x_dag = physics.A_dagger(physics.A(ss.resample(x13, (grid, grid))))
        ref = make_physics("mri", 16, dtype=F64, **MRI)
        assert_close(ss.resample(x_dag, (16, 16)), ref.A_dagger(ref.A(ss.resample(x13, (16, 16)))))
    # the measurements are the Fourier coefficients (norm "forward") of the underlying function
    ref = torch.fft.fft2(x13, norm="forward")[..., k[:, 0] % 13, k[:, 1] % 13]
    for grid, y in ys.items():
        assert_close(y, ref, what=f"mri coefficients at {grid}")


MRI_BAND = {"k_max": None, "k_center": 2, "acceleration": 3.0, "seed": 1}


def test_mri_without_k_max_nests_across_grids() -> None:
    """k_max=None: every grid measures the sampled frequencies it resolves; coarser sets are subsets, same numbers."""
    x = _band_limited(15, 15)
    sets, coeffs = {}, {}
    for grid in (16, 24, 33, 64):
        physics = make_physics("mri", grid, dtype=F64, **MRI_BAND)
        k = mri_frequencies(None, 2, 3.0, 1, grid=(grid, grid))
        assert set(map(tuple, k.tolist())) == set(map(tuple, (-k).tolist()))  # Hermitian-closed
        assert int(k.abs().max()) == (grid - 1) // 2  # everything the grid resolves, the Nyquist line left out
        y = torch.view_as_complex(physics.A(ss.resample(x, (grid, grid))).contiguous())
        measured = torch.zeros(grid, grid, dtype=torch.bool)
        measured[k[:, 0] % grid, k[:, 1] % grid] = True
        assert float(y[..., ~measured].abs().max()) == 0.0
        sets[grid] = set(map(tuple, k.tolist()))
        coeffs[grid] = {tuple(f): y[..., f[0] % grid, f[1] % grid] for f in k.tolist()}
        # adjointness and the projection property hold for the band pattern too
        v = torch.randn(physics.A(x[..., :1, :1].expand(2, 1, grid, grid)).shape, dtype=F64)
        z = torch.randn(2, 1, grid, grid, dtype=F64)
        assert_close((physics.A(z) * v).sum().reshape(1), (z * physics.A_adjoint(v)).sum().reshape(1))
        assert_close(physics.A(physics.A_dagger(physics.A(z))), physics.A(z))
    assert sets[16] < sets[24] < sets[33] < sets[64]
    lines = {f[0] for f in sets[64]}
    assert 10 < len(lines) < 50  # about a third of the 63 lines, plus the centre
    ref = torch.fft.fft2(x, norm="forward")
    for grid in (24, 33, 64):  # the same numbers on every shared frequency: the coefficients of the function
        for f in sets[16]:
            assert_close(coeffs[grid][f], ref[..., f[0] % 15, f[1] % 15], what=f"{f} at {grid}")
    with pytest.raises(ValueError, match="every side must exceed 2 \\* k_center"):
        make_physics("mri", 8, k_max=None, k_center=4)
    with pytest.raises(ValueError, match="needs the grid"):
        mri_frequencies(None, 2, 3.0, 0)


def test_mri_pseudo_inverse_is_a_projection() -> None:
    physics = make_physics("mri", 20, dtype=F64, **MRI)
    x = torch.randn(2, 1, 20, 20, dtype=F64)
    y = physics.A(x)
    assert_close(physics.A(physics.A_dagger(y)), y)


def test_inpainting_mask_is_a_sampled_continuous_function() -> None:
    coarse = inpainting_mask((20, 30), seed=4)
    fine = inpainting_mask((40, 60), seed=4)
    assert torch.equal(fine[::2, ::2], coarse)  # n / N of the coarse grid is 2n / 2N of the fine one
    assert 0.3 < float(fine.mean()) < 0.99
    assert not torch.equal(inpainting_mask((40, 60), seed=5), fine)
    physics = make_physics("inpainting", (40, 60), seed=4, dtype=F64)
    x = torch.rand(1, 1, 40, 60, dtype=F64)
    assert torch.equal(physics.A(x), x * fine)


def _tomo_image(n: int) -> torch.Tensor:
    t = torch.arange(n, dtype=F64) / n
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    img = torch.exp(-((xx - 0.45) ** 2 + (yy - 0.55) ** 2) / (2 * 0.12**2))
    img = img + 0.5 * torch.exp(-((xx - 0.7) ** 2 + (yy - 0.3) ** 2) / (2 * 0.06**2))
    return img[None, None]


def _detectors(physics, n: int, count: int) -> torch.Tensor:
    return (torch.arange(count, dtype=F64) - (count - 1) / 2 - physics.detector_offset) / n


@pytest.mark.parametrize("grids", [(24, 48), (32, 64)])
def test_tomography_is_consistent_across_grids(grids: tuple[int, int]) -> None:
    """Line integrals of the same smooth image agree between grids (detectors interpolated linearly).

    The operator is bilinear rotation + summation, accurate to O(h^2) for a smooth image; with
    the detector interpolation the grids agree to 0.7% (24/48) and 0.4% (32/64). The bound (2%)
    is 3x that, while a half-pixel shift of the rotation centre (deepinv's raw behaviour) gives 6-9%.
    """
    n1, n2 = grids
    p1, p2 = (make_physics("tomography", n, n_angles=12, dtype=F64) for n in grids)
    y1, y2 = p1.A(_tomo_image(n1)), p2.A(_tomo_image(n2))
    s1, s2 = _detectors(p1, n1, y1.shape[-2]), _detectors(p2, n2, y2.shape[-2])
    idx = torch.searchsorted(s2, s1).clamp(1, len(s2) - 1)
    w = ((s1 - s2[idx - 1]) / (s2[idx] - s2[idx - 1]))[:, None]
    y2_at_1 = y2[..., idx - 1, :] * (1 - w) + y2[..., idx, :] * w
    assert float((y2_at_1 - y1).norm() / y1.norm()) < 0.02
    # the measurement is a line integral over a unit field of view: the 0-degree projection integrates to the mass
    assert abs(float(y1[..., 0].sum() / n1) - float(_tomo_image(n1).mean())) < 1e-3


def test_tomography_fbp_is_the_pseudo_inverse() -> None:
    physics = make_physics("tomography", 32, n_angles=60)
    x = _tomo_image(32).float()
    fbp = physics.A_dagger(physics.A(x))
    assert float((fbp - x).norm() / x.norm()) < 0.15  # FBP with 60 views of a smooth image: a few % error
    assert physics.input_mode == "pinv"


def test_denoising_noise_models() -> None:
    x = torch.full((4, 1, 32, 32), 0.5)
    torch.manual_seed(0)
    y = make_physics("denoising", 32, sigma=0.2)(x)
    assert abs(float((y - x).std()) - 0.2) < 0.01  # 4096 samples: std error ~0.2/sqrt(8192) = 0.002
    y = make_physics("denoising", 32, noise="poisson", gain=0.01)(x)
    assert abs(float(y.mean()) - 0.5) < 0.01 and float(y.var()) == pytest.approx(0.005, rel=0.15)


@pytest.mark.parametrize(
    ("call", "error", "match"),
    [
        (lambda: make_physics("deconvolution", 32), ValueError, "unknown physics 'deconvolution'"),
        (lambda: make_physics("deblur", 32, sigma=1.0), ValueError, "unknown parameter.*'sigma'.*width"),
        (lambda: make_physics("tomography", (32, 40)), ValueError, "tomography needs a square grid"),
        (lambda: make_physics("mri", 32, k_max=16), ValueError, r"cannot take mri with k_max=16.*exceed 2 \* k_max"),
        (lambda: make_physics("deblur", 3), ValueError, "too small"),
        (lambda: make_physics("deblur", "big"), ValueError, "shape must be"),
        (lambda: make_physics("deblur", 32, width=-0.1), ValueError, "width must be > 0"),
        (lambda: make_physics("deblur", 32, dtype=torch.int64), TypeError, "dtype must be"),
        (lambda: make_physics("mri", 64, k_center=9, k_max=8), ValueError, "k_center"),
        (lambda: make_physics("mri", 64, acceleration=0.5), ValueError, "acceleration"),
        (lambda: make_physics("denoising", 32, noise="laplace"), ValueError, "noise must be"),
        (lambda: make_physics("inpainting", 32, n_disks=-1), ValueError, "n_disks"),
    ],
)
def test_bad_arguments(call, error, match) -> None:
    with pytest.raises(error, match=match):
        call()


def test_tomography_rejects_images_of_another_grid() -> None:
    physics = make_physics("tomography", 16, n_angles=4)
    with pytest.raises(ValueError, match="does not match the operator image size"):
        physics.A(torch.rand(1, 1, 24, 24))
