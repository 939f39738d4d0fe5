"""``torch.library`` custom ops of the ``triton`` backend, with fake and autograd implementations.

``spectral_sparse::triton_conv(x, weight, bias, modes, out_grid) -> (y, x_hat)``
    The whole layer: fused analysis, per-mode mixing, fused synthesis + bias.
    ``x_hat`` (2, K, B, C) is the input spectrum at the modes (real and
    imaginary planes); it is what autograd saves, instead of ``x``.
``spectral_sparse::triton_conv_backward(grad_y, x_hat, weight, modes, in_grid, need_input, need_weight)
-> (grad_x, grad_weight)``
    The adjoint: ``G = analysis(grad_y)`` on the output grid (unscaled, no
    Nyquist halving, because the forward synthesis evaluates
    ``Re(c_k Ŷ e^{2πi k·n/N'})`` literally), ``grad_x = synthesis(c_k W^H G)``
    with the forward analysis' scaled tables, ``grad_W = c_k x̂^H G`` per
    mode. A gradient that is not needed comes back as an empty tensor.

``modes`` is the unrestricted (K, d) index tensor on the CPU; modes that a
grid does not resolve are handled inside (zero spectrum, zero gradient), so
no data-dependent shape reaches a traced graph. Importing this module does
not import triton. Double backward is not implemented.
"""

from typing import Optional

import torch
from torch import Tensor

from . import launch
from .plan import _grid2, acc_dtype, get_plan

__all__ = ["triton_conv", "triton_conv_backward"]


def _as_rows(t: Tensor, d: int) -> Tensor:
    """(B, C, *grid) -> (B*C, N1, N2), with N1 = 1 in 1-D."""
    b, c = t.shape[:2]
    if d == 1:
        return t.reshape(b * c, 1, t.shape[2])
    return t.reshape(b * c, t.shape[2], t.shape[3])


def _weight_pairs(weight: Tensor, dtype: torch.dtype) -> Tensor:
    cdtype = torch.complex128 if dtype == torch.float64 else torch.complex64
    return torch.view_as_real(weight.resolve_conj().to(cdtype).contiguous())


@torch.library.custom_op("spectral_sparse::triton_conv", mutates_args=())
def triton_conv(
    x: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],  # noqa: UP045  (torch < 2.5 schema inference wants typing.Optional)
    modes: Tensor,
    out_grid: list[int],
) -> tuple[Tensor, Tensor]:
    """Forward of the sparse spectral convolution on the Triton kernels.

    Parameters
    ----------
    x : Tensor, shape (B, C, *N), 1 or 2 grid axes
    weight : complex Tensor, shape (K, C, O) or (K, C)
    bias : Tensor, shape (O,), or None
    modes : LongTensor, shape (K, d), canonical (CPU)
    out_grid : list of d ints

    Returns
    -------
    y : Tensor, shape (B, O, *out_grid), dtype of x
    x_hat : Tensor, shape (2, K, B, C), float32 (float64 for float64 input)
    """
    b, c = x.shape[:2]
    in_grid, out_grid_t = tuple(x.shape[2:]), tuple(out_grid)
    d = len(in_grid)
    k = weight.shape[0]
    o = weight.shape[-1]
    acc = acc_dtype(x.dtype)
    plan = get_plan(modes, in_grid, out_grid_t, x.device, acc)
    kern = launch.load_kernels(launch.use_interpreter(x.device))
    partial = plan.n_resolved < plan.n_modes
    xs = launch.analysis(kern, _as_rows(x, d), plan.in_t1, plan.in_t2, plan.pos, k, zero_fill=partial)
    xs = xs.reshape(2, k, b, c)
    ys = launch.mix(kern, xs, _weight_pairs(weight, x.dtype), plan.ck, adjoint=False)
    n1, n2 = _grid2(out_grid_t)
    y = launch.synthesis(kern, ys.reshape(2, k, b * o), plan.out_t1, plan.out_t2, plan.pos, bias, o, n1, n2, x.dtype)
    return y.reshape(b, o, *out_grid_t), xs


@triton_conv.register_fake
def _triton_conv_fake(x, weight, bias, modes, out_grid):  # type: ignore[no-untyped-def]
    b, c = x.shape[:2]
    y = x.new_empty((b, weight.shape[-1], *out_grid))
    x_hat = x.new_empty((2, weight.shape[0], b, c), dtype=acc_dtype(x.dtype))
    return y, x_hat


@torch.library.custom_op("spectral_sparse::triton_conv_backward", mutates_args=())
def triton_conv_backward(
    grad_y: Tensor,
    x_hat: Tensor,
    weight: Tensor,
    modes: Tensor,
    in_grid: list[int],
    need_input: bool,
    need_weight: bool,
) -> tuple[Tensor, Tensor]:
    """Input and weight gradients of :func:`triton_conv` (empty tensors where not needed).

    Parameters
    ----------
    grad_y : Tensor, shape (B, O, *out_grid)
    x_hat : Tensor, shape (2, K, B, C), the saved input spectrum
    weight : complex Tensor, shape (K, C, O) or (K, C)
    modes : LongTensor, shape (K, d) (CPU)
    in_grid : list of d ints
    need_input, need_weight : bool

    Returns
    -------
    grad_x : Tensor, shape (B, C, *in_grid), dtype of grad_y (or empty)
    grad_weight : complex Tensor shaped like weight (or empty)
    """
    b, o = grad_y.shape[:2]
    out_grid, in_grid_t = tuple(grad_y.shape[2:]), tuple(in_grid)
    d = len(out_grid)
    _, k, _, c = x_hat.shape
    acc = acc_dtype(grad_y.dtype)
    plan = get_plan(modes, in_grid_t, out_grid, grad_y.device, acc)
    kern = launch.load_kernels(launch.use_interpreter(grad_y.device))
    partial = plan.n_resolved < plan.n_modes
    grad_x = grad_y.new_empty(0)
    grad_w = weight.new_empty(0)
    if not (need_input or need_weight):
        return grad_x, grad_w
    gs = launch.analysis(kern, _as_rows(grad_y, d), plan.out_t1, plan.out_t2, plan.pos, k, zero_fill=partial)
    gs = gs.reshape(2, k, b, o)
    if need_input:
        gx = launch.mix(kern, gs, _weight_pairs(weight, grad_y.dtype), plan.ck, adjoint=True)
        n1, n2 = _grid2(in_grid_t)
        grad_x = launch.synthesis(
            kern, gx.reshape(2, k, b * c), plan.in_t1, plan.in_t2, plan.pos, None, c, n1, n2, grad_y.dtype
        ).reshape(b, c, *in_grid_t)
    if need_weight:
        gw = launch.weight_grad(kern, x_hat, gs, plan.ck, diagonal=weight.ndim == 2)
        grad_w = torch.view_as_complex(gw).to(weight.dtype)
    return grad_x, grad_w


@triton_conv_backward.register_fake
def _triton_conv_backward_fake(grad_y, x_hat, weight, modes, in_grid, need_input, need_weight):  # type: ignore[no-untyped-def]
    b = grad_y.shape[0]
    c = x_hat.shape[3]
    grad_x = grad_y.new_empty((b, c, *in_grid)) if need_input else grad_y.new_empty(0)
    grad_w = weight.new_empty(weight.shape) if need_weight else weight.new_empty(0)
    return grad_x, grad_w


def _setup_context(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
    x, weight, bias, modes, _ = inputs
    _, x_hat = output
    ctx.save_for_backward(x_hat, weight, modes)
    ctx.in_grid = list(x.shape[2:])
    ctx.has_bias = bias is not None
    ctx.mark_non_differentiable(x_hat)


def _backward(ctx, grad_y: Tensor, _grad_x_hat: Tensor):  # type: ignore[no-untyped-def]
    x_hat, weight, modes = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    grad_x = grad_w = grad_b = None
    if need_x or need_w:
        gx, gw = torch.ops.spectral_sparse.triton_conv_backward(
            grad_y.contiguous(), x_hat, weight, modes, ctx.in_grid, bool(need_x), bool(need_w)
        )
        grad_x = gx if need_x else None
        grad_w = gw if need_w else None
    if need_b and ctx.has_bias:
        grad_b = grad_y.sum(dim=[0, *range(2, grad_y.ndim)])
    return grad_x, grad_w, grad_b, None, None


triton_conv.register_autograd(_backward, setup_context=_setup_context)
