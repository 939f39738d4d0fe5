"""Test-session settings shared by the suite.

The tests use tiny tensors, for which intra-op threads only add synchronisation cost
(on a busy 2-core machine a 24-point ``rfftn`` takes ~10 ms with 2 threads and ~10 µs
with one). Set ``SPECTRAL_SPARSE_TEST_THREADS`` to override.
"""

from __future__ import annotations

import os

import torch

torch.set_num_threads(int(os.environ.get("SPECTRAL_SPARSE_TEST_THREADS", "1")))
