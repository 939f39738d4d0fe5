"""The ``cpp`` backend: fused CPU kernels against the fft reference, custom ops, build and fallback.

The generic cases (1-D/2-D/3-D, odd/even grids, box and scattered sets, dense
and diagonal, float32/float64, other output grids) run for every registered
backend in ``test_backends.py``; this module adds what is specific to the
fused kernels: thread counts, Nyquist modes, grids narrower than a vector,
property-based cases, the custom ops under ``opcheck`` and ``torch.compile``,
and how the kernels are built, cached and refused.
"""

from __future__ import annotations

import warnings

import pytest
import torch
from _literal import random_modes, random_weight
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.backends import available_backends, get_backend
from spectral_sparse.backends.cpp import build
from spectral_sparse.functional import prepare_call, select_backend, sparse_spectral_conv
from spectral_sparse.testing import assert_close

pytestmark = pytest.mark.skipif(
    bool(available_backends()["cpp"]),
    reason="the cpp kernels cannot be built here: " + "; ".join(available_backends()["cpp"]),
)

COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _grads(backend, x, weight, modes, bias, output_shape, seed=7):
    x = x.detach().clone().requires_grad_(True)
    weight = weight.detach().clone().requires_grad_(True)
    bias = None if bias is None else bias.detach().clone().requires_grad_(True)
    y = sparse_spectral_conv(x, weight, modes, bias, output_shape=output_shape, backend=backend)
    cot = torch.randn(y.shape, generator=torch.Generator().manual_seed(seed), dtype=y.dtype)
    inputs = [x, weight] + ([bias] if bias is not None else [])
    grads = torch.autograd.grad((y * cot).sum(), inputs)
    return (y.detach(), *grads)


def _compare(x, weight, modes, bias=None, output_shape=None, what=""):
    ref = _grads("fft", x, weight, modes, bias, output_shape)
    got = _grads("cpp", x, weight, modes, bias, output_shape)
    for name, a, b in zip(("y", "grad x", "grad weight", "grad bias"), got, ref):
        assert_close(a, b, dtype=x.dtype, what=f"{what} {name}")


def _case(grid, modes, cin=3, cout=2, mixing="dense", dtype=torch.float64, seed=0, bias=True):
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, cin, *grid, generator=gen, dtype=dtype)
    if mixing == "diagonal":
        cout = cin
    weight = random_weight(gen, modes, cin, cout, mixing, COMPLEX[dtype])
    b = torch.randn(cout, generator=gen, dtype=dtype) if bias else None
    return x, weight, b


def test_auto_takes_cpp_on_the_cpu():
    x, weight, _ = _case((32, 32), ModeSet.box((8, 8)), dtype=torch.float32)
    call = prepare_call(x, weight, ModeSet.box((8, 8)), None, None)
    assert select_backend(call).name == "cpp"
    assert available_backends()["cpp"] == []


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("ndim", [1, 2, 3])
def test_thread_counts_give_the_same_result(threads, ndim):
    grid = {1: (40,), 2: (12, 18), 3: (6, 8, 10)}[ndim]
    modes = ModeSet.box({1: (12,), 2: (8, 8), 3: (4, 4, 6)}[ndim])
    # many fields, so that each thread gets several (and 1-D several row blocks)
    gen = torch.Generator().manual_seed(1)
    x = torch.randn(5, 7, *grid, generator=gen, dtype=torch.float32)
    weight = random_weight(gen, modes, 7, 7, "dense", torch.complex64)
    bias = torch.randn(7, generator=gen)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = _grads("cpp", x, weight, modes, bias, None)
        torch.set_num_threads(threads)
        many = _grads("cpp", x, weight, modes, bias, None)
    finally:
        torch.set_num_threads(old)
    for a, b in zip(many, one):  # every field is computed by one thread: bitwise equal
        assert torch.equal(a, b)
    _compare(x, weight, modes, bias, what=f"{threads} threads")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize(
    ("grid", "out"),
    [((16,), (12,)), ((8, 12), (8, 6)), ((6, 8, 4), (4, 8, 6)), ((10, 10), (20, 20))],
)
def test_nyquist_modes_on_both_grids(grid, out, dtype):
    d = len(grid)
    # every mode sits at a Nyquist frequency of the input or the output grid on some axis
    rows = []
    for n in (*grid, *out):
        for axis in range(d):
            k = [0] * d
            k[axis] = n // 2
            rows.append(k)
            k2 = [1] * d
            k2[axis] = -(n // 2)
            rows.append(k2)
    canonical = dict.fromkeys(tuple(ModeSet.from_indices([k]).indices[0].tolist()) for k in rows)  # k ~ -k
    modes = ModeSet.from_indices(torch.tensor(list(canonical)))
    x, weight, bias = _case(grid, modes, dtype=dtype)
    _compare(x, weight, modes, bias, output_shape=out, what="nyquist")


@pytest.mark.parametrize("mixing", ["dense", "diagonal"])
def test_grids_narrower_than_a_vector(mixing):
    # 1 to 3 points per axis: the kernels' vector loops run only their remainders
    for grid in [(1,), (2,), (3,), (1, 1), (2, 3), (3, 1), (1, 2, 3), (2, 2, 2)]:
        modes = ModeSet.box(tuple(max(2, n) for n in grid))
        x, weight, bias = _case(grid, modes, mixing=mixing)
        _compare(x, weight, modes, bias, what=f"grid {grid}")


def test_batch_of_zero_and_channels_last():
    modes = ModeSet.box((4, 4))
    x, weight, bias = _case((8, 8), modes)
    empty = sparse_spectral_conv(x[:0], weight, modes, bias, backend="cpp")
    assert empty.shape == (0, 2, 8, 8)
    cl = x.contiguous(memory_format=torch.channels_last)
    assert_close(
        sparse_spectral_conv(cl, weight, modes, bias, backend="cpp"),
        sparse_spectral_conv(x, weight, modes, bias, backend="fft"),
    )


def test_float32_is_within_1e_5_of_the_float64_reference():
    modes = ModeSet.box((16, 16))
    x, weight, bias = _case((128, 128), modes, cin=8, cout=8, dtype=torch.float64)
    ref = sparse_spectral_conv(x, weight, modes, bias, backend="fft")
    got = sparse_spectral_conv(x.float(), weight.to(torch.complex64), modes, bias.float(), backend="cpp")
    err = (got.double() - ref).abs().max() / ref.abs().max()
    assert err < 1e-5, err


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    ndim=st.integers(1, 3),
    data=st.data(),
    mixing=st.sampled_from(["dense", "diagonal"]),
    dtype=st.sampled_from([torch.float32, torch.float64]),
    seed=st.integers(0, 2**16),
    bias=st.booleans(),
)
def test_property_random_grids_and_mode_sets(ndim, data, mixing, dtype, seed, bias):
    hi = {1: 24, 2: 12, 3: 7}[ndim]
    grid = tuple(data.draw(st.lists(st.integers(1, hi), min_size=ndim, max_size=ndim)))
    out = tuple(data.draw(st.lists(st.integers(1, hi), min_size=ndim, max_size=ndim)))
    gen = torch.Generator().manual_seed(seed)
    # modes up to twice the grid: some unresolved, some exactly at Nyquist
    kmax = [max(1, n) for n in grid]
    modes = random_modes(gen, ndim, data.draw(st.integers(1, 12)), kmax)
    x, weight, b = _case(grid, modes, mixing=mixing, dtype=dtype, seed=seed, bias=bias)
    both = [modes.resolved(grid) & modes.resolved(out)]
    if not bool(both[0].any()):
        with pytest.raises(ValueError, match="resolves none"):
            sparse_spectral_conv(x, weight, modes, b, output_shape=out, backend="cpp")
        return
    _compare(x, weight, modes, b, output_shape=out, what=f"{grid}->{out}")


# ------------------------------------------------------------------ custom ops


def test_opcheck():
    gen = torch.Generator().manual_seed(3)
    modes = ModeSet.box((6, 4))  # some modes unresolved by the 7x4 output grid
    x = torch.randn(2, 3, 8, 6, generator=gen, dtype=torch.float64)
    for mixing in ("dense", "diagonal"):
        w = random_weight(gen, modes, 3, 3, mixing, torch.complex128)
        b = torch.randn(3, generator=gen, dtype=torch.float64)
        torch.library.opcheck(torch.ops.spectral_sparse.cpp_conv, (x, w, b, modes.indices, [7, 4]))
        torch.library.opcheck(torch.ops.spectral_sparse.cpp_conv, (x, w, None, modes.indices, [8, 6]))
        _, x_hat = torch.ops.spectral_sparse.cpp_conv(x, w, b, modes.indices, [7, 4])
        g = torch.randn(2, 3, 7, 4, generator=gen, dtype=torch.float64)
        for flags in [(True, True, True), (True, False, False), (False, True, True), (False, False, False)]:
            torch.library.opcheck(
                torch.ops.spectral_sparse.cpp_conv_backward, (g, x_hat, w, modes.indices, [8, 6], True, *flags)
            )


def test_gradcheck_float64():
    gen = torch.Generator().manual_seed(4)
    modes = ModeSet.box((4, 3))
    x = torch.randn(1, 2, 6, 5, generator=gen, dtype=torch.float64, requires_grad=True)
    w = random_weight(gen, modes, 2, 2, "dense", torch.complex128).requires_grad_(True)
    b = torch.randn(2, generator=gen, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda x, w, b: sparse_spectral_conv(x, w, modes, b, output_shape=(4, 7), backend="cpp"), (x, w, b)
    )


@pytest.mark.parametrize("out", [None, (6, 6), (20, 24)])
def test_torch_compile_fullgraph_runs_the_cpp_op(out):
    torch.manual_seed(0)
    layer = SparseSpectralConv(3, 4, (8, 8))
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    eager = layer(x, output_shape=out)
    compiled = torch.compile(lambda t: layer(t, output_shape=out), fullgraph=True, backend="aot_eager")
    y = compiled(x)
    assert_close(y, eager)
    (gx,) = torch.autograd.grad(y.square().sum(), x)
    (ex,) = torch.autograd.grad(eager.square().sum(), x)
    assert_close(gx, ex)

    from torch._dynamo.testing import CompileCounterWithBackend

    counter = CompileCounterWithBackend("aot_eager")
    torch._dynamo.reset()
    torch.compile(lambda t: layer(t, output_shape=out), fullgraph=True, backend=counter)(x)
    # the graph holds the custom op (no fallback to a restricted, graph-breaking path)
    names = [str(n.target) for g in counter.graphs for n in g.graph.nodes]
    assert any("cpp_conv" in n for n in names), names


# ------------------------------------------------------------------ build, cache, fallback


@pytest.fixture
def fresh_build(monkeypatch, tmp_path):
    """An empty kernel cache and a forgotten build state, restored afterwards."""
    monkeypatch.setenv("SPECTRAL_SPARSE_CACHE", str(tmp_path))
    build.reset()
    yield tmp_path
    build.reset()


def test_kernels_are_built_once_into_the_cache(fresh_build, monkeypatch):
    assert build.library() is not None
    built = list(fresh_build.glob("cpp/kernels-*.so"))
    assert len(built) == 1
    build.reset()
    calls = []
    monkeypatch.setattr(build, "_compile", lambda *a: calls.append(a))
    assert build.library() is not None and calls == []  # loaded from the cache, not rebuilt


def test_turned_off_backend_refuses_with_the_reason_and_auto_takes_dft(fresh_build, monkeypatch):
    monkeypatch.setenv("SPECTRAL_SPARSE_CPP", "0")
    with pytest.warns(RuntimeWarning, match="fused CPU kernels are unavailable"):
        reasons = available_backends()["cpp"]
    assert reasons == ["cpp: turned off by SPECTRAL_SPARSE_CPP=0"]
    modes = ModeSet.box((4, 4))
    x, weight, _ = _case((16, 16), modes, dtype=torch.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # said once, not on every call
        call = prepare_call(x, weight, modes, None, None)
        assert select_backend(call).name != "cpp"
        with pytest.raises(ValueError, match="SPECTRAL_SPARSE_CPP=0"):
            sparse_spectral_conv(x, weight, modes, backend="cpp")


def test_a_broken_compiler_is_reported(fresh_build, monkeypatch, tmp_path):
    fake = tmp_path / "cxx"
    fake.write_text("#!/bin/sh\necho 'cxx: error: no such compiler' >&2\nexit 1\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CXX", str(fake))
    with pytest.warns(RuntimeWarning, match="could not be built"):
        reasons = build.status()
    assert len(reasons) == 1 and "error: no such compiler" in reasons[0]
    assert get_backend("cpp").not_supported_reasons(
        prepare_call(torch.zeros(1, 1, 4, 4), torch.zeros(1, 1, 1, dtype=torch.cfloat), ModeSet.box((1, 1)), None, None)
    )


def test_eager_path_refuses_double_backward():
    modes = ModeSet.box((4, 4))
    x, weight, bias = _case((8, 8), modes)
    x.requires_grad_(True)
    y = sparse_spectral_conv(x, weight, modes, bias, backend="cpp")
    (g,) = torch.autograd.grad(y.square().sum(), x, create_graph=True)
    with pytest.raises(RuntimeError, match="once_differentiable"):  # an error, not a silently dropped term
        g.sum().backward()


def test_eager_and_custom_op_paths_agree():
    modes = ModeSet.box((6, 6))
    x, weight, bias = _case((12, 10), modes)
    y_eager = sparse_spectral_conv(x, weight, modes, bias, output_shape=(9, 8), backend="cpp")
    y_op, _ = torch.ops.spectral_sparse.cpp_conv(x, weight, bias, modes.indices, [9, 8])
    assert torch.equal(y_eager, y_op)


def test_portable_build_matches_the_reference(tmp_path):
    # the kernels built without -march=native (16-byte vectors, the fallback flags) must give the
    # same results: the vector width changes every loop's blocking and remainder handling
    from spectral_sparse.backends.cpp import ops
    from spectral_sparse.backends.cpp.plan import get_plan

    cxx = build._compiler()
    target = tmp_path / "portable.so"
    err = build._compile(cxx, ["-O3", "-fopenmp"], target)
    assert err is None, err
    lib = build._load(target, ("-O3", "-fopenmp"))
    assert lib.vector_bytes == 16
    gen = torch.Generator().manual_seed(11)
    for grid, out, modes in [
        ((13,), (20,), ModeSet.box((10,))),
        ((9, 7), (6, 12), ModeSet.box((8, 6))),
        ((5, 6, 7), (6, 4, 5), ModeSet.box((4, 4, 4))),
    ]:
        for dtype in (torch.float32, torch.float64):
            x = torch.randn(3, 5, *grid, generator=gen, dtype=dtype)
            ref = sparse_spectral_conv(
                x, torch.ones(len(modes), 5, 5, dtype=COMPLEX[dtype]) / 5, modes, output_shape=out, backend="fft"
            )
            # the same call through the portable library: analysis, identity-like mixing, synthesis
            plan = get_plan(modes.indices, grid, out, dtype, False, lib.vector_bytes)
            xs = ops.analysis(lib, plan, plan.inp, x.reshape(15, *grid), (3, 5))
            w = torch.ones(len(modes), 5, 5, dtype=COMPLEX[dtype]) / 5
            ys = torch.bmm(xs, w * plan.ck.to(dtype).reshape(-1, 1, 1))
            y = ops.synthesis(lib, plan, plan.out, ys.reshape(len(modes), 15), None, dtype, (3, 5))
            assert_close(y, ref, dtype=dtype, what=f"portable {grid}->{out} {dtype}")


def test_available_is_marked_constant_for_torch_compile_as_assume_constant_result_would():
    from spectral_sparse.backends.cpp import available

    def probe() -> bool:
        return True

    marked = torch.compiler.assume_constant_result(probe)
    extra = {k: v for k, v in vars(marked).items()}
    assert extra and all(getattr(available, k, None) == v for k, v in extra.items())
