"""SparseSpectralConv as a module, and as neuraloperator's drop-in conv_module."""

from __future__ import annotations

import math

import pytest
import torch
from _literal import cpu_backends
from torch import nn

from spectral_sparse import ModeSet, SparseSpectralConv, resample
from spectral_sparse.functional import sparse_spectral_conv
from spectral_sparse.testing import assert_close


def as_set(modes: ModeSet) -> set[tuple[int, ...]]:
    return {tuple(k) for k in modes.indices.tolist()}


# ---------------------------------------------------------------------------- shapes and options


@pytest.mark.parametrize(
    ("modes", "grid", "out"),
    [
        ((8,), (16,), (20,)),
        (ModeSet.radial(3, ndim=1), (7,), (3,)),
        ((6, 6), (12, 10), (9, 16)),
        (ModeSet.radial(4, ndim=2), (11, 11), (8, 8)),
        ((4, 4, 4), (6, 5, 4), (8, 8, 3)),
    ],
)
@pytest.mark.parametrize("mixing", ["dense", "diagonal"])
def test_shapes(modes, grid, out, mixing):
    cout = 3 if mixing == "diagonal" else 5
    layer = SparseSpectralConv(3, cout, modes, mixing=mixing)
    expected_modes = modes if isinstance(modes, ModeSet) else ModeSet.box(modes)
    assert layer.modes == expected_modes
    k = len(expected_modes)
    assert layer.weight.shape == ((k, 3) if mixing == "diagonal" else (k, 3, cout))
    assert layer.weight.dtype == torch.complex64 and isinstance(layer.weight, nn.Parameter)
    assert layer.bias.shape == (cout,) and layer.bias.dtype == torch.float32
    assert torch.equal(layer.mode_indices, expected_modes.indices)
    x = torch.randn(2, 3, *grid)
    y = layer(x)
    assert y.shape == (2, cout, *grid) and y.dtype == torch.float32
    assert layer(x, output_shape=out).shape == (2, cout, *out)
    assert layer(x, output_shape=list(out)).shape == (2, cout, *out)
    y64 = layer(x.double())
    assert y64.dtype == torch.float64
    assert_close(y64.float(), y, torch.float32)


def test_int_modes_mean_a_box_and_bias_false():
    layer = SparseSpectralConv(2, 2, 8, bias=False)
    assert layer.modes == ModeSet.box(8) and layer.bias is None
    y = layer(torch.randn(1, 2, 10))
    assert y.shape == (1, 2, 10)
    assert "bias=False" in repr(layer)


def test_every_cpu_backend_gives_the_same_layer_output():
    torch.manual_seed(0)
    layer = SparseSpectralConv(3, 4, ModeSet.radial(5, ndim=2))
    x = torch.randn(2, 3, 13, 12)
    layer.backend = "fft"
    reference = layer(x, output_shape=(9, 16))
    for backend in cpu_backends():
        layer.backend = backend
        assert_close(layer(x, output_shape=(9, 16)), reference)


def test_gradients_reach_weight_bias_and_input():
    layer = SparseSpectralConv(2, 3, (6, 6))
    x = torch.randn(2, 2, 9, 8, requires_grad=True)
    layer(x).square().mean().backward()
    for t in (layer.weight.grad, layer.bias.grad, x.grad):
        assert t is not None and torch.isfinite(torch.view_as_real(t) if t.is_complex() else t).all()
        assert t.abs().max() > 0


def test_diagonal_mixing_needs_equal_channels():
    with pytest.raises(ValueError, match="diagonal mixing needs in_channels == out_channels, got 2 and 3"):
        SparseSpectralConv(2, 3, (4, 4), mixing="diagonal")
    with pytest.raises(ValueError, match="in_channels == out_channels, got 2 and 3"):
        SparseSpectralConv(2, 3, (4, 4), separable=True)


def test_separable_means_diagonal():
    layer = SparseSpectralConv(3, 3, (4, 4), separable=True)
    assert layer.mixing == "diagonal" and layer.weight.shape == (len(ModeSet.box((4, 4))), 3)


def test_repr_shows_modes_and_kept_fraction():
    layer = SparseSpectralConv(2, 2, (16, 16))
    text = repr(layer)
    assert "modes=ModeSet(ndim=2, K=137, max|k|=(8, 8))" in text
    assert "kept=137/137 (100.0%)" in text
    assert "mixing='dense'" in text and "backend='auto'" in text
    with torch.no_grad():
        layer.weight[14:] = 0
    layer.compact()
    text = repr(layer)
    assert "kept=14/137 (10.2%)" in text
    assert "K=14" in text


@pytest.mark.parametrize(("cin", "cout"), [(1, 1), (4, 8), (16, 4), (32, 32)])
def test_init_scale(cin, cout):
    torch.manual_seed(0)
    layer = SparseSpectralConv(cin, cout, (16, 16))
    rms = layer.weight.detach().abs().square().mean().sqrt().item()
    assert abs(rms / math.sqrt(1 / cin) - 1) < 0.15
    # real and imaginary parts share the variance
    w = torch.view_as_real(layer.weight.detach())
    assert abs(w[..., 0].std().item() - w[..., 1].std().item()) < 0.15 * math.sqrt(1 / cin)
    assert layer.bias.abs().max() == 0


def test_init_scale_diagonal_and_explicit():
    torch.manual_seed(0)
    diag = SparseSpectralConv(8, 8, (16, 16), mixing="diagonal")
    assert abs(diag.weight.detach().abs().square().mean().sqrt().item() - 1.0) < 0.1
    explicit = SparseSpectralConv(8, 8, (16, 16), init_std=0.01)
    assert abs(explicit.weight.detach().abs().square().mean().sqrt().item() - 0.01) < 0.001


def test_unit_scale_output_for_unit_input():
    """sqrt(1/in) init: a white input of unit variance gives an output of order one."""
    torch.manual_seed(0)
    layer = SparseSpectralConv(16, 16, ModeSet.full((16, 16)))
    y = layer(torch.randn(4, 16, 16, 16))
    assert 0.5 < y.std().item() < 2.0


# ---------------------------------------------------------------------------- n_modes


@pytest.mark.parametrize("n_modes", [(8,), (16,), (8, 8), (16, 12), (4, 4, 6)])
def test_n_modes_property_on_even_boxes(n_modes):
    layer = SparseSpectralConv(2, 2, n_modes)
    assert layer.n_modes == n_modes
    assert ModeSet.box(layer.n_modes) == layer.modes


@pytest.mark.parametrize("n_modes", [(7, 7), (5, 4), (1, 4), (3, 3, 4), (9,), (7, 8)])
def test_n_modes_getter_names_a_box_that_holds_the_modes(n_modes):
    """BUG: for odd n_modes on a non-last axis (and n_modes 1) the getter names a box that loses modes.

    ``box((7, 7))`` holds ``k0 = -3..3`` for ``k1 > 0``; ``n_modes`` returns ``2 * max|k0| = 6`` and
    ``box((6, 6))`` only holds ``-3..2`` there, dropping ``(3, 1), (3, 2), (3, 3)``. For ``box((1, 4))``
    the getter returns 0 on the first axis and ``box((0, 4))`` is empty. Setting
    ``layer.n_modes = layer.n_modes`` (as neuraloperator's FNO does) then silently drops weights.
    """
    layer = SparseSpectralConv(2, 2, n_modes)
    assert as_set(ModeSet.box(layer.n_modes)) == as_set(layer.modes)
    before = len(layer.modes)
    layer.n_modes = layer.n_modes
    assert len(layer.modes) == before


def test_n_modes_setter_keeps_shared_weights_and_zeroes_new_ones():
    torch.manual_seed(0)
    layer = SparseSpectralConv(2, 3, (8, 8))
    old = {tuple(k): w.clone() for k, w in zip(layer.modes.indices.tolist(), layer.weight.detach())}
    x = torch.randn(2, 2, 20, 20)
    y_before = layer(x)

    layer.n_modes = (12, 12)
    assert layer.modes == ModeSet.box((12, 12)) and layer.n_modes == (12, 12)
    assert layer.weight.shape == (len(ModeSet.box((12, 12))), 2, 3)
    assert torch.equal(layer.mode_indices, layer.modes.indices)
    for k, w in zip(layer.modes.indices.tolist(), layer.weight.detach()):
        if tuple(k) in old:
            assert torch.equal(w, old[tuple(k)])
        else:
            assert w.abs().max() == 0
    assert_close(layer(x), y_before)  # the new modes start at zero: same function

    # shrinking masks within the storage: nothing is lost, the modes come back with their weights
    stored = layer.weight.detach().clone()
    layer.n_modes = (4, 4)
    assert layer.active_modes == ModeSet.box((4, 4)) and layer.n_modes == (4, 4)
    assert layer.modes == ModeSet.box((12, 12)) and torch.equal(layer.weight.detach(), stored)
    for k, w in zip(layer.modes[layer.mode_mask].indices.tolist(), layer.weight.detach()[layer.mode_mask]):
        assert torch.equal(w, old[tuple(k)])
    masked = sparse_spectral_conv(x, layer.weight[layer.mode_mask], layer.active_modes, layer.bias)
    assert_close(layer(x), masked)
    layer.n_modes = (6, 6)
    assert len(layer.active_modes) == len(ModeSet.box((6, 6)))
    layer.n_modes = (8, 8)
    assert_close(layer(x), y_before)


def test_set_modes_rejects_other_dimension():
    layer = SparseSpectralConv(2, 2, (4, 4))
    with pytest.raises(ValueError, match="new modes are 1-D but the layer is 2-D"):
        layer.set_modes(ModeSet.box(4))


def test_set_modes_scattered():
    torch.manual_seed(0)
    layer = SparseSpectralConv(2, 2, (8, 8))
    target = ModeSet.from_indices([[0, 0], [-3, 2], [9, 9], [1, 0]])
    old = dict(zip(map(tuple, layer.modes.indices.tolist()), layer.weight.detach().clone()))
    assert layer.set_modes(target) is layer
    assert layer.modes == target
    assert torch.equal(layer.weight[1].detach(), old[(-3, 2)])
    assert layer.weight[2].abs().max() == 0


# ---------------------------------------------------------------------------- transform / resolution scaling


def test_transform_is_identity_without_scaling_and_resample_otherwise():
    layer = SparseSpectralConv(2, 2, (4, 4))
    x = torch.randn(1, 2, 8, 6)
    assert layer.transform(x) is x
    assert layer.transform(x, output_shape=(8, 6)) is x
    torch.testing.assert_close(layer.transform(x, output_shape=(16, 9)), resample(x, (16, 9)))
    scaled = SparseSpectralConv(2, 2, (4, 4), resolution_scaling_factor=[2.0, 0.5])
    assert scaled.transform(x).shape == (1, 2, 16, 3)
    assert scaled(x).shape == (1, 2, 16, 3)
    assert scaled(x, output_shape=(5, 5)).shape == (1, 2, 5, 5)
    assert SparseSpectralConv(2, 2, (4, 4), resolution_scaling_factor=1.5)(x).shape == (1, 2, 12, 9)


def test_neuralop_ignored_keywords_are_accepted():
    layer = SparseSpectralConv(
        2,
        2,
        (4, 4),
        max_n_modes=(4, 4),
        rank=0.5,
        fixed_rank_modes=False,
        implementation="factorized",
        decomposition_kwargs={},
        device=None,
        factorization=None,
        complex_data=False,
        fno_block_precision="full",
        fft_norm="forward",
    )
    assert layer(torch.randn(1, 2, 8, 8)).shape == (1, 2, 8, 8)
    assert SparseSpectralConv(2, 2, (4, 4), factorization="dense").mixing == "dense"


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"factorization": "tucker"}, ValueError, r"factorization='tucker' is not supported"),
        ({"factorization": "CP"}, ValueError, r"factorization='CP' is not supported"),
        ({"complex_data": True}, ValueError, "complex_data=True is not supported"),
        ({"fno_block_precision": "half"}, ValueError, r"fno_block_precision='half' is not supported"),
        ({"fft_norm": "ortho"}, ValueError, r"fft_norm='ortho' is not supported"),
        ({"resolution_scaling_factor": [[2, 2], [1, 1]]}, ValueError, "one factor per axis for a single layer"),
        ({"mixing": "full"}, ValueError, r"mixing must be 'dense' or 'diagonal', got 'full'"),
        ({"n_mode": (4, 4)}, TypeError, "unexpected keyword arguments: n_mode"),
        ({"kernel_size": 3, "foo": 1}, TypeError, "unexpected keyword arguments: foo, kernel_size"),
    ],
)
def test_constructor_rejects_unsupported_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        SparseSpectralConv(2, 2, (4, 4), **kwargs)


@pytest.mark.parametrize("bad", [0, -1, 2.0, True, "2"])
def test_constructor_rejects_bad_channels(bad):
    with pytest.raises(ValueError, match=r"in_channels must be a positive int"):
        SparseSpectralConv(bad, 2, (4, 4))
    with pytest.raises(ValueError, match=r"out_channels must be a positive int"):
        SparseSpectralConv(2, bad, (4, 4))


# ---------------------------------------------------------------------------- neuraloperator drop-in


def _fno(**kwargs):
    from neuralop.models import FNO

    return FNO(
        n_modes=(8, 8),
        in_channels=1,
        out_channels=1,
        hidden_channels=8,
        n_layers=2,
        conv_module=SparseSpectralConv,
        **kwargs,
    )


def _smooth_fields(gen, batch, shape):
    """Random fields with energy at |k| <= 3 (so every resolution sees the same function)."""
    from _literal import bandlimited_coefficients, evaluate_field

    freqs, coeffs = bandlimited_coefficients(gen, batch, 1, (3, 3))
    return evaluate_field(freqs, coeffs, shape).float()


def test_fno_drop_in_trains_and_runs_at_other_resolutions():
    torch.manual_seed(0)
    model = _fno()
    convs = list(model.fno_blocks.convs)
    assert len(convs) == 2 and all(isinstance(c, SparseSpectralConv) for c in convs)
    assert all(c.modes == ModeSet.box((8, 8)) for c in convs)

    gen = torch.Generator().manual_seed(0)
    x = _smooth_fields(gen, 16, (16, 16))
    target = torch.roll(x, shifts=2, dims=-1) - 0.5 * x  # a fixed translation-invariant linear map
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = nn.functional.mse_loss(model(x), target)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.6 * losses[0], losses

    with torch.no_grad():
        for shape in [(32, 32), (24, 20), (15, 17)]:
            y = model(_smooth_fields(gen, 2, shape))
            assert y.shape == (2, 1, *shape) and torch.isfinite(y).all()


def test_fno_output_shape_and_resolution_scaling_go_through_transform(monkeypatch):
    torch.manual_seed(0)
    x = torch.randn(2, 1, 16, 16)
    model = _fno()
    seen = []
    original = SparseSpectralConv.transform

    def spy(self, inp, output_shape=None):
        out = original(self, inp, output_shape=output_shape)
        seen.append((tuple(inp.shape[2:]), output_shape, tuple(out.shape[2:])))
        return out

    monkeypatch.setattr(SparseSpectralConv, "transform", spy)
    with torch.no_grad():
        model(x, output_shape=(20, 24))
    # the skip paths of the last block are resampled by our transform to the requested grid
    assert ((16, 16), (20, 24), (20, 24)) in seen
    monkeypatch.undo()
    with torch.no_grad():
        assert model(x, output_shape=(20, 24)).shape == (2, 1, 20, 24)
        assert model(x, output_shape=(11, 9)).shape == (2, 1, 11, 9)
    scaled = _fno(resolution_scaling_factor=2)
    assert all(c.resolution_scaling_factor == [2.0, 2.0] for c in scaled.fno_blocks.convs)
    with torch.no_grad():
        assert scaled(x).shape == (2, 1, 64, 64)  # two layers, x2 each
    per_axis = _fno(resolution_scaling_factor=[[2, 1], [1, 0.5]])
    with torch.no_grad():
        assert per_axis(x).shape == (2, 1, 32, 8)


def test_fno_n_modes_setter_reaches_our_layers():
    model = _fno()
    model.n_modes = (6, 6)
    assert all(c.active_modes == ModeSet.box((6, 6)) for c in model.fno_blocks.convs)
    assert model(torch.randn(1, 1, 16, 16)).shape == (1, 1, 16, 16)


def test_fno_spectral_layer_commutes_with_resampling():
    """Inside the FNO, our layer applied to the trigonometric interpolant equals its output resampled."""
    torch.manual_seed(0)
    model = _fno()
    conv = model.fno_blocks.convs[0]
    x16 = _smooth_fields(torch.Generator().manual_seed(1), 1, (16, 16))
    with torch.no_grad():
        h16 = model.lifting(model.positional_embedding(x16))  # not band-limited: a pointwise MLP
        for shape in [(24, 24), (33, 20)]:
            assert_close(conv(resample(h16, shape)), resample(conv(h16), shape), torch.float32)
            assert_close(conv(h16, output_shape=shape), conv(resample(h16, shape)), torch.float32)
