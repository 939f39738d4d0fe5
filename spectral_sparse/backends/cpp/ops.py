"""``torch.library`` custom ops of the ``cpp`` backend, with fake and autograd implementations.

``spectral_sparse::cpp_conv(x, weight, bias, modes, out_grid) -> (y, x_hat)``
    The whole layer: fused analysis (one read of ``x``), per-mode mixing (one
    batched complex product, or an elementwise product for diagonal weights),
    fused synthesis with the bias added in the store of ``y`` (one write).
    ``x_hat`` (K, B, C) complex is the input spectrum at the modes; autograd
    saves it instead of ``x``.
``spectral_sparse::cpp_conv_backward(grad_y, x_hat, weight, modes, in_grid, has_bias, need_input, need_weight,
need_bias) -> (grad_x, grad_weight, grad_bias)``
    The adjoint. ``G = analysis(grad_y)`` with the output grid's unscaled
    tables (the forward synthesis evaluates ``Re(c_k Ŷ e^{2πi k·n/N'})``
    literally, so its adjoint is ``c_k G``); ``grad_x = synthesis(W^H c_k G)``
    with the input grid's scaled tables (the adjoint of the forward analysis);
    ``grad_W = c_k x̂^H G`` per mode; ``grad_b = Σ_batch Re G(0)`` (the plan
    carries a virtual ``k = 0`` when the set lacks one). A gradient that is
    not needed comes back as an empty tensor.

``modes`` is the unrestricted (K, d) index tensor; modes a grid does not
resolve have zero table rows (zero spectrum, zero contribution, zero
gradient), so no data-dependent shape reaches a traced graph. Double backward
is not implemented (the backward op has no autograd formula).
"""

from __future__ import annotations

import ctypes
from typing import Optional

import torch
from torch import Tensor

from .build import SSArgs, library
from .plan import CppPlan, GridTables, get_plan

__all__ = ["analysis", "conv", "cpp_conv", "cpp_conv_backward", "synthesis"]

_COMPLEX = {torch.float32: torch.complex64, torch.float64: torch.complex128}


def _ptr(t: Tensor | None) -> int | None:
    return None if t is None else t.data_ptr()


def _plan(modes: Tensor, in_grid: tuple[int, ...], out_grid: tuple[int, ...], dtype: torch.dtype, with_zero: bool):
    lib = library()
    if lib is None:  # the backend refuses calls then; reaching here is a bug
        raise RuntimeError("spectral_sparse: the cpp kernels are not available")
    return lib, get_plan(modes, in_grid, out_grid, dtype, with_zero, lib.vector_bytes)


def _fill(args: SSArgs, plan: CppPlan, tables: GridTables) -> None:
    """The plan's level structure and one grid's tables into ``args`` (the plan keeps them alive)."""
    d = len(tables.grid)
    args.ndim = d
    for i, n in enumerate(tables.grid):
        args.grid[i] = n
    args.n_last = plan.n_last
    args.last_bcast_cos = tables.last_bcast_cos.data_ptr()
    args.last_bcast_sin = tables.last_bcast_sin.data_ptr()
    args.last_rows_cos = tables.last_rows_cos.data_ptr()
    args.last_rows_sin = tables.last_rows_sin.data_ptr()
    args.last_rows_stride = tables.last_rows_cos.shape[1]
    args.n_stage = len(plan.stage_out)
    for s in range(len(plan.stage_out)):
        args.stage_out[s] = plan.stage_out[s]
        args.stage_parent[s] = plan.stage_parent[s].data_ptr()
        args.stage_freq[s] = plan.stage_freq[s].data_ptr()
        args.stage_cos[s] = tables.stage_cos[s].data_ptr()
        args.stage_sin[s] = tables.stage_sin[s].data_ptr()
        args.stage_stride[s] = tables.stage_cos[s].shape[1]
    args.n_threads = max(1, torch.get_num_threads())


def analysis(lib, plan: CppPlan, tables: GridTables, x: Tensor, inner: tuple[int, ...]) -> Tensor:
    """Spectrum of real fields at the plan's entries.

    Parameters
    ----------
    x : Tensor, shape (R, *tables.grid), contiguous, float32 or float64
    inner : tuple of int
        Trailing dimensions of the result, with product R (the result is
        allocated in its final shape, not viewed).

    Returns
    -------
    complex Tensor, shape (plan.n_entries, *inner)
    """
    rows = x.shape[0]
    out = torch.empty((plan.n_entries, *inner), dtype=_COMPLEX[x.dtype])
    if rows == 0 or x.numel() == 0:
        return out.zero_()
    args = SSArgs()
    _fill(args, plan, tables)
    args.x, args.out, args.spec, args.bias = x.data_ptr(), out.data_ptr(), None, None
    args.n_fields, args.n_bias = rows, 1
    args.n_modes = plan.n_entries
    lib.analysis[x.element_size()](ctypes.byref(args))
    return out


def synthesis(
    lib, plan: CppPlan, tables: GridTables, spec: Tensor, bias: Tensor | None, dtype: torch.dtype, lead: tuple[int, ...]
) -> Tensor:
    """Real fields from a spectrum at the plan's first ``plan.n_modes`` entries, plus a bias.

    Parameters
    ----------
    spec : complex Tensor, shape (K, R) with K = plan.n_modes, contiguous
    bias : Tensor, shape (n,) with R % n == 0 (field r gets ``bias[r % n]``), or None
    lead : tuple of int
        Leading dimensions of the output, with product R (allocated in its final
        shape: a custom op must not return a view).

    Returns
    -------
    Tensor, shape (*lead, *tables.grid), ``dtype``
    """
    rows = spec.shape[1]
    y = torch.empty((*lead, *tables.grid), dtype=dtype)
    if rows == 0:
        return y
    spec_r = torch.view_as_real(spec.contiguous())
    args = SSArgs()
    _fill(args, plan, tables)
    if len(tables.grid) == 1:
        args.n_last = plan.n_modes  # 1-D: the last level is the modes; the virtual k = 0 is not synthesised
    args.x, args.out, args.spec = None, y.data_ptr(), spec_r.data_ptr()
    args.bias = _ptr(bias)
    args.n_fields = rows
    args.n_bias = 1 if bias is None else bias.shape[0]
    args.n_modes = plan.n_modes
    lib.synthesis[y.element_size()](ctypes.byref(args))
    return y


def forward_impl(
    x: Tensor, weight: Tensor, bias: Tensor | None, modes: Tensor, out_grid: list[int]
) -> tuple[Tensor, Tensor]:
    """The computation of :func:`cpp_conv` (shared by the custom op and the eager autograd path)."""
    b, c = x.shape[:2]
    in_grid, out_grid_t = tuple(x.shape[2:]), tuple(out_grid)
    k = weight.shape[0]
    o = weight.shape[-1]
    lib, plan = _plan(modes, in_grid, out_grid_t, x.dtype, bias is not None)
    xs = analysis(lib, plan, plan.inp, x.contiguous().reshape(b * c, *in_grid), (b, c))
    x_hat = xs if xs.shape[0] == k else xs[:k].clone()  # a custom op returns no views
    ck = plan.ck
    if weight.ndim == 3:
        ys = torch.bmm(x_hat, weight * ck.reshape(k, 1, 1))
    else:
        ys = x_hat * (weight * ck.reshape(k, 1))[:, None, :]
    bias = None if bias is None else bias.contiguous()
    y = synthesis(lib, plan, plan.out, ys.reshape(k, b * o), bias, x.dtype, (b, o))
    return y, x_hat


def backward_impl(
    grad_y: Tensor,
    x_hat: Tensor,
    weight: Tensor,
    modes: Tensor,
    in_grid: list[int],
    has_bias: bool,
    need_input: bool,
    need_weight: bool,
    need_bias: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """The computation of :func:`cpp_conv_backward`."""
    b, o = grad_y.shape[:2]
    out_grid, in_grid_t = tuple(grad_y.shape[2:]), tuple(in_grid)
    k, _, c = x_hat.shape
    dtype = grad_y.dtype
    grad_x, grad_w, grad_b = grad_y.new_empty(0), weight.new_empty(0), grad_y.new_empty(0)
    if not (need_input or need_weight or need_bias):
        return grad_x, grad_w, grad_b
    lib, plan = _plan(modes, in_grid_t, out_grid, dtype, has_bias)
    gs = analysis(lib, plan, plan.out, grad_y.contiguous().reshape(b * o, *out_grid), (b, o))
    if need_bias:
        grad_b = gs[plan.zero].real.sum(0)
    ck = plan.ck
    g = gs[:k] * ck.reshape(k, 1, 1)
    if need_input:
        if weight.ndim == 3:
            gx = torch.bmm(g, weight.conj().transpose(1, 2))
        else:
            gx = g * weight.conj_physical()[:, None, :]  # a lazy conj view is lost under AOT tracing
        grad_x = synthesis(lib, plan, plan.inp, gx.reshape(k, b * c), None, dtype, (b, c))
    if need_weight:
        if weight.ndim == 3:
            grad_w = torch.bmm(x_hat.conj().transpose(1, 2), g)
        else:
            grad_w = (x_hat.conj_physical() * g).sum(1)
        grad_w = grad_w.to(weight.dtype)
    return grad_x, grad_w, grad_b


@torch.library.custom_op("spectral_sparse::cpp_conv", mutates_args=())
def cpp_conv(
    x: Tensor,
    weight: Tensor,
    bias: Optional[Tensor],  # noqa: UP045  (torch < 2.5 schema inference wants typing.Optional)
    modes: Tensor,
    out_grid: list[int],
) -> tuple[Tensor, Tensor]:
    """Forward of the sparse spectral convolution on the fused CPU kernels.

    Parameters
    ----------
    x : Tensor, shape (B, C, *N), 1 to 3 grid axes, float32 or float64 (CPU)
    weight : complex Tensor, shape (K, C, O) or (K, C), the complex dtype matching x
    bias : Tensor, shape (O,), dtype of x, or None
    modes : LongTensor, shape (K, d), canonical
    out_grid : list of d ints

    Returns
    -------
    y : Tensor, shape (B, O, *out_grid), dtype of x
    x_hat : complex Tensor, shape (K, B, C)
    """
    return forward_impl(x, weight, bias, modes, out_grid)


@cpp_conv.register_fake
def _cpp_conv_fake(x, weight, bias, modes, out_grid):  # type: ignore[no-untyped-def]
    b, c = x.shape[:2]
    y = x.new_empty((b, weight.shape[-1], *out_grid))
    x_hat = x.new_empty((weight.shape[0], b, c), dtype=_COMPLEX[x.dtype])
    return y, x_hat


@torch.library.custom_op("spectral_sparse::cpp_conv_backward", mutates_args=())
def cpp_conv_backward(
    grad_y: Tensor,
    x_hat: Tensor,
    weight: Tensor,
    modes: Tensor,
    in_grid: list[int],
    has_bias: bool,
    need_input: bool,
    need_weight: bool,
    need_bias: bool,
) -> tuple[Tensor, Tensor, Tensor]:
    """Input, weight and bias gradients of :func:`cpp_conv` (empty tensors where not needed).

    Parameters
    ----------
    grad_y : Tensor, shape (B, O, *out_grid)
    x_hat : complex Tensor, shape (K, B, C), the saved input spectrum
    weight : complex Tensor, shape (K, C, O) or (K, C)
    modes : LongTensor, shape (K, d)
    in_grid : list of d ints
    has_bias : bool
        Whether the forward had a bias (selects the same cached plan).
    need_input, need_weight, need_bias : bool

    Returns
    -------
    grad_x : Tensor, shape (B, C, *in_grid), dtype of grad_y (or empty)
    grad_weight : complex Tensor shaped like weight (or empty)
    grad_bias : Tensor, shape (O,) (or empty)
    """
    return backward_impl(grad_y, x_hat, weight, modes, in_grid, has_bias, need_input, need_weight, need_bias)


@cpp_conv_backward.register_fake
def _cpp_conv_backward_fake(grad_y, x_hat, weight, modes, in_grid, has_bias, need_input, need_weight, need_bias):  # type: ignore[no-untyped-def]
    b, o = grad_y.shape[:2]
    c = x_hat.shape[2]
    grad_x = grad_y.new_empty((b, c, *in_grid)) if need_input else grad_y.new_empty(0)
    grad_w = weight.new_empty(weight.shape) if need_weight else weight.new_empty(0)
    grad_b = grad_y.new_empty((o,)) if need_bias else grad_y.new_empty(0)
    return grad_x, grad_w, grad_b


def _save(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, modes: Tensor, x_hat: Tensor) -> None:  # type: ignore[no-untyped-def]
    ctx.save_for_backward(x_hat, weight, modes)
    ctx.in_grid = list(x.shape[2:])
    ctx.has_bias = bias is not None


def _grads(ctx, grad_y: Tensor, backward) -> tuple[Tensor | None, ...]:  # type: ignore[no-untyped-def]
    """The gradients autograd asks for, through ``backward`` (the custom op or :func:`backward_impl`)."""
    x_hat, weight, modes = ctx.saved_tensors
    need_x, need_w, need_b = ctx.needs_input_grad[:3]
    need_b = bool(need_b and ctx.has_bias)
    if not (need_x or need_w or need_b):
        return None, None, None, None, None
    gx, gw, gb = backward(grad_y, x_hat, weight, modes, ctx.in_grid, ctx.has_bias, bool(need_x), bool(need_w), need_b)
    return gx if need_x else None, gw if need_w else None, gb if need_b else None, None, None


def _setup_context(ctx, inputs, output) -> None:  # type: ignore[no-untyped-def]
    x, weight, bias, modes, _ = inputs
    _save(ctx, x, weight, bias, modes, output[1])
    ctx.mark_non_differentiable(output[1])


def _backward(ctx, grad_y: Tensor, _grad_x_hat: Tensor):  # type: ignore[no-untyped-def]
    return _grads(ctx, grad_y, torch.ops.spectral_sparse.cpp_conv_backward)


cpp_conv.register_autograd(_backward, setup_context=_setup_context)


class _EagerConv(torch.autograd.Function):
    """The same forward and backward outside ``torch.compile``, without the custom-op dispatch (~80 us a call)."""

    @staticmethod
    def forward(ctx, x, weight, bias, modes, out_grid):  # type: ignore[no-untyped-def, override]
        y, x_hat = forward_impl(x, weight, bias, modes, out_grid)
        _save(ctx, x, weight, bias, modes, x_hat)
        return y

    @staticmethod
    @torch.autograd.function.once_differentiable  # no double backward: say so rather than drop terms
    def backward(ctx, grad_y):  # type: ignore[no-untyped-def, override]
        return _grads(ctx, grad_y, backward_impl)


def conv(x: Tensor, weight: Tensor, bias: Tensor | None, modes: Tensor, out_grid: list[int]) -> Tensor:
    """The layer's output: the custom op under ``torch.compile``, else the same kernels called directly.

    Without a gradient to take the forward runs alone (nothing saved); with
    one, a :class:`torch.autograd.Function` with the same backward as the op.
    """
    if torch.compiler.is_compiling():
        return torch.ops.spectral_sparse.cpp_conv(x, weight, bias, modes, out_grid)[0]
    if torch.is_grad_enabled() and any(t is not None and t.requires_grad for t in (x, weight, bias)):
        return _EagerConv.apply(x, weight, bias, modes, out_grid)
    return forward_impl(x, weight, bias, modes, out_grid)[0]
