"""Experiment drivers of spectral_sparse: the results and figures of the docs' results pages.

Each module is run from the repository root with ``python -m experiments.<name> --help`` and writes
its CSV/JSON results and its figures into one results folder under ``benchmarks/results/``; the figure
manifest ``benchmarks/figures.toml`` maps every figure and table of the docs to its commands
(``python -m benchmarks figure --list``). Speed is measured by the timing harness in ``benchmarks/``.
"""
