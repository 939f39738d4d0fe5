"""Adversarial attacks across resolutions, adversarial training and robustness to distribution shift.

* :mod:`~spectral_sparse.attacks.gradient`: :class:`FGSM`, :class:`PGD` (L-inf / L2, pixel space);
* :mod:`~spectral_sparse.attacks.fourier`: :class:`FourierPGD`, a band-limited perturbation given by
  Fourier coefficients (grid independent, function-space budget), :func:`render`;
* :mod:`~spectral_sparse.attacks.transfer`: :func:`transfer`, an adversarial example moved to another grid;
* :mod:`~spectral_sparse.attacks.evaluate`: :func:`robust_accuracy`, :func:`robustness_matrix`
  (craft at one resolution, evaluate at another);
* :mod:`~spectral_sparse.attacks.training`: :func:`adversarial_train` at one or several resolutions;
* :mod:`~spectral_sparse.attacks.corruptions`: :func:`corrupt`, :func:`evaluate_corruptions`
  (ImageNet-C-style corruptions defined relative to the field of view).

Wherever a function takes an attack, any callable ``attack(images, labels) -> adversarial images`` works,
torchattacks' attacks included (they assume inputs in [0, 1]).
"""

from .corruptions import CORRUPTIONS, corrupt, evaluate_corruptions
from .evaluate import accuracy, robust_accuracy, robustness_matrix
from .fourier import FOURIER_NORMS, FourierPGD, function_norm, render
from .gradient import FGSM, NORMS, PGD
from .training import adversarial_train
from .transfer import TRANSFER_METHODS, transfer

__all__ = [
    "CORRUPTIONS",
    "FGSM",
    "FOURIER_NORMS",
    "NORMS",
    "PGD",
    "TRANSFER_METHODS",
    "FourierPGD",
    "accuracy",
    "adversarial_train",
    "corrupt",
    "evaluate_corruptions",
    "function_norm",
    "render",
    "robust_accuracy",
    "robustness_matrix",
    "transfer",
]
