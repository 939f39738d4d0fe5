"""Nothing lost: atomic writes, safe loading, refused output directories, Ctrl-C and ``--resume``."""

from __future__ import annotations

import pickle
import zipfile
from pathlib import Path

import pytest
import torch

import spectral_sparse.cli
import spectral_sparse.cli.train as train_cli
from spectral_sparse.checkpoint import atomic_path, atomic_save, load_checkpoint, save_checkpoint
from spectral_sparse.cli import main
from spectral_sparse.cli._common import save_figure, write_csv, write_json
from spectral_sparse.models import SpectralClassifier

SHAPES = ["--data", "shapes", "--train-resolution", "16", "--n-train", "48", "--n-test", "16", "--batch-size", "16"]
TINY = ["--width", "4", "--modes", "3", "--depth", "1", "--no-progress"]


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if ".tmp" in p.name)


def _model() -> SpectralClassifier:
    torch.manual_seed(0)
    return SpectralClassifier(1, 3, width=4, modes=2, depth=1)


# ----------------------------------------------------------------------------- atomic writes


def test_atomic_path_keeps_old_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("disk full")
    assert target.read_text() == "old"
    assert _leftovers(tmp_path) == []


def test_interrupted_checkpoint_save_leaves_previous_checkpoint(tmp_path: Path, monkeypatch) -> None:
    path = save_checkpoint(tmp_path / "checkpoint.pt", _model(), seed=0)
    before = path.read_bytes()
    real_save = torch.save

    def save_then_interrupt(obj, f, *args, **kwargs):  # type: ignore[no-untyped-def]
        real_save(obj, f, *args, **kwargs)
        Path(f).write_bytes(Path(f).read_bytes()[:100])  # a truncated file, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(torch, "save", save_then_interrupt)
    with pytest.raises(KeyboardInterrupt):
        save_checkpoint(path, _model(), seed=1)
    monkeypatch.undo()
    assert path.read_bytes() == before
    assert load_checkpoint(path)[1]["seed"] == 0
    assert _leftovers(tmp_path) == []


def test_results_writers_are_atomic(tmp_path: Path) -> None:
    write_json(tmp_path / "r.json", {"a": float("nan"), "b": [1, 2]})
    write_csv(tmp_path / "r.csv", [{"x": 1, "y": "a,b"}])
    assert (tmp_path / "r.json").read_text() == '{\n  "a": null,\n  "b": [\n    1,\n    2\n  ]\n}\n'
    assert (tmp_path / "r.csv").read_bytes() == b'x,y\r\n1,"a,b"\r\n'

    class BrokenFigure:
        def savefig(self, path, dpi):  # type: ignore[no-untyped-def]
            Path(path).write_bytes(b"\x89PNG half")
            raise KeyboardInterrupt

    (tmp_path / "p.png").write_bytes(b"old")
    with pytest.raises(KeyboardInterrupt):
        save_figure(BrokenFigure(), tmp_path / "p.png")
    assert (tmp_path / "p.png").read_bytes() == b"old"
    assert _leftovers(tmp_path) == []


# ----------------------------------------------------------------------------- safe, clear loading


def _plain_only(value: object, where: str = "checkpoint") -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            assert isinstance(k, str), f"{where}: key {k!r}"
            _plain_only(v, f"{where}[{k!r}]")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _plain_only(v, f"{where}[{i}]")
    else:
        assert type(value) in (str, int, float, bool, type(None), torch.Tensor), f"{where}: {type(value)}"


def test_checkpoint_is_plain_and_loads_with_weights_only(tmp_path: Path) -> None:
    path = save_checkpoint(tmp_path / "c.pt", _model(), train_resolution=28, grids=(16, 20), where=tmp_path)
    data = torch.load(path, weights_only=True)
    _plain_only(data)
    assert data["metadata"]["grids"] == [16, 20] and data["metadata"]["where"] == str(tmp_path)


class _Payload:
    def __reduce__(self):  # type: ignore[no-untyped-def]
        return (Path.touch, (Path(self.marker),))  # type: ignore[attr-defined]


def _bad_files(tmp_path: Path) -> dict[str, Path]:
    good = save_checkpoint(tmp_path / "good.pt", _model())
    files = {}
    files["truncated"] = tmp_path / "truncated.pt"
    files["truncated"].write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    files["empty"] = tmp_path / "empty.pt"
    files["empty"].write_bytes(b"")
    files["text"] = tmp_path / "notes.pt"
    files["text"].write_text("hello\nworld\n")
    files["random"] = tmp_path / "random.pt"
    files["random"].write_bytes(bytes(range(256)) * 8)
    files["bare_state_dict"] = tmp_path / "state.pt"
    torch.save(_model().state_dict(), files["bare_state_dict"])
    files["list"] = tmp_path / "list.pt"
    torch.save([1, 2, 3], files["list"])
    files["other_zip"] = tmp_path / "other.pt"
    with zipfile.ZipFile(files["other_zip"], "w") as z:
        z.writestr("readme.txt", "not torch")
    payload = _Payload()
    payload.marker = str(tmp_path / "PWNED")  # type: ignore[attr-defined]
    files["pickle_code"] = tmp_path / "code.pt"
    torch.save({"format": "spectral_sparse.checkpoint", "x": payload}, files["pickle_code"])
    files["raw_pickle"] = tmp_path / "raw.pt"
    files["raw_pickle"].write_bytes(pickle.dumps(payload))
    files["future_version"] = tmp_path / "future.pt"
    blob = torch.load(good, weights_only=True)
    torch.save({**blob, "format_version": 99}, files["future_version"])
    files["wrong_weights"] = tmp_path / "wrong.pt"
    blob["state_dict"] = {k: v[:1] for k, v in blob["state_dict"].items()}
    torch.save(blob, files["wrong_weights"])
    return files


@pytest.mark.filterwarnings("ignore:Detected pickle protocol")
def test_truncated_and_foreign_files_give_one_line_naming_the_file(tmp_path: Path) -> None:
    for kind, path in _bad_files(tmp_path).items():
        with pytest.raises(ValueError) as info:
            load_checkpoint(path)
        msg = str(info.value)
        assert str(path) in msg, (kind, msg)
        assert "\n" not in msg and len(msg) < 500, (kind, msg)
    assert not (tmp_path / "PWNED").exists(), "loading ran pickled code"


def test_cli_reports_a_foreign_checkpoint_in_one_line(tmp_path: Path, capsys) -> None:
    bad = _bad_files(tmp_path)["truncated"]
    assert main(["evaluate", str(bad), "--no-progress", "--out", str(tmp_path / "e")]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and str(bad) in err


# ----------------------------------------------------------------------------- output directories


def test_output_directory_with_results_is_refused(tiny_checkpoint_copy: Path, capsys) -> None:
    out = tiny_checkpoint_copy.parent  # a private copy of a finished training run's directory
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    capsys.readouterr()
    assert main(["train", *SHAPES, *TINY, "--epochs", "1", "--seed", "1", "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "already holds results" in err and "--overwrite" in err and str(out) in err
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # nothing touched
    argv = ["evaluate", str(out / "checkpoint.pt"), "--resolutions", "16", "--no-progress", "--out", str(out)]
    assert main(argv) == 1  # any subcommand
    assert main(["train", *SHAPES, *TINY, "--epochs", "1", "--seed", "1", "--out", str(out), "--overwrite"]) == 0
    assert load_checkpoint(out / "checkpoint.pt")[1]["seed"] == 1
    assert _leftovers(out) == []


# ----------------------------------------------------------------------------- Ctrl-C and --resume


def _interrupt_at(monkeypatch, module, stop_step: int, snapshots: dict[int, dict]) -> None:
    real = module.train_classifier

    def interrupted(model, *args, callback=None, **kwargs):  # type: ignore[no-untyped-def]
        def cb(step: int) -> None:
            if callback is not None:
                callback(step)
            snapshots[step] = {k: v.detach().clone() for k, v in model.state_dict().items()}
            if step == stop_step:
                raise KeyboardInterrupt

        return real(model, *args, callback=cb, **kwargs)

    monkeypatch.setattr(module, "train_classifier", interrupted)


@pytest.mark.parametrize("optimizer", ["adam", "linbreg"])
def test_ctrl_c_keeps_last_epoch_and_resume_continues(tmp_path: Path, monkeypatch, capsys, optimizer) -> None:
    out = tmp_path / "run"
    steps = 3  # 48 images, batch 16
    snapshots: dict[int, dict] = {}
    _interrupt_at(monkeypatch, train_cli, steps + 2, snapshots)  # inside epoch 2
    argv = ["train", *SHAPES, *TINY, "--epochs", "3", "--optimizer", optimizer, "--out", str(out)]
    assert main(argv) == 130
    err = capsys.readouterr().err
    assert "holds epoch 1 of 3" in err and "--resume" in err
    model, meta = load_checkpoint(out / "checkpoint.pt")
    assert meta["complete"] is False and meta["epochs"] == 1 and meta["total_epochs"] == 1
    for k, v in model.state_dict().items():  # exactly the weights at the end of epoch 1
        assert torch.equal(v, snapshots[steps][k].cpu()), k
    assert (out / "optimizer.pt").is_file() and not (out / "history.json").exists()
    assert _leftovers(out) == []
    monkeypatch.undo()

    resume = ["train", *SHAPES, *TINY, "--epochs", "2", "--optimizer", optimizer, "--out", str(out)]
    assert main([*resume, "--resume", str(out / "checkpoint.pt")]) == 0  # into the same directory: allowed
    model, meta = load_checkpoint(out / "checkpoint.pt")
    assert meta["complete"] is True and meta["total_epochs"] == 3 and meta["resumed_epochs"] == 1
    assert meta["optimizer_state_restored"] is True
    assert "Resumed from" in capsys.readouterr().out


def test_ctrl_c_before_first_epoch_writes_nothing(tmp_path: Path, monkeypatch, capsys) -> None:
    out = tmp_path / "run"
    _interrupt_at(monkeypatch, train_cli, 1, {})
    assert main(["train", *SHAPES, *TINY, "--epochs", "2", "--out", str(out)]) == 130
    assert "no epoch of this run completed" in capsys.readouterr().err
    assert sorted(p.name for p in out.iterdir()) == []


def test_ctrl_c_during_prune_leaves_no_partial_output(tiny_checkpoint_copy: Path, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setitem(spectral_sparse.cli.SUBCOMMANDS, "prune", ".prune")
    source = tiny_checkpoint_copy.read_bytes()
    import spectral_sparse.prune as prune_pkg

    def interrupt(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(prune_pkg, "prune_and_fine_tune", interrupt)
    argv = ["prune", str(tiny_checkpoint_copy), "--fine-tune-epochs", "1", "--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "p")]) == 130
    assert list((tmp_path / "p").iterdir()) == []
    assert tiny_checkpoint_copy.read_bytes() == source


def _state(path: Path) -> dict[str, torch.Tensor]:
    return load_checkpoint(path)[0].state_dict()


def test_ctrl_c_during_prune_keeps_last_step_and_resume_equals_uninterrupted(
    tiny_checkpoint: Path, tmp_path: Path, monkeypatch, capsys
) -> None:
    monkeypatch.setitem(spectral_sparse.cli.SUBCOMMANDS, "prune", ".prune")
    source = tiny_checkpoint  # read only; prune and --resume write under tmp_path
    argv = ["prune", str(source), "--amount", "0.6", "--schedule", "iterative", "--steps", "3"]
    argv += ["--fine-tune-epochs", "1", "--n-train", "32", "--batch-size", "16", "--criterion", "energy"]
    argv += ["--no-progress"]
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0  # the uninterrupted twin
    import spectral_sparse.prune.core as prune_core

    real, calls = prune_core.fine_tune, []

    def interrupted(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:  # inside step 2's fine-tuning
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(prune_core, "fine_tune", interrupted)
    out = tmp_path / "p"
    assert main([*argv, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "holds step 1 of 3" in err and f"--resume {out / 'checkpoint.pt'}" in err
    model, meta = load_checkpoint(out / "checkpoint.pt")
    assert meta["complete"] is False and len(meta["pruning_progress"]["history"]["steps"]) == 1
    assert _leftovers(out) == [] and not (out / "results.json").exists()
    monkeypatch.setattr(prune_core, "fine_tune", real)

    # a different setting is refused, naming the option; then the same command continues
    assert main([*argv, "--lr", "0.01", "--out", str(out), "--resume", str(out / "checkpoint.pt")]) == 1
    assert "--lr" in capsys.readouterr().err
    assert main([*argv, "--out", str(out), "--resume", str(out / "checkpoint.pt")]) == 0
    model, meta = load_checkpoint(out / "checkpoint.pt")
    assert "pruning_progress" not in meta and meta["pruning"][-1]["resumed_from_step"] == 1
    whole = _state(tmp_path / "whole" / "checkpoint.pt")
    resumed = model.state_dict()
    assert whole.keys() == resumed.keys()
    for k in whole:  # bit for bit the model of the uninterrupted run
        assert torch.equal(whole[k], resumed[k]), k
    import json

    a, b = (json.loads((d / "results.json").read_text()) for d in (tmp_path / "whole", out))
    assert a["accuracy_before"] == b["accuracy_before"] and a["accuracy_after"] == b["accuracy_after"]
    assert [s["modes_after"] for s in a["history"]["steps"]] == [s["modes_after"] for s in b["history"]["steps"]]
    # a finished run cannot be resumed again (its checkpoint is no partial one)
    assert main([*argv, "--out", str(out), "--resume", str(out / "checkpoint.pt")]) == 1
    assert "not the checkpoint of an interrupted" in capsys.readouterr().err


def test_ctrl_c_during_reconstruct_train_leaves_no_partial_output(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("deepinv")
    monkeypatch.setitem(spectral_sparse.cli.SUBCOMMANDS, "reconstruct", ".reconstruct")
    import spectral_sparse.inverse.train as inverse_train

    def interrupt(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise KeyboardInterrupt

    monkeypatch.setattr(inverse_train, "train_reconstructor", interrupt)
    out = tmp_path / "r"
    argv = ["reconstruct", "train", "--physics", "deblur", "--train-resolution", "16", "--epochs", "1"]
    tiny = ["--width", "4", "--modes", "3", "--depth", "1", "--patch", "64", "--n-train", "4", "--batch-size", "2"]
    assert main([*argv, *tiny, "--out", str(out), "--no-progress"]) == 130
    assert not (out / "checkpoint.pt").exists() and _leftovers(out) == []


def test_ctrl_c_during_reconstruct_train_keeps_last_epoch_and_resume_equals_uninterrupted(
    tmp_path: Path, monkeypatch, capsys
) -> None:
    pytest.importorskip("deepinv")
    monkeypatch.setitem(spectral_sparse.cli.SUBCOMMANDS, "reconstruct", ".reconstruct")
    import spectral_sparse.inverse.train as inverse_train
    from spectral_sparse.cli.reconstruct import RESUME_FILE

    tiny = ["--width", "4", "--modes", "3", "--depth", "1", "--patch", "64", "--n-train", "6", "--batch-size", "2"]

    def command(epochs: int) -> list[str]:
        return [
            "reconstruct",
            "train",
            "--physics",
            "deblur",
            "--train-resolution",
            "16",
            "--epochs",
            str(epochs),
            *tiny,
            "--no-progress",
        ]

    argv = command(3)
    assert main([*argv, "--out", str(tmp_path / "whole")]) == 0
    real = inverse_train.train_reconstructor

    def interrupted(*args, epoch_callback=None, **kwargs):  # type: ignore[no-untyped-def]
        def cb(done: int, state: dict) -> None:
            epoch_callback(done, state)
            if done == 1:  # epoch 1 is saved, epoch 2 does not finish
                raise KeyboardInterrupt

        return real(*args, epoch_callback=cb, **kwargs)

    monkeypatch.setattr(inverse_train, "train_reconstructor", interrupted)
    out = tmp_path / "r"
    assert main([*argv, "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert "holds epoch 1 of 3" in err and f"--resume {out / 'checkpoint.pt'}" in err
    _, _, meta = inverse_train.load_reconstructor(out / "checkpoint.pt")
    assert meta["complete"] is False and meta["epochs_done"] == 1
    assert (out / RESUME_FILE).is_file() and not (out / "history.json").exists() and _leftovers(out) == []
    torch.load(out / RESUME_FILE, weights_only=True)  # plain tensors: no pickled code
    monkeypatch.setattr(inverse_train, "train_reconstructor", real)

    resume = ["--out", str(out), "--resume", str(out / "checkpoint.pt")]
    assert main([*command(4), *resume]) == 1  # other settings: refused, named
    assert "--epochs" in capsys.readouterr().err
    assert main([*argv, *resume]) == 0
    whole, _, _ = inverse_train.load_reconstructor(tmp_path / "whole" / "checkpoint.pt")
    resumed, _, meta = inverse_train.load_reconstructor(out / "checkpoint.pt")
    assert "complete" not in meta and meta["resumed_from_epoch"] == 1 and not (out / RESUME_FILE).exists()
    for (k, a), b in zip(whole.state_dict().items(), resumed.state_dict().values()):
        assert torch.equal(a, b), k  # bit for bit the uninterrupted run
    import json

    loss = [json.loads((d / "history.json").read_text())["history"]["loss"] for d in (tmp_path / "whole", out)]
    assert loss[0] == loss[1] and len(loss[0]) == 3
    assert main([*argv, *resume]) == 1  # complete now: nothing to continue
    assert "not the checkpoint of an interrupted" in capsys.readouterr().err


def test_atomic_save_round_trip(tmp_path: Path) -> None:
    atomic_save({"a": torch.arange(3)}, tmp_path / "x.pt")
    assert torch.equal(torch.load(tmp_path / "x.pt", weights_only=True)["a"], torch.arange(3))
