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
