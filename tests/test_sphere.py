"""Sparse spherical convolutions: a literal quadrature reference, discretization invariance, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

pytest.importorskip("torch_harmonics")
special = pytest.importorskip("scipy.special")

from spectral_sparse.sphere.conv import SparseSphericalConv, max_degree, triangular_modes  # noqa: E402
from spectral_sparse.sphere.model import SphericalOperator, xyz_embedding  # noqa: E402
from spectral_sparse.testing import assert_close  # noqa: E402


def _nodes(nlat: int, nlon: int, grid: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    from torch_harmonics.quadrature import precompute_latitudes

    theta, weights = precompute_latitudes(nlat, grid=grid)
    return (
        np.asarray(theta, dtype=np.float64),
        np.asarray(weights, dtype=np.float64),
        2 * np.pi * np.arange(nlon) / nlon,
    )


def _harmonics(modes: np.ndarray, nlat: int, nlon: int, grid: str) -> np.ndarray:
    """``Y_l^m(theta_i, phi_j)`` from scipy (orthonormal, Condon-Shortley phase), shape (K, nlat, nlon)."""
    theta, _, phi = _nodes(nlat, nlon, grid)
    t, p = np.meshgrid(theta, phi, indexing="ij")
    return np.stack([special.sph_harm_y(int(deg), int(m), t, p) for deg, m in modes])


def reference(layer: SparseSphericalConv, x: torch.Tensor, grid: str, out_shape: tuple[int, int], out_grid: str):
    """The layer's contract as a literal quadrature sum and harmonic synthesis, in float64 numpy."""
    modes = layer.mode_indices.numpy()
    keep = modes[:, 0] < min(max_degree(*x.shape[2:], grid), max_degree(*out_shape, out_grid))
    nlat, nlon = x.shape[2:]
    _, weights, _ = _nodes(nlat, nlon, grid)
    y_in = _harmonics(modes[keep], nlat, nlon, grid)
    quad = weights[:, None] * (2 * np.pi / nlon)
    coeffs = np.einsum("bcij,kij->bck", x.numpy() * quad, np.conj(y_in))
    w = layer.mode_weights().detach().numpy()[keep]
    mixed = np.einsum("bck,kco->bok", coeffs, w)
    mult = np.where(modes[keep, 1] == 0, 1.0, 2.0)
    mixed = np.where(modes[keep, 1] == 0, mixed.real, mixed)  # a real field: Im of an m = 0 coefficient drops
    y_out = _harmonics(modes[keep], *out_shape, out_grid)
    out = np.einsum("bok,kij->boij", mixed * mult, y_out).real
    if layer.bias is not None:
        out = out + layer.bias.detach().numpy()[None, :, None, None]
    return torch.from_numpy(out)


def _layer(modes, share: str = "none", grid: str = "equiangular", seed: int = 0) -> SparseSphericalConv:
    torch.manual_seed(seed)
    layer = SparseSphericalConv(2, 3, modes, grid=grid, share=share)
    with torch.no_grad():
        layer.weight = torch.nn.Parameter(layer.weight.to(torch.complex128))
        layer.bias = torch.nn.Parameter(torch.randn(3, dtype=torch.float64))
    return layer


SPARSE = torch.tensor([[0, 0], [1, 1], [2, 0], [3, 2], [4, 4], [5, 1], [6, 3], [9, 0]])


@pytest.mark.parametrize(
    ("share", "grid", "shape", "out_grid", "out_shape"),
    [
        ("none", "equiangular", (9, 16), "equiangular", (9, 16)),
        ("none", "legendre-gauss", (7, 13), "equiangular", (12, 20)),
        ("degree", "legendre-gauss", (10, 20), "legendre-gauss", (6, 11)),
        ("degree", "equiangular", (16, 30), "legendre-gauss", (11, 24)),
    ],
)
def test_against_quadrature_reference(share, grid, shape, out_grid, out_shape) -> None:
    layer = _layer(SPARSE, share=share)
    x = torch.randn(2, 2, *shape, dtype=torch.float64)  # not band-limited: the quadrature sum is the contract
    out = layer(x, grid=grid, output_shape=out_shape, output_grid=out_grid)
    assert out.shape == (2, 3, *out_shape) and out.dtype == torch.float64
    assert_close(
        out, reference(layer, x, grid, out_shape, out_grid), what=f"{share} {grid}{shape}->{out_grid}{out_shape}"
    )


def test_degree_sharing_uses_one_matrix_per_degree() -> None:
    layer = SparseSphericalConv(2, 2, modes=4, share="degree")
    assert layer.weight.shape == (4, 2, 2)
    w = layer.mode_weights()
    assert torch.equal(w[1], w[2]) and torch.equal(w[3], w[5]) and not torch.equal(w[0], w[1])


def _band_limited(channels: int, band: int, shapes, dtype: torch.dtype, seed: int = 0) -> list[torch.Tensor]:
    from torch_harmonics import InverseRealSHT

    gen = torch.Generator().manual_seed(seed)
    coeffs = torch.randn(2, channels, band, band, 2, generator=gen, dtype=torch.float64)
    coeffs = torch.view_as_complex(coeffs).tril()  # only m <= l
    coeffs[..., 0] = coeffs[..., 0].real  # a real field
    return [
        InverseRealSHT(nlat, nlon, lmax=band, mmax=band, grid=g).double()(coeffs).to(dtype) for nlat, nlon, g in shapes
    ]


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_discretization_invariance(dtype: torch.dtype) -> None:
    band = 6
    grids = [(12, 24, "equiangular"), (17, 40, "equiangular"), (6, 13, "legendre-gauss"), (10, 20, "legendre-gauss")]
    fields = _band_limited(2, band, grids, dtype)
    layer = _layer(SPARSE)
    if dtype == torch.float32:
        layer.weight = torch.nn.Parameter(layer.weight.detach().to(torch.complex64))
        layer.bias = torch.nn.Parameter(layer.bias.detach().float())
    common = (14, 28)
    outs = [layer(f, grid=g, output_shape=common, output_grid="legendre-gauss") for f, (_, _, g) in zip(fields, grids)]
    for out, g in zip(outs[1:], grids[1:]):
        assert_close(out, outs[0], dtype, what=f"output from {g} vs {grids[0]}")
    # the layer never sees modes above the band: a layer keeping only the band's modes agrees
    inside = SPARSE[SPARSE[:, 0] < band]
    small = SparseSphericalConv(2, 3, inside)
    small.weight, small.bias = torch.nn.Parameter(layer.weight[: len(inside)].detach()), layer.bias
    assert_close(small(fields[0], output_shape=common, output_grid="legendre-gauss"), outs[0], dtype)


def test_grid_restriction_drops_unresolved_modes() -> None:
    layer = _layer(SPARSE)
    x = torch.randn(1, 2, 8, 16, dtype=torch.float64)  # equiangular 8 resolves l < 4
    assert max_degree(8, 16, "equiangular") == 4
    kept = SPARSE[:, 0] < 4
    small = SparseSphericalConv(2, 3, SPARSE[kept])
    small.weight, small.bias = torch.nn.Parameter(layer.weight[kept].detach()), layer.bias
    assert_close(layer(x), small(x))


def test_gradients_and_model_shapes() -> None:
    torch.manual_seed(0)
    model = SphericalOperator(3, 2, width=6, modes=5, n_layers=2, grid="legendre-gauss")
    for shape in [(8, 16), (11, 20)]:
        out = model(torch.randn(2, 3, *shape))
        assert out.shape == (2, 2, *shape)
        model.zero_grad()
        out.square().mean().backward()
        for name, p in model.named_parameters():
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    assert model(torch.randn(1, 3, 8, 16), output_shape=(16, 32)).shape == (1, 2, 16, 32)
    per_layer = SphericalOperator(1, 1, width=4, modes=[3, triangular_modes(2)], n_layers=2)
    assert [len(c.mode_indices) for c in per_layer.spectral] == [6, 3]


def test_xyz_embedding_is_band_limited_degree_one() -> None:
    e = xyz_embedding(9, 18, "equiangular").double()
    assert_close(e[2, :, 0], torch.cos(torch.linspace(0, math.pi, 9, dtype=torch.float64)), torch.float32)
    fine = xyz_embedding(17, 36, "equiangular")
    assert_close(fine[:, ::2, ::2], e.float())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"modes": torch.tensor([[2, 3]])}, ValueError, r"0 <= m <= l .* \(2, 3\)"),
        ({"modes": torch.tensor([[2, -1]])}, ValueError, "0 <= m <= l"),
        ({"modes": torch.tensor([[2, 1], [2, 1]])}, ValueError, "duplicate"),
        ({"modes": torch.tensor([[2.0, 1.0]])}, TypeError, "integers"),
        ({"modes": torch.zeros(0, 2, dtype=torch.long)}, ValueError, r"non-empty \(K, 2\)"),
        ({"modes": 0}, ValueError, "lmax must be a positive int"),
        ({"grid": "healpix"}, ValueError, "grid must be one of"),
        ({"share": "order"}, ValueError, "share must be"),
        ({"in_channels": 0}, ValueError, "in_channels must be a positive int"),
    ],
)
def test_bad_constructor_arguments(kwargs, error, match) -> None:
    args = {"in_channels": 2, "out_channels": 2, "modes": 4, **kwargs}
    with pytest.raises(error, match=match):
        SparseSphericalConv(**args)


def test_bad_forward_arguments() -> None:
    layer = SparseSphericalConv(2, 2, torch.tensor([[5, 0], [6, 2]]))
    with pytest.raises(
        ValueError, match=r"resolve degrees l < 2, none of the layer's modes \(smallest kept degree 5\)"
    ):
        layer(torch.randn(1, 2, 4, 8))
    with pytest.raises(ValueError, match="none of the layer's modes"):
        layer(torch.randn(1, 2, 16, 32), output_shape=(6, 12))
    with pytest.raises(ValueError, match="nlat must be an int >= 2"):
        layer(torch.randn(1, 2, 1, 8))
    with pytest.raises(ValueError, match="grid must be one of"):
        layer(torch.randn(1, 2, 16, 32), grid="lobatto")
    with pytest.raises(ValueError, match=r"shape \(B, 2, nlat, nlon\)"):
        layer(torch.randn(2, 16, 32))
    with pytest.raises(TypeError, match="real floating"):
        layer(torch.ones(1, 2, 16, 32, dtype=torch.long))
    with pytest.raises(ValueError, match=r"output_shape must be \(nlat, nlon\)"):
        layer(torch.randn(1, 2, 16, 32), output_shape=(16, 32, 2))
