r"""Low-rank spectral weights: a Tucker factorisation with real channel factors shared by all modes.

A dense sparse spectral layer stores one complex ``Cin x Cout`` matrix per mode.
:class:`LowRankSpectralConv` stores instead

.. math::

    W_k = U_{in}\, G_k\, U_{out}^T, \qquad
    G_k = \sum_j M_{kj}\, C_j \ \text{(optional mode factor)},

with **real** channel factors ``U_in`` (``Cin x r_in``) and ``U_out``
(``Cout x r_out``) shared by every mode, a complex core ``G_k`` (``r_in x r_out``)
per mode, and optionally a complex mode factor ``M`` (``K x r_modes``) with
``r_modes`` complex cores ``C_j`` (neuraloperator's TFNO factorises its box of
modes the same way, with one factor per axis; a sparse mode set has no axes, so
the modes are one flattened index here).

Because the channel factors are real they commute with the real Fourier
analysis and synthesis, so the layer runs as

``1x1 projection Cin -> r_in (in space)`` -> ``sparse spectral conv r_in -> r_out
with the G_k (any backend)`` -> ``1x1 expansion r_out -> Cout (+ bias)``,

which is exactly the dense layer with ``W_k = U_in G_k U_out^T`` (tested against
the contract and against :class:`~spectral_sparse.SparseSpectralConv`). Analysis,
mixing and synthesis all run on ``r_in`` / ``r_out`` channels, so the whole
spectral part gets cheaper with the rank, not only the mixing; the 1x1 maps cost
``(Cin r_in + Cout r_out)`` per grid point.

Complex parameters are stored as real ``(..., 2)`` pairs (``torch.view_as_complex``),
so ``.double()``, ``.to(dtype)``, optimizers and state dicts treat them like any real
parameter.

Examples
--------
>>> import torch
>>> from spectral_sparse import ModeSet, SparseSpectralConv
>>> dense = SparseSpectralConv(8, 8, ModeSet.radial(4, ndim=2))
>>> low = LowRankSpectralConv.from_dense(dense, rank=4)
>>> low.rank, low(torch.randn(2, 8, 16, 16)).shape
((4, 4, None), torch.Size([2, 8, 16, 16]))
>>> full = LowRankSpectralConv.from_dense(dense, rank=1.0)          # full rank: the same layer
>>> x = torch.randn(2, 8, 16, 16)
>>> bool(torch.allclose(full(x), dense(x), atol=1e-5))
True
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import torch
from torch import Tensor, nn

from ._checks import as_shape, positive_int
from .functional import sparse_spectral_conv
from .layers import SparseSpectralConv, resize_parameter
from .modes import ModeSet

__all__ = ["LowRankSpectralConv", "low_rank", "resolve_rank"]

Rank = int | float | Sequence[int | float]


def _one_rank(value: Any, size: int, what: str, limit_name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be an int or a float fraction in (0, 1], got {value!r}")
    if isinstance(value, float):
        if not (0.0 < value <= 1.0):
            raise ValueError(f"{what} as a fraction must be in (0, 1], got {value!r}")
        return max(1, min(size, round(value * size)))
    if value < 1:
        raise ValueError(f"{what} must be >= 1, got {value!r}")
    if value > size:
        raise ValueError(f"{what} = {value} exceeds {limit_name} = {size}")
    return int(value)


def resolve_rank(rank: Rank, in_channels: int, out_channels: int, n_modes: int) -> tuple[int, int, int | None]:
    """``(r_in, r_out, r_modes)`` from a rank given as an int, a float fraction or a tuple.

    Parameters
    ----------
    rank : int, float or tuple
        An int ``r``: ``r_in = r_out = r``. A float ``f`` in (0, 1]: ``round(f * channels)``
        per side (at least 1). A tuple ``(r_in, r_out)`` or ``(r_in, r_out, r_modes)``,
        each entry an int or a fraction (``r_modes`` of the number of modes); without
        ``r_modes`` every mode has its own core (no mode factor).
    in_channels, out_channels, n_modes : int

    Raises
    ------
    ValueError
        A rank of the wrong type, ``<= 0``, or larger than the channels (modes) it factorises.

    Examples
    --------
    >>> resolve_rank(8, 32, 32, 137), resolve_rank(0.25, 32, 16, 137), resolve_rank((8, 4, 0.5), 32, 32, 10)
    ((8, 8, None), (8, 4, None), (8, 4, 5))
    """
    if isinstance(rank, (list, tuple)):
        if len(rank) not in (2, 3):
            raise ValueError(f"rank as a tuple must be (r_in, r_out) or (r_in, r_out, r_modes), got {rank!r}")
        r_in = _one_rank(rank[0], in_channels, "rank r_in", "in_channels")
        r_out = _one_rank(rank[1], out_channels, "rank r_out", "out_channels")
        r_modes = None
        if len(rank) == 3 and rank[2] is not None:
            r_modes = _one_rank(rank[2], max(1, n_modes), "rank r_modes", "the number of modes")
        return r_in, r_out, r_modes
    if isinstance(rank, bool) or not isinstance(rank, (int, float)):
        raise ValueError(f"rank must be an int, a float fraction in (0, 1] or a tuple, got {rank!r}")
    return (
        _one_rank(rank, in_channels, "rank", "in_channels"),
        _one_rank(rank, out_channels, "rank", "out_channels"),
        None,
    )


def _orthonormal(rows: int, cols: int) -> Tensor:
    q, r = torch.linalg.qr(torch.randn(rows, cols))
    return q * torch.sign(torch.diagonal(r)).where(torch.diagonal(r) != 0, torch.ones(()))


def _complex_pairs(shape: tuple[int, ...], std: float) -> Tensor:
    """Real ``(*shape, 2)`` pairs of a complex normal with ``E|z|^2 = std^2``."""
    return torch.randn(*shape, 2) * (std / math.sqrt(2.0))


class LowRankSpectralConv(nn.Module):
    """Sparse spectral convolution with Tucker-factorised per-mode weights ``W_k = U_in G_k U_out^T``.

    Parameters
    ----------
    in_channels, out_channels : int
    modes : ModeSet, int or tuple of int
        As :class:`~spectral_sparse.SparseSpectralConv` (an int or tuple means ``ModeSet.box``).
    rank : int, float or tuple
        See :func:`resolve_rank`: ``r`` (both channel ranks), a fraction of the channels,
        or ``(r_in, r_out[, r_modes])``; ``r_modes`` adds the mode factor.
    bias : bool
    backend : str
        Backend of the inner sparse spectral convolution (``"auto"``, ``"fft"``, ``"cpp"``, ...).

    Attributes
    ----------
    in_factor : Parameter, real (in_channels, r_in)
        ``U_in``; initialised with orthonormal columns.
    out_factor : Parameter, real (out_channels, r_out)
        ``U_out``; initialised with orthonormal columns.
    core : Parameter, real pairs
        ``(K, r_in, r_out, 2)``: the per-mode cores ``G_k``; with a mode factor
        ``(r_modes, r_in, r_out, 2)``: the shared cores ``C_j``.
    mode_factor : Parameter, real pairs (K, r_modes, 2), or None
        ``M``, so that ``G_k = sum_j M[k, j] C_j``.
    mode_parameter : Parameter
        The parameter whose first axis is the modes (``core``, or ``mode_factor``
        when there is one): zeroing its row ``k`` removes mode ``k``; pruning does that.
    bias : Parameter, shape (out_channels,), or None
    modes, active_modes : ModeSet
        The stored modes (also the buffer ``mode_indices``); the layer computes with all of them.
    rank : tuple (r_in, r_out, r_modes or None)

    Notes
    -----
    Initialisation from scratch gives every ``W_k`` entry the variance of the dense
    layer's initialisation (``1 / in_channels``). ``compact`` and ``set_modes`` resize
    ``mode_parameter`` in place (the Parameter object stays), like the dense layer.

    Examples
    --------
    >>> import torch
    >>> layer = LowRankSpectralConv(16, 16, ModeSet.radial(4, ndim=2), rank=(4, 4, 8))
    >>> layer(torch.randn(2, 16, 20, 24), output_shape=(32, 32)).shape
    torch.Size([2, 16, 32, 32])
    >>> layer.dense_weight().shape, layer.to_dense().weight.shape
    (torch.Size([25, 16, 16]), torch.Size([25, 16, 16]))
    """

    mixing = "dense"

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        modes: ModeSet | int | Sequence[int],
        rank: Rank,
        bias: bool = True,
        backend: str = "auto",
    ) -> None:
        super().__init__()
        positive_int(in_channels, "in_channels")
        positive_int(out_channels, "out_channels")
        if not isinstance(modes, ModeSet):
            modes = ModeSet.box(as_shape(modes, "n_modes"))
        r_in, r_out, r_modes = resolve_rank(rank, in_channels, out_channels, len(modes))
        self.in_channels, self.out_channels, self.backend = in_channels, out_channels, backend
        self.initial_num_modes = len(modes)
        self._modes = modes
        self.register_buffer("mode_indices", modes.indices.clone())
        self.in_factor = nn.Parameter(_orthonormal(in_channels, r_in))
        self.out_factor = nn.Parameter(_orthonormal(out_channels, r_out))
        # E|W[c, o]|^2 = r_in r_out E|G|^2 / (Cin Cout) with orthonormal factors; the dense layer has 1 / Cin
        std = math.sqrt(out_channels / (r_in * r_out))
        if r_modes is None:
            self.core = nn.Parameter(_complex_pairs((len(modes), r_in, r_out), std))
            self.register_parameter("mode_factor", None)
        else:
            self.core = nn.Parameter(_complex_pairs((r_modes, r_in, r_out), std))
            self.mode_factor = nn.Parameter(_complex_pairs((len(modes), r_modes), 1.0 / math.sqrt(r_modes)))
        self.bias = nn.Parameter(torch.zeros(out_channels)) if bias else None

    # ------------------------------------------------------------------ views
    @property
    def modes(self) -> ModeSet:
        """The stored modes, aligned with the first axis of :attr:`mode_parameter`."""
        return self._modes

    @property
    def active_modes(self) -> ModeSet:
        """The modes the layer computes with (all stored modes)."""
        return self._modes

    @property
    def rank(self) -> tuple[int, int, int | None]:
        """``(r_in, r_out, r_modes)``; ``r_modes`` is ``None`` without a mode factor."""
        r_modes = None if self.mode_factor is None else int(self.mode_factor.shape[1])
        return int(self.in_factor.shape[1]), int(self.out_factor.shape[1]), r_modes

    @property
    def mode_parameter(self) -> nn.Parameter:
        """The Parameter with one row per mode: ``mode_factor`` if there is one, else ``core``."""
        return self.core if self.mode_factor is None else self.mode_factor

    def mode_weight(self) -> Tensor:
        """The per-mode cores ``G_k``, complex ``(K, r_in, r_out)`` (differentiable)."""
        core = torch.view_as_complex(self.core)
        if self.mode_factor is None:
            return core
        m = torch.view_as_complex(self.mode_factor)
        return (m @ core.flatten(1)).reshape(m.shape[0], *core.shape[1:])

    def dense_weight(self) -> Tensor:
        """The per-mode matrices ``W_k = U_in G_k U_out^T``, complex ``(K, in_channels, out_channels)``."""
        g = self.mode_weight()
        u_in = self.in_factor.to(g.dtype)
        u_out = self.out_factor.to(g.dtype)
        return u_in @ g @ u_out.t()

    def num_spectral_parameters(self) -> int:
        """Real numbers in the factors and cores (complex counted twice; no bias)."""
        return sum(p.numel() for name, p in self.named_parameters() if name != "bias")

    # ------------------------------------------------------------------ evaluation
    def forward(self, x: Tensor, output_shape: Sequence[int] | None = None) -> Tensor:
        """Apply the layer: 1x1 projection, sparse spectral conv on the ranks, 1x1 expansion.

        Parameters
        ----------
        x : Tensor, shape (B, in_channels, *grid), float32 or float64
        output_shape : sequence of int, optional
            Output grid (default: the input grid).

        Returns
        -------
        Tensor, shape (B, out_channels, *output_shape)
        """
        if not isinstance(x, Tensor) or x.is_complex() or not x.is_floating_point():
            raise TypeError(f"x must be a real floating-point tensor, got {getattr(x, 'dtype', type(x).__name__)}")
        d = self._modes.ndim
        if x.ndim != d + 2 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"x must have shape (B, {self.in_channels}, *grid) with {d} grid axes, got {tuple(x.shape)}"
            )
        batch, grid = x.shape[0], x.shape[2:]
        r_in, r_out, _ = self.rank
        # the 1x1 maps as batched GEMMs with an expanded contiguous factor: 3x faster than a
        # broadcasting matmul with a transposed factor (measured, 1 thread)
        u_in = self.in_factor.to(x.dtype).t().contiguous()
        flat = x.reshape(batch, self.in_channels, -1)
        h = torch.bmm(u_in.expand(batch, r_in, self.in_channels), flat).reshape(batch, r_in, *grid)
        y = sparse_spectral_conv(h, self.mode_weight(), self._modes, None, output_shape, self.backend)
        out_grid = y.shape[2:]
        u_out = self.out_factor.to(x.dtype).expand(batch, self.out_channels, r_out)
        y = y.reshape(batch, r_out, -1)
        if self.bias is None:
            out = torch.bmm(u_out, y)
        else:
            bias = self.bias.to(x.dtype).view(1, -1, 1).expand(batch, self.out_channels, y.shape[-1])
            out = torch.baddbmm(bias, u_out, y)
        return out.reshape(batch, self.out_channels, *out_grid)

    # ------------------------------------------------------------------ modes
    @torch.no_grad()
    def compact(self) -> LowRankSpectralConv:
        """Drop the modes whose row of :attr:`mode_parameter` is all zero (the output is unchanged).

        Returns
        -------
        LowRankSpectralConv
            ``self``.
        """
        keep = (self.mode_parameter != 0).flatten(1).any(dim=1)
        if not bool(keep.all()):
            self._replace(self._modes[keep.cpu()], self.mode_parameter[keep])
        return self

    @torch.no_grad()
    def set_modes(self, modes: ModeSet) -> LowRankSpectralConv:
        """Store ``modes``: shared modes keep their rows, new modes start at zero (resized in place)."""
        if not isinstance(modes, ModeSet):
            raise TypeError(f"modes must be a ModeSet, got {type(modes).__name__}")
        if modes.ndim != self._modes.ndim:
            raise ValueError(f"new modes are {modes.ndim}-D but the layer is {self._modes.ndim}-D")
        old = {tuple(k): i for i, k in enumerate(self._modes.indices.tolist())}
        param = self.mode_parameter
        rows = param.new_zeros(len(modes), *param.shape[1:])
        for j, k in enumerate(modes.indices.tolist()):
            if tuple(k) in old:
                rows[j] = param[old[tuple(k)]]
        self._replace(modes, rows)
        return self

    @torch.no_grad()
    def _replace(self, modes: ModeSet, rows: Tensor) -> None:
        resize_parameter(self.mode_parameter, rows)  # in place: the Parameter object stays the one optimizers hold
        self.mode_indices = modes.indices.clone().to(self.mode_indices.device)
        self._modes = modes

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
    ):  # type: ignore[no-untyped-def]
        # a checkpoint may hold another (e.g. compacted) mode set: adopt it first
        key = prefix + "mode_indices"
        if key in state_dict:
            stored = state_dict[key]
            if stored.shape != self.mode_indices.shape or not torch.equal(stored.cpu(), self.mode_indices.cpu()):
                modes = ModeSet.from_indices(stored)
                if modes.ndim != self._modes.ndim:
                    error_msgs.append(f"{key}: checkpoint modes are {modes.ndim}-D, layer is {self._modes.ndim}-D")
                else:
                    param = self.mode_parameter
                    self._replace(modes, param.new_zeros(len(modes), *param.shape[1:]))
        super()._load_from_state_dict(
            state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, error_msgs
        )

    def extra_repr(self) -> str:
        r_in, r_out, r_modes = self.rank
        factor = "" if r_modes is None else f", r_modes={r_modes}"
        return (
            f"{self.in_channels}, {self.out_channels}, modes={self._modes!r}, rank=({r_in}, {r_out}){factor}, "
            f"kept={len(self._modes)}/{self.initial_num_modes}, bias={self.bias is not None}, backend={self.backend!r}"
        )

    # ------------------------------------------------------------------ conversions
    @classmethod
    @torch.no_grad()
    def from_dense(cls, layer: SparseSpectralConv, rank: Rank) -> LowRankSpectralConv:
        """Truncated Tucker decomposition (HOSVD) of a trained dense layer.

        The channel factors are the leading left singular vectors of the real-stacked
        channel unfoldings ``[Re W, Im W]`` of the weights, each mode weighted by its
        multiplicity ``sqrt(m_k)`` (1 for ``k = 0``, 2 otherwise, so the truncation error
        is measured in the layer's Hilbert-Schmidt norm; only ``Re W_0`` acts at ``k = 0``).
        Then ``G_k = U_in^T W_k U_out``; with a mode factor, ``M`` holds the leading left
        singular vectors of the (weighted) mode unfolding of the ``G_k``. At full rank the
        factors are orthogonal and the layer equals ``layer``. Computed in float64.

        Parameters
        ----------
        layer : SparseSpectralConv
            Dense mixing, without ``resolution_scaling_factor``; its active modes are converted.
        rank : int, float or tuple
            See :func:`resolve_rank`.

        Returns
        -------
        LowRankSpectralConv
            On ``layer``'s device, in its real precision.

        Raises
        ------
        TypeError
            If ``layer`` is not a SparseSpectralConv.
        ValueError
            Diagonal mixing, a resolution scaling factor, or a bad rank.
        """
        if not isinstance(layer, SparseSpectralConv):
            raise TypeError(f"layer must be a SparseSpectralConv, got {type(layer).__name__}")
        if layer.mixing != "dense":
            raise ValueError("from_dense needs dense mixing; a diagonal layer has no channel matrices to factorise")
        if layer.resolution_scaling_factor is not None:
            raise ValueError("from_dense does not support resolution_scaling_factor; pass output_shape instead")
        weight, modes = layer._active_weight()
        r_in, r_out, r_modes = resolve_rank(rank, layer.in_channels, layer.out_channels, len(modes))
        real = weight.real.dtype
        w = weight.detach().to(torch.complex128).clone()
        zero = (modes.indices == 0).all(dim=1).to(w.device)
        w[zero] = w[zero].real.to(w.dtype)  # only Re W_0 acts
        sqrt_m = torch.where(zero, 1.0, math.sqrt(2.0)).to(torch.float64)
        ws = w * sqrt_m[:, None, None]
        u_in = _leading(ws.permute(1, 0, 2).reshape(layer.in_channels, -1), r_in)
        u_out = _leading(ws.permute(2, 0, 1).reshape(layer.out_channels, -1), r_out)
        g = u_in.t().to(w.dtype) @ w @ u_out.to(w.dtype)  # (K, r_in, r_out)
        new = cls(
            layer.in_channels,
            layer.out_channels,
            modes,
            (r_in, r_out, r_modes),
            bias=layer.bias is not None,
            backend=layer.backend,
        )
        new.in_factor.data = u_in.to(real)
        new.out_factor.data = u_out.to(real)
        if r_modes is None:
            new.core.data = torch.view_as_real(g).to(real).contiguous()
        else:
            flat = (g * sqrt_m[:, None, None]).reshape(len(modes), -1)
            u, s, vh = torch.linalg.svd(flat, full_matrices=False)
            j = min(r_modes, s.numel())
            mode_factor = flat.new_zeros(len(modes), r_modes)
            core = flat.new_zeros(r_modes, flat.shape[1])
            mode_factor[:, :j] = u[:, :j] / sqrt_m[:, None]
            core[:j] = s[:j, None] * vh[:j]
            new.mode_factor.data = torch.view_as_real(mode_factor).to(real).contiguous()
            new.core.data = torch.view_as_real(core.reshape(r_modes, r_in, r_out)).to(real).contiguous()
        if layer.bias is not None:
            new.bias.data = layer.bias.detach().clone()
        return new.to(weight.device)

    @torch.no_grad()
    def to_dense(self) -> SparseSpectralConv:
        """The equivalent :class:`~spectral_sparse.SparseSpectralConv` (weights ``W_k = U_in G_k U_out^T``)."""
        dense = SparseSpectralConv(
            self.in_channels, self.out_channels, self._modes, bias=self.bias is not None, backend=self.backend
        )
        dense._load_converted(self.dense_weight().detach(), None if self.bias is None else self.bias.detach())
        return dense.to(self.in_factor.device)


def _leading(a: Tensor, r: int) -> Tensor:
    """Real ``(rows, r)``: leading left singular vectors of the complex ``a`` stacked as ``[Re a, Im a]``.

    From the eigenvectors of the Gram matrix, so ``r`` may reach ``rows`` even when
    ``a`` has fewer columns (the extra columns complete an orthonormal basis).
    """
    stacked = torch.cat([a.real, a.imag], dim=1)
    gram = stacked @ stacked.t()
    _, vecs = torch.linalg.eigh(gram)  # ascending
    return vecs.flip(1)[:, :r].contiguous()


def low_rank(model: nn.Module, rank: Rank, inplace: bool = False) -> nn.Module:
    """Replace every dense :class:`~spectral_sparse.SparseSpectralConv` of ``model`` by its truncated factorisation.

    Parameters
    ----------
    model : nn.Module
        A layer or any model holding some (``SparseFNO``, ``SpectralClassifier``, ...).
    rank : int, float or tuple
        Passed to :meth:`LowRankSpectralConv.from_dense` for every layer.
    inplace : bool
        Change ``model`` itself (default: a deep copy).

    Returns
    -------
    nn.Module
        The converted model (a :class:`LowRankSpectralConv` when ``model`` is a layer). A
        :class:`~spectral_sparse.models.SparseFNO` also records ``rank`` in its
        ``FNOConfig`` (a :class:`~spectral_sparse.models.SpectralClassifier` its ``rank``), so
        it round-trips through :mod:`spectral_sparse.checkpoint`.

    Raises
    ------
    ValueError
        No sparse spectral layer in ``model``, a diagonal layer, or a bad rank.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.models import SparseFNO
    >>> model = SparseFNO(1, 1, width=8, modes=(6, 6), n_layers=2)
    >>> small = low_rank(model, 0.5)
    >>> [type(m).__name__ for m in small.spectral], small.options.rank
    (['LowRankSpectralConv', 'LowRankSpectralConv'], 0.5)
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if isinstance(model, SparseSpectralConv):
        return LowRankSpectralConv.from_dense(model, rank)
    target = model if inplace else copy.deepcopy(model)
    found = [(name, m) for name, m in target.named_modules() if isinstance(m, SparseSpectralConv)]
    if not found:
        raise ValueError(f"{type(model).__name__} has no SparseSpectralConv layers to factorise")
    converted = {name: LowRankSpectralConv.from_dense(m, rank) for name, m in found}  # validate all first
    for name, new in converted.items():
        parent_name, _, child = name.rpartition(".")
        parent = target.get_submodule(parent_name) if parent_name else target
        setattr(parent, child, new)
    from .models.classifier import SpectralClassifier
    from .models.fno import SparseFNO

    if isinstance(target, SparseFNO):
        target.options = replace(target.options, rank=rank)
    elif isinstance(target, SpectralClassifier):
        target.rank = rank
    return target
