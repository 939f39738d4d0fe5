"""Multi-resolution inference: predictions for batches at any grids, with a backend chosen per shape.

A model built from :class:`~spectral_sparse.SparseSpectralConv` runs on any grid,
and the fastest backend for a layer depends on the grid it meets (the ``fft``
cost grows with the grid, the ``dft`` cost with the modes). :func:`predict`
groups its inputs by shape and, for each shape, sets every spectral layer's
``backend`` to the one :func:`spectral_sparse.functional.select_backend` picks
for that layer's call (or to a forced backend), restoring the layers afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from ._checks import positive_int
from .backends import get_backend
from .functional import prepare_call, select_backend
from .layers import SparseSpectralConv
from .models.cnn_conversion import ChannelwiseFilter

__all__ = ["backend_for", "choose_backends", "plan_backends", "predict"]


def _check_backend_name(name: object) -> str:
    if not isinstance(name, str):
        raise TypeError(f"backend must be a str, got {type(name).__name__}")
    if name != "auto":
        get_backend(name)  # ValueError naming the known backends
    return name


@contextmanager
def backend_for(model: nn.Module, backend: str | Mapping[str, str]) -> Iterator[nn.Module]:
    """Temporarily set the ``backend`` of the spectral layers of a model.

    Parameters
    ----------
    model : nn.Module
    backend : str or mapping
        One backend (``"auto"``, ``"fft"``, ``"dft"``, ...) for every
        :class:`~spectral_sparse.SparseSpectralConv` in ``model``, or a mapping
        from layer names (as in ``model.named_modules()``) to backends; layers
        not in the mapping keep theirs.

    Yields
    ------
    nn.Module
        ``model``; on exit every layer gets its original backend back, also when
        the body raised.

    Examples
    --------
    >>> import torch, spectral_sparse as ss
    >>> model = torch.nn.Sequential(ss.SparseSpectralConv(1, 2, (4, 4)))
    >>> with backend_for(model, "dft"):
    ...     model[0].backend
    'dft'
    >>> model[0].backend
    'auto'
    """
    layers = {name: m for name, m in model.named_modules() if isinstance(m, SparseSpectralConv)}
    if isinstance(backend, Mapping):
        unknown = sorted(set(backend) - set(layers))
        if unknown:
            raise ValueError(f"backend mapping names no SparseSpectralConv of the model: {', '.join(unknown)}")
        wanted = {name: _check_backend_name(b) for name, b in backend.items()}
    else:
        wanted = dict.fromkeys(layers, _check_backend_name(backend))
    saved = [(m, m.backend) for m in layers.values()]
    try:
        for name, b in wanted.items():
            layers[name].backend = b
        yield model
    finally:
        for m, b in saved:
            m.backend = b


@contextmanager
def choose_backends(model: nn.Module, record: dict[str, str] | None = None) -> Iterator[nn.Module]:
    """Within the block, each spectral layer call first sets the layer's backend to the one chosen for its shape.

    The choice is ``select_backend(call, "auto")`` for the call the layer is about
    to make (input shape, output grid, dtype, device), cached per shape. Original
    backends are restored on exit. A call the layer cannot make is left alone,
    so that the layer raises its own error.

    Parameters
    ----------
    model : nn.Module
    record : dict, optional
        Filled with ``layer name -> chosen backend`` (the last call's choice).
    """
    names = {m: name for name, m in model.named_modules() if isinstance(m, SparseSpectralConv)}
    cache: dict[tuple, str] = {}

    def hook(layer: SparseSpectralConv, args: tuple, kwargs: dict[str, Any]) -> None:
        x = args[0] if args else kwargs.get("x")
        out = args[1] if len(args) > 1 else kwargs.get("output_shape")
        if not isinstance(x, Tensor):
            return
        if out is None and layer.resolution_scaling_factor is not None:
            out = layer._scaled_shape(x)
        key = (id(layer), tuple(x.shape), None if out is None else tuple(out), x.dtype, x.device)
        if key not in cache:
            try:
                call = prepare_call(x, layer.weight, layer.modes, layer.bias, out)
            except (TypeError, ValueError):
                return
            if len(call.modes) == 0:
                return
            cache[key] = select_backend(call, "auto").name
        layer.backend = cache[key]
        if record is not None:
            record[names[layer]] = cache[key]

    with ExitStack() as stack:
        stack.enter_context(backend_for(model, "auto"))
        for layer in names:
            stack.callback(layer.register_forward_pre_hook(hook, with_kwargs=True).remove)
        yield model


def plan_backends(model: nn.Module, shape: Sequence[int], dtype: torch.dtype | None = None) -> dict[str, str]:
    """The backend each spectral layer gets for inputs of one shape (runs the model once on zeros).

    Parameters
    ----------
    model : nn.Module
    shape : sequence of int
        ``(B, C, *grid)``.
    dtype : torch.dtype, optional
        Default: the dtype of the model's parameters.

    Returns
    -------
    dict
        Layer name -> backend name.

    Examples
    --------
    >>> from spectral_sparse.models import SpectralClassifier
    >>> model = SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    >>> plan_backends(model, (1, 1, 32, 32))  # doctest: +ELLIPSIS
    {'spectral.0': '...'}
    """
    device, real_dtype = _device_dtype(model)
    x = torch.zeros(tuple(shape), dtype=dtype or real_dtype, device=device)
    record: dict[str, str] = {}
    with _evaluating(model), torch.inference_mode(), choose_backends(model, record):
        model(x)
    return record


def predict(
    model: nn.Module,
    batches: Tensor | Sequence[Tensor],
    *,
    backend: str = "auto",
    batch_size: int | None = None,
    return_logits: bool = False,
) -> Tensor | list[Tensor]:
    """Predictions of a classifier for batches at any resolution.

    Inputs are grouped by shape ``(C, *grid)``; each group runs in eval mode under
    :func:`torch.inference_mode`, with every spectral layer's backend set per call
    shape (``backend="auto"``: what :func:`~spectral_sparse.functional.select_backend`
    picks; otherwise the forced backend). Train/eval flags and backends are
    restored afterwards, also on error. Batches are moved to the device and
    floating dtype of the model's parameters.

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, C, *grid)`` to logits ``(B, num_classes)``.
    batches : Tensor or sequence of Tensor
        One batch ``(B, C, *grid)``, or several, each at its own grid (square or not).
    backend : str
        ``"auto"`` or a backend name, e.g. ``"fft"`` or ``"dft"``.
    batch_size : int, optional
        Largest number of samples per forward call. ``None``: one call per distinct
        shape (the inputs of that shape concatenated).
    return_logits : bool
        Return the logits ``(B, num_classes)`` instead of the predicted classes.

    Returns
    -------
    Tensor or list of Tensor
        For a tensor input a tensor, for a sequence a list in the input order:
        classes ``(B,)`` (``torch.long``) or logits ``(B, num_classes)``.

    Raises
    ------
    TypeError
        For a non-tensor input or a non-floating one.
    ValueError
        For an empty sequence, a wrong rank or channel count (when the model's
        first layer tells the expected ones), a bad ``batch_size`` or an unknown
        backend.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.models import SpectralClassifier
    >>> model = SpectralClassifier(1, 5, width=4, modes=3, depth=1)
    >>> predict(model, torch.randn(4, 1, 28, 28)).shape
    torch.Size([4])
    >>> [p.shape for p in predict(model, [torch.randn(2, 1, 28, 28), torch.randn(3, 1, 40, 24)])]
    [torch.Size([2]), torch.Size([3])]
    """
    single = isinstance(batches, Tensor)
    if single:
        items = [batches]
    elif isinstance(batches, Sequence) and not isinstance(batches, (str, bytes)):
        items = list(batches)
        if not items:
            raise ValueError("batches is an empty sequence; pass a tensor (B, C, *grid) or a non-empty list of them")
    else:
        raise TypeError(f"batches must be a tensor or a sequence of tensors, got {type(batches).__name__}")
    _check_backend_name(backend)
    if batch_size is not None:
        positive_int(batch_size, "batch_size", what="a positive int or None")
    expected = _expected_input(model)
    for i, x in enumerate(items):
        _check_input(x, "batches" if single else f"batches[{i}]", expected)

    device, dtype = _device_dtype(model)
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, x in enumerate(items):
        groups.setdefault(tuple(x.shape[1:]), []).append(i)
    results: list[Tensor | None] = [None] * len(items)
    with ExitStack() as stack:
        stack.enter_context(_evaluating(model))
        stack.enter_context(torch.inference_mode())
        stack.enter_context(choose_backends(model) if backend == "auto" else backend_for(model, backend))
        for idx in groups.values():
            xs = torch.cat([items[i] for i in idx]) if len(idx) > 1 else items[idx[0]]
            xs = xs.to(device=device, dtype=dtype)
            chunks = [xs] if batch_size is None else list(xs.split(batch_size))
            logits = torch.cat([_logits(model, chunk) for chunk in chunks])
            for i, part in zip(idx, logits.split([items[i].shape[0] for i in idx])):
                results[i] = part if return_logits else part.argmax(dim=1)
    return results[0] if single else results


def _logits(model: nn.Module, x: Tensor) -> Tensor:
    out = model(x)
    if not isinstance(out, Tensor) or out.ndim != 2 or out.shape[0] != x.shape[0]:
        got = tuple(out.shape) if isinstance(out, Tensor) else type(out).__name__
        raise ValueError(f"predict expects the model to return logits (B, num_classes) = ({x.shape[0]}, C); got {got}")
    return out


@contextmanager
def _evaluating(model: nn.Module) -> Iterator[None]:
    flags = [(m, m.training) for m in model.modules()]
    try:
        model.eval()
        yield
    finally:
        for m, flag in flags:
            m.training = flag


def _device_dtype(model: nn.Module) -> tuple[torch.device, torch.dtype]:
    for p in model.parameters():
        if p.is_floating_point():
            return p.device, p.dtype
    for p in model.parameters():
        return p.device, p.real.dtype
    return torch.device("cpu"), torch.get_default_dtype()


def _grid_axes(module: nn.Module) -> int | None:
    """The grid dimension a convolution-like layer declares, or None.

    The protocol: an integer ``in_channels`` plus one of ``modes.ndim`` (spectral
    layers), an integer ``ndim`` (1x1 layers) or a tuple ``kernel_size``
    (``torch.nn`` convolutions). Layers of any class that say so qualify.
    """
    if not isinstance(getattr(module, "in_channels", None), int):
        return None
    ndim = getattr(getattr(module, "modes", None), "ndim", None)
    if ndim is None:
        ndim = getattr(module, "ndim", None)
    if ndim is None and isinstance(getattr(module, "kernel_size", None), tuple):
        ndim = len(module.kernel_size)  # type: ignore[arg-type]
    return ndim if isinstance(ndim, int) and not isinstance(ndim, bool) else None


def _expected_input(model: nn.Module) -> tuple[int, int, str] | None:
    """``(channels, grid axes, layer name)`` from the model's first layer, when it is a convolution (see _grid_axes)."""

    def first(module: nn.Module, prefix: str) -> tuple[int, int, str] | bool | None:
        children = list(module.named_children())
        axes = _grid_axes(module)
        if axes is not None:
            return module.in_channels, axes, prefix or type(module).__name__  # type: ignore[return-value]
        if isinstance(module, ChannelwiseFilter) or (not children and next(module.parameters(), None) is None):
            return False  # keeps the channels: look further
        if not children:
            return None  # a layer with parameters that says nothing about channels
        for name, child in children:
            found = first(child, f"{prefix}.{name}" if prefix else name)
            if found is not False:
                return found
        return False

    found = first(model, "")
    return found if isinstance(found, tuple) else None


def _check_input(x: object, what: str, expected: tuple[int, int, str] | None) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{what} must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(f"{what} must be a real floating-point tensor, got dtype {x.dtype}")
    if expected is None:
        if x.ndim < 3:
            raise ValueError(f"{what} must have shape (B, C, *grid), got {tuple(x.shape)}")
        return
    channels, ndim, layer = expected
    names = {1: ("N",), 2: ("H", "W"), 3: ("D", "H", "W")}.get(ndim, ("...",))
    axes = ", ".join(["B", str(channels), *names])
    if x.ndim != ndim + 2 or x.shape[1] != channels:
        raise ValueError(
            f"{what} has shape {tuple(x.shape)}, but the model's first layer ({layer!r}) expects {channels} "
            f"channels and {ndim} grid axes: ({axes})"
        )
