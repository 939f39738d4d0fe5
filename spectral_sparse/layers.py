"""The sparse spectral convolution layer."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .functional import sparse_spectral_conv
from .modes import ModeSet, _as_shape
from .resample import resample

__all__ = ["SparseSpectralConv"]

# neuraloperator's FNO blocks pass these to their conv module; they do not change
# the function a dense spectral layer computes, so they are accepted and ignored
_COMPLEX_OF = {torch.float32: torch.complex64, torch.float64: torch.complex128}
_NEURALOP_IGNORED = ("max_n_modes", "rank", "fixed_rank_modes", "implementation", "decomposition_kwargs", "device")


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
        grid, ``init_std`` sets the initial weight scale; ``max_n_modes``,
        ``rank``, ``fixed_rank_modes``, ``implementation`` and
        ``decomposition_kwargs`` are ignored; a factorization, complex data or
        reduced ``fno_block_precision`` raise ``ValueError``.

    Attributes
    ----------
    weight : complex Parameter, shape (K, in, out) or (K, channels)
    bias : Parameter, shape (out,), or None
    modes : ModeSet
        Also stored as the buffer ``mode_indices`` so it survives ``state_dict``.

    Examples
    --------
    >>> import torch
    >>> layer = SparseSpectralConv(3, 8, ModeSet.radial(4, ndim=2))
    >>> layer(torch.randn(2, 3, 32, 32)).shape
    torch.Size([2, 8, 32, 32])
    >>> layer(torch.randn(2, 3, 20, 45), output_shape=(64, 64)).shape
    torch.Size([2, 8, 64, 64])
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
        mixing, scaling, init_std = _neuralop_options(mixing, neuralop_kwargs)
        for name, value in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive int, got {value!r}")
        if mixing not in ("dense", "diagonal"):
            raise ValueError(f"mixing must be 'dense' or 'diagonal', got {mixing!r}")
        if mixing == "diagonal" and in_channels != out_channels:
            raise ValueError(f"diagonal mixing needs in_channels == out_channels, got {in_channels} and {out_channels}")
        self._box_n_modes = None if isinstance(modes, ModeSet) else _as_shape(modes, "n_modes")
        if not isinstance(modes, ModeSet):
            modes = ModeSet.box(modes)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.mixing, self.backend = mixing, backend
        self.resolution_scaling_factor = scaling
        self.initial_num_modes = len(modes)
        if init_std == "auto":
            init_std = 1.0 if mixing == "diagonal" else math.sqrt(1.0 / in_channels)
        shape = (len(modes), in_channels) if mixing == "diagonal" else (len(modes), in_channels, out_channels)
        self.weight = nn.Parameter(torch.randn(*shape, dtype=torch.cfloat) * float(init_std))
        self.register_buffer("mode_indices", modes.indices.clone())
        self._modes = modes
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    # ------------------------------------------------------------------ evaluation
    @property
    def modes(self) -> ModeSet:
        """The layer's modes, aligned with the first axis of ``weight``."""
        return self._modes

    @property
    def n_modes(self) -> tuple[int, ...]:
        """neuraloperator-style ``n_modes`` of a box that holds every mode.

        The box given at construction (or through the setter) while the modes are
        still exactly that box; otherwise a box computed from the modes, which
        holds them all but may be larger than the smallest one.
        """
        if self._box_n_modes is not None and ModeSet.box(self._box_n_modes) == self._modes:
            return self._box_n_modes
        idx = self._modes.indices
        if len(idx) == 0:
            return (1,) * self._modes.ndim
        # a non-last axis of m modes holds -(m//2) .. (m-1)//2: k > 0 needs m = 2k+1, k < 0 needs m = -2k
        need = torch.where(idx[:, :-1] > 0, 2 * idx[:, :-1] + 1, -2 * idx[:, :-1])
        return (*need.amax(0).clamp_min(1).tolist(), max(1, 2 * int(idx[:, -1].max())))

    @n_modes.setter
    def n_modes(self, n_modes: int | Sequence[int]) -> None:
        """Switch to ``ModeSet.box(n_modes)``; modes in both sets keep their weights, new ones start at 0."""
        self.set_modes(ModeSet.box(n_modes))
        self._box_n_modes = _as_shape(n_modes, "n_modes")

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
        return sparse_spectral_conv(
            x, self.weight, self._modes, self.bias, output_shape=output_shape, backend=self.backend
        )

    def transform(self, x: Tensor, output_shape: Sequence[int] | None = None) -> Tensor:
        """Resample ``x`` to the grid ``forward`` would output (neuraloperator's skip path)."""
        if output_shape is None:
            if self.resolution_scaling_factor is None:
                return x
            output_shape = self._scaled_shape(x)
        shape = _as_shape(output_shape, "output_shape")
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

        The output is unchanged. The weight becomes a new ``Parameter``, so
        optimizers built before must be rebuilt.

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
            self._replace(self._modes[keep.cpu()], self.weight[keep])
        return self

    @torch.no_grad()
    def set_modes(self, modes: ModeSet) -> SparseSpectralConv:
        """Change the mode set: shared modes keep their weights, new modes start at zero."""
        if modes.ndim != self._modes.ndim:
            raise ValueError(f"new modes are {modes.ndim}-D but the layer is {self._modes.ndim}-D")
        old = {tuple(k): i for i, k in enumerate(self._modes.indices.tolist())}
        weight = self.weight.new_zeros(len(modes), *self.weight.shape[1:])
        for j, k in enumerate(modes.indices.tolist()):
            if tuple(k) in old:
                weight[j] = self.weight[old[tuple(k)]]
        self._replace(modes, weight)
        return self

    def _replace(self, modes: ModeSet, weight: Tensor) -> None:
        self.weight = nn.Parameter(weight.detach().clone(), requires_grad=self.weight.requires_grad)
        self.mode_indices = modes.indices.clone().to(self.mode_indices.device)
        self._modes = modes

    def _apply(self, fn, recurse=True):  # type: ignore[no-untyped-def]
        # nn.Module casts a complex parameter with a *real* dtype (``.to(torch.float64)``
        # drops the imaginary part) or not at all (``.double()``). Cast the spectral
        # weight to the complex counterpart of the real dtype the conversion targets.
        order = list(self._parameters)
        weight = self._parameters.pop("weight")
        try:
            super()._apply(fn, recurse)
        finally:
            self._parameters["weight"] = weight
            self._parameters = type(self._parameters)((k, self._parameters[k]) for k in order)
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
        self.weight = nn.Parameter(weight.clone())
        if bias is not None:
            self.bias = nn.Parameter(bias.clone())

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
        return (
            f"{self.in_channels}, {self.out_channels}, modes={self._modes!r}, mixing={self.mixing!r}, "
            f"kept={kept}/{self.initial_num_modes} ({frac:.1f}%), bias={self.bias is not None}, "
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
        from .convert import conv_to_spectral_weights

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
        """
        from .convert import neuralop_to_spectral_weights

        modes, weight, bias, mixing = neuralop_to_spectral_weights(spectral_conv)
        channels_in = weight.shape[1]
        channels_out = weight.shape[-1] if mixing == "dense" else channels_in
        layer = cls(channels_in, channels_out, modes, mixing=mixing, bias=bias is not None, backend=backend)
        layer._load_converted(weight, bias)
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
            f"SparseSpectralConv stores dense per-mode weights; factorization={factorization!r} is not supported"
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
