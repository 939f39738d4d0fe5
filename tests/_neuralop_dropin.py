"""pytest plugin: run neuraloperator's own tests with ``SparseSpectralConv`` in place of ``SpectralConv``.

Load it with ``-p _neuralop_dropin`` (this folder on ``sys.path``) when running test
files from the installed ``neuralop`` package; ``tests/test_neuralop_suite.py`` does so
in a subprocess. At ``pytest_configure`` it

* imports every importable ``neuralop`` module (tests excluded) and rebinds, in each,
  the name ``SpectralConv`` and every function or ``__init__`` default that is
  neuraloperator's ``SpectralConv`` (``conv_module=SpectralConv``) to
  :class:`spectral_sparse.SparseSpectralConv`; test modules imported afterwards see
  the new binding. ``SPECTRAL_SPARSE_NEURALOP_BASELINE=1`` skips this step, which
  runs neuraloperator as shipped, for the reference counts;
* runs on CPU: ``torch.backends.cuda.is_built()`` and ``torch.has_cuda`` read False,
  so the tests that pick ``cuda`` when the build has it stay on the CPU;
* replaces ``load_darcy_flow_small`` (a download) by a synthetic stand-in with the
  same return value (train loader, test loaders by resolution, data processor);
* marks the documented refusals (:func:`refusal_reason`) as expected failures
  (``xfail(strict=True, raises=...)``): a refusal that starts to pass, or a marked
  test that fails with another exception, is reported as a failure.

Nothing happens at import, so collecting this file in the project's own run is harmless.
"""

from __future__ import annotations

import importlib
import inspect
import os
import pkgutil
import sys
from typing import Any

import pytest

#: The refusals documented in ``SparseSpectralConv``'s docstring, and one test of neuraloperator's internals.
REFUSAL_FACTORIZATION = "refusal: factorized spectral weights (low-rank weights are not implemented)"
REFUSAL_COMPLEX = "refusal: complex_data=True (the layer maps real fields)"
REFUSAL_PRECISION = "refusal: fno_block_precision other than 'full'"

INTERNAL_TLTORCH = "internals: reads the weight as a tltorch FactorizedTensor (weight.to_tensor())"

# tests whose refusal no parameter shows (set inside the test body): name -> (reason, exception)
_BY_NAME: dict[str, tuple[str, type[BaseException]]] = {
    "test_coda_layer.py::test_Codano": (REFUSAL_FACTORIZATION, ValueError),  # CODALayer's default 'tucker'
    "test_codano.py::test_CODANO": (REFUSAL_FACTORIZATION, ValueError),
    "test_fno.py::test_fno_superresolution": (REFUSAL_FACTORIZATION, ValueError),  # factorization='cp'
    "test_fno_block.py::test_FNOBlock_complex_data": (REFUSAL_COMPLEX, ValueError),
}


def _baseline() -> bool:
    return os.environ.get("SPECTRAL_SPARSE_NEURALOP_BASELINE", "") not in ("", "0")


def refusal_reason(name: str, params: dict[str, Any]) -> tuple[str, type[BaseException]] | None:
    """The documented refusal (reason, exception) a neuraloperator test meets with the drop-in, or None.

    ``name`` is ``"<file name>::<test function>"``, ``params`` the test's parameters.
    """
    factorization = params.get("factorization")
    if factorization is not None and str(factorization).lower() != "dense":
        return REFUSAL_FACTORIZATION, ValueError
    if params.get("complex_data") is True:
        return REFUSAL_COMPLEX, ValueError
    if params.get("fno_block_precision", "full") != "full":
        return REFUSAL_PRECISION, ValueError
    if name == "test_spectral_convolution.py::test_SpectralConv" and not params.get("separable", True):
        return INTERNAL_TLTORCH, AttributeError  # dense, not separable: the test swaps in a tltorch weight
    return _BY_NAME.get(name)


def _rebind_spectral_conv() -> int:
    """Bind ``SparseSpectralConv`` wherever neuraloperator binds its ``SpectralConv``; returns the count."""
    import neuralop
    from neuralop.layers.spectral_convolution import SpectralConv

    from spectral_sparse import SparseSpectralConv

    for info in pkgutil.walk_packages(neuralop.__path__, "neuralop."):
        if ".tests" in info.name or info.name.endswith(".tests"):
            continue
        try:
            importlib.import_module(info.name)
        except Exception:  # optional dependencies (torch-harmonics, ...) may be missing
            continue

    count = 0
    for name, module in list(sys.modules.items()):
        if not (name == "neuralop" or name.startswith("neuralop.")) or module is None:
            continue
        for attr, value in list(vars(module).items()):
            if value is SpectralConv:
                setattr(module, attr, SparseSpectralConv)
                count += 1
            elif inspect.isclass(value) and value.__module__ == name:
                count += _rebind_defaults(value.__init__, SpectralConv, SparseSpectralConv)
            elif inspect.isfunction(value) and value.__module__ == name:
                count += _rebind_defaults(value, SpectralConv, SparseSpectralConv)
    return count


def _rebind_defaults(func: Any, old: type, new: type) -> int:
    func = getattr(func, "__func__", func)
    count = 0
    defaults = getattr(func, "__defaults__", None)
    if defaults and any(d is old for d in defaults):
        func.__defaults__ = tuple(new if d is old else d for d in defaults)
        count += 1
    kwdefaults = getattr(func, "__kwdefaults__", None)
    if kwdefaults and any(d is old for d in kwdefaults.values()):
        func.__kwdefaults__ = {k: new if d is old else d for k, d in kwdefaults.items()}
        count += 1
    return count


def _synthetic_darcy(
    n_train: int,
    n_tests: list[int],
    batch_size: int,
    test_batch_sizes: list[int],
    test_resolutions: list[int] = (16, 32),  # type: ignore[assignment]
    **_: Any,
) -> tuple[Any, dict[int, Any], None]:
    """Stand-in for ``load_darcy_flow_small``: smooth random fields, same return value, no download."""
    import torch
    from neuralop.data.datasets.tensor_dataset import TensorDataset
    from torch.utils.data import DataLoader

    def loader(n: int, res: int, batch: int, seed: int, shuffle: bool) -> DataLoader:
        gen = torch.Generator().manual_seed(seed)
        grid = torch.arange(res, dtype=torch.float32) * (2 * torch.pi / res)
        coeff = torch.randn(n, 4, generator=gen)
        x = (
            coeff[:, 0, None, None] * torch.sin(grid)[:, None]
            + coeff[:, 1, None, None] * torch.cos(grid)[None, :]
            + coeff[:, 2, None, None] * torch.sin(grid[:, None] + grid[None, :])
            + 0.1 * coeff[:, 3, None, None]
        )[:, None]
        y = torch.tanh(x) + 0.5 * x.roll(1, dims=-1)
        return DataLoader(TensorDataset(x, y), batch_size=batch, shuffle=shuffle)

    train = loader(n_train, 16, batch_size, 0, True)  # the real set trains at 16x16
    tests = {
        res: loader(n, res, b, 1 + i, False)
        for i, (res, n, b) in enumerate(zip(test_resolutions, n_tests, test_batch_sizes))
    }
    return train, tests, None


def pytest_configure(config: pytest.Config) -> None:
    import torch

    torch.set_num_threads(1)
    torch.backends.cuda.is_built = lambda: False  # type: ignore[assignment]
    torch.has_cuda = False  # type: ignore[attr-defined]
    import neuralop.data.datasets as datasets

    datasets.load_darcy_flow_small = _synthetic_darcy
    try:
        darcy = importlib.import_module("neuralop.data.datasets.darcy")
        darcy.load_darcy_flow_small = _synthetic_darcy
    except ImportError:  # pragma: no cover
        pass
    config.neuralop_dropin_rebound = 0 if _baseline() else _rebind_spectral_conv()  # type: ignore[attr-defined]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _baseline():
        return
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        name = f"{item.path.name}::{getattr(item, 'originalname', item.name)}"
        refusal = refusal_reason(name, params)
        if refusal is not None:
            item.add_marker(pytest.mark.xfail(reason=refusal[0], raises=refusal[1], strict=True))


def pytest_report_header(config: pytest.Config) -> str:
    rebound = getattr(config, "neuralop_dropin_rebound", 0)
    return f"neuralop drop-in: {'baseline (SpectralConv as shipped)' if _baseline() else f'{rebound} bindings'}"
