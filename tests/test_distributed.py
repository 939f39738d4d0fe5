"""Data-parallel training over two CPU processes (gloo): identical weights and mode sets on both ranks, resume."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp

from spectral_sparse import distributed as dist

TINY = ["--data", "shapes", "--train-resolution", "16", "--n-train", "64", "--n-test", "32"]
TINY += ["--width", "4", "--modes", "3", "--depth", "1", "--batch-size", "16", "--no-progress", "--threads", "1"]


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _sparse_run(seed: int = 0):  # type: ignore[no-untyped-def]
    """Train a tiny classifier with LinBreg (mode groups) steered by a SparsityController; return model, history."""
    from spectral_sparse import optim
    from spectral_sparse.data import make_shapes
    from spectral_sparse.models import SpectralClassifier
    from spectral_sparse.training import train_classifier

    x, y = make_shapes(64, 16, seed=seed)
    torch.manual_seed(seed)
    model = SpectralClassifier(1, 6, width=4, modes=3, depth=1)
    ctl: list[optim.SparsityController] = []

    def factory(m: torch.nn.Module) -> torch.optim.Optimizer:
        opt = optim.make_optimizer("linbreg", m, lr=0.1, lam=0.5, reg="mode")
        ctl.append(optim.SparsityController(opt, 0.4, measure=lambda: optim.mode_sparsity(m), interval=1))
        return opt

    hist = train_classifier(
        model,
        x,
        y,
        resolutions=(12, 16),
        epochs=2,
        batch_size=8 * 2 // dist.world(),  # per rank: the global batch is 16 in every run
        optimizer=factory,
        schedule="constant",
        callback=lambda step: ctl[0].step(),
        progress=False,
        seed=seed,
    )
    return model, hist, ctl[0].history


def _worker(rank: int, world: int, ports: list[int], out: str) -> None:
    torch.set_num_threads(1)
    # what torchrun sets; a fresh port for every process group (re-initialising on the same port can hang)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1")
    os.environ["MASTER_PORT"] = str(ports[0])
    assert dist.init_from_env() is True and dist.world() == world and dist.rank() == rank
    assert dist.is_main() == (rank == 0)
    assert dist.broadcast_object({"r": rank}) == {"r": 0}
    assert dist.sum_all([1.0, float(rank)]) == [2.0, 1.0]
    model, hist, ctl_history = _sparse_run()
    from spectral_sparse.optim import mode_sparsity

    sparsity = mode_sparsity(model)
    for layer in model.spectral:
        layer.compact()
    torch.save(
        {"state": model.state_dict(), "hist": hist, "ctl": ctl_history, "sparsity": sparsity}, f"{out}/rank{rank}.pt"
    )
    dist.cleanup()
    assert not dist.is_initialized()

    # the CLI under the same environment torchrun sets: train (sparse), then resume (Adam) from the checkpoint
    from spectral_sparse.cli import main

    sparse = ["--optimizer", "linbreg", "--lam", "0.5", "--lr", "0.1", "--target-sparsity", "0.4"]
    runs = [
        ["--epochs", "1", "--out", f"{out}/first", *sparse, "--control-interval", "1"],
        ["--epochs", "2", "--out", f"{out}/second", "--resume", f"{out}/first/checkpoint.pt", "--lr", "0.01"],
        ["--epochs", "1", "--out", f"{out}/third", "--resume", f"{out}/second/checkpoint.pt"],
    ]
    for port, argv in zip(ports[1:4], runs, strict=True):
        os.environ["MASTER_PORT"] = str(port)
        assert main(["train", *TINY, *argv]) == 0
        assert not dist.is_initialized()
    # prune with data-parallel fine-tuning: exit 0 means the pruned model was identical on both ranks
    os.environ["MASTER_PORT"] = str(ports[4])
    prune = ["prune", f"{out}/third/checkpoint.pt", "--amount", "0.5", "--criterion", "energy"]
    prune += ["--fine-tune-epochs", "1", "--batch-size", "8", "--n-train", "64", "--n-test", "32"]
    assert main([*prune, "--out", f"{out}/pruned", "--no-progress", "--threads", "1"]) == 0
    assert not dist.is_initialized()


@pytest.mark.slow
def test_two_processes(tmp_path: Path) -> None:
    assert dist.world() == 1 and dist.rank() == 0 and dist.is_main() and dist.init_from_env() is False
    ctx = mp.spawn(_worker, args=(2, _free_ports(5), str(tmp_path)), nprocs=2, join=False)
    deadline = time.monotonic() + 120  # never hang CI: a stuck collective fails the test instead
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                proc.kill()
            pytest.fail("the two training processes did not finish within 120 s")
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))

    # (a) bit-identical parameters and (c) mode sets (mode_indices buffers after compact), lam steering, histories
    assert r0["state"].keys() == r1["state"].keys()
    for name, t in r0["state"].items():
        assert torch.equal(t, r1["state"][name]), name
    assert r0["ctl"] == r1["ctl"] and r0["hist"]["loss"] == r1["hist"]["loss"] and r0["sparsity"] == r1["sparsity"]
    assert 0 < r0["sparsity"] < 1, "the regularizer should have removed some but not all modes"
    from spectral_sparse.models import SpectralClassifier

    full = len(SpectralClassifier(1, 6, width=4, modes=3, depth=1).spectral[0].modes)
    assert r0["state"]["spectral.0.weight"].is_complex()
    assert len(r0["state"]["spectral.0.mode_indices"]) == len(r0["state"]["spectral.0.weight"]) < full
    assert r0["hist"]["world_size"] == 2 and sum(r0["hist"]["batches_per_resolution"].values()) == 2 * 4

    # (b) the loss falls; and two ranks with batch 8 see what one process with batch 16 sees (same images, order,
    # grids): the histories agree up to float32 summation order over 8 steps (measured 6e-8; bound 1e-5)
    loss = r0["hist"]["loss"]
    assert loss[1] < loss[0]
    _, single, single_ctl = _sparse_run()
    assert single["world_size"] == 1 and single["batches_per_resolution"] == r0["hist"]["batches_per_resolution"]
    assert max(abs(a - b) for a, b in zip(single["loss"], loss, strict=True)) < 1e-5
    assert [c[0] for c in single_ctl] == [c[0] for c in r0["ctl"]]

    # (d) CLI: rank 0 wrote everything; resume continued training from the checkpoint
    first, second, third = (
        json.loads((tmp_path / d / "history.json").read_text()) for d in ("first", "second", "third")
    )
    assert first["world_size"] == 2 and first["sparse_training"]["optimizer"] == "linbreg"
    assert second["resumed_from"].endswith("first/checkpoint.pt") and second["total_epochs"] == 3
    assert second["optimizer_state_restored"] is False  # LinBreg state does not fit Adam
    assert third["optimizer_state_restored"] is True and third["total_epochs"] == 4
    assert third["history"]["loss"][0] < first["history"]["loss"][0]
    for d in ("first", "second", "third"):
        assert (tmp_path / d / "checkpoint.pt").is_file() and (tmp_path / d / "optimizer.pt").is_file()
    # (e) prune under torchrun: rank 0 wrote the results; half of the modes are gone
    pruned = json.loads((tmp_path / "pruned" / "results.json").read_text())
    assert pruned["report_after"]["totals"]["modes_kept"] < pruned["report_before"]["totals"]["modes_kept"]
    assert (tmp_path / "pruned" / "checkpoint.pt").is_file()


def test_resume_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from spectral_sparse.cli import main

    def train(resume: Path) -> int:
        return main(["train", *TINY, "--epochs", "1", "--out", str(tmp_path / "a"), "--resume", str(resume)])

    assert train(tmp_path / "no.pt") == 1
    assert "--resume" in (err := capsys.readouterr().err) and "does not exist" in err
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert train(tmp_path / "bad.pt") == 1
    assert "not a spectral_sparse checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "a" / "checkpoint.pt").exists()


def test_init_from_env_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WORLD_SIZE", "2")
    for name in ("RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ValueError, match="RANK, LOCAL_RANK, MASTER_ADDR, MASTER_PORT not set"):
        dist.init_from_env()
    monkeypatch.setenv("RANK", "x")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", "1")
    with pytest.raises(ValueError, match="must be integers"):
        dist.init_from_env()
    monkeypatch.setenv("RANK", "2")
    with pytest.raises(ValueError, match="RANK=2"):
        dist.init_from_env()
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="backend must be"):
        dist.init_from_env(backend="mpi")
    monkeypatch.setenv("WORLD_SIZE", "1")
    assert dist.init_from_env() is False and not dist.is_initialized()


# --- adversarial training and inverse-problem training under two processes ---------------------------------------

RECON = ["reconstruct", "train", "--physics", "deblur", "--train-resolution", "16", "--data", "phantoms"]
RECON += ["--width", "4", "--modes", "3", "--depth", "1", "--n-train", "8", "--batch-size", "2", "--epochs", "2"]
RECON += ["--param", "noise_sigma=0.2", "--lr", "1e-2", "--no-progress", "--threads", "1"]


def _adv_run(batch_size: int) -> tuple[torch.nn.Module, dict, list[int], int]:
    """Adversarial training (PGD without random start, so the attack is a function of weights and data) of a
    tiny classifier on noisy stripes; return model, history, the attack seeds seen and the optimizer steps taken."""
    from _stripes import stripes

    from spectral_sparse.attacks import PGD, adversarial_train
    from spectral_sparse.models import SpectralClassifier

    x, y = stripes(60)
    torch.manual_seed(0)
    model = SpectralClassifier(1, 4, width=6, modes=3, depth=1)
    seeds: list[int] = []

    class Recording(PGD):
        def __call__(self, images, labels):  # type: ignore[no-untyped-def]
            seeds.append(self.seed)
            return super().__call__(images, labels)

    opt = torch.optim.Adam(model.parameters(), lr=2e-2)
    steps = [0]
    opt.register_step_post_hook(lambda *_: steps.__setitem__(0, steps[0] + 1))
    hist = adversarial_train(
        model,
        x,
        y,
        lambda m: Recording(m, 0.1, alpha=0.05, steps=2, random_start=False),
        resolutions=(12, 16),
        epochs=3,
        batch_size=batch_size,
        optimizer=opt,
        clean_weight=0.25,  # two forward passes through DDP before one backward
        seed=7,
        progress=False,
    )
    return model, hist, seeds, steps[0]


def _adv_recon_worker(rank: int, world: int, ports: list[int], out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1")
    os.environ["MASTER_PORT"] = str(ports[0])
    assert dist.init_from_env() is True
    model, hist, seeds, steps = _adv_run(batch_size=8)  # 8 per rank: a global batch of 16
    torch.save({"state": model.state_dict(), "hist": hist, "seeds": seeds, "steps": steps}, f"{out}/adv{rank}.pt")
    dist.cleanup()

    # the train CLI with --attack under the environment torchrun sets (exit 0: identical models on both ranks)
    from spectral_sparse.cli import main

    os.environ["MASTER_PORT"] = str(ports[2])
    adv = ["--attack", "fourier-pgd", "--eps", "0.5", "--attack-steps", "1", "--clean-weight", "0.5"]
    assert main(["train", *TINY, "--epochs", "1", *adv, "--out", f"{out}/adv-cli"]) == 0
    assert not dist.is_initialized()

    # reconstruct train; every rank saves the weights it trained for the comparison
    from spectral_sparse.inverse import train as inverse_train

    saved: list[torch.nn.Module] = []
    original = inverse_train.train_reconstructor

    def spy(model, *args, **kwargs):  # type: ignore[no-untyped-def]
        saved.append(model)
        return original(model, *args, **kwargs)

    inverse_train.train_reconstructor = spy
    os.environ["MASTER_PORT"] = str(ports[1])
    assert main([*RECON, "--out", f"{out}/recon"]) == 0
    assert not dist.is_initialized()
    torch.save({k: v.cpu() for k, v in saved[0].state_dict().items()}, f"{out}/recon{rank}.pt")


def _join(ctx, seconds: float) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds  # never hang CI: a stuck collective fails the test instead
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for proc in ctx.processes:
                proc.kill()
            pytest.fail(f"the two processes did not finish within {seconds:.0f} s")


@pytest.mark.slow
def test_two_processes_adversarial_and_reconstruct(tmp_path: Path) -> None:
    ctx = mp.spawn(_adv_recon_worker, args=(2, _free_ports(3), str(tmp_path)), nprocs=2, join=False)
    _join(ctx, 120)

    # adversarial training: bit-identical parameters; each rank attacked its own shard with its own seeds
    a0, a1 = (torch.load(tmp_path / f"adv{r}.pt", weights_only=False) for r in (0, 1))
    assert a0["state"].keys() == a1["state"].keys()
    for name, t in a0["state"].items():
        assert torch.equal(t, a1["state"][name]), name
    assert a0["hist"]["loss"] == a1["hist"]["loss"] and a0["hist"]["world_size"] == 2
    # 60 images, 30 per rank, batch 8 per rank: 4 steps per epoch, 3 epochs
    assert a0["steps"] == a1["steps"] == a0["hist"]["steps"] == 3 * 4
    assert sum(a0["hist"]["batches_per_resolution"].values()) == 12
    assert a0["seeds"] == [7 + 2 * b for b in range(12)] and a1["seeds"] == [7 + 2 * b + 1 for b in range(12)]
    loss, adv = a0["hist"]["loss"], a0["hist"]["adv_accuracy"]
    assert loss[-1] < loss[0] and adv[-1] > adv[0], (loss, adv)
    # one process with batch 16 sees the same images, grids and adversarial examples: the same history up to
    # float32 summation order (measured 5e-8; bound 1e-5)
    _, single, single_seeds, single_steps = _adv_run(batch_size=16)
    assert single_steps == 3 * 4 and single_seeds == list(range(7, 19))
    assert max(abs(p - q) for p, q in zip(single["loss"], loss, strict=True)) < 1e-5, (single["loss"], loss)

    cli = json.loads((tmp_path / "adv-cli" / "history.json").read_text())
    assert cli["world_size"] == 2 and cli["adversarial_training"]["attack"] == "FourierPGD"
    assert cli["history"]["steps"] == 2 and "adv_accuracy" in cli["history"]  # 1 epoch: 32 images per rank, batch 16

    # reconstruct train: rank 0 wrote the files; both ranks hold the same weights; the loss fell
    r0, r1 = (torch.load(tmp_path / f"recon{r}.pt", weights_only=True) for r in (0, 1))
    assert r0.keys() == r1.keys() and all(torch.equal(r0[k], r1[k]) for k in r0)
    hist = json.loads((tmp_path / "recon" / "history.json").read_text())
    assert hist["world_size"] == 2 and hist["history"]["world_size"] == 2
    assert hist["history"]["steps"] == 2 * 2  # 8 images, 4 per rank, batch 2 per rank, 2 epochs
    assert hist["history"]["loss"][-1] < hist["history"]["loss"][0]
    from spectral_sparse.inverse.train import load_reconstructor

    model, _, meta = load_reconstructor(tmp_path / "recon" / "checkpoint.pt")
    assert meta["world_size"] == 2
    assert all(torch.equal(v, r0[k]) for k, v in model.state_dict().items())


def test_epoch_sampler_shards_and_reshuffles() -> None:
    """The sampler given to deepinv's Trainer under W ranks: disjoint shards covering the data, a new order each
    epoch (the Trainer never calls set_epoch), the same orders on every run."""
    from spectral_sparse.inverse.train import _EpochSampler

    data = list(range(10))
    samplers = [_EpochSampler(data, num_replicas=2, rank=r, shuffle=True, seed=3) for r in (0, 1)]
    epochs = [[list(s) for s in samplers] for _ in range(3)]
    for shard0, shard1 in epochs:
        assert len(shard0) == len(shard1) == 5 and sorted(shard0 + shard1) == data
    assert epochs[0] != epochs[1] != epochs[2]
    again = _EpochSampler(data, num_replicas=2, rank=0, shuffle=True, seed=3)
    assert [list(again) for _ in range(3)] == [e[0] for e in epochs]
