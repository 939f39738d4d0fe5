"""Data loading: the IDX reader, MNIST loaders and fixed split, digits, resolution transforms.

Tests that read the real MNIST test set look for it in ``../shared/data`` beside the
repository root and are skipped only when that directory is absent.
"""

from __future__ import annotations

import gzip
import hashlib
import math
import struct
import sys
import zlib
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from spectral_sparse.data import mnist as mnist_module
from spectral_sparse.data.digits import load_digits
from spectral_sparse.data.mnist import (
    MD5,
    SPLIT_NOTE,
    SPLIT_TRAIN,
    default_data_root,
    load_mnist,
    mnist_split,
    read_idx,
)
from spectral_sparse.data.transforms import METHODS, ResolutionTransform, make_test_set, resize

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
MNIST_DIR = SHARED_DATA / "mnist"
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]

needs_shared = pytest.mark.skipif(
    not SHARED_DATA.is_dir(), reason=f"shared data directory {SHARED_DATA} (../shared/data) is absent"
)

_IDX_CODES = {np.uint8: 0x08, np.int8: 0x09, np.int16: 0x0B, np.int32: 0x0C, np.float32: 0x0D, np.float64: 0x0E}


def idx_bytes(array: np.ndarray) -> bytes:
    """Serialise ``array`` in the IDX format (big endian)."""
    code = _IDX_CODES[array.dtype.type]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def gzip_without_trailer(data: bytes) -> bytes:
    """A gzip stream with its end-of-stream trailer (CRC32 and length) cut off."""
    comp = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    return (comp.compress(data) + comp.flush())[:-8]


# --------------------------------------------------------------------------- IDX reader


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_read_idx_round_trip_raw(tmp_path: Path, dtype: type) -> None:
    rng = np.random.default_rng(0)
    array = (rng.standard_normal((3, 4, 5)) * 50).astype(dtype)
    path = tmp_path / "x-idx3"
    path.write_bytes(idx_bytes(array))
    out = read_idx(path)
    assert out.shape == (3, 4, 5)
    np.testing.assert_array_equal(out.numpy(), array)


def test_read_idx_gzip_without_end_marker(tmp_path: Path) -> None:
    images = np.random.default_rng(1).integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = np.arange(7, dtype=np.uint8)
    (tmp_path / "images.gz").write_bytes(gzip_without_trailer(idx_bytes(images)))
    (tmp_path / "labels.gz").write_bytes(gzip_without_trailer(idx_bytes(labels)))
    with pytest.raises(EOFError):  # the premise: Python's gzip module refuses such a stream
        gzip.decompress((tmp_path / "images.gz").read_bytes())
    out = read_idx(tmp_path / "images.gz")
    assert out.dtype == torch.uint8 and out.shape == (7, 28, 28)
    assert torch.equal(out, torch.from_numpy(images))
    assert torch.equal(read_idx(tmp_path / "labels.gz"), torch.arange(7, dtype=torch.uint8))


def test_read_idx_complete_and_multi_member_gzip(tmp_path: Path) -> None:
    data = idx_bytes(np.arange(24, dtype=np.int16).reshape(2, 3, 4))
    (tmp_path / "a.gz").write_bytes(gzip.compress(data))
    (tmp_path / "b.gz").write_bytes(gzip.compress(data[:10]) + gzip.compress(data[10:]))
    expected = torch.arange(24, dtype=torch.int16).reshape(2, 3, 4)
    assert torch.equal(read_idx(tmp_path / "a.gz"), expected)
    assert torch.equal(read_idx(tmp_path / "b.gz"), expected)


def test_read_idx_errors(tmp_path: Path) -> None:
    good = idx_bytes(np.zeros((4, 2, 2), dtype=np.uint8))
    big = idx_bytes(np.random.default_rng(4).integers(0, 256, (50, 28, 28), dtype=np.uint8))
    missing = tmp_path / "nope-idx3-ubyte"
    with pytest.raises(FileNotFoundError, match="nope-idx3-ubyte"):
        read_idx(missing)
    cases = {
        "magic": (b"\x08\x03" + good[2:], "not an IDX file"),
        "type": (b"\x00\x00\x07\x03" + good[4:], "not an IDX file"),
        "short": (good[:2], "truncated IDX file"),
        "header": (good[:9], "truncated IDX header"),
        "data": (good[:-3], "truncated IDX data"),
        "trailing": (good + b"\x01", "trailing bytes"),
        "cut-gzip": (gzip.compress(big)[: len(gzip.compress(big)) // 2], "truncated IDX data.*cut short"),
        "cut-gzip-header": (gzip.compress(good)[:20], "truncated IDX header.*cut short"),
        "gzip-garbage": (gzip.compress(good) + b"junk", "trailing garbage"),
        "corrupt-gzip": (gzip.compress(good)[:10] + b"\x07" + bytes(20), "corrupt gzip"),
    }
    for name, (content, message) in cases.items():
        path = tmp_path / f"{name}-idx"
        path.write_bytes(content)
        with pytest.raises(ValueError, match=message) as info:
            read_idx(path)
        assert str(path) in str(info.value), name


# --------------------------------------------------------------------------- load_mnist on written files


def write_mnist(folder: Path, n: int = 5, gz: bool = False, split: str = "t10k") -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n, dtype=np.uint8)
    folder.mkdir(parents=True, exist_ok=True)
    for name, array in ((f"{split}-images-idx3-ubyte", images), (f"{split}-labels-idx1-ubyte", labels)):
        if gz:
            (folder / f"{name}.gz").write_bytes(gzip_without_trailer(idx_bytes(array)))
        else:
            (folder / name).write_bytes(idx_bytes(array))
    return images, labels


def test_load_mnist_raw_files_any_directory(tmp_path: Path) -> None:
    images, labels = write_mnist(tmp_path / "anywhere")
    x, y = load_mnist(tmp_path / "anywhere")
    assert x.shape == (5, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (5,) and y.dtype == torch.int64
    assert torch.equal((x[:, 0] * 255).round().to(torch.uint8), torch.from_numpy(images))
    assert torch.equal(y, torch.from_numpy(labels).long())
    write_mnist(tmp_path / "anywhere", n=3, split="train")
    assert load_mnist(str(tmp_path / "anywhere"), split="train")[0].shape == (3, 1, 28, 28)


def test_load_mnist_torchvision_layout_and_fashion(tmp_path: Path) -> None:
    write_mnist(tmp_path / "MNIST" / "raw", n=4)
    write_mnist(tmp_path / "FashionMNIST" / "raw", n=6)
    assert len(load_mnist(tmp_path)[0]) == 4
    assert len(load_mnist(tmp_path, kind="fashion")[0]) == 6


def test_load_mnist_md5_checked_for_official_names(tmp_path: Path) -> None:
    images, _ = write_mnist(tmp_path, gz=True)  # official names, but not the official content
    with pytest.raises(ValueError, match=r"md5 .* does not match the official mnist file"):
        load_mnist(tmp_path)
    x, _ = load_mnist(tmp_path, check_md5=False)
    assert torch.equal((x[:, 0] * 255).round().to(torch.uint8), torch.from_numpy(images))


def test_load_mnist_missing_directory_and_files(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-dir"
    with pytest.raises(FileNotFoundError) as info:
        load_mnist(missing)
    message = str(info.value)
    assert str(missing) in message
    assert "t10k-images-idx3-ubyte" in message and "t10k-labels-idx1-ubyte" in message
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte") as info:
        load_mnist(tmp_path / "empty", split="train")
    assert str(tmp_path / "empty") in str(info.value)


def test_load_mnist_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="split must be one of"):
        load_mnist(tmp_path, split="validation")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="kind must be one of"):
        load_mnist(tmp_path, kind="kmnist")  # type: ignore[arg-type]


def test_load_mnist_download_offline_is_clear(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tv_mnist = pytest.importorskip("torchvision.datasets.mnist")

    def no_network(*args: object, **kwargs: object) -> None:
        raise URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(tv_mnist, "download_and_extract_archive", no_network)
    with pytest.raises(RuntimeError, match="no network") as info:
        load_mnist(tmp_path / "fresh", download=True)
    assert str(tmp_path / "fresh") in str(info.value) and "t10k-images-idx3-ubyte.gz" in str(info.value)
    with pytest.raises(RuntimeError, match="no network"):
        load_mnist(tmp_path / "fresh", kind="fashion", split="train", download=True)


def test_load_mnist_download_skipped_when_present(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_mnist(tmp_path)

    def fail(*args: object, **kwargs: object) -> None:
        raise AssertionError("download attempted although the files are present")

    monkeypatch.setattr(mnist_module, "_download", fail)
    assert len(load_mnist(tmp_path, download=True)[0]) == 5


def test_load_mnist_download_without_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)
    with pytest.raises(ImportError, match="pip install torchvision"):
        load_mnist(tmp_path, download=True)


def test_default_data_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECTRAL_SPARSE_DATA", str(tmp_path / "mine"))
    assert default_data_root() == tmp_path / "mine"
    monkeypatch.delenv("SPECTRAL_SPARSE_DATA")
    (tmp_path / "repo").mkdir()
    monkeypatch.chdir(tmp_path / "repo")
    assert default_data_root() is None
    (tmp_path / "shared" / "data").mkdir(parents=True)
    assert default_data_root() == (tmp_path / "shared" / "data").resolve()
    monkeypatch.chdir(tmp_path)  # no ../shared/data beside tmp_path
    if not (tmp_path.parent / "shared" / "data").is_dir():
        assert default_data_root() is None
        with pytest.raises(FileNotFoundError, match="SPECTRAL_SPARSE_DATA"):
            load_mnist(None)


# --------------------------------------------------------------------------- the real MNIST test set


@pytest.fixture(scope="module")
def mnist_test() -> tuple[torch.Tensor, torch.Tensor]:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data directory {SHARED_DATA} (../shared/data) is absent")
    return load_mnist(MNIST_DIR)


@needs_shared
def test_shared_mnist_md5() -> None:
    for name in ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"):
        digest = hashlib.md5((MNIST_DIR / name).read_bytes()).hexdigest()
        assert digest == MD5["mnist"][name], name
    assert MD5["mnist"]["t10k-images-idx3-ubyte.gz"] == "9fb629c4189551a2d022fa330f9573f3"
    assert MD5["mnist"]["t10k-labels-idx1-ubyte.gz"] == "ec29112dd5afa0611ce80d1b7f02629c"


@needs_shared
def test_shared_mnist_raw_idx() -> None:
    images = read_idx(MNIST_DIR / "t10k-images-idx3-ubyte.gz")
    labels = read_idx(MNIST_DIR / "t10k-labels-idx1-ubyte.gz")
    assert images.dtype == torch.uint8 and images.shape == (10000, 28, 28)
    assert labels.dtype == torch.uint8 and labels.shape == (10000,)
    assert int(images.max()) == 255 and int(images.min()) == 0


def test_shared_mnist_loader(mnist_test: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = mnist_test
    assert x.shape == (10000, 1, 28, 28) and x.dtype == torch.float32
    assert y.shape == (10000,) and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    counts = torch.bincount(y, minlength=10).tolist()
    assert sum(counts) == 10000
    assert counts == MNIST_TEST_COUNTS
    assert y[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]  # the well-known first test labels


def test_shared_mnist_found_from_data_root(mnist_test: tuple[torch.Tensor, torch.Tensor]) -> None:
    x, y = load_mnist(SHARED_DATA)  # finds the mnist/ subdirectory
    assert torch.equal(x, mnist_test[0]) and torch.equal(y, mnist_test[1])


def test_shared_mnist_wrong_kind_hint(mnist_test: tuple[torch.Tensor, torch.Tensor]) -> None:
    with pytest.raises(ValueError, match="official mnist file: pass kind='mnist'"):
        load_mnist(MNIST_DIR, kind="fashion")


def test_fixed_split(mnist_test: tuple[torch.Tensor, torch.Tensor], monkeypatch: pytest.MonkeyPatch) -> None:
    x, y = mnist_test
    (x_train, y_train), (x_test, y_test) = mnist_split(MNIST_DIR)
    assert SPLIT_TRAIN == 8000
    assert x_train.shape == (8000, 1, 28, 28) and y_train.shape == (8000,)
    assert x_test.shape == (2000, 1, 28, 28) and y_test.shape == (2000,)
    assert torch.equal(x_train, x[:8000]) and torch.equal(y_train, y[:8000])
    assert torch.equal(x_test, x[-2000:]) and torch.equal(y_test, y[-2000:])
    assert "first 8,000" in SPLIT_NOTE and "last 2,000" in SPLIT_NOTE and "test set" in SPLIT_NOTE
    assert "first 8,000" in (mnist_split.__doc__ or "") and "last 2,000" in (mnist_split.__doc__ or "")
    monkeypatch.setenv("SPECTRAL_SPARSE_DATA", str(SHARED_DATA))
    (_, y_train2), _ = mnist_split()
    assert torch.equal(y_train2, y_train)


def test_fourier_round_trip_on_mnist(mnist_test: tuple[torch.Tensor, torch.Tensor]) -> None:
    x = mnist_test[0][:16]
    back = resize(resize(x, 64), 28)
    assert (back - x).abs().max() < 1e-5


# --------------------------------------------------------------------------- digits


def test_digits() -> None:
    pytest.importorskip("sklearn")
    x, y = load_digits()
    assert x.shape == (1797, 1, 8, 8) and x.dtype == torch.float32
    assert y.shape == (1797,) and y.dtype == torch.int64
    assert float(x.min()) == 0.0 and float(x.max()) == 1.0
    counts = torch.bincount(y, minlength=10)
    assert len(counts) == 10 and int(counts.sum()) == 1797 and int(counts.min()) > 170
    x16, y16 = load_digits(resolution=16, method="bilinear", clamp=(0.0, 1.0))
    assert x16.shape == (1797, 1, 16, 16) and torch.equal(y16, y)
    assert float(x16.min()) >= 0.0 and float(x16.max()) <= 1.0
    assert torch.allclose(resize(load_digits(resolution=(12, 20))[0], 8), x, atol=1e-5)


def test_digits_without_sklearn(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(ImportError, match="pip install scikit-learn"):
        load_digits()


# --------------------------------------------------------------------------- resize


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("shape", [56, 13, (20, 35)])
def test_resize_shapes_and_dtypes(method: str, shape: int | tuple[int, int]) -> None:
    expected = (shape, shape) if isinstance(shape, int) else shape
    for dtype in (torch.float32, torch.float64):
        x = torch.rand(3, 2, 28, 28, dtype=dtype)
        y = resize(x, shape, method)
        assert y.shape == (3, 2, *expected) and y.dtype == dtype
        single = resize(x[1], shape, method)  # (c, H, W)
        assert single.shape == (2, *expected)
        torch.testing.assert_close(single, y[1])
    assert resize(torch.rand(0, 1, 28, 28), shape, method).shape == (0, 1, *expected)


def test_resize_matches_interpolate() -> None:
    x = torch.rand(2, 3, 28, 28)
    down = F.interpolate(x, size=(14, 14), mode="bilinear", align_corners=False, antialias=True)
    torch.testing.assert_close(resize(x, 14, "bilinear"), down)
    down = F.interpolate(x, size=(11, 17), mode="bicubic", align_corners=False, antialias=True)
    torch.testing.assert_close(resize(x, (11, 17), "bicubic"), down)
    up = F.interpolate(x, size=(40, 56), mode="bicubic", align_corners=False)
    torch.testing.assert_close(resize(x, (40, 56), "bicubic"), up)
    torch.testing.assert_close(resize(x, (9, 13), "area"), F.adaptive_avg_pool2d(x, (9, 13)))
    torch.testing.assert_close(resize(x, 14, "nearest"), x[..., ::2, ::2])
    torch.testing.assert_close(resize(x, 14, "area"), F.avg_pool2d(x, 2))
    assert resize(x, 28, "bicubic") is x


def band_limited(n: tuple[int, int], kmax: int = 3) -> torch.Tensor:
    """A random real trigonometric polynomial with ``|k_i| <= kmax``, sampled at ``x = n / N``, float64."""
    gen = torch.Generator().manual_seed(3)
    rows = torch.arange(n[0], dtype=torch.float64)[:, None] / n[0]
    cols = torch.arange(n[1], dtype=torch.float64)[None, :] / n[1]
    field = torch.zeros(n, dtype=torch.float64)
    for kx in range(-kmax, kmax + 1):
        for ky in range(-kmax, kmax + 1):
            a, phase = torch.rand(2, generator=gen, dtype=torch.float64)
            field += a * torch.cos(2 * math.pi * (kx * rows + ky * cols) + 2 * math.pi * phase)
    return field[None, None]


def test_fourier_resize_exact_on_band_limited_images() -> None:
    base = band_limited((16, 16))
    for shape in [(40, 40), (9, 9), (7, 12), (33, 64)]:  # up, down (odd), mixed, non-square up
        torch.testing.assert_close(resize(base, shape), band_limited(shape), rtol=0, atol=1e-12)
    # float32 too, and the transform in a pipeline
    out = ResolutionTransform((9, 9))(base[0].float())
    torch.testing.assert_close(out, band_limited((9, 9))[0].float(), rtol=0, atol=2e-5)


@pytest.mark.parametrize(("size", "up"), [((28, 28), (56, 56)), ((15, 15), (32, 32)), ((28, 13), (29, 40))])
def test_fourier_round_trip(size: tuple[int, int], up: tuple[int, int]) -> None:
    x = torch.rand(4, 2, *size, dtype=torch.float64)
    torch.testing.assert_close(resize(resize(x, up), size), x, rtol=0, atol=1e-12)


def test_resize_clamp_and_gradient() -> None:
    x = torch.zeros(1, 1, 16, 16)
    x[..., 4:12, 4:12] = 1.0  # a step: trigonometric interpolation rings
    up = resize(x, 48)
    assert float(up.max()) > 1.0 and float(up.min()) < 0.0
    clipped = resize(x, 48, clamp=(0.0, 1.0))
    assert float(clipped.max()) == 1.0 and float(clipped.min()) == 0.0
    for method in ("fourier", "bicubic"):
        leaf = torch.rand(1, 1, 16, 16, requires_grad=True)
        resize(leaf, 24, method).sum().backward()
        assert leaf.grad is not None and torch.isfinite(leaf.grad).all()


def test_resize_errors() -> None:
    x = torch.rand(2, 1, 8, 8)
    with pytest.raises(ValueError, match="unknown resize method 'lanczos'") as info:
        resize(x, 16, "lanczos")
    for method in METHODS:
        assert repr(method) in str(info.value)
    for bad in (0, -3, (4, 5, 6), (4,), 2.5, "16", True, (8, 0), (8.0, 8)):
        with pytest.raises(ValueError, match="shape must be"):
            resize(x, bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"\(n, c, H, W\) or \(c, H, W\)"):
        resize(torch.rand(8, 8), 16)
    with pytest.raises(TypeError, match="real floating point"):
        resize(torch.zeros(1, 8, 8, dtype=torch.uint8), 16)
    with pytest.raises(ValueError, match="clamp"):
        resize(x, 16, clamp=(1.0, 0.0))
    with pytest.raises(ValueError, match="valid methods"):
        ResolutionTransform(16, method="cubic")


def test_resolution_transform_and_make_test_set() -> None:
    t = ResolutionTransform((20, 24), method="area")
    assert repr(t) == "ResolutionTransform(shape=(20, 24), method='area', clamp=None)"
    x, y = torch.rand(10, 1, 28, 28), torch.arange(10)
    assert t(x).shape == (10, 1, 20, 24)
    for method in METHODS:
        x2, y2 = make_test_set(x, y, 36, method=method, batch_size=3)
        assert x2.shape == (10, 1, 36, 36) and y2 is y
        torch.testing.assert_close(x2, resize(x, 36, method))
    with pytest.raises(ValueError, match="one entry per image"):
        make_test_set(x, y[:5], 36)
    with pytest.raises(ValueError, match=r"\(n, c, H, W\)"):
        make_test_set(x[0], y, 36)
    with pytest.raises(ValueError, match="batch_size"):
        make_test_set(x, y, 36, batch_size=0)
