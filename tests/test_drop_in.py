"""Drop-in fidelity with neuraloperator: changing n_modes, incremental training, conversion of whole models."""

from __future__ import annotations

import pytest
import torch

from spectral_sparse import ModeSet, SparseSpectralConv, resample
from spectral_sparse.models import from_neuralop_model
from spectral_sparse.testing import assert_close, relative_error

neuralop = pytest.importorskip("neuralop")
from neuralop.layers.spectral_convolution import SpectralConv  # noqa: E402
from neuralop.models import FNO, TFNO, UNO  # noqa: E402


def _fno(conv_module=SpectralConv, **kwargs):
    kwargs = {"n_modes": (8, 8), "hidden_channels": 8, "n_layers": 2, **kwargs}
    return FNO(in_channels=1, out_channels=1, conv_module=conv_module, **kwargs)


def _dense(weight):
    """A weight as a plain tensor (neuraloperator's is a tltorch tensor)."""
    return (weight.to_tensor() if hasattr(weight, "to_tensor") else weight).detach()


def _adam_steps(model, optimizer, x, steps=5):
    for _ in range(steps):
        optimizer.zero_grad()
        model(x).square().mean().backward()
        optimizer.step()


# ---------------------------------------------------------------------------- item 1: n_modes and optimizers
@pytest.mark.parametrize("new", [(8, 8), (4, 4), (12, 12)], ids=["same", "smaller", "larger-within-max"])
def test_optimizer_built_before_n_modes_change_keeps_training_the_weight(new):
    torch.manual_seed(0)
    layer = SparseSpectralConv(2, 2, (8, 8), max_n_modes=(12, 12))
    optimizer = torch.optim.Adam(layer.parameters(), lr=1e-2)
    x = torch.randn(2, 2, 32, 32)
    _adam_steps(layer, optimizer, x, steps=1)  # Adam holds moments for the weight
    weight = layer.weight
    layer.n_modes = new
    assert layer.weight is weight and layer.weight.shape == (len(ModeSet.box((12, 12))), 2, 2)
    assert layer.active_modes == ModeSet.box(new)
    before = layer.weight.detach().clone()
    _adam_steps(layer, optimizer, x)
    moved = (layer.weight.detach() - before)[layer.mode_mask].abs().max()
    assert moved > 1e-3  # five steps of lr 1e-2 move every active weight by ~5e-2
    frozen = (layer.weight.detach() - before)[~layer.mode_mask]
    assert frozen.numel() == 0 or frozen.abs().max() < moved  # inactive rows get no gradient


def test_optimizer_in_an_fno_keeps_training_after_the_models_n_modes_is_set():
    """The issue's measurement: neuraloperator's weight moves 0.108 after 5 Adam steps; ours must move too."""
    torch.manual_seed(0)
    x = torch.randn(2, 1, 16, 16)
    moved = {}
    for name, conv in [("neuralop", SpectralConv), ("drop-in", SparseSpectralConv)]:
        model = _fno(conv, n_modes=(8, 8), max_n_modes=(8, 8))
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
        model.n_modes = (8, 8)
        before = _dense(model.fno_blocks.convs[0].weight).clone()
        _adam_steps(model, optimizer, x)
        moved[name] = float((_dense(model.fno_blocks.convs[0].weight) - before).abs().max())
    assert moved["drop-in"] > 0.3 * moved["neuralop"] > 0


def test_n_modes_inside_the_storage_is_a_mask_that_keeps_inactive_weights():
    torch.manual_seed(0)
    layer = SparseSpectralConv(2, 3, (6, 6), max_n_modes=(10, 10))
    x = torch.randn(2, 2, 24, 24)
    y6 = layer(x)
    stored = layer.weight.detach().clone()
    layer.n_modes = (3, 3)
    assert torch.equal(layer.weight.detach(), stored)
    assert_close(layer(x), SparseSpectralConv.forward(_masked_copy(layer), x))
    layer.n_modes = (6, 6)
    assert_close(layer(x), y6)


def _masked_copy(layer):
    twin = SparseSpectralConv(layer.in_channels, layer.out_channels, layer.active_modes)
    with torch.no_grad():
        twin.weight.copy_(layer.weight[layer.mode_mask])
        twin.bias.copy_(layer.bias)
    return twin


def test_growing_beyond_the_storage_keeps_the_parameter_object():
    layer = SparseSpectralConv(2, 2, (4, 4))
    weight = layer.weight
    layer.n_modes = (8, 8)
    assert layer.weight is weight and len(layer.modes) == len(ModeSet.box((8, 8)))
    assert layer.n_modes == (8, 8) and layer.max_n_modes == (8, 8)


# ---------------------------------------------------------------------------- item 2: incremental training
def _loader(n, res, batch, seed):
    from neuralop.data.datasets.tensor_dataset import TensorDataset
    from torch.utils.data import DataLoader

    gen = torch.Generator().manual_seed(seed)
    grid = torch.arange(res) * (2 * torch.pi / res)
    c = torch.randn(n, 3, generator=gen)
    x = (c[:, 0, None, None] * torch.sin(grid)[:, None] + c[:, 1, None, None] * torch.cos(2 * grid)[None, :])[:, None]
    y = torch.tanh(x) + c[:, 2, None, None, None] * x.roll(1, dims=-1)
    return DataLoader(TensorDataset(x.float(), y.float()), batch_size=batch)


@pytest.mark.parametrize("algorithm", ["grad", "loss_gap"])
def test_incremental_fno_training_runs_with_the_drop_in(algorithm):
    from neuralop import LpLoss
    from neuralop.training import IncrementalFNOTrainer

    torch.manual_seed(0)
    model = _fno(SparseSpectralConv, n_modes=(2, 2), max_n_modes=(8, 8))
    conv = model.fno_blocks.convs[0]
    assert conv.max_n_modes == [8, 8] and conv.n_modes == [2, 2]
    weight = conv.weight
    options = (
        {"incremental_grad": True, "incremental_grad_eps": 0.9999, "incremental_grad_max_iter": 2}
        if algorithm == "grad"
        else {"incremental_loss_gap": True, "incremental_loss_eps": 1e9}  # every epoch counts as a plateau
    )
    trainer = IncrementalFNOTrainer(model=model, n_epochs=6, incremental_buffer=1, **options)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    before = weight.detach().clone()
    errors = trainer.train(
        train_loader=_loader(8, 16, 4, 0),
        test_loaders={16: _loader(4, 16, 4, 1), 32: _loader(4, 32, 4, 2)},
        optimizer=optimizer,
        scheduler=torch.optim.lr_scheduler.StepLR(optimizer, step_size=10),
        regularizer=None,
        training_loss=LpLoss(d=2, p=2),
        eval_losses={"l2": LpLoss(d=2, p=2)},
    )
    assert conv.n_modes[0] > 2 and conv.max_n_modes == [8, 8]
    assert conv.weight is weight and conv.active_modes == ModeSet.box((conv.n_modes[0],) * 2)
    assert (conv.weight.detach() - before).abs().max() > 1e-3
    losses = [float(v) for k, v in errors.items() if k.endswith("_l2") and v is not None]
    assert losses and all(torch.isfinite(torch.tensor(losses)))


# ---------------------------------------------------------------------------- items 3, 4: from_neuralop, n_modes form
def test_from_neuralop_keeps_resolution_scaling_factor():
    torch.manual_seed(0)
    conv = SpectralConv(3, 3, n_modes=(8, 8), resolution_scaling_factor=2)
    twin = SparseSpectralConv.from_neuralop(conv)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        assert conv(x).shape == twin(x).shape == (2, 3, 32, 32)
        assert_close(twin(x), resample(twin(x, output_shape=(16, 16)), (32, 32)))
        # along the last axis neuraloperator's resampling is a spectral one: the two agree there
        last = SpectralConv(3, 3, n_modes=(8, 8), resolution_scaling_factor=[1, 2])
        assert relative_error(SparseSpectralConv.from_neuralop(last)(x), last(x)) < 1e-5


def test_n_modes_reads_back_in_neuraloperators_form_where_a_neuralop_block_builds_the_layer():
    ours, theirs = _fno(SparseSpectralConv), _fno(SpectralConv)
    for a, b in zip(ours.fno_blocks.convs, theirs.fno_blocks.convs):
        assert a.n_modes == b.n_modes == [8, 5] and a.max_n_modes == b.max_n_modes == [8, 5]
    ours.n_modes = theirs.n_modes = (6, 6)
    assert ours.fno_blocks.convs[1].n_modes == theirs.fno_blocks.convs[1].n_modes == [6, 4]
    converted = SparseSpectralConv.from_neuralop(SpectralConv(2, 2, n_modes=(8, 7), max_n_modes=(12, 12)))
    assert converted.n_modes == [8, 4] and converted.max_n_modes == [12, 12]
    assert SparseSpectralConv(2, 2, (8, 8)).n_modes == (8, 8)  # built directly: the box form


def test_from_neuralop_carries_the_weights_up_to_max_n_modes():
    torch.manual_seed(0)
    conv = SpectralConv(2, 2, n_modes=(6, 6), max_n_modes=(10, 10))
    twin = SparseSpectralConv.from_neuralop(conv)
    x = torch.randn(2, 2, 32, 32)
    with torch.no_grad():
        assert relative_error(twin(x), conv(x)) < 1e-5
        assert len(twin.modes) > len(twin.active_modes) == len(ModeSet.box((6, 6)))
        conv.n_modes = twin.n_modes = (10, 10)  # the full layout: equal but for the folded k_last = 0 plane
        full = SparseSpectralConv.from_neuralop(conv)
        plane = twin.modes.indices[:, -1] == 0
        assert_close(twin.weight[~plane], full.weight[~plane])


# ---------------------------------------------------------------------------- item 5: factorized weights
@pytest.mark.parametrize("factorization", ["tucker", "cp", "tt"])
def test_factorization_is_refused_with_a_clear_message(factorization):
    with pytest.raises(ValueError, match=rf"factorization='{factorization}' is not supported \(low-rank"):
        SparseSpectralConv(4, 4, (6, 6), factorization=factorization)
    with pytest.raises(ValueError, match="SparseSpectralConv stores dense per-mode weights"):
        TFNO(n_modes=(6, 6), in_channels=1, out_channels=1, hidden_channels=4, conv_module=SparseSpectralConv)
    SparseSpectralConv(4, 4, (6, 6), factorization="dense")  # dense is what the layer stores


# ---------------------------------------------------------------------------- item 6: whole models
def _uno():
    return UNO(
        1,
        1,
        8,
        uno_out_channels=[8, 16, 8],
        uno_n_modes=[[8, 8], [6, 6], [8, 8]],
        uno_scalings=[[1, 1], [1, 1], [1, 1]],
        horizontal_skips_map={2: 0},
        n_layers=3,
        channel_mlp_skip="linear",
    )


_MODELS = {
    "fno-2d": (lambda: _fno(), (2, 1, 32, 32)),
    "fno-max-n-modes": (lambda: _fno(n_modes=(6, 6), max_n_modes=(10, 10)), (2, 1, 24, 32)),
    "fno-1d": (lambda: _fno(n_modes=(8,)), (2, 1, 32)),
    "fno-3d": (lambda: _fno(n_modes=(4, 4, 4), hidden_channels=4), (1, 1, 12, 12, 10)),
    "tfno-none": (lambda: TFNO(n_modes=(8, 8), in_channels=1, out_channels=1, hidden_channels=8, factorization=None),
                  (2, 1, 32, 32)),
    "tfno-dense": (lambda: TFNO(n_modes=(8, 8), in_channels=1, out_channels=1, hidden_channels=8,
                                factorization="dense"), (2, 1, 32, 32)),
    "tfno-tucker": (lambda: TFNO(n_modes=(8, 8), in_channels=1, out_channels=1, hidden_channels=8), (2, 1, 32, 32)),
    "uno": (_uno, (2, 1, 32, 32)),
}  # fmt: skip


@pytest.mark.parametrize("name", list(_MODELS))
def test_from_neuralop_model_equals_neuraloperator(name):
    build, shape = _MODELS[name]
    torch.manual_seed(0)
    model = build()
    converted = from_neuralop_model(model)
    ours = [m for m in converted.modules() if isinstance(m, SparseSpectralConv)]
    assert ours and not any(type(m) is SpectralConv for m in converted.modules())
    assert type(converted) is type(model)
    assert any(type(m) is SpectralConv for m in model.modules())  # the original is left as it was
    x = torch.randn(*shape)
    with torch.no_grad():
        assert relative_error(converted(x), model(x)) < 2e-6


def test_a_trained_fno_checkpoint_comes_into_the_drop_in():
    torch.manual_seed(0)
    trained = _fno()
    optimizer = torch.optim.Adam(trained.parameters(), lr=1e-2)
    x = torch.randn(4, 1, 16, 16)
    _adam_steps(trained, optimizer, x, steps=3)
    fresh = _fno()
    fresh.load_state_dict(trained.state_dict())
    converted = from_neuralop_model(fresh, inplace=True)
    assert converted is fresh and isinstance(fresh.fno_blocks.convs[0], SparseSpectralConv)
    with torch.no_grad():
        for grid in [(16, 16), (32, 24)]:
            y = torch.randn(2, 1, *grid)
            assert relative_error(converted(y), trained(y)) < 2e-6
    converted.n_modes = (4, 4)  # neuraloperator's setter still reaches the converted layers
    assert all(c.active_modes == ModeSet.box((4, 4)) for c in converted.fno_blocks.convs)
    state = converted.state_dict()  # and the converted model round-trips through its own state_dict
    again = from_neuralop_model(_fno())
    again.load_state_dict(state)
    assert torch.equal(again.fno_blocks.convs[0].weight, converted.fno_blocks.convs[0].weight)


def test_from_neuralop_model_names_the_layer_it_cannot_convert():
    model = torch.nn.Sequential(torch.nn.Identity(), SpectralConv(2, 2, (4, 4), complex_data=True))
    with pytest.raises(ValueError, match=r"SpectralConv at '1'.*complex_data=True"):
        from_neuralop_model(model)
    single = from_neuralop_model(SpectralConv(2, 2, (4, 4)))
    assert isinstance(single, SparseSpectralConv)
