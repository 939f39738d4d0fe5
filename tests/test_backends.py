"""Every backend against the fft reference: outputs and all gradients; gradcheck; dispatch.

Backends are discovered from the registry, so a backend registered later is tested
here automatically on every case it accepts (its ``not_supported_reasons``).
"""

from __future__ import annotations

import itertools
import zlib

import pytest
import torch
from _literal import cpu_backends, random_modes, random_weight

from spectral_sparse import ModeSet
from spectral_sparse.backends import BackendUnavailableError, get_backend, registered_backends
from spectral_sparse.functional import prepare_call, select_backend, sparse_spectral_conv
from spectral_sparse.testing import TOLERANCES, assert_close

OTHER_BACKENDS = cpu_backends(include_reference=False)

COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}

# grid per (ndim, parity); output grids differ in size and parity from the input grid
GRIDS = {
    (1, "odd"): ((13,), (8,)),
    (1, "even"): ((12,), (17,)),
    (2, "odd"): ((9, 7), (12, 6)),
    (2, "even"): ((8, 10), (7, 5)),
    (3, "odd"): ((5, 7, 3), (6, 4, 6)),
    (3, "even"): ((6, 4, 4), (5, 7, 3)),
}
BOX = {1: (10,), 2: (8, 6), 3: (4, 4, 4)}
KMAX = {1: 8, 2: (5, 4), 3: (3, 3, 2)}


def test_registry_has_the_reference_and_dft():
    names = list(registered_backends())
    assert "fft" in names and "dft" in names
    assert "dft" in OTHER_BACKENDS  # the CPU backends under test here


def _case(ndim, parity, kind, mixing, dtype, out, seed):
    gen = torch.Generator().manual_seed(seed)
    grid, other = GRIDS[(ndim, parity)]
    modes = ModeSet.box(BOX[ndim]) if kind == "box" else random_modes(gen, ndim, 9, KMAX[ndim])
    cin, cout = (3, 3) if mixing == "diagonal" else (3, 2)
    x = torch.randn(2, cin, *grid, generator=gen, dtype=dtype)
    weight = random_weight(gen, modes, cin, cout, mixing, COMPLEX[dtype])
    bias = torch.randn(cout, generator=gen, dtype=dtype)
    output_shape = other if out else None
    return x, weight, modes, bias, output_shape, gen


def _require(backend, x, weight, modes, output_shape=None):
    """Skip a case that a backend refuses on this machine (e.g. Triton's 3-D fallback)."""
    reasons = get_backend(backend).not_supported_reasons(prepare_call(x, weight, modes, None, output_shape))
    if reasons:
        pytest.skip("; ".join(reasons))


def _run_with_grads(backend, x, weight, modes, bias, output_shape, cotangent=None):
    x = x.detach().clone().requires_grad_(True)
    weight = weight.detach().clone().requires_grad_(True)
    bias = bias.detach().clone().requires_grad_(True)
    y = sparse_spectral_conv(x, weight, modes, bias, output_shape=output_shape, backend=backend)
    if cotangent is None:
        cotangent = torch.randn(y.shape, generator=torch.Generator().manual_seed(99), dtype=y.dtype)
    (y * cotangent).sum().backward()
    return y.detach(), x.grad, weight.grad, bias.grad, cotangent


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("mixing", ["dense", "diagonal"])
@pytest.mark.parametrize("kind", ["box", "scattered"])
@pytest.mark.parametrize(("ndim", "parity"), list(itertools.product([1, 2, 3], ["odd", "even"])))
@pytest.mark.parametrize("out", [False, True], ids=["same-grid", "output_shape"])
def test_backend_matches_reference(backend, dtype, mixing, kind, ndim, parity, out):
    seed = zlib.crc32(f"{dtype}{mixing}{kind}{ndim}{parity}{out}".encode())
    x, weight, modes, bias, output_shape, _ = _case(ndim, parity, kind, mixing, dtype, out, seed)
    _require(backend, x, weight, modes, output_shape)
    y_ref, gx_ref, gw_ref, gb_ref, cot = _run_with_grads("fft", x, weight, modes, bias, output_shape)
    y, gx, gw, gb, _ = _run_with_grads(backend, x, weight, modes, bias, output_shape, cot)
    expected_grid = output_shape or x.shape[2:]
    assert y.shape == (2, bias.shape[0], *expected_grid)
    assert y.dtype == dtype and gx.dtype == dtype and gw.dtype == weight.dtype and gb.dtype == dtype
    assert_close(y, y_ref, dtype, what=f"{backend} output")
    assert_close(gx, gx_ref, dtype, what=f"{backend} input gradient")
    assert_close(gw, gw_ref, COMPLEX[dtype], what=f"{backend} weight gradient")
    assert_close(gb, gb_ref, dtype, what=f"{backend} bias gradient")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_backend_matches_reference_without_bias_and_many_modes(backend):
    """A larger 2-D case: every mode of a grid (both Nyquist signs), no bias, float32."""
    gen = torch.Generator().manual_seed(3)
    modes = ModeSet.full((12, 10))
    x = torch.randn(3, 4, 12, 10, generator=gen)
    weight = torch.randn(len(modes), 4, 5, generator=gen, dtype=torch.complex64)
    for output_shape in (None, (16, 16), (7, 9)):
        _require(backend, x, weight, modes, output_shape)
        y_ref = sparse_spectral_conv(x, weight, modes, None, output_shape, backend="fft")
        y = sparse_spectral_conv(x, weight, modes, None, output_shape, backend=backend)
        assert_close(y, y_ref, what=f"{backend} output at {output_shape}")


@pytest.mark.parametrize("backend", OTHER_BACKENDS)
def test_weight_gradient_of_unresolved_modes_is_zero(backend):
    modes = ModeSet.from_indices([[0, 0], [1, 2], [5, 1], [-1, 6]])  # last two need grids >= 10, 12
    x = torch.randn(2, 2, 6, 6, dtype=torch.float64)
    weight = torch.randn(4, 2, 2, dtype=torch.complex128, requires_grad=True)
    _require(backend, x, weight, modes)
    sparse_spectral_conv(x, weight, modes, backend=backend).square().sum().backward()
    assert weight.grad[2:].abs().max() == 0
    assert weight.grad[:2].abs().max() > 0


def test_dtype_table_is_per_dtype():
    assert set(TOLERANCES) >= {torch.float32, torch.float64, torch.complex64, torch.complex128}
    assert TOLERANCES[torch.float64][0] < TOLERANCES[torch.float32][0]


# ---------------------------------------------------------------------------- gradcheck


GRADCHECK_CASES = [
    # (grid, output_shape, modes, mixing)
    ((7,), None, ModeSet.from_indices([[0], [2], [-3]]), "dense"),
    ((6,), (9,), ModeSet.from_indices([[0], [1], [3]]), "dense"),  # input Nyquist
    ((5, 4), None, ModeSet.from_indices([[0, 0], [1, 2], [-2, 1], [2, 0]]), "dense"),  # last-axis Nyquist
    ((4, 5), (6, 3), ModeSet.from_indices([[2, 1], [-2, 1], [1, 0], [0, 1]]), "diagonal"),
    ((3, 4, 2), (4, 3, 2), ModeSet.from_indices([[1, 1, 1], [0, 2, 0], [1, -1, 0]]), "dense"),
]


@pytest.mark.parametrize("backend", ["fft", "dft"])
@pytest.mark.parametrize("case", range(len(GRADCHECK_CASES)))
def test_gradcheck_float64(backend, case):
    grid, output_shape, modes, mixing = GRADCHECK_CASES[case]
    gen = torch.Generator().manual_seed(case)
    x = torch.randn(1, 2, *grid, generator=gen, dtype=torch.float64, requires_grad=True)
    weight = random_weight(gen, modes, 2, 2, mixing, torch.complex128).requires_grad_(True)
    bias = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)

    def fn(x, weight, bias):
        return sparse_spectral_conv(x, weight, modes, bias, output_shape=output_shape, backend=backend)

    assert torch.autograd.gradcheck(fn, (x, weight, bias), eps=1e-6, atol=1e-7, rtol=1e-5)


@pytest.mark.parametrize("backend", ["fft", *OTHER_BACKENDS])
def test_backward_is_the_adjoint(backend):
    """<A x, y> = <x, A* y> for the (linear in x) operator without bias, via autograd's vjp."""
    gen = torch.Generator().manual_seed(11)
    modes = ModeSet.from_indices([[0, 0], [3, 1], [-3, 2], [2, 0], [1, -1]])
    weight = torch.randn(len(modes), 2, 3, generator=gen, dtype=torch.complex128)
    x = torch.randn(2, 2, 6, 4, generator=gen, dtype=torch.float64)
    v = torch.randn(2, 3, 5, 7, generator=gen, dtype=torch.float64)

    _require(backend, x, weight, modes, (5, 7))

    def op(inp):
        return sparse_spectral_conv(inp, weight, modes, output_shape=(5, 7), backend=backend)

    _, adj_v = torch.autograd.functional.vjp(op, x, v)
    lhs = (op(x) * v).sum()
    rhs = (x * adj_v).sum()
    assert abs(lhs - rhs) <= TOLERANCES[torch.float64][0] * max(1.0, abs(lhs))


# ---------------------------------------------------------------------------- dispatch


def _small_call(dtype=torch.float32):
    modes = ModeSet.box((4, 4))
    x = torch.randn(2, 3, 8, 8).to(dtype)
    weight = torch.randn(len(modes), 3, 2, dtype=torch.complex64)
    return prepare_call(x, weight, modes, None, None)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_auto_returns_a_backend_that_supports_the_call(dtype):
    call = _small_call(dtype)
    chosen = select_backend(call, "auto")
    assert chosen.name in registered_backends()
    assert chosen.not_supported_reasons(call) == []
    assert chosen is min(
        (b for b in registered_backends().values() if not b.not_supported_reasons(call)),
        key=lambda b: (b.cost(call), b.name),
    )


@pytest.mark.parametrize("name", ["fft", *OTHER_BACKENDS])
def test_forcing_a_supported_backend_returns_it(name):
    call = _small_call()
    if get_backend(name).not_supported_reasons(call):
        pytest.skip(f"{name} refuses CPU float32")
    assert select_backend(call, name) is get_backend(name)
    assert get_backend(name).cost(call) > 0


@pytest.mark.parametrize("name", ["fft", "dft"])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_forced_backend_refusing_a_dtype_lists_the_reason(name, dtype):
    modes = ModeSet.box((4, 4))
    x = torch.randn(1, 2, 8, 8).to(dtype)
    weight = torch.randn(len(modes), 2, 2, dtype=torch.complex64)
    call = prepare_call(x, weight, modes, None, None)
    assert get_backend(name).not_supported_reasons(call)
    pattern = rf"backend '{name}' cannot run this call: {name}: input dtype {dtype} is not supported"
    with pytest.raises(BackendUnavailableError, match=pattern):
        select_backend(call, name)
    with pytest.raises(BackendUnavailableError, match=pattern):
        sparse_spectral_conv(x, weight, modes, backend=name)


def test_auto_with_no_capable_backend_lists_every_reason(monkeypatch):
    import spectral_sparse.backends as backends_pkg

    monkeypatch.setattr(backends_pkg, "_REGISTRY", {"fft": get_backend("fft"), "dft": get_backend("dft")})
    x = torch.randn(1, 2, 8, 8).to(torch.float16)
    modes = ModeSet.box((4, 4))
    weight = torch.randn(len(modes), 2, 2, dtype=torch.complex64)
    with pytest.raises(
        BackendUnavailableError, match=r"no backend can run this call: .*fft: input dtype torch\.float16"
    ):
        sparse_spectral_conv(x, weight, modes)
    with pytest.raises(BackendUnavailableError, match=r"dft: input dtype torch\.float16"):
        sparse_spectral_conv(x, weight, modes)


def test_backend_unavailable_error_is_a_value_error():
    assert issubclass(BackendUnavailableError, ValueError)


def test_dft_refuses_oversized_matrices_and_auto_falls_back(monkeypatch):
    import spectral_sparse.backends.dft as dft_module

    monkeypatch.setattr(dft_module, "_MAX_MATRIX_BYTES", 0)
    call = _small_call()
    reasons = get_backend("dft").not_supported_reasons(call)
    assert len(reasons) == 1 and "dft: its DFT matrices would need" in reasons[0]
    with pytest.raises(BackendUnavailableError, match=r"backend 'dft' cannot run this call: dft: its DFT matrices"):
        select_backend(call, "dft")
    assert select_backend(call, "auto").name != "dft"
    y = sparse_spectral_conv(call.x, call.weight, call.modes, backend="auto")
    assert_close(y, sparse_spectral_conv(call.x, call.weight, call.modes, backend="fft"))


@pytest.mark.parametrize("name", ["nope", "FFT", "", "triton-but-misspelt"])
def test_unknown_backend_name(name):
    call = _small_call()
    with pytest.raises(ValueError, match=rf"unknown backend '{name}'; known backends: auto, .*fft"):
        select_backend(call, name)
    with pytest.raises(ValueError, match=rf"unknown backend '{name}'"):
        sparse_spectral_conv(call.x, call.weight, call.modes, backend=name)


def test_dft_plan_cache_is_keyed_by_grid_and_dtype():
    """Reusing a cached plan for another grid or dtype would be wrong: interleave calls."""
    from spectral_sparse.backends.dft import clear_cache

    clear_cache()
    modes = ModeSet.from_indices([[0, 0], [1, 1], [-2, 3]])
    weight = torch.randn(len(modes), 1, 1, dtype=torch.complex128)
    for grid, out, dtype in [
        ((8, 8), None, torch.float64),
        ((7, 9), None, torch.float64),
        ((8, 8), (6, 6), torch.float64),
    ]:
        for dt in (dtype, torch.float32):
            x = torch.randn(1, 1, *grid, dtype=dt)
            y = sparse_spectral_conv(x, weight, modes, output_shape=out, backend="dft")
            assert_close(y, sparse_spectral_conv(x, weight, modes, output_shape=out, backend="fft"), dt)


@pytest.mark.parametrize("backend", ["fft", "dft"])
def test_cached_plans_built_in_inference_mode_serve_training(backend: str) -> None:
    """A plan first built under inference_mode (as in predict) must not break a later backward."""
    modes = ModeSet.radial(3.5, ndim=2)
    weight = torch.randn(len(modes), 2, 3, dtype=torch.cfloat, requires_grad=True)
    grid = (19, 17)  # a grid no other test caches first
    with torch.inference_mode():
        sparse_spectral_conv(torch.randn(1, 2, *grid), weight.detach(), modes, backend=backend)
    x = torch.randn(2, 2, *grid, requires_grad=True)
    sparse_spectral_conv(x, weight, modes, backend=backend).square().sum().backward()
    assert x.grad is not None and weight.grad is not None
    assert torch.isfinite(x.grad).all() and torch.isfinite(torch.view_as_real(weight.grad)).all()
