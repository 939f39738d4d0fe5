"""SparseFNO: shapes, gradients, output grids, per-layer modes, configuration and bad arguments."""

from __future__ import annotations

import pytest
import torch

from spectral_sparse import ModeSet, resample
from spectral_sparse.models.fno import FNOConfig, SparseFNO, positional_embedding
from spectral_sparse.testing import assert_close


@pytest.mark.parametrize(
    ("modes", "grids"),
    [
        ((5,), [(16,), (17,), (40,)]),
        ((6, 6), [(16, 16), (15, 20), (32, 9)]),
        (ModeSet.radial(2.0, ndim=3), [(6, 6, 6), (8, 5, 7)]),
    ],
)
def test_shapes_and_gradients(modes, grids) -> None:
    torch.manual_seed(0)
    model = SparseFNO(2, 3, width=6, modes=modes, n_layers=2)
    for grid in grids:
        x = torch.randn(2, 2, *grid)
        y = model(x)
        assert y.shape == (2, 3, *grid)
        model.zero_grad()
        y.square().mean().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and torch.isfinite(p.grad).all(), name
            assert p.grad.abs().sum() > 0, f"no gradient reaches {name} on grid {grid}"


def test_output_shape_is_trigonometric_upsampling_of_the_last_block() -> None:
    # with a linear projection, the last spectral layer synthesising on a finer grid and the
    # resampled skip give exactly the trigonometric interpolation of the output on the input grid
    # (all modes are resolved by the 12x12 input grid)
    torch.manual_seed(1)
    model = SparseFNO(1, 2, width=5, modes=(5, 5), n_layers=3, config=FNOConfig(projection_ratio=0)).double()
    x = torch.randn(2, 1, 12, 12, dtype=torch.float64)
    coarse = model(x)
    fine = model(x, output_shape=(24, 30))
    assert fine.shape == (2, 2, 24, 30)
    assert_close(fine, resample(coarse, (24, 30)), what="output_shape vs resampled output")
    assert torch.equal(model(x, output_shape=(12, 12)), coarse)


def test_embedding_is_the_same_field_on_nested_grids() -> None:
    for kind in ("fourier", "grid"):
        coarse = positional_embedding((8, 6), kind, frequencies=3)
        fine = positional_embedding((16, 18), kind, frequencies=3)
        assert torch.equal(fine[:, ::2, ::3], coarse), kind
    emb = positional_embedding((8,), "fourier", frequencies=2)
    t = torch.arange(8) / 8
    expected = torch.stack([torch.sin(2 * torch.pi * t), torch.cos(2 * torch.pi * t)])
    assert_close(emb[:2], expected)
    assert positional_embedding((4, 4), None).shape == (0, 4, 4)


@pytest.mark.parametrize(("embedding", "extra"), [("fourier", 8), ("grid", 2), (None, 0)])
def test_embedding_channels(embedding, extra) -> None:
    model = SparseFNO(
        3,
        1,
        width=4,
        modes=(4, 4),
        n_layers=1,
        config=FNOConfig(embedding=embedding, lifting_ratio=0, embedding_frequencies=2),
    )
    assert model.lift.in_channels == 3 + extra
    assert model(torch.randn(1, 3, 8, 8)).shape == (1, 1, 8, 8)


def test_per_layer_modes_and_config_round_trip() -> None:
    torch.manual_seed(2)
    modes = [(6,), 3.0, ModeSet.from_indices(torch.tensor([[0], [2], [5]])), 4]
    model = SparseFNO(1, 1, width=4, modes=modes, n_layers=4, ndim=1, config=FNOConfig(mixing="diagonal"))
    assert (
        [len(layer.modes) for layer in model.spectral]
        == [len(ModeSet.box(6)), len(ModeSet.radial(3.0, 1)), 3, len(ModeSet.box(4))]
        == [4, 4, 3, 3]
    )
    assert all(layer.mixing == "diagonal" for layer in model.spectral)
    clone = SparseFNO.from_config(model.config)
    clone.load_state_dict(model.state_dict())
    x = torch.randn(2, 1, 20)
    assert torch.equal(clone(x), model(x))


def test_pruned_layers_survive_config_round_trip() -> None:
    model = SparseFNO(1, 1, width=3, modes=(6, 6), n_layers=2)
    with torch.no_grad():
        model.spectral[1].weight[4:] = 0
    model.spectral[1].compact()
    clone = SparseFNO.from_config(model.config)
    assert len(clone.spectral[1].modes) == 4 and len(clone.spectral[0].modes) == len(model.spectral[0].modes)


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"width": 0}, ValueError, "width must be a positive int"),
        ({"n_layers": 2, "modes": [(4, 4)] * 3}, ValueError, "list of 3 entries but n_layers=2"),
        ({"modes": 3.0}, ValueError, "radius .* pass ndim"),
        ({"modes": 4}, ValueError, "pass ndim"),
        ({"modes": (4, 4), "ndim": 3}, ValueError, "has 2 axes but ndim=3"),
        ({"modes": [(4, 4), (4,)], "n_layers": 2}, ValueError, r"modes\[1\] \(4,\) has 1 axes but ndim=2"),
        ({"modes": [ModeSet.box((4, 4)), ModeSet.box(4)], "n_layers": 2}, ValueError, "1-D ModeSet but ndim=2"),
        ({"modes": "box"}, TypeError, "modes must be a ModeSet"),
        ({"config": {"embedding": None}}, TypeError, "config must be an FNOConfig"),
        ({"modes": (4, 4, 4, 4)}, ValueError, "dimension 1, 2 or 3"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match) -> None:
    args = {"in_channels": 1, "out_channels": 1, "width": 4, "modes": (4, 4), **kwargs}
    with pytest.raises(error, match=match):
        SparseFNO(**args)


def test_bad_config_and_inputs() -> None:
    with pytest.raises(ValueError, match="embedding must be one of"):
        FNOConfig(embedding="sinusoidal")
    with pytest.raises(ValueError, match="activation must be one of"):
        FNOConfig(activation="swish")
    with pytest.raises(ValueError, match="lifting_ratio must be a number >= 0"):
        FNOConfig(lifting_ratio=-1)
    model = SparseFNO(2, 1, width=4, modes=(4, 4), n_layers=1)
    with pytest.raises(ValueError, match=r"shape \(B, 2, \*grid\) with a 2-D grid"):
        model(torch.randn(1, 3, 8, 8))
    with pytest.raises(ValueError, match=r"shape \(B, 2, \*grid\) with a 2-D grid"):
        model(torch.randn(1, 2, 8))
    with pytest.raises(TypeError, match="real floating tensor"):
        model(torch.ones(1, 2, 8, 8, dtype=torch.long))
    with pytest.raises(ValueError, match=r"output_shape .* must have 2 entries"):
        model(torch.randn(1, 2, 8, 8), output_shape=(16,))


def test_checkpoint_round_trip(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from spectral_sparse import checkpoint

    monkeypatch.setitem(checkpoint.MODEL_KINDS, "SparseFNO", SparseFNO)
    torch.manual_seed(3)
    model = SparseFNO(1, 2, width=4, modes=[(6, 6), 2.5], n_layers=2, config=FNOConfig(embedding=None))
    path = checkpoint.save_checkpoint(tmp_path / "fno.pt", model)
    loaded, _ = checkpoint.load_checkpoint(path)
    x = torch.randn(2, 1, 10, 12)
    assert torch.equal(loaded(x), model(x))


def test_channel_mlp_blocks() -> None:
    torch.manual_seed(4)
    model = SparseFNO(1, 1, width=6, modes=(4, 4), n_layers=2, config=FNOConfig(channel_mlp=0.5, projection_ratio=0))
    assert len(model.channel_mlps) == 2 and model.gates.shape == (2, 6)
    x = torch.randn(2, 1, 10, 10, dtype=torch.float64)
    model = model.double()
    y = model(x)
    y.sum().backward()
    assert model.gates.grad is not None and model.gates.grad.abs().sum() > 0
    assert model(x, output_shape=(20, 15)).shape == (2, 1, 20, 15)
