"""Benchmarks for spectral_sparse: ``python -m benchmarks --help``.

Speed is measured here, never asserted in tests. Results are CSV files under
``benchmarks/results/`` and are summarised in ``docs/benchmarks.md``.
"""
