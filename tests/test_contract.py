"""The mathematical contract (DESIGN.md section 1), tested directly.

* a literal float64 evaluation of the formula against every backend, Nyquist modes included;
* discretization invariance for band-limited inputs;
* exact conversions from circular convolutions and from neuraloperator's SpectralConv,
  and neuraloperator's odd-grid bug;
* ``compact`` and ``resample``;
* hypothesis property tests over random mode sets and grids.
"""

from __future__ import annotations

import math

import pytest
import torch
from _literal import bandlimited_coefficients, cpu_backends, evaluate_field, literal_conv, random_modes
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from spectral_sparse import ModeSet, SparseSpectralConv, resample
from spectral_sparse.backends import get_backend
from spectral_sparse.functional import prepare_call, sparse_spectral_conv
from spectral_sparse.testing import TOLERANCES, assert_close, relative_error

ALL_BACKENDS = cpu_backends()


def _backend_accepts(name, x, weight, modes, output_shape=None):
    return not get_backend(name).not_supported_reasons(prepare_call(x, weight, modes, None, output_shape))


def _require(name, x, weight, modes, output_shape=None):
    """Skip a case a registered backend refuses on this machine (e.g. a GPU-only backend on CPU)."""
    reasons = get_backend(name).not_supported_reasons(prepare_call(x, weight, modes, None, output_shape))
    if reasons:
        pytest.skip("; ".join(reasons))


# ---------------------------------------------------------------------------- literal formula

LITERAL_CASES = [
    # (input grid, output grids, mode rows)
    ((6,), [None, (4,), (5,), (3,), (8,), (9,), (2,), (1,)], [[0], [1], [-2], [3]]),  # 3 = input Nyquist
    ((7,), [None, (6,), (4,), (10,)], [[3], [0], [-1]]),
    ((1,), [None, (4,)], [[0]]),
    ((2,), [None, (3,), (2,)], [[1], [0]]),  # N = 2: k = 1 is Nyquist
    (
        (6, 4),
        [None, (4, 4), (5, 3), (8, 6), (7, 9), (6, 2), (2, 2)],
        [[0, 0], [3, 1], [-3, 1], [3, 0], [2, 2], [-3, 2], [3, 2], [1, -1], [-2, 0], [0, 1]],
    ),
    ((5, 6), [None, (4, 4), (9, 7)], [[2, 3], [-2, 3], [0, 3], [2, 0], [1, 1], [0, 0]]),
    ((4, 3, 2), [None, (2, 2, 2), (6, 5, 3)], [[2, 1, 1], [-2, -1, 1], [0, 0, 1], [2, 0, 0], [1, 1, 0], [0, 0, 0]]),
]


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("mixing", ["dense", "diagonal"])
@pytest.mark.parametrize("case", range(len(LITERAL_CASES)))
def test_literal_formula_matches_every_backend(backend, mixing, case):
    grid, outputs, rows = LITERAL_CASES[case]
    modes = ModeSet.from_indices(rows)
    gen = torch.Generator().manual_seed(case)
    c, o = (2, 2) if mixing == "diagonal" else (2, 3)
    x = torch.randn(2, c, *grid, generator=gen, dtype=torch.float64)
    shape = (len(modes), c) if mixing == "diagonal" else (len(modes), c, o)
    weight = torch.randn(*shape, generator=gen, dtype=torch.complex128)
    bias = torch.randn(o, generator=gen, dtype=torch.float64)
    for out in outputs:
        _require(backend, x, weight, modes, out)
        expected = literal_conv(x, weight, modes, bias, out)
        y = sparse_spectral_conv(x, weight, modes, bias, output_shape=out, backend=backend)
        assert_close(y, expected, torch.float64, what=f"{backend} at {grid} -> {out}")


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_nyquist_analysis_is_halved_and_synthesis_aliases(backend):
    """Hand-computed values: x(n) = (-1)^n on N = 4 has DFT bin 1 at k = 2; the mode gets 1/2 of it."""
    x = torch.tensor([[[1.0, -1.0, 1.0, -1.0]]], dtype=torch.float64)
    modes = ModeSet.from_indices([[2]])
    w = torch.ones(1, 1, 1, dtype=torch.complex128)
    _require(backend, x, w, modes, (8,))
    # x̂(2) = 1/2; y(n) = 2 Re(1/2 e^{iπn}) = (-1)^n: a full-grid identity
    y = sparse_spectral_conv(x, w, modes, backend=backend)
    torch.testing.assert_close(y, x)
    # on an 8-point output the mode is the continuous cos(2π 2 t): cos(π n / 2)
    y8 = sparse_spectral_conv(x, w, modes, output_shape=(8,), backend=backend)
    torch.testing.assert_close(y8[0, 0], torch.cos(math.pi * torch.arange(8, dtype=torch.float64) / 2))
    # an imaginary weight turns it into sin(2π 2 t), which vanishes on the 4-grid
    wi = 1j * w
    torch.testing.assert_close(sparse_spectral_conv(x, wi, modes, backend=backend), torch.zeros_like(x))
    y8 = sparse_spectral_conv(x, wi, modes, output_shape=(8,), backend=backend)
    torch.testing.assert_close(y8[0, 0], -torch.sin(math.pi * torch.arange(8, dtype=torch.float64) / 2))


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("grid", [(6,), (7,), (4, 6), (5, 4), (3, 4, 2)])
def test_full_mode_set_with_identity_weights_is_trigonometric_interpolation(backend, grid):
    """All modes of a grid with W_k = I reproduce x (even split) and equal resample on other grids."""
    modes = ModeSet.full(grid)
    x = torch.randn(2, 2, *grid, dtype=torch.float64)
    eye = torch.eye(2, dtype=torch.complex128).expand(len(modes), 2, 2).contiguous()
    _require(backend, x, eye, modes)
    assert_close(sparse_spectral_conv(x, eye, modes, backend=backend), x, torch.float64)
    for out in [tuple(2 * s + 1 for s in grid), tuple(max(1, s - 1) for s in grid), tuple(s + 2 for s in grid)]:
        y = sparse_spectral_conv(x, eye, modes, output_shape=out, backend=backend)
        assert_close(y, resample(x, out), torch.float64, what=f"{grid} -> {out}")


# ---------------------------------------------------------------------------- discretization invariance


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_discretization_invariance_2d(backend):
    gen = torch.Generator().manual_seed(0)
    freqs, coeffs = bandlimited_coefficients(gen, 2, 3, bandwidth=(9, 8))  # |k_i| < min grid / 2 = (12, 10)
    grid_a, grid_b, common = (24, 20), (37, 33), (30, 27)
    x_a, x_b = evaluate_field(freqs, coeffs, grid_a), evaluate_field(freqs, coeffs, grid_b)
    torch.manual_seed(1)
    layer = SparseSpectralConv(3, 4, ModeSet.radial(11, ndim=2), backend=backend)
    with torch.no_grad():
        layer.bias.normal_()
    _require(backend, x_a, layer.weight, layer.modes, common)
    y_a, y_b = layer(x_a), layer(x_b)
    assert y_a.dtype == torch.float64 and y_a.shape == (2, 4, *grid_a)
    assert relative_error(resample(y_a, common), resample(y_b, common)) <= 1e-5
    assert relative_error(resample(y_a, grid_b), y_b) <= 1e-5
    assert relative_error(resample(y_b, grid_a), y_a) <= 1e-5
    assert relative_error(layer(x_a, output_shape=common), layer(x_b, output_shape=common)) <= 1e-5
    # the output is the layer applied to the continuous field, sampled: check one grid literally
    w = layer.weight.detach().to(torch.complex128)
    expected = literal_conv(x_b, w, layer.modes, layer.bias, common)
    assert relative_error(layer(x_a, output_shape=common), expected) <= 1e-10


@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize(
    ("bandwidth", "grid_a", "grid_b", "common"),
    [((5,), (12,), (17,), (40,)), ((2, 2, 1), (6, 5, 4), (7, 8, 3), (9, 9, 9))],
    ids=["1d", "3d"],
)
def test_discretization_invariance_1d_and_3d(backend, bandwidth, grid_a, grid_b, common):
    gen = torch.Generator().manual_seed(2)
    freqs, coeffs = bandlimited_coefficients(gen, 1, 2, bandwidth)
    x_a, x_b = evaluate_field(freqs, coeffs, grid_a), evaluate_field(freqs, coeffs, grid_b)
    layer = SparseSpectralConv(2, 2, ModeSet.box(tuple(2 * b + 2 for b in bandwidth)), backend=backend)
    _require(backend, x_a, layer.weight, layer.modes, common)
    a, b = layer(x_a, output_shape=common), layer(x_b, output_shape=common)
    assert relative_error(a, b) <= 1e-5
    assert relative_error(resample(layer(x_a), grid_b), layer(x_b)) <= 1e-5


# ---------------------------------------------------------------------------- from_conv

CONV_CASES = [
    # (factory, grid)
    (lambda: nn.Conv1d(2, 3, 3, padding=1, padding_mode="circular"), (9,)),
    (lambda: nn.Conv1d(2, 3, 5, padding=2, padding_mode="circular"), (10,)),
    (lambda: nn.Conv1d(2, 3, 3, padding=2, dilation=2, padding_mode="circular"), (11,)),
    (lambda: nn.Conv1d(2, 3, 4, padding="same", padding_mode="circular"), (8,)),
    (lambda: nn.Conv1d(3, 3, 5, padding=2, groups=3, padding_mode="circular"), (7,)),
    (lambda: nn.Conv1d(2, 2, 5, padding=2, padding_mode="circular"), (3,)),  # taps wrap around the grid
    (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), (8, 8)),
    (lambda: nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"), (7, 9)),
    (lambda: nn.Conv2d(2, 3, 5, padding=2, padding_mode="circular"), (6, 7)),
    (lambda: nn.Conv2d(2, 3, (3, 5), padding=(2, 4), dilation=2, padding_mode="circular"), (10, 9)),
    (lambda: nn.Conv2d(2, 3, 4, padding="same", padding_mode="circular"), (8, 7)),
    (lambda: nn.Conv2d(2, 2, (2, 3), padding="same", dilation=(3, 1), padding_mode="circular", bias=False), (9, 6)),
    (lambda: nn.Conv2d(4, 4, 3, padding=1, groups=4, padding_mode="circular"), (6, 5)),
    (lambda: nn.Conv2d(2, 3, 1), (5, 4)),  # 1x1: any padding mode
    (lambda: nn.Conv3d(2, 3, 3, padding=1, padding_mode="circular"), (4, 5, 6)),
    (lambda: nn.Conv3d(2, 2, 3, padding=1, groups=2, padding_mode="circular"), (5, 4, 3)),
]


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", range(len(CONV_CASES)))
def test_from_conv_is_exact(case, dtype):
    factory, grid = CONV_CASES[case]
    torch.manual_seed(case)
    conv = factory().to(dtype)
    layer = SparseSpectralConv.from_conv(conv, grid)
    assert layer.modes == ModeSet.full(grid)
    assert layer.mixing == ("diagonal" if conv.groups > 1 else "dense")
    x = torch.randn(2, conv.in_channels, *grid, dtype=dtype)
    with torch.no_grad():
        expected = conv(x)
        for backend in ALL_BACKENDS:
            layer.backend = backend
            if not _backend_accepts(backend, x, layer.weight, layer.modes):
                continue
            y = layer(x)
            assert y.dtype == dtype and y.shape == expected.shape
            assert relative_error(y, expected) <= 1e-5, backend
            if dtype == torch.float64:
                assert relative_error(y, expected) <= 1e-12, backend


@pytest.mark.parametrize(
    ("conv", "grid", "error", "match"),
    [
        (nn.Conv2d(2, 3, 3, padding=1), (8, 8), ValueError, r"padding_mode='circular'.*got 'zeros'"),
        (nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"), (8, 8), ValueError, r"got 'reflect'"),
        (
            nn.Conv2d(2, 3, 3, padding=1, stride=2, padding_mode="circular"),
            (8, 8),
            ValueError,
            r"from_conv needs stride 1, got stride \(2, 2\)",
        ),
        (
            nn.Conv2d(2, 3, 3, padding=0, padding_mode="circular"),
            (8, 8),
            ValueError,
            r"convolution that keeps the grid .*padding \(0, 0\)",
        ),
        (
            nn.Conv1d(2, 3, 3, padding=2, padding_mode="circular"),
            (8,),
            ValueError,
            r"convolution that keeps the grid .*padding \(2,\)",
        ),
        (
            nn.Conv2d(2, 3, 3, padding="valid", padding_mode="circular"),
            (8, 8),
            ValueError,
            "convolution that keeps the grid",
        ),
        (
            nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular"),
            (8,),
            ValueError,
            r"grid_shape \(8,\) has 1 axes but the convolution is 2-D",
        ),
        (
            nn.Conv1d(2, 3, 3, padding=1, padding_mode="circular"),
            (8, 8, 8),
            ValueError,
            r"has 3 axes but the convolution is 1-D",
        ),
        (
            nn.Conv2d(2, 4, 3, padding=1, groups=2, padding_mode="circular"),
            (8, 8),
            ValueError,
            r"groups=1 or depthwise.*groups=2",
        ),
        (nn.Linear(2, 3), (8,), TypeError, r"from_conv takes nn.Conv1d, nn.Conv2d or nn.Conv3d, got Linear"),
        (nn.ConvTranspose2d(2, 3, 3), (8, 8), TypeError, "got ConvTranspose2d"),
    ],
)
def test_from_conv_rejects_what_it_cannot_convert_exactly(conv, grid, error, match):
    with pytest.raises(error, match=match):
        SparseSpectralConv.from_conv(conv, grid)


# ---------------------------------------------------------------------------- from_neuralop


def _neuralop_conv(*args, seed=0, **kwargs):
    from neuralop.layers.spectral_convolution import SpectralConv

    torch.manual_seed(seed)
    return SpectralConv(*args, **kwargs)


@pytest.mark.parametrize(
    ("args", "kwargs", "grids"),
    [
        ((2, 3, (8,)), {}, [(16,), (8,), (9,), (13,)]),  # 1-D: the last axis, so odd is fine too
        ((2, 3, (8, 8)), {}, [(16, 16), (10, 8), (12, 10), (16, 9)]),  # (10, 8): box size on the last axis
        ((2, 3, (7, 5)), {}, [(16, 16), (10, 6)]),
        ((2, 3, (6, 6)), {"max_n_modes": (8, 8)}, [(16, 16)]),
        ((3, 3, (8, 8)), {"separable": True}, [(16, 16), (12, 8)]),
        ((2, 3, (4, 4, 4)), {}, [(6, 6, 4), (8, 6, 5), (6, 8, 8)]),
        ((2, 2, (4, 6)), {"bias": False}, [(8, 8)]),
    ],
)
def test_from_neuralop_matches_neuralop_on_even_grids(args, kwargs, grids):
    ref = _neuralop_conv(*args, **kwargs)
    layer = SparseSpectralConv.from_neuralop(ref)
    assert layer.active_modes == ModeSet.box(args[2])  # weights up to max_n_modes are stored, inactive
    assert layer.mixing == ("diagonal" if kwargs.get("separable") else "dense")
    assert (layer.bias is None) == (kwargs.get("bias") is False)
    for grid in grids:
        x = torch.randn(2, args[0], *grid)
        with torch.no_grad():
            assert_close(layer(x), ref(x), torch.float32, what=f"grid {grid}")
            if grid[-1] > args[2][-1]:
                # neuraloperator resamples correctly along the last axis only (see the test below)
                for last in (2 * grid[-1], grid[-1] + 1):
                    out = (*grid[:-1], last)
                    assert_close(layer(x, output_shape=out), ref(x, output_shape=out), torch.float32, what=f"->{out}")


@pytest.mark.parametrize(("grid", "out"), [((16, 16), (32, 32)), ((16, 16), (12, 16)), ((16, 16), (24, 20))])
def test_neuralop_output_shape_is_wrong_along_non_last_axes_and_ours_is_not(grid, out):
    """neuraloperator 2.0's SpectralConv mis-resamples every axis but the last.

    It hands its standard-layout spectrum to ``irfftn(..., s=output_shape)``, which pads or
    truncates each axis at its end, so the negative frequencies of a non-last axis land on
    the wrong (positive) bins of the new grid. This breaks ``output_shape`` and
    ``resolution_scaling_factor`` for 2-D and 3-D FNOs. Our layer follows the contract.
    """
    ref = _neuralop_conv(2, 3, (8, 8))
    layer = SparseSpectralConv.from_neuralop(ref)
    x = torch.randn(2, 2, *grid)
    with torch.no_grad():
        theirs, ours = ref(x, output_shape=out), layer(x, output_shape=out)
    literal = literal_conv(x, layer.weight, layer.modes, layer.bias, out)
    assert relative_error(ours, literal) <= TOLERANCES[torch.float32][0]
    assert relative_error(theirs, literal) > 0.1


@pytest.mark.parametrize("grid", [(15, 15), (17, 16)])
def test_neuralop_spectral_conv_is_wrong_on_odd_grids_and_ours_is_not(grid):
    """neuraloperator 2.0's SpectralConv is not a spectral convolution on grids odd along a non-last axis.

    Its inverse path calls ``torch.fft.fftshift`` on the output spectrum where ``ifftshift`` is
    needed; the two differ only for odd lengths, so on such grids every frequency of the output
    lands one bin off. The layer converted from it follows the contract (checked against the
    literal formula), and both agree on even grids.
    """
    ref = _neuralop_conv(2, 3, (8, 8))
    layer = SparseSpectralConv.from_neuralop(ref)
    x = torch.randn(2, 2, *grid)
    with torch.no_grad():
        theirs, ours = ref(x), layer(x)
    literal = literal_conv(x, layer.weight, layer.modes, layer.bias)
    assert relative_error(ours, literal) <= TOLERANCES[torch.float32][0]
    assert relative_error(theirs, literal) > 0.1
    # the same layers agree on the even grid next door
    x_even = torch.randn(2, 2, 16, 16)
    with torch.no_grad():
        assert_close(layer(x_even), ref(x_even), torch.float32)


def test_neuralop_fftshift_explains_the_odd_grid_difference():
    """Re-running neuraloperator's computation with ifftshift instead of fftshift gives our output."""
    ref = _neuralop_conv(1, 1, (6, 6), bias=False)
    layer = SparseSpectralConv.from_neuralop(ref)
    x = torch.randn(1, 1, 11, 10)
    spec = torch.fft.fftshift(torch.fft.rfftn(x, dim=(-2, -1), norm="forward"), dim=(-2,))
    out = torch.zeros_like(spec)
    center = 11 // 2
    with torch.no_grad():
        w = ref.weight.to_tensor() if hasattr(ref.weight, "to_tensor") else ref.weight
        out[..., center - 3 : center + 3, :4] = torch.einsum(
            "bixy,ioxy->boxy", spec[..., center - 3 : center + 3, :4], w
        )
        fixed = torch.fft.irfftn(torch.fft.ifftshift(out, dim=(-2,)), s=(11, 10), dim=(-2, -1), norm="forward")
        buggy = torch.fft.irfftn(torch.fft.fftshift(out, dim=(-2,)), s=(11, 10), dim=(-2, -1), norm="forward")
        assert_close(buggy, ref(x), torch.float32)
        assert_close(layer(x), fixed, torch.float32)


def test_from_neuralop_rejects_other_modules():
    with pytest.raises(TypeError, match="from_neuralop takes a neuraloperator SpectralConv; Conv2d has no 'n_modes'"):
        SparseSpectralConv.from_neuralop(nn.Conv2d(1, 1, 1))
    with pytest.raises(TypeError, match="from_neuralop takes a neuraloperator SpectralConv; Linear has no 'n_modes'"):
        SparseSpectralConv.from_neuralop(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="complex_data=True"):
        SparseSpectralConv.from_neuralop(_neuralop_conv(2, 2, (4, 4), complex_data=True))


# ---------------------------------------------------------------------------- compact


@pytest.mark.parametrize("mixing", ["dense", "diagonal"])
def test_compact_changes_no_output_and_removes_exactly_the_zero_modes(mixing):
    torch.manual_seed(0)
    layer = SparseSpectralConv(3, 3, ModeSet.box((8, 8)), mixing=mixing)
    n = len(layer.modes)
    zero = torch.zeros(n, dtype=torch.bool)
    zero[[0, 3, 4, 10, 20, n - 1]] = True
    with torch.no_grad():
        layer.weight[zero] = 0
        layer.weight[5].view(-1)[0] = 0  # partly zero: must stay
    expected_modes = layer.modes[~zero]
    x = torch.randn(2, 3, 12, 11)
    before = layer(x), layer(x, output_shape=(7, 16))
    old_weight = layer.weight.detach().clone()
    assert layer.compact() is layer
    assert layer.modes == expected_modes
    assert len(layer.modes) == n - 6
    assert layer.mode_indices.tolist() == expected_modes.indices.tolist()
    assert torch.equal(layer.weight.detach(), old_weight[~zero])
    assert isinstance(layer.weight, nn.Parameter) and layer.weight.requires_grad
    after = layer(x), layer(x, output_shape=(7, 16))
    for a, b in zip(before, after):
        assert_close(b, a)
    assert f"kept={n - 6}/{n}" in repr(layer)
    layer.compact()  # idempotent
    assert len(layer.modes) == n - 6


def test_compact_of_an_all_zero_layer_leaves_the_bias():
    layer = SparseSpectralConv(2, 2, (4, 4))
    with torch.no_grad():
        layer.weight.zero_()
        layer.bias.copy_(torch.tensor([1.5, -2.0]))
    layer.compact()
    assert len(layer.modes) == 0
    y = layer(torch.randn(3, 2, 5, 6))
    assert y.shape == (3, 2, 5, 6)
    torch.testing.assert_close(y, torch.tensor([1.5, -2.0]).reshape(1, 2, 1, 1).expand(3, 2, 5, 6))


# ---------------------------------------------------------------------------- resample


@pytest.mark.parametrize("shape", [(8,), (7, 6), (5, 4, 3)])
def test_resample_is_identity_at_the_same_shape(shape):
    x = torch.randn(2, 3, *shape, dtype=torch.float64)
    assert torch.equal(resample(x, shape), x)
    assert torch.equal(resample(x, shape[-1]), x)


@pytest.mark.parametrize(
    ("src", "dst"), [((12,), (7,)), ((9,), (16,)), ((10, 9), (7, 12)), ((13, 8), (11, 11)), ((8, 8), (6, 6))]
)
def test_resample_is_exact_for_band_limited_fields(src, dst):
    gen = torch.Generator().manual_seed(0)
    bandwidth = tuple((min(a, b) - 1) // 2 for a, b in zip(src, dst))  # strictly below both Nyquists
    freqs, coeffs = bandlimited_coefficients(gen, 2, 2, bandwidth)
    a, b = evaluate_field(freqs, coeffs, src), evaluate_field(freqs, coeffs, dst)
    assert_close(resample(a, dst), b, torch.float64)
    assert_close(resample(b, src), a, torch.float64)


@pytest.mark.parametrize(
    ("shape", "up"), [((8,), (16,)), ((7,), (12,)), ((6, 5), (9, 10)), ((4, 4, 3), (5, 8, 6)), ((2,), (3,))]
)
def test_resample_round_trip_up_then_down(shape, up):
    x = torch.randn(3, *shape, dtype=torch.float64)  # not band-limited: even Nyquist bins are present
    assert_close(resample(resample(x, up), shape), x, torch.float64)
    x32 = x.float()
    y32 = resample(resample(x32, up), shape)
    assert y32.dtype == torch.float32
    assert_close(y32, x32, torch.float32)


def test_resample_cos_at_nyquist():
    n = torch.arange(16, dtype=torch.float64)
    alt = torch.cos(math.pi * n[:8])  # (-1)^n on 8 points: the Nyquist bin, split evenly over ±4
    torch.testing.assert_close(resample(alt, 16), torch.cos(2 * math.pi * 4 * n / 16))
    torch.testing.assert_close(resample(alt, 12), torch.cos(2 * math.pi * 4 * n[:12] / 12))
    torch.testing.assert_close(resample(alt, 9), torch.cos(2 * math.pi * 4 * n[:9] / 9))
    # grids that cannot hold frequency 4 get nothing of it
    torch.testing.assert_close(resample(alt, 6), torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(resample(alt, 7), torch.zeros(7, dtype=torch.float64))
    # down onto a new Nyquist: cos(2π 3 t) on 6 points is sampled, (-1)^n; sin(2π 3 t) vanishes there
    t12 = n[:12] / 12
    torch.testing.assert_close(resample(torch.cos(6 * math.pi * t12), 6), torch.cos(math.pi * n[:6]))
    torch.testing.assert_close(resample(torch.sin(6 * math.pi * t12), 6), torch.zeros(6, dtype=torch.float64))
    torch.testing.assert_close(
        resample(torch.cos(6 * math.pi * t12 + 0.7), 6), math.cos(0.7) * torch.cos(math.pi * n[:6])
    )


@pytest.mark.parametrize(
    ("src", "dst"),
    [((6,), (4,)), ((6,), (9,)), ((5,), (2,)), ((4, 6), (6, 3)), ((5, 4), (8, 8)), ((3, 4, 2), (4, 3, 5))],
)
def test_resample_matches_the_explicit_trigonometric_interpolant(src, dst):
    """resample(x, N') samples Σ_{k resolved by N and N'} of the even-split interpolant, written out literally."""
    x = torch.randn(2, 1, *src, dtype=torch.float64)
    modes = ModeSet.full(src)
    eye = torch.ones(len(modes), 1, 1, dtype=torch.complex128)
    assert_close(resample(x, dst), literal_conv(x, eye, modes, None, dst), torch.float64)


def test_resample_keeps_leading_axes_and_rejects_bad_input():
    x = torch.randn(2, 3, 4, 6, 8)
    assert resample(x, (5, 7)).shape == (2, 3, 4, 5, 7)
    with pytest.raises(TypeError, match=r"resample takes real floating-point fields, got dtype torch\.complex64"):
        resample(torch.randn(4, 4, dtype=torch.complex64), (8, 8))
    with pytest.raises(TypeError, match=r"got dtype torch\.int64"):
        resample(torch.ones(4, 4, dtype=torch.long), (8, 8))
    with pytest.raises(TypeError, match=r"x must be a torch\.Tensor, got list"):
        resample([1.0, 2.0], 4)
    with pytest.raises(ValueError, match="cannot resample 3 axes of a tensor with 2 dimensions"):
        resample(torch.randn(4, 4), (8, 8, 8))
    with pytest.raises(ValueError, match="shape entries must be >= 1"):
        resample(torch.randn(4, 4), (0, 8))


# ---------------------------------------------------------------------------- hypothesis

_small = st.integers(min_value=1, max_value=12)


@st.composite
def conv_problems(draw):
    ndim = draw(st.sampled_from([1, 2]))
    grid = tuple(draw(_small) for _ in range(ndim))
    out = draw(st.one_of(st.none(), st.tuples(*[_small] * ndim)))
    rows = draw(
        st.lists(st.tuples(*[st.integers(-7, 7)] * ndim), min_size=1, max_size=7).map(
            lambda ks: list({_canon(k): k for k in ks}.values())  # one row per mode, any sign
        )
    )
    cin = draw(st.integers(1, 3))
    mixing = draw(st.sampled_from(["dense", "diagonal"]))
    cout = cin if mixing == "diagonal" else draw(st.integers(1, 3))
    seed = draw(st.integers(0, 2**16))
    return grid, out, rows, cin, cout, mixing, seed


def _canon(k):
    nz = [v for v in k if v != 0]
    return tuple(-v for v in k) if nz and nz[-1] < 0 else tuple(k)


def _resolves_any(modes, grid, out):
    out = out or grid
    return bool((modes.resolved(grid) & modes.resolved(out)).any())


@settings(max_examples=25, deadline=None)
@given(conv_problems())
def test_property_backends_agree_with_reference_and_literal_formula(problem):
    grid, out, rows, cin, cout, mixing, seed = problem
    modes = ModeSet.from_indices(rows)
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(2, cin, *grid, generator=gen, dtype=torch.float64)
    shape = (len(modes), cin) if mixing == "diagonal" else (len(modes), cin, cout)
    weight = torch.randn(*shape, generator=gen, dtype=torch.complex128)
    if not _resolves_any(modes, grid, out):
        with pytest.raises(ValueError, match="resolves none of the"):
            sparse_spectral_conv(x, weight, modes, output_shape=out)
        return
    expected = literal_conv(x, weight, modes, None, out)
    reference = sparse_spectral_conv(x, weight, modes, output_shape=out, backend="fft")
    assert_close(reference, expected, torch.float64, what="fft vs literal")
    for backend in ALL_BACKENDS:
        if backend == "fft" or not _backend_accepts(backend, x, weight, modes, out):
            continue
        y = sparse_spectral_conv(x, weight, modes, output_shape=out, backend=backend)
        assert_close(y, reference, torch.float64, what=f"{backend} vs fft")
        assert_close(y, expected, torch.float64, what=f"{backend} vs literal")


@settings(max_examples=25, deadline=None)
@given(
    st.integers(1, 3).flatmap(
        lambda d: st.tuples(st.tuples(*[st.integers(1, 12)] * d), st.tuples(*[st.integers(1, 12)] * d))
    )
)
def test_property_resample_up_then_down_is_identity(shapes):
    shape, other = shapes
    up = tuple(max(a, b) for a, b in zip(shape, other))
    x = torch.randn(2, *shape, dtype=torch.float64)
    assert_close(resample(resample(x, up), shape), x, torch.float64)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 2), st.integers(1, 10), st.integers(0, 2**16))
def test_property_random_scattered_sets_round_trip_through_layers(ndim, count, seed):
    """Scattered (random from_indices) layers: state_dict round trip and fft/dft agreement in float32."""
    gen = torch.Generator().manual_seed(seed)
    modes = random_modes(gen, ndim, count, 5)
    layer = SparseSpectralConv(2, 2, modes, backend="fft")
    x = torch.randn(1, 2, *([11] * ndim), generator=gen)
    other = SparseSpectralConv(2, 2, ModeSet.box((4,) * ndim), backend="dft")
    other.load_state_dict(layer.state_dict())
    assert other.modes == layer.modes
    assert_close(other(x), layer(x))
