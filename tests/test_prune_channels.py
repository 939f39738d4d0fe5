"""Pruning hidden channels: exact compaction, exact counts, criteria against their definitions, errors."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.checkpoint import load_checkpoint, save_checkpoint
from spectral_sparse.models import CNNClassifier, SpectralClassifier, count_parameters
from spectral_sparse.prune import layer_flops, prune_modes
from spectral_sparse.prune.channels import channel_scores, prune_channels
from spectral_sparse.prune.criteria import magnitude
from spectral_sparse.testing import assert_close

WIDTH = 8
DEAD = [1, 3]


def _model(mixing: str = "dense", seed: int = 0) -> SpectralClassifier:
    torch.manual_seed(seed)
    model = SpectralClassifier(1, 5, width=WIDTH, modes=3, depth=2)
    if mixing == "diagonal":
        model.spectral = nn.ModuleList(
            SparseSpectralConv(WIDTH, WIDTH, layer.modes, mixing="diagonal") for layer in model.spectral
        )
    with torch.no_grad():  # non-zero spectral biases, so that they are checked too
        for layer in model.spectral:
            layer.bias.normal_()
    return model


def _kill(model: SpectralClassifier, dead: list[int], isolate: bool = False) -> None:
    """Make the channels ``dead`` zero everywhere (nothing writes into them); ``isolate``: nothing reads them either."""
    with torch.no_grad():
        model.lift.weight[dead] = 0
        model.lift.bias[dead] = 0
        for layer, skip in zip(model.spectral, model.skips):
            if layer.weight.ndim == 3:
                layer.weight[:, :, dead] = 0
                if isolate:
                    layer.weight[:, dead] = 0
            else:
                layer.weight[:, dead] = 0
            layer.bias[dead] = 0
            skip.weight[dead] = 0
            skip.bias[dead] = 0
            if isolate:
                skip.weight[:, dead] = 0
        if isolate:
            model.head.weight[:, dead] = 0


def _data(n: int = 2, seed: int = 1) -> list[tuple[torch.Tensor, torch.Tensor]]:
    g = torch.Generator().manual_seed(seed)
    return [(torch.randn(3, 1, 12, 12, generator=g), torch.randint(0, 5, (3,), generator=g)) for _ in range(n)]


def _check_width(model: SpectralClassifier, n: int) -> None:
    assert model.config["width"] == n
    assert model.lift.out_channels == n and model.head.in_features == n
    assert model.lift.weight.shape[0] == n and model.lift.bias.shape == (n,) and model.head.weight.shape[1] == n
    for layer, skip in zip(model.spectral, model.skips):
        assert layer.weight.shape[1:] == ((n, n) if layer.mixing == "dense" else (n,))
        assert layer.bias.shape == (n,) and layer.in_channels == layer.out_channels == n
        assert skip.weight.shape[:2] == (n, n) and skip.bias.shape == (n,)
        assert skip.in_channels == skip.out_channels == n
        assert f"{n}, {n}" in repr(layer) and f"{n}, {n}" in repr(skip)
    for p in model.parameters():
        assert isinstance(p, nn.Parameter) and p.requires_grad


# ------------------------------------------------------------------ exact compaction
@pytest.mark.parametrize("variant", ["dense", "mode_pruned", "diagonal"])
def test_removing_dead_channels_keeps_logits(variant: str) -> None:
    model = _model("diagonal" if variant == "diagonal" else "dense")
    _kill(model, DEAD)
    if variant == "mode_pruned":  # different mode sets per layer
        prune_modes(model, 0.5, "magnitude", scope="layer")
        with torch.no_grad():
            model.spectral[1].weight[:2] = 0
        model.spectral[1].compact()
        assert len(model.spectral[0].modes) != len(model.spectral[1].modes)
    modes = [layer.modes.indices.clone() for layer in model.spectral]
    xs = [torch.randn(2, 1, 12, 12), torch.randn(2, 1, 10, 15)]
    model.eval()
    with torch.no_grad():
        ref = [model(x) for x in xs]
    before = count_parameters(model)

    kept = prune_channels(model, 0.25, "energy", data=_data())  # floor(0.25 * 8 + 0.5) = 2 removed

    assert kept == [c for c in range(WIDTH) if c not in DEAD]
    _check_width(model, WIDTH - 2)
    for layer, idx in zip(model.spectral, modes):
        assert torch.equal(layer.modes.indices, idx) and torch.equal(layer.mode_indices, idx)
    assert count_parameters(model) < before
    with torch.no_grad():
        for x, r in zip(xs, ref):
            assert_close(model(x), r, torch.float32, what=f"logits after channel pruning ({variant})")


def test_compacted_layers_cost_like_fresh_ones() -> None:
    model = _model()
    prune_modes(model, 0.5, "magnitude", scope="layer")
    prune_channels(model, 0.5, "magnitude")
    for layer in model.spectral:
        fresh = SparseSpectralConv(4, 4, layer.modes)
        assert layer_flops(layer, (12, 12)) == layer_flops(fresh, (12, 12))


def test_magnitude_removes_isolated_channels() -> None:
    model = _model()
    _kill(model, [2, 5], isolate=True)
    x = torch.randn(2, 1, 12, 12)
    with torch.no_grad():
        ref = model(x)
    scores = channel_scores(model, "magnitude")
    assert scores[2] == 0 and scores[5] == 0 and bool((scores[[0, 1, 3, 4, 6, 7]] > 0).all())
    assert prune_channels(model, 0.25, "magnitude") == [0, 1, 3, 4, 6, 7]
    with torch.no_grad():
        assert_close(model(x), ref, torch.float32, what="logits after pruning isolated channels")


# ------------------------------------------------------------------ counts
@pytest.mark.parametrize(
    ("amount", "kept"), [(0.0, 8), (0.0625, 7), (0.3, 6), (0.5, 4), (0.75, 2), (0.9, 1), (0.93, 1)]
)
def test_amount_removed_is_exact(amount: float, kept: int) -> None:
    model = _model()
    ids = prune_channels(model, amount, "magnitude")
    assert len(ids) == kept and ids == sorted(set(ids)) and all(0 <= c < WIDTH for c in ids)
    _check_width(model, kept)
    assert model(torch.randn(2, 1, 12, 12)).shape == (2, 5)


def test_at_least_one_channel_is_kept() -> None:
    model = _model()
    with pytest.warns(UserWarning, match="removed 7 of the 8 channels requested"):
        ids = prune_channels(model, 0.95, "magnitude")  # floor(7.6 + 0.5) = 8 requested
    assert len(ids) == 1
    _check_width(model, 1)
    # pruning again removes from the new width
    assert prune_channels(model, 0.4, "magnitude") == [0]


def test_lowest_scores_are_removed() -> None:
    model = _model()
    scores = channel_scores(model, "energy", _data())
    kept = prune_channels(model, 0.5, "energy", data=_data())
    assert sorted(kept) == sorted(torch.argsort(scores, descending=True)[:4].tolist())


# ------------------------------------------------------------------ criteria against their definitions
def test_energy_scores_match_block_outputs() -> None:
    model = _model()
    g = torch.Generator().manual_seed(7)
    batches = [(torch.randn(3, 1, 12, 12, generator=g), torch.zeros(3)), torch.randn(2, 1, 10, 14, generator=g)]
    scores = channel_scores(model, "energy", batches)  # (images, labels) pairs and bare images, two grids
    total, samples = torch.zeros(WIDTH, dtype=torch.float64), 0
    with torch.no_grad():  # recompute by hand, block by block
        for x in [batches[0][0], batches[1]]:
            h = model.lift(x)
            for layer, skip in zip(model.spectral, model.skips):
                h = torch.nn.functional.gelu(layer(h) + skip(h))
                total += h.double().pow(2).mean(dim=(2, 3)).sum(dim=0)
            samples += x.shape[0]
    assert scores.dtype == torch.float64 and scores.shape == (WIDTH,)
    assert_close(scores, total / samples, torch.float32, what="energy scores")
    assert model.training  # the training flag is restored


@pytest.mark.parametrize("mixing", ["dense", "diagonal"])
def test_magnitude_scores_sum_to_twice_the_hidden_norms(mixing: str) -> None:
    model = _model(mixing)
    scores = channel_scores(model, "magnitude")
    model.requires_grad_(False)
    spectral = sum(float(s.sum()) for s in magnitude(model, list(model.spectral)))  # sum_k m_k ||W_k||^2
    skips = sum(float(skip.weight.double().pow(2).sum()) for skip in model.skips)
    ends = float(model.lift.weight.double().pow(2).sum() + model.head.weight.double().pow(2).sum())
    # every hidden weight reads from one channel and writes to one: counted twice; lift and head once
    expected = torch.tensor(2 * (spectral + skips) + ends, dtype=torch.float64)
    assert_close(scores.sum(), expected, torch.float32, what="sum of magnitude scores")
    if mixing == "diagonal":
        return
    # one channel by hand
    c = 4
    one = model.lift.weight[c].double().pow(2).sum() + model.head.weight[:, c].double().pow(2).sum()
    for layer, skip in zip(model.spectral, model.skips):
        w = layer.weight.detach()
        zero = (layer.modes.indices == 0).all(1)
        mult = torch.where(zero, 1.0, 2.0).double()
        rows = torch.where(zero[:, None], w[:, c, :].real ** 2, w[:, c, :].abs() ** 2).double().sum(1)
        cols = torch.where(zero[:, None], w[:, :, c].real ** 2, w[:, :, c].abs() ** 2).double().sum(1)
        one = one + (mult * (rows + cols)).sum()
        one = one + skip.weight[c].double().pow(2).sum() + skip.weight[:, c].double().pow(2).sum()
    assert_close(scores[c], one.detach(), torch.float32, what="magnitude score of one channel")


# ------------------------------------------------------------------ checkpoint, training
def test_checkpoint_round_trip(tmp_path) -> None:
    model = _model()
    prune_modes(model, 0.4, "magnitude", scope="layer")
    prune_channels(model, 0.5, "energy", data=_data())
    path = save_checkpoint(tmp_path / "pruned.pt", model, seed=0)
    loaded, _ = load_checkpoint(path)
    assert loaded.config["width"] == 4
    for a, b in zip(loaded.spectral, model.spectral):
        assert torch.equal(a.modes.indices, b.modes.indices)
    x = torch.randn(3, 1, 12, 12)
    model.eval()
    with torch.no_grad():
        assert_close(loaded(x), model(x), torch.float32, what="logits after checkpoint round trip")


def test_pruned_model_trains() -> None:
    model = _model()
    prune_channels(model, 0.5, "energy", data=_data())
    x, y = _data(1, seed=3)[0]
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    loss = nn.functional.cross_entropy(model(x), y)
    opt.zero_grad()
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and bool(
            torch.isfinite(torch.view_as_real(p.grad) if p.is_complex() else p.grad).all()
        ), name
    opt.step()
    with torch.no_grad():
        assert nn.functional.cross_entropy(model(x), y) < loss


def test_copy_is_independent() -> None:
    model = _model()
    pruned = copy.deepcopy(model)
    prune_channels(pruned, 0.5, "magnitude")
    assert model.config["width"] == WIDTH and pruned.config["width"] == 4


# ------------------------------------------------------------------ errors
def test_errors() -> None:
    model = _model()
    with pytest.raises(ValueError, match=r"amount must be in \[0, 1\)"):
        prune_channels(model, 1.0, "magnitude")
    with pytest.raises(ValueError, match=r"amount must be in \[0, 1\)"):
        prune_channels(model, -0.1, "magnitude")
    with pytest.raises(TypeError, match="amount must be a number"):
        prune_channels(model, "0.5", "magnitude")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown channel criterion 'taylor'; valid criteria: energy, magnitude"):
        prune_channels(model, 0.5, "taylor")
    with pytest.raises(ValueError, match="criterion 'energy' needs data"):
        prune_channels(model, 0.5)
    with pytest.raises(TypeError, match="data must be an iterable of batches"):
        prune_channels(model, 0.5, data=torch.randn(2, 1, 12, 12))
    with pytest.raises(ValueError, match="no samples"):
        prune_channels(model, 0.5, data=[])
    with pytest.raises(TypeError, match=r"needs a spectral_sparse\.models\.SpectralClassifier .*got CNNClassifier"):
        prune_channels(CNNClassifier(1, 3, widths=(4,)), 0.5, "magnitude")
    with pytest.raises(TypeError, match="got Linear"):
        prune_channels(nn.Linear(3, 3), 0.5, "magnitude")
    broken = _model()
    broken.head = nn.Sequential(nn.Linear(WIDTH, 5))
    with pytest.raises(TypeError, match=r"head is not an nn\.Linear"):
        prune_channels(broken, 0.5, "magnitude")
    broken = _model()
    broken.spectral[0] = SparseSpectralConv(WIDTH, WIDTH + 1, ModeSet.radial(3, ndim=2))
    with pytest.raises(TypeError, match=r"spectral.0 weight .* does not map the hidden width 8 to itself"):
        prune_channels(broken, 0.5, "magnitude")
    _check_width(model, WIDTH)  # failed calls changed nothing
