r"""The sparse spectral convolution as a function, and backend dispatch.

The contract
------------
For a real input ``x`` of shape ``(B, C, *N)``, canonical modes ``M``
(a :class:`~spectral_sparse.ModeSet`) and complex weights ``W_k``:

* analysis on the input grid ``N`` (norm "forward"):
  ``x̂_c(k) = s_N(k) (1/|N|) Σ_n x_c(n) exp(-2πi k·n/N)``, where
  ``s_N(k) = Π_i (1/2 if 2|k_i| = N_i else 1)`` is the even-split Nyquist
  convention (the trigonometric interpolant shares a Nyquist bin evenly
  between ``+N_i/2`` and ``-N_i/2``; this makes :meth:`from_conv` exact);
* mixing: ``ŷ_o(k) = Σ_c W_k[c, o] x̂_c(k)`` (dense) or ``ŷ_c(k) = W_k[c] x̂_c(k)`` (diagonal);
* synthesis on the output grid ``N'``:
  ``y_o(n) = b_o + Σ_{k ∈ M'} c_k Re(ŷ_o(k) exp(2πi k·n/N'))``, ``c_0 = 1``, ``c_k = 2`` otherwise;
* ``M'`` keeps the modes both grids resolve: ``2|k_i| <= N_i`` and ``2|k_i| <= N'_i``.

Equivalently: the layer acts on the trigonometric interpolant of ``x`` and
its output function, low-passed to what ``N'`` can hold, is sampled on ``N'``.
For a band-limited input the result is independent of the input grid.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from ._checks import as_shape
from .backends import BackendUnavailableError, ConvCall, complex_dtype, get_backend, registered_backends
from .backends._common import LRUCache
from .modes import ModeSet

__all__ = ["select_backend", "sparse_spectral_conv"]

_MASKS = LRUCache(maxsize=256)
registered_backends()  # load the backends now: torch.compile cannot trace their registration on first use


def sparse_spectral_conv(
    x: Tensor,
    weight: Tensor,
    modes: ModeSet | Tensor | Sequence[Sequence[int]],
    bias: Tensor | None = None,
    output_shape: Sequence[int] | None = None,
    backend: str = "auto",
) -> Tensor:
    """Apply a sparse spectral convolution.

    Parameters
    ----------
    x : Tensor, shape (B, C, *N), float32 or float64
        Real fields on a periodic grid ``N`` with ``d = modes.ndim`` axes.
    weight : complex Tensor, shape (K, C, O) (dense mixing) or (K, C) (diagonal)
        One channel-mixing matrix per mode, aligned with ``modes.indices``.
        It is used at the complex precision matching ``x``.
    modes : ModeSet or (K, d) integer array
    bias : Tensor, shape (O,), optional
    output_shape : sequence of d ints, optional
        Output grid ``N'`` (default: the input grid).
    backend : {"auto", "fft", "cpp", "dft", "triton"}
        ``"auto"`` picks the cheapest backend that supports the call (see
        :func:`spectral_sparse.backends.available_backends`).

    Returns
    -------
    Tensor, shape (B, O, *N')

    Raises
    ------
    TypeError
        For complex or integer input, a real weight, or a non-real bias.
    ValueError
        For wrong ranks or shapes, mismatched channels or devices, non-finite
        weights, an ``output_shape`` of the wrong length, or a grid that resolves
        none of the modes. A forced backend that cannot take the call raises
        :class:`~spectral_sparse.backends.BackendUnavailableError` (a
        ``ValueError``) listing its reasons.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse import ModeSet
    >>> modes = ModeSet.box((4, 4))
    >>> w = torch.randn(len(modes), 3, 5, dtype=torch.cfloat)
    >>> sparse_spectral_conv(torch.randn(2, 3, 16, 12), w, modes).shape
    torch.Size([2, 5, 16, 12])
    >>> sparse_spectral_conv(torch.randn(2, 3, 16, 12), w, modes, output_shape=(9, 9)).shape
    torch.Size([2, 5, 9, 9])
    """
    if torch.compiler.is_compiling():
        y = _run_unrestricted(x, weight, modes, bias, output_shape, backend)
        if y is not None:
            return y
    call = prepare_call(x, weight, modes, bias, output_shape)
    if len(call.modes) == 0:
        return _bias_only(call)
    return select_backend(call, backend).run(call)


def _run_unrestricted(
    x: Tensor,
    weight: Tensor,
    modes: ModeSet | Tensor | Sequence[Sequence[int]],
    bias: Tensor | None,
    output_shape: Sequence[int] | None,
    backend: str,
) -> Tensor | None:
    """Under ``torch.compile``: run a backend that restricts the modes to the grids itself.

    Restricting the modes in Python is data-dependent (a graph break), so a
    backend with ``handles_unresolved_modes = True`` (``cpp`` on the CPU,
    ``triton`` on CUDA) gets the whole mode set and masks inside its custom
    op. ``"auto"`` takes the first such backend that supports the call.
    Returns ``None`` when none applies; the caller then takes the ordinary
    path (which breaks the graph).
    """
    call = prepare_call(x, weight, modes, bias, output_shape, restrict=False)
    if len(call.modes) == 0:
        return None
    if backend == "auto":
        candidates = list(registered_backends().values())
    else:
        candidates = [get_backend(backend)]
    for candidate in candidates:
        if getattr(candidate, "handles_unresolved_modes", False) and not candidate.not_supported_reasons(call):
            return candidate.run(call)
    return None


def prepare_call(
    x: Tensor,
    weight: Tensor,
    modes: ModeSet | Tensor | Sequence[Sequence[int]],
    bias: Tensor | None,
    output_shape: Sequence[int] | None,
    *,
    restrict: bool = True,
) -> ConvCall:
    """Validate the arguments and restrict the modes to those both grids resolve.

    With ``restrict=False`` the modes and weight are passed on whole (for a
    backend that masks unresolved modes itself; no data-dependent check runs).

    Raises
    ------
    TypeError
        If ``x`` is not a real floating-point tensor, ``weight`` is not complex or
        ``bias`` is not real floating-point.
    ValueError
        If the shapes, channels or devices disagree, a grid axis is empty, the weight or
        the bias holds NaN or infinite values (not checked while compiling), or the grids
        resolve none of the modes.
    """
    if not isinstance(modes, ModeSet):
        modes = ModeSet.from_indices(modes)
    d = modes.ndim
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"x must be a real floating-point tensor, got dtype {x.dtype}")
    if x.ndim != d + 2:
        raise ValueError(
            f"x must have shape (batch, channels, *grid) with {d} grid axes for {d}-D modes "
            f"(rank {d + 2}), got rank {x.ndim} (shape {tuple(x.shape)})"
        )
    if not isinstance(weight, Tensor) or not weight.is_complex():
        got = weight.dtype if isinstance(weight, Tensor) else type(weight).__name__
        raise TypeError(f"weight must be a complex tensor, got {got}")
    if weight.ndim not in (2, 3) or weight.shape[0] != len(modes):
        raise ValueError(
            f"weight must have shape (K, C, O) or (K, C) with K = {len(modes)} modes, got {tuple(weight.shape)}"
        )
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"channel mismatch: x has {x.shape[1]} channels but weight expects {weight.shape[1]}")
    if weight.device != x.device:
        raise ValueError(f"x is on {x.device} but weight is on {weight.device}")
    out_channels = weight.shape[-1] if weight.ndim == 3 else weight.shape[1]
    if bias is not None:
        if not isinstance(bias, Tensor) or bias.is_complex() or not bias.is_floating_point():
            raise TypeError("bias must be a real floating-point tensor")
        if bias.shape != (out_channels,):
            raise ValueError(f"bias must have shape ({out_channels},), got {tuple(bias.shape)}")
        if bias.device != x.device:
            raise ValueError(f"x is on {x.device} but bias is on {bias.device}")
        bias = bias.to(x.dtype)
    if not torch.compiler.is_compiling():
        if not _all_finite(torch.view_as_real(weight)):
            raise ValueError("weight contains NaN or infinite values")
        if bias is not None and not _all_finite(bias):
            raise ValueError("bias contains NaN or infinite values")

    in_grid = tuple(int(s) for s in x.shape[2:])
    if any(s < 1 for s in in_grid):
        raise ValueError(f"x has an empty grid axis: shape {tuple(x.shape)}")
    if output_shape is None:
        out_grid = in_grid
    else:
        out_grid = as_shape(output_shape, "output_shape")
        if len(out_grid) != d:
            raise ValueError(
                f"output_shape {tuple(output_shape)} has {len(out_grid)} entries; the modes are {d}-D, so it needs {d}"
            )

    weight = weight.to(complex_dtype(x.dtype))
    if not restrict:
        return ConvCall(x=x, weight=weight, modes=modes, bias=bias, in_grid=in_grid, out_grid=out_grid)
    mask = _MASKS.get((modes.key, in_grid, out_grid), lambda: modes.resolved(in_grid) & modes.resolved(out_grid))
    if len(modes) > 0 and not bool(mask.any()):
        raise ValueError(
            f"grid {in_grid} -> {out_grid} resolves none of the {len(modes)} modes "
            f"(resolving them all needs a grid of at least {modes.min_grid}; a grid N resolves k "
            "when 2|k_i| <= N_i on every axis)"
        )
    if not bool(mask.all()):
        modes = modes[mask]
        weight = weight[mask.to(weight.device)]
    return ConvCall(x=x, weight=weight, modes=modes, bias=bias, in_grid=in_grid, out_grid=out_grid)


def _all_finite(t: Tensor) -> bool:
    """No NaN or infinity in ``t``: one pass (min and max propagate NaN), 15x faster than ``isfinite(t).all()``."""
    if t.numel() == 0:
        return True
    lo, hi = torch.aminmax(t)
    return bool(torch.isfinite(lo) & torch.isfinite(hi))


def select_backend(call: ConvCall, backend: str = "auto"):
    """The one dispatch function: pick or check the backend for a call.

    ``backend="auto"`` takes the supported backend with the lowest estimated
    cost; a named backend is used if it supports the call, and otherwise a
    :class:`BackendUnavailableError` lists why it refused.
    """
    if backend != "auto":
        chosen = get_backend(backend)
        reasons = chosen.not_supported_reasons(call)
        if reasons:
            raise BackendUnavailableError(f"backend {backend!r} cannot run this call: " + "; ".join(reasons))
        return chosen
    candidates = []
    refusals: list[str] = []
    for candidate in registered_backends().values():
        reasons = candidate.not_supported_reasons(call)
        if reasons:
            refusals.extend(reasons)
        else:
            candidates.append((candidate.cost(call), candidate.name, candidate))
    if not candidates:
        raise BackendUnavailableError("no backend can run this call: " + "; ".join(refusals))
    return min(candidates, key=lambda c: (c[0], c[1]))[2]


def _bias_only(call: ConvCall) -> Tensor:
    shape = (call.batch, call.out_channels, *call.out_grid)
    # no mode survives: the output is the bias. Stay connected to the (empty, finite)
    # weight so autograd sees a zero gradient rather than a missing one.
    y = (call.weight.real.sum() * 0).to(call.dtype).expand(shape)
    if call.bias is not None:
        y = y + call.bias.reshape(1, -1, *([1] * len(call.out_grid)))
    return y.contiguous()
