"""Low-rank spectral weights: LowRankSpectralConv, from_dense/to_dense, low_rank, SparseFNO(rank=...), pruning."""

from __future__ import annotations

import copy
import itertools

import pytest
import torch
from _literal import cpu_backends, literal_conv

from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.checkpoint import load_checkpoint, save_checkpoint
from spectral_sparse.lowrank import LowRankSpectralConv, low_rank, resolve_rank
from spectral_sparse.models import SpectralClassifier
from spectral_sparse.models.fno import FNOConfig, SparseFNO
from spectral_sparse.prune import prune_modes, spectral_layers
from spectral_sparse.prune.criteria import magnitude
from spectral_sparse.testing import assert_close, relative_error

CASES = [  # (modes, input grid, output grid)
    (ModeSet.box(7), (16,), None),
    (ModeSet.box(7), (13,), (20,)),
    (ModeSet.radial(4, ndim=2), (12, 13), None),
    (ModeSet.radial(4, ndim=2), (11, 10), (16, 9)),
    (ModeSet.box((4, 4, 3)), (6, 7, 6), None),
    (ModeSet.box((4, 4, 3)), (8, 6, 6), (5, 8, 7)),
]


def _dense(modes: ModeSet, cin: int, cout: int, dtype: torch.dtype = torch.float64, seed: int = 0):
    torch.manual_seed(seed)
    layer = SparseSpectralConv(cin, cout, modes, backend="fft")
    with torch.no_grad():
        layer.bias.normal_()
    return layer.to(dtype)


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("modes,grid,out", CASES)
def test_full_rank_equals_the_dense_layer_outputs_and_gradients(modes, grid, out, dtype):
    dense = _dense(modes, 5, 4, dtype)
    low = LowRankSpectralConv.from_dense(dense, 1.0)
    assert low.rank == (5, 4, None) and low.core.dtype == dtype
    x = torch.randn(3, 5, *grid, dtype=dtype, requires_grad=True)
    probe = torch.randn(3, 4, *(out or grid), dtype=dtype)
    y_dense, y_low = dense(x, output_shape=out), low(x, output_shape=out)
    assert_close(y_low, y_dense, dtype)
    (gx_dense,) = torch.autograd.grad((y_dense * probe).sum(), x)
    (gx_low,) = torch.autograd.grad((y_low * probe).sum(), x)
    assert_close(gx_low, gx_dense, dtype, what="input gradient")
    # the core's gradient is the dense weight's, carried through W = U_in G U_out^T: U_in^T dW U_out
    (gw,) = torch.autograd.grad((dense(x, output_shape=out) * probe).sum(), dense.weight)
    g_core, gb_low = torch.autograd.grad((low(x, output_shape=out) * probe).sum(), [low.core, low.bias])
    (gb_dense,) = torch.autograd.grad((dense(x, output_shape=out) * probe).sum(), dense.bias)
    u_in, u_out = low.in_factor.detach().to(gw.dtype), low.out_factor.detach().to(gw.dtype)
    assert_close(torch.view_as_complex(g_core), u_in.t() @ gw @ u_out, dtype, what="core gradient")
    assert_close(gb_low, gb_dense, dtype, what="bias gradient")


@pytest.mark.parametrize("modes,grid,out", CASES[::2] + CASES[1::2][:2])
def test_factorised_layer_is_the_contract_with_the_reconstructed_weights(modes, grid, out):
    torch.manual_seed(1)
    for rank in [(2, 3), (3, 1, 2), 0.5]:
        layer = LowRankSpectralConv(4, 6, modes, rank).double()
        with torch.no_grad():
            layer.bias.normal_()
        x = torch.randn(2, 4, *grid, dtype=torch.float64)
        reference = literal_conv(x, layer.dense_weight().detach(), modes, layer.bias.detach(), out)
        assert_close(layer(x, output_shape=out), reference, torch.float64, what=f"rank {rank}")
        twin = layer.to_dense()
        assert isinstance(twin, SparseSpectralConv) and twin.weight.dtype == torch.complex128
        assert_close(twin(x, output_shape=out), reference, torch.float64, what=f"to_dense, rank {rank}")


def test_gradients_of_the_factors_match_autograd_through_the_dense_contract():
    modes = ModeSet.radial(3, ndim=2)
    layer = LowRankSpectralConv(4, 5, modes, (3, 2, 4)).double()
    x = torch.randn(2, 4, 9, 8, dtype=torch.float64)
    probe = torch.randn(2, 5, 9, 8, dtype=torch.float64)
    params = [layer.in_factor, layer.out_factor, layer.core, layer.mode_factor, layer.bias]
    fast = torch.autograd.grad((layer(x) * probe).sum(), params)
    slow = torch.autograd.grad((literal_conv(x, layer.dense_weight(), modes, layer.bias) * probe).sum(), params)
    for name, a, b in zip(["in_factor", "out_factor", "core", "mode_factor", "bias"], fast, slow):
        assert_close(a, b, torch.float64, what=name)


def test_gradcheck_float64():
    layer = LowRankSpectralConv(3, 2, ModeSet.box((3, 4)), (2, 2, 3), backend="fft").double()
    x = torch.randn(1, 3, 6, 7, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t, output_shape=(5, 8)), (x,))


def test_backends_agree_for_the_low_rank_layer():
    torch.manual_seed(2)
    layer = LowRankSpectralConv(6, 6, ModeSet.radial(5, ndim=2), 3)
    x = torch.randn(2, 6, 14, 15)
    layer.backend = "fft"
    reference = layer(x, output_shape=(16, 12))
    backends = [*cpu_backends(), "auto"]
    assert "cpp" in backends
    for backend in backends:
        layer.backend = backend
        assert_close(layer(x, output_shape=(16, 12)), reference, what=backend)


def test_truncation_error_decreases_with_rank_and_conversion_error_is_the_hs_error():
    modes = ModeSet.radial(5, ndim=2)
    dense = _dense(modes, 12, 12)
    x = torch.randn(4, 12, 16, 16, dtype=torch.float64)
    y = dense(x)
    errors = [relative_error(LowRankSpectralConv.from_dense(dense, r)(x), y) for r in (2, 4, 8, 11, 12)]
    assert all(a > b for a, b in itertools.pairwise(errors)), errors
    assert errors[-1] < 1e-10 and errors[0] > 0.1
    # a mode factor: error decreases with r_modes, and is exact at r_modes = K (full channel rank)
    mode_errors = [
        relative_error(LowRankSpectralConv.from_dense(dense, (12, 12, m))(x), y) for m in (4, 16, 40, len(modes))
    ]
    assert all(a > b for a, b in itertools.pairwise(mode_errors)), mode_errors
    assert mode_errors[-1] < 1e-10


def test_param_counts_fall_with_rank():
    modes = ModeSet.radial(5, ndim=2)
    counts = [LowRankSpectralConv(32, 32, modes, r).num_spectral_parameters() for r in (32, 16, 8, 4)]
    assert all(a > b for a, b in itertools.pairwise(counts))
    assert counts[1] == 2 * len(modes) * 16 * 16 + 2 * 32 * 16
    with_factor = LowRankSpectralConv(32, 32, modes, (8, 8, 10)).num_spectral_parameters()
    assert with_factor == 2 * (len(modes) * 10 + 10 * 8 * 8) + 2 * 32 * 8 < counts[2]


def test_initialisation_matches_the_dense_layer_scale():
    torch.manual_seed(0)
    modes = ModeSet.box((8, 8))
    dense = SparseSpectralConv(32, 32, modes).weight.abs().pow(2).mean().item()
    for rank in [32, 8, (8, 8, 12)]:
        low = LowRankSpectralConv(32, 32, modes, rank).dense_weight().abs().pow(2).mean().item()
        assert 0.5 < low / dense < 2.0, (rank, low, dense)


def test_state_dict_round_trip_with_compacted_modes_and_dtype_casts():
    modes = ModeSet.radial(4, ndim=2)
    layer = LowRankSpectralConv(4, 4, modes, (2, 3, 5))
    with torch.no_grad():
        layer.mode_parameter[3:9] = 0
    layer.compact()
    assert len(layer.modes) == len(modes) - 6 and layer.mode_parameter.shape[0] == len(layer.modes)
    fresh = LowRankSpectralConv(4, 4, modes, (2, 3, 5))
    fresh.load_state_dict(layer.state_dict())
    x = torch.randn(2, 4, 12, 12)
    assert fresh.modes == layer.modes
    assert torch.equal(fresh(x), layer(x))
    double = copy.deepcopy(layer).double()
    assert double.core.dtype == torch.float64 and double.mode_weight().dtype == torch.complex128
    assert_close(double(x.double()), layer(x).double(), torch.float32)


def test_compact_drops_modes_without_changing_the_output_and_set_modes_grows():
    layer = LowRankSpectralConv(3, 3, ModeSet.box((6, 6)), 2)
    param = layer.mode_parameter
    x = torch.randn(2, 3, 12, 12)
    with torch.no_grad():
        param[::2] = 0
    before = layer(x)
    layer.compact()
    assert layer.mode_parameter is param and len(layer.modes) == param.shape[0]
    assert_close(layer(x), before)
    big = ModeSet.box((8, 8))
    layer.set_modes(big)
    assert layer.modes == big and layer.mode_parameter is param
    assert_close(layer(x), before)


def test_low_rank_replaces_every_layer_of_any_model():
    torch.manual_seed(0)
    clf = SpectralClassifier(1, 3, width=6, modes=3, depth=2).double()
    fno = SparseFNO(1, 1, width=6, modes=(5, 5), n_layers=2).double()
    for model, x in [(clf, torch.randn(2, 1, 12, 12)), (fno, torch.randn(2, 1, 12, 12))]:
        x = x.double()
        full = low_rank(model, 1.0)
        assert full is not model and all(isinstance(m, SparseSpectralConv) for m in model.spectral)
        assert all(isinstance(m, LowRankSpectralConv) for m in full.spectral)
        assert_close(full(x), model(x), torch.float64)
        same = low_rank(model, 2, inplace=True)
        assert same is model and isinstance(model.spectral[0], LowRankSpectralConv)
    assert fno.options.rank == 2 and clf.rank == 2 and clf.config["rank"] == 2
    with pytest.raises(ValueError, match="no SparseSpectralConv layers"):
        low_rank(torch.nn.Linear(2, 2), 2)


def test_sparse_fno_with_rank_trains_and_round_trips_through_checkpoints(tmp_path):
    torch.manual_seed(0)
    model = SparseFNO(1, 1, width=8, modes=(6, 6), n_layers=2, config=FNOConfig(rank=(4, 4, 6)))
    assert all(isinstance(m, LowRankSpectralConv) and m.rank == (4, 4, 6) for m in model.spectral)
    x = torch.randn(16, 1, 12, 12)
    target = x + 0.5 * torch.roll(x, 1, dims=-1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(25):
        loss = (model(x) - target).square().mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert losses[-1] < 0.5 * losses[0], losses
    path = save_checkpoint(tmp_path / "lr.pt", model)
    loaded, _ = load_checkpoint(path)
    assert isinstance(loaded.spectral[0], LowRankSpectralConv) and loaded.options.rank == (4, 4, 6)
    model.eval(), loaded.eval()
    assert torch.equal(loaded(x), model(x))
    rebuilt = SparseFNO.from_config(model.config)
    assert rebuilt.spectral[1].rank == (4, 4, 6)


def test_low_rank_classifier_round_trips_through_checkpoints(tmp_path):
    torch.manual_seed(0)
    assert "rank" not in SpectralClassifier(1, 3, width=6, modes=3, depth=2).config
    model = SpectralClassifier(1, 3, width=6, modes=3, depth=2, rank=(3, 3, 4))
    assert all(isinstance(m, LowRankSpectralConv) for m in model.spectral)
    prune_modes(model, 0.4)
    loaded, _ = load_checkpoint(save_checkpoint(tmp_path / "clf.pt", model))
    x = torch.randn(2, 1, 14, 14)
    assert loaded.rank == (3, 3, 4) and torch.equal(loaded(x), model(x))
    converted = low_rank(SpectralClassifier(1, 3, width=6, modes=3, depth=2), 0.5)
    again, _ = load_checkpoint(save_checkpoint(tmp_path / "conv.pt", converted))
    assert torch.equal(again(x), converted(x))


def test_pruning_composes_with_low_rank_layers(tmp_path):
    torch.manual_seed(0)
    model = SparseFNO(1, 1, width=8, modes=(8, 8), n_layers=2, config=FNOConfig(rank=4))
    names = [name for name, _ in spectral_layers(model)]
    assert names == ["spectral.0", "spectral.1"]
    # magnitude scores are m_k ||W_k||^2 of the layer's actual per-mode matrices
    layer = model.spectral[0]
    expected = (layer.dense_weight().detach().abs() ** 2).flatten(1).sum(1).double()
    idx = layer.modes.indices
    zero = (idx == 0).all(1)
    expected[zero] = (layer.dense_weight().detach()[zero].real ** 2).sum().double()
    expected[~zero] *= 2
    assert_close(magnitude(model, [layer])[0], expected, torch.float64)
    x = torch.randn(4, 1, 16, 16)
    before = len(layer.modes)
    for criterion, extra in [
        ("magnitude", {}),
        ("energy", {"data": [x]}),
        ("taylor", {"data": [(x, x)], "loss_fn": lambda y, t: (y - t).square().mean()}),
    ]:
        info = prune_modes(model, 0.3, criterion, scope="global", **extra)
        assert info["modes_after"] < info["modes_before"], criterion
    assert len(layer.modes) < before and layer.mode_parameter.shape[0] == len(layer.modes)
    model(x).sum().backward()  # still trains
    path = save_checkpoint(tmp_path / "pruned.pt", model)
    loaded, _ = load_checkpoint(path)
    model.eval(), loaded.eval()
    assert torch.equal(loaded(x), model(x))
    # pruning with compact=False keeps the output of the zeroed modes' complement
    factor = LowRankSpectralConv(4, 4, ModeSet.radial(4, ndim=2), (2, 2, 3))
    pruned = copy.deepcopy(factor)
    prune_modes(pruned, 0.5, compact=False)
    kept = (pruned.mode_parameter != 0).flatten(1).any(1)
    reference = copy.deepcopy(factor)
    with torch.no_grad():
        reference.mode_parameter[~kept] = 0
    x4 = torch.randn(2, 4, 10, 10)
    assert torch.equal(pruned(x4), reference(x4)) and int(kept.sum()) < len(kept)


@pytest.mark.parametrize(
    "rank,match",
    [
        (0, "rank must be >= 1, got 0"),
        (-2, "rank must be >= 1"),
        (9, "rank = 9 exceeds in_channels = 8"),
        (0.0, r"fraction must be in \(0, 1\]"),
        (1.5, r"fraction must be in \(0, 1\]"),
        ("4", "rank must be an int"),
        (True, "rank must be an int"),
        ((4,), "rank as a tuple"),
        ((4, 9), "r_out = 9 exceeds out_channels = 6"),
        ((4, 4, 0), "r_modes must be >= 1"),
        ((4, 4, 500), "r_modes = 500 exceeds the number of modes"),
        ((4, None), "r_out must be an int"),
    ],
)
def test_bad_ranks_raise_clear_errors(rank, match):
    with pytest.raises(ValueError, match=match):
        LowRankSpectralConv(8, 6, ModeSet.radial(3, ndim=2), rank)


def test_bad_arguments():
    with pytest.raises(ValueError, match="diagonal layer"):
        LowRankSpectralConv.from_dense(SparseSpectralConv(4, 4, (4, 4), mixing="diagonal"), 2)
    with pytest.raises(TypeError, match="must be a SparseSpectralConv"):
        LowRankSpectralConv.from_dense(torch.nn.Linear(2, 2), 2)
    with pytest.raises(ValueError, match="in_channels must be a positive int"):
        LowRankSpectralConv(0, 4, (4, 4), 2)
    layer = LowRankSpectralConv(4, 4, (4, 4), 2)
    with pytest.raises(ValueError, match=r"x must have shape \(B, 4, \*grid\)"):
        layer(torch.randn(2, 3, 8, 8))
    with pytest.raises(TypeError, match="real floating-point"):
        layer(torch.randn(2, 4, 8, 8, dtype=torch.cfloat))
    with pytest.raises(ValueError, match="needs mixing='dense'"):
        FNOConfig(rank=4, mixing="diagonal")
    with pytest.raises(ValueError, match="rank must be None"):
        FNOConfig(rank="half")
    assert resolve_rank([4, 2], 8, 8, 10) == (4, 2, None)


def test_neuralop_factorization_is_still_refused():
    with pytest.raises(ValueError, match="factorization='tucker' is not supported"):
        SparseSpectralConv(4, 4, (4, 4), factorization="tucker")


@pytest.mark.parametrize("rank", [(8, 8), (4, 6), (3, 5, 7)])
def test_layer_flops_count_the_projections_and_the_ranks(rank) -> None:
    from spectral_sparse.prune import sparsity_report
    from spectral_sparse.prune.report import layer_flops

    modes = ModeSet.radial(4, ndim=2)
    layer = LowRankSpectralConv(12, 10, modes, rank=rank)
    core = SparseSpectralConv(rank[0], rank[1], modes)  # the spectral part runs on the ranks
    grid = (20, 18)
    expected = layer_flops(core, grid) + 2 * (12 * rank[0] + rank[1] * 10) * 20 * 18
    assert layer_flops(layer, grid) == expected
    assert sparsity_report(torch.nn.Sequential(layer), grid).totals["flops"] == expected
