"""Every script in ``examples/`` runs its ``--smoke`` setting and writes its plot.

Each example runs as its own process (as a user runs it), with one thread and the
Agg backend, from a temporary working directory so nothing lands in the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

#: example script -> plot it writes under ``--out``
PLOTS = {
    "discretization_invariance.py": "discretization_invariance.png",
    "drop_in_layer.py": "drop_in_layer.png",
    "multi_resolution_inference.py": "multi_resolution_inference.png",
    "sparse_training.py": "sparse_training.png",
    "attacks.py": "attacks.png",
    "inverse_problem.py": "inverse_problem.png",
    "shallow_water.py": "shallow_water.png",
}


def test_every_example_is_covered():
    assert sorted(p.name for p in EXAMPLES.glob("*.py")) == sorted(PLOTS)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(PLOTS))
def test_example_smoke_run_writes_its_plot(script, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "MPLBACKEND": "Agg", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    proc = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--smoke", "--out", str(out)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"{script} failed:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
    plot = out / PLOTS[script]
    assert plot.is_file() and plot.stat().st_size > 1000, f"{script} did not write {plot}"
    assert f"wrote {plot}" in proc.stdout
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"], "the example wrote outside --out"
