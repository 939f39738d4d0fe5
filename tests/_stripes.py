"""A tiny four-class image set for the attack tests: noisy stripes at four frequency vectors."""

from __future__ import annotations

import math

import torch


def stripes(n: int, grid: int = 16, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Four classes of noisy stripes (frequency vectors (2, 0), (0, 2), (2, 2), (2, -2)), random phase, in [0, 1]."""
    g = torch.Generator().manual_seed(seed)
    ks = torch.tensor([[2, 0], [0, 2], [2, 2], [2, -2]], dtype=torch.float64)
    y = torch.randint(4, (n,), generator=g)
    phase = torch.rand(n, generator=g, dtype=torch.float64) * 2 * math.pi
    amp = 0.15 + 0.2 * torch.rand(n, generator=g, dtype=torch.float64)
    t = torch.arange(grid, dtype=torch.float64) / grid
    arg = 2 * math.pi * (ks[y, 0, None, None] * t[None, :, None] + ks[y, 1, None, None] * t[None, None, :])
    x = 0.5 + amp[:, None, None] * torch.cos(arg + phase[:, None, None])
    x = x + 0.05 * torch.randn(x.shape, generator=g, dtype=torch.float64)
    return x.clamp(0, 1).float()[:, None], y
