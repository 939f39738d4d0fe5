"""A Fourier neural operator whose spectral layers keep a sparse set of modes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import as_shape, positive_int
from ..layers import SparseSpectralConv
from ..modes import ModeSet
from ..resample import resample
from .pointwise import PointwiseConv

__all__ = ["FNOConfig", "SparseFNO", "positional_embedding"]

_EMBEDDINGS = ("fourier", "grid", None)
_ACTIVATIONS = {"gelu": nn.GELU, "relu": nn.ReLU, "silu": nn.SiLU, "tanh": nn.Tanh}


@dataclass
class FNOConfig:
    """Rarely changed options of :class:`SparseFNO`.

    Attributes
    ----------
    lifting_ratio, projection_ratio : float
        Hidden channels of the two-layer pointwise lifting / projection MLPs, as a
        multiple of ``width`` (neuraloperator's ``lifting_channel_ratio`` and
        ``projection_channel_ratio``, both 2 there). ``0`` makes that map a single
        1x1 linear layer.
    embedding : {"fourier", "grid", None}
        Positional channels appended to the input. ``"fourier"`` (default):
        ``sin(2 pi f x_i), cos(2 pi f x_i)`` for ``f = 1..embedding_frequencies`` on
        each axis, with ``x_i = n_i / N_i`` in ``[0, 1)``: band-limited periodic
        functions, so the embedding is the same continuous field on every grid.
        ``"grid"``: the raw coordinates ``x_i`` (neuraloperator's default), which
        jump from ``1`` to ``0`` across the periodic boundary, so the spectral layers
        see a discontinuous, grid-dependent spectrum of them. ``None``: none (the
        model is then translation-equivariant).
    embedding_frequencies : int
        Number of frequencies of the ``"fourier"`` embedding.
    mixing : {"dense", "diagonal"}
        Channel mixing of every spectral layer.
    activation : {"gelu", "relu", "silu", "tanh"}
    channel_mlp : float
        When ``> 0``, every block also has neuraloperator's channel MLP: after the
        activation a two-layer pointwise MLP (hidden ``channel_mlp * width``) whose
        output is added to the block input scaled per channel (soft gating), then the
        activation again (not after the last block). ``0`` (default) leaves the plain
        ``act(K h + W h)`` block.
    backend : str
        Backend of the spectral layers (see :class:`~spectral_sparse.SparseSpectralConv`).
    rank : int, float, tuple or None
        ``None`` (default): dense per-mode weights. Otherwise every spectral layer is a
        :class:`~spectral_sparse.lowrank.LowRankSpectralConv` of this rank (an int, a
        fraction of ``width``, or ``(r_in, r_out[, r_modes])``, see
        :func:`~spectral_sparse.lowrank.resolve_rank`); needs ``mixing="dense"``.
    """

    lifting_ratio: float = 2.0
    projection_ratio: float = 2.0
    embedding: str | None = "fourier"
    embedding_frequencies: int = 1
    mixing: str = "dense"
    activation: str = "gelu"
    channel_mlp: float = 0.0
    backend: str = "auto"
    rank: int | float | tuple | list | None = None

    def __post_init__(self) -> None:
        if self.rank is not None:
            if isinstance(self.rank, bool) or not isinstance(self.rank, (int, float, tuple, list)):
                raise ValueError(f"rank must be None, an int, a float fraction or a tuple, got {self.rank!r}")
            if isinstance(self.rank, list):  # a checkpoint stores tuples as lists
                self.rank = tuple(self.rank)
            if self.mixing != "dense":
                raise ValueError(f"rank (low-rank spectral weights) needs mixing='dense', got {self.mixing!r}")
        if self.embedding not in _EMBEDDINGS:
            raise ValueError(f"embedding must be one of {_EMBEDDINGS}, got {self.embedding!r}")
        if self.activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}, got {self.activation!r}")
        positive_int(self.embedding_frequencies, "embedding_frequencies")
        for name in ("lifting_ratio", "projection_ratio", "channel_mlp"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0 or math.isnan(value):
                raise ValueError(f"{name} must be a number >= 0, got {value!r}")

    def embedding_channels(self, ndim: int) -> int:
        """Number of channels the embedding adds on a ``ndim``-D grid."""
        if self.embedding == "fourier":
            return 2 * self.embedding_frequencies * ndim
        return ndim if self.embedding == "grid" else 0


def positional_embedding(
    grid_shape: Sequence[int], kind: str | None = "fourier", frequencies: int = 1, dtype: torch.dtype = torch.float32
) -> Tensor:
    """Positional channels on a grid, shape ``(C, *grid_shape)`` (see :class:`FNOConfig`), computed in float64.

    Examples
    --------
    >>> positional_embedding((4, 6)).shape
    torch.Size([4, 4, 6])
    >>> positional_embedding((4,), "grid")
    tensor([[0.0000, 0.2500, 0.5000, 0.7500]])
    """
    grid = as_shape(grid_shape, "grid_shape")
    if kind not in _EMBEDDINGS:
        raise ValueError(f"embedding must be one of {_EMBEDDINGS}, got {kind!r}")
    channels: list[Tensor] = []
    for axis, n in enumerate(grid):
        view = [1] * len(grid)
        view[axis] = n
        if kind == "grid":
            channels.append((torch.arange(n, dtype=torch.float64) / n).reshape(view).expand(grid))
            continue
        for f in range(1, frequencies + 1 if kind == "fourier" else 1):
            # the phase in exact integers first: (f * i mod n) / n
            phase = 2 * math.pi * torch.remainder(f * torch.arange(n), n).to(torch.float64) / n
            channels += [torch.sin(phase).reshape(view).expand(grid), torch.cos(phase).reshape(view).expand(grid)]
    if not channels:
        return torch.zeros(0, *grid, dtype=dtype)
    return torch.stack(channels).to(dtype)


def _pointwise(ndim: int, in_channels: int, out_channels: int) -> PointwiseConv:
    # nn.ConvNd(kernel_size=1)'s parameters, keys and initialisation, evaluated as one batched matmul
    return PointwiseConv(ndim, in_channels, out_channels)


def _mlp(ndim: int, in_channels: int, out_channels: int, hidden: int, activation: type[nn.Module]) -> nn.Module:
    if hidden <= 0:
        return _pointwise(ndim, in_channels, out_channels)
    return nn.Sequential(_pointwise(ndim, in_channels, hidden), activation(), _pointwise(ndim, hidden, out_channels))


def _as_modes(modes: Any, ndim: int | None, what: str) -> ModeSet:
    if isinstance(modes, ModeSet):
        if ndim is not None and modes.ndim != ndim:
            raise ValueError(f"{what} is a {modes.ndim}-D ModeSet but ndim={ndim}")
        return modes
    if isinstance(modes, float):
        if ndim is None:
            raise ValueError(f"{what} is a radius ({modes}); pass ndim= to say how many axes the grid has")
        return ModeSet.radial(modes, ndim=ndim)
    if isinstance(modes, int) and not isinstance(modes, bool):
        if ndim is None:
            raise ValueError(f"{what} is an int ({modes}); pass ndim= or a tuple of n_modes")
        return ModeSet.box((modes,) * ndim)
    if isinstance(modes, Sequence) and not isinstance(modes, str) and all(isinstance(m, int) for m in modes):
        shape = as_shape(tuple(modes), what)
        if ndim is not None and len(shape) != ndim:
            raise ValueError(f"{what} {shape} has {len(shape)} axes but ndim={ndim}")
        return ModeSet.box(shape)
    raise TypeError(f"{what} must be a ModeSet, a tuple of n_modes, an int or a float radius, got {modes!r}")


class SparseFNO(nn.Module):
    """Fourier neural operator with sparse spectral layers, on 1-D, 2-D or 3-D periodic grids.

    ``x -> [x, embedding] -> lift (pointwise MLP) -> n_layers x block -> projection (pointwise MLP)``,
    each block ``h -> act(SparseSpectralConv(h) + W h)`` with a pointwise (1x1) skip
    ``W`` and no activation after the last block (neuraloperator's FNO order); every 1x1
    map is a :class:`~spectral_sparse.models.pointwise.PointwiseConv` (``nn.ConvNd``'s
    parameters and state-dict keys, evaluated as one batched matrix product);
    ``FNOConfig(channel_mlp=0.5)`` adds neuraloperator's channel MLP to every block.
    Every map is defined on the continuous periodic domain, so the same weights run
    on any grid that resolves the modes; with ``output_shape`` the last spectral
    layer synthesises on another grid (its skip input is resampled there by
    trigonometric interpolation), which is neuraloperator's way of super-resolving.

    Parameters
    ----------
    in_channels, out_channels : int
    width : int
        Hidden channels.
    modes : ModeSet, tuple of int, int, float, or a list of these (one per layer)
        Modes of the spectral layers: a ``ModeSet``; a tuple is neuraloperator's
        ``n_modes`` (``ModeSet.box``); an int ``n`` is ``(n,) * ndim``; a float is a
        radius (``ModeSet.radial``). A list gives each layer its own modes.
    n_layers : int
    ndim : int, optional
        Number of grid axes; needed only when ``modes`` is an int or a radius.
    config : FNOConfig, optional
        Rare options (embedding, MLP ratios, mixing, activation, backend, low-rank ``rank``).

    Shapes
    ------
    ``(B, in_channels, *grid)`` -> ``(B, out_channels, *grid)``, or ``(B, out_channels, *output_shape)``.

    Examples
    --------
    >>> import torch
    >>> model = SparseFNO(1, 1, width=8, modes=(6, 6), n_layers=2)
    >>> model(torch.randn(3, 1, 16, 16)).shape
    torch.Size([3, 1, 16, 16])
    >>> model(torch.randn(3, 1, 16, 16), output_shape=(32, 24)).shape
    torch.Size([3, 1, 32, 24])
    >>> SparseFNO(2, 1, width=4, modes=3.0, ndim=3, n_layers=1)(torch.randn(1, 2, 8, 8, 8)).shape
    torch.Size([1, 1, 8, 8, 8])
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        width: int,
        modes: ModeSet | Sequence[int] | int | float | Sequence[Any],
        n_layers: int = 4,
        *,
        ndim: int | None = None,
        config: FNOConfig | None = None,
    ) -> None:
        super().__init__()
        for name, value in (
            ("in_channels", in_channels),
            ("out_channels", out_channels),
            ("width", width),
            ("n_layers", n_layers),
        ):
            positive_int(value, name)
        if ndim is not None and ndim not in (1, 2, 3):
            raise ValueError(f"ndim must be 1, 2 or 3, got {ndim!r}")
        config = config if config is not None else FNOConfig()
        if not isinstance(config, FNOConfig):
            raise TypeError(f"config must be an FNOConfig, got {type(config).__name__}")
        per_layer = isinstance(modes, list)
        if per_layer and len(modes) != n_layers:
            raise ValueError(f"modes is a list of {len(modes)} entries but n_layers={n_layers}")
        if per_layer and ndim is None:  # a radius or int entry takes the dimension of the explicit ones
            ndim = next((_as_modes(m, None, "modes").ndim for m in modes if not isinstance(m, (int, float))), None)
        mode_sets = (
            [_as_modes(m, ndim, f"modes[{i}]") for i, m in enumerate(modes)]
            if per_layer
            else [_as_modes(modes, ndim, "modes")] * n_layers
        )
        d = mode_sets[0].ndim
        if any(m.ndim != d for m in mode_sets) or d not in (1, 2, 3):
            raise ValueError(f"all mode sets must have the same dimension 1, 2 or 3, got {[m.ndim for m in mode_sets]}")
        self.ndim, self.width, self.options = d, width, config
        self.in_channels, self.out_channels = in_channels, out_channels
        act = _ACTIVATIONS[config.activation]
        lift_in = in_channels + config.embedding_channels(d)
        self.lift = _mlp(d, lift_in, width, round(config.lifting_ratio * width), act)
        if config.rank is None:
            spectral: list[nn.Module] = [
                SparseSpectralConv(width, width, m, mixing=config.mixing, backend=config.backend) for m in mode_sets
            ]
        else:
            from ..lowrank import LowRankSpectralConv

            spectral = [LowRankSpectralConv(width, width, m, config.rank, backend=config.backend) for m in mode_sets]
        self.spectral = nn.ModuleList(spectral)
        self.skips = nn.ModuleList(_pointwise(d, width, width) for _ in range(n_layers))
        hidden = round(config.channel_mlp * width)
        if hidden > 0:
            self.channel_mlps = nn.ModuleList(_mlp(d, width, width, hidden, act) for _ in range(n_layers))
            self.gates = nn.Parameter(torch.ones(n_layers, width))
        else:
            self.channel_mlps, self.gates = None, None
        self.act = act()
        self.projection = _mlp(d, width, out_channels, round(config.projection_ratio * width), act)

    @property
    def n_layers(self) -> int:
        """Number of spectral blocks."""
        return len(self.spectral)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain Python types (modes as lists of frequency vectors, one per layer).

        ``SparseFNO.from_config(model.config)`` rebuilds the architecture (weights not
        included); see :mod:`spectral_sparse.checkpoint`.
        """
        return {
            "in_channels": self.in_channels,
            "out_channels": self.out_channels,
            "width": self.width,
            "modes": [layer.modes.indices.tolist() for layer in self.spectral],
            "n_layers": self.n_layers,
            "options": asdict(self.options),
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SparseFNO:
        """A new (untrained) model from :attr:`config`."""
        cfg = dict(config)
        modes = cfg.pop("modes")
        if (
            isinstance(modes, list)
            and modes
            and isinstance(modes[0], list)
            and modes[0]
            and isinstance(modes[0][0], list)
        ):
            modes = [ModeSet.from_indices(torch.as_tensor(m, dtype=torch.long)) for m in modes]
        options = cfg.pop("options", None)
        return cls(modes=modes, config=FNOConfig(**options) if options is not None else None, **cfg)

    def embed(self, x: Tensor) -> Tensor:
        """``x`` with the positional channels appended, shape ``(B, in_channels + E, *grid)``."""
        if self.options.embedding is None:
            return x
        emb = positional_embedding(x.shape[2:], self.options.embedding, self.options.embedding_frequencies, x.dtype)
        emb = emb.to(x.device).expand(x.shape[0], *emb.shape)
        return torch.cat([x, emb], dim=1)

    def forward(self, x: Tensor, output_shape: Sequence[int] | None = None) -> Tensor:
        """Apply the operator.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, *grid)
        output_shape : sequence of int, optional
            Grid of the output (default: the input grid).

        Returns
        -------
        Tensor, shape (B, out_channels, *output_shape)
        """
        if not isinstance(x, Tensor) or not x.is_floating_point():
            raise TypeError(f"x must be a real floating tensor, got {getattr(x, 'dtype', type(x))}")
        if x.ndim != self.ndim + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, *grid) with a {self.ndim}-D grid, got {tuple(x.shape)}"
            )
        if output_shape is not None:
            output_shape = as_shape(output_shape, "output_shape")
            if len(output_shape) != self.ndim:
                raise ValueError(f"output_shape {output_shape} must have {self.ndim} entries")
            if output_shape == tuple(x.shape[2:]):
                output_shape = None
        h = self.lift(self.embed(x))
        last = self.n_layers - 1
        gate_view = (1, self.width) + (1,) * self.ndim
        for i, (spectral, skip) in enumerate(zip(self.spectral, self.skips)):
            out = output_shape if i == last else None
            h_in = h
            if out is None:  # skip(h) + spectral(h), the sum accumulated inside the skip's matmul
                h = skip(h, add=spectral(h), add_is_scratch=True)
            else:  # the skip runs on the input grid, its output is resampled to the output grid
                h = spectral(h, output_shape=out) + resample(skip(h), out)
            if i < last:
                h = self.act(h)
            if self.channel_mlps is not None:
                gated = h_in * self.gates[i].reshape(gate_view)
                mlp = self.channel_mlps[i]  # Sequential(PointwiseConv, act, PointwiseConv)
                h = mlp[2](mlp[1](mlp[0](h)), add=gated if out is None else resample(gated, out))
                if i < last:
                    h = self.act(h)
        return self.projection(h)
