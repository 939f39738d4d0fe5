"""Knowledge distillation: retrain a pruned model against the dense model's soft predictions.

Pruning removes modes (or channels) a dense model used; retraining the pruned
model on the labels alone throws away what the dense model knew about the
classes it confuses. :func:`distillation_loss` (Hinton, Vinyals and Dean, 2015)
mixes the cross-entropy with the KL divergence between the temperature-softened
predictions of the student and of a frozen teacher, evaluated on the same batch
(at whatever grid the batch is), and plugs into
:func:`spectral_sparse.training.train_classifier` as ``loss_fn``.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["distillation_loss"]


def distillation_loss(
    teacher: nn.Module, temperature: float = 4.0, alpha: float = 0.9
) -> Callable[[Tensor, Tensor, Tensor], Tensor]:
    """``loss(logits, labels, inputs) = alpha T^2 KL(p_T(teacher) || p_T(student)) + (1 - alpha) CE(logits, labels)``.

    Parameters
    ----------
    teacher : nn.Module
        Frozen reference (called in eval mode without gradients on ``inputs``).
    temperature : float
        ``T > 0``; the softmaxes use ``logits / T`` and the KL term is scaled by
        ``T^2`` so its gradients keep their size as ``T`` changes.
    alpha : float in [0, 1]
        Weight of the distillation term (``0``: plain cross-entropy).

    Returns
    -------
    callable
        ``loss_fn(logits (B, K), labels (B,), inputs (B, C, *grid)) -> scalar``.

    Raises
    ------
    TypeError
        ``teacher`` is not an ``nn.Module``.
    ValueError
        ``temperature <= 0`` or ``alpha`` outside ``[0, 1]``.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.models import SpectralClassifier
    >>> teacher = SpectralClassifier(1, 3, width=4, modes=2, depth=1)
    >>> loss = distillation_loss(teacher, temperature=2.0, alpha=1.0)
    >>> x = torch.randn(5, 1, 12, 12)
    >>> with torch.no_grad():
    ...     same = teacher(x)
    >>> float(loss(same, torch.zeros(5, dtype=torch.long), x)) < 1e-6   # the teacher's own logits: KL = 0
    True
    """
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"teacher must be an nn.Module, got {type(teacher).__name__}")
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature!r}")
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1], got {alpha!r}")

    def loss_fn(logits: Tensor, labels: Tensor, inputs: Tensor) -> Tensor:
        ce = F.cross_entropy(logits, labels)
        if alpha == 0:
            return ce
        was_training = teacher.training
        teacher.eval()
        with torch.no_grad():
            target = F.log_softmax(teacher(inputs) / temperature, dim=1)
        teacher.train(was_training)
        student = F.log_softmax(logits / temperature, dim=1)
        kd = F.kl_div(student, target, reduction="batchmean", log_target=True) * temperature**2
        return alpha * kd + (1 - alpha) * ce

    return loss_fn
