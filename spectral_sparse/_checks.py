"""Validation and bookkeeping helpers shared by the whole package (private).

One copy of each small check the modules make on their arguments, so every
module raises the same error type with the same wording:

* :func:`positive_int`: an int ``>= 1`` (``bool`` is not one).
* :func:`as_shape`: an int or a sequence of ints ``>= 1`` as a tuple.
* :func:`grid_shape`: a grid of ``ndim`` axes (an int means that size on every axis).
* :func:`resolution_name`: the value a 2-D grid is stored as in result rows.
* :func:`check_domain`: ``None`` or a pair ``(lo, hi)`` of finite numbers.
* :func:`check_module`: an ``nn.Module``.
* :func:`count_parameters`: real trainable parameters (a complex weight counts twice).
* :func:`spectral_layers`: ``(name, layer)`` of the layers of some types in a model.
* :func:`progress`: a tqdm bar that can be switched off.
* :func:`write_json`, :func:`write_csv`: result files, written atomically.

This module imports only torch and the standard library at import time, so
every other module (:mod:`spectral_sparse.modes` included) can import it.
"""

from __future__ import annotations

import csv
import io
import json
import math
import operator
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

__all__ = [
    "as_shape",
    "check_domain",
    "check_module",
    "count_parameters",
    "grid_shape",
    "positive_int",
    "progress",
    "resolution_name",
    "spectral_layers",
    "write_csv",
    "write_json",
]


def positive_int(value: Any, name: str, *, index: bool = False, what: str = "a positive int") -> int:
    """``value`` if it is an int ``>= 1``; ValueError ``"{name} must be {what}, got ..."`` otherwise.

    ``bool`` is never accepted. With ``index=True`` any integer type (numpy and torch
    integer scalars, anything with ``__index__``) is accepted and returned as ``int``.
    ``what`` words the requirement in the message (e.g. ``"a positive int or None"``
    where ``None`` is allowed and checked by the caller).

    Examples
    --------
    >>> positive_int(3, "width")
    3
    >>> positive_int(0, "width")
    Traceback (most recent call last):
    ...
    ValueError: width must be a positive int, got 0
    """
    if index:
        try:
            ok = not isinstance(value, bool) and operator.index(value) >= 1
        except TypeError:
            ok = False
    else:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= 1
    if not ok:
        raise ValueError(f"{name} must be {what}, got {value!r}")
    return operator.index(value)


def _is_int(value: Any) -> bool:
    """An int, or an integer scalar type (numpy, torch); never a bool or a float."""
    return not isinstance(value, (bool, float)) and (isinstance(value, int) or hasattr(value, "__index__"))


def as_shape(shape: int | Sequence[int], name: str) -> tuple[int, ...]:
    """``shape`` as a non-empty tuple of ints ``>= 1`` (an int is a 1-tuple).

    TypeError for something that is not an int or a sequence of ints (a bool
    included); ValueError for an empty sequence or an entry ``< 1``.

    Examples
    --------
    >>> as_shape(4, "n"), as_shape([2, 3], "n")
    ((4,), (2, 3))
    """
    if isinstance(shape, (int,)) and not isinstance(shape, bool):
        shape = (shape,)
    if isinstance(shape, Tensor):
        shape = tuple(int(s) for s in shape.tolist())
    try:
        out = tuple(shape)
    except TypeError:
        raise TypeError(f"{name} must be an int or a sequence of ints, got {shape!r}") from None
    if len(out) == 0:
        raise ValueError(f"{name} must have at least one entry")
    for s in out:
        if isinstance(s, bool) or (
            not isinstance(s, (int,)) and not (hasattr(s, "__index__") and not isinstance(s, float))
        ):
            raise TypeError(f"{name} must contain ints, got {shape!r}")
        if int(s) < 1:
            raise ValueError(f"{name} entries must be >= 1, got {tuple(shape)}")
    return tuple(int(s) for s in out)


def grid_shape(
    res: int | Sequence[int],
    ndim: int = 2,
    what: str = "resolution",
    *,
    minimum: int = 1,
    trailing: bool = False,
    error: type[Exception] = TypeError,
    need: str = "",
) -> tuple[int, ...]:
    """A grid of ``ndim`` axes as a tuple of ints: an int means that size on every axis.

    Parameters
    ----------
    res : int or sequence of int
        The grid (a tensor of sizes is accepted too).
    ndim : int
        Number of axes the grid must have.
    what : str
        The argument's name in error messages.
    minimum : int
        Smallest size allowed on an axis; a value ``> 1`` reports a smaller grid as "too small".
    trailing : bool
        Use the last ``ndim`` entries of a longer sequence (e.g. ``(C, H, W) -> (H, W)``).
    error : type of Exception
        Raised for a value of the wrong type (a bool, a string, a non-integer entry);
        ``TypeError`` unless a caller documents ``ValueError`` for every bad shape.
    need : str, optional
        Says what fixes the number of axes in the wrong-length message
        (``"...: it has n axes but {need} {ndim}-D"``), e.g. ``"the layer's modes are"``.

    Raises
    ------
    TypeError (or ``error``)
        Not an int or a sequence of ints.
    ValueError
        The wrong number of axes, or an axis smaller than ``minimum``.

    Examples
    --------
    >>> grid_shape(28), grid_shape((20, 32)), grid_shape(4, 3, "grid_shape")
    ((28, 28), (20, 32), (4, 4, 4))
    >>> grid_shape((1, 16, 16), trailing=True)
    (16, 16)
    """
    if isinstance(res, Tensor):
        res = res.tolist()
    if _is_int(res):
        grid: tuple[Any, ...] = (res,) * ndim
    else:
        if isinstance(res, (str, bytes)):
            raise error(f"{what} must be an int or a sequence of {ndim} ints, got {res!r}")
        try:
            grid = tuple(res)  # type: ignore[arg-type]
        except TypeError:
            raise error(f"{what} must be an int or a sequence of {ndim} ints, got {res!r}") from None
        if trailing:
            grid = grid[-ndim:]
        if not all(_is_int(s) for s in grid):
            raise error(f"{what} must be an int or a sequence of {ndim} ints, got {res!r}")
    out = tuple(operator.index(s) for s in grid)
    if len(out) != ndim:
        message = f"{what} must be an int or a sequence of {ndim} ints, got {res!r}"
        raise ValueError(message + (f": it has {len(out)} axes but {need} {ndim}-D" if need else ""))
    if min(out) < minimum:
        if minimum > 1:
            raise ValueError(f"{what} {out} is too small: every axis needs at least {minimum} points")
        raise ValueError(f"{what} must be a positive int or a sequence of {ndim} positive ints, got {res!r}")
    return out


def resolution_name(resolution: int | Sequence[int]) -> int | str:
    """``28`` or ``(28, 28)`` -> ``28``; ``(28, 40)`` -> ``"28x40"`` (the value stored in result rows).

    Examples
    --------
    >>> resolution_name((28, 28)), resolution_name((28, 40))
    (28, '28x40')
    """
    h, w = grid_shape(resolution)
    return h if h == w else f"{h}x{w}"


def check_domain(domain: tuple[float, float] | None) -> tuple[float, float] | None:
    """``None`` or a pair ``(lo, hi)`` of finite numbers with ``lo < hi``, as floats; ValueError otherwise."""
    if domain is None:
        return None
    try:
        lo, hi = (float(v) for v in domain)
    except (TypeError, ValueError):
        raise ValueError(f"domain must be None or a pair (lo, hi) of numbers, got {domain!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise ValueError(f"domain must be a pair (lo, hi) of finite numbers with lo < hi, got {domain!r}")
    return (lo, hi)


def check_module(value: Any, name: str = "model", what: str = "an nn.Module") -> nn.Module:
    """``value`` if it is an ``nn.Module``; TypeError ``"{name} must be {what}, got <type>"`` otherwise."""
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be {what}, got {type(value).__name__}")
    return value


def count_parameters(model: nn.Module) -> int:
    """Number of real trainable parameters (a complex weight counts twice).

    Examples
    --------
    >>> count_parameters(nn.Linear(3, 2))
    8
    """
    return sum(p.numel() * (2 if p.is_complex() else 1) for p in model.parameters() if p.requires_grad)


def spectral_layers(
    model: nn.Module, types: type | tuple[type, ...], *, root: str = "", what: str = "an nn.Module"
) -> list[tuple[str, Any]]:
    """``(name, module)`` for every module of ``types`` in ``model``; the model itself is named ``root``.

    TypeError (``"model must be {what}"``) unless ``model`` is an ``nn.Module``.
    """
    check_module(model, "model", what)
    return [(name or root, m) for name, m in model.named_modules() if isinstance(m, types)]


def progress(iterable: Iterable | None, enabled: bool, **kwargs: Any) -> Any:
    """``tqdm(iterable, ...)`` that draws nothing unless ``enabled`` (no trailing bar, fits the terminal)."""
    from tqdm.auto import tqdm

    return tqdm(iterable, disable=not enabled, dynamic_ncols=True, leave=False, **kwargs)


def _jsonable(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, torch.device):
        return str(value)
    return value


def write_json(path: str | os.PathLike, data: dict[str, Any]) -> None:
    """Write ``data`` as indented JSON (non-finite floats become ``null``), atomically."""
    from .checkpoint import atomic_write_text

    atomic_write_text(path, json.dumps(_jsonable(data), indent=2) + "\n")


def write_csv(path: str | os.PathLike, rows: Sequence[dict[str, Any]]) -> None:
    """Write a list of flat dicts as CSV, columns in the order of the first row, atomically."""
    from .checkpoint import atomic_write_text

    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else [])
    writer.writeheader()
    writer.writerows(rows)
    atomic_write_text(path, buf.getvalue(), newline="")
