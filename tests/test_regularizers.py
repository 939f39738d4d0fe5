"""Regularizers of spectral_sparse.optim: proximal maps against closed forms and optimality, subgradients."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from spectral_sparse.optim import (
    L1,
    ChannelGroupL1L2,
    ModeGroupL1L2,
    NuclearPerMode,
    Null,
    Regularizer,
    make_regularizer,
)
from spectral_sparse.testing import assert_close

DTYPES = (torch.float64, torch.complex128)


def _rand(shape: tuple[int, ...], dtype: torch.dtype, seed: int) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(*shape, dtype=dtype, generator=g)


def _all_regs(lam: float) -> list[Regularizer]:
    return [
        L1(lam),
        ModeGroupL1L2(lam),
        ModeGroupL1L2(lam, weighted=False),
        ChannelGroupL1L2(lam, "out"),
        ChannelGroupL1L2(lam, "in"),
        NuclearPerMode(lam),
        Null(),
    ]


# ---------------------------------------------------------------------------------- closed forms
@pytest.mark.parametrize("dtype", DTYPES)
def test_l1_prox_is_soft_thresholding(dtype: torch.dtype) -> None:
    p = _rand((5, 3, 4), dtype, 0)
    t = 0.3 * 0.7
    expected = torch.zeros_like(p)
    for i, z in enumerate(p.flatten().tolist()):
        r = abs(z)
        expected.view(-1)[i] = z * max(0.0, 1 - t / r)
    out = L1(lam=0.7).prox(p, step=0.3)
    assert out.dtype == p.dtype and out.shape == p.shape
    assert_close(out, expected)
    assert bool((out[p.abs() <= t] == 0).all())
    if dtype.is_complex:  # the phase is kept
        nz = out != 0
        assert_close(torch.angle(out[nz]), torch.angle(p[nz]))


@pytest.mark.parametrize("dtype", DTYPES)
def test_mode_group_prox_closed_form(dtype: torch.dtype) -> None:
    p = _rand((6, 3, 2), dtype, 1)
    p[2] *= 0.01  # a group well inside the threshold
    lam, t = 0.4, 0.5
    out = ModeGroupL1L2(lam).prox(p, t)
    w = 6**0.5  # sqrt of the group size 3 * 2
    for k in range(6):
        norm = torch.linalg.vector_norm(p[k]).item()
        assert_close(out[k], p[k] * max(0.0, 1 - t * lam * w / norm))
    assert bool((out[2] == 0).all())
    unweighted = ModeGroupL1L2(lam, weighted=False).prox(p, t)
    assert_close(unweighted[0], p[0] * (1 - t * lam / torch.linalg.vector_norm(p[0]).item()))


@pytest.mark.parametrize("channels", ["out", "in"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_channel_group_prox_closed_form(channels: str, dtype: torch.dtype) -> None:
    p = _rand((4, 3, 5), dtype, 2)
    lam, t = 0.5, 0.6
    out = ChannelGroupL1L2(lam, channels).prox(p, t)
    if channels == "out":
        for o in range(5):
            norm = torch.linalg.vector_norm(p[:, :, o]).item()
            assert_close(out[:, :, o], p[:, :, o] * max(0.0, 1 - t * lam * 12**0.5 / norm))
    else:
        for i in range(3):
            norm = torch.linalg.vector_norm(p[:, i, :]).item()
            assert_close(out[:, i, :], p[:, i, :] * max(0.0, 1 - t * lam * 20**0.5 / norm))
    diag = _rand((4, 3), dtype, 3)  # (K, C) diagonal weight: groups are p[:, c] either way
    ref = ChannelGroupL1L2(lam, "out").prox(diag, t)
    assert torch.equal(ChannelGroupL1L2(lam, "in").prox(diag, t), ref)
    assert_close(ref[:, 0], diag[:, 0] * max(0.0, 1 - t * lam * 2 / torch.linalg.vector_norm(diag[:, 0]).item()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_nuclear_prox_thresholds_singular_values(dtype: torch.dtype) -> None:
    p = _rand((3, 4, 3), dtype, 4)
    t = 0.8
    out = NuclearPerMode(lam=1.0).prox(p, t)
    for k in range(3):
        u, s, vh = torch.linalg.svd(p[k], full_matrices=False)
        s_out = torch.linalg.svdvals(out[k])
        assert_close(s_out, (s - t).clamp_min(0))
        assert_close(out[k], u @ torch.diag((s - t).clamp_min(0)).to(dtype) @ vh)
    # a diagonal (K, C) weight stands for diag(p[k]): nuclear norm = L1
    diag = _rand((3, 4), dtype, 5)
    assert torch.equal(NuclearPerMode(0.3).prox(diag, 1.0), L1(0.3).prox(diag, 1.0))
    assert_close(NuclearPerMode(0.3)(diag), L1(0.3)(diag))


def test_null_and_zero_step_are_identity() -> None:
    p = _rand((3, 2, 2), torch.complex128, 6)
    for reg in _all_regs(0.5):
        assert torch.equal(reg.prox(p, 0.0), p)
    assert torch.equal(Null().prox(p, 10.0), p)
    assert Null()(p).item() == 0.0 and bool((Null().subgradient(p) == 0).all())


def test_values_match_definitions() -> None:
    p = _rand((4, 2, 3), torch.complex128, 7)
    assert_close(L1(2.0)(p), 2.0 * p.abs().sum())
    norms = torch.stack([torch.linalg.vector_norm(p[k]) for k in range(4)])
    assert_close(ModeGroupL1L2(2.0)(p), 2.0 * 6**0.5 * norms.sum())
    assert_close(NuclearPerMode(2.0)(p), 2.0 * torch.linalg.svdvals(p).sum())
    for reg in _all_regs(0.5):
        value = reg(p)
        assert value.ndim == 0 and not value.is_complex()


# ---------------------------------------------------------------------------------- optimality
def _objective(reg: Regularizer, x: torch.Tensor, p: torch.Tensor, t: float) -> float:
    return float(0.5 * (x - p).abs().square().sum() + t * reg(x))


@settings(max_examples=20, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lam=st.floats(0.01, 2.0),
    step=st.floats(0.05, 2.0),
    complex_=st.booleans(),
    shape=st.sampled_from([(3, 2, 2), (4, 3, 2), (2, 4)]),
)
def test_prox_is_the_argmin(seed: int, lam: float, step: float, complex_: bool, shape: tuple[int, ...]) -> None:
    """``F(prox) <= F(prox + eps d)`` for random directions, and below a subgradient-step candidate."""
    dtype = torch.complex128 if complex_ else torch.float64
    p = _rand(shape, dtype, seed)
    g = torch.Generator().manual_seed(seed + 1)
    for reg in _all_regs(lam):
        x = reg.prox(p, step)
        best = _objective(reg, x, p, step)
        for eps in (1e-1, 1e-3):
            for _ in range(5):
                d = torch.randn(shape, dtype=dtype, generator=g)
                assert best <= _objective(reg, x + eps * d, p, step) + 1e-10, reg
        # the plain subgradient step is never better than the prox
        assert best <= _objective(reg, p - step * reg.subgradient(p), p, step) + 1e-10


# ---------------------------------------------------------------------------------- subgradients
@pytest.mark.parametrize("dtype", DTYPES)
def test_subgradient_is_the_gradient_at_nonzero_points(dtype: torch.dtype) -> None:
    """Also fixes the complex convention: autograd gives dR/dRe + i dR/dIm for a real R."""
    p = _rand((3, 3, 2), dtype, 8)
    for reg in _all_regs(0.7):
        x = p.clone().requires_grad_(True)
        reg(x).backward()
        if isinstance(reg, Null):
            assert x.grad is None or bool((x.grad == 0).all())
            continue
        assert_close(reg.subgradient(p), x.grad, what=repr(reg))


def test_subgradient_on_zero_groups_is_zero_and_in_the_subdifferential() -> None:
    p = _rand((4, 2, 2), torch.complex128, 9)
    p[1] = 0
    p[3, 0, 0] = 0
    assert bool((L1(1.0).subgradient(p)[1] == 0).all())
    assert bool((ModeGroupL1L2(1.0).subgradient(p)[1] == 0).all())
    assert ModeGroupL1L2(1.0).zero_groups(p).tolist() == [False, True, False, False]
    assert NuclearPerMode(1.0).zero_groups(p).tolist() == [False, True, False, False]
    # a rank-deficient mode: U V^H over the nonzero singular values only, spectral norm 1
    q = torch.outer(_rand((3,), torch.complex128, 10), _rand((2,), torch.complex128, 11))[None]
    s = NuclearPerMode(1.0).subgradient(q)
    assert torch.linalg.matrix_rank(s[0]).item() == 1
    assert_close(torch.linalg.matrix_norm(s[0], ord=2), torch.tensor(1.0, dtype=torch.float64))


# ---------------------------------------------------------------------------------- factory and errors
def test_make_regularizer_round_trip() -> None:
    for reg in _all_regs(0.25):
        again = make_regularizer(reg.config())
        assert again == reg and again is not reg and type(again) is type(reg)
    assert make_regularizer(L1(0.5), lam=2.0).lam == 2.0
    assert isinstance(make_regularizer(None), Null)


def test_bad_arguments_raise() -> None:
    with pytest.raises(ValueError, match="unknown regularizer 'lasso'"):
        make_regularizer("lasso")
    with pytest.raises(TypeError, match="reg must be a Regularizer"):
        make_regularizer(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="bad options for regularizer 'l1'"):
        make_regularizer({"name": "l1", "channels": "out"})
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        L1(-1.0)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        ModeGroupL1L2(float("nan"))
    with pytest.raises(ValueError, match="prox step must be a finite number >= 0"):
        L1(1.0).prox(torch.ones(3), -0.1)
    with pytest.raises(ValueError, match="channels must be 'out' or 'in'"):
        ChannelGroupL1L2(1.0, channels="both")
    with pytest.raises(ValueError, match="NuclearPerMode needs a"):
        NuclearPerMode(1.0).prox(torch.ones(3), 1.0)
    with pytest.raises(ValueError, match="ChannelGroupL1L2 needs a"):
        ChannelGroupL1L2(1.0)(torch.ones(3))
    with pytest.raises(TypeError, match="weighted must be a bool"):
        ModeGroupL1L2(1.0, weighted="yes")  # type: ignore[arg-type]
