"""Loading neuraloperator's small Darcy-flow set: files, md5 sums, shapes, dtypes and clear errors."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
import torch

from spectral_sparse.data.darcy import DARCY_MD5, load_darcy

SHARED_DATA = Path(__file__).resolve().parents[1] / ".." / "shared" / "data"
DARCY_DIR = SHARED_DATA / "darcy"

needs_shared = pytest.mark.skipif(
    not DARCY_DIR.is_dir(), reason=f"shared Darcy data directory {DARCY_DIR} (../shared/data/darcy) is absent"
)


@needs_shared
@pytest.mark.parametrize(("split", "resolution", "n"), [("train", 16, 1000), ("test", 16, 50), ("test", 32, 50)])
def test_load_shared_files(split: str, resolution: int, n: int) -> None:
    name = f"darcy_{split}_{resolution}.pt"
    assert hashlib.md5((DARCY_DIR / name).read_bytes(), usedforsecurity=False).hexdigest() == DARCY_MD5[name]
    for root in (SHARED_DATA, DARCY_DIR):  # the data root and the folder itself both work
        x, y = load_darcy(root, split, resolution)
        assert x.shape == y.shape == (n, 1, resolution, resolution)
        assert x.dtype == y.dtype == torch.float32
        assert set(x.unique().tolist()) == {0.0, 1.0}
        assert torch.isfinite(y).all() and y.max() > 0.5
    # the data sit on the periodic grid n / N: the boundary x = 0 is row/column 0, where the pressure vanishes
    assert y[:, 0, 0, :].abs().mean() < 0.05 * y.abs().mean() and y[:, 0, :, 0].abs().mean() < 0.05 * y.abs().mean()


@needs_shared
def test_default_root_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SPECTRAL_SPARSE_DATA", str(SHARED_DATA))
    x, _ = load_darcy(None, "test", 32)
    assert x.shape == (50, 1, 32, 32)


def test_missing_directory_and_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match=f"Darcy data directory {missing} does not exist.*darcy_test_16.pt"):
        load_darcy(missing, "test", 16)
    with pytest.raises(FileNotFoundError, match=f"darcy_train_16.pt not found in {tmp_path}"):
        load_darcy(tmp_path, "train")
    monkeypatch.delenv("SPECTRAL_SPARSE_DATA", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match="no data directory given and none found"):
        load_darcy(None)


def test_md5_mismatch_and_bad_contents(tmp_path: Path) -> None:
    (tmp_path / "darcy").mkdir()
    path = tmp_path / "darcy" / "darcy_test_16.pt"
    torch.save({"x": torch.zeros(3, 16, 15, dtype=torch.bool), "y": torch.zeros(3, 16, 15)}, path)
    with pytest.raises(ValueError, match=r"md5 .* does not match the published"):
        load_darcy(tmp_path, "test", 16)
    with pytest.raises(ValueError, match=r"expected x and y of shape \(n, 16, 16\)"):
        load_darcy(tmp_path, "test", 16, check_md5=False)
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="expected a dict with keys 'x' and 'y'"):
        load_darcy(tmp_path, "test", 16, check_md5=False)


@pytest.mark.parametrize(
    ("split", "resolution", "match"),
    [
        ("valid", 16, "split must be 'train' or 'test'"),
        ("test", 64, "resolution must be 16 or 32"),
        ("train", 32, "training split exists at resolution 16 only"),
    ],
)
def test_bad_arguments(tmp_path: Path, split: str, resolution: int, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        load_darcy(tmp_path, split, resolution)
