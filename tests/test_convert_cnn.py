"""cnn_to_spectral: exact at the training grid, resolution-consistent elsewhere, clear refusals."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from spectral_sparse import ModeSet, SparseSpectralConv, resample
from spectral_sparse.models._sampling import _fold_axis
from spectral_sparse.models.classifier import CNNClassifier, SpectralClassifier
from spectral_sparse.models.cnn_conversion import (
    ChannelwiseFilter,
    SpectralSubsample,
    cnn_to_spectral,
    coarse_grid,
    sample_interpolant,
)
from spectral_sparse.testing import relative_error

DTYPES = [torch.float64, torch.float32]
RTOL = 1e-5


def circ(cin: int, cout: int, k: int, **kw) -> nn.Conv2d:
    return nn.Conv2d(cin, cout, k, padding_mode="circular", **kw)


def head(c: int, classes: int = 3) -> list[nn.Module]:
    return [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, classes)]


def plain_cnn() -> nn.Sequential:
    return nn.Sequential(circ(2, 4, 3, padding=1), nn.GELU(), circ(4, 6, 5, padding=2), nn.ReLU(), *head(6))


def strided_cnn() -> nn.Sequential:
    return nn.Sequential(
        circ(2, 4, 3, padding=1),
        nn.GELU(),
        circ(4, 6, 3, stride=2, padding=1),  # 28 -> 14
        nn.GELU(),
        circ(6, 6, 3, stride=1, padding=2, dilation=2),
        circ(6, 6, 3, stride=(1, 2), padding=1, groups=6),  # depthwise, anisotropic stride
        nn.ReLU(),
        circ(6, 6, 3, padding=1),
        *head(6),
    )


def strided_variants_cnn() -> nn.Sequential:
    return nn.Sequential(
        circ(2, 4, 4, stride=2, padding=1),  # even kernel
        nn.GELU(),
        nn.Conv2d(4, 4, 2, stride=2),  # "patchify": no padding at all
        nn.GELU(),
        nn.Conv2d(4, 4, 1, stride=(1, 1)),  # pointwise
        circ(4, 4, 3, stride=1, padding=1),
        *head(4),
    )


def pooling_bn_cnn() -> nn.Sequential:
    bn = nn.BatchNorm2d(4)
    with torch.no_grad():
        bn.running_mean.normal_()
        bn.running_var.uniform_(0.5, 2.0)
        bn.weight.normal_()
        bn.bias.normal_()
    return nn.Sequential(
        nn.AvgPool2d(2),
        circ(2, 4, 3, padding=1),
        bn,
        nn.GELU(),
        nn.Dropout(0.5),
        nn.AvgPool2d((2, 1)),
        nn.Sequential(circ(4, 4, 3, padding=1), nn.SiLU()),  # nested
        *head(4),
    ).eval()


def _check_exact(cnn: nn.Module, grid: tuple[int, ...], dtype: torch.dtype, channels: int = 2) -> None:
    torch.manual_seed(1)
    cnn = cnn.to(dtype)
    model = cnn_to_spectral(cnn, grid)
    x = torch.randn(3, channels, *grid, dtype=dtype)
    with torch.no_grad():
        err = relative_error(model(x), cnn(x))
    assert err <= RTOL, f"relative error {err:.2e} at the training grid {grid} ({dtype})"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grid", [(28, 28), (27, 27), (20, 33)])
def test_stride_one_cnn_is_exact_at_the_training_grid(grid, dtype):
    torch.manual_seed(0)
    _check_exact(plain_cnn(), grid, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grid", [(28, 28), (28, 20)])
@pytest.mark.parametrize("build", [strided_cnn, strided_variants_cnn, pooling_bn_cnn])
def test_strided_and_pooling_cnn_is_exact_at_the_training_grid(build, grid, dtype):
    torch.manual_seed(0)
    _check_exact(build(), grid, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_cnn_classifier_is_exact_and_keeps_its_forward(dtype):
    torch.manual_seed(0)
    cnn = CNNClassifier(2, 5, widths=(4, 6, 8)).eval()
    _check_exact(cnn, (28, 28), dtype)
    model = cnn_to_spectral(cnn.to(dtype), (28, 28))
    assert any(isinstance(m, SparseSpectralConv) for m in model.body.modules())
    assert model(torch.randn(2, 2, 20, 36, dtype=dtype)).shape == (2, 5)


def test_1d_and_3d_networks_are_exact():
    torch.manual_seed(0)
    cnn1 = nn.Sequential(
        nn.Conv1d(2, 3, 5, padding=2, padding_mode="circular"),
        nn.Tanh(),
        nn.Conv1d(3, 3, 3, stride=2, padding=1, padding_mode="circular"),
        nn.AvgPool1d(3),
        nn.AdaptiveAvgPool1d(1),
        nn.Flatten(),
        nn.Linear(3, 2),
    )
    _check_exact(cnn1, (36,), torch.float64)
    cnn3 = nn.Sequential(
        nn.Conv3d(2, 3, 3, padding=1, padding_mode="circular"),
        nn.GELU(),
        nn.AvgPool3d(2),
        nn.Conv3d(3, 3, 3, stride=(1, 1, 2), padding=1, padding_mode="circular"),
        nn.AdaptiveAvgPool3d(1),
        nn.Flatten(),
        nn.Linear(3, 2),
    )
    _check_exact(cnn3, (8, 6, 8), torch.float64)


def test_layers_are_replaced_and_the_input_is_unchanged():
    torch.manual_seed(0)
    cnn = strided_cnn()
    before = copy.deepcopy(cnn.state_dict())
    types = [type(m) for m in cnn.modules()]
    model = cnn_to_spectral(cnn, 28)  # an int is the same size on every axis
    assert [type(m) for m in cnn.modules()] == types
    assert all(torch.equal(before[k], v) for k, v in cnn.state_dict().items())
    assert model is not cnn and not any(isinstance(m, nn.Conv2d) and m.kernel_size != (1, 1) for m in model.modules())
    strided = model[2]
    assert isinstance(strided.conv, SparseSpectralConv) and strided.subsample.stride == (2, 2)
    # each layer holds every mode of the grid where it sits: 28x28 before the stride, 14x14 after it
    assert model[0].modes == ModeSet.full((28, 28)) and model[4].modes == ModeSet.full((14, 14))
    assert model[5].subsample.stride == (1, 2) and model[5].conv.mixing == "diagonal"
    assert model[7].modes == ModeSet.full((14, 7))


def test_float64_cnn_gives_complex128_weights():
    model = cnn_to_spectral(pooling_bn_cnn().double(), (28, 28))
    weights = [m.weight.dtype for m in model.modules() if isinstance(m, SparseSpectralConv)]
    assert weights and set(weights) == {torch.complex128}
    assert isinstance(model[0].filter, ChannelwiseFilter)


@pytest.mark.parametrize("build", [strided_cnn, pooling_bn_cnn, strided_variants_cnn])
def test_converted_model_runs_at_other_grids(build):
    torch.manual_seed(0)
    model = cnn_to_spectral(build(), (28, 28)).eval()
    with torch.no_grad():
        for grid in [(20, 20), (42, 42), (56, 56), (24, 40), (27, 31)]:
            out = model(torch.randn(2, 2, *grid))
            assert out.shape == (2, 3) and bool(torch.isfinite(out).all())


def _band_limited(grid: tuple[int, ...], coeffs: torch.Tensor, channels: int = 2) -> torch.Tensor:
    """Samples on ``grid`` of a fixed real trigonometric polynomial with |k_i| <= 3."""
    t = [torch.arange(n, dtype=torch.float64) / n for n in grid]
    k = torch.arange(-3, 4, dtype=torch.float64)
    e = [torch.exp(2j * math.pi * k[:, None] * ti[None, :]) for ti in t]  # (7, N_i)
    field = torch.einsum("bcpq,pm,qn->bcmn", coeffs, e[0], e[1])
    return field.real.contiguous()


def test_linear_strided_network_is_discretization_invariant_on_band_limited_inputs():
    # no activations: every layer is linear, the input has |k| <= 3 < the coarsest Nyquist (7/2),
    # so nothing aliases and the logits are the same on every grid, odd, even and non-square
    torch.manual_seed(0)
    cnn = nn.Sequential(
        circ(2, 4, 3, padding=1),
        circ(4, 4, 3, stride=2, padding=1),
        nn.AvgPool2d(2),
        circ(4, 4, 3, padding=1),
        *head(4),
    ).double()
    model = cnn_to_spectral(cnn, (28, 28))
    coeffs = torch.randn(2, 2, 7, 7, dtype=torch.complex128)
    x28 = _band_limited((28, 28), coeffs)
    reference = cnn(x28)
    with torch.no_grad():
        for grid in [(28, 28), (27, 27), (42, 42), (56, 56), (30, 44)]:
            err = relative_error(model(_band_limited(grid, coeffs)), reference)
            assert err < 1e-10, f"grid {grid}: {err:.2e}"


def test_aliasing_in_strided_layers_is_kept():
    # frequency 10 on 28 points, sampled on 14: it folds onto -4, as y[::2] does; on 56 -> 28 it survives
    sub = SpectralSubsample(2)
    wave = lambda k, n: torch.cos(2 * math.pi * k * torch.arange(n, dtype=torch.float64) / n)  # noqa: E731
    assert torch.allclose(sub(wave(10, 28)[None, None]), wave(4, 14)[None, None], atol=1e-12)
    assert torch.allclose(sub(wave(10, 56)[None, None]), wave(10, 28)[None, None], atol=1e-12)


# ---------------------------------------------------------------- SpectralSubsample


def _direct_interpolant(y: torch.Tensor, new: tuple[int, ...]) -> torch.Tensor:
    """Evaluate the trigonometric interpolant (even Nyquist split) at the points m/M, by explicit sums."""
    y = y.to(torch.float64)
    for axis, m in zip(range(y.ndim - len(new), y.ndim), new):
        n = y.shape[axis]
        k = torch.arange(-(n // 2), n // 2 + 1, dtype=torch.float64)
        w = torch.where(2 * k.abs() == n, 0.5, 1.0).to(torch.complex128)
        tm = torch.arange(m, dtype=torch.float64) / m
        tn = torch.arange(n, dtype=torch.float64) / n
        # A[m, n] = (1/N) Σ_k w_k exp(2πi k (t_m - t_n))
        a = torch.einsum(
            "k,mk,kn->mn", w, torch.exp(2j * math.pi * tm[:, None] * k), torch.exp(-2j * math.pi * k[:, None] * tn)
        )
        a = (a / n).real
        y = torch.tensordot(y, a, dims=([axis], [1])).movedim(-1, axis)
    return y


@pytest.mark.parametrize("grid", [(28, 28), (42, 30), (12, 8)])
def test_subsample_equals_slicing_on_divisible_grids(grid):
    y = torch.randn(2, 3, *grid, dtype=torch.float64)
    assert torch.equal(SpectralSubsample(2)(y), y[..., ::2, ::2])
    # the general (spectral fold) path agrees with slicing too
    folded = _fold_axis(_fold_axis(y, 2, grid[0] // 2), 3, grid[1] // 2)
    assert relative_error(folded, y[..., ::2, ::2]) < 1e-13


@pytest.mark.parametrize(("grid", "stride"), [((27, 27), 2), ((28, 15), 2), ((25, 20), (3, 3)), ((9, 7), (2, 1))])
def test_subsample_matches_direct_evaluation_of_the_interpolant(grid, stride):
    y = torch.randn(2, 3, *grid, dtype=torch.float64)
    sub = SpectralSubsample(stride)
    out = sub(y)
    coarse = coarse_grid(grid, stride)
    assert out.shape[2:] == coarse == sub.output_shape(grid)
    assert relative_error(out, _direct_interpolant(y, coarse)) < 1e-12
    assert relative_error(sub(y.float()), out.float()) < 1e-5


def test_sample_interpolant_upsamples_like_resample():
    y = torch.randn(3, 16, 11, dtype=torch.float64)
    assert relative_error(sample_interpolant(y, (40, 23)), resample(y, (40, 23))) < 1e-12
    assert relative_error(sample_interpolant(y, (40, 23)), _direct_interpolant(y, (40, 23))) < 1e-12


def test_coarse_grid_rounds_halves_up():
    assert coarse_grid((28, 27, 26, 3, 1), 2) == (14, 14, 13, 2, 1)
    assert coarse_grid((42, 10), (4, 3)) == (11, 3)


# ---------------------------------------------------------------- refusals


class Scale(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.gain = nn.Parameter(torch.ones(1))

    def forward(self, x):
        return x * self.gain


class Pooled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.pool = nn.MaxPool2d(2)

    def forward(self, x):
        return self.pool(x)


BAD = [
    (nn.Sequential(circ(2, 4, 3, padding=1), nn.MaxPool2d(2), *head(4)), r"'1' \(MaxPool2d\): max pooling is not"),
    (
        nn.Sequential(nn.Conv2d(2, 4, 3, padding=1), *head(4)),
        r"'0' \(Conv2d\) at grid \(28, 28\): .*padding_mode='circular'.*'zeros'",
    ),
    (
        nn.Sequential(nn.Conv2d(2, 4, 3, stride=2, padding=1), *head(4)),
        r"'0' \(Conv2d\): 'zeros' padding is not periodic",
    ),
    (nn.Sequential(circ(2, 4, 3, padding=1), Scale(), *head(4)), r"'1' \(Scale\): a module with parameters of unknown"),
    (
        nn.Sequential(circ(2, 4, 3, padding=1), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 3)),
        r"'1' \(AdaptiveAvgPool2d\): adaptive pooling to size 2",
    ),
    (nn.Sequential(circ(2, 4, 3, padding=1), nn.Flatten(), nn.Linear(4 * 28 * 28, 3)), r"'1' \(Flatten\): it acts"),
    (nn.Sequential(nn.Linear(28, 28)), r"'0' \(Linear\): it acts on the grid axes before global pooling"),
    (
        nn.Sequential(nn.Sequential(circ(2, 4, 3, padding=1), circ(4, 4, 3, stride=3, padding=1)), *head(4)),
        r"'0.1' \(Conv2d\) exactly: stride \(3, 3\) does not divide the grid \(28, 28\)",
    ),
    (
        nn.Sequential(circ(2, 4, 3, stride=2), *head(4)),
        r"'0' \(Conv2d\) exactly: .* outputs 13 points along an axis of 28, not 28/2 = 14",
    ),
    (nn.Sequential(circ(2, 4, 3, padding=1, groups=2), *head(4)), r"'0' \(Conv2d\) at grid .*groups=2"),
    (nn.Sequential(nn.AvgPool2d(2, padding=1), *head(2)), r"'0' \(AvgPool2d\): it pads with zeros"),
    (nn.Sequential(nn.ZeroPad2d(1), *head(2)), r"'0' \(ZeroPad2d\): padding layers change the grid"),
    (nn.Sequential(nn.ConvTranspose2d(2, 2, 2, stride=2), *head(2)), r"ConvTranspose2d\): transposed"),
    (nn.Sequential(nn.Conv1d(2, 2, 3, padding=1, padding_mode="circular")), r"'0' \(Conv1d\): it is 1-D but"),
    (Scale(), r"cannot convert Scale: a module with parameters of unknown type"),
    (nn.Sequential(Pooled(), *head(2)), r"'0' \(Pooled\): it contains 'pool' \(MaxPool2d\)"),
]


@pytest.mark.parametrize(("cnn", "message"), BAD)
def test_unconvertible_modules_raise_naming_module_and_reason(cnn, message):
    with pytest.raises(ValueError, match=message):
        cnn_to_spectral(cnn, (28, 28))


def test_non_divisible_training_grid_is_refused_for_strided_layers():
    with pytest.raises(ValueError, match=r"stride \(2, 2\) does not divide the grid \(27, 27\)"):
        cnn_to_spectral(strided_cnn(), (27, 27))
    with pytest.raises(TypeError, match=r"cnn must be an nn\.Module"):
        cnn_to_spectral("cnn", (28, 28))


def test_resolution_independent_models_are_copied():
    model = SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    out = cnn_to_spectral(model, (28, 28))
    x = torch.randn(2, 1, 20, 20)
    assert out is not model and torch.equal(out(x), model(x))
