"""Bregman optimizers, proximal SGD, sparse initialisation and the sparsity controller."""

from __future__ import annotations

import io
import itertools
import math

import pytest
import torch
from torch import nn

import spectral_sparse as ss
from spectral_sparse import optim
from spectral_sparse.testing import assert_close

REGS = ["l1", "mode", "channel", "nuclear"]


def _teacher_problem(noise: float = 0.05, decoupled_support: bool = False, batch: int = 32):
    """A student ``SparseSpectralConv`` (2 -> 2 channels, 37 modes) and data from a teacher layer.

    The teacher's mode weights decay like ``1 / (1 + |k|^2)``; with ``decoupled_support``
    only a quarter of its modes are nonzero and there is no noise.
    """
    torch.manual_seed(0)
    modes = ss.ModeSet.box((8, 8))
    teacher = ss.SparseSpectralConv(2, 2, modes, bias=False)
    with torch.no_grad():
        if decoupled_support:
            keep = torch.zeros(len(modes), dtype=torch.bool)
            keep[torch.randperm(len(modes))[: len(modes) // 4]] = True
            teacher.weight[~keep] = 0
        else:
            teacher.weight *= (1.0 / (1.0 + modes.indices.float().square().sum(1)))[:, None, None]
    x = torch.randn(batch, 2, 16, 16)
    y = (teacher(x) + noise * torch.randn(batch, 2, 16, 16)).detach()
    torch.manual_seed(1)
    student = ss.SparseSpectralConv(2, 2, modes, bias=False)

    def loss_fn() -> torch.Tensor:
        return (student(x) - y).square().mean() / y.square().mean()

    return student, loss_fn, teacher


def _steps(opt: torch.optim.Optimizer, loss_fn, n: int, after=None) -> list[float]:
    losses = []
    for _ in range(n):
        opt.zero_grad()
        loss = loss_fn()
        loss.backward()
        opt.step()
        if after is not None:
            after()
        losses.append(float(loss.detach()))
    return losses


# ---------------------------------------------------------------------------------- fixed points, descent
@pytest.mark.parametrize("cls", [optim.LinBreg, optim.AdaBreg])
@pytest.mark.parametrize("reg", REGS)
@pytest.mark.parametrize("delta", [1.0, 0.3])
def test_zero_gradient_step_is_a_fixed_point(cls, reg: str, delta: float) -> None:
    g = torch.Generator().manual_seed(0)
    p = nn.Parameter(torch.randn(5, 3, 4, dtype=torch.cfloat, generator=g))
    with torch.no_grad():
        p[1] = 0  # a zero mode
        p[3, 0, :] = 0  # zero entries inside a mode
    before = p.detach().clone()
    opt = cls([p], lr=0.1, reg=reg, lam=0.5, delta=delta)
    for _ in range(3):
        p.grad = torch.zeros_like(p)
        opt.step()
    assert_close(p.detach(), before, what=f"{cls.__name__}/{reg}")
    assert bool((p[1] == 0).all())


def test_proxsgd_zero_gradient_step_is_the_prox() -> None:
    p = nn.Parameter(torch.tensor([1.0 + 1.0j, 0.1j, -2.0]))
    opt = optim.ProxSGD([p], lr=0.5, reg="l1", lam=0.4)
    p.grad = torch.zeros_like(p)
    opt.step()
    assert_close(p.detach(), optim.L1(0.4).prox(torch.tensor([1.0 + 1.0j, 0.1j, -2.0]), 0.5))
    assert p[1].item() == 0


@pytest.mark.parametrize("dtype", [torch.float32, torch.cfloat])
@pytest.mark.parametrize(
    ("cls", "kwargs"),
    [
        (optim.LinBreg, {"lr": 0.1}),
        (optim.LinBreg, {"lr": 0.05, "momentum": 0.5, "delta": 2.0}),
        (optim.AdaBreg, {"lr": 0.05}),
        (optim.ProxSGD, {"lr": 0.1}),
        (optim.ProxSGD, {"lr": 0.05, "momentum": 0.5}),
    ],
)
def test_optimizers_decrease_a_quadratic(cls, kwargs, dtype: torch.dtype) -> None:
    """Also checks the complex sign convention: with PyTorch's gradient the loss goes down."""
    g = torch.Generator().manual_seed(1)
    a = torch.randn(12, 6, dtype=dtype, generator=g) / 3
    b = torch.randn(12, dtype=dtype, generator=g)
    p = nn.Parameter(torch.zeros(6, dtype=dtype))

    def loss_fn() -> torch.Tensor:
        return (a @ p - b).abs().square().sum()

    opt = cls([p], reg="l1", lam=1e-3, **kwargs)
    first = float(loss_fn().detach())
    losses = _steps(opt, loss_fn, 60)
    assert losses[-1] < 0.6 * first
    # one tiny step from a random point decreases the loss
    with torch.no_grad():
        p.copy_(torch.randn(6, dtype=dtype, generator=g))
    opt2 = cls([p], reg=None, **{**kwargs, "lr": 1e-3})
    before = float(loss_fn().detach())
    _steps(opt2, loss_fn, 1)
    assert float(loss_fn().detach()) < before


def test_unregularized_groups_match_torch_optimizers() -> None:
    """``reg=None``: LinBreg is SGD with lr*delta, ProxSGD is SGD, AdaBreg (delta=1) is Adam."""
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(8, 5, generator=g), torch.randn(8, generator=g)
    init = torch.randn(5, generator=g)
    pairs = [
        (lambda q: optim.LinBreg([q], lr=0.05, delta=2.0, momentum=0.5), lambda q: torch.optim.SGD([q], 0.1, 0.5)),
        (lambda q: optim.ProxSGD([q], lr=0.1, momentum=0.3), lambda q: torch.optim.SGD([q], lr=0.1, momentum=0.3)),
        (lambda q: optim.AdaBreg([q], lr=0.05), lambda q: torch.optim.Adam([q], lr=0.05)),
    ]
    for ours, theirs in pairs:
        p, q = nn.Parameter(init.clone()), nn.Parameter(init.clone())
        opt_p, opt_q = ours(p), theirs(q)
        _steps(opt_p, lambda p=p: (a @ p - b).square().sum(), 10)
        _steps(opt_q, lambda q=q: (a @ q - b).square().sum(), 10)
        assert_close(p.detach(), q.detach(), what=type(opt_p).__name__)


# ---------------------------------------------------------------------------------- inverse scale space
def test_linbreg_large_lam_stays_sparse_and_modes_grow_as_lam_decreases() -> None:
    student, loss_fn, teacher = _teacher_problem(noise=0.0, decoupled_support=True)
    optim.sparse_init(student, density=0.0)
    opt = optim.LinBreg(student.parameters(), lr=0.1, reg="mode", lam=100.0)
    _steps(opt, loss_fn, 30)
    assert bool((student.weight == 0).all())  # exactly zero, not merely small
    sparsity = [optim.mode_sparsity(student)]
    for lam in (0.5, 0.05, 0.005):
        opt.param_groups[0]["lam"] = lam
        _steps(opt, loss_fn, 40)
        sparsity.append(optim.mode_sparsity(student))
    assert sparsity[0] == 1.0 and sparsity[-1] < 1.0
    assert all(s1 <= s0 for s0, s1 in itertools.pairwise(sparsity)), sparsity
    # the modes switched on are the teacher's: the others get no gradient and stay exactly zero
    on = (student.weight != 0).reshape(len(student.modes), -1).any(1)
    teacher_on = (teacher.weight != 0).reshape(len(teacher.modes), -1).any(1)
    assert bool((on <= teacher_on).all()) and int(on.sum()) >= 3


def test_sparse_init_then_linbreg_keeps_unused_modes_at_zero() -> None:
    model = ss.models.SpectralClassifier(1, 3, width=4, modes=3, depth=2)
    kept = optim.sparse_init(model, density=0.3, seed=5)
    assert set(kept) == {name for name, _ in optim.spectral_layers(model)}
    before = optim.layer_mode_sparsity(model)
    for name, layer in optim.spectral_layers(model):
        k = len(layer.modes)
        n_keep = math.floor(0.3 * k + 0.5)  # rounded half up
        assert int(kept[name].sum()) == n_keep
        assert before[name] == pytest.approx(1 - n_keep / k)
    opt = optim.LinBreg(optim.spectral_groups(model, "mode", lam=1e3), lr=0.01)
    x = torch.randn(4, 1, 12, 12)
    _steps(opt, lambda: model(x).square().mean(), 3)
    assert optim.layer_mode_sparsity(model) == before  # the kept modes move, the zero ones stay
    # the draw is reproducible
    again = ss.models.SpectralClassifier(1, 3, width=4, modes=3, depth=2)
    assert all(torch.equal(kept[n], m) for n, m in optim.sparse_init(again, 0.3, seed=5).items())
    full = optim.sparse_init(again, 1.0, seed=0)
    assert all(bool(m.all()) for m in full.values())
    optim.sparse_init(again, 0.0)
    assert optim.mode_sparsity(again) == 1.0


# ---------------------------------------------------------------------------------- state dict
@pytest.mark.parametrize(
    ("name", "kwargs"),
    [("linbreg", {"momentum": 0.9}), ("adabreg", {}), ("proxsgd", {"momentum": 0.5})],
)
def test_state_dict_round_trip_resumes_identically(name: str, kwargs) -> None:
    student, loss_fn, _ = _teacher_problem(batch=4)
    optim.sparse_init(student, 0.2)
    lr = 0.01 if name == "adabreg" else 0.1
    opt = optim.make_optimizer(name, student, lr=lr, lam=0.05, reg="mode", **kwargs)
    _steps(opt, loss_fn, 5)
    buf = io.BytesIO()
    torch.save({"model": student.state_dict(), "opt": opt.state_dict()}, buf)
    buf.seek(0)
    saved = torch.load(buf, weights_only=True)  # plain data only: the regularizer is a config dict
    assert saved["opt"]["param_groups"][0]["reg"] == {"name": "mode", "lam": 0.05, "weighted": True}

    resumed, loss_fn2, _ = _teacher_problem(batch=4)
    resumed.load_state_dict(saved["model"])
    opt2 = optim.make_optimizer(name, resumed, lr=0.5, lam=1.0, reg="l1", **kwargs)  # overwritten by the load
    opt2.load_state_dict(saved["opt"])
    assert opt2.param_groups[0]["reg"] == optim.ModeGroupL1L2(0.05) and opt2.param_groups[0]["lr"] == lr
    _steps(opt, loss_fn, 4)
    _steps(opt2, loss_fn2, 4)
    assert torch.equal(student.weight, resumed.weight)


# ---------------------------------------------------------------------------------- groups and factory
def test_spectral_groups_and_factory() -> None:
    model = ss.models.SpectralClassifier(1, 3, width=4, modes=2, depth=2)
    groups = optim.spectral_groups(model, "nuclear", lam=0.1, lr=0.2)
    spectral = {id(layer.weight) for _, layer in optim.spectral_layers(model)}
    assert {id(p) for p in groups[0]["params"]} == spectral
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in model.parameters()}
    assert groups[1]["reg"] is None and groups[0]["lr"] == 0.2
    opt = optim.LinBreg(groups, lr=0.01)
    assert isinstance(opt.param_groups[1]["reg"], optim.Null) and opt.param_groups[0]["lr"] == 0.2
    expected = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD, "linbreg": optim.LinBreg}
    expected.update({"adabreg": optim.AdaBreg, "proxsgd": optim.ProxSGD})
    for name, cls in expected.items():
        assert type(optim.make_optimizer(name, model, lr=0.01, lam=0.1)) is cls
    # each group keeps its own regularizer copy; lam in the group is the one used
    reg = optim.L1(0.3)
    opt = optim.ProxSGD([{"params": [nn.Parameter(torch.ones(2))]}, {"params": [nn.Parameter(torch.ones(2))]}], reg=reg)
    assert opt.param_groups[0]["reg"] is not reg and opt.param_groups[0]["lam"] == 0.3
    opt.param_groups[1]["lam"] = 0.9
    for group in opt.param_groups:
        group["params"][0].grad = torch.zeros(2)
    opt.step()
    assert opt.param_groups[0]["params"][0].tolist() == pytest.approx([0.997, 0.997])
    assert opt.param_groups[1]["params"][0].tolist() == pytest.approx([0.991, 0.991])


def test_mode_sparsity_per_layer_and_global() -> None:
    a = ss.SparseSpectralConv(1, 2, ss.ModeSet.box((4, 4)))  # 11 modes
    b = ss.SparseSpectralConv(2, 2, ss.ModeSet.box((2, 2)), mixing="diagonal")  # 4 modes
    with torch.no_grad():
        a.weight[:5] = 0
        a.weight[5, 0, 0] = 0  # one zero entry does not make a zero mode
        b.weight[0] = 0
    model = nn.Sequential(a, nn.GELU(), b)
    assert optim.layer_mode_sparsity(model) == {"0": 5 / 11, "2": 1 / 4}
    assert optim.mode_sparsity(model) == pytest.approx(6 / 15)


# ---------------------------------------------------------------------------------- controller
@pytest.mark.parametrize("target", [0.3, 0.6, 0.8])
def test_controller_steers_linbreg_to_the_target(target: float) -> None:
    """300 LinBreg steps from a 10% dense start; over the last 100 the sparsity stays within 0.1 of the target.

    Measured: mean within 0.03 and worst step within 0.05 of the target for all three targets.
    """
    student, loss_fn, _ = _teacher_problem()
    optim.sparse_init(student, 0.1, seed=0)
    opt = optim.LinBreg(student.parameters(), lr=0.1, reg="mode", lam=0.01)
    ctl = optim.SparsityController(opt, target)
    history = []
    _steps(opt, loss_fn, 300, after=lambda: history.append(ctl.step()))
    last = torch.tensor(history[-100:])
    assert abs(float(last.mean()) - target) < 0.05
    assert float((last - target).abs().max()) <= 0.1
    assert history[-1] == pytest.approx(optim.mode_sparsity(student))
    assert len(ctl.history) == 300 and ctl.history[-1][2] == opt.param_groups[0]["lam"]


def test_controller_direction_interval_and_state() -> None:
    p = nn.Parameter(torch.randn(10, 2))
    opt = optim.ProxSGD([p], lr=0.1, reg="mode", lam=0.1)
    ctl = optim.SparsityController(opt, target=0.5, interval=3, lam_max=0.2)
    assert [ctl.step() for _ in range(3)] == [None, None, 0.0]
    assert opt.param_groups[0]["lam"] == pytest.approx(0.1 * torch.e**0.1)  # dense: lam goes up
    with torch.no_grad():
        p[:8] = 0
    for _ in range(30):
        ctl.step()
    assert opt.param_groups[0]["lam"] < 0.1  # too sparse: lam comes down
    state = ctl.state_dict()
    other = optim.SparsityController(opt, target=0.5, interval=3)
    other.load_state_dict(state)
    assert other.base == ctl.base and other.calls == ctl.calls
    for _ in range(100):
        ctl.step()
    assert opt.param_groups[0]["lam"] >= 1e-8  # clipped at lam_min


# ---------------------------------------------------------------------------------- errors
def test_bad_arguments_raise_clear_errors() -> None:
    p = [nn.Parameter(torch.ones(3))]
    with pytest.raises(ValueError, match=r"lr must be in \[0.0, inf\)"):
        optim.LinBreg(p, lr=-0.1)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        optim.LinBreg(p, lr=0.1, reg="l1", lam=-1.0)
    with pytest.raises(ValueError, match=r"delta must be in \(0.0, inf\)"):
        optim.AdaBreg(p, lr=0.1, delta=0.0)
    with pytest.raises(ValueError, match=r"momentum must be in \[0.0, 1.0\)"):
        optim.ProxSGD(p, lr=0.1, momentum=1.0)
    with pytest.raises(ValueError, match=r"betas\[1\] must be in"):
        optim.AdaBreg(p, betas=(0.9, 1.5))
    with pytest.raises(ValueError, match="betas must be a pair"):
        optim.AdaBreg(p, betas=0.9)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"eps must be in \(0.0, inf\)"):
        optim.AdaBreg(p, eps=0.0)
    with pytest.raises(ValueError, match="unknown regularizer 'lasso'"):
        optim.LinBreg(p, reg="lasso")
    opt = optim.LinBreg(p, reg="l1", lam=0.1)
    opt.param_groups[0]["lam"] = -1.0
    p[0].grad = torch.ones(3)
    with pytest.raises(ValueError, match=r"lam must be in \[0.0, inf\), got -1.0"):
        opt.step()

    plain = nn.Sequential(nn.Conv2d(1, 2, 3), nn.ReLU())
    for fn in (
        lambda: optim.spectral_groups(plain, "l1", 0.1),
        lambda: optim.sparse_init(plain, 0.5),
        lambda: optim.mode_sparsity(plain),
        lambda: optim.make_optimizer("linbreg", plain, lr=0.1, lam=0.1),
    ):
        with pytest.raises(ValueError, match="Sequential has no SparseSpectralConv layer"):
            fn()
    layer = ss.SparseSpectralConv(1, 1, (4, 4))
    with pytest.raises(ValueError, match="unknown optimizer 'rmsprop'"):
        optim.make_optimizer("rmsprop", layer, lr=0.1)
    with pytest.raises(ValueError, match=r"density must be a number in \[0, 1\]"):
        optim.sparse_init(layer, 1.5)
    with pytest.raises(TypeError, match=r"model must be an nn\.Module"):
        optim.mode_sparsity("model")  # type: ignore[arg-type]

    reg_opt = optim.LinBreg(layer.parameters(), reg="mode", lam=0.1)
    for target in (1.0, -0.1, float("nan")):
        with pytest.raises(ValueError, match=r"target sparsity must be a number in \[0, 1\)"):
            optim.SparsityController(reg_opt, target)
    with pytest.raises(ValueError, match="no regularized param group"):
        optim.SparsityController(optim.LinBreg(layer.parameters()), 0.5)
    with pytest.raises(ValueError, match="multiplicative rule needs lam > 0"):
        optim.SparsityController(optim.LinBreg(layer.parameters(), reg="mode", lam=0.0), 0.5)
    with pytest.raises(ValueError, match="interval must be a positive int"):
        optim.SparsityController(reg_opt, 0.5, interval=0)
    with pytest.raises(TypeError, match=r"optimizer must be a torch\.optim\.Optimizer"):
        optim.SparsityController("adam", 0.5)  # type: ignore[arg-type]
