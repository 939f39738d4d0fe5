"""The shared helpers of spectral_sparse._checks, and the deprecated module paths kept as aliases."""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from spectral_sparse import _checks
from spectral_sparse._checks import (
    as_shape,
    check_domain,
    check_module,
    count_parameters,
    grid_shape,
    positive_int,
    progress,
    resolution_name,
    spectral_layers,
    write_csv,
    write_json,
)

# ---------------------------------------------------------------- positive_int


@pytest.mark.parametrize("value", [1, 7, 2**40])
def test_positive_int_accepts_positive_ints(value: int) -> None:
    assert positive_int(value, "n") == value


@pytest.mark.parametrize("value", [0, -1, True, False, 2.0, "3", None, np.int64(3)])
def test_positive_int_refuses_everything_else(value: object) -> None:
    with pytest.raises(ValueError, match="n must be a positive int, got"):
        positive_int(value, "n")


def test_positive_int_index_accepts_integer_scalars_as_int() -> None:
    got = positive_int(np.int64(3), "n", index=True)
    assert got == 3 and type(got) is int
    assert positive_int(torch.tensor(2), "n", index=True) == 2
    for bad in (True, 0, 2.5, "2"):
        with pytest.raises(ValueError, match="n must be a positive int"):
            positive_int(bad, "n", index=True)


def test_positive_int_words_the_requirement() -> None:
    with pytest.raises(ValueError, match="batch_size must be a positive int or None, got 0"):
        positive_int(0, "batch_size", what="a positive int or None")


# ---------------------------------------------------------------- as_shape


def test_as_shape_good_cases() -> None:
    assert as_shape(4, "s") == (4,)
    assert as_shape([2, 3], "s") == (2, 3)
    assert as_shape(torch.Size([5, 6]), "s") == (5, 6)
    assert as_shape(torch.tensor([7, 8]), "s") == (7, 8)
    assert as_shape((np.int32(2),), "s") == (2,)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (None, TypeError, "s must be an int or a sequence of ints"),
        (True, TypeError, "s must be an int or a sequence of ints"),
        ((2.0, 3), TypeError, "s must contain ints"),
        ((True, 3), TypeError, "s must contain ints"),
        ((), ValueError, "s must have at least one entry"),
        ((0, 3), ValueError, r"s entries must be >= 1, got \(0, 3\)"),
        (-2, ValueError, "s entries must be >= 1"),
    ],
)
def test_as_shape_errors(value: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        as_shape(value, "s")  # type: ignore[arg-type]


# ---------------------------------------------------------------- grid_shape


def test_grid_shape_good_cases() -> None:
    assert grid_shape(28) == (28, 28)
    assert grid_shape((20, 32)) == (20, 32)
    assert grid_shape([np.int64(5), 6]) == (5, 6)
    assert grid_shape(4, 3, "grid_shape") == (4, 4, 4)
    assert grid_shape(torch.Size([1, 16, 12]), trailing=True) == (16, 12)
    assert grid_shape(8, minimum=4) == (8, 8)


@pytest.mark.parametrize(
    ("value", "error", "match"),
    [
        (True, TypeError, "res must be an int or a sequence of 2 ints"),
        ("16", TypeError, "res must be an int or a sequence of 2 ints"),
        (None, TypeError, "res must be an int or a sequence of 2 ints"),
        ((8.0, 8), TypeError, "res must be an int or a sequence of 2 ints"),
        ((4, 5, 6), ValueError, "res must be an int or a sequence of 2 ints"),
        ((4,), ValueError, "res must be an int or a sequence of 2 ints"),
        (0, ValueError, "res must be a positive int"),
        ((8, -1), ValueError, "res must be a positive int"),
    ],
)
def test_grid_shape_errors(value: object, error: type[Exception], match: str) -> None:
    with pytest.raises(error, match=match):
        grid_shape(value, 2, "res")  # type: ignore[arg-type]


def test_grid_shape_options() -> None:
    with pytest.raises(ValueError, match="res must be an int or a sequence of 2 ints"):
        grid_shape("big", 2, "res", error=ValueError)
    with pytest.raises(ValueError, match=r"res \(3, 3\) is too small: every axis needs at least 4"):
        grid_shape(3, 2, "res", minimum=4)
    with pytest.raises(ValueError, match="it has 1 axes but the layer's modes are 2-D"):
        grid_shape((4,), 2, "res", need="the layer's modes are")


def test_resolution_name() -> None:
    assert resolution_name(28) == 28
    assert resolution_name((28, 28)) == 28
    assert resolution_name((28, 40)) == "28x40"
    with pytest.raises(ValueError, match="must be a positive int"):
        resolution_name(0)


# ---------------------------------------------------------------- domain, modules, counts


def test_check_domain() -> None:
    assert check_domain(None) is None
    assert check_domain((0, 1)) == (0.0, 1.0)
    with pytest.raises(ValueError, match="domain must be None or a pair"):
        check_domain((0.0,))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lo < hi"):
        check_domain((1, 0))
    with pytest.raises(ValueError, match="finite"):
        check_domain((0, float("inf")))


def test_check_module_and_spectral_layers() -> None:
    from spectral_sparse import ModeSet, SparseSpectralConv

    layer = SparseSpectralConv(2, 2, ModeSet.box(3))
    model = nn.Sequential(nn.Identity(), layer)
    assert check_module(model) is model
    with pytest.raises(TypeError, match=r"model must be an nn\.Module, got function"):
        check_module(lambda x: x)
    assert spectral_layers(model, SparseSpectralConv) == [("1", layer)]
    assert spectral_layers(layer, SparseSpectralConv, root="<model>") == [("<model>", layer)]
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        spectral_layers(3, SparseSpectralConv, what="a torch.nn.Module")  # type: ignore[arg-type]


def test_count_parameters_counts_complex_twice_and_skips_frozen() -> None:
    model = nn.Linear(3, 2)  # 8 real parameters
    model.register_parameter("c", nn.Parameter(torch.zeros(4, dtype=torch.cfloat)))
    frozen = nn.Parameter(torch.zeros(5), requires_grad=False)
    model.register_parameter("f", frozen)
    assert count_parameters(model) == 8 + 8


def test_progress_disabled_passes_items_through() -> None:
    assert list(progress(range(3), False, desc="x")) == [0, 1, 2]


# ---------------------------------------------------------------- result files


def test_write_json_and_csv(tmp_path: Path) -> None:
    write_json(tmp_path / "a.json", {"x": float("nan"), "p": tmp_path, "d": torch.device("cpu"), "t": (1, 2)})
    assert json.loads((tmp_path / "a.json").read_text()) == {"x": None, "p": str(tmp_path), "d": "cpu", "t": [1, 2]}
    write_csv(tmp_path / "a.csv", [{"a": 1, "b": "x"}, {"a": 2, "b": "y"}])
    assert (tmp_path / "a.csv").read_bytes() == b"a,b\r\n1,x\r\n2,y\r\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.csv", "a.json"]  # no temporary files left


# ---------------------------------------------------------------- one copy


def test_public_paths_give_the_shared_helpers() -> None:
    from spectral_sparse import evaluation, models, modes, training
    from spectral_sparse.attacks import gradient
    from spectral_sparse.cli import _common
    from spectral_sparse.inverse import models as inverse_models
    from spectral_sparse.models import classifier

    assert evaluation.resolution_name is training.resolution_name is resolution_name
    assert models.count_parameters is classifier.count_parameters is inverse_models.count_parameters
    assert classifier.count_parameters is count_parameters
    assert modes._as_shape is as_shape
    assert _common.write_json is write_json and _common.write_csv is write_csv
    assert gradient.check_domain((0, 1)) == (0.0, 1.0)
    with pytest.raises(ValueError, match="lo < hi"):
        gradient.check_domain((1, 0))


# ---------------------------------------------------------------- renamed modules

RENAMED = [
    ("spectral_sparse.optim.init", "spectral_sparse.optim.sparsity"),
    ("spectral_sparse.backends._plan", "spectral_sparse.backends._common"),
    ("spectral_sparse.convert", "spectral_sparse.spectral_weights"),
    ("spectral_sparse.models.convert", "spectral_sparse.models.cnn_conversion"),
]


@pytest.mark.parametrize(("old", "new"), RENAMED)
def test_old_module_paths_warn_and_give_the_same_objects(old: str, new: str) -> None:
    new_module = importlib.import_module(new)
    sys.modules.pop(old, None)
    with pytest.warns(DeprecationWarning, match=rf"{old} is deprecated.*{new}"):
        old_module = importlib.import_module(old)
    assert list(old_module.__all__) == list(getattr(new_module, "__all__", []))
    names = [k for k in vars(new_module) if not k.startswith("__")]
    assert names
    for name in names:
        assert getattr(old_module, name) is getattr(new_module, name), name


def test_package_import_does_not_touch_the_old_paths() -> None:
    code = (
        "import sys; "
        "import spectral_sparse, spectral_sparse.models, spectral_sparse.optim, spectral_sparse.prune, "
        "spectral_sparse.backends, spectral_sparse.cli; "
        f"old = {[old for old, _ in RENAMED]!r}; "
        "loaded = [m for m in old if m in sys.modules]; "
        "assert not loaded, loaded"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_checks_lists_its_helpers() -> None:
    assert set(_checks.__all__) <= set(vars(_checks))
