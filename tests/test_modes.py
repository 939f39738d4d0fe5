"""ModeSet: constructors, canonical form, restriction, identity, serialisation."""

from __future__ import annotations

import copy
import io
import itertools
import math
import pickle

import pytest
import torch

from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.modes import canonicalize


def as_set(modes: ModeSet) -> set[tuple[int, ...]]:
    return {tuple(k) for k in modes.indices.tolist()}


def canonical_set(points) -> set[tuple[int, ...]]:
    """Canonical representatives of a collection of integer vectors (pure Python)."""
    out = set()
    for k in points:
        nz = [v for v in k if v != 0]
        out.add(tuple(-v for v in k) if nz and nz[-1] < 0 else tuple(k))
    return out


def is_canonical(k) -> bool:
    nz = [v for v in k if v != 0]
    return not nz or nz[-1] > 0


# ---------------------------------------------------------------------------- box


@pytest.mark.parametrize("n_modes", [(1,), (2,), (7,), (8,), (4, 4), (5, 4), (4, 5), (7, 7), (16, 16), (3, 4, 5)])
def test_box_matches_neuralop_n_modes_semantics(n_modes):
    """Non-last axis m: -(m//2)..(m-1)//2; last axis: 0..m//2 (neuraloperator's m//2+1 rfft bins)."""
    ranges = [range(-(m // 2), (m - 1) // 2 + 1) for m in n_modes[:-1]] + [range(0, n_modes[-1] // 2 + 1)]
    expected = canonical_set(itertools.product(*ranges))
    modes = ModeSet.box(n_modes)
    assert modes.ndim == len(n_modes)
    assert as_set(modes) == expected
    assert len(modes) == len(expected)  # no duplicates
    assert all(is_canonical(k) for k in modes.indices.tolist())
    assert modes.indices.dtype == torch.long
    assert modes.indices.device.type == "cpu"


def test_box_16x16_has_137_modes():
    modes = ModeSet.box((16, 16))
    assert len(modes) == 137
    # 16 values of k0 times 8 positive k1, plus k0 in 0..8 on the k1 = 0 plane
    assert len(modes) == 16 * 8 + 9
    assert modes.indices[:, 0].min() == -8 and modes.indices[:, 0].max() == 8  # (-8, 0) stored as (8, 0)
    assert modes.indices[:, 1].min() == 0 and modes.indices[:, 1].max() == 8


def test_box_int_and_examples():
    assert ModeSet.box(8).indices.flatten().tolist() == [0, 1, 2, 3, 4]
    assert ModeSet.box(8) == ModeSet.box((8,))
    assert len(ModeSet.box((4, 4))) == 11


@pytest.mark.parametrize("n_modes", [(8,), (6, 6), (7, 5), (4, 4, 4)])
def test_box_equals_the_modes_of_a_converted_neuralop_layer(n_modes):
    """The modes from_neuralop produces (neuraloperator's own slicing) are exactly ModeSet.box."""
    from neuralop.layers.spectral_convolution import SpectralConv

    torch.manual_seed(0)
    layer = SparseSpectralConv.from_neuralop(SpectralConv(1, 1, n_modes))
    assert as_set(layer.modes) == as_set(ModeSet.box(n_modes))


def test_box_order_is_last_axis_major():
    idx = ModeSet.box((4, 4)).indices.tolist()
    keys = [tuple(reversed(k)) for k in idx]
    assert keys == sorted(keys)


# ---------------------------------------------------------------------------- radial


@pytest.mark.parametrize(("radius", "ndim"), [(0, 1), (0, 3), (1, 2), (2.5, 1), (math.sqrt(2), 2), (3, 2), (2.2, 3)])
def test_radial_counts_match_lattice_points(radius, ndim):
    r = math.floor(radius)
    pts = [k for k in itertools.product(range(-r, r + 1), repeat=ndim) if sum(v * v for v in k) <= radius**2 + 1e-9]
    modes = ModeSet.radial(radius, ndim=ndim)
    # every lattice point but 0 pairs with its negative
    assert len(modes) == (len(pts) + 1) // 2
    assert as_set(modes) == canonical_set(pts)


def test_radial_examples():
    assert len(ModeSet.radial(1, ndim=2)) == 3
    assert ModeSet.radial(2.5, ndim=1).indices.flatten().tolist() == [0, 1, 2]
    assert ModeSet.radial(0, ndim=2).indices.tolist() == [[0, 0]]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"radius": -1, "ndim": 2}, "radius must be a finite non-negative number"),
        ({"radius": float("nan"), "ndim": 2}, "radius must be a finite non-negative number"),
        ({"radius": float("inf"), "ndim": 2}, "radius must be a finite non-negative number"),
        ({"radius": 2, "ndim": 0}, "ndim must be a positive int"),
        ({"radius": 2, "ndim": 2.0}, "ndim must be a positive int"),
        ({"radius": 2, "ndim": True}, "ndim must be a positive int"),
    ],
)
def test_radial_rejects_bad_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ModeSet.radial(**kwargs)


# ---------------------------------------------------------------------------- full


@pytest.mark.parametrize("grid", [(1,), (4,), (5,), (4, 4), (5, 4), (4, 5), (6, 3), (3, 4, 2)])
def test_full_is_every_resolved_mode(grid):
    ranges = [range(-(n // 2), n // 2 + 1) for n in grid]
    expected = canonical_set(itertools.product(*ranges))
    modes = ModeSet.full(grid)
    assert as_set(modes) == expected
    assert len(modes) == (math.prod(len(r) for r in ranges) + 1) // 2
    assert bool(modes.resolved(grid).all())


def test_full_keeps_both_signs_of_nyquist_on_non_last_axes():
    s = as_set(ModeSet.full((4, 4)))
    for k1 in (1, 2):
        assert (2, k1) in s and (-2, k1) in s  # distinct modes that alias on this grid
    assert (2, 0) in s and (-2, 0) not in s  # one mode on the k_last = 0 plane
    assert (0, 2) in s and (-1, 2) in s and (1, 2) in s
    assert len(ModeSet.full((4, 4))) == 13
    assert (len(ModeSet.full((4,))), len(ModeSet.full((5,)))) == (3, 3)


# ---------------------------------------------------------------------------- from_indices


def test_from_indices_canonicalises_and_keeps_order():
    modes = ModeSet.from_indices([[0, 0], [-1, 0], [2, -1], [-3, 4], [1, 1]])
    assert modes.indices.tolist() == [[0, 0], [1, 0], [-2, 1], [-3, 4], [1, 1]]
    assert canonicalize(torch.tensor([[3, -2], [-3, 0], [0, 0]])).tolist() == [[-3, 2], [3, 0], [0, 0]]


def test_from_indices_3d_canonical_form_uses_last_nonzero_coordinate():
    modes = ModeSet.from_indices([[1, -2, 0], [-1, 0, 0], [3, 2, -1], [0, 0, 0]])
    assert modes.indices.tolist() == [[-1, 2, 0], [1, 0, 0], [-3, -2, 1], [0, 0, 0]]
    assert all(is_canonical(k) for k in modes.indices.tolist())


def test_from_indices_accepts_tensors_numpy_and_1d():
    import numpy as np

    a = ModeSet.from_indices(torch.tensor([[1, 2], [0, -3]], dtype=torch.int32))
    b = ModeSet.from_indices(np.array([[1, 2], [0, -3]], dtype=np.int64))
    c = ModeSet.from_indices([[1, 2], [0, 3]])
    assert a == b == c
    assert a.indices.dtype == torch.long
    one_d = ModeSet.from_indices([0, -2, 3])
    assert one_d.ndim == 1 and one_d.indices.flatten().tolist() == [0, 2, 3]


def test_from_indices_empty():
    modes = ModeSet.from_indices(torch.zeros(0, 2, dtype=torch.long))
    assert len(modes) == 0 and modes.ndim == 2
    assert modes.min_grid == (1, 1)


@pytest.mark.parametrize(
    ("rows", "dup"),
    [
        ([[1, 2], [0, 1], [1, 2]], r"\[1, 2\]"),
        ([[1, 2], [-1, -2]], r"\[1, 2\]"),  # k and -k are one mode
        ([[3, 0], [-3, 0]], r"\[3, 0\]"),
        ([[0, 0], [0, 0]], r"\[0, 0\]"),
        ([[2], [-2]], r"\[2\]"),
    ],
)
def test_from_indices_rejects_duplicates(rows, dup):
    with pytest.raises(ValueError, match=r"duplicate mode " + dup + r": rows \[\d, \d\] name the same mode"):
        ModeSet.from_indices(rows)


@pytest.mark.parametrize(
    "bad",
    [
        [[0.5, 1.0]],
        [[1.0, 2.0]],  # integral floats are still floats
        torch.tensor([[1.0, 2.0]]),
        torch.tensor([[1, 2]], dtype=torch.complex64),
    ],
)
def test_from_indices_rejects_non_integers(bad):
    with pytest.raises(TypeError, match="mode indices must be integers"):
        ModeSet.from_indices(bad)


@pytest.mark.parametrize("bad", [[[True, False]], torch.tensor([[True, False]])])
def test_from_indices_rejects_bools(bad):
    with pytest.raises(TypeError, match=r"mode indices must be integers, got .*bool"):
        ModeSet.from_indices(bad)


def test_from_indices_rejects_ragged_and_strings():
    with pytest.raises(TypeError, match=r"mode indices must be a \(K, d\) array of integers"):
        ModeSet.from_indices([[1, 2], [3]])
    with pytest.raises(TypeError, match="mode indices must be"):
        ModeSet.from_indices("ab")


def test_from_indices_rejects_wrong_shapes():
    with pytest.raises(ValueError, match=r"mode indices must have shape \(K, d\), got shape \(1, 2, 2\)"):
        ModeSet.from_indices([[[1, 2], [3, 4]]])
    with pytest.raises(ValueError, match=r"at least one dimension \(d >= 1\)"):
        ModeSet.from_indices(torch.zeros(3, 0, dtype=torch.long))


def test_constructor_validates_like_from_indices():
    assert ModeSet(torch.tensor([[-1, 0]])) == ModeSet.from_indices([[1, 0]])
    with pytest.raises(ValueError, match="duplicate mode"):
        ModeSet(torch.tensor([[1, 1], [-1, -1]]))


# ---------------------------------------------------------------------------- restrict / resolved


def test_resolved_includes_nyquist_and_excludes_beyond():
    modes = ModeSet.from_indices([[0, 0], [2, 1], [-2, 2], [3, 0], [0, 3], [1, 1]])
    # 2|k_i| <= N_i: on a 4x4 grid k = 2 is the (even-split) Nyquist frequency and is resolved
    assert modes.resolved((4, 4)).tolist() == [True, True, True, False, False, True]
    # on a 5x5 grid |k_i| <= 2
    assert modes.resolved((5, 5)).tolist() == [True, True, True, False, False, True]
    assert modes.resolved((6, 4)).tolist() == [True, True, True, True, False, True]
    assert modes.resolved((1, 1)).tolist() == [True, False, False, False, False, False]


def test_restrict_keeps_order():
    modes = ModeSet.from_indices([[3, 1], [0, 0], [-1, 1], [1, 4], [2, 0]])
    assert modes.restrict((6, 4)).indices.tolist() == [[3, 1], [0, 0], [-1, 1], [2, 0]]
    assert modes.restrict((2, 2)).indices.tolist() == [[0, 0], [-1, 1]]
    assert ModeSet.box(16).restrict(8).indices.flatten().tolist() == [0, 1, 2, 3, 4]
    assert len(ModeSet.box((4, 4)).restrict((3, 3))) == 5


def test_restrict_of_full_grid_is_full_grid():
    big = ModeSet.full((8, 8))
    assert as_set(big.restrict((4, 4))) == as_set(ModeSet.full((4, 4)))
    assert as_set(big.restrict((5, 3))) == as_set(ModeSet.full((5, 3)))


def test_resolved_rejects_wrong_grid():
    modes = ModeSet.box((4, 4))
    with pytest.raises(ValueError, match=r"grid_shape \(4,\) has 1 axes but the mode set is 2-D"):
        modes.resolved((4,))
    with pytest.raises(ValueError, match="grid_shape entries must be >= 1"):
        modes.restrict((4, 0))
    with pytest.raises(TypeError, match="grid_shape must contain ints"):
        modes.restrict((4.0, 4.0))


def test_min_grid():
    assert ModeSet.box((8, 8)).min_grid == (8, 8)
    assert ModeSet.from_indices([[0, 0]]).min_grid == (1, 1)
    assert ModeSet.from_indices([[-3, 1], [0, 2]]).min_grid == (6, 4)
    modes = ModeSet.radial(3.5, ndim=2)
    assert bool(modes.resolved(modes.min_grid).all())


def test_getitem():
    modes = ModeSet.box((4, 4))
    mask = torch.zeros(len(modes), dtype=torch.bool)
    mask[[1, 4]] = True
    assert modes[mask].indices.tolist() == [modes.indices[1].tolist(), modes.indices[4].tolist()]
    assert modes[2:5] == ModeSet.from_indices(modes.indices[2:5])
    assert modes[[4, 1]].indices.tolist() == [modes.indices[4].tolist(), modes.indices[1].tolist()]
    with pytest.raises(ValueError, match=r"boolean mask must have shape \(11,\), got \(3,\)"):
        modes[torch.ones(3, dtype=torch.bool)]


@pytest.mark.parametrize("position", [0, 3, -1])
def test_getitem_with_an_int_selects_one_mode(position):
    """BUG: ``modes[3]`` on a 2-D set returns a 1-D set built from the coordinates of mode 3.

    ``ModeSet.__getitem__`` passes ``self._indices[torch.as_tensor(3)]``, a single row of shape
    ``(d,)``, to ``from_indices``, which reads a 1-D array as ``d`` one-dimensional modes: for
    ``box((4, 4))[3]`` (the mode ``(-2, 1)``) it returns ``ModeSet(ndim=1, K=2)`` with modes 2 and 1.
    """
    modes = ModeSet.box((4, 4))
    one = modes[position]
    assert one.ndim == 2
    assert one.indices.tolist() == [modes.indices[position].tolist()]


def test_constructors_reject_non_positive_sizes():
    with pytest.raises(ValueError, match=r"n_modes entries must be >= 1, got \(0, 4\)"):
        ModeSet.box((0, 4))
    with pytest.raises(ValueError, match="grid_shape entries must be >= 1"):
        ModeSet.full((4, -2))
    with pytest.raises(ValueError, match="n_modes must have at least one entry"):
        ModeSet.box(())
    with pytest.raises(TypeError, match="n_modes must contain ints"):
        ModeSet.box((4.5, 4))


# ---------------------------------------------------------------------------- identity and serialisation


def test_equality_is_ordered_and_hash_consistent():
    a = ModeSet.from_indices([[0, 0], [1, 1], [-1, 2]])
    b = ModeSet.from_indices([[0, 0], [-1, -1], [1, -2]])  # same modes, other signs
    c = ModeSet.from_indices([[1, 1], [0, 0], [-1, 2]])  # same set, other order
    assert a == b and hash(a) == hash(b) and a.key == b.key
    assert a != c  # order matters: a layer's weight is aligned with it
    assert a != ModeSet.from_indices([[0, 0], [1, 1]])
    assert ModeSet.from_indices([[1]]) != ModeSet.from_indices([[1, 0]])
    assert a != "not a mode set"
    assert {a: 1}[b] == 1
    assert len({a, b, c}) == 2


def test_indices_do_not_track_gradients_and_repr():
    modes = ModeSet.box((6, 6))
    assert not modes.indices.requires_grad
    assert repr(modes) == "ModeSet(ndim=2, K=22, max|k|=(3, 3))"
    assert repr(ModeSet.from_indices(torch.zeros(0, 3, dtype=torch.long))) == "ModeSet(ndim=3, K=0)"


@pytest.mark.parametrize("modes", [ModeSet.box((6, 5)), ModeSet.radial(2, ndim=3), ModeSet.from_indices([[3], [0]])])
def test_pickle_and_deepcopy(modes):
    for other in (pickle.loads(pickle.dumps(modes)), copy.deepcopy(modes), copy.copy(modes)):
        assert other == modes and hash(other) == hash(modes)
        assert other.indices.tolist() == modes.indices.tolist()


def _make_layer(seed: int = 0, **kwargs) -> SparseSpectralConv:
    torch.manual_seed(seed)
    layer = SparseSpectralConv(2, 3, ModeSet.box((6, 6)), **kwargs)
    with torch.no_grad():
        layer.bias.normal_()
    return layer


def test_state_dict_round_trip():
    src = _make_layer(0)
    dst = _make_layer(1)
    x = torch.randn(2, 2, 9, 8)
    assert not torch.equal(src(x), dst(x))
    dst.load_state_dict(src.state_dict())
    assert set(src.state_dict()) == {"weight", "bias", "mode_indices"}
    assert dst.modes == src.modes
    torch.testing.assert_close(dst(x), src(x), rtol=0, atol=0)


def test_compacted_state_dict_loads_into_a_fresh_full_layer():
    src = _make_layer(0)
    with torch.no_grad():
        src.weight[::3] = 0
    src.compact()
    assert len(src.modes) == 14
    state = src.state_dict()

    fresh = _make_layer(5)
    assert len(fresh.modes) == 22
    result = fresh.load_state_dict(state)
    assert not result.missing_keys and not result.unexpected_keys
    assert fresh.modes == src.modes
    assert fresh.weight.shape == src.weight.shape == (14, 2, 3)
    assert fresh.mode_indices.tolist() == src.modes.indices.tolist()
    x = torch.randn(2, 2, 10, 7)
    torch.testing.assert_close(fresh(x), src(x), rtol=0, atol=0)
    # and back: a full checkpoint into the compacted layer
    full = _make_layer(7)
    src.load_state_dict(full.state_dict())
    assert src.modes == full.modes
    torch.testing.assert_close(src(x), full(x), rtol=0, atol=0)


def test_state_dict_with_other_dimension_is_an_error():
    layer_1d = SparseSpectralConv(2, 3, ModeSet.box(6))
    layer_2d = _make_layer(0)
    with pytest.raises(RuntimeError, match="checkpoint modes are 1-D, layer is 2-D"):
        layer_2d.load_state_dict(layer_1d.state_dict())


def test_whole_layer_survives_torch_save_and_pickle():
    layer = _make_layer(0)
    with torch.no_grad():
        layer.weight[3:] = 0
    layer.compact()
    buffer = io.BytesIO()
    torch.save(layer, buffer)
    buffer.seek(0)
    loaded = torch.load(buffer, weights_only=False)
    clone = pickle.loads(pickle.dumps(layer))
    x = torch.randn(1, 2, 8, 8)
    for other in (loaded, clone):
        assert other.modes == layer.modes
        torch.testing.assert_close(other(x), layer(x), rtol=0, atol=0)
