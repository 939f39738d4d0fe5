"""Sparse training: Bregman optimizers, proximal regularizers, sparse initialisation, sparsity control.

Reference: Bungert, Roith, Tenbrinck, Burger, "A Bregman learning framework for
sparse neural networks", JMLR 23 (2022).

Examples
--------
>>> import torch, spectral_sparse as ss
>>> from spectral_sparse import optim
>>> model = ss.models.SpectralClassifier(1, 3, width=4, modes=3, depth=1)
>>> _ = optim.sparse_init(model, density=0.2, seed=0)
>>> opt = optim.LinBreg(optim.spectral_groups(model, "mode", lam=0.05), lr=0.05)
>>> loss = model(torch.randn(4, 1, 16, 16)).square().mean()
>>> loss.backward()
>>> _ = opt.step()
>>> 0.0 < optim.mode_sparsity(model) < 1.0
True
"""

from .bregman import AdaBreg, LinBreg, ProxSGD
from .factory import OPTIMIZERS, make_optimizer, spectral_groups
from .regularizers import (
    L1,
    REGULARIZERS,
    ChannelGroupL1L2,
    ModeGroupL1L2,
    NuclearPerMode,
    Null,
    Regularizer,
    make_regularizer,
)
from .schedule import SparsityController, group_mode_sparsity
from .sparsity import layer_mode_sparsity, mode_sparsity, sparse_init, spectral_layers

__all__ = [
    "L1",
    "OPTIMIZERS",
    "REGULARIZERS",
    "AdaBreg",
    "ChannelGroupL1L2",
    "LinBreg",
    "ModeGroupL1L2",
    "NuclearPerMode",
    "Null",
    "ProxSGD",
    "Regularizer",
    "SparsityController",
    "group_mode_sparsity",
    "layer_mode_sparsity",
    "make_optimizer",
    "make_regularizer",
    "mode_sparsity",
    "sparse_init",
    "spectral_groups",
    "spectral_layers",
]
