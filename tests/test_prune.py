"""Pruning Fourier modes: exact counts, criteria against their definitions, schedules, reports, errors."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from spectral_sparse import ModeSet, SparseSpectralConv
from spectral_sparse.data import make_shapes
from spectral_sparse.models import SpectralClassifier, count_parameters
from spectral_sparse.prune import (
    CRITERIA,
    fine_tune,
    get_schedule,
    gradual,
    iterative,
    layer_flops,
    one_shot,
    prune_and_fine_tune,
    prune_modes,
    sparsity_report,
)
from spectral_sparse.prune.criteria import energy, magnitude, taylor
from spectral_sparse.testing import assert_close


def _model(depth: int = 2, seed: int = 0) -> SpectralClassifier:
    torch.manual_seed(seed)
    return SpectralClassifier(1, 6, width=4, modes=3, depth=depth)  # 15 modes per layer, 6 classes as shapes


def _layer_with(weights: list[complex], modes: ModeSet) -> SparseSpectralConv:
    layer = SparseSpectralConv(1, 1, modes, bias=False)
    with torch.no_grad():
        layer.weight[:] = torch.tensor(weights, dtype=torch.cfloat).reshape(-1, 1, 1)
    return layer


# ------------------------------------------------------------------ pruning and compaction
@pytest.mark.parametrize("criterion", ["magnitude", "energy", "taylor"])
def test_compact_after_pruning_keeps_outputs(criterion: str) -> None:
    model = _model()
    x = torch.randn(3, 1, 12, 12)
    data = [(x, torch.tensor([0, 1, 2]))]
    loss = nn.functional.cross_entropy
    zeroed = copy.deepcopy(model)
    info = prune_modes(zeroed, 0.4, criterion, data=data, loss_fn=loss, compact=False)
    prune_modes(model, 0.4, criterion, data=data, loss_fn=loss)
    assert [len(layer.modes) for layer in zeroed.spectral] == [15, 15]  # zeros still stored
    assert sum(len(layer.modes) for layer in model.spectral) == 30 - 12 == info["modes_after"]
    assert_close(model(x), zeroed(x), what="compacted vs zeroed")
    # the layers dropped exactly the modes that were zeroed
    for a, b in zip(model.spectral, zeroed.spectral):
        kept = (b.weight != 0).reshape(15, -1).any(1)
        assert torch.equal(a.modes.indices, b.modes.indices[kept])


@pytest.mark.parametrize("amount", [0.0, 0.1, 0.3, 0.5, 0.9])
def test_layer_scope_removes_exact_rounded_count(amount: float) -> None:
    model = _model(depth=3)
    info = prune_modes(model, amount, scope="layer")
    expected = math.floor(amount * 15 + 0.5)  # 0.3 * 15 = 4.5 rounds up to 5
    assert [r["removed"] for r in info["layers"]] == [expected] * 3
    assert [len(layer.modes) for layer in model.spectral] == [15 - expected] * 3
    assert info["requested"] == info["removed"] == 3 * expected


@pytest.mark.parametrize("amount", [0.0, 0.25, 0.5, 0.77])
def test_global_scope_removes_exact_rounded_count(amount: float) -> None:
    model = _model(depth=3)
    info = prune_modes(model, amount, scope="global")
    expected = math.floor(amount * 45 + 0.5)
    assert info["removed"] == expected and info["modes_before"] == 45
    assert sum(len(layer.modes) for layer in model.spectral) == 45 - expected


def test_amount_is_relative_to_kept_modes() -> None:
    model = _model(depth=1)
    prune_modes(model, 0.5)  # 15 -> 7
    prune_modes(model, 0.5)  # 7 -> 3 (3.5 rounds up to 4 removed)
    assert len(model.spectral[0].modes) == 3


def test_every_layer_keeps_one_mode() -> None:
    model = _model(depth=2)
    with torch.no_grad():
        model.spectral[1].weight.mul_(1e-6)  # raw scores of layer 1 are tiny
    with pytest.warns(UserWarning, match="keeps at least one mode"):
        info = prune_modes(model, 0.99, scope="global")
    assert [len(layer.modes) for layer in model.spectral] == [1, 1]
    assert info["removed"] == 28 < info["requested"] == 30
    layer = SparseSpectralConv(2, 2, ModeSet.box(3))  # 2 modes; 0.9 * 2 rounds to 2
    with pytest.warns(UserWarning, match="removed 1 of the 2"):
        prune_modes(layer, 0.9, scope="layer")
    assert len(layer.modes) == 1


# ------------------------------------------------------------------ criteria
def test_magnitude_keeps_largest_counting_the_pair() -> None:
    modes = ModeSet.box(8)  # k = 0..4
    # |W|^2: 1.5, 1.0, 4.0, 0.25, 9.0; scores m_k |W|^2: 1.5, 2.0, 8.0, 0.5, 18.0
    layer = _layer_with([1.5**0.5, 1.0, 2j, 0.5, 3.0], modes)
    assert magnitude(layer, [layer])[0].tolist() == pytest.approx([1.5, 2.0, 8.0, 0.5, 18.0])
    prune_modes(layer, 0.4)  # removes 2: k = 3 (0.5) and k = 0 (1.5, although |W_0| > |W_1|)
    assert layer.modes.indices.flatten().tolist() == [1, 2, 4]


def test_ties_remove_high_frequencies_first() -> None:
    layer = SparseSpectralConv(2, 2, ModeSet.box((6, 6)), bias=False)
    with torch.no_grad():
        layer.weight[:] = 1.0
        layer.weight[0] = 2.0  # k = (0, 0): m_0 = 1, so score 4 * 4 = 16 > 2 * 4 = 8 of the others
    norm2 = (layer.modes.indices**2).sum(1)
    prune_modes(layer, 0.5, scope="layer")
    kept = (layer.modes.indices**2).sum(1)
    assert int(kept.max()) <= int(norm2.sort().values[len(kept) - 1])


def test_global_scope_normalizes_scale_per_layer() -> None:
    model = _model(depth=2)
    with torch.no_grad():
        model.spectral[1].weight.copy_(100 * model.spectral[0].weight)
    prune_modes(model, 0.4, scope="global")  # 12 of 30; normalized scores are identical
    assert [len(layer.modes) for layer in model.spectral] == [9, 9]
    assert torch.equal(model.spectral[0].modes.indices, model.spectral[1].modes.indices)


def test_taylor_is_the_exact_change_of_a_linear_loss() -> None:
    torch.manual_seed(1)
    layer = SparseSpectralConv(2, 3, ModeSet.radial(2.5, ndim=2), bias=False).double()
    x = torch.randn(4, 2, 10, 9, dtype=torch.float64)
    target = torch.randn(4, 3, 10, 9, dtype=torch.float64)

    def loss(y: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return (y * t).sum()

    score = taylor(layer, [layer], [(x, target)], loss)[0]
    with torch.no_grad():
        full = loss(layer(x), target)
        exact = []
        for k in range(len(layer.modes)):
            w = layer.weight.clone()
            layer.weight[k] = 0
            exact.append(abs(float(full - loss(layer(x), target))))
            layer.weight.copy_(w)
    assert_close(score, torch.tensor(exact, dtype=torch.float64), what="taylor vs exact loss change")


@pytest.mark.parametrize(
    ("modes", "grid", "mixing"),
    [
        (ModeSet.radial(2.5, ndim=2), (12, 11), "dense"),
        (ModeSet.box(7), (13,), "dense"),
        (ModeSet.box((3, 4, 4)), (7, 6, 9), "dense"),
        (ModeSet.radial(2, ndim=2), (9, 10), "diagonal"),
    ],
)
def test_energy_is_the_output_energy_a_mode_carries(modes: ModeSet, grid: tuple[int, ...], mixing: str) -> None:
    torch.manual_seed(2)
    channels_out = 2 if mixing == "diagonal" else 3
    layer = SparseSpectralConv(2, channels_out, modes, mixing=mixing).double()
    batches = [torch.randn(3, 2, *grid, dtype=torch.float64), torch.randn(2, 2, *grid, dtype=torch.float64)]
    score = energy(layer, [layer], batches)[0]
    exact = torch.zeros(len(layer.modes), dtype=torch.float64)
    with torch.no_grad():
        for x in batches:
            full = layer(x)
            for k in range(len(layer.modes)):
                w = layer.weight.clone()
                layer.weight[k] = 0
                exact[k] += ((full - layer(x)) ** 2).mean(dim=tuple(range(2, x.ndim))).sum()
                layer.weight.copy_(w)
    assert_close(score, exact / 5, what="energy vs removed output energy")


def test_energy_and_taylor_take_targets_and_keep_training_flag() -> None:
    model = _model()
    model.train()
    x, y = make_shapes(8, 16, seed=0)
    scores = CRITERIA["taylor"](model, list(model.spectral), [(x, y)], nn.functional.cross_entropy)
    assert all(s.shape == (15,) and bool((s >= 0).all()) for s in scores)
    assert model.training


# ------------------------------------------------------------------ schedules
def test_schedules_give_documented_targets() -> None:
    assert one_shot(0.6).targets() == [0.6] and one_shot(0.6).step_amounts() == pytest.approx([0.6])
    it = iterative(0.936, 3)  # (1 - 0.936) = 0.4^3: every step keeps 40%
    assert it.step_amounts() == pytest.approx([0.6, 0.6, 0.6])
    assert it.targets() == pytest.approx([0.6, 0.84, 0.936])
    gr = gradual(0.9, 4)
    assert gr.targets() == pytest.approx([0.9 * (1 - (1 - t / 4) ** 3) for t in range(1, 5)])
    assert gr.targets()[-1] == 0.9 and gr.targets() == sorted(gr.targets())
    for sched in (it, gr, get_schedule("gradual", 0.5, 7)):
        kept = math.prod(1 - a for a in sched.step_amounts())
        assert kept == pytest.approx(1 - sched.amount)
    assert len(get_schedule("one-shot", 0.3, 5)) == 1


def test_schedule_errors() -> None:
    with pytest.raises(ValueError, match="unknown schedule 'cosine'; valid schedules: one_shot, iterative, gradual"):
        get_schedule("cosine", 0.5)
    with pytest.raises(ValueError, match="n_steps must be a positive int"):
        iterative(0.5, 0)
    with pytest.raises(ValueError, match=r"amount must be in \[0, 1\)"):
        gradual(1.0, 3)


@pytest.mark.parametrize(("scope", "schedule"), [("global", "gradual"), ("layer", "iterative")])
def test_prune_and_fine_tune_follows_the_schedule(scope: str, schedule: str) -> None:
    model = _model(depth=2)
    sched = get_schedule(schedule, 0.7, 3)
    info = prune_and_fine_tune(model, 0.7, sched, scope=scope, fine_tune_epochs=0)
    after = [s["modes_after"] for s in info["steps"]]
    if scope == "global":
        assert after == [30 - math.floor(s * 30 + 0.5) for s in sched.targets()]
    else:
        assert after == [2 * (15 - math.floor(s * 15 + 0.5)) for s in sched.targets()]
    assert info["modes_after"] == after[-1] == (30 - 21 if scope == "global" else 2 * (15 - 11))


def test_prune_and_fine_tune_trains_only_kept_modes() -> None:
    model = _model(depth=2)
    x, y = make_shapes(32, 16, seed=0)
    info = prune_and_fine_tune(
        model, 0.5, "iterative", (x, y), steps=2, criterion="taylor", fine_tune_epochs=1, batch_size=16
    )
    assert [len(s["layers"]) for s in info["steps"]] == [2, 2]
    assert all(math.isfinite(s["fine_tune_loss"]) for s in info["steps"])
    assert sum(len(layer.modes) for layer in model.spectral) == 15
    before = copy.deepcopy(model)
    fine_tune(model, x, y, 1, batch_size=16)
    assert [len(a.modes) for a in model.spectral] == [len(b.modes) for b in before.spectral]
    assert not torch.equal(model.spectral[0].weight, before.spectral[0].weight)


# ------------------------------------------------------------------ report
def test_report_counts_match_hand_computation() -> None:
    modes = ModeSet.from_indices(torch.tensor([[0, 0], [1, 0], [0, 1], [-1, 1], [2, 1]]))
    layer = SparseSpectralConv(2, 3, modes)
    # U = 2 last-axis values, A_0 = 4 values of k_0, P_1 = 2 suffixes; grid 8 x 6, C + O = 5
    assert layer_flops(layer, (8, 6)) == 4 * 2 * 5 * 48 + 8 * 4 * 2 * 5 * 8 + 8 * 5 * 2 * 3
    # grid (3, 6) does not resolve k_0 = 2 (2|k_0| > 3): 4 modes, A_0 = 3; grid (4, 6) does (Nyquist)
    assert layer_flops(layer, (3, 6)) == 4 * 2 * 5 * 18 + 8 * 3 * 2 * 5 * 3 + 8 * 4 * 2 * 3
    assert layer_flops(layer, (4, 6)) == 4 * 2 * 5 * 24 + 8 * 4 * 2 * 5 * 4 + 8 * 5 * 2 * 3
    diag = SparseSpectralConv(3, 3, ModeSet.box(5), mixing="diagonal")  # 1-D, K = 3
    assert layer_flops(diag, 16) == 4 * 3 * 6 * 16 + 8 * 3 * 3
    report = sparsity_report(layer, (8, 6))
    assert report.rows == [
        {
            "name": "",
            "modes_kept": 5,
            "modes_total": 5,
            "kept_fraction": 1.0,
            "parameters": 5 * 2 * 3 * 2 + 3,
            "flops": 4720,
        }
    ]


def test_report_of_a_pruned_model() -> None:
    model = _model(depth=2)
    reference = copy.deepcopy(model)
    prune_modes(model, 0.5, scope="layer")  # 15 -> 7 per layer
    report = sparsity_report(model, 16)
    assert [r["modes_kept"] for r in report.rows] == [7, 7]
    assert [r["modes_total"] for r in report.rows] == [15, 15]
    assert [r["parameters"] for r in report.rows] == [7 * 4 * 4 * 2 + 4] * 2
    t = report.totals
    assert t["modes_kept"] == 14 and t["modes_total"] == 30 and t["kept_fraction"] == pytest.approx(14 / 30)
    assert t["parameters"] == count_parameters(model) and t["spectral_parameters"] == 2 * (7 * 32 + 4)
    assert t["flops"] == sum(layer_flops(layer, (16, 16)) for layer in model.spectral)
    assert t["flops"] < sparsity_report(reference, 16).totals["flops"]
    assert sparsity_report(model, original=reference).totals["modes_total"] == 30
    assert sparsity_report(model, original={"spectral.0": 20, "spectral.1": 15}).rows[0]["modes_total"] == 20
    assert sparsity_report(model).totals["flops"] is None
    text = str(report)
    assert "spectral.1" in text and "total" in text and "14" in text
    csv_lines = report.to_csv().strip().splitlines()
    assert csv_lines[0].startswith("name,modes_kept") and csv_lines[-1].startswith("total,14,30")
    assert len(csv_lines) == 4


# ------------------------------------------------------------------ errors
def test_bad_arguments_raise_clear_errors() -> None:
    model = _model(depth=1)
    for amount in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"amount must be in \[0, 1\)"):
            prune_modes(model, amount)
    with pytest.raises(TypeError, match="amount must be a number"):
        prune_modes(model, "0.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown criterion 'l1'; valid criteria: energy, magnitude, taylor"):
        prune_modes(model, 0.5, "l1")
    with pytest.raises(ValueError, match="unknown scope 'block'; valid scopes: global, layer"):
        prune_modes(model, 0.5, scope="block")
    with pytest.raises(ValueError, match="Linear has no SparseSpectralConv layers"):
        prune_modes(nn.Linear(2, 2), 0.5)
    with pytest.raises(ValueError, match="criterion 'energy' needs data"):
        prune_modes(model, 0.5, "energy")
    with pytest.raises(ValueError, match="criterion 'taylor' needs loss_fn"):
        prune_modes(model, 0.5, "taylor", data=[torch.randn(2, 1, 8, 8)])
    with pytest.raises(TypeError, match="data must be an iterable of batches"):
        prune_modes(model, 0.5, "energy", data=torch.randn(2, 1, 8, 8))
    with pytest.raises(ValueError, match="got data with no batches"):
        prune_modes(model, 0.5, "energy", data=[])
    with pytest.raises(ValueError, match="differs from amount"):
        prune_and_fine_tune(model, 0.5, iterative(0.6, 2), fine_tune_epochs=0)
    with pytest.raises(ValueError, match="needed for fine-tuning"):
        prune_and_fine_tune(model, 0.5)
    with pytest.raises(ValueError, match="has no SparseSpectralConv layers to report on"):
        sparsity_report(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="has 1 axes but the layer's modes are 2-D"):
        sparsity_report(model, (8,))
    assert sum(len(layer.modes) for layer in model.spectral) == 15  # nothing was pruned by a failed call


def test_all_zero_layer_compacts_to_no_modes_and_prunes_cleanly() -> None:
    dead = SparseSpectralConv(2, 3, (4, 4))
    with torch.no_grad():
        dead.weight.zero_()
    assert len(dead.compact().modes) == 0
    assert dead(torch.randn(1, 2, 8, 8)).shape == (1, 3, 8, 8)  # bias only

    model = torch.nn.Sequential(SparseSpectralConv(2, 2, (4, 4)), SparseSpectralConv(2, 2, (4, 4)))
    n = len(model[0].modes)
    with torch.no_grad():
        model[0].weight[: n // 2] = 0  # half of the first layer already dead (as after sparse training)
    info = prune_modes(model, 0.5, scope="layer")
    # the dead modes are dropped first and do not count as kept: half of the live ones go
    assert len(model[0].modes) == (n - n // 2) - round(0.5 * (n - n // 2) + 1e-9)
    assert info["layers"][1]["modes_after"] == n - round(0.5 * n + 1e-9)


def test_distillation_loss_matches_its_formula_and_trains_towards_the_teacher() -> None:
    import torch.nn.functional as F

    from spectral_sparse.models import SpectralClassifier
    from spectral_sparse.prune import distillation_loss
    from spectral_sparse.training import train_classifier

    torch.manual_seed(0)
    teacher = SpectralClassifier(1, 4, width=4, modes=2, depth=1)
    x, y = torch.randn(6, 1, 12, 12), torch.randint(0, 4, (6,))
    logits = torch.randn(6, 4)
    t, a = 3.0, 0.25
    with torch.no_grad():
        p_teacher = F.softmax(teacher(x) / t, dim=1)
    kl = (p_teacher * (p_teacher.log() - F.log_softmax(logits / t, dim=1))).sum(1).mean()
    expected = a * t * t * kl + (1 - a) * F.cross_entropy(logits, y)
    torch.testing.assert_close(distillation_loss(teacher, t, a)(logits, y, x), expected)
    torch.testing.assert_close(distillation_loss(teacher, t, 0.0)(logits, y, x), F.cross_entropy(logits, y))

    # through train_classifier: a student trained on the KL term alone moves towards the teacher
    student = SpectralClassifier(1, 4, width=4, modes=2, depth=1)
    images, labels = torch.randn(32, 1, 12, 12), torch.randint(0, 4, (32,))
    kd = distillation_loss(teacher, 1.0, 1.0)
    with torch.no_grad():
        before = float(kd(student(images), labels, images))
    calls = []

    def counted(logits: torch.Tensor, labels: torch.Tensor, inputs: torch.Tensor) -> torch.Tensor:
        calls.append(inputs.shape)
        return kd(logits, labels, inputs)

    train_classifier(student, images, labels, epochs=3, batch_size=8, lr=1e-2, loss_fn=counted, progress=False)
    assert len(calls) == 12 and calls[0] == (8, 1, 12, 12)
    with torch.no_grad():
        assert float(kd(student(images), labels, images)) < before
    with pytest.raises(TypeError, match="loss_fn must be callable"):
        train_classifier(student, images, labels, epochs=1, loss_fn=3, progress=False)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"teacher": "model"}, TypeError, "teacher must be an nn.Module"),
        ({"temperature": 0.0}, ValueError, "temperature must be > 0"),
        ({"alpha": 1.5}, ValueError, r"alpha must be in \[0, 1\]"),
    ],
)
def test_distillation_loss_errors(kwargs: dict, error: type, match: str) -> None:
    from spectral_sparse.models import SpectralClassifier
    from spectral_sparse.prune import distillation_loss

    args = {"teacher": SpectralClassifier(1, 2, width=2, modes=1, depth=1), **kwargs}
    with pytest.raises(error, match=match):
        distillation_loss(**args)
