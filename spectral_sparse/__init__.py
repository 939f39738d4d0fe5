"""spectral_sparse: discretization-invariant neural operators with sparse Fourier parameters.

Examples
--------
>>> import torch, spectral_sparse as ss
>>> layer = ss.SparseSpectralConv(1, 4, ss.ModeSet.radial(6, ndim=2))
>>> layer(torch.randn(8, 1, 28, 28)).shape
torch.Size([8, 4, 28, 28])
"""

from . import attacks, data, functional, inference, inverse, lowrank, models, optim, prune, quantize, sphere
from .inference import predict
from .layers import SparseSpectralConv
from .lowrank import LowRankSpectralConv
from .modes import ModeSet
from .resample import resample

__all__ = [
    "LowRankSpectralConv",
    "ModeSet",
    "SparseSpectralConv",
    "attacks",
    "data",
    "functional",
    "inference",
    "inverse",
    "lowrank",
    "models",
    "optim",
    "predict",
    "prune",
    "quantize",
    "resample",
    "sphere",
]
__version__ = "0.1.0"
