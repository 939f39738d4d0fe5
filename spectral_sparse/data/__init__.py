"""Data sets and resolution transforms.

* :mod:`~spectral_sparse.data.shapes`: an analytic, band-limited shapes set whose
  images are continuous functions, so the same sample can be rendered on any grid.
* :mod:`~spectral_sparse.data.mnist`: IDX loader for MNIST / Fashion-MNIST from any
  directory, and the fixed 8,000 / 2,000 split of the official test set.
* :mod:`~spectral_sparse.data.digits`: scikit-learn's bundled 8x8 digits.
* :mod:`~spectral_sparse.data.darcy`: neuraloperator's small Darcy-flow set (16x16 train,
  16x16 and 32x32 test) from any directory, md5-checked.
* :mod:`~spectral_sparse.data.transforms`: resolution transforms (Fourier, bilinear,
  bicubic, nearest, area) to put any test set on any grid.
"""

from .darcy import DARCY_MD5, load_darcy
from .digits import load_digits
from .mnist import DATA_ENV, MD5, SPLIT_NOTE, SPLIT_TRAIN, default_data_root, load_mnist, mnist_split, read_idx
from .shapes import CLASSES, make_shapes, render_coefficients, shape_coefficients
from .transforms import METHODS, ResolutionTransform, make_test_set, resize

__all__ = [
    "CLASSES",
    "DARCY_MD5",
    "DATA_ENV",
    "MD5",
    "METHODS",
    "SPLIT_NOTE",
    "SPLIT_TRAIN",
    "ResolutionTransform",
    "default_data_root",
    "load_darcy",
    "load_digits",
    "load_mnist",
    "make_shapes",
    "make_test_set",
    "mnist_split",
    "read_idx",
    "render_coefficients",
    "resize",
    "shape_coefficients",
]
