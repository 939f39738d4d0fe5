"""Quantization: round trips within the scale bound, quantized layers against their float twins, checkpoints."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from spectral_sparse import ModeSet, SparseSpectralConv, quantize
from spectral_sparse.checkpoint import load_checkpoint, save_checkpoint
from spectral_sparse.lowrank import low_rank
from spectral_sparse.models import SpectralClassifier
from spectral_sparse.models.fno import SparseFNO
from spectral_sparse.prune import prune_modes
from spectral_sparse.prune.criteria import mode_spectrum, multiplicity


def _classifier(seed: int = 0, **kw) -> SpectralClassifier:
    torch.manual_seed(seed)
    return SpectralClassifier(1, 4, width=6, modes=3, depth=2, **kw)


@pytest.mark.parametrize("bits", [4, 8])
@pytest.mark.parametrize("shape,axis", [((5, 3, 4), 0), ((5, 3, 4), -1), ((7, 6), 0), ((1, 1), 0)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.complex64, torch.complex128])
def test_round_trip_within_half_a_scale(bits: int, shape, axis: int, dtype: torch.dtype) -> None:
    torch.manual_seed(bits)
    w = torch.randn(*shape, dtype=dtype) * torch.logspace(-3, 1, shape[0]).reshape(-1, *([1] * (len(shape) - 1)))
    q, s = quantize.quantize_tensor(w, bits, axis)
    assert q.dtype == torch.int8 and int(q.abs().max()) <= {4: 7, 8: 127}[bits]
    back = quantize.dequantize_tensor(q, s, axis % w.ndim, w.is_complex())
    err = torch.view_as_real(back - w) if w.is_complex() else back - w
    bound = s.reshape([-1 if d == axis % w.ndim else 1 for d in range(w.ndim)] + ([1] if w.is_complex() else []))
    assert bool((err.abs() <= bound / 2 * (1 + 1e-6)).all())
    # the largest entry of every slice is on the grid's end: the scale is as fine as it can be
    assert int(q.abs().amax()) == {4: 7, 8: 127}[bits]


def test_four_bit_packing_round_trips_odd_counts() -> None:
    q = torch.arange(-7, 8, dtype=torch.int8).repeat(3)[:-1]  # 44 values, odd count after the slice
    packed = quantize._pack4(q)
    assert packed.dtype == torch.uint8 and packed.numel() == math.ceil(q.numel() / 2)
    assert torch.equal(quantize._unpack4(packed, q.shape), q)


@pytest.mark.parametrize("granularity", ["mode", "channel"])
@pytest.mark.parametrize("bits", [4, 8])
def test_quantized_layer_error_within_the_scale_bound(bits: int, granularity: str) -> None:
    """|y_q - y| <= sum_k c_k * max|dW_k| * ||x_hat_k||_1, with |dRe|, |dIm| <= s/2 so |dW| <= s/sqrt(2)."""
    torch.manual_seed(1)
    layer = SparseSpectralConv(3, 5, ModeSet.radial(4, ndim=2), backend="fft").double()
    x = torch.randn(2, 3, 17, 20, dtype=torch.float64)
    q = quantize.quantize_model(layer, bits=bits, granularity=granularity, pointwise=False)
    delta = q.weight - layer.weight  # (K, C, O)
    scale = q.weight_scale
    per_element = (scale.reshape(-1, 1, 1) if granularity == "mode" else scale.reshape(1, 1, -1)) / math.sqrt(2)
    assert bool((delta.abs() <= per_element * (1 + 1e-9)).all())
    xk = mode_spectrum(x, layer).abs()  # (K, B, C) normalised coefficients of the contract
    c = multiplicity(layer).to(xk.dtype)
    bound = torch.einsum("k,kbc,kco->bo", c, xk, delta.abs())  # per sample and output channel
    for shape in [(17, 20), (32, 32), (9, 9)]:
        out = layer(x, output_shape=shape) - q(x, output_shape=shape)
        assert bool((out.abs().amax(dim=(-2, -1)) <= bound * (1 + 1e-9) + 1e-12).all()), shape
    with torch.no_grad():
        err, ref = float((layer(x) - q(x)).abs().max()), float(layer(x).abs().max())
    assert 0 < err < ref * (0.25 if bits == 4 else 0.02)


@pytest.mark.parametrize("bits", [4, 8])
def test_quantized_classifier_runs_on_every_grid_and_checkpoints_smaller(tmp_path: Path, bits: int) -> None:
    model = _classifier()
    q = quantize.quantize_model(model, bits=bits)
    assert quantize.is_quantized(q) and not quantize.is_quantized(model)
    for grid in [(12, 12), (28, 28), (33, 47)]:
        x = torch.rand(3, 1, *grid)
        assert q(x).shape == (3, 4)
        with torch.no_grad():
            assert float((q(x) - model(x)).abs().max()) < (0.05 if bits == 8 else 0.5)
    save_checkpoint(tmp_path / "f.pt", model)
    save_checkpoint(tmp_path / "q.pt", q, bits=bits)
    loaded, meta = load_checkpoint(tmp_path / "q.pt")
    assert quantize.is_quantized(loaded) and meta["bits"] == bits
    for (k, a), (k2, b) in zip(q.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b), k
    for (name, p), p2 in zip(q.named_parameters(), loaded.parameters()):
        assert torch.equal(p, p2), name  # the dequantized weights, bit for bit
    x = torch.rand(2, 1, 20, 20)
    assert torch.equal(loaded(x), q(x))
    spectral = [k for k in q.state_dict() if k.startswith("spectral.") and k.endswith("weight_q")]
    assert spectral and all(q.state_dict()[k].dtype in (torch.int8, torch.uint8) for k in spectral)
    float_bytes = sum(model.state_dict()[k.replace("_q", "")].nbytes for k in spectral)
    quant_bytes = sum(q.state_dict()[k].nbytes for k in spectral)
    assert quant_bytes * (4 if bits == 8 else 8) == float_bytes  # 2 float32 per complex -> 2 int8 / 2 nibbles
    assert quantize.state_dict_bytes(q) < quantize.state_dict_bytes(model) / 2.5
    assert (tmp_path / "q.pt").stat().st_size < (tmp_path / "f.pt").stat().st_size  # tiny: zip headers dominate


def test_prune_compact_then_quantize_and_refuse_the_other_order(tmp_path: Path) -> None:
    model = _classifier()
    prune_modes(model, 0.5)
    for layer in model.spectral:
        layer.compact()
    q = quantize.quantize_model(model, bits=8)
    save_checkpoint(tmp_path / "pq.pt", q)
    loaded, _ = load_checkpoint(tmp_path / "pq.pt")
    assert [len(a.modes) for a in loaded.spectral] == [len(a.modes) for a in model.spectral]
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(loaded(x), q(x))
    q2 = quantize.quantize_model(_classifier(), bits=8)
    prune_modes(q2, 0.5)
    for layer in q2.spectral:
        layer.compact()
    with pytest.raises(ValueError, match="prune and compact before quantizing"):
        q2.state_dict()


def test_weights_changed_after_quantization_are_not_saved_silently() -> None:
    q = quantize.quantize_model(_classifier(), bits=8)
    with torch.no_grad():
        q.spectral[0].weight.add_(1e-3)
    with pytest.raises(ValueError, match="moved off its quantization grid"):
        q.state_dict()


def test_low_rank_and_fno_quantize(tmp_path: Path) -> None:
    lr = low_rank(_classifier(), 0.5)
    q = quantize.quantize_model(lr, bits=8)
    assert any(".in_factor" in k for k in quantize.quantized_parameters(q))
    x = torch.rand(2, 1, 18, 18)
    assert float((q(x) - lr(x)).abs().max()) < 0.05
    save_checkpoint(tmp_path / "lr.pt", q)
    assert torch.equal(load_checkpoint(tmp_path / "lr.pt")[0](x), q(x))
    torch.manual_seed(0)
    fno = SparseFNO(1, 1, width=6, modes=(4, 4), n_layers=2)
    qf = quantize.quantize_model(fno, bits=4, granularity="channel")
    y = torch.rand(2, 1, 16, 16)
    assert qf(y, output_shape=(32, 32)).shape == (2, 1, 32, 32)
    save_checkpoint(tmp_path / "fno.pt", qf)
    assert torch.equal(load_checkpoint(tmp_path / "fno.pt")[0](y), qf(y))


def test_activation_quantization_needs_calibration_and_round_trips(tmp_path: Path) -> None:
    model = _classifier()
    with pytest.raises(ValueError, match="calibration"):
        quantize.quantize_model(model, activations=True)
    with pytest.raises(ValueError, match="only used with activations=True"):
        quantize.quantize_model(model, calibration=[torch.rand(2, 1, 8, 8)])
    calib = [torch.rand(8, 1, 28, 28) for _ in range(3)]
    q = quantize.quantize_model(model, activations=True, calibration=calib)
    names = q.quantization["activation_modules"]
    assert names and all(float(q.get_submodule(n).input_scale) > 0 for n in names)
    w_only = quantize.quantize_model(model)
    x = torch.rand(4, 1, 28, 28)
    assert not torch.equal(q(x), w_only(x))  # the inputs really are rounded
    assert float((q(x) - model(x)).abs().max()) < 0.1
    save_checkpoint(tmp_path / "a.pt", q)
    assert torch.equal(load_checkpoint(tmp_path / "a.pt")[0](x), q(x))


def test_qat_straight_through_gradient_and_training(tmp_path: Path) -> None:
    model = quantize.prepare_qat(_classifier(), bits=4)
    layer = model.spectral[0]
    original = layer.parametrizations.weight.original
    assert not torch.equal(layer.weight, original)  # the forward sees the rounded weight
    x, y = torch.rand(16, 1, 12, 12), torch.randint(0, 4, (16,))
    loss = torch.nn.functional.cross_entropy(model(x), y)
    loss.backward()
    assert original.grad is not None and float(original.grad.abs().sum()) > 0
    model = model.to(torch.float32)  # the complex-aware cast works under the parametrization
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        opt.step()
        losses.append(float(loss))
    assert losses[-1] < losses[0]
    q = quantize.quantize_model(model, bits=4)
    assert torch.allclose(q(x), model(x), atol=1e-5)  # the stored model is the one QAT trained
    save_checkpoint(tmp_path / "qat.pt", q)
    assert torch.equal(load_checkpoint(tmp_path / "qat.pt")[0](x), q(x))


@pytest.mark.parametrize(
    "kwargs,exc,match",
    [
        ({"bits": 3}, ValueError, "bits must be one of"),
        ({"bits": True}, ValueError, "bits must be one of"),
        ({"pointwise_bits": 16}, ValueError, "pointwise_bits"),
        ({"granularity": "tensor"}, ValueError, "granularity"),
    ],
)
def test_bad_arguments(kwargs, exc, match) -> None:
    with pytest.raises(exc, match=match):
        quantize.quantize_model(_classifier(), **kwargs)
    with pytest.raises(exc, match=match):
        quantize.prepare_qat(_classifier(), **kwargs)


def test_bad_models_and_tensors() -> None:
    with pytest.raises(TypeError, match=r"nn\.Module"):
        quantize.quantize_model("model")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="no spectral, pointwise or linear"):
        quantize.quantize_model(torch.nn.ReLU())
    q = quantize.quantize_model(_classifier())
    with pytest.raises(ValueError, match="already quantized"):
        quantize.quantize_model(q)
    model = _classifier()
    with torch.no_grad():
        model.spectral[0].weight[0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        quantize.quantize_model(model)
    with pytest.raises(TypeError, match="float or complex"):
        quantize.quantize_tensor(torch.arange(4))
    with pytest.raises(ValueError, match="axis"):
        quantize.quantize_tensor(torch.randn(3), axis=2)
