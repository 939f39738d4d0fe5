"""Checkpoints of trained classifiers: architecture, weights and training facts in one file.

A checkpoint is a plain dict saved with :func:`torch.save`::

    {
        "format": "spectral_sparse.checkpoint",   # FORMAT
        "format_version": 1,
        "library_version": "0.1.0",
        "model": "SpectralClassifier",            # a key of MODEL_KINDS
        "config": {...},                          # constructor arguments, plain types
        "state_dict": {...},
        "metadata": {...},                        # training resolution, data split, seed, ...
    }

Everything but the tensors of the state dict is plain Python (str, int, float,
bool, None, lists, dicts), so :func:`load_checkpoint` reads it with
``torch.load(weights_only=True)``: loading a checkpoint never runs pickled code.

Files are written atomically (:func:`atomic_path`): the data goes to a
temporary file in the target's directory, is flushed to disk, and is then
renamed onto the target with :func:`os.replace`. A reader, a crash or a
Ctrl-C in the middle of a save sees either the previous file or the new one,
never a truncated mix.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from torch import nn

from .models.classifier import CNNClassifier, SpectralClassifier
from .models.fno import SparseFNO

__all__ = [
    "FORMAT",
    "FORMAT_VERSION",
    "MODEL_KINDS",
    "atomic_path",
    "atomic_save",
    "atomic_write_text",
    "load_checkpoint",
    "save_checkpoint",
]

#: Tag stored under ``"format"`` in every checkpoint written by :func:`save_checkpoint`.
FORMAT = "spectral_sparse.checkpoint"
#: Version of the checkpoint layout.
FORMAT_VERSION = 1
#: Model class name -> class; each has a ``config`` property and a ``from_config`` classmethod.
MODEL_KINDS: dict[str, type[nn.Module]] = {
    "SpectralClassifier": SpectralClassifier,
    "CNNClassifier": CNNClassifier,
    "SparseFNO": SparseFNO,
}

_PLAIN = (str, int, float, bool, type(None))


def _fsync(path: Path) -> None:
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def _fsync_dir(path: Path) -> None:
    try:  # makes the rename itself durable; not possible on every platform
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """A temporary path beside ``path`` that replaces ``path`` once the block succeeds.

    Write the file to the yielded path inside the ``with`` block. On success the
    file is flushed to disk and renamed onto ``path`` with :func:`os.replace`
    (atomic on POSIX and Windows when both lie in one directory, as here); if
    the block raises (an error, a ``KeyboardInterrupt``) the temporary file is
    removed and ``path`` is left as it was. The temporary name is hidden
    (``.name.<random>.tmp<suffix>``) and keeps the suffix, so writers that pick
    a format by extension (``savefig``) still do.

    Parameters
    ----------
    path : str or PathLike
        The final file; its parent directories are created.

    Yields
    ------
    Path
        Where to write.

    Examples
    --------
    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as d:
    ...     with atomic_path(f"{d}/a.txt") as tmp:
    ...         _ = tmp.write_text("done")
    ...     print(Path(f"{d}/a.txt").read_text(), len(os.listdir(d)))
    done 1
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp{path.suffix}")
    try:
        yield tmp
        if not tmp.is_file():
            raise FileNotFoundError(f"nothing was written to the temporary file for {str(path)!r}")
        _fsync(tmp)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def atomic_save(obj: Any, path: str | os.PathLike) -> Path:
    """:func:`torch.save` ``obj`` to ``path`` atomically (see :func:`atomic_path`); returns ``path``."""
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
    return Path(path)


def atomic_write_text(path: str | os.PathLike, text: str, newline: str | None = None) -> Path:
    """Write ``text`` to ``path`` atomically (see :func:`atomic_path`); returns ``path``."""
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8", newline=newline) as f:
        f.write(text)
    return Path(path)


def _plain(value: Any, where: str) -> Any:
    """``value`` with tuples as lists and paths/devices as str; TypeError for anything else that is not plain."""
    if type(value) in _PLAIN:
        return value
    for plain in (bool, int, float, str):  # subclasses such as torch's TorchVersion would not load with weights_only
        if isinstance(value, plain):
            return plain(value)
    if isinstance(value, (Path, torch.device, torch.dtype)):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {str(k): _plain(v, f"{where}[{k!r}]") for k, v in value.items()}
    raise TypeError(
        f"{where} is a {type(value).__name__}; checkpoint metadata must be plain types "
        "(str, int, float, bool, None, list, dict) so that it loads with weights_only=True"
    )


def _load_error(err: Exception, path: Path | None = None) -> str:
    """The informative line of a torch.load error (it hides it under advice about weights_only)."""
    text = str(err)
    if path is not None and path.is_file() and path.stat().st_size == 0:
        return "the file is empty"
    if isinstance(err, EOFError):
        return "the file ends early: it is truncated"
    if "central directory" in text or "file in archive is not in a subdirectory" in text:
        return "not a complete torch.save archive: the file is truncated or another zip file"
    if isinstance(err, KeyError) or (isinstance(err, Exception) and "invalid load key" in text):
        return "not a torch.save file"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    for i, line in enumerate(lines):
        if "WeightsUnpickler error:" in line:
            detail = line.split("WeightsUnpickler error:", 1)[1].split(". Please use", 1)[0].strip()
            if not detail and i + 1 < len(lines):
                detail = lines[i + 1]
            if detail.startswith("Unsupported operand"):
                detail += ": not a torch.save file"
            if detail.startswith("Unsupported global"):
                detail += " (pickled objects are refused: loading never runs their code)"
            return detail[:200]
    return (lines[0] if lines else type(err).__name__)[:200]


def _quantized(model: nn.Module) -> bool:
    return isinstance(getattr(model, "quantization", None), dict)


def save_checkpoint(path: str | os.PathLike, model: nn.Module, **metadata: Any) -> Path:
    """Save ``model`` (architecture + weights) and ``metadata`` to ``path``.

    Parameters
    ----------
    path : str or PathLike
        File to write (parent directories are created). It is written
        atomically: an interrupted save leaves the previous file intact.
    model : SpectralClassifier or CNNClassifier
        A model whose class is in :data:`MODEL_KINDS`.
    **metadata
        Facts to keep with the weights, e.g. ``train_resolution=28``,
        ``data="mnist"``, ``split=SPLIT_NOTE``, ``seed=0``. Plain types only
        (tuples become lists, paths strings).

    Returns
    -------
    Path
        ``path``.

    Raises
    ------
    ValueError
        If the model's class is not one :func:`load_checkpoint` can rebuild.
    TypeError
        If a metadata value is not a plain type.

    Examples
    --------
    >>> import tempfile, torch
    >>> model = SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    >>> with tempfile.TemporaryDirectory() as d:
    ...     p = save_checkpoint(f"{d}/m.pt", model, train_resolution=28, seed=0)
    ...     loaded, meta = load_checkpoint(p)
    >>> type(loaded).__name__, meta["train_resolution"]
    ('SpectralClassifier', 28)
    """
    kind = type(model).__name__
    if MODEL_KINDS.get(kind) is not type(model):
        raise ValueError(f"cannot checkpoint a {kind}: supported models are {', '.join(MODEL_KINDS)}")
    from . import __version__

    path = Path(path)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    atomic_save(
        {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "library_version": __version__,
            "model": kind,
            "config": _plain(model.config, "config"),
            "state_dict": state,
            "metadata": _plain(metadata, "metadata"),
            **({"quantization": _plain(model.quantization, "quantization")} if _quantized(model) else {}),
        },
        path,
    )
    return path


def load_checkpoint(
    path: str | os.PathLike, map_location: str | torch.device | None = "cpu"
) -> tuple[nn.Module, dict[str, Any]]:
    """Rebuild a model saved by :func:`save_checkpoint`.

    Parameters
    ----------
    path : str or PathLike
    map_location : str, torch.device or None
        Where the weights go (default: CPU).

    Returns
    -------
    model : nn.Module
        The architecture rebuilt from the stored config with the stored weights,
        in eval mode.
    metadata : dict
        The metadata given to :func:`save_checkpoint`, plus ``"library_version"``
        (the version that wrote the file) and ``"model"`` (the class name).

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist (the message names it).
    ValueError
        If the file is not a spectral_sparse checkpoint (not a torch file, not a
        dict, no format tag, a newer format version) or names an unknown model
        kind; the message says what was found.
    """
    path = Path(path)
    if not path.is_file():
        what = "is a directory, not a checkpoint file" if path.is_dir() else "does not exist"
        raise FileNotFoundError(f"checkpoint {str(path)!r} {what}")
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for foreign or corrupt files
        raise ValueError(
            f"{str(path)!r} is not a spectral_sparse checkpoint: torch.load(weights_only=True) failed "
            f"({_load_error(err, path)})"
        ) from None
    if not isinstance(data, dict):
        raise ValueError(f"{str(path)!r} is not a spectral_sparse checkpoint: it holds a {type(data).__name__}")
    if data.get("format") != FORMAT:
        keys = ", ".join(sorted(map(str, data))[:8]) or "none"
        hint = " (it looks like a bare state_dict)" if all(isinstance(v, torch.Tensor) for v in data.values()) else ""
        raise ValueError(
            f"{str(path)!r} is not a spectral_sparse checkpoint: format tag {data.get('format')!r}, "
            f"expected {FORMAT!r}; keys found: {keys}{hint}"
        )
    version = data.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"{str(path)!r} has checkpoint format version {version!r}; this library reads up to {FORMAT_VERSION}"
        )
    kind = data.get("model")
    if kind not in MODEL_KINDS:
        raise ValueError(f"{str(path)!r} holds an unknown model kind {kind!r}; known kinds: {', '.join(MODEL_KINDS)}")
    try:
        model = MODEL_KINDS[kind].from_config(data["config"])  # type: ignore[attr-defined]
        if data.get("quantization") is not None:  # integers and scales in the state dict (spectral_sparse.quantize)
            from .quantize import _install

            _install(model, data["quantization"])
        model.load_state_dict(data["state_dict"])
    except (KeyError, TypeError, RuntimeError, ValueError) as err:
        lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
        first = "; ".join(lines[:2]) if lines else type(err).__name__
        raise ValueError(f"{str(path)!r}: cannot rebuild the {kind} it holds ({first[:300]})") from None
    if map_location is not None:
        model.to(map_location)
    model.eval()
    metadata = dict(data.get("metadata") or {})
    metadata.setdefault("library_version", data.get("library_version"))
    metadata.setdefault("model", kind)
    return model, metadata
