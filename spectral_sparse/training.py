"""Training classifiers at one or several resolutions, and evaluating them across resolutions.

* :func:`train_classifier`: Adam with a one-cycle learning-rate schedule and
  cross-entropy; each batch is resized (by default with the exact Fourier
  method) to a resolution drawn for that batch, so one call trains at a single
  grid or on mixed-resolution batches. With ``attack=`` it trains on
  adversarial examples crafted on the fly (the loop behind
  :func:`spectral_sparse.attacks.adversarial_train`).
  Under a :mod:`torch.distributed` process group (e.g. launched with
  ``torchrun``, see :mod:`spectral_sparse.distributed`) it trains data-parallel
  with :class:`~torch.nn.parallel.DistributedDataParallel`.
* :func:`evaluate_resolutions` (from :mod:`spectral_sparse.evaluation`, re-exported here):
  accuracy of a model on a test set put on many grids.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import distributed as dist
from .data.transforms import resize
from .evaluation import (
    EVAL_MODES,
    Resolution,
    _grid,
    _progress,
    check_labeled_images,
    evaluate_resolutions,
    resolution_name,
)
from .models.classifier import count_parameters

__all__ = ["EVAL_MODES", "evaluate_resolutions", "resolution_name", "train_classifier"]


#: ``factory(model) -> attack``; the attack is called as ``attack(images, labels) -> adversarial images``.
AttackFactory = Callable[[nn.Module], Callable[[Tensor, Tensor], Tensor]]


@contextmanager
def _flush_denormal(enabled: bool):  # type: ignore[no-untyped-def]
    # once the loss is tiny, Adam's second moments underflow into denormals, which are ~10x slower on CPU
    active = bool(enabled) and torch.set_flush_denormal(True)
    try:
        yield active
    finally:
        if active:
            torch.set_flush_denormal(False)


@torch.no_grad()
def _accuracy(model: nn.Module, images: Tensor, labels: Tensor, device: torch.device, batch_size: int = 500) -> float:
    # no_grad, not predict()'s inference_mode: backends may cache tensors made here and reuse them in training
    model.eval()
    pred = torch.cat(
        [model(images[i : i + batch_size].to(device)).argmax(1).cpu() for i in range(0, len(images), batch_size)]
    )
    return float((pred == labels.cpu()).float().mean())


def train_classifier(
    model: nn.Module,
    images: Tensor,
    labels: Tensor,
    *,
    resolutions: Sequence[Resolution] | None = None,
    method: str = "fourier",
    epochs: int = 5,
    batch_size: int = 64,
    lr: float = 3e-3,
    weight_decay: float = 0.0,
    seed: int = 0,
    device: str | torch.device | None = None,
    val_images: Tensor | None = None,
    val_labels: Tensor | None = None,
    flush_denormal: bool = True,
    progress: bool = True,
    optimizer: torch.optim.Optimizer | Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    schedule: Literal["onecycle", "constant", "none"] = "onecycle",
    callback: Callable[[int], Any] | None = None,
    attack: AttackFactory | None = None,
    clean_weight: float = 0.0,
    domain: tuple[float, float] | None = None,
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None,
) -> dict[str, Any]:
    """Train a classifier with cross-entropy (Adam and a one-cycle schedule by default), at one or several resolutions.

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, C, H, W)`` to logits ``(B, num_classes)``; trained in place.
    images : Tensor, shape (n, C, H, W), real floating
        Training images at their native grid (e.g. 28x28 for MNIST).
    labels : LongTensor, shape (n,)
    resolutions : sequence of int or (H, W), optional
        Training grids. For each batch one is drawn uniformly (from a generator
        seeded with ``seed``) and the batch is resized to it with ``method``
        (no resize when it already has that grid). One entry: single-resolution
        training; ``None`` (default): the images' own grid, e.g. ``(28,)`` for MNIST.
    method : str
        Resize method, see :func:`spectral_sparse.data.resize` (default
        ``"fourier"``, exact trigonometric interpolation).
    epochs, batch_size : int
    lr : float
        Peak learning rate of :class:`torch.optim.lr_scheduler.OneCycleLR`.
    weight_decay : float
        Adam's (L2) weight decay.
    seed : int
        Seeds the batch order and the resolution draws (not the model's
        initialisation, which happens before this call).
    device : str or torch.device, optional
        Where to train (the model is moved there); default: the device of the
        model's parameters.
    val_images, val_labels : Tensor, optional
        When given, the accuracy on them (at their own grid) is recorded after
        every epoch.
    flush_denormal : bool
        Flush denormal floats to zero during training (large CPU speed-up once
        the loss is small); restored afterwards.
    progress : bool
        Show a tqdm progress bar per epoch.
    optimizer : torch.optim.Optimizer or callable, optional
        The optimizer, or a factory ``model -> optimizer`` called after the
        model is moved to ``device`` (e.g. a sparse Bregman optimizer from
        :mod:`spectral_sparse.optim`); default ``Adam(lr, weight_decay)``.
    schedule : {"onecycle", "constant", "none"}
        Learning-rate schedule: one-cycle with peak ``lr`` (momentum cycled when
        the optimizer has ``betas`` or ``momentum``), ``lr`` throughout, or none
        (the optimizer's own learning rates are left untouched).
    callback : callable, optional
        Called as ``callback(step)`` after every optimizer step (``step`` counts
        from 1), e.g. a :class:`~spectral_sparse.optim.SparsityController`.
    attack : callable, optional
        Adversarial training: a factory ``attack(model) -> atk``, called once
        with the *unwrapped* model (after it is moved to ``device``); every
        batch (after resizing) is replaced by ``atk(x, y)`` before the
        optimizer step (e.g. ``lambda m: PGD(m, 0.1, 0.025, 7)``, ``FourierPGD``
        or a torchattacks attack). If ``atk`` has an integer ``seed`` attribute
        it is set to ``seed + W * batch + rank`` before each batch (``batch``
        counts over epochs from 0; ``seed + batch`` in one process), so random
        starts differ between batches and ranks.
    clean_weight : float in [0, 1]
        With ``attack``: loss ``(1 - w) CE(adversarial) + w CE(clean)``.
    domain : (lo, hi), optional
        Value range of the images: resized batches are clamped to it (the
        Fourier method rings past the range). Default ``None``: no clamping.
    loss_fn : callable, optional
        ``loss_fn(logits, labels, inputs) -> scalar`` replacing cross-entropy
        (``inputs`` is the batch the model saw, adversarial with ``attack``),
        e.g. :func:`spectral_sparse.prune.distillation_loss`.

    Notes
    -----
    **Data-parallel training.** When a :mod:`torch.distributed` process group
    with ``W > 1`` ranks is initialised (:func:`spectral_sparse.distributed.init_from_env`),
    the model is wrapped in :class:`~torch.nn.parallel.DistributedDataParallel`
    (which broadcasts rank 0's weights first and averages gradients, complex
    ones included, after every backward). Every rank draws the same seeded
    permutation, pads it to a multiple of ``W`` by repeating its start (as
    :class:`~torch.utils.data.DistributedSampler` does) and takes every ``W``-th
    index from its rank on; ``batch_size`` is per rank, so a step sees
    ``W * batch_size`` images: the same images, in the same order, as a single
    process with batch ``W * batch_size``. The per-batch resolution draws are the
    same on all ranks, so all ranks run the same grid in a step. The optimizer
    (built from the unwrapped model) and ``callback`` see identical weights on
    every rank, because the averaged gradients and the updates are identical.
    ``loss`` and ``train_accuracy`` are summed over the ranks (over the padded
    permutation); ``val_accuracy`` is computed on every rank (identical
    weights, identical result); only rank 0 shows progress bars. Without a
    process group (or with ``W == 1``) nothing changes.

    With ``attack``, each rank attacks its own shard of the batch on the
    unwrapped model (never through DDP), before ``zero_grad``: the attack's
    input gradients trigger no gradient all-reduce; only the training
    backward does. (The attacks of :mod:`spectral_sparse.attacks` take
    gradients with respect to the input only.)

    Returns
    -------
    dict
        ``epoch``, ``loss``, ``train_accuracy``, ``seconds`` (cumulative) and, with
        a validation set, ``val_accuracy``: one entry per epoch; ``batches_per_resolution``
        (how many batches each grid got), ``parameters``, ``train_seconds``,
        ``resolutions``, ``method``, ``epochs``, ``batch_size``, ``lr``, ``seed``,
        ``optimizer``, ``schedule``, ``world_size`` (ranks; ``batch_size`` is per rank),
        ``steps`` (optimizer steps taken, the same on every rank). With ``attack``:
        ``adv_accuracy`` (accuracy on the adversarial batches) instead of
        ``train_accuracy``, and ``attack`` (class name), ``clean_weight``, ``domain``.

    Raises
    ------
    ValueError
        Mismatched images and labels, an empty set, no resolutions, bad
        ``epochs``/``batch_size``/``lr``/``clean_weight``/``domain``, or
        ``clean_weight > 0`` without ``attack``.
    TypeError
        ``attack`` not callable, or not returning a callable attack.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.data import make_shapes
    >>> from spectral_sparse.models import SpectralClassifier
    >>> x, y = make_shapes(64, 24, seed=0)
    >>> model = SpectralClassifier(1, 6, width=8, modes=3, depth=1)
    >>> h = train_classifier(model, x, y, resolutions=(20, 24), epochs=1, batch_size=32, progress=False)
    >>> len(h["loss"]), sum(h["batches_per_resolution"].values())
    (1, 2)
    """
    check_labeled_images(images, labels)
    if resolutions is None:
        resolutions = [tuple(images.shape[-2:])]
    grids = [_grid(r, "resolutions entry") for r in resolutions]
    if not grids:
        raise ValueError("resolutions is empty; give at least one training grid")
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{name} must be a positive int, got {value!r}")
    if not (lr > 0 and math.isfinite(lr)):
        raise ValueError(f"lr must be a positive number, got {lr!r}")
    if (val_images is None) != (val_labels is None):
        raise ValueError("give both val_images and val_labels, or neither")
    if schedule not in ("onecycle", "constant", "none"):
        raise ValueError(f"schedule must be 'onecycle', 'constant' or 'none', got {schedule!r}")
    if attack is not None and not callable(attack):
        raise TypeError(
            f"attack must be a factory attack(model) -> attack(images, labels), got {type(attack).__name__}"
        )
    if not 0.0 <= clean_weight <= 1.0:
        raise ValueError(f"clean_weight must be in [0, 1], got {clean_weight!r}")
    if loss_fn is not None and not callable(loss_fn):
        raise TypeError(f"loss_fn must be callable as loss_fn(logits, labels, inputs), got {type(loss_fn).__name__}")
    criterion = loss_fn or (lambda logits, y, _x: F.cross_entropy(logits, y))
    if clean_weight > 0 and attack is None:
        raise ValueError("clean_weight mixes clean and adversarial losses; it needs an attack")
    if domain is not None:
        from .attacks.gradient import check_domain  # lazily: spectral_sparse.attacks imports this module

        domain = check_domain(domain)

    if device is not None:
        model.to(device)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    images, labels = images.to(dev), labels.to(dev)
    atk = attack(model) if attack is not None else None  # the unwrapped model: attacks never go through DDP
    if attack is not None and not callable(atk):
        raise TypeError(f"attack(model) must return a callable attack, got {type(atk).__name__}")
    gen = torch.Generator().manual_seed(seed)
    world, rank = dist.world(), dist.rank()
    net: nn.Module = model
    if world > 1:  # before the optimizer: DDP broadcasts rank 0's weights, which optimizer state may copy
        ids = [dev] if dev.type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=ids)
        progress = progress and rank == 0
    opt = _make_optimizer(optimizer, model, lr, weight_decay)
    per_rank = math.ceil(len(images) / world)  # shard length (the permutation padded to world * per_rank)
    steps = math.ceil(per_rank / batch_size)
    sched = _make_schedule(schedule, opt, lr, epochs * steps)
    native = tuple(images.shape[-2:])
    names = [resolution_name(g) for g in grids]
    acc_key = "train_accuracy" if atk is None else "adv_accuracy"
    history: dict[str, Any] = {"epoch": [], "loss": [], acc_key: [], "seconds": []}
    if val_images is not None:
        history["val_accuracy"] = []
    counts = {str(n): 0 for n in names}
    desc = "train" if atk is None else "adv-train"

    start = time.perf_counter()
    with _flush_denormal(flush_denormal):
        for epoch in range(epochs):
            net.train()
            perm = torch.randperm(len(images), generator=gen).to(dev)
            picks = torch.randint(len(grids), (steps,), generator=gen).tolist()
            if world > 1:
                perm = perm.repeat(math.ceil(world * per_rank / len(perm)))[: world * per_rank][rank::world]
            loss_sum = correct = 0.0
            bar = _progress(range(steps), progress, desc=f"{desc} {epoch + 1}/{epochs}")
            for step in bar:
                idx = perm[step * batch_size : (step + 1) * batch_size]
                x, y, grid = images[idx], labels[idx], grids[picks[step]]
                if grid != native:
                    x = resize(x, grid, method=method, clamp=domain)
                counts[str(names[picks[step]])] += 1
                x_fit = x
                if atk is not None:  # before zero_grad and outside DDP: no gradient all-reduce for the attack
                    if isinstance(getattr(atk, "seed", None), int):
                        atk.seed = seed + world * (epoch * steps + step) + rank  # type: ignore[attr-defined]
                    x_fit = atk(x, y).detach()
                    net.train()  # in case the attack changed the mode
                logits = net(x_fit)
                loss = criterion(logits, y, x_fit)
                if clean_weight > 0:
                    loss = (1 - clean_weight) * loss + clean_weight * criterion(net(x), y, x)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                if callback is not None:
                    callback(epoch * steps + step + 1)
                loss_sum += loss.item() * len(idx)
                correct += float((logits.argmax(1) == y).sum())
                bar.set_postfix(loss=f"{loss_sum / min(len(perm), (step + 1) * batch_size):.3f}")
            seen = len(images)
            if world > 1:
                loss_sum, correct, seen = dist.sum_all([loss_sum, correct, float(len(perm))])
            history["epoch"].append(epoch + 1)
            history["loss"].append(loss_sum / seen)
            history[acc_key].append(correct / seen)
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
        lr=lr,
        seed=seed,
        optimizer=type(opt).__name__,
        schedule=schedule,
        world_size=world,
        steps=epochs * steps,
    )
    if atk is not None:
        history.update(attack=type(atk).__name__, clean_weight=clean_weight, domain=domain)
    return history


def _make_optimizer(
    optimizer: torch.optim.Optimizer | Callable[[nn.Module], torch.optim.Optimizer] | None,
    model: nn.Module,
    lr: float,
    weight_decay: float,
) -> torch.optim.Optimizer:
    if optimizer is None:
        return torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay)
    opt = optimizer if isinstance(optimizer, torch.optim.Optimizer) else optimizer(model)
    if not isinstance(opt, torch.optim.Optimizer):
        raise TypeError(f"optimizer must be a torch.optim.Optimizer or a factory returning one, got {type(opt)}")
    return opt


def _make_schedule(
    schedule: str, opt: torch.optim.Optimizer, lr: float, total_steps: int
) -> torch.optim.lr_scheduler.LRScheduler | None:
    if schedule == "none":
        return None
    if schedule == "constant":
        for group in opt.param_groups:
            group["lr"] = lr
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda _: 1.0)
    cycle = any("betas" in g or "momentum" in g for g in opt.param_groups)
    if cycle and any("momentum" in g and not g["momentum"] for g in opt.param_groups):
        cycle = False  # SGD-style optimizers without momentum cannot cycle it
    return torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=total_steps, cycle_momentum=cycle)
