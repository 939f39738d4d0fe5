"""Resolution-agnostic image classifiers: a sparse spectral one and a CNN baseline."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from .._checks import count_parameters, positive_int
from ..layers import SparseSpectralConv
from ..modes import ModeSet
from .pointwise import PointwiseConv

__all__ = ["CNNClassifier", "SpectralClassifier", "count_parameters"]


def _check_images(x: Tensor) -> None:
    """The classifiers take real floating-point images: name the dtype of anything else."""
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise TypeError(
            f"x must be a real floating-point tensor, got dtype {x.dtype} (convert integer images first, "
            "e.g. x.float() / 255 for uint8)"
        )


def _pointwise(ndim: int, in_channels: int, out_channels: int) -> nn.Module:
    """A 1x1 (x1) convolution: the same channel map at every grid point, on any grid."""
    return PointwiseConv(ndim, in_channels, out_channels)


class SpectralClassifier(nn.Module):
    """Classifier built from sparse spectral convolutions; runs on any grid.

    ``lift (1x1) -> depth x [GELU(SparseSpectralConv(h) + 1x1(h))] -> grid mean -> linear``.

    Every layer is defined on the continuous periodic domain: the spectral
    convolutions hold weights at a fixed set of frequencies, the skips are
    pointwise, and the pooling is the grid mean, which is the ``k = 0`` Fourier
    coefficient of the last hidden field. The same weights therefore apply to
    any grid (square or not) that resolves the modes, and on a band-limited
    input the logits change with the grid only through the aliasing of the
    GELU outputs, which vanishes as the grid is refined.

    Parameters
    ----------
    in_channels, num_classes : int
    width : int
        Hidden channels.
    modes : ModeSet or float
        Modes of every spectral convolution; a number is a radius for
        ``ModeSet.radial(radius, ndim=2)``.
    depth : int
        Number of spectral blocks.
    rank : int, float, tuple or None
        ``None`` (default): dense per-mode weights. Otherwise the spectral layers are
        :class:`~spectral_sparse.lowrank.LowRankSpectralConv` of this rank (see
        :func:`~spectral_sparse.lowrank.resolve_rank`); kept in :attr:`config`.

    Raises
    ------
    ValueError
        If ``in_channels``, ``num_classes`` or ``width`` is not a positive int, ``depth < 1``,
        or the radius is invalid.

    Shapes
    ------
    input ``(B, in_channels, *grid)`` -> logits ``(B, num_classes)``.

    Examples
    --------
    >>> import torch
    >>> model = SpectralClassifier(1, 6, width=8, modes=4, depth=2)
    >>> model(torch.randn(5, 1, 28, 28)).shape, model(torch.randn(5, 1, 20, 36)).shape
    (torch.Size([5, 6]), torch.Size([5, 6]))
    """

    def __init__(
        self,
        in_channels: int,
        num_classes: int,
        width: int = 16,
        modes: ModeSet | float = 4.0,
        depth: int = 3,
        rank: int | float | Sequence[int | float] | None = None,
    ) -> None:
        super().__init__()
        positive_int(in_channels, "in_channels", index=True)
        positive_int(num_classes, "num_classes", index=True)
        if not isinstance(modes, ModeSet):
            modes = ModeSet.radial(float(modes), ndim=2)
        if depth < 1:
            raise ValueError(f"depth must be >= 1, got {depth}")
        d = modes.ndim
        self.lift = _pointwise(d, in_channels, width)
        if rank is None:
            self.spectral = nn.ModuleList(SparseSpectralConv(width, width, modes) for _ in range(depth))
        else:
            from ..lowrank import LowRankSpectralConv

            rank = tuple(rank) if isinstance(rank, list) else rank
            self.spectral = nn.ModuleList(LowRankSpectralConv(width, width, modes, rank) for _ in range(depth))
        self.rank = rank
        self.skips = nn.ModuleList(_pointwise(d, width, width) for _ in range(depth))
        self.act = nn.GELU()
        self.head = nn.Linear(width, num_classes)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain Python types (``modes`` as a list of frequency vectors).

        ``SpectralClassifier.from_config(model.config)`` rebuilds the architecture
        (weights not included); see :mod:`spectral_sparse.checkpoint`.
        """
        config = {
            "in_channels": self.lift.in_channels,
            "num_classes": self.head.out_features,
            "width": self.lift.out_channels,
            "modes": self.spectral[0].modes.indices.tolist(),
            "depth": len(self.spectral),
        }
        if getattr(self, "rank", None) is not None:  # only low-rank models carry it: older configs stay as they were
            config["rank"] = self.rank
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SpectralClassifier:
        """A new (untrained) classifier from :attr:`config`; ``modes`` may be a radius or a list of vectors."""
        cfg = dict(config)
        modes = cfg.pop("modes")
        if not isinstance(modes, (ModeSet, int, float)):
            modes = ModeSet.from_indices(torch.as_tensor(modes, dtype=torch.long))
        return cls(modes=modes, **cfg)

    def features(self, x: Tensor) -> Tensor:
        """Hidden field after the last block, shape ``(B, width, *grid)``.

        Raises
        ------
        TypeError
            If ``x`` is not a real floating-point tensor (e.g. uint8 images).
        ValueError
            If ``x`` has the wrong rank or number of channels.
        """
        _check_images(x)  # before the lift, whose matmul would only report mismatched dtypes
        h = self.lift(x)
        for spectral, skip in zip(self.spectral, self.skips):
            # spectral(h) + skip(h): the skip's matmul accumulates into the spectral output's memory
            h = self._activate(skip(h, add=spectral(h), add_is_scratch=True))
        return h

    def _activate(self, z: Tensor) -> Tensor:
        """``self.act(z)``; a plain GELU without hooks runs in place on the temporary ``z`` when no grad is taken."""
        act = self.act
        if (
            not torch.is_grad_enabled()
            and type(act) is nn.GELU
            and not (act._forward_hooks or act._forward_pre_hooks)
            and not torch.compiler.is_compiling()
        ):
            return torch._C._nn.gelu_(z, approximate=act.approximate)
        return act(z)

    def forward(self, x: Tensor) -> Tensor:
        """Logits, shape ``(B, num_classes)``, for ``x`` of shape ``(B, in_channels, *grid)``.

        Raises
        ------
        TypeError
            If ``x`` is not a real floating-point tensor (e.g. uint8 images).
        ValueError
            If ``x`` has the wrong rank or number of channels.
        """
        h = self.features(x)  # checks the dtype before the lift
        return self.head(h.mean(dim=tuple(range(2, h.ndim))))


class CNNClassifier(nn.Module):
    """Baseline CNN: stages of circular-padded 3x3 convolutions and GELU, global mean pooling, linear head.

    ``[conv3x3 -> GELU] -> avgpool2 -> [conv3x3 -> GELU] -> ... -> grid mean -> linear``:
    one 3x3 convolution per entry of ``widths``, with a 2x2 average pooling
    between consecutive stages (it widens the receptive field cheaply; odd grid
    sizes are floored). It accepts any grid, like :class:`SpectralClassifier`,
    but its kernels and pooling windows are defined in pixels, so the function
    it computes changes with the grid: at twice the resolution every kernel
    covers half the physical extent.

    Parameters
    ----------
    in_channels, num_classes : int
    widths : sequence of int
        Output channels of each stage.

    Raises
    ------
    ValueError
        If ``in_channels`` or ``num_classes`` is not a positive int, or ``widths`` is
        empty or holds an entry below 1.

    Shapes
    ------
    input ``(B, in_channels, H, W)`` -> logits ``(B, num_classes)``.

    Examples
    --------
    >>> import torch
    >>> CNNClassifier(1, 6, widths=(8, 16))(torch.randn(5, 1, 20, 36)).shape
    torch.Size([5, 6])
    """

    def __init__(self, in_channels: int, num_classes: int, widths: Sequence[int] = (24, 48, 64)) -> None:
        super().__init__()
        positive_int(in_channels, "in_channels", index=True)
        positive_int(num_classes, "num_classes", index=True)
        if len(widths) == 0 or any(w < 1 for w in widths):
            raise ValueError(f"widths must be a non-empty sequence of positive ints, got {tuple(widths)}")
        layers: list[nn.Module] = []
        channels = in_channels
        for i, width in enumerate(widths):
            if i > 0:
                layers.append(nn.AvgPool2d(2))
            layers += [nn.Conv2d(channels, width, 3, padding=1, padding_mode="circular"), nn.GELU()]
            channels = width
        self.body = nn.Sequential(*layers)
        self.head = nn.Linear(channels, num_classes)

    @property
    def config(self) -> dict[str, Any]:
        """Constructor arguments as plain Python types; ``CNNClassifier.from_config(model.config)`` rebuilds it."""
        convs = [m for m in self.body if isinstance(m, nn.Conv2d)]
        return {
            "in_channels": convs[0].in_channels,
            "num_classes": self.head.out_features,
            "widths": [m.out_channels for m in convs],
        }

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> CNNClassifier:
        """A new (untrained) CNN from :attr:`config`."""
        return cls(**config)

    def forward(self, x: Tensor) -> Tensor:
        """Logits, shape ``(B, num_classes)``, for ``x`` of shape ``(B, in_channels, H, W)``."""
        return self.head(self.body(x).mean(dim=(2, 3)))
