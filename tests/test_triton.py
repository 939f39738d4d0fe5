"""The ``triton`` backend, run on CPU tensors under Triton's interpreter.

``@triton.jit`` fixes compiled-vs-interpreted when it runs, not when triton is
imported (Triton 3.8 reads ``TRITON_INTERPRET`` through ``triton.knobs`` at
decoration time); the backend executes its kernels module once per mode
(``launch.load_kernels``) and always interprets for CPU tensors, so import
order does not matter. ``TRITON_INTERPRET=1`` is still what admits CPU tensors
to the backend; it is set here for this module only (a fixture), so the other
test modules, which iterate the backends that accept CPU calls, never see the
slow interpreter. Shapes are tiny: the interpreter runs each program in Python.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

pytest.importorskip("triton")

import spectral_sparse as ss
from spectral_sparse.backends import BackendUnavailableError, ConvCall, get_backend
from spectral_sparse.backends.triton import launch, plan, reference
from spectral_sparse.functional import prepare_call, select_backend, sparse_spectral_conv
from spectral_sparse.testing import TOLERANCES, assert_close

CDTYPE = {torch.float32: torch.complex64, torch.float64: torch.complex128}


@pytest.fixture(autouse=True, scope="module")
def _interpreter():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("TRITON_INTERPRET", "1")
        yield


def _case(grid, modes, channels, out_channels, diagonal, batch=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    k = len(modes)
    x = torch.randn(batch, channels, *grid, dtype=torch.float64, generator=g)
    wshape = (k, channels) if diagonal else (k, channels, out_channels)
    w = torch.randn(*wshape, dtype=torch.complex128, generator=g)
    b = torch.randn(out_channels, dtype=torch.float64, generator=g)
    return x, w, b


def _run(backend, x, w, b, modes, out_grid, dtype, seed=1):
    x = x.detach().to(dtype).requires_grad_()
    w = w.detach().to(CDTYPE.get(dtype, torch.complex64)).requires_grad_()
    b = b.detach().to(dtype).requires_grad_()
    y = sparse_spectral_conv(x, w, modes, b, output_shape=out_grid, backend=backend)
    g = torch.randn(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(seed)).to(dtype)
    (y * g).sum().backward()
    return y, x.grad, w.grad, b.grad


SCATTERED = ss.ModeSet.from_indices([[3, 1], [-2, 4], [0, 0], [1, 0], [-4, 2], [5, 4], [2, -3]])

CASES = {
    # name: (grid, out_grid, modes, C, O, diagonal)
    "1d-odd-dense": ((9,), None, ss.ModeSet.box(8), 3, 4, False),
    "1d-even-nyquist-diag-resample": ((8,), (11,), ss.ModeSet.box(8), 3, 3, True),
    "1d-scattered-to-nyquist": ((13,), (10,), ss.ModeSet.from_indices([[5], [1], [3], [6]]), 2, 3, False),
    "2d-even-nyquist-dense": ((8, 6), None, ss.ModeSet.box((6, 6)), 3, 2, False),
    "2d-odd-diag-resample": ((7, 9), (10, 6), ss.ModeSet.box((6, 6)), 2, 2, True),
    "2d-scattered-unresolved": ((10, 9), None, SCATTERED, 2, 3, False),
    "2d-scattered-resample-diag": ((9, 10), (8, 7), SCATTERED, 3, 3, True),
    "2d-radial-odd-even": ((11, 8), (6, 9), ss.ModeSet.radial(3, ndim=2), 2, 3, False),
}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name", list(CASES))
def test_matches_reference(name, dtype):
    grid, out_grid, modes, c, o, diagonal = CASES[name]
    x, w, b = _case(grid, modes, c, o, diagonal)
    ref = _run("fft", x, w, b, modes, out_grid, torch.float64)
    got = _run("triton", x, w, b, modes, out_grid, dtype)
    for what, a, r in zip(("y", "grad_x", "grad_weight", "grad_bias"), got, ref):
        assert a.dtype == (CDTYPE[dtype] if r.is_complex() else dtype)
        assert_close(a, r, dtype=dtype, what=f"{name} {what}")


def test_float32_error_against_float64_reference():
    """The issue's bar: relative error <= 1e-5 in float32 against float64 (full fp32, no TF32)."""
    grid, out_grid, modes, c, o, diagonal = CASES["2d-even-nyquist-dense"]
    x, w, b = _case(grid, modes, c, o, diagonal, seed=3)
    ref = _run("fft", x, w, b, modes, out_grid, torch.float64)
    got = _run("triton", x, w, b, modes, out_grid, torch.float32)
    for a, r in zip(got, ref):
        assert ss.testing.relative_error(a, r) <= 1e-5


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16], ids=["f16", "bf16"])
def test_half_precision_opt_in(dtype):
    """fp16/bf16 inputs: fp32 tables and accumulation, output rounded; their own tolerance."""
    grid, out_grid, modes, c, o, diagonal = CASES["2d-odd-diag-resample"]
    x, w, b = _case(grid, modes, c, o, diagonal)
    ref = _run("fft", x, w, b, modes, out_grid, torch.float64)
    got = _run("triton", x, w, b, modes, out_grid, dtype)
    assert got[0].dtype == dtype and got[1].dtype == dtype and got[2].dtype == torch.complex64
    for what, a, r in zip(("y", "grad_x", "grad_weight", "grad_bias"), got, ref):
        assert_close(a, r, dtype=dtype, what=what)
    assert TOLERANCES[dtype][0] > TOLERANCES[torch.float32][0]


@pytest.mark.parametrize("d", [1, 2])
def test_multi_tile_paths(d, monkeypatch):
    """Blocks capped at 16, so the loops and grid axes of analysis and synthesis run several tiles."""
    monkeypatch.setattr(launch, "BLOCK_LIMIT", 16)
    monkeypatch.setattr(launch, "ONE_U_TILE_MAX", 16)
    plan.clear_cache()
    g = torch.Generator().manual_seed(5)
    if d == 1:  # 17 rows, U = 18, N = 37
        grid, out_grid, modes, c, o, batch = (37,), (34,), ss.ModeSet.box(34), 1, 1, 17
    else:  # A = 19, U = 18, N1 = 18 (two first-axis tiles), N2 = 37
        k1 = torch.cat([torch.arange(-9, 10), torch.randint(-9, 10, (19,), generator=g)])
        k2 = torch.cat([torch.randint(1, 18, (19,), generator=g), torch.arange(0, 18), torch.tensor([17])])
        idx = torch.unique(ss.modes.canonicalize(torch.stack([k1, k2], 1)), dim=0)
        grid, out_grid, modes, c, o, batch = (18, 37), (19, 35), ss.ModeSet.from_indices(idx), 1, 2, 1
        assert len(torch.unique(idx[:, 0])) > 16 and len(torch.unique(idx[:, 1])) > 16
    x, w, b = _case(grid, modes, c, o, False, batch=batch)
    ref = _run("fft", x, w, b, modes, out_grid, torch.float64)
    got = _run("triton", x, w, b, modes, out_grid, torch.float64)
    for what, a, r in zip(("y", "grad_x", "grad_weight", "grad_bias"), got, ref):
        assert_close(a, r, dtype=torch.float64, what=what)
    plan.clear_cache()


def test_mixing_kernels_multi_tile(monkeypatch):
    """Mixing and weight-gradient kernels with batch, in and out channels above a 16-wide tile."""
    monkeypatch.setattr(launch, "BLOCK_LIMIT", 16)
    kern = launch.load_kernels(True)
    g = torch.Generator().manual_seed(2)
    k, b, c, o = 2, 17, 18, 17
    ck = torch.tensor([1.0, 2.0], dtype=torch.float64)
    xs = torch.randn(2, k, b, c, dtype=torch.float64, generator=g)
    gs = torch.randn(2, k, b, o, dtype=torch.float64, generator=g)
    wd = torch.randn(k, c, o, 2, dtype=torch.float64, generator=g)
    assert_close(launch.mix(kern, xs, wd, ck, False), reference.mix_dense(xs, wd, ck, False))
    assert_close(launch.mix(kern, gs, wd, ck, True), reference.mix_dense(gs, wd, ck, True))
    assert_close(launch.weight_grad(kern, xs, gs, ck, False), reference.weight_grad_dense(xs, gs, ck))


# ----------------------------------------------------------------------------- kernels vs twins


def _plan_and_kernels(modes, grid, out_grid, dtype=torch.float64):
    p = plan.get_plan(modes.indices, grid, out_grid, torch.device("cpu"), dtype)
    return p, launch.load_kernels(True)


def _rows(x):
    return x.reshape(x.shape[0] * x.shape[1], *([1] if x.ndim == 3 else []), *x.shape[2:])


@pytest.mark.parametrize("grid", [(9,), (8, 7)], ids=["1d", "2d"])
def test_kernels_match_their_twins(grid):
    modes = ss.ModeSet.box((6,) * len(grid)) if len(grid) == 1 else SCATTERED
    out_grid = tuple(s + 1 for s in grid)
    p, kern = _plan_and_kernels(modes, grid, out_grid)
    g = torch.Generator().manual_seed(7)
    k, b, c, o = len(modes), 3, 2, 4
    x = _rows(torch.randn(b, c, *grid, dtype=torch.float64, generator=g))
    spec = launch.analysis(kern, x, p.in_t1, p.in_t2, p.pos, k, zero_fill=True)
    twin = reference.analysis(x, p.in_t1, p.in_t2, p.pos, k)
    assert_close(spec, twin, what="analysis")

    ys = torch.randn(2, k, b * o, dtype=torch.float64, generator=g)
    bias = torch.randn(o, dtype=torch.float64, generator=g)
    n1, n2 = (1, out_grid[0]) if len(grid) == 1 else out_grid
    y = launch.synthesis(kern, ys, p.out_t1, p.out_t2, p.pos, bias, o, n1, n2, torch.float64)
    assert_close(y, reference.synthesis(ys, p.out_t1, p.out_t2, p.pos, bias, o), what="synthesis")

    xs = spec.reshape(2, k, b, c)
    gs = torch.randn(2, k, b, o, dtype=torch.float64, generator=g)
    wd = torch.randn(k, c, o, 2, dtype=torch.float64, generator=g)
    wg = torch.randn(k, c, 2, dtype=torch.float64, generator=g)
    for adjoint, inp in ((False, xs), (True, gs)):
        assert_close(launch.mix(kern, inp, wd, p.ck, adjoint), reference.mix_dense(inp, wd, p.ck, adjoint))
        assert_close(launch.mix(kern, xs, wg, p.ck, adjoint), reference.mix_diagonal(xs, wg, p.ck, adjoint))
    assert_close(launch.weight_grad(kern, xs, gs, p.ck, False), reference.weight_grad_dense(xs, gs, p.ck))
    gsd = gs[..., :c].contiguous()
    assert_close(launch.weight_grad(kern, xs, gsd, p.ck, True), reference.weight_grad_diagonal(xs, gsd, p.ck))


@pytest.mark.parametrize("grid", [(10,), (8, 9)], ids=["1d", "2d"])
def test_analysis_and_synthesis_are_adjoint(grid):
    """<A x, s> = <x, A^T s> with one set of tables: the backward pass rests on this."""
    modes = ss.ModeSet.radial(3, ndim=len(grid))
    p, kern = _plan_and_kernels(modes, grid, grid)
    g = torch.Generator().manual_seed(11)
    k = len(modes)
    x = _rows(torch.randn(2, 1, *grid, dtype=torch.float64, generator=g))
    s = torch.randn(2, k, 2, dtype=torch.float64, generator=g)
    ax = launch.analysis(kern, x, p.in_t1, p.in_t2, p.pos, k, zero_fill=True)
    n1, n2 = (1, grid[0]) if len(grid) == 1 else grid
    ats = launch.synthesis(kern, s, p.in_t1, p.in_t2, p.pos, None, 1, n1, n2, torch.float64)
    lhs, rhs = (ax * s).sum(), (x * ats).sum()
    assert abs(lhs - rhs) <= 1e-12 * max(abs(lhs), 1.0)


# ----------------------------------------------------------------------------- custom ops


def test_op_masks_unresolved_modes_itself():
    """The op takes the whole mode set (as under torch.compile); unresolved modes get zero gradient."""
    modes = ss.ModeSet.box((10, 10))  # |k1| up to 5, k2 up to 5: not all resolved on 7 x 8 -> 6 x 9
    x, w, b = _case((7, 8), modes, 2, 3, False)
    ref = _run("fft", x, w, b, modes, (6, 9), torch.float64)
    xx, ww, bb = (t.clone().requires_grad_() for t in (x, w, b))
    y, _ = torch.ops.spectral_sparse.triton_conv(xx, ww, bb, modes.indices, [6, 9])
    gy = torch.randn(y.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    (y * gy).sum().backward()
    keep = modes.resolved((7, 8)) & modes.resolved((6, 9))
    assert not keep.all() and bool((ww.grad[~keep] == 0).all())
    for what, a, r in zip(("y", "grad_x", "grad_weight", "grad_bias"), (y, xx.grad, ww.grad, bb.grad), ref):
        assert_close(a, r, dtype=torch.float64, what=what)


def test_opcheck():
    modes = ss.ModeSet.box((4, 4))
    k = len(modes)
    x = torch.randn(2, 3, 6, 5, requires_grad=True)
    w = torch.randn(k, 3, 2, dtype=torch.complex64, requires_grad=True)
    b = torch.randn(2, requires_grad=True)
    torch.library.opcheck(torch.ops.spectral_sparse.triton_conv, (x, w, b, modes.indices, [7, 4]))
    y, x_hat = torch.ops.spectral_sparse.triton_conv(x, w, b, modes.indices, [7, 4])
    assert x_hat.shape == (2, k, 2, 3)  # the saved input spectrum, not x
    wd = torch.randn(k, 3, dtype=torch.complex64)
    args = (torch.randn_like(y[:, :1].expand(2, 3, 7, 4).contiguous()), x_hat.detach(), wd, modes.indices)
    torch.library.opcheck(torch.ops.spectral_sparse.triton_conv_backward, (*args, [6, 5], True, True))
    torch.library.opcheck(torch.ops.spectral_sparse.triton_conv_backward, (*args, [6, 5], False, True))


def test_torch_compile_fullgraph():
    torch._dynamo.reset()
    layer = ss.SparseSpectralConv(2, 3, ss.ModeSet.box((6, 6)), backend="triton").double()
    with torch.no_grad():
        layer.bias.normal_()
    compiled = torch.compile(layer, fullgraph=True, backend="aot_eager")
    x = torch.randn(2, 2, 5, 8, dtype=torch.float64)  # (6, 6) box is not all resolved on 5 x 8
    outs = []
    for fn in (compiled, lambda t: layer(t, output_shape=None)):
        xx = x.clone().requires_grad_()
        layer.zero_grad()
        y = fn(xx)
        y.square().sum().backward()
        outs.append((y.detach(), xx.grad, layer.weight.grad.clone(), layer.bias.grad.clone()))
    for what, a, r in zip(("y", "grad_x", "grad_weight", "grad_bias"), *outs):
        assert_close(a, r, dtype=torch.float64, what=f"compiled {what}")
    ref = sparse_spectral_conv(x, layer.weight, layer.modes, layer.bias, backend="fft")
    assert_close(outs[0][0], ref, dtype=torch.float64, what="compiled vs fft")
    torch._dynamo.reset()


# ----------------------------------------------------------------------------- dispatch and packaging


def test_import_does_not_import_triton():
    code = (
        "import sys, torch, spectral_sparse as ss\n"
        "from spectral_sparse.backends import registered_backends\n"
        "assert 'triton' in registered_backends()\n"
        "ss.SparseSpectralConv(2, 2, (4, 4))(torch.randn(1, 2, 8, 8))\n"
        "assert 'triton' not in sys.modules, 'triton was imported'\n"
    )
    env = {k: v for k, v in __import__("os").environ.items() if k != "TRITON_INTERPRET"}
    subprocess.run([sys.executable, "-c", code], check=True, env=env, timeout=120)


def _call(grid=(8, 8), d=None, dtype=torch.float32, device="cpu"):
    modes = ss.ModeSet.box((4,) * (d or len(grid)))
    x = torch.randn(1, 2, *grid, dtype=dtype, device=device)
    w = torch.randn(len(modes), 2, 2, dtype=torch.complex64, device=device)
    return prepare_call(x, w, modes, None, None)


def test_refuses_cpu_without_interpreter(monkeypatch):
    monkeypatch.delenv("TRITON_INTERPRET")
    call = _call()
    reasons = get_backend("triton").not_supported_reasons(call)
    assert any("TRITON_INTERPRET=1" in r for r in reasons)
    with pytest.raises(BackendUnavailableError, match="TRITON_INTERPRET"):
        select_backend(call, "triton")
    assert select_backend(call).name != "triton"


def test_3d_falls_back_with_reason():
    call = _call(grid=(4, 4, 4))
    assert any("3-D falls back" in r for r in get_backend("triton").not_supported_reasons(call))
    with pytest.raises(BackendUnavailableError, match="3-D falls back"):
        select_backend(call, "triton")
    assert select_backend(call).name in ("fft", "cpp", "dft")


def test_unsupported_dtype_reason():
    x = torch.randn(1, 2, 8)
    call = prepare_call(x, torch.randn(3, 2, 2, dtype=torch.complex64), ss.ModeSet.box(4), None, None)
    call = ConvCall(call.x.to(torch.int32), call.weight, call.modes, None, call.in_grid, call.out_grid)
    assert any("dtype" in r for r in get_backend("triton").not_supported_reasons(call))


def test_auto_never_picks_the_interpreter_but_picks_triton_on_cuda():
    triton_backend, dft = get_backend("triton"), get_backend("dft")
    cpu_call = _call()
    assert not triton_backend.not_supported_reasons(cpu_call)
    assert select_backend(cpu_call).name != "triton"
    assert triton_backend.cost(cpu_call) > 1e6
    from torch._subclasses.fake_tensor import FakeTensorMode

    modes = ss.ModeSet.box((16, 16))
    with FakeTensorMode():  # a CUDA-shaped call without a GPU
        x = torch.empty(4, 8, 64, 64, device="cuda")
        w = torch.empty(len(modes), 8, 8, dtype=torch.complex64, device="cuda")
    call = ConvCall(x, w, modes, None, (64, 64), (64, 64))
    assert not triton_backend.not_supported_reasons(call)
    assert triton_backend.cost(call) < dft.cost(call)
