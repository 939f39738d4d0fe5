"""save_checkpoint / load_checkpoint: round trips and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from spectral_sparse import ModeSet
from spectral_sparse.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from spectral_sparse.data import SPLIT_NOTE
from spectral_sparse.models import CNNClassifier, SpectralClassifier


@pytest.mark.parametrize(
    "build",
    [
        lambda: SpectralClassifier(1, 5, width=6, modes=3.5, depth=2),
        lambda: SpectralClassifier(2, 3, width=4, modes=ModeSet.box((3, 4)), depth=1),
        lambda: CNNClassifier(1, 5, widths=(4, 6, 8)),
    ],
    ids=["spectral-radial", "spectral-box", "cnn"],
)
def test_round_trip_same_logits(tmp_path: Path, build) -> None:
    torch.manual_seed(0)
    model = build()
    meta = {"train_resolution": 28, "split": SPLIT_NOTE, "seed": 7, "train_resolutions": (20, 28)}
    path = save_checkpoint(tmp_path / "sub" / "ckpt.pt", model, **meta)
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["model"] == type(model).__name__ and "library_version" in raw
    loaded, got = load_checkpoint(path)
    assert type(loaded) is type(model) and not loaded.training
    assert got["train_resolution"] == 28 and got["split"] == SPLIT_NOTE and got["seed"] == 7
    assert got["train_resolutions"] == [20, 28]
    assert loaded.config == model.config
    in_ch = model.config["in_channels"]
    for grid in [(28, 28), (20, 36)]:
        x = torch.randn(3, in_ch, *grid)
        assert torch.equal(model.eval()(x), loaded(x))


def test_metadata_must_be_plain(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match="plain types"):
        save_checkpoint(tmp_path / "m.pt", CNNClassifier(1, 2, widths=(2,)), images=torch.zeros(2))


def test_unsupported_model_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="supported models are"):
        save_checkpoint(tmp_path / "m.pt", torch.nn.Linear(2, 2))


def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.pt"
    with pytest.raises(FileNotFoundError, match=r"nope\.pt"):
        load_checkpoint(missing)


def test_bare_state_dict_is_not_a_checkpoint(tmp_path: Path) -> None:
    path = tmp_path / "sd.pt"
    torch.save(CNNClassifier(1, 2, widths=(2,)).state_dict(), path)
    with pytest.raises(ValueError, match=r"not a spectral_sparse checkpoint.*format tag None.*bare state_dict"):
        load_checkpoint(path)


def test_unknown_model_kind(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "m.pt", CNNClassifier(1, 2, widths=(2,)))
    data = torch.load(path, weights_only=True)
    data["model"] = "ResNet"
    torch.save(data, path)
    with pytest.raises(ValueError, match="unknown model kind 'ResNet'"):
        load_checkpoint(path)


def test_not_a_torch_file(tmp_path: Path) -> None:
    path = tmp_path / "history.json"
    path.write_text('{"loss": [1.0]}')
    with pytest.raises(ValueError, match="not a spectral_sparse checkpoint"):
        load_checkpoint(path)
    path = tmp_path / "list.pt"
    torch.save([1, 2], path)
    with pytest.raises(ValueError, match="holds a list"):
        load_checkpoint(path)
