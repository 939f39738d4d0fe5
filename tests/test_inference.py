"""predict / backend_for: multi-resolution inference with a backend chosen per shape."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.backends import registered_backends
from spectral_sparse.functional import prepare_call, select_backend
from spectral_sparse.inference import backend_for, choose_backends, plan_backends, predict
from spectral_sparse.models.classifier import CNNClassifier, SpectralClassifier
from spectral_sparse.models.cnn_conversion import cnn_to_spectral


@pytest.fixture
def model() -> SpectralClassifier:
    torch.manual_seed(0)
    return SpectralClassifier(2, 5, width=4, modes=3, depth=2)


def _spectral(model: nn.Module) -> list[SparseSpectralConv]:
    return [m for m in model.modules() if isinstance(m, SparseSpectralConv)]


def _record_backends(model: nn.Module) -> tuple[list, list]:
    """Forward hooks that record (grid, layer.backend) when each spectral layer runs."""
    seen: list[tuple[tuple[int, ...], str]] = []
    handles = [
        layer.register_forward_hook(lambda m, args, out: seen.append((tuple(args[0].shape[2:]), m.backend)))
        for layer in _spectral(model)
    ]
    return seen, handles


def test_predict_on_a_tensor(model):
    x = torch.randn(6, 2, 28, 28)
    preds = predict(model, x)
    with torch.no_grad():
        logits = model.eval()(x)
    assert preds.dtype == torch.long and preds.shape == (6,)
    assert torch.equal(preds, logits.argmax(1))
    assert torch.allclose(predict(model, x, return_logits=True), logits, atol=1e-6)


def test_predict_on_mixed_resolutions_equals_per_input_calls(model):
    torch.manual_seed(1)
    shapes = [(3, 2, 28, 28), (2, 2, 20, 36), (4, 2, 28, 28), (1, 2, 41, 17), (5, 2, 20, 36)]
    batches = [torch.randn(*s) for s in shapes]
    calls = []
    handle = model.register_forward_hook(lambda m, args, out: calls.append(tuple(args[0].shape)))
    preds = predict(model, batches)
    logits = predict(model, tuple(batches), return_logits=True, batch_size=2)
    handle.remove()
    # one call per distinct shape without batch_size; chunks of 2 with it
    assert calls[:3] == [(7, 2, 28, 28), (7, 2, 20, 36), (1, 2, 41, 17)]
    assert all(c[0] <= 2 for c in calls[3:]) and sum(c[0] for c in calls[3:]) == 15
    assert isinstance(preds, list) and isinstance(logits, list)
    with torch.no_grad():
        for x, p, z in zip(batches, preds, logits):
            ref = model(x)
            assert torch.equal(p, ref.argmax(1))
            assert torch.allclose(z, ref, atol=1e-6)


def test_predict_works_with_a_converted_cnn_on_non_square_grids():
    torch.manual_seed(0)
    model = cnn_to_spectral(CNNClassifier(1, 4, widths=(4, 6)), (28, 28))
    batches = [torch.randn(2, 1, 28, 28), torch.randn(3, 1, 24, 40)]
    preds = predict(model, batches)
    with torch.no_grad():
        assert all(torch.equal(p, model(x).argmax(1)) for x, p in zip(batches, preds))


def test_train_mode_and_backends_are_restored(model):
    model.train()
    layers = _spectral(model)
    layers[0].backend = "dft"
    predict(model, [torch.randn(2, 2, 16, 16), torch.randn(2, 2, 30, 30)])
    assert model.training and all(m.training for m in model.modules())
    assert [m.backend for m in layers] == ["dft", "auto"]


class Boom(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = SparseSpectralConv(1, 1, (4, 4), backend="fft")

    def forward(self, x):
        self.conv(x)
        raise RuntimeError("boom")


def test_backends_and_flags_are_restored_after_an_exception():
    net = Boom().train()
    for backend in ("auto", "dft"):
        with pytest.raises(RuntimeError, match="boom"):
            predict(net, torch.randn(2, 1, 16, 16), backend=backend)
        assert net.conv.backend == "fft" and net.training
    with pytest.raises(RuntimeError, match="boom"), backend_for(net, "dft"):
        assert net.conv.backend == "dft"
        net(torch.randn(1, 1, 8, 8))
    assert net.conv.backend == "fft"


@pytest.mark.parametrize("backend", ["fft", "dft"])
def test_forced_backend_is_used_by_every_layer(model, backend):
    seen, handles = _record_backends(model)
    predict(model, [torch.randn(2, 2, 28, 28), torch.randn(2, 2, 17, 33)], backend=backend)
    for h in handles:
        h.remove()
    assert len(seen) == 4 and {b for _, b in seen} == {backend}
    assert all(m.backend == "auto" for m in _spectral(model))


def test_auto_picks_per_layer_and_shape_what_select_backend_picks():
    torch.manual_seed(0)
    # a layer with one mode and a layer with every mode of a 24x24 grid: their best backends may differ
    model = nn.Sequential(
        SparseSpectralConv(2, 3, ModeSet.from_indices([[1, 1]])),
        SparseSpectralConv(3, 3, ModeSet.full((24, 24))),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
    )
    seen, handles = _record_backends(model)
    inputs = [torch.randn(2, 2, 24, 24), torch.randn(2, 2, 64, 48)]
    predict(model, inputs)
    for h in handles:
        h.remove()
    expected = []
    with torch.no_grad():
        for x in inputs:
            h = x
            for layer in model[:2]:
                call = prepare_call(h, layer.weight, layer.modes, layer.bias, None)
                expected.append((tuple(h.shape[2:]), select_backend(call, "auto").name))
                h = layer(h)
    assert seen == expected
    assert set(plan_backends(model, (2, 2, 64, 48)).items()) == {("0", expected[2][1]), ("1", expected[3][1])}
    assert all(m.backend == "auto" for m in _spectral(model))


def test_backend_for_with_a_mapping_and_choose_backends(model):
    with backend_for(model, {"spectral.1": "dft"}):
        assert [m.backend for m in _spectral(model)] == ["auto", "dft"]
    assert [m.backend for m in _spectral(model)] == ["auto", "auto"]
    record: dict[str, str] = {}
    with choose_backends(model, record), torch.no_grad():
        model(torch.randn(1, 2, 20, 20))
    assert set(record) == {"spectral.0", "spectral.1"} and set(record.values()) <= set(registered_backends())
    with pytest.raises(ValueError, match="backend mapping names no SparseSpectralConv of the model: nope"):
        with backend_for(model, {"nope": "fft"}):
            pass


BAD_INPUTS = [
    ([], {}, ValueError, "batches is an empty sequence"),
    ([torch.randn(1, 2, 8, 8), "x"], {}, TypeError, r"batches\[1\] must be a torch.Tensor, got str"),
    (42, {}, TypeError, "batches must be a tensor or a sequence of tensors, got int"),
    (
        torch.randn(2, 3, 16, 16),
        {},
        ValueError,
        r"batches has shape \(2, 3, 16, 16\), but the model's first layer \('lift'\) expects 2 channels "
        r"and 2 grid axes: \(B, 2, H, W\)",
    ),
    ([torch.randn(2, 2, 16, 16), torch.randn(2, 2, 16)], {}, ValueError, r"batches\[1\] has shape \(2, 2, 16\)"),
    (torch.ones(2, 2, 8, 8, dtype=torch.long), {}, TypeError, r"real floating-point tensor, got dtype torch.int64"),
    (torch.randn(2, 2, 8, 8), {"backend": "cuda-magic"}, ValueError, "unknown backend 'cuda-magic'"),
    (torch.randn(2, 2, 8, 8), {"batch_size": 0}, ValueError, "batch_size must be a positive int or None, got 0"),
]


@pytest.mark.parametrize(("batches", "kwargs", "error", "message"), BAD_INPUTS)
def test_bad_inputs(model, batches, kwargs, error, message):
    with pytest.raises(error, match=message):
        predict(model, batches, **kwargs)


def test_model_that_does_not_return_logits():
    net = nn.Sequential(nn.Conv2d(1, 2, 1))
    with pytest.raises(ValueError, match=r"expects the model to return logits .* got \(1, 2, 4, 4\)"):
        predict(net, torch.randn(1, 1, 4, 4))


def test_inputs_follow_the_model_dtype():
    torch.manual_seed(0)
    model = SpectralClassifier(1, 3, width=4, modes=2, depth=1).double()
    x = torch.randn(2, 1, 16, 16)
    logits = predict(model, x, return_logits=True)
    assert logits.dtype == torch.float64
    with torch.no_grad():
        assert torch.allclose(logits, model(x.double()))
