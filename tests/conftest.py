"""Test-session settings shared by the suite.

The tests use tiny tensors, for which intra-op threads only add synchronisation cost
(on a busy 2-core machine a 24-point ``rfftn`` takes ~10 ms with 2 threads and ~10 µs
with one). Set ``SPECTRAL_SPARSE_TEST_THREADS`` to override.

Fixtures: ``tiny_checkpoint`` (one tiny classifier trained once per session through the CLI,
for the tests that only need *a* trained checkpoint as input) and ``tiny_checkpoint_copy``
(a private copy of its directory, for tests that write next to it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

torch.set_num_threads(int(os.environ.get("SPECTRAL_SPARSE_TEST_THREADS", "1")))


# ----------------------------------------------------------------------------- one trained tiny checkpoint

# Shapes at 16x16, two spectral layers of width 6 with 15 modes each (``--modes 3``), one epoch.
# tests/test_cli_prune.py counts these modes (SHAPES and TINY there are the same settings).
TINY_CHECKPOINT_ARGS = (
    "--data", "shapes", "--train-resolution", "16", "--n-train", "48", "--n-test", "32", "--batch-size", "16",
    "--width", "6", "--modes", "3", "--depth", "2", "--epochs", "1",
)  # fmt: skip


def _tree_digest(directory: Path) -> dict[str, str]:
    files = sorted(p for p in directory.rglob("*") if p.is_file())
    return {str(p.relative_to(directory)): hashlib.sha256(p.read_bytes()).hexdigest() for p in files}


@pytest.fixture(scope="session")
def tiny_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``checkpoint.pt`` of one tiny classifier trained once per session with ``spectral-sparse train``.

    Shared by every test that needs *a* trained checkpoint as input; read it, never write next to
    it (use ``tiny_checkpoint_copy`` for that). Its directory is checked unchanged at session end.
    """
    from spectral_sparse.cli import main

    out = tmp_path_factory.mktemp("tiny_checkpoint")
    assert main(["train", *TINY_CHECKPOINT_ARGS, "--no-progress", "--out", str(out)]) == 0
    digest = _tree_digest(out)
    yield out / "checkpoint.pt"
    assert _tree_digest(out) == digest, f"a test modified the shared tiny checkpoint in {out}"


@pytest.fixture
def tiny_checkpoint_copy(tiny_checkpoint: Path, tmp_path: Path) -> Path:
    """A private copy of ``tiny_checkpoint``'s whole training directory; returns its ``checkpoint.pt``."""
    copy = shutil.copytree(tiny_checkpoint.parent, tmp_path / "tiny_checkpoint")
    return Path(copy) / "checkpoint.pt"
