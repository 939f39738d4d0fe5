"""Models built on sparse spectral convolutions, baselines to compare them with, and converters."""

from .classifier import CNNClassifier, SpectralClassifier, count_parameters
from .cnn_conversion import ChannelwiseFilter, SpectralSubsample, cnn_to_spectral, coarse_grid, sample_interpolant
from .fno import FNOConfig, SparseFNO
from .neuralop_convert import from_neuralop_model
from .pointwise import PointwiseConv

__all__ = [
    "CNNClassifier",
    "ChannelwiseFilter",
    "FNOConfig",
    "PointwiseConv",
    "SparseFNO",
    "SpectralClassifier",
    "SpectralSubsample",
    "cnn_to_spectral",
    "coarse_grid",
    "count_parameters",
    "from_neuralop_model",
    "sample_interpolant",
]
