"""The sparse spectral convolution layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import torch
from torch import Tensor, nn

from ._checks import as_shape, positive_int
from .functional import sparse_spectral_conv
from .modes import ModeSet
from .resample import resample

__all__ = ["SparseSpectralConv"]

_COMPLEX_OF = {torch.float32: torch.complex64, torch.float64: torch.complex128}
# neuraloperator's FNO blocks pass these to their conv module; they do not change
# the function a dense spectral layer computes, so they are accepted and ignored
_NEURALOP_IGNORED = ("rank", "fixed_rank_modes", "implementation", "decomposition_kwargs", "device")
_N_MODES_FORMS = ("box", "rfft")


@torch.no_grad()
def resize_parameter(param: nn.Parameter, value: Tensor) -> None:
    """Give ``param`` (the same object, which optimizers hold) the values of ``value``, of any shape.

    A ``.grad`` of the old shape is dropped. Autograd caches a leaf's gradient
    accumulator together with the leaf's shape, and ``param.data = value`` renews that
    cache only when the dtype or device changes: while a graph of an earlier forward is
    still alive (a ``loss`` variable kept), the next backward would check the gradient
    against the old shape and fail. A change of dtype in between renews it.
    """
    if param.grad is not None and param.grad.shape != value.shape:
        param.grad = None
    if param.shape != value.shape:
        other = torch.complex128 if param.dtype != torch.complex128 else torch.complex64
        param.data = param.data.new_empty(0, dtype=other)  # renews the cached gradient accumulator
    param.data = value.detach().clone()


class SparseSpectralConv(nn.Module):
    """Spectral convolution whose parameters live on a sparse set of Fourier modes.

    The layer stores a grid-independent :class:`~spectral_sparse.ModeSet` and
    one complex channel-mixing matrix per mode; it runs on any grid and, for a
    band-limited input, computes the same function whatever grid the input
    came on. See :mod:`spectral_sparse.functional` for the exact contract.

    Parameters
    ----------
    in_channels, out_channels : int
    modes : ModeSet, int or tuple of int
        The modes to keep; an int or tuple is neuraloperator's ``n_modes`` and
        means ``ModeSet.box(n_modes)``.
    mixing : {"dense", "diagonal"}
        Full channel mixing per mode, or one complex gain per channel (needs
        ``in_channels == out_channels``).
    bias : bool
    backend : {"auto", "fft", "dft"}
    **neuralop_kwargs
        The keyword arguments neuraloperator's ``FNOBlocks`` passes to its conv
        module, so the layer is a drop-in ``conv_module``: ``separable=True``
        means diagonal mixing, ``resolution_scaling_factor`` scales the output
        grid, ``init_std`` sets the initial weight scale, ``max_n_modes`` sizes
        the weight storage (see *Changing n_modes*); ``rank``,
        ``fixed_rank_modes``, ``implementation`` and ``decomposition_kwargs``
        are ignored; a factorization, complex data or reduced
        ``fno_block_precision`` raise ``ValueError``.

    Attributes
    ----------
    weight : complex Parameter, shape (K, in, out) or (K, channels)
        One row per stored mode, aligned with ``modes.indices``.
    bias : Parameter, shape (out,), or None
    modes : ModeSet
        The stored modes. Also kept as the buffer ``mode_indices`` so it
        survives ``state_dict``.
    active_modes : ModeSet
        The modes the layer computes with: ``modes`` unless ``n_modes`` was set
        to a smaller box (``modes[mode_mask]``).
    mode_mask : BoolTensor buffer, shape (K,)
        Which stored modes are active (not saved in ``state_dict``, like
        neuraloperator's ``n_modes``).
    n_modes : tuple or list of int
        The box of active modes, see *Changing n_modes*.
    max_n_modes : tuple or list of int
        The box that the stored modes fill.
    n_modes_form : {"box", "rfft"}
        How ``n_modes`` and ``max_n_modes`` read back. ``"box"`` (the default):
        the tuple ``n`` with ``ModeSet.box(n) == active_modes``, so
        ``layer.n_modes = layer.n_modes`` changes nothing. ``"rfft"``
        (neuraloperator's form, taken when the layer is built by a neuraloperator
        block, i.e. with a ``max_n_modes`` keyword, or by ``from_neuralop``):
        a list whose last entry counts rfft bins, ``[8, 5]`` for
        ``n_modes=(8, 8)``; the setter still takes the box form, as
        neuraloperator's does.

    Notes
    -----
    *Changing n_modes.* The weights are stored for the box ``max_n_modes``
    (default: ``n_modes``), as neuraloperator does. Setting ``n_modes`` to a
    box inside the storage only changes ``mode_mask``: the ``weight``
    Parameter keeps its object and its shape, so an optimizer built before
    (and its Adam moments) keeps training it, and inactive modes keep their
    values for when they come back. A box beyond the storage grows it in
    place (same Parameter object, the new modes start at zero, ``max_n_modes``
    grows with it). Growing, like ``set_modes``, ``compact`` or loading a
    checkpoint with other modes, changes the shape of ``weight``: state an
    optimizer holds for it no longer fits (Adam's next step would raise) and
    must be dropped, ``optimizer.state.pop(layer.weight, None)``, after
    which Adam starts fresh moments for it.

    Examples
    --------
    >>> import torch
    >>> layer = SparseSpectralConv(3, 8, ModeSet.radial(4, ndim=2))
    >>> layer(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 8, 32, 32])
    >>> layer(torch.randn(2, 3, 20, 45), output_shape=(64, 64)).shape
    torch.Size([2, 8, 64, 64])
    >>> grow = SparseSpectralConv(2, 2, (2, 2), max_n_modes=(8, 8))
    >>> weight = grow.weight
    >>> grow.n_modes = (6, 6)
    >>> grow.weight is weight, len(grow.modes), len(grow.active_modes), grow.n_modes
    (True, 37, 22, [6, 4])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: ModeSet | int | Sequence[int],
        mixing: str = "dense",
        bias: bool = True,
        backend: str = "auto",
        **neuralop_kwargs: Any,
    ) -> None:
        super().__init__()
        form = "rfft" if "max_n_modes" in neuralop_kwargs else "box"
        max_n_modes = neuralop_kwargs.pop("max_n_modes", None)
        mixing, scaling, init_std = _neuralop_options(mixing, neuralop_kwargs)
        positive_int(in_channels, "in_channels")
        positive_int(out_channels, "out_channels")
        if mixing not in ("dense", "diagonal"):
            raise ValueError(f"mixing must be 'dense' or 'diagonal', got {mixing!r}")
        if mixing == "diagonal" and in_channels != out_channels:
            raise ValueError(f"diagonal mixing needs in_channels == out_channels, got {in_channels} and {out_channels}")
        self.n_modes_form = form
        self._max_given: tuple[int, ...] | None = None
        if isinstance(modes, ModeSet):
            if max_n_modes is not None:
                raise ValueError("max_n_modes sizes a box of modes; it cannot be combined with a ModeSet")
            self._box_n_modes: tuple[int, ...] | None = None
            self._max_box: tuple[int, ...] | None = None
            active = stored = modes
        else:
            self._box_n_modes = as_shape(modes, "n_modes")
            self._max_box = self._box_n_modes
            if max_n_modes is not None:
                self._max_given = as_shape(max_n_modes, "max_n_modes")
                if len(self._max_given) != len(self._box_n_modes):
                    raise ValueError(
                        f"max_n_modes {self._max_given} and n_modes {self._box_n_modes} have different lengths"
                    )
                self._max_box = tuple(max(a, b) for a, b in zip(self._max_given, self._box_n_modes))
            active, stored = ModeSet.box(self._box_n_modes), ModeSet.box(self._max_box)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mixing, self.backend = mixing, backend
        self.resolution_scaling_factor = scaling
        self.initial_num_modes = len(stored)
        if init_std == "auto":
            init_std = 1.0 if mixing == "diagonal" else math.sqrt(1.0 / in_channels)
        shape = (len(stored), in_channels) if mixing == "diagonal" else (len(stored), in_channels, out_channels)
        self.weight = nn.Parameter(torch.randn(*shape, dtype=torch.cfloat) * float(init_std))
        self.register_buffer("mode_indices", stored.indices.clone())
        self.register_buffer("mode_mask", _member(stored, active), persistent=False)
        self._modes = self._max_stored = stored
        self._active: tuple[ModeSet, dict[torch.device, Tensor]] | None = self._compute_active()
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    # ------------------------------------------------------------------ evaluation
    @property
    def modes(self) -> ModeSet:
        """The stored modes, aligned with the first axis of ``weight``."""
        return self._modes

    @property
    def active_modes(self) -> ModeSet:
        """The modes the layer computes with (``modes`` restricted to ``mode_mask``)."""
        return self._active_state()[0]

    @property
    def n_modes(self) -> tuple[int, ...] | list[int]:
        """The box of active modes, in the form ``n_modes_form`` names.

        The box given at construction (or through the setter) while the active
        modes are still exactly that box; otherwise a box computed from them,
        which holds them all but may be larger than the smallest one.
        """
        return self._as_form(_holding_box(self.active_modes, self._box_n_modes))

    @n_modes.setter
    def n_modes(self, n_modes: int | Sequence[int]) -> None:
        """Activate ``ModeSet.box(n_modes)``: a mask inside the storage, an in-place growth beyond it."""
        n = as_shape(n_modes, "n_modes")
        if len(n) != self._modes.ndim:
            raise ValueError(f"n_modes {n} has {len(n)} entries but the layer is {self._modes.ndim}-D")
        target = ModeSet.box(n)
        mask = _member(self._modes, target)
        if int(mask.sum()) < len(target):  # beyond the storage: grow it, keeping every stored weight
            if self._max_box is not None:
                self._max_box = tuple(max(a, b) for a, b in zip(self._max_box, n))
                grown = ModeSet.box(self._max_box)
            else:
                extra = target.indices[~_member(target, self._modes)]
                grown = ModeSet.from_indices(torch.cat([self._modes.indices, extra]))
            self._resize(grown)
            mask = _member(self._modes, target)
        self._set_mask(mask)
        self._box_n_modes = n

    @property
    def max_n_modes(self) -> tuple[int, ...] | list[int]:
        """The box the stored modes fill (neuraloperator's ``max_n_modes``), in ``n_modes_form``.

        In the ``"rfft"`` form, while the stored modes are the ones built from a
        given ``max_n_modes``, that value as given (neuraloperator keeps it as is).
        """
        if self.n_modes_form == "rfft" and self._max_given is not None and self._modes is self._max_stored:
            return list(self._max_given)
        return self._as_form(_holding_box(self._modes, self._max_box))

    def _as_form(self, box: tuple[int, ...]) -> tuple[int, ...] | list[int]:
        if self.n_modes_form not in _N_MODES_FORMS:
            raise ValueError(f"n_modes_form must be one of {_N_MODES_FORMS}, got {self.n_modes_form!r}")
        return box if self.n_modes_form == "box" else [*box[:-1], box[-1] // 2 + 1]

    def _active_state(self) -> tuple[ModeSet, dict[torch.device, Tensor]]:
        if self._active is None:
            self._active = self._compute_active()
        return self._active

    def _compute_active(self) -> tuple[ModeSet, dict[torch.device, Tensor]]:
        # computed when the mask changes, not in forward: under torch.compile `mask.all()` and the
        # masked selection are data-dependent (a graph break, an error with fullgraph=True)
        mask = self.mode_mask.cpu()
        if bool(mask.all()):
            return self._modes, {}
        return self._modes[mask], {self.mode_mask.device: self.mode_mask.nonzero().flatten()}

    def _active_weight(self) -> tuple[Tensor, ModeSet]:
        modes, rows = self._active_state()
        if modes is self._modes:
            return self.weight, modes
        device = self.weight.device
        if device not in rows:
            rows[device] = self.mode_mask.nonzero().flatten().to(device)
        return self.weight.index_select(0, rows[device]), modes

    def forward(self, x: Tensor, output_shape: Sequence[int] | None = None) -> Tensor:
        """Apply the layer.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, *grid)
        output_shape : sequence of int, optional
            Output grid (default: the input grid, or the input grid times
            ``resolution_scaling_factor`` when that is set).

        Returns
        -------
        Tensor, shape (B, out_channels, *output_shape)
        """
        if output_shape is None and self.resolution_scaling_factor is not None:
            output_shape = self._scaled_shape(x)
        weight, modes = self._active_weight()
        return sparse_spectral_conv(x, weight, modes, self.bias, output_shape=output_shape, backend=self.backend)

    def transform(self, x: Tensor, output_shape: Sequence[int] | None = None) -> Tensor:
        """Resample ``x`` to the grid ``forward`` would output (neuraloperator's skip path)."""
        if output_shape is None:
            if self.resolution_scaling_factor is None:
                return x
            output_shape = self._scaled_shape(x)
        shape = as_shape(output_shape, "output_shape")
        return x if tuple(x.shape[2:]) == shape else resample(x, shape)

    def _scaled_shape(self, x: Tensor) -> tuple[int, ...]:
        factors = self.resolution_scaling_factor
        if isinstance(factors, (int, float)):
            factors = [factors] * (x.ndim - 2)
        return tuple(max(1, round(s * f)) for s, f in zip(x.shape[2:], factors))

    # ------------------------------------------------------------------ sparsity
    @torch.no_grad()
    def compact(self) -> SparseSpectralConv:
        """Remove the modes whose weights are all zero, and with them their cost.

        The output is unchanged. The ``weight`` Parameter keeps its object but
        shrinks, so optimizer state held for it must be dropped (see the class
        notes).

        Returns
        -------
        SparseSpectralConv
            ``self``.

        Examples
        --------
        >>> layer = SparseSpectralConv(2, 2, (8, 8))
        >>> with torch.no_grad():
        ...     layer.weight[5:] = 0
        >>> len(layer.compact().modes)
        5
        """
        keep = (self.weight != 0).flatten(1).any(dim=1)
        if not bool(keep.all()):
            self._replace(self._modes[keep.cpu()], self.weight[keep], self.mode_mask[keep])
        return self

    @torch.no_grad()
    def set_modes(self, modes: ModeSet) -> SparseSpectralConv:
        """Store and activate ``modes``: shared modes keep their weights, new modes start at zero.

        The ``weight`` Parameter keeps its object and is resized in place.
        """
        if modes.ndim != self._modes.ndim:
            raise ValueError(f"new modes are {modes.ndim}-D but the layer is {self._modes.ndim}-D")
        self._resize(modes)
        self._box_n_modes = self._max_box = None
        return self

    @torch.no_grad()
    def _resize(self, modes: ModeSet) -> None:
        """Store ``modes`` (shared modes keep their weights and their mask, new ones start at zero, active)."""
        old = {tuple(k): i for i, k in enumerate(self._modes.indices.tolist())}
        weight = self.weight.new_zeros(len(modes), *self.weight.shape[1:])
        mask = torch.ones(len(modes), dtype=torch.bool, device=self.mode_mask.device)
        for j, k in enumerate(modes.indices.tolist()):
            if tuple(k) in old:
                weight[j] = self.weight[old[tuple(k)]]
                mask[j] = self.mode_mask[old[tuple(k)]]
        self._replace(modes, weight, mask)

    @torch.no_grad()
    def _replace(self, modes: ModeSet, weight: Tensor, mask: Tensor | None = None) -> None:
        # in place: the Parameter object stays the one optimizers hold
        resize_parameter(self.weight, weight)
        self.mode_indices = modes.indices.clone().to(self.mode_indices.device)
        self._modes = modes
        self._set_mask(torch.ones(len(modes), dtype=torch.bool) if mask is None else mask)

    def _set_mask(self, mask: Tensor) -> None:
        self.mode_mask = mask.to(device=self.mode_mask.device, dtype=torch.bool).clone()
        self._active = self._compute_active()

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        # nn.Module casts a complex parameter with a *real* dtype (``.to(torch.float64)``
        # drops the imaginary part) or not at all (``.double()``). Cast the spectral
        # weight to the complex counterpart of the real dtype the conversion targets.
        # under torch.nn.utils.parametrize (quantization-aware training) the Parameter is the
        # parametrization's ``original``
        holder, key = (self, "weight") if "weight" in self._parameters else (self.parametrizations.weight, "original")
        order = list(holder._parameters)
        weight = holder._parameters.pop(key)
        try:
            super()._apply(fn, recurse)
        finally:
            holder._parameters[key] = weight
            holder._parameters = type(holder._parameters)((k, holder._parameters[k]) for k in order)
        probe = fn(torch.zeros((), dtype=weight.real.dtype, device=weight.device))
        dtype = _COMPLEX_OF.get(probe.dtype, weight.dtype)
        with torch.no_grad():
            weight.data = weight.data.to(device=probe.device, dtype=dtype)
            if weight.grad is not None:
                weight.grad.data = weight.grad.data.to(device=probe.device, dtype=dtype)
        return self

    @torch.no_grad()
    def _load_converted(self, weight: Tensor, bias: Tensor | None) -> None:
        # keep the converted precision (complex128 from a float64 layer)
        self.weight.data = weight.clone()
        if bias is not None and self.bias is not None:
            self.bias.data = bias.clone()

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):  # type: ignore[no-untyped-def]
        # a checkpoint may hold a different (e.g. compacted) mode set: adopt it first
        key = prefix + "mode_indices"
        if key in state_dict:
            stored = state_dict[key]
            if stored.shape != self.mode_indices.shape or not torch.equal(stored.cpu(), self.mode_indices.cpu()):
                modes = ModeSet.from_indices(stored)
                if modes.ndim != self._modes.ndim:
                    error_msgs.append(f"{key}: checkpoint modes are {modes.ndim}-D, layer is {self._modes.ndim}-D")
                else:
                    with torch.no_grad():
                        self._replace(modes, self.weight.new_zeros(len(modes), *self.weight.shape[1:]))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        kept = len(self._modes)
        frac = 100.0 * kept / max(1, self.initial_num_modes)
        active = len(self.active_modes)
        masked = "" if active == kept else f", active={active}"
        return (
            f"{self.in_channels}, {self.out_channels}, modes={self._modes!r}, mixing={self.mixing!r}, "
            f"kept={kept}/{self.initial_num_modes} ({frac:.1f}%){masked}, bias={self.bias is not None}, "
            f"backend={self.backend!r}"
        )

    # ------------------------------------------------------------------ conversions
    @classmethod
    def from_conv(cls, conv: nn.Module, grid_shape: int | Sequence[int], backend: str = "auto") -> SparseSpectralConv:
        """The spectral layer equal to a circular-padded convolution on one grid.

        Parameters
        ----------
        conv : nn.Conv1d, nn.Conv2d or nn.Conv3d
            Stride 1, output grid equal to the input grid (``padding = dilation *
            (kernel - 1) / 2`` or ``"same"``) with ``padding_mode="circular"``
            (any mode for a 1x1 kernel), ``groups`` 1 or depthwise.
        grid_shape : int or tuple of int
            The grid on which the two agree exactly (all its modes are kept).

        Examples
        --------
        >>> conv = nn.Conv2d(2, 3, 3, padding=1, padding_mode="circular")
        >>> layer = SparseSpectralConv.from_conv(conv, (10, 11))
        >>> x = torch.randn(1, 2, 10, 11)
        >>> bool(torch.allclose(layer(x), conv(x), atol=1e-5))
        True
        """
        from .spectral_weights import conv_to_spectral_weights

        modes, weight, bias, mixing = conv_to_spectral_weights(conv, grid_shape)
        layer = cls(weight.shape[1], weight.shape[-1], modes, mixing=mixing, bias=bias is not None, backend=backend)
        layer._load_converted(weight, bias)
        return layer.to(conv.weight.device)

    @classmethod
    def from_neuralop(cls, spectral_conv: nn.Module, backend: str = "auto") -> SparseSpectralConv:
        """The spectral layer equal to a neuraloperator ``SpectralConv`` (real data, dense weights).

        The two agree on every grid whose non-last axes are larger than the
        box (``N_i > n_modes_i``), and on every grid along the last axis. On an
        even grid exactly ``n_modes_i`` wide neuraloperator applies its unpaired
        ``-n_modes_i/2`` weight to the whole Nyquist bin, which no grid-independent
        layer can reproduce; and on odd grids neuraloperator's output is off by
        one bin (see the docs), where this layer follows the contract.

        The converted layer keeps ``resolution_scaling_factor`` and reads
        ``n_modes`` and ``max_n_modes`` back in neuraloperator's form
        (``n_modes_form="rfft"``). Its active modes hold the function the layer
        computes now (its current ``n_modes``); where neuraloperator stores
        weights beyond them (up to ``max_n_modes``), those are stored too, as
        inactive modes, with the weights they have in neuraloperator's full
        layout, so setting ``n_modes`` later (incremental training) masks
        within the same ``weight`` Parameter. At ``n_modes = max_n_modes`` the
        two layers agree again, except on the ``k_last = 0`` plane of the modes
        that were active at conversion, whose folded weights are those of the
        smaller box.

        Parameters
        ----------
        spectral_conv : neuralop.layers.spectral_convolution.SpectralConv
            With real data (``complex_data=False``); a factorized weight is
            reconstructed densely.
        backend : str

        Returns
        -------
        SparseSpectralConv
            On the device of ``spectral_conv``'s parameters.

        Examples
        --------
        >>> from neuralop.layers.spectral_convolution import SpectralConv
        >>> conv = SpectralConv(2, 2, n_modes=(8, 8), resolution_scaling_factor=2)
        >>> twin = SparseSpectralConv.from_neuralop(conv)
        >>> twin.n_modes, twin(torch.randn(1, 2, 16, 16)).shape
        ([8, 5], torch.Size([1, 2, 32, 32]))
        """
        from .spectral_weights import neuralop_to_spectral_weights

        modes, weight, bias, mixing = neuralop_to_spectral_weights(spectral_conv)
        stored, stored_weight, max_given = modes, weight, None
        if list(spectral_conv.n_modes) != list(spectral_conv.max_n_modes):
            # the weights beyond n_modes, read as if n_modes were max_n_modes (neuraloperator's full layout)
            full = SimpleNamespace(
                weight=spectral_conv.weight,
                n_modes=list(spectral_conv.max_n_modes),
                max_n_modes=list(spectral_conv.max_n_modes),
                separable=getattr(spectral_conv, "separable", False),
                bias=None,
            )
            stored, stored_weight, _, _ = neuralop_to_spectral_weights(full)
            if not bool(_member(stored, modes).sum() == len(modes)):
                raise ValueError(
                    f"from_neuralop: n_modes {list(spectral_conv.n_modes)} is not inside "
                    f"max_n_modes {list(spectral_conv.max_n_modes)}"
                )
            stored_weight = stored_weight.clone()
            stored_weight[_rows_of(stored, modes)] = weight
            max_given = tuple(int(m) for m in spectral_conv.max_n_modes)
        channels_in = weight.shape[1]
        channels_out = weight.shape[-1] if mixing == "dense" else channels_in
        scaling = getattr(spectral_conv, "resolution_scaling_factor", None)
        layer = cls(
            channels_in,
            channels_out,
            stored,
            mixing=mixing,
            bias=bias is not None,
            backend=backend,
            resolution_scaling_factor=None if scaling is None else list(scaling),
        )
        layer.n_modes_form = "rfft"
        layer._load_converted(stored_weight, bias)
        if max_given is not None:
            layer._max_given = max_given
            layer._set_mask(_member(stored, modes))
        params = list(spectral_conv.parameters())
        return layer.to(params[0].device) if params else layer


def _neuralop_options(mixing: str, kwargs: dict[str, Any]) -> tuple[str, Any, Any]:
    kwargs = dict(kwargs)
    for name in _NEURALOP_IGNORED:
        kwargs.pop(name, None)
    if kwargs.pop("separable", False):
        mixing = "diagonal"
    scaling = kwargs.pop("resolution_scaling_factor", None)
    init_std = kwargs.pop("init_std", "auto")
    factorization = kwargs.pop("factorization", None)
    if factorization is not None and str(factorization).lower() != "dense":
        raise ValueError(
            f"SparseSpectralConv stores dense per-mode weights; factorization={factorization!r} is not supported "
            "(low-rank spectral weights are not implemented yet): pass factorization=None, or convert a trained "
            "factorized layer with SparseSpectralConv.from_neuralop, which reconstructs its weight densely"
        )
    if kwargs.pop("complex_data", False):
        raise ValueError("SparseSpectralConv maps real fields; complex_data=True is not supported")
    precision = kwargs.pop("fno_block_precision", "full")
    if precision != "full":
        raise ValueError(f"fno_block_precision={precision!r} is not supported (only 'full')")
    norm = kwargs.pop("fft_norm", "forward")
    if norm != "forward":
        raise ValueError(f"fft_norm={norm!r} is not supported; the contract uses norm 'forward'")
    if kwargs:
        raise TypeError(f"SparseSpectralConv got unexpected keyword arguments: {', '.join(sorted(kwargs))}")
    if isinstance(scaling, Sequence) and scaling and isinstance(scaling[0], Sequence):
        raise ValueError("resolution_scaling_factor must be one factor per axis for a single layer")
    return mixing, scaling, init_std


def _member(modes: ModeSet, subset: ModeSet) -> Tensor:
    """BoolTensor (len(modes),): which rows of ``modes`` are in ``subset``."""
    wanted = set(map(tuple, subset.indices.tolist()))
    return torch.tensor([tuple(k) in wanted for k in modes.indices.tolist()], dtype=torch.bool)


def _rows_of(modes: ModeSet, subset: ModeSet) -> Tensor:
    """LongTensor (len(subset),): the row of ``modes`` that holds each mode of ``subset``."""
    row = {tuple(k): i for i, k in enumerate(modes.indices.tolist())}
    return torch.tensor([row[tuple(k)] for k in subset.indices.tolist()], dtype=torch.long)


def _holding_box(modes: ModeSet, box: tuple[int, ...] | None) -> tuple[int, ...]:
    """``box`` while ``ModeSet.box(box) == modes``, else a box that holds every mode."""
    if box is not None and ModeSet.box(box) == modes:
        return box
    idx = modes.indices
    if len(idx) == 0:
        return (1,) * modes.ndim

    # a non-last axis of m modes holds -(m//2) .. (m-1)//2: k > 0 needs m = 2k+1, k < 0 needs m = -2k;
    # on the k_last = 0 plane the box may hold -k instead of k: take the smaller need of the two
    def need(rows: Tensor) -> Tensor:
        return torch.where(rows > 0, 2 * rows + 1, -2 * rows)

    plus, minus = need(idx[:, :-1]), need(-idx[:, :-1])
    flip = (idx[:, -1] == 0) & (minus.sum(dim=1) < plus.sum(dim=1))
    rows = torch.where(flip[:, None], minus, plus)
    return (*rows.amax(0).clamp_min(1).tolist(), max(1, 2 * int(idx[:, -1].max())))
