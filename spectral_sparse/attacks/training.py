"""Adversarial training at one or several resolutions, in pixel space (PGD) or in function space (FourierPGD).

Each batch is resized to a grid drawn for it (as in
:func:`spectral_sparse.training.train_classifier`), attacked there by an
attack built for the model being trained, and the model takes an optimizer
step on the cross-entropy of the adversarial batch (optionally mixed with the
clean one). Any :class:`torch.optim.Optimizer` can be used, the sparse
Bregman optimizers of :mod:`spectral_sparse.optim` included.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..data.transforms import resize
from ..models.classifier import count_parameters
from ..training import _accuracy, _flush_denormal, _grid, _progress, resolution_name
from .gradient import Domain, check_domain

__all__ = ["adversarial_train"]

AttackFactory = Callable[[nn.Module], Callable[[Tensor, Tensor], Tensor]]


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
        before each batch, so random starts differ between batches.
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

    Returns
    -------
    dict
        Per epoch: ``epoch``, ``loss``, ``adv_accuracy`` (training accuracy on
        the adversarial batches), ``seconds`` (cumulative), ``val_accuracy`` with
        a validation set; ``batches_per_resolution``, ``parameters``,
        ``train_seconds``, ``resolutions``, ``epochs``, ``batch_size``, ``seed``,
        ``clean_weight``, ``optimizer`` (class name).

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
    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a tensor (n, C, H, W), got {getattr(images, 'shape', type(images))}")
    if not isinstance(labels, Tensor) or labels.shape != (images.shape[0],):
        raise ValueError(f"labels must have shape ({images.shape[0]},), got {tuple(getattr(labels, 'shape', ()))}")
    if len(images) == 0:
        raise ValueError("images is empty")
    if not callable(attack_factory):
        got = type(attack_factory).__name__
        raise TypeError(f"attack_factory must be callable as attack_factory(model), got {got}")
    if optimizer is not None and not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer, got {type(optimizer).__name__}")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if not 0.0 <= clean_weight <= 1.0:
        raise ValueError(f"clean_weight must be in [0, 1], got {clean_weight!r}")
    if (val_images is None) != (val_labels is None):
        raise ValueError("give both val_images and val_labels, or neither")
    domain = check_domain(domain)
    grids = [_grid(r, "resolutions entry") for r in (resolutions or [tuple(images.shape[-2:])])]

    if device is not None:
        model.to(device)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    images, labels = images.to(dev), labels.to(dev)
    attack = attack_factory(model)
    if not callable(attack):
        raise TypeError(f"attack_factory(model) must return a callable attack, got {type(attack).__name__}")
    gen = torch.Generator().manual_seed(seed)
    steps = math.ceil(len(images) / batch_size)
    sched = None
    if optimizer is None:
        optimizer = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=epochs * steps)
    native = tuple(images.shape[-2:])
    names = [resolution_name(g) for g in grids]
    counts = {str(n): 0 for n in names}
    history: dict[str, Any] = {"epoch": [], "loss": [], "adv_accuracy": [], "seconds": []}
    if val_images is not None:
        history["val_accuracy"] = []
    start = time.perf_counter()
    batch_no = 0
    with _flush_denormal(True):
        for epoch in range(epochs):
            perm = torch.randperm(len(images), generator=gen).to(dev)
            picks = torch.randint(len(grids), (steps,), generator=gen).tolist()
            loss_sum = correct = 0.0
            bar = _progress(range(steps), progress, desc=f"adv-train {epoch + 1}/{epochs}")
            for step in bar:
                idx = perm[step * batch_size : (step + 1) * batch_size]
                x, y, grid = images[idx], labels[idx], grids[picks[step]]
                if grid != native:
                    x = resize(x, grid, method=method, clamp=domain)
                counts[str(names[picks[step]])] += 1
                if isinstance(getattr(attack, "seed", None), int):
                    attack.seed = seed + batch_no  # type: ignore[attr-defined]
                batch_no += 1
                x_adv = attack(x, y).detach()
                model.train()
                logits = model(x_adv)
                loss = F.cross_entropy(logits, y)
                if clean_weight > 0:
                    loss = (1 - clean_weight) * loss + clean_weight * F.cross_entropy(model(x), y)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                if sched is not None:
                    sched.step()
                loss_sum += loss.item() * len(idx)
                correct += float((logits.argmax(1) == y).sum())
                bar.set_postfix(loss=f"{loss_sum / min(len(images), (step + 1) * batch_size):.3f}")
            history["epoch"].append(epoch + 1)
            history["loss"].append(loss_sum / len(images))
            history["adv_accuracy"].append(correct / len(images))
            if val_images is not None:
                history["val_accuracy"].append(_accuracy(model, val_images, val_labels, dev))
            history["seconds"].append(time.perf_counter() - start)
    model.eval()
    history.update(
        batches_per_resolution=counts,
        parameters=count_parameters(model),
        train_seconds=time.perf_counter() - start,
        resolutions=names,
        method=method,
        epochs=epochs,
        batch_size=batch_size,
        seed=seed,
        clean_weight=clean_weight,
        optimizer=type(optimizer).__name__,
    )
    return history
