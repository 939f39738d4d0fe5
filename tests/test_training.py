"""train_classifier and evaluate_resolutions on the analytic shapes (seconds on a CPU)."""

from __future__ import annotations

import pytest
import torch

from spectral_sparse.data import make_shapes
from spectral_sparse.data.shapes import CLASSES
from spectral_sparse.models import CNNClassifier, SpectralClassifier
from spectral_sparse.training import evaluate_resolutions, resolution_name, train_classifier


@pytest.fixture(scope="module")
def shapes() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = make_shapes(480, 24, seed=0)
    xt, yt = make_shapes(160, 24, seed=1)
    return x, y, xt, yt


@pytest.fixture(scope="module")
def trained(shapes) -> tuple[SpectralClassifier, dict]:
    x, y, xt, yt = shapes
    torch.manual_seed(0)
    model = SpectralClassifier(1, len(CLASSES), width=12, modes=4, depth=2)
    history = train_classifier(
        model, x, y, epochs=6, batch_size=32, lr=1e-2, seed=0, val_images=xt, val_labels=yt, progress=False
    )
    return model, history


def test_training_learns_shapes(shapes, trained) -> None:
    _, _, xt, yt = shapes
    model, history = trained
    chance = 1 / len(CLASSES)
    rows = evaluate_resolutions(model, xt, yt, [24])
    assert rows[0]["accuracy"] > chance + 0.2, rows  # ~0.5 measured; chance 1/6
    assert history["loss"][-1] < history["loss"][0]
    assert len(history["val_accuracy"]) == 6 and history["val_accuracy"][-1] == pytest.approx(rows[0]["accuracy"])
    assert history["batches_per_resolution"] == {"24": 6 * 15}
    assert not model.training


def test_training_is_reproducible(shapes) -> None:
    x, y, _, _ = shapes
    losses = []
    for _ in range(2):
        torch.manual_seed(3)
        model = CNNClassifier(1, len(CLASSES), widths=(4, 8))
        h = train_classifier(model, x[:64], y[:64], resolutions=(20, 24), epochs=1, batch_size=16, progress=False)
        losses.append(h["loss"])
    assert losses[0] == losses[1]


def test_mixed_resolution_training(shapes) -> None:
    x, y, _, _ = shapes
    torch.manual_seed(0)
    model = SpectralClassifier(1, len(CLASSES), width=4, modes=3, depth=1)
    seen = set()
    model.register_forward_pre_hook(lambda m, args: seen.add(tuple(args[0].shape[-2:])))
    h = train_classifier(
        model, x[:160], y[:160], resolutions=(16, 24, (20, 32)), epochs=2, batch_size=8, seed=1, progress=False
    )
    assert seen == {(16, 16), (24, 24), (20, 32)}
    assert set(h["batches_per_resolution"]) == {"16", "24", "20x32"}
    assert sum(h["batches_per_resolution"].values()) == 2 * 20
    assert h["resolutions"] == [16, 24, "20x32"]
    assert all(v > 0 for v in h["batches_per_resolution"].values())


def test_evaluate_raw_vs_resize_first(shapes, trained) -> None:
    _, _, xt, yt = shapes
    model, _ = trained
    res = [16, 24, 48]
    raw = evaluate_resolutions(model, xt, yt, res, mode="raw")
    first = evaluate_resolutions(model, xt, yt, res, mode="resize-first", train_resolution=24)
    assert [r["resolution"] for r in raw] == res and [r["resolution"] for r in first] == res
    assert {r["mode"] for r in raw} == {"raw"} and {r["mode"] for r in first} == {"resize-first"}
    assert all(r["n"] == len(yt) and r["method"] == "fourier" and 0 <= r["accuracy"] <= 1 for r in raw + first)
    # at the training grid both modes see the same images
    assert raw[1]["accuracy"] == first[1]["accuracy"]
    # Fourier up then down is exact, so resize-first at 48 equals the training grid's accuracy
    assert first[2]["accuracy"] == pytest.approx(first[1]["accuracy"])
    bil = evaluate_resolutions(model, xt, yt, [(20, 28)], method="bilinear")
    assert bil[0]["resolution"] == "20x28" and bil[0]["method"] == "bilinear"


def test_evaluate_resize_first_matches_manual_pipeline(shapes, trained) -> None:
    from spectral_sparse.data import resize
    from spectral_sparse.inference import predict

    _, _, xt, yt = shapes
    model, _ = trained
    row = evaluate_resolutions(model, xt, yt, [16], mode="resize-first", train_resolution=24, method="bilinear")[0]
    pred = predict(model, resize(resize(xt, 16, method="bilinear"), 24, method="bilinear"))
    assert row["accuracy"] == float((pred == yt).float().mean())


def test_argument_errors(shapes) -> None:
    x, y, _, _ = shapes
    model = SpectralClassifier(1, len(CLASSES), width=4, modes=3, depth=1)
    with pytest.raises(ValueError, match="train_resolution"):
        evaluate_resolutions(model, x, y, [24], mode="resize-first")
    with pytest.raises(ValueError, match="mode must be one of"):
        evaluate_resolutions(model, x, y, [24], mode="other")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="resolutions is empty"):
        train_classifier(model, x, y, resolutions=(), progress=False)
    with pytest.raises(ValueError, match="labels must have shape"):
        train_classifier(model, x, y[:-1], progress=False)
    with pytest.raises(ValueError, match="epochs"):
        train_classifier(model, x, y, epochs=0, progress=False)
    assert resolution_name((28, 28)) == 28 and resolution_name((20, 32)) == "20x32"


def test_custom_optimizer_schedule_and_callback(shapes) -> None:
    x, y, _, _ = shapes
    x, y = x[:64], y[:64]
    torch.manual_seed(0)
    model = SpectralClassifier(1, len(CLASSES), width=4, modes=3, depth=1)
    seen: list[int] = []
    lrs: list[float] = []
    made: list[torch.optim.Optimizer] = []

    def factory(m: torch.nn.Module) -> torch.optim.Optimizer:
        made.append(torch.optim.SGD(m.parameters(), lr=0.5))
        return made[0]

    def callback(step: int) -> None:
        seen.append(step)
        lrs.append(made[0].param_groups[0]["lr"])

    h = train_classifier(
        model,
        x,
        y,
        epochs=2,
        batch_size=32,
        lr=0.05,
        schedule="constant",
        optimizer=factory,
        callback=callback,
        progress=False,
    )
    assert seen == [1, 2, 3, 4]
    assert lrs == [0.05] * 4  # the constant schedule holds the given lr, not the factory's
    assert h["optimizer"] == "SGD" and h["schedule"] == "constant"


def test_bad_optimizer_and_schedule(shapes) -> None:
    x, y, _, _ = shapes
    model = SpectralClassifier(1, len(CLASSES), width=4, modes=3, depth=1)
    with pytest.raises(ValueError, match="schedule must be"):
        train_classifier(model, x[:8], y[:8], epochs=1, schedule="cosine", progress=False)
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer"):
        train_classifier(model, x[:8], y[:8], epochs=1, optimizer=lambda m: "adam", progress=False)
