"""Differential fuzzing (bounded): every CPU backend against the literal contract, outputs and gradients.

The strategy, the literal reference with gradients and the comparison live in
``benchmarks/fuzz.py``, which also runs the longer fuzz whose counts are in
``docs/guides/errors.md``. Backends are taken from ``registered_backends()`` at run
time, so a newly registered backend is fuzzed as soon as it accepts CPU calls
(``triton`` when ``TRITON_INTERPRET=1`` is set).
"""

from __future__ import annotations

import torch
from hypothesis import HealthCheck, given, settings

from benchmarks.fuzz import FuzzCall, Tally, calls, check_call
from spectral_sparse import ModeSet
from tests._literal import literal_conv

EXAMPLES = 300


@settings(max_examples=EXAMPLES, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(calls())
def test_backends_match_the_literal_contract(call: FuzzCall) -> None:
    problems = check_call(call)
    assert not problems, "\n".join(problems)


def test_differentiable_literal_is_the_literal() -> None:
    gen = torch.Generator().manual_seed(0)
    modes = ModeSet.from_indices([[0, 0], [3, 2], [-4, 1], [2, -3], [5, 0]])
    x = torch.randn(2, 3, 8, 7, generator=gen, dtype=torch.float64)
    w = torch.randn(len(modes), 3, 2, generator=gen, dtype=torch.complex128)
    b = torch.randn(2, generator=gen, dtype=torch.float64)
    for out in (None, (6, 10)):
        xg, wg, bg = (t.clone().requires_grad_(True) for t in (x, w, b))
        torch.testing.assert_close(literal_conv(xg, wg, modes, bg, out).detach(), literal_conv(x, w, modes, b, out))


def test_a_wrong_backend_is_caught(monkeypatch) -> None:
    """The checker itself: a backend whose output is off by 1e-3 is reported."""
    from spectral_sparse.backends import fft

    real = fft.FFTBackend.run

    def off_by_bias(self, call):  # type: ignore[no-untyped-def]
        return real(self, call) + 1e-3

    monkeypatch.setattr(fft.FFTBackend, "run", off_by_bias)
    gen = torch.Generator().manual_seed(0)
    modes = ModeSet.box((3, 3))
    call = FuzzCall(
        x=torch.randn(1, 2, 6, 6, generator=gen, dtype=torch.float64),
        weight=torch.randn(len(modes), 2, 2, generator=gen, dtype=torch.complex128),
        modes=modes,
        bias=None,
        output_shape=None,
        dtype=torch.float64,
        grad_out=torch.randn(1, 2, 6, 6, generator=gen, dtype=torch.float64),
    )
    tally = Tally()
    problems = check_call(call, tally)
    assert any(p.startswith("fft: output") for p in problems)
    assert tally.counts[("fft", "float64", 2, "mismatch_output")] == 1
