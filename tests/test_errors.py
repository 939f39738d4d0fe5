"""Bad input gets a clear exception naming the problem: type and message are asserted."""

from __future__ import annotations

import pytest
import torch

from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.functional import sparse_spectral_conv

MODES = ModeSet.box((4, 4))  # 11 modes, 2-D
K = len(MODES)


def _args(**overrides):
    args = {
        "x": torch.randn(2, 3, 8, 8),
        "weight": torch.randn(K, 3, 5, dtype=torch.complex64),
        "modes": MODES,
        "bias": torch.randn(5),
        "output_shape": None,
    }
    args.update(overrides)
    return args


def test_valid_call_for_reference():
    assert sparse_spectral_conv(**_args()).shape == (2, 5, 8, 8)


BAD_CALLS = [
    # (overrides, exception, message pattern)
    (
        {"x": torch.randn(3, 8, 8)},
        ValueError,
        r"x must have shape \(batch, channels, \*grid\) with 2 grid axes.*got rank 3",
    ),
    ({"x": torch.randn(2, 3, 8, 8, 8)}, ValueError, r"\(rank 4\), got rank 5 \(shape \(2, 3, 8, 8, 8\)\)"),
    ({"x": torch.randn(2, 3, 8)}, ValueError, r"got rank 3 \(shape \(2, 3, 8\)\)"),
    ({"x": torch.randn(2, 4, 8, 8)}, ValueError, "channel mismatch: x has 4 channels but weight expects 3"),
    (
        {"x": torch.randn(2, 3, 8, 8, dtype=torch.complex64)},
        TypeError,
        r"x must be a real floating-point tensor, got dtype torch\.complex64",
    ),
    (
        {"x": torch.ones(2, 3, 8, 8, dtype=torch.long)},
        TypeError,
        r"x must be a real floating-point tensor, got dtype torch\.int64",
    ),
    ({"x": torch.ones(2, 3, 8, 8, dtype=torch.bool)}, TypeError, r"got dtype torch\.bool"),
    ({"x": [[1.0]]}, TypeError, "x must be a torch.Tensor, got list"),
    ({"x": torch.randn(2, 3, 0, 8)}, ValueError, r"x has an empty grid axis: shape \(2, 3, 0, 8\)"),
    ({"weight": torch.randn(K, 3, 5)}, TypeError, r"weight must be a complex tensor, got torch\.float32"),
    (
        {"weight": torch.randn(K, 3, 5, dtype=torch.float64)},
        TypeError,
        r"weight must be a complex tensor, got torch\.float64",
    ),
    ({"weight": [[1.0]]}, TypeError, "weight must be a complex tensor, got list"),
    (
        {"weight": torch.randn(K + 1, 3, 5, dtype=torch.complex64)},
        ValueError,
        r"weight must have shape \(K, C, O\) or \(K, C\) with K = 11 modes, got \(12, 3, 5\)",
    ),
    ({"weight": torch.randn(K, 3, 5, 1, dtype=torch.complex64)}, ValueError, r"with K = 11 modes, got \(11, 3, 5, 1\)"),
    ({"weight": torch.randn(K, dtype=torch.complex64)}, ValueError, r"with K = 11 modes, got \(11,\)"),
    (
        {"weight": torch.randn(K, 2, 5, dtype=torch.complex64)},
        ValueError,
        "channel mismatch: x has 3 channels but weight expects 2",
    ),
    (
        {"weight": torch.randn(K, 4, dtype=torch.complex64)},
        ValueError,
        "channel mismatch: x has 3 channels but weight expects 4",
    ),
    ({"bias": torch.randn(4)}, ValueError, r"bias must have shape \(5,\), got \(4,\)"),
    ({"bias": torch.randn(5, 1)}, ValueError, r"bias must have shape \(5,\), got \(5, 1\)"),
    ({"bias": torch.randn(1, 5, 1, 1)}, ValueError, r"bias must have shape \(5,\), got \(1, 5, 1, 1\)"),
    ({"bias": torch.randn(5, dtype=torch.complex64)}, TypeError, "bias must be a real floating-point tensor"),
    ({"bias": torch.ones(5, dtype=torch.long)}, TypeError, "bias must be a real floating-point tensor"),
    ({"bias": [0.0] * 5}, TypeError, "bias must be a real floating-point tensor"),
    ({"output_shape": (8,)}, ValueError, r"output_shape \(8,\) has 1 entries; the modes are 2-D, so it needs 2"),
    ({"output_shape": (8, 8, 8)}, ValueError, r"output_shape \(8, 8, 8\) has 3 entries; the modes are 2-D"),
    ({"output_shape": (8, 0)}, ValueError, r"output_shape entries must be >= 1, got \(8, 0\)"),
    ({"output_shape": (-4, 8)}, ValueError, r"output_shape entries must be >= 1, got \(-4, 8\)"),
    ({"output_shape": ()}, ValueError, "output_shape must have at least one entry"),
    ({"output_shape": (8.0, 8.0)}, TypeError, "output_shape must contain ints"),
    ({"output_shape": (True, 8)}, TypeError, "output_shape must contain ints"),
    ({"output_shape": "ab"}, TypeError, "output_shape must contain ints"),
    ({"modes": [[0.5, 1.0]]}, TypeError, "mode indices must be integers"),
    ({"modes": [[1, 1], [-1, -1]]}, ValueError, "duplicate mode"),
]


@pytest.mark.parametrize(("overrides", "error", "match"), BAD_CALLS)
def test_functional_rejects_bad_input(overrides, error, match):
    with pytest.raises(error, match=match):
        sparse_spectral_conv(**_args(**overrides))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), complex(0, float("nan"))])
def test_non_finite_weights(bad):
    weight = torch.randn(K, 3, 5, dtype=torch.complex64)
    weight[4, 1, 2] = bad
    with pytest.raises(ValueError, match="weight contains NaN or infinite values"):
        sparse_spectral_conv(**_args(weight=weight))


@pytest.mark.parametrize(
    ("rows", "grid", "out", "pattern"),
    [
        ([[5, 3]], (4, 4), None, r"grid \(4, 4\) -> \(4, 4\) resolves none of the 1 modes"),
        ([[5, 3]], (4, 4), None, r"needs a grid of at least \(10, 6\)"),
        ([[5, 3]], (4, 4), None, r"2\|k_i\| <= N_i"),
        ([[1, 1], [2, 0]], (16, 16), (1, 1), r"grid \(16, 16\) -> \(1, 1\) resolves none of the 2 modes"),
        ([[3]], (5,), (12,), r"grid \(5,\) -> \(12,\) resolves none of the 1 modes"),
    ],
)
def test_grid_that_resolves_none_of_the_modes(rows, grid, out, pattern):
    modes = ModeSet.from_indices(rows)
    x = torch.randn(1, 2, *grid)
    weight = torch.randn(len(modes), 2, 2, dtype=torch.complex64)
    with pytest.raises(ValueError, match=pattern):
        sparse_spectral_conv(x, weight, modes, output_shape=out)


def test_a_grid_resolving_some_modes_is_fine():
    modes = ModeSet.from_indices([[5, 3], [1, 1]])
    weight = torch.randn(2, 2, 2, dtype=torch.complex64)
    assert sparse_spectral_conv(torch.randn(1, 2, 4, 4), weight, modes).shape == (1, 2, 4, 4)


def test_empty_mode_set_gives_the_bias():
    modes = ModeSet.from_indices(torch.zeros(0, 2, dtype=torch.long))
    weight = torch.zeros(0, 2, 3, dtype=torch.complex64, requires_grad=True)
    x = torch.randn(2, 2, 5, 4, requires_grad=True)
    bias = torch.tensor([1.0, 2.0, 3.0])
    y = sparse_spectral_conv(x, weight, modes, bias, output_shape=(3, 3))
    assert y.shape == (2, 3, 3, 3)
    torch.testing.assert_close(y, bias.reshape(1, 3, 1, 1).expand(2, 3, 3, 3))
    y.sum().backward()
    assert weight.grad is not None and weight.grad.shape == (0, 2, 3)  # zero, not missing


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device; not faked on CPU")
def test_weight_and_x_on_different_devices():
    x = torch.randn(2, 3, 8, 8)
    weight = torch.randn(K, 3, 5, dtype=torch.complex64, device="cuda")
    with pytest.raises(ValueError, match="x is on cpu but weight is on cuda"):
        sparse_spectral_conv(x, weight, MODES)


def test_meta_device_weight_is_reported():
    """The device check itself, without a GPU: a weight on the meta device."""
    weight = torch.randn(K, 3, 5, dtype=torch.complex64, device="meta")
    with pytest.raises(ValueError, match="x is on cpu but weight is on meta"):
        sparse_spectral_conv(**_args(weight=weight))
    with pytest.raises(ValueError, match="x is on cpu but bias is on meta"):
        sparse_spectral_conv(**_args(bias=torch.randn(5, device="meta")))


# ---------------------------------------------------------------------------- the layer


@pytest.fixture
def layer():
    torch.manual_seed(0)
    return SparseSpectralConv(3, 5, (4, 4))


@pytest.mark.parametrize(
    ("x", "kwargs", "error", "match"),
    [
        (torch.randn(3, 8, 8), {}, ValueError, r"2 grid axes for 2-D modes \(rank 4\), got rank 3"),
        (torch.randn(2, 3, 8), {}, ValueError, "got rank 3"),
        (torch.randn(2, 4, 8, 8), {}, ValueError, "channel mismatch: x has 4 channels but weight expects 3"),
        (torch.randn(2, 3, 8, 8, dtype=torch.complex64), {}, TypeError, "x must be a real floating-point tensor"),
        (torch.ones(2, 3, 8, 8, dtype=torch.int32), {}, TypeError, r"got dtype torch\.int32"),
        (torch.randn(2, 3, 8, 8), {"output_shape": (8,)}, ValueError, "has 1 entries; the modes are 2-D"),
        (torch.randn(2, 3, 8, 8), {"output_shape": (0, 8)}, ValueError, "output_shape entries must be >= 1"),
        (torch.randn(2, 3, 8, 8), {"output_shape": (8, -1)}, ValueError, "output_shape entries must be >= 1"),
        (torch.randn(2, 3, 1, 1), {"output_shape": (1, 1)}, None, None),  # resolves k = 0: fine
    ],
)
def test_layer_rejects_bad_input(layer, x, kwargs, error, match):
    if error is None:
        assert layer(x, **kwargs).shape == (2, 5, 1, 1)
        return
    with pytest.raises(error, match=match):
        layer(x, **kwargs)


def test_layer_with_non_finite_weight(layer):
    with torch.no_grad():
        layer.weight[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="weight contains NaN or infinite values"):
        layer(torch.randn(1, 3, 8, 8))


def test_layer_that_resolves_none(layer):
    sparse = SparseSpectralConv(2, 2, ModeSet.from_indices([[5, 3]]))
    with pytest.raises(ValueError, match=r"resolves none of the 1 modes"):
        sparse(torch.randn(1, 2, 4, 4))
    with pytest.raises(ValueError, match=r"grid \(10, 6\) -> \(4, 4\) resolves none"):
        sparse(torch.randn(1, 2, 10, 6), output_shape=(4, 4))
    assert sparse(torch.randn(1, 2, 10, 6)).shape == (1, 2, 10, 6)


def test_layer_with_unknown_backend(layer):
    layer.backend = "cuda-magic"
    with pytest.raises(ValueError, match="unknown backend 'cuda-magic'; known backends: auto"):
        layer(torch.randn(1, 3, 8, 8))


def test_layer_with_half_precision_input_on_forced_backend():
    from spectral_sparse.backends import BackendUnavailableError

    layer = SparseSpectralConv(2, 2, (4, 4), backend="fft")
    with pytest.raises(
        BackendUnavailableError, match=r"backend 'fft' cannot run this call: fft: input dtype torch\.float16"
    ):
        layer(torch.randn(1, 2, 8, 8).half())


def test_transform_with_bad_output_shape(layer):
    with pytest.raises(ValueError, match="output_shape entries must be >= 1"):
        layer.transform(torch.randn(1, 3, 8, 8), output_shape=(0, 8))
