"""PointwiseConv (batched matrix product) against its reference twin, torch's 1x1 convolution."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from spectral_sparse.models.pointwise import PointwiseConv, pointwise_conv
from spectral_sparse.testing import assert_close

CONV = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize(("ndim", "grid"), [(1, (13,)), (2, (7, 10)), (3, (3, 4, 5))])
@pytest.mark.parametrize("bias", [True, False])
def test_matches_conv_outputs_and_gradients(ndim: int, grid: tuple[int, ...], bias: bool, dtype: torch.dtype) -> None:
    torch.manual_seed(0)
    layer = PointwiseConv(ndim, 3, 5, bias=bias).to(dtype)
    x = torch.randn(4, 3, *grid, dtype=dtype, requires_grad=True)
    extra = torch.randn(4, 5, *grid, dtype=dtype, requires_grad=True)
    y = layer(x, add=extra)
    ref = CONV[ndim](x, layer.weight, layer.bias) + extra
    assert_close(y, ref, what="forward")
    g = torch.randn_like(ref)
    grads = torch.autograd.grad(y, [x, extra, *layer.parameters()], g)
    ref_grads = torch.autograd.grad(ref, [x, extra, *layer.parameters()], g)
    for name, a, b in zip(["x", "add", "weight", "bias"], grads, ref_grads):
        assert_close(a, b, what=f"grad {name}")


def test_state_dict_interchangeable_with_conv() -> None:
    conv = torch.nn.Conv2d(4, 6, 1)
    layer = PointwiseConv(2, 4, 6)
    layer.load_state_dict(conv.state_dict())
    x = torch.randn(2, 4, 9, 9)
    assert_close(layer(x), conv(x))
    conv.load_state_dict(layer.state_dict())


def test_errors() -> None:
    with pytest.raises(ValueError, match="only 1-D, 2-D and 3-D"):
        PointwiseConv(4, 1, 1)
    with pytest.raises(ValueError, match="with a 2-D grid"):
        PointwiseConv(2, 3, 3)(torch.randn(2, 3, 8))
    with pytest.raises(ValueError, match="x has 2 channels but the weight expects 3"):
        pointwise_conv(torch.randn(1, 2, 5), torch.randn(4, 3))
    with pytest.raises(ValueError, match="add must have shape"):
        pointwise_conv(torch.randn(1, 3, 5), torch.randn(4, 3), add=torch.randn(1, 3, 5))


def test_add_is_scratch_accumulates_in_place_and_keeps_gradients():
    gen = torch.Generator().manual_seed(5)
    conv = PointwiseConv(2, 3, 4)
    x = torch.randn(2, 3, 5, 6, generator=gen, requires_grad=True)
    add = torch.randn(2, 4, 5, 6, generator=gen, requires_grad=True)
    ref = pointwise_conv(x, conv.weight, conv.bias, add=add)
    (gx_ref, ga_ref, gw_ref) = torch.autograd.grad(ref.square().sum(), [x, add, conv.weight])
    scratch = add * 1.0  # a fresh temporary, as the models pass
    y = conv(x, add=scratch, add_is_scratch=True)
    assert y.data_ptr() == scratch.data_ptr()  # no output allocated
    assert torch.allclose(y, ref, atol=1e-6)
    gx, ga, gw = torch.autograd.grad(y.square().sum(), [x, add, conv.weight])
    for a, b in ((gx, gx_ref), (ga, ga_ref), (gw, gw_ref)):
        assert torch.allclose(a, b, atol=1e-5)


def test_add_is_scratch_leaves_a_view_alone():
    conv = PointwiseConv(1, 2, 2)
    base = torch.randn(3, 2, 8)
    view = base[:, :, ::2]  # not contiguous: accumulated out of place
    before = base.clone()
    y = conv(torch.randn(3, 2, 4), add=view, add_is_scratch=True)
    assert torch.equal(base, before) and y.data_ptr() != view.data_ptr()


@pytest.mark.parametrize("backend", ["cpp", "dft", "fft"])
def test_classifier_fused_forward_matches_the_plain_composition(backend):
    from spectral_sparse.models import SpectralClassifier

    torch.manual_seed(0)
    model = SpectralClassifier(1, 10, width=8, modes=4.0, depth=2)
    for layer in model.spectral:
        layer.backend = backend
    x = torch.randn(4, 1, 16, 16, requires_grad=True)

    def plain(x):
        h = model.lift(x)
        for spectral, skip in zip(model.spectral, model.skips):
            h = torch.nn.functional.gelu(spectral(h) + skip(h))
        return model.head(h.mean(dim=(2, 3)))

    ref = plain(x)
    params = [x, *model.parameters()]
    grads_ref = torch.autograd.grad(ref.square().sum(), params)
    y = model(x)
    grads = torch.autograd.grad(y.square().sum(), params)
    assert torch.allclose(y, ref, atol=1e-6)
    for a, b in zip(grads, grads_ref):
        assert torch.allclose(a, b, atol=1e-5)
    x0 = x.detach().clone()
    with torch.inference_mode():  # the in-place GELU path
        assert torch.allclose(model(x0), ref, atol=1e-6)
    assert torch.equal(x0, x.detach())
