"""Pointwise (1x1) channel maps, evaluated as one batched matrix product.

A 1x1 convolution is the same ``(out, in)`` matrix applied at every grid
point, so it is defined on any grid. PyTorch's CPU path runs it through
oneDNN's general convolution, which on channels-first tensors of the sizes
the classifiers see was measured slower than a batched matrix product over the
flattened grid (``benchmarks/pointwise.py``, one thread, shared 2-core CPU:
forward ``(256, 32, 28, 28)`` 96 ms against 24 ms, forward + backward
289 ms against 124 ms; at ``(8, 32, 128, 128)`` the forward was 0.81x, i.e.
slower, and forward + backward 1.07x; ``benchmarks/results/pointwise/cpu/results.csv``).
:class:`PointwiseConv` keeps the ``nn.Conv1d/2d/3d`` parameters and state-dict
keys (``weight`` of shape ``(out, in, 1, ...)``, ``bias``) and only changes how
the product is evaluated, so checkpoints of models built with plain
convolutions load unchanged.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["PointwiseConv", "pointwise_conv"]

_CONVS = {1: nn.Conv1d, 2: nn.Conv2d, 3: nn.Conv3d}


def pointwise_conv(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, add: Tensor | None = None, *, add_is_scratch: bool = False
) -> Tensor:
    """``y[b, o, n] = add[b, o, n] + bias[o] + sum_c weight[o, c] x[b, c, n]`` at every grid point ``n``.

    ``add`` (e.g. the output of the spectral convolution beside this skip) is
    accumulated inside the matrix product, which saves a full pass over the
    output and its allocation. With ``add_is_scratch=True`` the product
    accumulates into ``add``'s own memory (``add`` is overwritten with the
    result and returned): no output is allocated and ``add`` is not copied.
    Only pass it for a temporary nobody else reads (autograd still checks that
    no saved tensor is overwritten); a view or a non-contiguous ``add`` is
    accumulated out of place as without the flag.

    Parameters
    ----------
    x : Tensor, shape (B, C, *grid)
    weight : Tensor, shape (O, C) or (O, C, 1, ...)
    bias : Tensor, shape (O,), optional
    add : Tensor, shape (B, O, *grid), optional

    Returns
    -------
    Tensor, shape (B, O, *grid)
        Empty when ``B = 0``.

    Raises
    ------
    ValueError
        If ``x`` has fewer than 3 dimensions, its channels differ from the weight's, or
        ``add`` has another shape than the output.

    Examples
    --------
    >>> conv = nn.Conv2d(3, 5, 1)
    >>> x = torch.randn(2, 3, 7, 9)
    >>> torch.allclose(pointwise_conv(x, conv.weight, conv.bias), conv(x), atol=1e-6)
    True
    >>> torch.allclose(pointwise_conv(x, conv.weight, conv.bias, add=conv(x)), 2 * conv(x), atol=1e-6)
    True
    """
    if x.ndim < 3:
        raise ValueError(f"pointwise_conv expects x of shape (B, C, *grid), got {tuple(x.shape)}")
    # explicit sizes, no -1: a reshape to (0, C, -1) is ambiguous for an empty batch
    w = weight.reshape(weight.shape[0], weight.shape[1])
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"x has {x.shape[1]} channels but the weight expects {w.shape[1]}")
    b, grid = x.shape[0], x.shape[2:]
    points = math.prod(grid)
    flat = x.reshape(b, x.shape[1], points)
    if add is not None:
        if add.shape != (b, w.shape[0], *grid):
            raise ValueError(f"add must have shape {(b, w.shape[0], *grid)}, got {tuple(add.shape)}")
        acc = add.reshape(b, w.shape[0], points)
        if add_is_scratch and add.is_contiguous() and not add._is_view():
            y = acc.baddbmm_(w.expand(b, *w.shape), flat)  # in place: no copy of add, no fresh output
        else:
            y = torch.baddbmm(acc, w.expand(b, *w.shape), flat)
        if bias is not None:
            y = y.add_(bias.view(1, -1, 1))  # in place: baddbmm's backward does not need its output
    elif bias is None:
        y = torch.matmul(w, flat)
    else:
        y = torch.baddbmm(bias.view(1, -1, 1).expand(b, -1, points), w.expand(b, *w.shape), flat)
    return y.view(b, w.shape[0], *grid)


class PointwiseConv(nn.Module):
    """A 1x1 (x1) convolution on 1-D, 2-D or 3-D grids with the parameters of ``nn.ConvNd``.

    Parameters
    ----------
    ndim : int
        Grid dimension (1, 2 or 3).
    in_channels, out_channels : int
    bias : bool

    Shapes
    ------
    ``(B, in_channels, *grid) -> (B, out_channels, *grid)``, any grid.

    Examples
    --------
    >>> layer = PointwiseConv(2, 4, 8)
    >>> layer(torch.randn(3, 4, 10, 12)).shape
    torch.Size([3, 8, 10, 12])
    >>> sorted(layer.state_dict())
    ['bias', 'weight']
    """

    def __init__(self, ndim: int, in_channels: int, out_channels: int, bias: bool = True) -> None:
        super().__init__()
        if ndim not in _CONVS:
            raise ValueError(f"only 1-D, 2-D and 3-D grids are supported, got {ndim}-D")
        ref = _CONVS[ndim](in_channels, out_channels, kernel_size=1, bias=bias)  # nn.ConvNd's initialisation
        self.ndim, self.in_channels, self.out_channels = ndim, in_channels, out_channels
        self.weight = ref.weight
        self.bias = ref.bias

    def forward(self, x: Tensor, add: Tensor | None = None, add_is_scratch: bool = False) -> Tensor:
        """``(B, in, *grid) -> (B, out, *grid)``, plus ``add`` of the output's shape when given.

        ``add_is_scratch``: see :func:`pointwise_conv`.
        """
        if x.ndim != self.ndim + 2:
            raise ValueError(
                f"expected input of shape (B, {self.in_channels}, *grid) with a {self.ndim}-D grid, "
                f"got {tuple(x.shape)}"
            )
        return pointwise_conv(x, self.weight, self.bias, add=add, add_is_scratch=add_is_scratch)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, ndim={self.ndim}, bias={self.bias is not None}"
