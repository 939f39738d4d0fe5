"""Grid-independent sets of Fourier modes.

A :class:`ModeSet` is a set of integer frequency vectors ``k`` in ``d``
dimensions. A real field's spectrum is Hermitian (``x̂(-k) = conj x̂(k)``), so a
mode is stored once for the pair ``{k, -k}``: by its *canonical*
representative, the one whose last non-zero coordinate is positive (or ``k =
0``). This is the half-space that ``torch.fft.rfftn`` keeps.

A mode set knows nothing about grids. A grid of shape ``N`` *resolves* a mode
``k`` when ``2 |k_i| <= N_i`` on every axis; a mode exactly at an even grid's
Nyquist frequency (``2 |k_i| = N_i``) is resolved under the even-split
convention described in :mod:`spectral_sparse.functional`.
"""

from __future__ import annotations

import hashlib
import itertools
import math
from collections.abc import Sequence

import torch
from torch import Tensor

from ._checks import as_shape, positive_int

__all__ = ["MAX_INDEX", "MAX_MODES", "ModeSet", "canonicalize"]

MAX_INDEX = 2**62
"""Mode indices must satisfy ``|k_i| < MAX_INDEX``: ``2 |k_i|`` (the grid a mode needs) must fit in int64."""

MAX_MODES = 2**31
"""The most modes :meth:`ModeSet.box`, :meth:`ModeSet.full` and :meth:`ModeSet.radial` build (or test)."""


def canonicalize(indices: Tensor) -> Tensor:
    """Map each frequency vector to its canonical half-space representative.

    Parameters
    ----------
    indices : LongTensor, shape (K, d)

    Returns
    -------
    LongTensor, shape (K, d)
        ``k`` if its last non-zero coordinate is positive (or ``k = 0``), else ``-k``.

    Examples
    --------
    >>> canonicalize(torch.tensor([[3, -2], [-3, 0], [0, 0]])).tolist()
    [[-3, 2], [3, 0], [0, 0]]
    """
    if indices.numel() == 0:
        return indices.clone()
    d = indices.shape[1]
    nonzero = indices != 0
    # position of the last non-zero coordinate (0 for the zero vector, which is canonical anyway)
    last = d - 1 - torch.flip(nonzero, dims=(1,)).to(torch.int8).argmax(dim=1)
    lead = indices.gather(1, last[:, None]).squeeze(1)
    return torch.where((lead < 0)[:, None], -indices, indices)


def _as_index_tensor(idx: object) -> Tensor:
    if isinstance(idx, Tensor):
        if idx.is_floating_point() or idx.is_complex() or idx.dtype == torch.bool:
            raise TypeError(f"mode indices must be integers, got a tensor of dtype {idx.dtype}")
        t = idx.detach().to(device="cpu", dtype=torch.long)
    else:
        try:
            t = torch.as_tensor(idx)
        except (TypeError, ValueError, RuntimeError) as err:
            raise TypeError(f"mode indices must be a (K, d) array of integers: {err}") from None
        if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
            raise TypeError(f"mode indices must be integers, got values of dtype {t.dtype}")
        t = t.to(torch.long)
    if t.ndim == 1:
        t = t[:, None]
    if t.ndim != 2:
        raise ValueError(f"mode indices must have shape (K, d), got shape {tuple(t.shape)}")
    if t.shape[1] < 1:
        raise ValueError("mode indices need at least one dimension (d >= 1)")
    # -2**63 is its own absolute value in int64, so test both ends rather than abs()
    big = (t >= MAX_INDEX) | (t <= -MAX_INDEX)
    if bool(big.any()):
        row = int(torch.nonzero(big.any(dim=1))[0, 0])
        raise ValueError(
            f"mode index out of range: row {row} is {t[row].tolist()}; every |k_i| must be below 2**62 "
            "so that 2|k_i| (the grid size that resolves it) fits in int64"
        )
    return t.contiguous()


def _check_count(count: int, what: str, ndim: int, noun: str = "modes") -> None:
    """Refuse up front a constructor call that would build more than :data:`MAX_MODES` modes."""
    if count > MAX_MODES:
        raise ValueError(
            f"{what} would hold {count} {noun}, more than the limit of 2**31 = {MAX_MODES} "
            f"(about {count * ndim * 8 / 2**30:.3g} GiB for the int64 indices alone); use a smaller set"
        )


class ModeSet:
    """A grid-independent set of canonical Fourier modes.

    Build one with :meth:`box`, :meth:`radial`, :meth:`full` or :meth:`from_indices`.
    Mode sets are immutable; their order is significant because a layer's
    weight is aligned with it, and equality compares the ordered indices.

    Attributes
    ----------
    indices : LongTensor, shape (K, d)
        The canonical frequency vectors, on the CPU.

    Examples
    --------
    >>> m = ModeSet.box((4, 4))
    >>> len(m), m.ndim
    (11, 2)
    >>> ModeSet.from_indices([[0, 0], [-1, 0], [2, -1]]).indices.tolist()
    [[0, 0], [1, 0], [-2, 1]]
    >>> len(m.restrict((3, 3)))
    5
    """

    __slots__ = ("_indices", "_key")

    def __init__(self, indices: Tensor, *, _checked: bool = False) -> None:
        if not _checked:
            other = ModeSet.from_indices(indices)
            indices = other._indices
        self._indices = indices
        self._indices.requires_grad_(False)
        self._key: bytes | None = None

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_indices(cls, idx: object) -> ModeSet:
        """Mode set from integer frequency vectors of any sign.

        Each row is mapped to its canonical representative; the order of the rows
        is kept. Two rows that are equal or negatives of each other are rejected.

        Parameters
        ----------
        idx : array-like of int, shape (K, d) or (K,)
            Frequency vectors (a 1-D array is read as ``K`` one-dimensional modes).

        Raises
        ------
        TypeError
            If the values are not integers.
        ValueError
            If the shape is wrong, two rows name the same mode, or an index has
            ``|k_i| >= 2**62`` (twice it would overflow int64).
        """
        t = canonicalize(_as_index_tensor(idx))
        if t.shape[0] > 1:
            uniq, inverse, counts = torch.unique(t, dim=0, return_inverse=True, return_counts=True)
            if bool((counts > 1).any()):
                dup = uniq[counts > 1][0].tolist()
                rows = torch.nonzero(inverse == torch.nonzero(counts > 1)[0, 0]).flatten().tolist()
                raise ValueError(
                    f"duplicate mode {dup}: rows {rows} name the same mode (k and -k are one mode "
                    "for a real field, stored once in canonical form)"
                )
        return cls(t, _checked=True)

    @classmethod
    def box(cls, n_modes: int | Sequence[int]) -> ModeSet:
        """The low-frequency block that neuraloperator keeps for ``n_modes``.

        Along every axis but the last, ``m`` modes are the frequencies
        ``-(m // 2) ... (m - 1) // 2``; along the last axis, ``0 ... m // 2``
        (neuraloperator's ``m // 2 + 1`` rfft bins). Pairs ``{k, -k}`` on the
        ``k_last = 0`` plane are stored once.

        Parameters
        ----------
        n_modes : int or sequence of int
            Number of modes per axis, as neuraloperator's ``n_modes``.

        Raises
        ------
        ValueError
            If an entry is below 1, or the box would hold more than
            :data:`MAX_MODES` (``2**31``) modes.

        Examples
        --------
        >>> ModeSet.box(8).indices.flatten().tolist()
        [0, 1, 2, 3, 4]
        >>> len(ModeSet.box((16, 16)))
        137
        """
        n = as_shape(n_modes, "n_modes")
        _check_count(_box_count(n), f"ModeSet.box({n})", len(n))
        ranges = [range(-(m // 2), (m - 1) // 2 + 1) for m in n[:-1]] + [range(0, n[-1] // 2 + 1)]
        grid = torch.tensor(list(itertools.product(*ranges)), dtype=torch.long).reshape(-1, len(n))
        return cls._from_candidates(grid)

    @classmethod
    def radial(cls, radius: float, ndim: int) -> ModeSet:
        """All modes with Euclidean norm ``|k| <= radius``.

        Parameters
        ----------
        radius : float
            Largest frequency norm kept (non-negative).
        ndim : int
            Number of spatial dimensions.

        Raises
        ------
        ValueError
            If ``ndim < 1``, the radius is negative or not finite, or the search cube
            ``(2 floor(radius) + 1)**ndim`` holds more than :data:`MAX_MODES` candidates.

        Examples
        --------
        >>> len(ModeSet.radial(1, ndim=2))
        3
        >>> ModeSet.radial(2.5, ndim=1).indices.flatten().tolist()
        [0, 1, 2]
        """
        positive_int(ndim, "ndim")
        if not (isinstance(radius, (int, float)) and math.isfinite(radius) and radius >= 0):
            raise ValueError(f"radius must be a finite non-negative number, got {radius!r}")
        r = math.floor(radius)
        _check_count((2 * r + 1) ** ndim, f"ModeSet.radial({radius!r}, ndim={ndim})", ndim, "candidate modes")
        axis = torch.arange(-r, r + 1)
        grid = torch.cartesian_prod(*([axis] * ndim)).reshape(-1, ndim)
        grid = grid[(grid.double() ** 2).sum(1) <= radius * radius + 1e-9]
        return cls._from_candidates(grid)

    @classmethod
    def full(cls, grid_shape: int | Sequence[int]) -> ModeSet:
        """Every mode that a grid resolves, Nyquist modes included (both signs).

        This is the mode set of a spectral layer equal to a circular convolution
        on that grid (see :meth:`SparseSpectralConv.from_conv`).

        Raises
        ------
        ValueError
            If an entry is below 1, or the set would hold more than :data:`MAX_MODES`
            (``2**31``) modes.

        Examples
        --------
        >>> len(ModeSet.full((4,))), len(ModeSet.full((5,)))
        (3, 3)
        >>> len(ModeSet.full((4, 4)))
        13
        """
        n = as_shape(grid_shape, "grid_shape")
        _check_count((math.prod(2 * (m // 2) + 1 for m in n) + 1) // 2, f"ModeSet.full({n})", len(n))
        ranges = [range(-(m // 2), m // 2 + 1) for m in n]
        grid = torch.tensor(list(itertools.product(*ranges)), dtype=torch.long).reshape(-1, len(n))
        return cls._from_candidates(grid)

    @classmethod
    def _from_candidates(cls, grid: Tensor) -> ModeSet:
        """Canonicalise, deduplicate and sort (by last axis first) a candidate list."""
        canon = torch.unique(canonicalize(grid), dim=0)
        order = _lexsort_last_axis_first(canon)
        return cls(canon[order].contiguous(), _checked=True)

    # ------------------------------------------------------------------ properties
    @property
    def indices(self) -> Tensor:
        """LongTensor, shape (K, d): canonical frequency vectors (CPU)."""
        return self._indices

    @property
    def ndim(self) -> int:
        """Number of spatial dimensions ``d``."""
        return int(self._indices.shape[1])

    def __len__(self) -> int:
        return int(self._indices.shape[0])

    @property
    def min_grid(self) -> tuple[int, ...]:
        """Smallest grid shape that resolves every mode (``2 max |k_i|``, at least 1)."""
        if len(self) == 0:
            return (1,) * self.ndim
        return tuple(max(1, 2 * int(v)) for v in self._indices.abs().amax(0))

    @property
    def key(self) -> bytes:
        """A digest of the ordered indices, for caches."""
        if self._key is None:
            h = hashlib.blake2b(digest_size=16)
            h.update(str(tuple(self._indices.shape)).encode())
            h.update(self._indices.numpy().tobytes())
            self._key = h.digest()
        return self._key

    # ------------------------------------------------------------------ operations
    def resolved(self, grid_shape: int | Sequence[int]) -> Tensor:
        """Boolean mask, shape (K,): which modes a grid resolves (``2|k_i| <= N_i``)."""
        n = as_shape(grid_shape, "grid_shape")
        if len(n) != self.ndim:
            raise ValueError(f"grid_shape {tuple(n)} has {len(n)} axes but the mode set is {self.ndim}-D")
        return (2 * self._indices.abs() <= torch.tensor(n)).all(dim=1)

    def restrict(self, grid_shape: int | Sequence[int]) -> ModeSet:
        """The modes a grid resolves, in the same order.

        Examples
        --------
        >>> ModeSet.box(16).restrict(8).indices.flatten().tolist()
        [0, 1, 2, 3, 4]
        """
        return self[self.resolved(grid_shape)]

    def __getitem__(self, item: Tensor | slice | Sequence[int]) -> ModeSet:
        if isinstance(item, Tensor) and item.dtype == torch.bool:
            if item.shape != (len(self),):
                raise ValueError(f"boolean mask must have shape ({len(self)},), got {tuple(item.shape)}")
            return ModeSet(self._indices[item.cpu()], _checked=True)
        if isinstance(item, slice):
            return ModeSet(self._indices[item], _checked=True)
        positions = torch.as_tensor(item, dtype=torch.long).cpu().reshape(-1)  # an int selects one mode
        return ModeSet.from_indices(self._indices[positions].reshape(-1, self.ndim))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, ModeSet):
            return NotImplemented
        return self._indices.shape == other._indices.shape and bool(torch.equal(self._indices, other._indices))

    def __hash__(self) -> int:
        return hash(self.key)

    def __repr__(self) -> str:
        if len(self) == 0:
            return f"ModeSet(ndim={self.ndim}, K=0)"
        kmax = tuple(int(v) for v in self._indices.abs().amax(0))
        return f"ModeSet(ndim={self.ndim}, K={len(self)}, max|k|={kmax})"

    def __reduce__(self) -> tuple:
        return (ModeSet, (self._indices.clone(),))


#: Kept for modules that imported the shape check from here; it lives in :mod:`spectral_sparse._checks`.
_as_shape = as_shape


def _box_count(n: tuple[int, ...]) -> int:
    """Exact number of modes in ``ModeSet.box(n)``, from the shape alone (Python ints, no overflow)."""
    plane = math.prod(n[:-1])  # candidates with k_last = 0
    symmetric = math.prod(m if m % 2 else m - 1 for m in n[:-1])  # of them, those whose -k is a candidate too
    return (symmetric + 1) // 2 + (plane - symmetric) + plane * (n[-1] // 2)


def _lexsort_last_axis_first(idx: Tensor) -> Tensor:
    """Permutation sorting rows by (k_d, k_{d-1}, ..., k_1)."""
    order = torch.arange(idx.shape[0])
    for axis in range(idx.shape[1]):  # least significant key first, stable sorts
        order = order[torch.sort(idx[order, axis], stable=True).indices]
    return order
