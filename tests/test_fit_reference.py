"""The training entry points give the weights and losses recorded before they became wrappers over one loop.

``tests/data/fit_reference.pt`` holds, for five tiny seeded runs (plain, mixed
resolutions with a validation set, a sparse optimizer with a constant schedule
and a step callback, adversarial training with a clean-loss weight, pruning's
fine-tuning), the final weights and the per-epoch history, recorded with
``python tests/test_fit_reference.py --record`` from the code before the
refactoring into :func:`spectral_sparse.training.fit`. On the machine and torch
build that recorded it (same fingerprint) the runs must agree bit for bit;
elsewhere (other CPU kernels) within :data:`spectral_sparse.testing.TOLERANCES`.
"""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from spectral_sparse.data import make_shapes
from spectral_sparse.models import CNNClassifier, SpectralClassifier
from spectral_sparse.testing import assert_close

REFERENCE = Path(__file__).parent / "data" / "fit_reference.pt"
HISTORY_KEYS = ("loss", "train_accuracy", "adv_accuracy", "val_accuracy", "batches_per_resolution", "steps")


def fingerprint() -> dict[str, str]:
    """What decides whether float results can be expected bit for bit."""
    return {
        "torch": str(torch.__version__),
        "capability": torch.backends.cpu.get_cpu_capability(),
        "machine": platform.machine(),
        "processor": platform.processor(),
    }


def _data() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    x, y = make_shapes(48, 16, seed=0)
    xv, yv = make_shapes(16, 16, seed=1)
    return x, y, xv, yv


def _spectral(seed: int) -> SpectralClassifier:
    torch.manual_seed(seed)
    return SpectralClassifier(1, 6, width=4, modes=3, depth=1)


def runs() -> dict[str, dict[str, Any]]:
    """The five runs: ``name -> {"state": state_dict, "history": {...}}``."""
    from spectral_sparse import optim
    from spectral_sparse.attacks import PGD, adversarial_train
    from spectral_sparse.prune import fine_tune
    from spectral_sparse.training import train_classifier

    x, y, xv, yv = _data()
    out: dict[str, dict[str, Any]] = {}

    def keep(name: str, model: torch.nn.Module, history: dict[str, Any], **extra: Any) -> None:
        hist = {k: history[k] for k in HISTORY_KEYS if k in history}
        state = {k: v.detach().clone().cpu() for k, v in model.state_dict().items()}
        out[name] = {"state": state, "history": {**hist, **extra}}

    torch.manual_seed(0)
    cnn = CNNClassifier(1, 6, widths=(4, 8))
    keep("plain_cnn", cnn, train_classifier(cnn, x, y, epochs=2, batch_size=16, weight_decay=1e-4, progress=False))

    m = _spectral(1)
    h = train_classifier(
        m,
        x,
        y,
        resolutions=(12, 16),
        epochs=2,
        batch_size=16,
        lr=1e-2,
        seed=3,
        val_images=xv,
        val_labels=yv,
        progress=False,
    )
    keep("mixed_val", m, h)

    m = _spectral(2)
    seen: list[int] = []
    h = train_classifier(
        m,
        x,
        y,
        epochs=2,
        batch_size=16,
        lr=1e-2,
        seed=1,
        progress=False,
        optimizer=lambda mm: optim.make_optimizer("linbreg", mm, lr=1e-2, lam=0.05),
        schedule="constant",
        callback=seen.append,
    )
    keep("linbreg_constant", m, h, callback_steps=list(seen))

    m = _spectral(3)
    h = adversarial_train(
        m,
        x.clamp(0, 1),
        y,
        lambda mm: PGD(mm, 0.05, 0.02, 2),
        resolutions=(12, 16),
        epochs=1,
        batch_size=16,
        clean_weight=0.3,
        seed=2,
        progress=False,
    )
    keep("adversarial", m, h)

    m = _spectral(4)
    keep("fine_tune", m, fine_tune(m, x, y, epochs=1, batch_size=16, lr=3e-3, seed=5))
    return out


def _single_thread():  # type: ignore[no-untyped-def]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    return threads


def _compare(actual: Any, expected: Any, exact: bool, what: str) -> None:
    if isinstance(expected, torch.Tensor):
        if exact:
            assert torch.equal(actual, expected), what
        elif expected.is_floating_point() or expected.is_complex():
            assert_close(actual, expected, what=what)
        else:
            assert torch.equal(actual, expected), what
    elif isinstance(expected, float) and not exact:
        assert actual == pytest.approx(expected, rel=1e-3, abs=1e-5), what
    elif isinstance(expected, list) and not exact:
        assert len(actual) == len(expected), what
        for i, (a, e) in enumerate(zip(actual, expected)):
            _compare(a, e, exact, f"{what}[{i}]")
    else:
        assert actual == expected, what


@pytest.mark.slow
def test_training_entry_points_reproduce_the_recorded_runs() -> None:
    saved = torch.load(REFERENCE, weights_only=True)
    threads = _single_thread()
    try:
        now = runs()
    finally:
        torch.set_num_threads(threads)
    exact = saved["fingerprint"] == fingerprint()
    assert set(now) == set(saved["runs"])
    for name, ref in saved["runs"].items():
        assert set(now[name]["state"]) == set(ref["state"]), name
        for key, tensor in ref["state"].items():
            _compare(now[name]["state"][key], tensor, exact, f"{name}: {key}")
        assert set(now[name]["history"]) == set(ref["history"]), name
        for key, value in ref["history"].items():
            _compare(now[name]["history"][key], value, exact, f"{name}: history[{key!r}]")


if __name__ == "__main__":
    if sys.argv[1:] != ["--record"]:
        raise SystemExit("usage: python tests/test_fit_reference.py --record")
    _single_thread()
    REFERENCE.parent.mkdir(exist_ok=True)
    torch.save({"fingerprint": fingerprint(), "runs": runs()}, REFERENCE)
    print(f"wrote {REFERENCE} ({REFERENCE.stat().st_size} bytes)")
