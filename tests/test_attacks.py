"""Attacks: budgets and domains at every grid, monotonicity, FourierPGD as a function, transfer, the matrix,
the torchattacks cross-check, model state, and argument errors."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
from _stripes import stripes
from torch import nn

import spectral_sparse as ss
from spectral_sparse.attacks import (
    FGSM,
    PGD,
    FourierPGD,
    accuracy,
    function_norm,
    render,
    robust_accuracy,
    robustness_matrix,
    transfer,
)
from spectral_sparse.models import SpectralClassifier
from spectral_sparse.testing import assert_close
from spectral_sparse.training import train_classifier

GRIDS = [12, 16, (12, 20)]


@pytest.fixture(scope="module")
def trained() -> tuple[nn.Module, torch.Tensor, torch.Tensor]:
    """A tiny spectral classifier trained for a second on 16x16 stripes (clean accuracy ~1), and 64 test images."""
    torch.manual_seed(0)
    x, y = stripes(512)
    model = SpectralClassifier(1, 4, width=8, modes=3, depth=1)
    train_classifier(model, x, y, epochs=6, batch_size=16, lr=2e-2, progress=False)
    xt, yt = stripes(64, seed=1)
    return model.eval(), xt, yt


def _linear_binary() -> nn.Module:
    torch.manual_seed(3)
    return nn.Sequential(nn.Flatten(), nn.Linear(64, 2))


# ----------------------------------------------------------------------------- budgets and domains
@pytest.mark.parametrize("grid", GRIDS)
@pytest.mark.parametrize("norm", ["linf", "l2"])
def test_pgd_respects_budget_and_domain(trained, grid, norm) -> None:
    model, x, y = trained
    x = ss.data.resize(x[:16], grid, clamp=(0, 1))
    eps = 0.1 if norm == "linf" else 0.8
    adv = PGD(model, eps=eps, alpha=eps / 2, steps=3, norm=norm, seed=2)(x, y[:16])
    assert adv.shape == x.shape and adv.dtype == x.dtype
    d = (adv - x).flatten(1)
    size = d.abs().amax(1) if norm == "linf" else d.norm(dim=1)
    assert float(size.max()) <= eps * (1 + 1e-5)
    assert float(size.max()) > 0.5 * eps  # the attack moved
    assert float(adv.min()) >= 0 and float(adv.max()) <= 1


@pytest.mark.parametrize("grid", GRIDS)
def test_custom_domain_fgsm_and_fourier(trained, grid) -> None:
    model, x, y = trained
    x = ss.data.resize(x[:8], grid, clamp=(0, 1)) * 4 - 2  # images in [-2, 2]
    adv = FGSM(model, eps=0.3, domain=(-2.0, 2.0))(x, y[:8])
    assert float((adv - x).abs().max()) <= 0.3 + 1e-6 and float(adv.abs().max()) <= 2
    assert float((adv - x).abs().max()) > 0.29  # values are not clamped to [0, 1]
    atk = FourierPGD(model, eps=0.5, steps=3, modes=2.5, domain=(-2.0, 2.0))
    a = atk.perturbation(x, y[:8])
    assert float(function_norm(a, atk.modes).max()) <= 0.5 * (1 + 1e-5)
    adv = atk(x, y[:8])
    assert float(adv.abs().max()) <= 2 and adv.shape == x.shape


def test_linf_coeff_budget(trained) -> None:
    model, x, y = trained
    atk = FourierPGD(model, eps=0.05, steps=3, modes=3.0, norm="linf-coeff", seed=4)
    a = atk.perturbation(x[:8], y[:8])
    assert float(a.abs().max()) <= 0.05 * (1 + 1e-5)
    assert float(a.abs().amax(-1).min()) > 0.04  # ascent pushes coefficients to the boundary


# ----------------------------------------------------------------------------- stronger is never better
def test_linear_model_robust_accuracy_is_monotone_in_eps() -> None:
    # for a 2-class linear model the margin under the worst L-inf perturbation is margin - eps * ||w1 - w0||_1,
    # reached by FGSM and by PGD with alpha >= eps: the fooled sets are nested, so accuracy can only drop
    model = _linear_binary()
    x = torch.rand(200, 1, 8, 8)
    y = model(x).argmax(1)  # clean accuracy 1
    fgsm = [robust_accuracy(model, x, y, FGSM(model, eps, domain=None)) for eps in (0.0, 0.01, 0.02, 0.04, 0.08)]
    pgd = [
        robust_accuracy(model, x, y, PGD(model, eps, alpha=eps, steps=2, random_start=False, domain=None))
        for eps in (0.01, 0.02, 0.04, 0.08)
    ]
    assert fgsm[0] == 1.0 and fgsm[-1] < 0.5
    assert all(a >= b for a, b in itertools.pairwise(fgsm)), fgsm
    assert pgd == fgsm[1:]


def test_stronger_attacks_do_not_raise_robust_accuracy(trained) -> None:
    model, x, y = trained
    clean = accuracy(model, x, y)
    weak = PGD(model, 0.1, alpha=0.02, steps=5, random_start=False)
    strong = PGD(model, 0.2, alpha=0.04, steps=10, random_start=False)
    a_weak, a_strong = weak(x, y), strong(x, y)
    r_weak, r_strong = accuracy(model, a_weak, y), accuracy(model, a_strong, y)
    # worst case over both budgets (a sample counts as robust only if both attacks fail): the eps=0.2 ball
    # contains the eps=0.1 one, so this is what the strong budget admits at least
    both = ((model(a_weak).argmax(1) == y) & (model(a_strong).argmax(1) == y)).float().mean().item()
    assert clean >= 0.8  # the fixture model learned something
    assert clean >= r_weak >= both and r_strong <= r_weak
    assert r_strong < clean


def test_targeted_pgd_moves_to_the_target(trained) -> None:
    model, x, y = trained
    target = (y + 1) % 4
    adv = PGD(model, 0.3, alpha=0.05, steps=10, targeted=True, random_start=False)(x, target)
    with torch.no_grad():
        before = float((model(x).argmax(1) == target).float().mean())
        after = float((model(adv).argmax(1) == target).float().mean())
    assert after > before + 0.3


def test_random_start_is_seeded_and_stateless(trained) -> None:
    model, x, y = trained
    torch.manual_seed(0)
    a = PGD(model, 0.1, steps=2, seed=5)(x[:8], y[:8])
    torch.manual_seed(1)  # the global RNG plays no part
    assert torch.equal(a, PGD(model, 0.1, steps=2, seed=5)(x[:8], y[:8]))
    assert not torch.equal(a, PGD(model, 0.1, steps=2, seed=6)(x[:8], y[:8]))


def test_model_mode_and_parameter_grads_untouched(trained) -> None:
    model, x, y = trained
    seen: list[bool] = []
    hook = model.lift.register_forward_hook(lambda m, i, o: seen.append(m.training))
    model.train()
    for p in model.parameters():
        p.grad = torch.full_like(p, 7.0)
    try:
        for atk in (FGSM(model, 0.1), PGD(model, 0.1, steps=2), FourierPGD(model, 0.2, steps=2, modes=2.0)):
            atk(x[:4], y[:4])
        assert seen and not any(seen)  # eval mode during the attacks
        assert model.training and all(m.training for m in model.modules())
        assert all(bool((p.grad == 7.0).all()) for p in model.parameters())
    finally:
        hook.remove()
        model.zero_grad(set_to_none=True)
        model.eval()


# ----------------------------------------------------------------------------- FourierPGD is a function
def test_fourier_perturbation_is_band_limited(trained) -> None:
    model, x, y = trained
    atk = FourierPGD(model, eps=0.5, steps=3, modes=3.0, domain=None, seed=1)
    delta = (atk(x[:8], y[:8]) - x[:8]).double()
    spec = torch.fft.fft2(delta, norm="forward").abs() ** 2
    k = torch.fft.fftfreq(16, 1 / 16)
    outside = (k[:, None] ** 2 + k[None, :] ** 2) > 9 + 1e-9
    assert float(spec[..., outside].sum()) <= 1e-10 * float(spec.sum())
    assert float(spec.sum()) > 1e-4


def test_fourier_perturbation_same_function_on_two_grids(trained) -> None:
    model, x, y = trained
    atk = FourierPGD(model, eps=0.5, steps=3, modes=3.0, domain=None)
    a = atk.perturbation(x[:4], y[:4]).to(torch.complex128)  # crafted at 16x16
    f32, f48 = atk.render(a, 32), atk.render(a, 48)
    assert_close(ss.resample(f32, (48, 48)), f48, what="resampled render vs render at 48")
    # Parseval: the L2 budget norm is the RMS of the samples on any grid that resolves the modes
    for f in (f32, f48, atk.render(a, (9, 14))):
        assert_close(f.pow(2).mean(dim=(-2, -1)).sum(1).sqrt(), function_norm(a, atk.modes), what="Parseval")
    # applied at another grid: the same field added
    x48 = ss.data.resize(x[:4], 48).double()
    assert_close(atk.apply(x48, a) - x48, f48, what="apply at 48")


def test_render_matches_the_contract_synthesis() -> None:
    modes = ss.ModeSet.from_indices([[0, 0], [1, 0], [-2, 1], [0, 3]])
    a = torch.tensor([[0.3 + 0.7j, 0.2 - 0.1j, -0.4 + 0.5j, 0.1j]], dtype=torch.complex128)
    n = (9, 8)
    t = torch.arange(9.0, dtype=torch.float64) / 9, torch.arange(8.0, dtype=torch.float64) / 8
    yy, xx = torch.meshgrid(*t, indexing="ij")
    ref = torch.zeros(9, 8, dtype=torch.float64) + 0.3  # c_0 = 1, Re(a_0)
    for (k1, k2), ak in zip(modes.indices.tolist()[1:], a[0, 1:].tolist()):
        ref += 2 * (ak * torch.exp(2j * math.pi * (k1 * yy + k2 * xx))).real
    assert_close(render(a, modes, n)[0], ref, what="render vs direct sum")
    with pytest.raises(ValueError, match="does not resolve"):
        render(a, modes, (9, 6))  # |k_2| = 3 needs 2|k| < N


# ----------------------------------------------------------------------------- transfer
def test_transfer_round_trips() -> None:
    torch.manual_seed(0)
    x = torch.rand(3, 1, 14, 14, dtype=torch.float64)
    assert_close(transfer(transfer(x, 56), 14), x, what="fourier up then down")
    band = ss.resample(x, (7, 7))  # a band-limited field, on 7x7 then on 28x28
    fine = ss.resample(band, (28, 28))
    assert_close(transfer(transfer(fine, 13), 28), fine, what="fourier down then up, band-limited")
    for method in ("bilinear", "bicubic", "nearest", "area"):
        y = transfer(x, (20, 28), method=method, domain=(0, 1))
        assert y.shape == (3, 1, 20, 28) and float(y.min()) >= 0 and float(y.max()) <= 1
    assert torch.equal(transfer(x, 28, "nearest")[..., ::2, ::2], x)


# ----------------------------------------------------------------------------- robustness matrix
def test_robustness_matrix_rows_and_diagonal(trained) -> None:
    model, x, y = trained
    atk = PGD(model, 0.1, alpha=0.025, steps=4, random_start=False)
    out = robustness_matrix(model, x, y, atk, [12, 16], [12, 16, 24], batch_size=40)
    assert out["matrix"].shape == (2, 3) and out["sources"] == [12, 16] and out["targets"] == [12, 16, 24]
    assert [(r["source"], r["target"]) for r in out["rows"]][:3] == [(12, 12), (12, 16), (12, 24)]
    clean = {r["resolution"]: r["accuracy"] for r in out["clean"]}
    assert set(clean) == {12, 16, 24} and clean[16] == accuracy(model, x, y)
    # the diagonal is the white-box robust accuracy at that grid
    assert out["matrix"][1, 1].item() == robust_accuracy(model, x, y, atk)
    x12 = ss.data.resize(x, 12, clamp=(0, 1))
    assert out["matrix"][0, 0].item() == robust_accuracy(model, x12, y, atk)
    assert all(r["robust_accuracy"] <= 1 and r["n"] == 64 for r in out["rows"])
    assert out["matrix"][1, 1] < clean[16]


# ----------------------------------------------------------------------------- torchattacks
# torchattacks is in no extra (its requests~=2.25.1 pin conflicts with the docs extra's mkdocs-material); CI
# installs it (.ci/run), a plain `pip install -e ".[test]"` skips these two tests.
NO_TORCHATTACKS = (
    "torchattacks is not installed (it is in no extra: it pins requests~=2.25.1, which the docs extra rejects); "
    'for the cross-check: pip install --no-deps "torchattacks==3.5.1"'
)


def test_pgd_agrees_with_torchattacks(trained) -> None:
    torchattacks = pytest.importorskip("torchattacks", reason=NO_TORCHATTACKS)
    model, x, y = trained
    ours = PGD(model, eps=0.1, alpha=0.02, steps=10, random_start=False)
    theirs = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=10, random_start=False)
    a, b = ours(x, y), theirs(x, y)
    # same algorithm; only float rounding (summed vs mean loss) can flip a sign of a ~0 gradient entry.
    # Bound: at most 2 of the 64 samples may be classified differently.
    r_ours, r_theirs = accuracy(model, a, y), accuracy(model, b, y)
    assert abs(r_ours - r_theirs) <= 2 / len(y)
    assert float((a - b).abs().gt(1e-4).float().mean()) < 0.01
    assert r_ours < accuracy(model, x, y)
    f_ours, f_theirs = FGSM(model, 0.1)(x, y), torchattacks.FGSM(model, eps=0.1)(x, y)
    assert abs(accuracy(model, f_ours, y) - accuracy(model, f_theirs, y)) <= 2 / len(y)


def test_torchattacks_attacks_pass_into_our_evaluators(trained) -> None:
    torchattacks = pytest.importorskip("torchattacks", reason=NO_TORCHATTACKS)
    model, x, y = trained
    atk = torchattacks.PGD(model, eps=0.1, alpha=0.02, steps=3, random_start=False)
    out = robustness_matrix(model, x[:32], y[:32], atk, [16], [16, 20])
    ours = robustness_matrix(model, x[:32], y[:32], PGD(model, 0.1, 0.02, 3, random_start=False), [16], [16, 20])
    assert (out["matrix"] - ours["matrix"]).abs().max() <= 2 / 32
    assert robust_accuracy(model, x[:32], y[:32], torchattacks.FGSM(model, eps=0.1)) <= 1.0


# ----------------------------------------------------------------------------- errors
def test_bad_arguments_raise_clear_errors(trained) -> None:
    model, x, y = trained
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        PGD(model, eps=-0.1)
    with pytest.raises(ValueError, match="eps must be a finite number >= 0"):
        FGSM(model, eps=float("nan"))
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        PGD(model, 0.1, steps=0)
    with pytest.raises(ValueError, match="steps must be an int >= 1"):
        FourierPGD(model, 0.1, steps=2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="norm must be one of 'linf', 'l2'"):
        PGD(model, 0.1, norm="l1")
    with pytest.raises(ValueError, match="norm must be one of 'l2', 'linf-coeff'"):
        FourierPGD(model, 0.1, norm="linf")
    with pytest.raises(ValueError, match="lo < hi"):
        PGD(model, 0.1, domain=(1.0, 0.0))
    with pytest.raises(ValueError, match="domain must be None or a pair"):
        FGSM(model, 0.1, domain=(0.0,))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        PGD(lambda t: t, 0.1)  # type: ignore[arg-type]
    atk = PGD(model, 0.1, steps=1)
    with pytest.raises(ValueError, match=r"images must have shape \(B, C, \*grid\)"):
        atk(x[0, 0], y[:1])
    with pytest.raises(ValueError, match=r"labels must have shape \(64,\)"):
        atk(x, y[:10])
    with pytest.raises(TypeError, match="labels must be an integer tensor"):
        atk(x, y.float())
    with pytest.raises(ValueError, match="outside the domain"):
        atk(x * 3, y)
    with pytest.raises(ValueError, match="NaN"):
        atk(x.masked_fill(x > 0.5, float("nan")), y)
    with pytest.raises(ValueError, match="does not resolve the perturbation's modes"):
        FourierPGD(model, 0.1, modes=5.0, steps=1)(ss.data.resize(x, 10, clamp=(0, 1)), y)
    with pytest.raises(TypeError, match="modes must be a ModeSet or a radius"):
        FourierPGD(model, 0.1, modes="low")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="one per mode"):
        render(torch.zeros(2, 3, dtype=torch.complex64), ss.ModeSet.radial(2, 2), 8)
    with pytest.raises(ValueError, match="unknown transfer method 'lanczos'"):
        transfer(x, 20, method="lanczos")
    with pytest.raises(TypeError, match="attack must be a callable"):
        robust_accuracy(model, x, y, "pgd")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="the attack returned"):
        robust_accuracy(model, x, y, lambda a, b: a[:, :, :4])
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        robustness_matrix(model, x, y, atk, [16], batch_size=0)
