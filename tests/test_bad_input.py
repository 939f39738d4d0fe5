"""Bad input over the whole public API: one table, each case a clear exception or a documented result.

Every row names the call, and either the exception type and a regular expression its
message must match (the message must name the problem), or a check of the documented
result. Rows that currently fail silently or unclearly are marked ``xfail(strict=True)``
with the file where the fix belongs (none at present); the summary is in ``docs/guides/errors.md``.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import torch

import spectral_sparse as ss
from spectral_sparse import attacks, models, prune
from spectral_sparse.backends import BackendUnavailableError
from spectral_sparse.checkpoint import load_checkpoint, save_checkpoint
from spectral_sparse.functional import sparse_spectral_conv
from spectral_sparse.testing import assert_close
from tests._literal import literal_conv

M = ss.ModeSet.box((3, 3))


def _w(k: int = len(M), c: int = 2, o: int = 3) -> torch.Tensor:
    return torch.randn(k, c, o, dtype=torch.cfloat, generator=torch.Generator().manual_seed(1))


def _x(*shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(2)).to(dtype)


def _fn(x: torch.Tensor, weight: torch.Tensor | None = None, modes: Any = M, **kw: Any) -> torch.Tensor:
    return sparse_spectral_conv(x, _w() if weight is None else weight, modes, **kw)


def _layer(**kw: Any) -> ss.SparseSpectralConv:
    torch.manual_seed(0)
    return ss.SparseSpectralConv(2, 3, (3, 3), **kw)


def _clf(classes: int = 3) -> models.SpectralClassifier:
    torch.manual_seed(0)
    return models.SpectralClassifier(1, classes, width=4, modes=2, depth=1)


def _imgs(b: int = 2, n: int = 16) -> torch.Tensor:
    return torch.rand(b, 1, n, n, generator=torch.Generator().manual_seed(3))


def _physics(kind: str, shape: Any, **kw: Any) -> Any:
    pytest.importorskip("deepinv")
    from spectral_sparse.inverse import make_physics

    return make_physics(kind, shape, **kw)


def _nan_layer() -> ss.SparseSpectralConv:
    layer = _layer()
    with torch.no_grad():
        layer.weight[0, 0, 0] = float("nan")
    return layer


def _nan_model() -> models.SpectralClassifier:
    model = _clf()
    with torch.no_grad():
        model.spectral[0].weight[0] = float("nan")
    return model


def _same_as_contiguous(make: Callable[[torch.Tensor], torch.Tensor], x: torch.Tensor) -> Callable[[], bool]:
    def check() -> bool:
        assert not x.is_contiguous()
        assert_close(make(x), make(x.contiguous()), what="non-contiguous vs contiguous")
        return True

    return check


def _literal_match(x: torch.Tensor, **kw: Any) -> Callable[[], bool]:
    def check() -> bool:
        w = _w()
        assert_close(_fn(x, w, **kw), literal_conv(x, w, M, **kw).float(), torch.float32, "literal")
        return True

    return check


def _memory_limited(code: str) -> str:
    """Run ``code`` in a subprocess limited to 4 GiB of address space; return what it printed."""
    prog = textwrap.dedent(
        f"""
        import resource
        resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))
        try:
            {code}
            print("no error")
        except Exception as err:
            print(type(err).__name__ + ": " + str(err))
        """
    )
    run = subprocess.run([sys.executable, "-c", prog], capture_output=True, text=True, timeout=120)
    return (run.stdout + run.stderr).strip().splitlines()[-1] if (run.stdout + run.stderr).strip() else ""


# ----------------------------------------------------------------------------- checkpoints


@pytest.fixture(scope="module")
def ckpt_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("ckpt")
    good = save_checkpoint(d / "good.pt", _clf())
    (d / "truncated.pt").write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    (d / "empty.pt").write_bytes(b"")
    (d / "notes.pt").write_text("not a checkpoint\n")
    (d / "random.pt").write_bytes(bytes(range(256)) * 4)
    torch.save(_clf().state_dict(), d / "state.pt")
    torch.save({"format": "spectral_sparse.checkpoint", "obj": zipfile.ZipInfo("x")}, d / "object.pt")
    blob = torch.load(good, weights_only=True)
    torch.save({**blob, "format_version": 99}, d / "future.pt")
    torch.save({**blob, "model": "ResNet"}, d / "kind.pt")
    blob["state_dict"] = {k: v[:1] for k, v in blob["state_dict"].items()}
    torch.save(blob, d / "wrong.pt")
    (d / "folder.pt").mkdir()
    return d


def _load(name: str) -> Callable[[Path], Any]:
    return lambda d: load_checkpoint(d / name)


# ----------------------------------------------------------------------------- the table


@dataclass(frozen=True)
class Case:
    """One bad input: ``call()`` raises ``error`` matching ``match``, or returns a truthy ``check`` result."""

    name: str
    call: Callable[..., Any]
    error: type[BaseException] | None = None
    match: str = ""
    check: Callable[[Any], bool] | None = None
    needs_dir: bool = False


def raises(name: str, call: Callable[..., Any], error: type[BaseException], match: str, **kw: Any) -> Case:
    return Case(name, call, error, match, **kw)


def result(name: str, call: Callable[..., Any], check: Callable[[Any], bool]) -> Case:
    return Case(name, call, check=check)


def xfail(case: Case, reason: str) -> Any:
    return pytest.param(case, id=case.name, marks=pytest.mark.xfail(strict=True, reason=reason))


NAN, INF = float("nan"), float("inf")
REAL = "real floating-point"
FINITE = "NaN or infinite"

FUNCTIONAL = [
    result("fn/batch-0", lambda: _fn(_x(0, 2, 8, 8)), lambda y: y.shape == (0, 3, 8, 8)),
    result("fn/grid-1x1", _literal_match(_x(2, 2, 1, 1)), bool),
    result("fn/grid-1x8", _literal_match(_x(2, 2, 1, 8)), bool),
    result("fn/grid-7x8-out-1x1", _literal_match(_x(2, 2, 7, 8), output_shape=(1, 1)), bool),
    raises("fn/zero-size-grid-axis", lambda: _fn(_x(1, 2, 0, 8)), ValueError, "empty grid axis"),
    result(
        "fn/zero-channels",
        lambda: _fn(_x(1, 0, 8, 8), torch.zeros(len(M), 0, 3, dtype=torch.cfloat)),
        lambda y: y.shape == (1, 3, 8, 8) and not y.any(),
    ),
    raises("fn/bool-input", lambda: _fn(_x(1, 2, 8, 8) > 0), TypeError, f"{REAL}.*bool"),
    raises("fn/int-input", lambda: _fn(_x(1, 2, 8, 8, dtype=torch.int64)), TypeError, f"{REAL}.*int64"),
    raises("fn/complex-input", lambda: _fn(_x(1, 2, 8, 8, dtype=torch.cfloat)), TypeError, f"{REAL}.*complex64"),
    raises("fn/half-input", lambda: _fn(_x(1, 2, 8, 8, dtype=torch.half)), BackendUnavailableError, "float16.*float32"),
    raises("fn/bfloat16-input", lambda: _fn(_x(1, 2, 8, 8, dtype=torch.bfloat16)), BackendUnavailableError, "bfloat16"),
    raises("fn/real-weight", lambda: _fn(_x(1, 2, 8, 8), _w().real), TypeError, "weight must be a complex"),
    raises("fn/nan-weight", lambda: _fn(_x(1, 2, 8, 8), _w() * NAN), ValueError, FINITE),
    raises("fn/inf-weight", lambda: _fn(_x(1, 2, 8, 8), _w() * INF), ValueError, FINITE),
    raises("fn/nan-bias", lambda: _fn(_x(1, 2, 8, 8), bias=torch.full((3,), NAN)), ValueError, "bias.*NaN"),
    raises("fn/inf-bias", lambda: _fn(_x(1, 2, 8, 8), bias=torch.full((3,), INF)), ValueError, "bias.*infinite"),
    result("fn/nan-input-propagates", lambda: _fn(torch.full((1, 2, 8, 8), NAN)), lambda y: bool(y.isnan().all())),
    raises(
        "fn/bias-shape", lambda: _fn(_x(1, 2, 8, 8), bias=torch.zeros(4)), ValueError, r"bias must have shape \(3,\)"
    ),
    raises("fn/x-rank", lambda: _fn(_x(2, 8, 8)), ValueError, "rank 4.*got rank 3"),
    raises("fn/channel-mismatch", lambda: _fn(_x(1, 5, 8, 8)), ValueError, "5 channels.*expects 2"),
    raises("fn/weight-K-mismatch", lambda: _fn(_x(1, 2, 8, 8), _w(k=3)), ValueError, "K = 5 modes"),
    raises("fn/devices-differ", lambda: _fn(_x(1, 2, 8, 8), _w().to("meta")), ValueError, "meta"),
    raises("fn/output-shape-negative", lambda: _fn(_x(1, 2, 8, 8), output_shape=(-4, 8)), ValueError, ">= 1.*-4"),
    raises("fn/output-shape-zero", lambda: _fn(_x(1, 2, 8, 8), output_shape=(0, 8)), ValueError, ">= 1"),
    raises("fn/output-shape-short", lambda: _fn(_x(1, 2, 8, 8), output_shape=(8,)), ValueError, "needs 2"),
    raises("fn/output-shape-long", lambda: _fn(_x(1, 2, 8, 8), output_shape=(8, 8, 8)), ValueError, "needs 2"),
    raises("fn/output-shape-float", lambda: _fn(_x(1, 2, 8, 8), output_shape=(8.5, 8)), TypeError, "ints"),
    raises("fn/output-shape-str", lambda: _fn(_x(1, 2, 8, 8), output_shape="88"), TypeError, "ints"),
    raises(
        "fn/huge-mode-only",
        lambda: _fn(_x(1, 2, 8, 8), _w(k=1), ss.ModeSet.from_indices([[2**40, 1]])),
        ValueError,
        "resolves none",
    ),
    result(
        "fn/huge-mode-ignored",
        lambda: (
            _fn(_x(1, 2, 8, 8), _w(k=2), ss.ModeSet.from_indices([[1, 1], [2**40, 1]])),
            _fn(_x(1, 2, 8, 8), _w(k=2)[:1], ss.ModeSet.from_indices([[1, 1]])),
        ),
        lambda ys: bool(torch.equal(*ys)),
    ),
    raises(
        "fn/mode-index-overflow",
        lambda: _fn(_x(1, 2, 8, 8), _w(k=1), ss.ModeSet.from_indices([[2**62, 1]])),
        ValueError,
        r"out of range.*below 2\*\*62",
    ),
    result(
        "fn/non-contiguous-input",
        _same_as_contiguous(lambda t: _fn(t), _x(1, 2, 8, 16)[..., ::2]),
        bool,
    ),
    result(
        "fn/channels-last-input",
        _same_as_contiguous(lambda t: _fn(t), _x(2, 2, 8, 8).to(memory_format=torch.channels_last)),
        bool,
    ),
    raises("fn/not-a-tensor", lambda: _fn([[1.0]]), TypeError, "x must be a torch.Tensor, got list"),
]

LAYER = [
    result("layer/batch-0", lambda: _layer()(_x(0, 2, 8, 8)), lambda y: y.shape == (0, 3, 8, 8)),
    result("layer/grid-1", lambda: _layer()(_x(1, 2, 1, 1)), lambda y: y.shape == (1, 3, 1, 1)),
    raises("layer/zero-size-grid-axis", lambda: _layer()(_x(1, 2, 8, 0)), ValueError, "empty grid axis"),
    raises("layer/bool-input", lambda: _layer()(_x(1, 2, 8, 8) > 0), TypeError, f"{REAL}.*bool"),
    raises("layer/int-input", lambda: _layer()(_x(1, 2, 8, 8, dtype=torch.int32)), TypeError, f"{REAL}.*int32"),
    raises("layer/complex-input", lambda: _layer()(_x(1, 2, 8, 8, dtype=torch.cdouble)), TypeError, REAL),
    raises("layer/half-input", lambda: _layer()(_x(1, 2, 8, 8, dtype=torch.half)), BackendUnavailableError, "float16"),
    result(
        "layer/float64-input", lambda: _layer()(_x(1, 2, 8, 8, dtype=torch.double)), lambda y: y.dtype == torch.double
    ),
    raises("layer/nan-weight", lambda: _nan_layer()(_x(1, 2, 8, 8)), ValueError, FINITE),
    raises("layer/output-shape-negative", lambda: _layer()(_x(1, 2, 8, 8), output_shape=(-1, 8)), ValueError, ">= 1"),
    raises("layer/output-shape-long", lambda: _layer()(_x(1, 2, 8, 8), output_shape=(8, 8, 8)), ValueError, "needs 2"),
    raises("layer/channel-mismatch", lambda: _layer()(_x(1, 5, 8, 8)), ValueError, "5 channels"),
    raises("layer/wrong-rank", lambda: _layer()(_x(1, 2, 8)), ValueError, "rank"),
    result("layer/non-contiguous-input", _same_as_contiguous(lambda t: _layer()(t), _x(1, 2, 16, 8)[:, :, ::2]), bool),
    result(
        "layer/channels-last-input",
        _same_as_contiguous(lambda t: _layer()(t), _x(2, 2, 8, 8).to(memory_format=torch.channels_last)),
        bool,
    ),
    raises(
        "layer/huge-mode",
        lambda: ss.SparseSpectralConv(2, 3, ss.ModeSet.from_indices([[2**40, 0]]))(_x(1, 2, 8, 8)),
        ValueError,
        "resolves none",
    ),
    raises("layer/in-channels-0", lambda: ss.SparseSpectralConv(0, 3, (3, 3)), ValueError, "in_channels"),
    raises("layer/n-modes-0", lambda: ss.SparseSpectralConv(2, 3, (0, 3)), ValueError, "n_modes"),
    raises("layer/mixing", lambda: ss.SparseSpectralConv(2, 3, (3, 3), mixing="full"), ValueError, "mixing"),
    raises("layer/diagonal-channels", lambda: ss.SparseSpectralConv(2, 3, 3, mixing="diagonal"), ValueError, "diag"),
    raises("layer/unknown-backend", lambda: _layer(backend="cuda9")(_x(1, 2, 8, 8)), ValueError, "unknown backend"),
]

MODESET = [
    raises("modes/float-indices", lambda: ss.ModeSet.from_indices([[0.5, 1]]), TypeError, "integers"),
    raises(
        "modes/bool-indices", lambda: ss.ModeSet.from_indices(torch.ones(2, 2, dtype=torch.bool)), TypeError, "bool"
    ),
    raises("modes/nan-indices", lambda: ss.ModeSet.from_indices(torch.tensor([[NAN, 1.0]])), TypeError, "integers"),
    raises("modes/duplicate-pair", lambda: ss.ModeSet.from_indices([[1, 2], [-1, -2]]), ValueError, "duplicate mode"),
    result("modes/empty", lambda: ss.ModeSet.from_indices(torch.zeros(0, 2, dtype=torch.long)), lambda m: len(m) == 0),
    result("modes/flat-list-is-1d", lambda: ss.ModeSet.from_indices([1, 2, 3]), lambda m: m.ndim == 1 and len(m) == 3),
    raises(
        "modes/rank-3-indices",
        lambda: ss.ModeSet.from_indices(torch.zeros(2, 2, 2, dtype=torch.long)),
        ValueError,
        r"\(K, d\)",
    ),
    raises(
        "modes/zero-axes", lambda: ss.ModeSet.from_indices(torch.zeros(3, 0, dtype=torch.long)), ValueError, "d >= 1"
    ),
    raises("modes/box-0", lambda: ss.ModeSet.box((0, 3)), ValueError, ">= 1"),
    raises("modes/box-negative", lambda: ss.ModeSet.box(-2), ValueError, ">= 1"),
    result(
        "modes/box-huge",
        lambda: _memory_limited("import spectral_sparse as ss; ss.ModeSet.box((10**6, 10**6))"),
        lambda out: out.startswith("ValueError") and "500000500001 modes" in out and "limit" in out,
    ),
    raises(
        "modes/negative-index-overflow", lambda: ss.ModeSet.from_indices([[0, -(2**63)]]), ValueError, r"below 2\*\*62"
    ),
    raises("modes/full-huge", lambda: ss.ModeSet.full((10**6, 10**6)), ValueError, "modes.*limit"),
    raises("modes/radial-huge", lambda: ss.ModeSet.radial(10**6, 2), ValueError, "candidate modes.*limit"),
    raises("modes/radial-negative", lambda: ss.ModeSet.radial(-1, 2), ValueError, "radius"),
    raises("modes/radial-nan", lambda: ss.ModeSet.radial(NAN, 2), ValueError, "radius"),
    raises("modes/radial-inf", lambda: ss.ModeSet.radial(INF, 2), ValueError, "radius"),
    raises("modes/radial-ndim-0", lambda: ss.ModeSet.radial(2, 0), ValueError, "ndim"),
    raises("modes/full-0", lambda: ss.ModeSet.full((0, 4)), ValueError, ">= 1"),
    result("modes/full-1x1", lambda: ss.ModeSet.full((1, 1)), lambda m: m.indices.tolist() == [[0, 0]]),
    raises("modes/restrict-wrong-length", lambda: M.restrict((8,)), ValueError, "2-D"),
    raises("modes/restrict-negative", lambda: M.restrict((-8, 8)), ValueError, ">= 1"),
]

RESAMPLE = [
    result("resample/batch-0", lambda: ss.resample(_x(0, 1, 8, 8), (4, 4)), lambda y: y.shape == (0, 1, 4, 4)),
    result(
        "resample/to-1x1-is-mean",
        lambda: (ss.resample(_x(1, 1, 8, 8), (1, 1)), _x(1, 1, 8, 8)),
        lambda p: torch.allclose(p[0].flatten(), p[1].mean(), atol=1e-6),
    ),
    result(
        "resample/from-1x1-is-constant",
        lambda: ss.resample(_x(1, 1, 1, 1), (4, 4)),
        lambda y: bool((y == y[0, 0, 0, 0]).all()),
    ),
    raises(
        "resample/zero-size-axis", lambda: ss.resample(_x(1, 1, 0, 8), (4, 4)), ValueError, "empty grid axis: axis 2"
    ),
    raises("resample/to-0", lambda: ss.resample(_x(1, 1, 8, 8), (0, 4)), ValueError, ">= 1"),
    raises("resample/negative", lambda: ss.resample(_x(1, 1, 8, 8), (-2, 4)), ValueError, ">= 1"),
    raises("resample/float-shape", lambda: ss.resample(_x(1, 1, 8, 8), (4.5, 4)), TypeError, "ints"),
    raises("resample/bool", lambda: ss.resample(_x(1, 1, 8, 8) > 0, (4, 4)), TypeError, f"{REAL}.*bool"),
    raises("resample/int", lambda: ss.resample(_x(1, 1, 8, 8, dtype=torch.long), (4, 4)), TypeError, "int64"),
    raises("resample/complex", lambda: ss.resample(_x(1, 1, 8, 8, dtype=torch.cfloat), (4, 4)), TypeError, "complex"),
    raises(
        "resample/half", lambda: ss.resample(_x(1, 1, 8, 8, dtype=torch.half), (4, 4)), TypeError, "float32.*float16"
    ),
    raises(
        "resample/bfloat16",
        lambda: ss.resample(_x(1, 1, 8, 8, dtype=torch.bfloat16), (4, 4)),
        TypeError,
        "float32 or float64.*bfloat16",
    ),
    raises("resample/scalar", lambda: ss.resample(torch.tensor(1.0), (4,)), ValueError, "0 dimensions"),
    result("resample/1d-tensor", lambda: ss.resample(_x(8), (4,)), lambda y: y.shape == (4,)),
    result(
        "resample/non-contiguous",
        _same_as_contiguous(lambda t: ss.resample(t, (4, 6)), _x(1, 1, 16, 8)[:, :, ::2]),
        bool,
    ),
    result(
        "resample/channels-last",
        _same_as_contiguous(lambda t: ss.resample(t, (4, 6)), _x(2, 3, 8, 8).to(memory_format=torch.channels_last)),
        bool,
    ),
]

MODELS = [
    result("models/classifier-batch-0", lambda: _clf()(_imgs(0)), lambda y: y.shape == (0, 3)),
    result("models/classifier-grid-1", lambda: _clf()(_imgs(2, 1)), lambda y: y.shape == (2, 3)),
    raises("models/classifier-channels", lambda: _clf()(torch.rand(2, 3, 16, 16)), ValueError, "3 channels"),
    raises("models/classifier-rank", lambda: _clf()(torch.rand(1, 16, 16)), ValueError, r"\(B, 1, \*grid\)"),
    raises(
        "models/classifier-uint8",
        lambda: _clf()(torch.ones(1, 1, 16, 16, dtype=torch.uint8)),
        TypeError,
        "uint8",
    ),
    raises("models/classifier-0-classes", lambda: _clf(classes=0), ValueError, "num_classes"),
    raises("models/classifier-in-channels-0", lambda: models.SpectralClassifier(0, 3), ValueError, "in_channels"),
    raises("models/cnn-0-classes", lambda: models.CNNClassifier(1, 0), ValueError, "num_classes"),
    raises("models/classifier-width-0", lambda: models.SpectralClassifier(1, 3, width=0), ValueError, "positive"),
    raises("models/classifier-depth-0", lambda: models.SpectralClassifier(1, 3, depth=0), ValueError, "depth"),
    raises(
        "models/classifier-modes-negative", lambda: models.SpectralClassifier(1, 3, modes=-1.0), ValueError, "radius"
    ),
    result(
        "models/fno-batch-0",
        lambda: models.SparseFNO(1, 1, 4, (3, 3), n_layers=1)(_x(0, 1, 8, 8)),
        lambda y: y.shape == (0, 1, 8, 8),
    ),
    raises(
        "models/fno-rank", lambda: models.SparseFNO(1, 1, 4, (3, 3), n_layers=1)(_x(1, 1, 8)), ValueError, "2-D grid"
    ),
    raises("models/fno-0-layers", lambda: models.SparseFNO(1, 1, 4, (3, 3), n_layers=0), ValueError, "n_layers"),
    raises(
        "models/cnn-to-spectral-grid-0",
        lambda: models.cnn_to_spectral(models.CNNClassifier(1, 3, widths=(4,)), 0),
        ValueError,
        ">= 1",
    ),
    raises(
        "models/cnn-to-spectral-linear", lambda: models.cnn_to_spectral(torch.nn.Linear(2, 2), 16), ValueError, "Linear"
    ),
]

PRUNE = [
    raises("prune/amount-1.5", lambda: prune.prune_modes(_clf(), 1.5), ValueError, r"\[0, 1\)"),
    raises("prune/amount-negative", lambda: prune.prune_modes(_clf(), -0.1), ValueError, r"\[0, 1\)"),
    raises("prune/amount-nan", lambda: prune.prune_modes(_clf(), NAN), ValueError, "nan"),
    raises(
        "prune/no-spectral-layers",
        lambda: prune.prune_modes(torch.nn.Linear(2, 2), 0.5),
        ValueError,
        "no SparseSpectralConv",
    ),
    raises("prune/criterion", lambda: prune.prune_modes(_clf(), 0.5, criterion="foo"), ValueError, "unknown criterion"),
    raises("prune/scope", lambda: prune.prune_modes(_clf(), 0.5, scope="foo"), ValueError, "unknown scope"),
    raises(
        "prune/taylor-without-loss", lambda: prune.prune_modes(_clf(), 0.5, criterion="taylor"), ValueError, "loss_fn"
    ),
    raises("prune/nan-weights", lambda: prune.prune_modes(_nan_model(), 0.5), ValueError, "spectral.0.*NaN"),
]

LABELS = torch.tensor([0, 1])
ATTACKS = [
    raises("attacks/eps-negative", lambda: attacks.FGSM(_clf(), -0.1), ValueError, "eps"),
    raises("attacks/eps-nan", lambda: attacks.FGSM(_clf(), NAN), ValueError, "eps"),
    result(
        "attacks/batch-0",
        lambda: attacks.FGSM(_clf(), 0.1)(_imgs(0), LABELS[:0]),
        lambda y: y.shape == (0, 1, 16, 16),
    ),
    raises(
        "attacks/labels-length",
        lambda: attacks.FGSM(_clf(), 0.1)(_imgs(), torch.zeros(3, dtype=torch.long)),
        ValueError,
        r"labels must have shape \(2,\)",
    ),
    raises(
        "attacks/labels-out-of-range",
        lambda: attacks.FGSM(_clf(), 0.1)(_imgs(), torch.tensor([0, 7])),
        IndexError,
        "Target 7 is out of bounds",
    ),
    raises("attacks/float-labels", lambda: attacks.FGSM(_clf(), 0.1)(_imgs(), LABELS.float()), TypeError, "integer"),
    raises(
        "attacks/uint8-images",
        lambda: attacks.FGSM(_clf(), 0.1)(torch.ones(2, 1, 16, 16, dtype=torch.uint8), LABELS),
        TypeError,
        "uint8",
    ),
    raises(
        "attacks/outside-domain",
        lambda: attacks.FGSM(_clf(), 0.1)(_imgs() * 5, LABELS),
        ValueError,
        "outside the domain",
    ),
    raises(
        "attacks/nan-images",
        lambda: attacks.FGSM(_clf(), 0.1)(torch.full((2, 1, 16, 16), NAN), LABELS),
        ValueError,
        FINITE,
    ),
    raises("attacks/pgd-steps-0", lambda: attacks.PGD(_clf(), 0.1, steps=0), ValueError, "steps"),
    raises("attacks/pgd-norm", lambda: attacks.PGD(_clf(), 0.1, norm="l3"), ValueError, "norm"),
    raises("attacks/domain-reversed", lambda: attacks.PGD(_clf(), 0.1, domain=(1, 0)), ValueError, "lo < hi"),
    raises("attacks/fourier-modes-negative", lambda: attacks.FourierPGD(_clf(), 0.1, modes=-1.0), ValueError, "radius"),
    raises(
        "attacks/fourier-grid-1",
        lambda: attacks.FourierPGD(_clf(), 0.1, steps=1)(_imgs(2, 1), LABELS),
        ValueError,
        "does not resolve",
    ),
]

PHYSICS = [
    raises("physics/unknown-kind", lambda: _physics("foo", 16), ValueError, "unknown physics"),
    raises("physics/shape-0", lambda: _physics("deblur", 0), ValueError, "too small"),
    raises("physics/shape-negative", lambda: _physics("deblur", (-4, 4)), ValueError, r"\(-4, 4\)"),
    raises("physics/shape-1", lambda: _physics("deblur", 1), ValueError, "too small"),
    raises("physics/unknown-parameter", lambda: _physics("deblur", 16, widht=0.1), ValueError, "widht"),
    raises("physics/nan-parameter", lambda: _physics("deblur", 16, width=NAN), ValueError, "finite"),
    raises("physics/negative-width", lambda: _physics("deblur", 16, width=-0.1), ValueError, "width"),
    raises("physics/half-dtype", lambda: _physics("deblur", 16, dtype=torch.half), TypeError, "float16"),
    raises("physics/int-dtype", lambda: _physics("deblur", 16, dtype=torch.long), TypeError, "int64"),
    raises("physics/mri-k-max-beyond-grid", lambda: _physics("mri", 16, k_max=1000), ValueError, "k_max"),
    raises("physics/tomography-non-square", lambda: _physics("tomography", (16, 20)), ValueError, "square"),
    raises("physics/channels-0", lambda: _physics("deblur", 16, channels=0), ValueError, "channels"),
    raises(
        "physics/image-on-other-grid",
        lambda: _physics("deblur", 16)(_imgs(1, 20)),
        ValueError,
        r"\(20, 20\).*\(16, 16\)",
    ),
    raises(
        "physics/inpainting-image-on-other-grid",
        lambda: _physics("inpainting", 16)(_imgs(1, 20)),
        ValueError,
        r"\(20, 20\).*\(16, 16\)",
    ),
]

CHECKPOINTS = [
    raises("checkpoint/missing", _load("missing.pt"), FileNotFoundError, "missing.pt.*does not exist", needs_dir=True),
    raises("checkpoint/directory", _load("folder.pt"), FileNotFoundError, "folder.pt.*directory", needs_dir=True),
    raises("checkpoint/truncated", _load("truncated.pt"), ValueError, "truncated.pt.*truncated", needs_dir=True),
    raises("checkpoint/empty", _load("empty.pt"), ValueError, "empty.pt.*empty", needs_dir=True),
    raises("checkpoint/text-file", _load("notes.pt"), ValueError, "notes.pt.*not a torch.save file", needs_dir=True),
    raises(
        "checkpoint/random-bytes", _load("random.pt"), ValueError, "random.pt.*not a torch.save file", needs_dir=True
    ),
    raises("checkpoint/bare-state-dict", _load("state.pt"), ValueError, "state.pt.*bare state_dict", needs_dir=True),
    raises("checkpoint/pickled-object", _load("object.pt"), ValueError, "object.pt.*refused", needs_dir=True),
    raises("checkpoint/newer-format", _load("future.pt"), ValueError, "future.pt.*version 99", needs_dir=True),
    raises(
        "checkpoint/unknown-model", _load("kind.pt"), ValueError, "kind.pt.*unknown model kind 'ResNet'", needs_dir=True
    ),
    raises("checkpoint/wrong-weights", _load("wrong.pt"), ValueError, "wrong.pt.*size mismatch", needs_dir=True),
    raises(
        "checkpoint/save-non-plain-metadata",
        lambda d: save_checkpoint(d / "x.pt", _clf(), note=object()),
        TypeError,
        "plain types",
        needs_dir=True,
    ),
    raises(
        "checkpoint/save-unsupported-model",
        lambda d: save_checkpoint(d / "x.pt", torch.nn.Linear(2, 2)),
        ValueError,
        "cannot checkpoint a Linear",
        needs_dir=True,
    ),
]

TABLE = FUNCTIONAL + LAYER + MODESET + RESAMPLE + MODELS + PRUNE + ATTACKS + PHYSICS + CHECKPOINTS


def _case(row: Any) -> Case:
    return row.values[0] if hasattr(row, "values") else row


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("case", [r if hasattr(r, "values") else pytest.param(r, id=r.name) for r in TABLE])
def test_bad_input(case: Case, ckpt_dir: Path) -> None:
    args = (ckpt_dir,) if case.needs_dir else ()
    if case.error is not None:
        with pytest.raises(case.error, match=case.match) as info:
            case.call(*args)
        message = str(info.value)
        assert message.strip(), f"{case.name}: empty message"
        assert "\n" not in message.strip(), f"{case.name}: multi-line message"
    else:
        assert case.check is not None
        assert case.check(case.call(*args)), f"{case.name}: unexpected result"


def test_table_is_large_and_named_uniquely() -> None:
    names = [_case(r).name for r in TABLE]
    assert len(names) == len(set(names))
    assert len(names) >= 120
