"""Concurrency: layers run from several threads at once give the single-threaded results.

The plan caches (every :class:`~spectral_sparse.backends._common.LRUCache` in the
package, found by walking its loaded modules) are shrunk to one entry so that
threads evict each other's plans all the time, and the threads interleave
``no_grad``, ``inference_mode`` and grad-mode calls.
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator

import pytest
import torch

import spectral_sparse as ss
from spectral_sparse.backends._common import LRUCache
from tests._literal import cpu_backends

N_THREADS = 4
ROUNDS = 6


def _all_caches() -> list[LRUCache]:
    caches = []
    for name, module in list(sys.modules.items()):
        if name == "spectral_sparse" or name.startswith("spectral_sparse."):
            for value in list(vars(module).values()):
                if isinstance(value, LRUCache) and all(value is not c for c in caches):
                    caches.append(value)
    return caches


@pytest.fixture
def tiny_caches() -> Iterator[list[LRUCache]]:
    caches = _all_caches()
    saved = [c.maxsize for c in caches]
    for c in caches:
        c.clear()
        c.maxsize = 1
    try:
        yield caches
    finally:
        for c, size in zip(caches, saved):
            c.maxsize = size
            c.clear()


def _cases() -> list[tuple[str, ss.SparseSpectralConv, torch.Tensor, tuple[int, ...] | None]]:
    """(mode, layer, input, output_shape): several backends, grids, mixings and output grids."""
    gen = torch.Generator().manual_seed(0)
    cases = []
    backends = cpu_backends()
    specs = [
        (ss.ModeSet.box((4, 4)), (12, 10), None, "dense"),
        (ss.ModeSet.box((3, 5)), (9, 16), (20, 11), "dense"),
        (ss.ModeSet.radial(3, 2), (8, 8), (5, 7), "diagonal"),
        (ss.ModeSet.box((5,)), (17,), (32,), "dense"),
        (ss.ModeSet.box((2, 2, 3)), (6, 5, 7), None, "dense"),
    ]
    for i, (modes, grid, out, mixing) in enumerate(specs):
        for backend in backends:
            torch.manual_seed(i)
            c = 3
            layer = ss.SparseSpectralConv(c, c, modes, mixing=mixing, backend=backend).double()
            x = torch.randn(2, c, *grid, generator=gen, dtype=torch.float64)
            for mode in ("grad", "no_grad", "inference"):
                cases.append((mode, layer, x, out))
    return cases


def _run(case) -> tuple[torch.Tensor, ...]:  # type: ignore[no-untyped-def]
    mode, layer, x, out = case
    if mode == "no_grad":
        with torch.no_grad():
            return (layer(x, output_shape=out),)
    if mode == "inference":
        with torch.inference_mode():
            return (layer(x, output_shape=out).clone(),)
    xg = x.clone().requires_grad_(True)
    y = layer(xg, output_shape=out)
    grads = torch.autograd.grad((y * y).sum(), [xg, layer.weight])
    return (y.detach(), *grads)


def test_threads_match_single_threaded(tiny_caches: list[LRUCache]) -> None:
    assert tiny_caches, "no plan cache found to shrink"
    cases = _cases()
    expected = [_run(case) for case in cases]
    failures: list[str] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(N_THREADS)

    def worker(tid: int) -> None:
        try:
            barrier.wait()
            for r in range(ROUNDS):
                # each thread walks the cases in its own order: same layer and different layers at once
                order = list(range(len(cases)))
                order = order[(tid * 7 + r * 3) % len(order) :] + order[: (tid * 7 + r * 3) % len(order)]
                if (tid + r) % 2:
                    order.reverse()
                for j in order:
                    got = _run(cases[j])
                    for a, b in zip(got, expected[j]):
                        if a.shape != b.shape or not torch.allclose(a, b, rtol=1e-12, atol=1e-12):
                            failures.append(f"thread {tid} round {r} case {j} ({cases[j][0]})")
                            break
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(t,)) for t in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "a worker thread hung"
    assert not errors, f"worker raised: {errors[0]!r}"
    assert not failures, f"{len(failures)} results differ from single-threaded, first: {failures[0]}"
    assert all(len(c) <= 1 for c in tiny_caches)


def test_cache_concurrent_get_and_eviction() -> None:
    """8 threads hammer a 2-entry cache over 3 keys: no error, the size bound holds, builds stay rare."""
    cache = LRUCache(maxsize=2)
    builds = []
    sizes = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(8)

    def build() -> object:
        builds.append(1)
        return object()

    def worker() -> None:
        try:
            barrier.wait()
            for i in range(2000):
                assert cache.get(i % 3, build) is not None
                sizes.append(len(cache))
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, repr(errors[0])
    assert max(sizes) <= 2
    assert 3 <= len(builds) <= 8 * 2000


def test_cache_shares_the_first_stored_value() -> None:
    """Two threads that miss one key at once get the same object back."""
    cache = LRUCache(maxsize=4)
    barrier = threading.Barrier(2)
    got: list[object] = []

    def build() -> object:
        barrier.wait()  # both threads are inside build before either stores
        return object()

    threads = [threading.Thread(target=lambda: got.append(cache.get("k", build))) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert len(got) == 2 and got[0] is got[1]


def test_cache_zero_size_still_returns_values() -> None:
    cache = LRUCache(maxsize=0)
    assert cache.get("a", lambda: 3) == 3
    assert len(cache) == 0
