"""MNIST and Fashion-MNIST from IDX files in any directory.

The files are read in the original IDX format (gzip-compressed or raw), from any
directory: a copy made by hand, torchvision's ``<root>/MNIST/raw`` layout, or the
project's offline data folder (see :func:`default_data_root`). Files with an
official name are checked against the md5 sums published with the data sets.

Offline, only the official MNIST **test** set is available (``../shared/data/mnist``
beside the project). :func:`mnist_split` cuts it into a fixed split, the first 8,000
images for training and the last 2,000 for testing; print :data:`SPLIT_NOTE` beside
every figure that uses it.
"""

from __future__ import annotations

import hashlib
import os
import zlib
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "DATA_ENV",
    "MD5",
    "SPLIT_NOTE",
    "SPLIT_TRAIN",
    "default_data_root",
    "load_mnist",
    "mnist_split",
    "read_idx",
]

#: Environment variable naming the data directory (see :func:`default_data_root`).
DATA_ENV = "SPECTRAL_SPARSE_DATA"

#: Number of leading images of the official MNIST test set that :func:`mnist_split` uses for training.
SPLIT_TRAIN = 8000

#: One line to print beside every figure computed on :func:`mnist_split`.
SPLIT_NOTE = (
    "MNIST: fixed split of the official 10,000-image test set (t10k), "
    "first 8,000 images for training, last 2,000 for testing"
)

#: md5 sums of the official gzip files, as published with the data sets (and listed by torchvision).
MD5: dict[str, dict[str, str]] = {
    "mnist": {
        "train-images-idx3-ubyte.gz": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
        "train-labels-idx1-ubyte.gz": "d53e105ee54ea40749a09fcbcd1e9432",
        "t10k-images-idx3-ubyte.gz": "9fb629c4189551a2d022fa330f9573f3",
        "t10k-labels-idx1-ubyte.gz": "ec29112dd5afa0611ce80d1b7f02629c",
    },
    "fashion": {
        "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
        "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
        "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
        "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
    },
}

# IDX type byte -> big-endian numpy dtype, native torch dtype
_IDX_TYPES: dict[int, tuple[str, torch.dtype]] = {
    0x08: (">u1", torch.uint8),
    0x09: (">i1", torch.int8),
    0x0B: (">i2", torch.int16),
    0x0C: (">i4", torch.int32),
    0x0D: (">f4", torch.float32),
    0x0E: (">f8", torch.float64),
}
_GZIP_MAGIC = b"\x1f\x8b"
_PREFIX = {"train": "train", "test": "t10k"}
# subdirectories of ``root`` searched after ``root`` itself, per kind
_SUBDIRS = {
    "mnist": ("mnist", "MNIST/raw"),
    "fashion": ("fashion", "fashion-mnist", "FashionMNIST/raw"),
}

PathLike = str | os.PathLike


def default_data_root() -> Path | None:
    """The directory that holds the project's data sets, or ``None``.

    In order: the environment variable ``SPECTRAL_SPARSE_DATA`` when set (returned
    as given, whether or not it exists); else ``../shared/data`` next to the current
    working directory, i.e. ``Path.cwd() / ".." / "shared" / "data"``, when that
    directory exists (the layout of the machines that build this project, run
    from the repository root); else ``None``.

    Returns
    -------
    Path or None

    Examples
    --------
    >>> import os
    >>> from unittest import mock
    >>> with mock.patch.dict(os.environ, {"SPECTRAL_SPARSE_DATA": "/data/sets"}):
    ...     print(default_data_root().as_posix())
    /data/sets
    """
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env).expanduser()
    shared = Path.cwd().parent / "shared" / "data"
    return shared.resolve() if shared.is_dir() else None


def _decompress_gzip(raw: bytes, path: Path) -> tuple[bytes, bool]:
    """Decompress every gzip member of ``raw``, tolerating a missing end-of-stream trailer.

    Returns the data and whether the last stream was complete (had its trailer).
    """
    chunks: list[bytes] = []
    complete = True
    while raw:
        dec = zlib.decompressobj(16 + zlib.MAX_WBITS)
        try:
            chunks.append(dec.decompress(raw))
            chunks.append(dec.flush())
        except zlib.error as exc:
            raise ValueError(f"{path}: corrupt gzip data ({exc})") from exc
        if not dec.eof:  # stream ended without its trailer (or was cut): keep what was decoded
            complete = False
            break
        raw = dec.unused_data
        if raw and not raw.startswith(_GZIP_MAGIC):
            if raw.strip(b"\x00"):
                raise ValueError(f"{path}: {len(raw)} bytes of trailing garbage after the gzip stream")
            break
    return b"".join(chunks), complete


def read_idx(path: PathLike) -> Tensor:
    """Read an IDX file (the MNIST format), gzip-compressed or raw.

    An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the element type:
    ``08`` uint8, ``09`` int8, ``0B`` int16, ``0C`` int32, ``0D`` float32,
    ``0E`` float64; ``DD`` the number of dimensions), ``DD`` big-endian 32-bit
    sizes, then the elements in big-endian C order. Compression is detected from
    the content (the gzip magic ``1f 8b``), not the file name. A gzip stream whose
    end-of-stream trailer (CRC and length) is missing is read as far as it goes;
    whether all the data were there is then checked against the header.

    Parameters
    ----------
    path : str or PathLike

    Returns
    -------
    Tensor, shape given by the header, dtype given by the type byte
        ``(n, rows, cols)`` uint8 for image files, ``(n,)`` uint8 for label files.

    Raises
    ------
    FileNotFoundError
        The file does not exist.
    ValueError
        Wrong magic number, unknown type, corrupt gzip data, truncated data or
        trailing bytes; the message names the file.

    Examples
    --------
    >>> import pathlib, struct, tempfile
    >>> raw = bytes([0, 0, 0x08, 2]) + struct.pack(">II", 2, 3) + bytes(range(6))
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = pathlib.Path(d) / "tiny-idx2-ubyte"
    ...     _ = p.write_bytes(raw)
    ...     read_idx(p)
    tensor([[0, 1, 2],
            [3, 4, 5]], dtype=torch.uint8)
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"IDX file not found: {path}")
    raw = path.read_bytes()
    data, complete = _decompress_gzip(raw, path) if raw.startswith(_GZIP_MAGIC) else (raw, True)
    cut = "" if complete else " (the gzip stream has no end-of-stream marker: the file is probably cut short)"
    if len(data) < 4:
        raise ValueError(f"{path}: truncated IDX file ({len(data)} bytes, no complete magic number){cut}")
    zero0, zero1, type_code, ndim = data[:4]
    if zero0 != 0 or zero1 != 0 or type_code not in _IDX_TYPES:
        raise ValueError(
            f"{path}: not an IDX file (magic number 0x{data[:4].hex()}; expected 0x0000TTDD with type TT in "
            f"{', '.join(f'{t:02x}' for t in _IDX_TYPES)})"
        )
    header = 4 + 4 * ndim
    if len(data) < header:
        raise ValueError(
            f"{path}: truncated IDX header (needs {header} bytes for {ndim} dimensions, has {len(data)}){cut}"
        )
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    np_type, torch_type = _IDX_TYPES[type_code]
    count = int(np.prod(dims, dtype=np.int64)) if dims else 1
    expected = count * np.dtype(np_type).itemsize
    found = len(data) - header
    if found < expected:
        raise ValueError(
            f"{path}: truncated IDX data: header {dims} needs {expected} bytes after the {header}-byte header, "
            f"found {found}{cut or ' (incomplete download?)'}"
        )
    if found > expected:
        raise ValueError(f"{path}: {found - expected} unexpected trailing bytes after the IDX data of shape {dims}")
    array = np.frombuffer(data, dtype=np_type, count=count, offset=header)
    array = array.astype(array.dtype.newbyteorder("="))  # native byte order, and a writable copy
    return torch.from_numpy(array).reshape(dims).to(torch_type)


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes(), usedforsecurity=False).hexdigest()


def _file_names(split: str) -> tuple[str, str]:
    prefix = _PREFIX[split]
    return f"{prefix}-images-idx3-ubyte", f"{prefix}-labels-idx1-ubyte"


def _find(root: Path, kind: str, name: str) -> Path | None:
    """First of ``name.gz``, ``name`` in ``root`` and its known subdirectories."""
    for folder in (root, *(root / sub for sub in _SUBDIRS[kind])):
        for candidate in (folder / f"{name}.gz", folder / name):
            if candidate.is_file():
                return candidate
    return None


def _verify(path: Path, kind: str) -> None:
    expected = MD5[kind].get(path.name)
    if expected is None:
        return
    actual = _md5(path)
    if actual != expected:
        other = [k for k in MD5 if k != kind and MD5[k].get(path.name) == actual]
        hint = f" (it is the official {other[0]} file: pass kind={other[0]!r})" if other else ""
        raise ValueError(
            f"{path}: md5 {actual} does not match the official {kind} file ({expected}){hint}; "
            "the file may be corrupt or from another data set (check_md5=False skips the check)"
        )


def _check_args(split: str, kind: str) -> None:
    if split not in _PREFIX:
        raise ValueError(f"split must be one of {sorted(_PREFIX)}, got {split!r}")
    if kind not in MD5:
        raise ValueError(f"kind must be one of {sorted(MD5)}, got {kind!r}")


def _resolve_root(root: PathLike | None) -> Path:
    if root is None:
        found = default_data_root()
        if found is None:
            raise FileNotFoundError(
                f"no data directory given and none found: pass root=..., set {DATA_ENV}, "
                "or run from a directory that has ../shared/data beside it"
            )
        return found
    return Path(root).expanduser()


def _download(root: Path, split: str, kind: str) -> None:
    """Fetch the files into ``root/MNIST/raw`` (or ``FashionMNIST/raw``) with torchvision."""
    try:
        from torchvision import datasets
    except ImportError as exc:
        raise ImportError("download=True needs torchvision (pip install torchvision)") from exc
    cls = datasets.FashionMNIST if kind == "fashion" else datasets.MNIST
    images, labels = _file_names(split)
    try:
        cls(str(root), train=split == "train", download=True)
    except Exception as exc:  # torchvision raises RuntimeError, URLError or OSError depending on the failure
        reason = " ".join(line.strip() for line in str(exc).splitlines() if line.strip())
        reason = reason if len(reason) <= 300 else reason[:297] + "..."
        raise RuntimeError(
            f"could not download {cls.__name__} into {root / cls.__name__ / 'raw'}: no network, or the mirrors "
            f"are unreachable ({type(exc).__name__}: {reason}). Without a network, put {images}.gz and "
            f"{labels}.gz (or the uncompressed files) into {root} and load with download=False"
        ) from exc


def load_mnist(
    root: PathLike | None,
    split: Literal["test", "train"] = "test",
    kind: Literal["mnist", "fashion"] = "mnist",
    download: bool = False,
    check_md5: bool = True,
) -> tuple[Tensor, Tensor]:
    """Load MNIST or Fashion-MNIST from the IDX files in a directory.

    Looks for ``t10k-images-idx3-ubyte`` and ``t10k-labels-idx1-ubyte`` (``split="test"``)
    or ``train-images-idx3-ubyte`` and ``train-labels-idx1-ubyte`` (``split="train"``),
    each as ``<name>.gz`` first, then uncompressed ``<name>``, in ``root`` and then in
    its subdirectories ``mnist/`` and ``MNIST/raw/`` (torchvision's layout), or, for
    ``kind="fashion"``, ``fashion/``, ``fashion-mnist/`` and ``FashionMNIST/raw/``.
    A gzip file with an official name is checked against the published md5 sum.

    Parameters
    ----------
    root : str, PathLike or None
        The directory; ``None`` uses :func:`default_data_root`.
    split : {"test", "train"}
        The official test set (10,000 images) or training set (60,000).
    kind : {"mnist", "fashion"}
        MNIST digits or Fashion-MNIST articles (same format and file names).
    download : bool
        When the files are missing, download them with torchvision into
        ``root/MNIST/raw`` (``root/FashionMNIST/raw``); needs a network.
        torchvision fetches all four files (training and test) at once.
    check_md5 : bool
        Verify files with an official name against the published md5 sums.

    Returns
    -------
    images : Tensor, shape (n, 1, 28, 28), float32 in [0, 1]
    labels : Tensor, shape (n,), int64 in 0..9

    Raises
    ------
    FileNotFoundError
        ``root`` does not exist or lacks the files (the message names the directory
        and the expected file names).
    RuntimeError
        ``download=True`` and the download failed (no network).
    ValueError
        Bad ``split`` or ``kind``, an md5 mismatch, or a malformed file.
    """
    _check_args(split, kind)
    root = _resolve_root(root)
    names = _file_names(split)
    expected = " and ".join(f"{n}.gz (or {n})" for n in names)
    if not root.is_dir() and not download:
        raise FileNotFoundError(f"data directory {root} does not exist; it should hold {expected}")
    paths = [_find(root, kind, n) if root.is_dir() else None for n in names]
    if download and None in paths:
        root.mkdir(parents=True, exist_ok=True)
        _download(root, split, kind)
        paths = [_find(root, kind, n) for n in names]
    if None in paths:
        subdirs = ", ".join(f"{s}/" for s in _SUBDIRS[kind])
        missing = ", ".join(n for n, p in zip(names, paths) if p is None)
        raise FileNotFoundError(
            f"{kind} {split} files not found in {root} (nor in its subdirectories {subdirs}): missing {missing}; "
            f"expected {expected}" + ("" if download else "; download=True fetches them when a network exists")
        )
    image_path, label_path = paths  # type: ignore[misc]
    if check_md5:
        _verify(image_path, kind)
        _verify(label_path, kind)
    images, labels = read_idx(image_path), read_idx(label_path)
    if images.dtype != torch.uint8 or images.ndim != 3:
        raise ValueError(
            f"{image_path}: expected uint8 images of shape (n, rows, cols), got {images.dtype} {tuple(images.shape)}"
        )
    if labels.dtype != torch.uint8 or labels.ndim != 1:
        raise ValueError(f"{label_path}: expected uint8 labels of shape (n,), got {labels.dtype} {tuple(labels.shape)}")
    if len(images) != len(labels):
        raise ValueError(f"{image_path} has {len(images)} images but {label_path} has {len(labels)} labels")
    return images.unsqueeze(1).to(torch.float32).div_(255.0), labels.to(torch.int64)


def mnist_split(
    root: PathLike | None = None, kind: Literal["mnist", "fashion"] = "mnist", check_md5: bool = True
) -> tuple[tuple[Tensor, Tensor], tuple[Tensor, Tensor]]:
    """The project's fixed split of the official MNIST test set.

    The full training set (60,000 images) is not available offline, so this split
    of the official 10,000-image **test** set (``t10k``) is used instead: the
    **first 8,000 images for training, the last 2,000 for testing**, in file order,
    with no shuffling. Every figure computed on it must say so
    (print :data:`SPLIT_NOTE`).

    Parameters
    ----------
    root : str, PathLike or None
        Directory with the test files (see :func:`load_mnist`); ``None`` uses
        :func:`default_data_root`.
    kind : {"mnist", "fashion"}
        The same split of Fashion-MNIST's test set with ``"fashion"``.
    check_md5 : bool
        See :func:`load_mnist`.

    Returns
    -------
    (x_train, y_train) : Tensor (8000, 1, 28, 28) float32 in [0, 1], Tensor (8000,) int64
    (x_test, y_test) : Tensor (2000, 1, 28, 28) float32 in [0, 1], Tensor (2000,) int64
    """
    images, labels = load_mnist(root, split="test", kind=kind, check_md5=check_md5)
    if len(images) <= SPLIT_TRAIN:
        raise ValueError(f"the fixed split needs more than {SPLIT_TRAIN} test images, the files hold {len(images)}")
    n = SPLIT_TRAIN
    return (images[:n].clone(), labels[:n].clone()), (images[n:].clone(), labels[n:].clone())
