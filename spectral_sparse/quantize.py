"""Post-training quantization and quantization-aware training of spectral models.

A quantized model is the same model, on every grid, with its weights snapped to a
symmetric integer grid: each weight tensor ``w`` (the real and imaginary parts of a
complex spectral weight alike) becomes ``q * s`` with integers
``|q| <= qmax`` (``127`` for 8 bits, ``7`` for 4 bits) and one float scale ``s``
per slice along an axis: per mode (the rows of a spectral weight) or per output
channel. The model keeps computing with the float values ``q * s`` (cached in the
module's own ``weight`` Parameter, so every backend and kernel runs unchanged);
its ``state_dict`` and checkpoints hold the integers (``int8``, or two 4-bit values
per ``uint8``) and the scales instead, so they are about 4x / 8x smaller than
float32. Quantization makes a model **smaller, not faster**: the evaluation runs in
float with the same cost (measured in ``docs/compression.md``).

Quantized per layer kind (``pointwise=True`` adds the second group):

* :class:`~spectral_sparse.SparseSpectralConv` ``weight`` (complex): ``granularity``
  ``"mode"`` (one scale per mode) or ``"channel"`` (one per output channel);
* :class:`~spectral_sparse.lowrank.LowRankSpectralConv` factors and cores: per row;
* :class:`~spectral_sparse.models.pointwise.PointwiseConv`, ``nn.Linear`` and
  ``nn.Conv1d/2d/3d`` ``weight``: per output channel (8 bits for 4-bit models unless
  ``pointwise_bits`` says otherwise). Biases stay float.

With ``activations=True`` the inputs of those layers are also fake-quantized to 8-bit
(per tensor, affine), with ranges observed by ``torch.ao.quantization.MinMaxObserver``
on a ``calibration`` set. ``torch.ao``'s dynamic int8 ``nn.Linear`` is not used: its
packed weights cannot be loaded with ``torch.load(weights_only=True)``, and the only
``nn.Linear`` in these models is a small classification head.

:func:`prepare_qat` registers straight-through fake quantization on the same weights for
quantization-aware fine-tuning (forward with ``q * s``, gradient as if the rounding were the
identity); :func:`quantize_model` afterwards stores the result.

Examples
--------
>>> import torch
>>> from spectral_sparse.models import SpectralClassifier
>>> model = SpectralClassifier(1, 3, width=8, modes=3, depth=2)
>>> q = quantize_model(model, bits=8)
>>> q(torch.randn(2, 1, 20, 20)).shape, q(torch.randn(2, 1, 33, 47)).shape
(torch.Size([2, 3]), torch.Size([2, 3]))
>>> state_dict_bytes(q) < state_dict_bytes(model) / 2
True
"""

from __future__ import annotations

import copy
import math
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

from .layers import SparseSpectralConv

__all__ = [
    "BITS",
    "GRANULARITIES",
    "dequantize_tensor",
    "is_quantized",
    "prepare_qat",
    "quantize_model",
    "quantize_tensor",
    "quantized_parameters",
    "state_dict_bytes",
]

#: Supported integer widths.
BITS = (4, 8)
#: Scale granularities of the spectral weights.
GRANULARITIES = ("mode", "channel")
_QMAX = {4: 7, 8: 127}
_ATTR = "_quantized_params"


# ----------------------------------------------------------------------------- tensors
def _check_bits(bits: Any, what: str = "bits") -> int:
    if isinstance(bits, bool) or bits not in BITS:
        raise ValueError(f"{what} must be one of {BITS}, got {bits!r}")
    return int(bits)


def _real_view(w: Tensor) -> Tensor:
    return torch.view_as_real(w) if w.is_complex() else w


def _axis_of(w: Tensor, axis: int) -> int:
    if not -w.ndim <= axis < w.ndim:
        raise ValueError(f"axis {axis} is out of range for a weight of shape {tuple(w.shape)}")
    return axis % w.ndim


def _scale_shape(w: Tensor, axis: int) -> list[int]:
    """Broadcast shape of a per-``axis`` scale against the real view of ``w``."""
    shape = [1] * _real_view(w).ndim
    shape[axis] = w.shape[axis]
    return shape


def quantize_tensor(w: Tensor, bits: int = 8, axis: int = 0) -> tuple[Tensor, Tensor]:
    """Symmetric quantization with one scale per index along ``axis``.

    Parameters
    ----------
    w : Tensor, real or complex, any shape
        Complex tensors are quantized on their real and imaginary parts with a shared scale.
    bits : {4, 8}
    axis : int
        Axis of ``w`` that gets one scale per index (``0``: per mode / per output channel).

    Returns
    -------
    q : Tensor, int8, shape of ``torch.view_as_real(w)`` (complex) or of ``w``
        Integers with ``|q| <= qmax`` (127 or 7).
    scale : Tensor, float, shape (w.shape[axis],)
        ``max |w|`` over the slice divided by ``qmax`` (1 for an all-zero slice). Every
        element satisfies ``|w - q * scale| <= scale / 2``.

    Raises
    ------
    ValueError
        For other bit widths, an axis out of range, or a non-finite ``w``.

    Examples
    --------
    >>> q, s = quantize_tensor(torch.tensor([[1.0, -0.5], [0.0, 0.0]]), bits=8)
    >>> q.tolist(), s.tolist()
    ([[127, -64], [0, 0]], [0.007874015718698502, 1.0])
    """
    bits = _check_bits(bits)
    if not isinstance(w, Tensor) or not (w.is_floating_point() or w.is_complex()):
        raise TypeError(f"w must be a float or complex tensor, got {getattr(w, 'dtype', type(w))}")
    if not bool(torch.isfinite(w).all()):
        raise ValueError("cannot quantize a tensor with NaN or infinite values")
    axis = _axis_of(w, axis)
    r = _real_view(w.detach())
    dims = [d for d in range(r.ndim) if d != axis]
    amax = r.abs().amax(dim=dims) if dims else r.abs()
    scale = torch.where(amax > 0, amax / _QMAX[bits], torch.ones_like(amax))
    q = torch.round(r / scale.reshape(_scale_shape(w, axis))).clamp_(-_QMAX[bits], _QMAX[bits])
    return q.to(torch.int8), scale


def dequantize_tensor(q: Tensor, scale: Tensor, axis: int = 0, complex_out: bool = False) -> Tensor:
    """``q * scale`` broadcast along ``axis``; ``complex_out`` turns the trailing pair into complex values.

    Examples
    --------
    >>> w = torch.randn(3, 4, dtype=torch.cfloat)
    >>> q, s = quantize_tensor(w, 8, axis=0)
    >>> bool((dequantize_tensor(q, s, 0, complex_out=True) - w).abs().max() <= s.max())
    True
    """
    shape = [1] * q.ndim
    axis = axis % (q.ndim - 1 if complex_out else q.ndim)
    shape[axis] = q.shape[axis]
    w = q.to(scale.dtype) * scale.reshape(shape)
    return torch.view_as_complex(w.contiguous()) if complex_out else w


def _pack4(q: Tensor) -> Tensor:
    """Two 4-bit values (``q + 8`` in 0..15) per byte, flattened; an odd count is padded."""
    u = (q.flatten().to(torch.int16) + 8).to(torch.uint8)
    if u.numel() % 2:
        u = torch.cat([u, u.new_zeros(1)])
    return u[0::2] | (u[1::2] << 4)


def _unpack4(packed: Tensor, shape: Sequence[int]) -> Tensor:
    n = math.prod(shape)
    u = torch.stack([packed & 0xF, packed >> 4], dim=1).flatten()[:n]
    return (u.to(torch.int16) - 8).to(torch.int8).reshape(tuple(shape))


# ----------------------------------------------------------------------------- which weights
def _schemes(model: nn.Module, bits: int, granularity: str, pointwise: bool, pointwise_bits: int) -> dict[str, dict]:
    """``{"module.path.param": {"bits", "axis"}}`` for every weight this configuration quantizes."""
    from .lowrank import LowRankSpectralConv
    from .models.pointwise import PointwiseConv

    out: dict[str, dict] = {}
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        if isinstance(module, SparseSpectralConv):
            axis = 0 if granularity == "mode" else -1
            out[prefix + "weight"] = {"bits": bits, "axis": axis}
        elif isinstance(module, LowRankSpectralConv):
            for pname, p in module.named_parameters(recurse=False):
                if pname != "bias" and p is not None:
                    out[prefix + pname] = {"bits": bits, "axis": 0}
        elif pointwise and isinstance(module, (PointwiseConv, nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            out[prefix + "weight"] = {"bits": pointwise_bits, "axis": 0}
    return out


def _owner(model: nn.Module, path: str) -> tuple[nn.Module, str]:
    mod_name, _, pname = path.rpartition(".")
    return (model.get_submodule(mod_name) if mod_name else model), pname


def _param_value(module: nn.Module, pname: str) -> Tensor:
    """The parameter as stored (``LowRankSpectralConv`` keeps complex cores as real pairs)."""
    return getattr(module, pname)


# ----------------------------------------------------------------------------- state-dict hooks
def _state_dict_hook(module: nn.Module, state_dict: dict, prefix: str, local_metadata: Any) -> None:
    """Replace each quantized float weight by its integers (``<name>_q``); the scales are buffers."""
    for pname, spec in getattr(module, _ATTR, {}).items():
        key = prefix + pname
        if key not in state_dict:
            continue
        w = state_dict.pop(key)
        scale = getattr(module, pname + "_scale")
        axis = spec["axis"] % w.ndim
        if w.shape[axis] != scale.numel():
            raise ValueError(
                f"{key}: the weight has {w.shape[axis]} slices along axis {axis} but {scale.numel()} quantization "
                "scales (modes were removed after quantize_model); prune and compact before quantizing"
            )
        r = _real_view(w.detach())
        q = r / scale.to(r.dtype).reshape(_scale_shape(w, axis))
        rounded = torch.round(q)
        if bool(((q - rounded).abs() > 1e-3).any()) or bool((rounded.abs() > _QMAX[spec["bits"]]).any()):
            raise ValueError(
                f"{key} moved off its quantization grid after quantize_model (was it trained?); "
                "call quantize_model again, or use prepare_qat for quantization-aware training"
            )
        q8 = rounded.to(torch.int8)
        state_dict[key + "_q"] = q8 if spec["bits"] == 8 else _pack4(q8)


def _load_pre_hook(
    module: nn.Module, state_dict: dict, prefix: str, local_metadata: Any, strict: bool,
    missing_keys: list, unexpected_keys: list, error_msgs: list,
) -> None:  # fmt: skip
    """Turn ``<name>_q`` and ``<name>_scale`` back into the float weight before it is loaded."""
    for pname, spec in getattr(module, _ATTR, {}).items():
        qkey, skey = prefix + pname + "_q", prefix + pname + "_scale"
        if qkey not in state_dict or skey not in state_dict:
            continue
        target = _param_value(module, pname)
        scale = state_dict[skey]
        setattr(module, pname + "_scale", scale.detach().clone().to(target.device))  # a compacted mode count
        shape = list(_real_view(target).shape)
        shape[spec["axis"] % target.ndim] = scale.numel()
        q = state_dict.pop(qkey)
        q = q if spec["bits"] == 8 else _unpack4(q, shape)
        if list(q.shape) != shape:
            error_msgs.append(f"{qkey}: quantized weight of shape {tuple(q.shape)}, the layer expects {tuple(shape)}")
            continue
        w = dequantize_tensor(q, scale.to(_real_view(target).dtype), spec["axis"] % target.ndim, target.is_complex())
        state_dict[prefix + pname] = w


def _install(model: nn.Module, config: dict[str, Any]) -> None:
    """Register the quantization ``config`` on ``model``'s modules (scale buffers, hooks, frozen weights)."""
    for path, spec in config["params"].items():
        module, pname = _owner(model, path)
        table = module.__dict__.setdefault(_ATTR, {})
        if not table:
            module.register_state_dict_post_hook(_state_dict_hook)
            module.register_load_state_dict_pre_hook(_load_pre_hook)
        table[pname] = dict(spec)
        w = _param_value(module, pname)
        axis = spec["axis"] % w.ndim
        module.register_buffer(pname + "_scale", torch.ones(w.shape[axis], dtype=_real_view(w).dtype, device=w.device))
        w.requires_grad_(False)
    for name in config.get("activation_modules", []):
        module = model.get_submodule(name) if name else model
        module.register_buffer("input_scale", torch.ones(()))
        module.register_buffer("input_zero_point", torch.zeros((), dtype=torch.int64))
        module.register_forward_pre_hook(_fake_quant_input)
    model.quantization = copy.deepcopy(config)


def _fake_quant_input(module: nn.Module, args: tuple) -> tuple:
    x = args[0]
    s, z = float(module.input_scale), int(module.input_zero_point)
    return (torch.fake_quantize_per_tensor_affine(x, s, z, -128, 127), *args[1:])


# ----------------------------------------------------------------------------- public API
def is_quantized(model: nn.Module) -> bool:
    """Whether :func:`quantize_model` produced ``model``."""
    return isinstance(getattr(model, "quantization", None), dict)


def quantized_parameters(model: nn.Module) -> dict[str, dict[str, int]]:
    """``{"path.to.weight": {"bits", "axis"}}`` of a quantized model (empty otherwise)."""
    return copy.deepcopy(model.quantization["params"]) if is_quantized(model) else {}


def state_dict_bytes(model: nn.Module) -> int:
    """Bytes of the tensors in ``model.state_dict()`` (what a checkpoint stores, less its small header)."""
    return sum(t.numel() * t.element_size() for t in model.state_dict().values() if isinstance(t, Tensor))


def _check_arguments(model: Any, bits: Any, granularity: Any, pointwise_bits: Any, instead: str) -> tuple[int, int]:
    """Checked ``(bits, pointwise_bits)`` of :func:`quantize_model` and :func:`prepare_qat`; errors name it."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be an nn.Module, got {type(model).__name__}")
    bits, pointwise_bits = _check_bits(bits), _check_bits(pointwise_bits, "pointwise_bits")
    if granularity not in GRANULARITIES:
        raise ValueError(f"granularity must be one of {GRANULARITIES}, got {granularity!r}")
    if is_quantized(model):
        raise ValueError(f"the model is already quantized; {instead}")
    return bits, pointwise_bits


def quantize_model(
    model: nn.Module,
    bits: int = 8,
    granularity: str = "mode",
    *,
    pointwise: bool = True,
    pointwise_bits: int = 8,
    activations: bool = False,
    calibration: Iterable[Tensor] | None = None,
    inplace: bool = False,
) -> nn.Module:
    """Post-training quantization of a model's spectral (and pointwise/linear) weights.

    Parameters
    ----------
    model : nn.Module
        Any model holding :class:`~spectral_sparse.SparseSpectralConv` or
        :class:`~spectral_sparse.lowrank.LowRankSpectralConv` layers (a classifier,
        :class:`~spectral_sparse.models.fno.SparseFNO`, ...). Prune and compact first:
        removing modes from a quantized layer is refused when it is saved.
    bits : {4, 8}
        Width of the spectral weights.
    granularity : {"mode", "channel"}
        One scale per mode or per output channel of each spectral weight.
    pointwise : bool
        Also quantize 1x1 convolutions, ``nn.Linear`` and ``nn.ConvNd`` weights (per
        output channel), to ``pointwise_bits``.
    activations : bool
        Also fake-quantize the inputs of the quantized layers to 8 bits, with ranges
        observed on ``calibration``.
    calibration : iterable of Tensor, optional
        Input batches for the activation ranges (needed with ``activations=True``).
    inplace : bool
        Change ``model`` itself (default: a deep copy).

    Returns
    -------
    nn.Module
        The quantized model, in eval mode, with ``model.quantization`` holding its
        configuration (plain types; :func:`~spectral_sparse.checkpoint.save_checkpoint`
        stores it). Its state dict holds ``<name>_q`` integers and ``<name>_scale``
        floats in place of each quantized float weight.

    Raises
    ------
    ValueError
        Bad ``bits``/``granularity``, an already quantized model, a model without
        quantizable weights, ``activations=True`` without calibration batches, or a
        weight with NaN or infinite values.
    TypeError
        If ``model`` is not an ``nn.Module``.

    Examples
    --------
    >>> from spectral_sparse.models import SpectralClassifier
    >>> model = SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    >>> sorted(quantize_model(model, bits=4).state_dict())[:3]
    ['head.bias', 'head.weight_q', 'head.weight_scale']
    """
    bits, pointwise_bits = _check_arguments(
        model, bits, granularity, pointwise_bits, "quantize the float model it came from"
    )
    batches = None
    if activations:
        batches = list(calibration) if calibration is not None else []
        if not batches or not all(isinstance(b, Tensor) for b in batches):
            raise ValueError("activations=True needs calibration=<an iterable of input batches> (got none)")
    elif calibration is not None:
        raise ValueError("calibration batches are only used with activations=True")
    if not inplace:
        model = copy.deepcopy(model)
    _remove_qat(model)
    schemes = _schemes(model, bits, granularity, pointwise, pointwise_bits)
    if not schemes:
        raise ValueError(f"{type(model).__name__} holds no spectral, pointwise or linear weights to quantize")
    config: dict[str, Any] = {
        "bits": bits,
        "granularity": granularity,
        "pointwise": pointwise,
        "pointwise_bits": pointwise_bits,
        "params": schemes,
        "activation_modules": [],
    }
    values = {}
    for path, spec in schemes.items():
        module, pname = _owner(model, path)
        w = _param_value(module, pname)
        axis = spec["axis"] % w.ndim
        values[path] = (*quantize_tensor(w, spec["bits"], axis), axis, w.is_complex())
    if batches is not None:
        config["activation_modules"] = sorted({path.rpartition(".")[0] for path in schemes})
    ranges = _calibrate(model, config["activation_modules"], batches) if batches is not None else {}
    config["activation_modules"] = sorted(ranges)
    _install(model, config)
    with torch.no_grad():
        for path, (q, scale, axis, is_complex) in values.items():
            module, pname = _owner(model, path)
            w = _param_value(module, pname)
            getattr(module, pname + "_scale").copy_(scale)
            w.copy_(dequantize_tensor(q, scale, axis, is_complex).to(w.dtype))
        for name, (s, z) in ranges.items():
            module = model.get_submodule(name) if name else model
            module.input_scale.fill_(s)
            module.input_zero_point.fill_(z)
    return model.eval()


def _calibrate(model: nn.Module, names: list[str], batches: list[Tensor]) -> dict[str, tuple[float, int]]:
    """Per-tensor affine 8-bit ``(scale, zero_point)`` of each module's input over the calibration batches."""
    from torch.ao.quantization.observer import MinMaxObserver

    observers = {n: MinMaxObserver(dtype=torch.qint8, qscheme=torch.per_tensor_affine) for n in names}
    seen: set[str] = set()

    def observe(name: str) -> Any:
        def hook(module: nn.Module, args: tuple) -> None:
            seen.add(name)
            observers[name](args[0].detach())

        return hook

    hooks = []
    for n in names:
        module = model.get_submodule(n) if n else model
        hooks.append(module.register_forward_pre_hook(observe(n)))
    try:
        was = model.training
        model.eval()
        with torch.no_grad():
            for batch in batches:
                model(batch)
        model.train(was)
    finally:
        for h in hooks:
            h.remove()
    out = {}
    for n, obs in observers.items():
        if n not in seen:  # a layer the model evaluates through its weights, not its forward: inputs stay float
            continue
        s, z = obs.calculate_qparams()
        out[n] = (float(s), int(z))
    return out


# ----------------------------------------------------------------------------- QAT
class _FakeQuant(nn.Module):
    """Straight-through fake quantization: forward ``q * s``, gradient of the identity."""

    def __init__(self, bits: int, axis: int) -> None:
        super().__init__()
        self.bits, self.axis = bits, axis

    def forward(self, w: Tensor) -> Tensor:
        q, s = quantize_tensor(w.detach(), self.bits, self.axis)
        wq = dequantize_tensor(q, s, self.axis % w.ndim, w.is_complex()).to(w.dtype)
        return w + (wq - w).detach()


def prepare_qat(
    model: nn.Module,
    bits: int = 8,
    granularity: str = "mode",
    *,
    pointwise: bool = True,
    pointwise_bits: int = 8,
    inplace: bool = False,
) -> nn.Module:
    """Register straight-through fake quantization on the weights :func:`quantize_model` would quantize.

    Train the returned model as usual (the optimizer must be built on its parameters
    afterwards); then call :func:`quantize_model` with the same settings to store it.
    Prune before, not during: removing modes of a fake-quantized layer is not supported.

    Examples
    --------
    >>> from spectral_sparse.models import SpectralClassifier
    >>> model = prepare_qat(SpectralClassifier(1, 3, width=4, modes=2, depth=1), bits=4)
    >>> model(torch.randn(2, 1, 12, 12)).sum().backward()
    >>> quantized = quantize_model(model, bits=4)
    """
    bits, pointwise_bits = _check_arguments(
        model, bits, granularity, pointwise_bits, "prepare the float model for QAT instead"
    )
    if not inplace:
        model = copy.deepcopy(model)
    schemes = _schemes(model, bits, granularity, pointwise, pointwise_bits)
    if not schemes:
        raise ValueError(f"{type(model).__name__} holds no spectral, pointwise or linear weights to quantize")
    for path, spec in schemes.items():
        module, pname = _owner(model, path)
        if parametrize.is_parametrized(module, pname):
            raise ValueError(f"{path} is already parametrized (prepare_qat called twice?)")
        parametrize.register_parametrization(module, pname, _FakeQuant(spec["bits"], spec["axis"]), unsafe=True)
    return model


def _remove_qat(model: nn.Module) -> None:
    """Replace fake-quantized weights by their quantized values (a no-op without :func:`prepare_qat`)."""
    for module in model.modules():
        if not parametrize.is_parametrized(module):
            continue
        # A deepcopy of a parametrized module shares torch's injected class with the original, and
        # removing a parametrization deletes the property from that class: give this module its own.
        cls = type(module)
        own = {k: v for k, v in vars(cls).items() if k not in ("__dict__", "__weakref__")}
        module.__class__ = type(cls.__name__, cls.__bases__, own)
        for pname in list(module.parametrizations):
            if all(isinstance(p, _FakeQuant) for p in module.parametrizations[pname]):
                parametrize.remove_parametrizations(module, pname, leave_parametrized=True)
