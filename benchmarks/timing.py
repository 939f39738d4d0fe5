"""Timing helpers: interleaved medians after warm-up, on CPU or CUDA.

Peers are timed round-robin inside one loop, in a new seeded random order
every round, so a burst of load from elsewhere on the machine hits all of
them alike and no peer always runs right after the same other one (a peer
that frees large buffers makes the next one fault fresh pages in); the figure
reported is the median over rounds.
"""

from __future__ import annotations

import platform
import random
import statistics
import time
from collections.abc import Callable

import torch

__all__ = ["device_name", "interleaved_times", "median_ms", "peak_memory_mb", "synchronize"]


def device_name(device: torch.device) -> str:
    """CPU model (from /proc/cpuinfo) or the CUDA device name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "cpu"


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _time_once(fn: Callable[[], object], device: torch.device) -> float:
    """Seconds for one call (CUDA events on a GPU, the wall clock on CPU)."""
    if device.type == "cuda":
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def interleaved_times(
    fns: dict[str, Callable[[], object]], repeats: int, warmup: int, device: torch.device, seed: int = 0
) -> dict[str, list[float]]:
    """Time every callable ``repeats`` times, one round at a time, after ``warmup`` untimed calls each.

    Every round runs all callables once, in a fresh random order (seeded).
    Returns seconds per call for each name.
    """
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    synchronize(device)
    rng = random.Random(seed)
    times: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(repeats):
        order = names[:]
        rng.shuffle(order)
        for name in order:
            times[name].append(_time_once(fns[name], device))
    return times


def median_ms(seconds: list[float]) -> float:
    return 1e3 * statistics.median(seconds)


def peak_memory_mb(fn: Callable[[], object], device: torch.device) -> float | None:
    """Peak allocated memory of one call above what was allocated before it (CUDA only).

    CPU peaks are not measured (there is no allocator counter to read without
    instrumenting every allocation); ``None`` is returned.
    """
    if device.type != "cuda":
        return None
    synchronize(device)
    torch.cuda.reset_peak_memory_stats(device)
    before = torch.cuda.memory_allocated(device)
    fn()
    synchronize(device)
    return (torch.cuda.max_memory_allocated(device) - before) / 2**20
