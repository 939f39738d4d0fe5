"""The one training loop ``fit``: its config, its hooks, the wrappers over it, and the DDP helpers it uses."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from spectral_sparse import distributed as dist
from spectral_sparse.data import make_shapes
from spectral_sparse.models import CNNClassifier, SpectralClassifier
from spectral_sparse.prune.channels import HiddenChannelModel, prune_channels
from spectral_sparse.training import (
    FitState,
    Hook,
    StepCallback,
    TrainConfig,
    Validation,
    fit,
    fit_arguments,
    train_classifier,
)


@pytest.fixture(scope="module")
def data() -> tuple[torch.Tensor, torch.Tensor]:
    return make_shapes(40, 16, seed=0)


def _model(seed: int = 0) -> SpectralClassifier:
    torch.manual_seed(seed)
    return SpectralClassifier(1, 6, width=4, modes=3, depth=1)


CONFIG = TrainConfig(resolutions=(12, 16), epochs=2, batch_size=16, lr=1e-2, seed=4, progress=False)


def test_fit_equals_train_classifier(data) -> None:
    x, y = data
    a, b = _model(), _model()
    seen_a: list[int] = []
    seen_b: list[int] = []
    ha = fit(a, (x, y), CONFIG, hooks=[StepCallback(seen_a.append), Validation(x[:8], y[:8])])
    hb = train_classifier(
        b, x, y, resolutions=(12, 16), epochs=2, batch_size=16, lr=1e-2, seed=4, progress=False,
        callback=seen_b.append, val_images=x[:8], val_labels=y[:8],
    )  # fmt: skip
    for (k, va), vb in zip(a.state_dict().items(), b.state_dict().values()):
        assert torch.equal(va, vb), k
    drop = {"seconds", "train_seconds"}
    assert {k: v for k, v in ha.items() if k not in drop} == {k: v for k, v in hb.items() if k not in drop}
    assert seen_a == seen_b == list(range(1, 7)) and ha["steps"] == 6
    assert len(ha["val_accuracy"]) == 2


class Recorder(Hook):
    def __init__(self) -> None:
        self.events: list[tuple] = []

    def setup(self, model: nn.Module) -> None:
        self.events.append(("setup", model.training))

    def on_fit_start(self, state: FitState) -> None:
        self.events.append(("start", type(state.optimizer).__name__, state.steps_per_epoch))

    def on_batch(self, state: FitState) -> None:
        assert state.inputs is state.images
        self.events.append(("batch", state.epoch, state.batch, tuple(state.images.shape[-2:])))

    def on_step_end(self, state: FitState) -> None:
        assert state.loss is not None and state.logits.shape == (len(state.labels), 6)
        self.events.append(("step", state.step))

    def on_epoch_end(self, state: FitState) -> None:
        self.events.append(("epoch", state.epoch, len(state.history["loss"])))

    def on_fit_end(self, state: FitState) -> None:
        self.events.append(("end", state.model.training, state.history["steps"]))


def test_hooks_are_called_in_order(data) -> None:
    x, y = data
    rec = Recorder()
    fit(_model(), (x, y), CONFIG, hooks=[rec])
    kinds = [e[0] for e in rec.events]
    assert kinds[:2] == ["setup", "start"] and kinds[-1] == "end"
    assert rec.events[1] == ("start", "Adam", 3)
    per_epoch = ["batch", "step"] * 3 + ["epoch"]
    assert kinds[2:-1] == per_epoch * 2
    assert [e[1] for e in rec.events if e[0] == "step"] == list(range(1, 7))
    assert [e[1:] for e in rec.events if e[0] == "epoch"] == [(0, 1), (1, 2)]
    assert {e[3] for e in rec.events if e[0] == "batch"} <= {(12, 12), (16, 16)}
    assert rec.events[-1] == ("end", False, 6)


class ZeroInputs(Hook):
    def on_batch(self, state: FitState) -> None:
        state.inputs = torch.zeros_like(state.images)


def test_on_batch_replaces_what_the_model_and_the_loss_see(data) -> None:
    x, y = data
    model = _model()
    seen: list[float] = []
    model.register_forward_pre_hook(lambda m, args: seen.append(float(args[0].abs().sum())))
    got: list[float] = []

    def loss(logits, labels, inputs):  # type: ignore[no-untyped-def]
        got.append(float(inputs.abs().sum()))
        return nn.functional.cross_entropy(logits, labels)

    fit(model, (x, y), TrainConfig(epochs=1, batch_size=20, progress=False), loss=loss, hooks=[ZeroInputs()])
    assert seen == got == [0.0, 0.0]


def test_attack_is_a_hook_and_its_seed_follows_the_step(data) -> None:
    x, y = data
    seeds: list[int] = []

    class Shift:
        seed = 0

        def __init__(self, model: nn.Module) -> None:
            self.model = model

        def __call__(self, images: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
            seeds.append(self.seed)
            return images + 0.01

    h = fit(_model(), (x.clamp(0, 1), y), TrainConfig(epochs=2, batch_size=20, seed=7, progress=False), attack=Shift)
    assert seeds == [7, 8, 9, 10]
    assert h["attack"] == "Shift" and "adv_accuracy" in h and "train_accuracy" not in h


def test_bad_arguments_name_themselves(data) -> None:
    x, y = data
    with pytest.raises(TypeError, match="config must be a TrainConfig"):
        fit(_model(), (x, y), {"epochs": 1})  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="hooks must be Hook instances, got function"):
        fit(_model(), (x, y), CONFIG, hooks=[lambda s: None])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="epochs must be a positive int, got 0"):
        fit(_model(), (x, y), TrainConfig(epochs=0))
    with pytest.raises(ValueError, match="clean_weight mixes clean and adversarial losses"):
        fit(_model(), (x, y), TrainConfig(clean_weight=0.5))
    with pytest.raises(TypeError, match="callback must be callable"):
        StepCallback(3)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match=r"unexpected keyword argument.*: colour"):
        fit_arguments(colour="red")
    with pytest.raises(ValueError, match="give both val_images and val_labels"):
        fit_arguments(val_images=x)


def test_fine_tune_rejects_unknown_keywords(data) -> None:
    from spectral_sparse.prune import fine_tune

    x, y = data
    with pytest.raises(TypeError, match=r"unexpected keyword argument.*: frobnicate"):
        fine_tune(_model(), x, y, frobnicate=1)


def test_shard_matches_distributed_sampler(monkeypatch) -> None:
    n, world = 10, 3
    per_rank = -(-n // world)
    for rank in range(world):
        monkeypatch.setattr(dist, "world", lambda: world)
        monkeypatch.setattr(dist, "rank", lambda r=rank: r)
        sampler = torch.utils.data.DistributedSampler(range(n), num_replicas=world, rank=rank, shuffle=False)
        assert dist.shard(torch.arange(n), per_rank).tolist() == list(sampler)
    monkeypatch.undo()
    perm = torch.randperm(n)
    assert dist.shard(perm, n) is perm
    model = nn.Linear(2, 2)
    assert dist.wrap(model) is model


def test_channel_pruning_takes_any_model_with_the_structure() -> None:
    class Renamed(nn.Module):  # not a SpectralClassifier, but built like one
        def __init__(self) -> None:
            super().__init__()
            inner = SpectralClassifier(1, 3, width=6, modes=2, depth=1)
            self.lift, self.spectral, self.skips, self.act, self.head = (
                inner.lift, inner.spectral, inner.skips, inner.act, inner.head
            )  # fmt: skip

    model = Renamed()
    assert isinstance(model, HiddenChannelModel)
    assert len(prune_channels(model, 0.5, "magnitude")) == 3
    assert model.lift.weight.shape[0] == 3 and model.head.in_features == 3
    assert not isinstance(CNNClassifier(1, 3, widths=(4, 8)), HiddenChannelModel)
    with pytest.raises(TypeError, match="got CNNClassifier"):
        prune_channels(CNNClassifier(1, 3, widths=(4, 8)), 0.5, "magnitude")
