"""The spectral-sparse command line: help, subcommands, and clean failures on bad input."""

from __future__ import annotations

import subprocess
import sys

import pytest
import torch

from spectral_sparse.cli import main


def _run_main(argv, capsys):
    """Run ``main(argv)``; return (exit code, stdout, stderr), whether it returns or raises SystemExit."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_help_lists_the_subcommands(capsys):
    code, out, _ = _run_main(["--help"], capsys)
    assert code == 0
    assert "demo" in out and "train a spectral and a CNN classifier" in out


@pytest.mark.slow
def test_module_entry_point_runs_without_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "spectral_sparse.cli", "demo", "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    for option in ["--quick", "--device", "--seed", "--out"]:
        assert option in proc.stdout
    proc = subprocess.run(
        [sys.executable, "-m", "spectral_sparse.cli", "no-such-command"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2
    assert "invalid choice: 'no-such-command'" in proc.stderr and "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["frobnicate"], "invalid choice: 'frobnicate'"),
        ([], "the following arguments are required"),
        (["demo", "--device", "gpu9"], "unknown device 'gpu9'"),
        (["demo", "--seed", "-1"], "expected a non-negative integer"),
        (["demo", "--epochs", "zero"], "expected a positive integer"),
        (["demo", "--resolutions", "28,abc"], "invalid resolution 'abc'"),
        (["demo", "--resolutions", "12"], "does not resolve the shapes"),
        (["demo", "--lr", "-1"], "expected a positive number"),
        (["demo", "--bogus"], "unrecognized arguments: --bogus"),
    ],
)
def test_bad_arguments_exit_2_with_a_message(argv, message, capsys):
    code, _, err = _run_main(argv, capsys)
    assert code == 2
    assert message in err and "Traceback" not in err
    assert err.startswith("usage: spectral-sparse")


def test_cuda_requested_without_cuda_is_a_clear_error(monkeypatch, capsys):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # also on machines that have a GPU
    code, _, err = _run_main(["demo", "--quick", "--device", "cuda"], capsys)
    assert code == 2
    assert "CUDA is not available on this machine" in err and "--device cpu" in err
    assert "Traceback" not in err


def test_unwritable_output_directory_is_a_clear_error(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    code, _, err = _run_main(["demo", "--quick", "--no-progress", "--out", str(blocker / "sub")], capsys)
    assert code == 1
    assert "cannot create output directory" in err and "Traceback" not in err
