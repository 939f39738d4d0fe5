"""Adversarial training at one or several resolutions, in pixel space (PGD) or in function space (FourierPGD).

Each batch is resized to a grid drawn for it (as in
:func:`spectral_sparse.training.train_classifier`), attacked there by an
attack built for the model being trained, and the model takes an optimizer
step on the cross-entropy of the adversarial batch (optionally mixed with the
clean one). Any :class:`torch.optim.Optimizer` can be used, the sparse
Bregman optimizers of :mod:`spectral_sparse.optim` included.

:func:`adversarial_train` is a thin front end to the one training loop,
:func:`~spectral_sparse.training.fit` with ``attack=``, so it also
trains data-parallel under ``torchrun`` (each rank attacks its own shard).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from ..training import AttackFactory, fit, fit_arguments
from .gradient import Domain, check_domain

__all__ = ["adversarial_train"]


def adversarial_train(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    attack_factory: AttackFactory,
    *,
    resolutions: Sequence[int | Sequence[int]] | None = None,
    method: str = "fourier",
    epochs: int = 5,
    batch_size: int = 64,
    optimizer: torch.optim.Optimizer | None = None,
    lr: float = 3e-3,
    clean_weight: float = 0.0,
    domain: Domain = (0.0, 1.0),
    seed: int = 0,
    device: str | torch.device | None = None,
    val_images: Tensor | None = None,
    val_labels: Tensor | None = None,
    progress: bool = True,
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None,
    callback: Callable[[int], Any] | None = None,
) -> dict[str, Any]:
    """Train a classifier on adversarial examples crafted on the fly at one or several resolutions.

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, C, H, W)`` to logits; trained in place (left in eval mode).
    images : Tensor, shape (n, C, H, W)
        Training images at their native grid, values in ``domain``.
    labels : LongTensor, shape (n,)
    attack_factory : callable
        ``attack_factory(model) -> attack``, called once; the attack is called
        as ``attack(x, y)`` on every batch (e.g. ``lambda m: PGD(m, 0.1, 0.025, 7)``,
        ``lambda m: FourierPGD(m, ...)`` or a torchattacks attack). If the attack
        has an integer ``seed`` attribute it is set to ``seed + batch number``
        before each batch, so random starts differ between batches (under
        ``W`` ranks: ``seed + W * batch number + rank``).
    resolutions : sequence of int or (H, W), optional
        Training grids; one is drawn per batch (default: the native grid).
    method : str
        Resize method (see :func:`spectral_sparse.data.resize`); resized
        batches are clamped to ``domain``.
    epochs, batch_size : int
    optimizer : torch.optim.Optimizer, optional
        Used as given (no scheduler), e.g. ``spectral_sparse.optim.LinBreg``.
        Default: Adam with peak learning rate ``lr`` and a one-cycle schedule.
    lr : float
        Peak learning rate of the default optimizer.
    clean_weight : float in [0, 1]
        Loss = ``(1 - w) CE(adversarial) + w CE(clean)``.
    domain : (lo, hi) or None
    seed : int
        Seeds the batch order, the resolution draws and the attacks' seeds.
    device : str or torch.device, optional
        Where to train (default: where the model's parameters are).
    val_images, val_labels : Tensor, optional
        Clean accuracy on them (at their grid) after every epoch.
    progress : bool
        tqdm bar per epoch.
    loss_fn : callable, optional
        ``loss_fn(logits, labels, inputs)`` in place of cross-entropy (for both
        terms), e.g. :func:`spectral_sparse.prune.distillation_loss` of a robust
        teacher to retrain a pruned model.
    callback : callable, optional
        Called as ``callback(step)`` after every optimizer step, e.g. a
        :class:`~spectral_sparse.optim.SparsityController` steering a Bregman optimizer.

    Notes
    -----
    Under a :mod:`torch.distributed` process group with ``W > 1`` ranks
    (e.g. ``torchrun``) training is data-parallel exactly as in
    :func:`~spectral_sparse.training.train_classifier`: ``batch_size`` is per
    rank, every rank attacks its own shard of the batch with the unwrapped
    model (no gradient all-reduce for the attack), and the parameters stay
    identical on all ranks.

    Returns
    -------
    dict
        Per epoch: ``epoch``, ``loss``, ``adv_accuracy`` (training accuracy on
        the adversarial batches), ``seconds`` (cumulative), ``val_accuracy`` with
        a validation set; ``batches_per_resolution``, ``parameters``,
        ``train_seconds``, ``resolutions``, ``epochs``, ``batch_size``, ``seed``,
        ``clean_weight``, ``optimizer`` (class name), and the other keys of
        :func:`~spectral_sparse.training.train_classifier` (``attack``, ``domain``,
        ``steps``, ``world_size``, ...).

    Raises
    ------
    ValueError
        Bad shapes, empty sets, bad ``epochs``/``batch_size``/``lr``/``clean_weight``.
    TypeError
        ``attack_factory`` not callable or ``optimizer`` not an optimizer.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.attacks import PGD
    >>> from spectral_sparse.data import make_shapes
    >>> from spectral_sparse.models import SpectralClassifier
    >>> x, y = make_shapes(32, 16, seed=0)
    >>> model = SpectralClassifier(1, 6, width=4, modes=2, depth=1)
    >>> h = adversarial_train(model, x.clamp(0, 1), y, lambda m: PGD(m, 0.05, 0.02, 2), resolutions=(12, 16),
    ...                       epochs=1, batch_size=16, progress=False)
    >>> len(h["loss"]), sum(h["batches_per_resolution"].values())
    (1, 2)
    """
    if not callable(attack_factory):
        got = type(attack_factory).__name__
        raise TypeError(f"attack_factory must be callable as attack_factory(model), got {got}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    config, kwargs = fit_arguments(
        resolutions=resolutions or None,
        method=method,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        device=device,
        progress=progress,
        schedule="onecycle" if optimizer is None else "none",
        clean_weight=clean_weight,
        domain=check_domain(domain),
        val_images=val_images,
        val_labels=val_labels,
        callback=callback,
        loss_fn=loss_fn,
        attack=attack_factory,
        optimizer=optimizer,
    )
    return fit(model, (images, labels), config, **kwargs)
