"""Benchmarks for spectral_sparse: ``python -m benchmarks --help``.

Speed is measured here, never asserted in tests. Results are CSV files under
``benchmarks/results/`` and are summarised in ``docs/benchmarks.md``. The experiment
drivers (training runs behind the results pages) live in the top-level package
``experiments`` (``python -m experiments.<name>``); ``benchmarks.figures`` reruns any
figure or table of the docs from the manifest ``benchmarks/figures.toml``.

The experiment modules that used to live here stay importable under their old names
(``from benchmarks import darcy``), with a ``DeprecationWarning``.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from types import ModuleType

#: Modules moved to ``experiments`` (old name ``benchmarks.<name>`` -> ``experiments.<name>``).
MOVED_TO_EXPERIMENTS = (
    "classification",
    "concept_figures",
    "darcy",
    "darcy_lowrank",
    "inverse",
    "inverse_bands",
    "robustness",
    "sparsity",
    "sphere",
    "tv_convergence",
)


def __getattr__(name: str) -> ModuleType:
    """``benchmarks.<moved>`` -> ``experiments.<moved>``, with a ``DeprecationWarning``."""
    if name not in MOVED_TO_EXPERIMENTS:
        raise AttributeError(f"module 'benchmarks' has no attribute {name!r}")
    warnings.warn(
        f"benchmarks.{name} moved to experiments.{name} (run it with python -m experiments.{name})",
        DeprecationWarning,
        stacklevel=2,
    )
    module = importlib.import_module(f"experiments.{name}")
    sys.modules[f"{__name__}.{name}"] = module
    return module
