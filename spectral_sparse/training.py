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
from dataclasses import dataclass, fields
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import distributed as dist
from ._checks import count_parameters, grid_shape, positive_int
from ._checks import progress as _progress
from .data.transforms import resize
from .evaluation import EVAL_MODES, Resolution, check_labeled_images, evaluate_resolutions, resolution_name

__all__ = [
    "EVAL_MODES",
    "AdversarialBatches",
    "FitState",
    "Hook",
    "StepCallback",
    "TrainConfig",
    "Validation",
    "evaluate_resolutions",
    "fit",
    "fit_arguments",
    "resolution_name",
    "train_classifier",
]


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


@dataclass
class TrainConfig:
    """The plain settings of one training run of :func:`fit` (what :func:`train_classifier` takes by keyword).

    Attributes
    ----------
    resolutions : sequence of int or (H, W), optional
        Training grids, one drawn per batch (seeded); ``None``: the images' own grid.
    method : str
        Resize method of :func:`spectral_sparse.data.resize` (default ``"fourier"``).
    epochs, batch_size : int
        ``batch_size`` is per rank under a process group.
    lr : float
        Peak (one-cycle) or constant learning rate, and the default Adam's.
    weight_decay : float
        The default Adam's L2 weight decay.
    seed : int
        Seeds the batch order, the resolution draws and the attacks' seeds.
    device : str or torch.device, optional
        Where to train (default: where the model's parameters are).
    flush_denormal : bool
        Flush denormal floats to zero while training (CPU speed-up).
    progress : bool
        A tqdm bar per epoch (rank 0 only).
    schedule : {"onecycle", "constant", "none"}
        Learning-rate schedule (see :func:`train_classifier`).
    clean_weight : float in [0, 1]
        With an attack: loss ``(1 - w) L(adversarial) + w L(clean)``.
    domain : (lo, hi), optional
        Value range: resized batches are clamped to it.

    Examples
    --------
    >>> TrainConfig(epochs=2, lr=1e-2).batch_size
    64
    """

    resolutions: Sequence[Resolution] | None = None
    method: str = "fourier"
    epochs: int = 5
    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 0.0
    seed: int = 0
    device: str | torch.device | None = None
    flush_denormal: bool = True
    progress: bool = True
    schedule: Literal["onecycle", "constant", "none"] = "onecycle"
    clean_weight: float = 0.0
    domain: tuple[float, float] | None = None


@dataclass
class FitState:
    """What a :class:`Hook` sees: the run so far (``fit`` updates it in place).

    ``model`` is the unwrapped model, ``net`` what is trained (DDP-wrapped under
    a process group); ``step`` counts optimizer steps from 1 over the epochs,
    ``epoch`` from 0, ``batch`` within the epoch from 0. In a batch, ``images``/
    ``labels`` are the (resized) batch and ``inputs`` what the model is trained
    on (``on_batch`` hooks may replace it, e.g. with adversarial examples);
    after the step ``logits`` and ``loss`` are set. ``history`` is the dict
    ``fit`` returns.
    """

    model: nn.Module
    net: nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    config: TrainConfig
    device: torch.device
    history: dict[str, Any]
    steps_per_epoch: int
    world: int = 1
    rank: int = 0
    epoch: int = 0
    batch: int = 0
    step: int = 0
    images: Tensor | None = None
    labels: Tensor | None = None
    inputs: Tensor | None = None
    logits: Tensor | None = None
    loss: Tensor | None = None


class Hook:
    """A callback of :func:`fit`; override any of the methods (each gets the :class:`FitState`).

    ``setup(model)`` runs once before anything is built (the model is on its
    device, unwrapped); then ``on_fit_start`` (optimizer, schedule and history
    made), per batch ``on_batch`` (before the forward; may set ``state.inputs``)
    and ``on_step_end`` (after the optimizer and schedule steps), per epoch
    ``on_epoch_end`` (after the epoch's loss and accuracy are recorded), and
    ``on_fit_end`` (the model in eval mode, before ``fit`` returns).

    Examples
    --------
    >>> class CountSteps(Hook):
    ...     n = 0
    ...     def on_step_end(self, state):
    ...         self.n = state.step
    >>> CountSteps().n
    0
    """

    def setup(self, model: nn.Module) -> None:
        """Before the run (model unwrapped, on its device)."""

    def on_fit_start(self, state: FitState) -> None:
        """After the optimizer, schedule and history are made."""

    def on_batch(self, state: FitState) -> None:
        """Before the forward of a batch; may replace ``state.inputs``."""

    def on_step_end(self, state: FitState) -> None:
        """After the optimizer (and schedule) step."""

    def on_epoch_end(self, state: FitState) -> None:
        """After the epoch's entries of the history."""

    def on_fit_end(self, state: FitState) -> None:
        """After training, before ``fit`` returns."""


class StepCallback(Hook):
    """``fn(step)`` after every optimizer step (``step`` from 1), e.g. a sparsity controller's ``step``."""

    def __init__(self, fn: Callable[[int], Any]) -> None:
        if not callable(fn):
            raise TypeError(f"callback must be callable as callback(step), got {type(fn).__name__}")
        self.fn = fn

    def on_step_end(self, state: FitState) -> None:
        self.fn(state.step)


class Validation(Hook):
    """Accuracy on ``(images, labels)`` at their own grid after every epoch, as ``history["val_accuracy"]``."""

    def __init__(self, images: Tensor, labels: Tensor) -> None:
        self.images, self.labels = images, labels

    def on_fit_start(self, state: FitState) -> None:
        state.history["val_accuracy"] = []

    def on_epoch_end(self, state: FitState) -> None:
        state.history["val_accuracy"].append(_accuracy(state.model, self.images, self.labels, state.device))


class AdversarialBatches(Hook):
    """Train on ``attack(model)(x, y)`` instead of each batch: the attack of :func:`fit`'s ``attack=``.

    The attack is built once, on the unwrapped model (never through DDP), and
    runs before ``zero_grad``, so its input gradients trigger no gradient
    all-reduce. If it has an integer ``seed`` attribute, it is set to
    ``seed + W * step_index + rank`` before each batch.
    """

    def __init__(self, factory: AttackFactory) -> None:
        if not callable(factory):
            raise TypeError(
                f"attack must be a factory attack(model) -> attack(images, labels), got {type(factory).__name__}"
            )
        self.factory, self.attack = factory, None

    def setup(self, model: nn.Module) -> None:
        atk = self.factory(model)
        if not callable(atk):
            raise TypeError(f"attack(model) must return a callable attack, got {type(atk).__name__}")
        self.attack = atk

    def on_batch(self, state: FitState) -> None:
        atk = self.attack
        if isinstance(getattr(atk, "seed", None), int):
            index = state.epoch * state.steps_per_epoch + state.batch
            atk.seed = state.config.seed + state.world * index + state.rank  # type: ignore[union-attr]
        state.inputs = atk(state.images, state.labels).detach()  # type: ignore[misc]
        state.net.train()  # in case the attack changed the mode

    def on_fit_end(self, state: FitState) -> None:
        cfg = state.config
        state.history.update(attack=type(self.attack).__name__, clean_weight=cfg.clean_weight, domain=cfg.domain)


def _check_config(config: TrainConfig, images: Tensor) -> tuple[list[tuple[int, int]], tuple[float, float] | None]:
    """The training grids and the checked domain; ValueError naming the bad setting."""
    resolutions = config.resolutions
    if resolutions is None:
        resolutions = [tuple(images.shape[-2:])]
    grids = [grid_shape(r, 2, "resolutions entry") for r in resolutions]
    if not grids:
        raise ValueError("resolutions is empty; give at least one training grid")
    positive_int(config.epochs, "epochs")
    positive_int(config.batch_size, "batch_size")
    if not (config.lr > 0 and math.isfinite(config.lr)):
        raise ValueError(f"lr must be a positive number, got {config.lr!r}")
    if config.schedule not in ("onecycle", "constant", "none"):
        raise ValueError(f"schedule must be 'onecycle', 'constant' or 'none', got {config.schedule!r}")
    if not 0.0 <= config.clean_weight <= 1.0:
        raise ValueError(f"clean_weight must be in [0, 1], got {config.clean_weight!r}")
    domain = config.domain
    if domain is not None:
        from .attacks.gradient import check_domain  # lazily: spectral_sparse.attacks imports this module

        domain = check_domain(domain)
    return grids, domain


def fit(
    model: nn.Module,
    data: tuple[Tensor, Tensor],
    config: TrainConfig | None = None,
    *,
    loss: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None,
    attack: AttackFactory | None = None,
    optimizer: torch.optim.Optimizer | Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    hooks: Sequence[Hook] = (),
) -> dict[str, Any]:
    """The training loop: seeded batches resized to a drawn grid, one optimizer step each, hooks around it.

    :func:`train_classifier`, :func:`~spectral_sparse.attacks.adversarial_train`
    and :func:`~spectral_sparse.prune.fine_tune` are front ends to this loop.

    Parameters
    ----------
    model : nn.Module
        Maps ``(B, C, H, W)`` to logits ``(B, num_classes)``; trained in place, left in eval mode.
    data : (images, labels)
        ``images`` of shape ``(n, C, H, W)`` (real floating) at their native grid, ``labels`` ``(n,)``.
    config : TrainConfig, optional
        The settings (default ``TrainConfig()``).
    loss : callable, optional
        ``loss(logits, labels, inputs) -> scalar`` (``inputs``: the batch the
        model saw); default cross-entropy.
    attack : callable, optional
        ``attack(model) -> atk``: trains on ``atk(x, y)`` (an :class:`AdversarialBatches` hook, run first).
    optimizer : torch.optim.Optimizer or callable, optional
        The optimizer or a factory ``model -> optimizer`` (called on the unwrapped
        model on its device); default ``Adam(lr, weight_decay)``.
    hooks : sequence of Hook
        Callbacks, called in order (see :class:`Hook`).

    Returns
    -------
    dict
        The history described in :func:`train_classifier`.

    Raises
    ------
    ValueError, TypeError
        As :func:`train_classifier`, naming the bad argument or setting.

    Examples
    --------
    >>> from spectral_sparse.data import make_shapes
    >>> from spectral_sparse.models import SpectralClassifier
    >>> x, y = make_shapes(32, 16, seed=0)
    >>> model = SpectralClassifier(1, 6, width=4, modes=2, depth=1)
    >>> steps = []
    >>> h = fit(model, (x, y), TrainConfig(epochs=1, batch_size=16, progress=False),
    ...         hooks=[StepCallback(steps.append)])
    >>> steps, h["steps"]
    ([1, 2], 2)
    """
    config = TrainConfig() if config is None else config
    if not isinstance(config, TrainConfig):
        raise TypeError(f"config must be a TrainConfig, got {type(config).__name__}")
    images, labels = data
    check_labeled_images(images, labels)
    grids, domain = _check_config(config, images)
    adversarial = AdversarialBatches(attack) if attack is not None else None
    if loss is not None and not callable(loss):
        raise TypeError(f"loss_fn must be callable as loss_fn(logits, labels, inputs), got {type(loss).__name__}")
    criterion = loss or (lambda logits, y, _x: F.cross_entropy(logits, y))
    if config.clean_weight > 0 and attack is None:
        raise ValueError("clean_weight mixes clean and adversarial losses; it needs an attack")
    for hook in hooks:
        if not isinstance(hook, Hook):
            raise TypeError(f"hooks must be Hook instances, got {type(hook).__name__}")
    hooks = [adversarial, *hooks] if adversarial is not None else list(hooks)
    cfg = config
    if cfg.device is not None:
        model.to(cfg.device)
    dev = next((p.device for p in model.parameters()), torch.device("cpu"))
    images, labels = images.to(dev), labels.to(dev)
    for hook in hooks:
        hook.setup(model)
    gen = torch.Generator().manual_seed(cfg.seed)
    world, rank = dist.world(), dist.rank()
    net = dist.wrap(model)  # before the optimizer: DDP broadcasts rank 0's weights, which optimizer state may copy
    progress = cfg.progress and rank == 0
    opt = _make_optimizer(optimizer, model, cfg.lr, cfg.weight_decay)
    per_rank = math.ceil(len(images) / world)  # shard length (the permutation padded to world * per_rank)
    steps = math.ceil(per_rank / cfg.batch_size)
    sched = _make_schedule(cfg.schedule, opt, cfg.lr, cfg.epochs * steps)
    native = tuple(images.shape[-2:])
    names = [resolution_name(g) for g in grids]
    acc_key = "train_accuracy" if adversarial is None else "adv_accuracy"
    history: dict[str, Any] = {"epoch": [], "loss": [], acc_key: [], "seconds": []}
    state = FitState(model, net, opt, sched, cfg, dev, history, steps, world, rank)
    for hook in hooks:
        hook.on_fit_start(state)
    counts = {str(n): 0 for n in names}
    desc = "train" if adversarial is None else "adv-train"
    clean_weight, batch_size = cfg.clean_weight, cfg.batch_size

    start = time.perf_counter()
    with _flush_denormal(cfg.flush_denormal):
        for epoch in range(cfg.epochs):
            state.epoch = epoch
            net.train()
            perm = torch.randperm(len(images), generator=gen).to(dev)
            picks = torch.randint(len(grids), (steps,), generator=gen).tolist()
            perm = dist.shard(perm, per_rank)
            loss_sum = correct = 0.0
            bar = _progress(range(steps), progress, desc=f"{desc} {epoch + 1}/{cfg.epochs}")
            for step in bar:
                idx = perm[step * batch_size : (step + 1) * batch_size]
                x, y, grid = images[idx], labels[idx], grids[picks[step]]
                if grid != native:
                    x = resize(x, grid, method=cfg.method, clamp=domain)
                counts[str(names[picks[step]])] += 1
                state.batch, state.images, state.labels, state.inputs = step, x, y, x
                for hook in hooks:
                    hook.on_batch(state)
                x_fit = state.inputs
                logits = net(x_fit)
                loss_value = criterion(logits, y, x_fit)
                if clean_weight > 0:
                    loss_value = (1 - clean_weight) * loss_value + clean_weight * criterion(net(x), y, x)
                opt.zero_grad(set_to_none=True)
                loss_value.backward()
                opt.step()
                if sched is not None:
                    sched.step()
                state.step, state.logits, state.loss = epoch * steps + step + 1, logits, loss_value
                for hook in hooks:
                    hook.on_step_end(state)
                loss_sum += loss_value.item() * len(idx)
                correct += float((logits.argmax(1) == y).sum())
                bar.set_postfix(loss=f"{loss_sum / min(len(perm), (step + 1) * batch_size):.3f}")
            seen = len(images)
            if world > 1:
                loss_sum, correct, seen = dist.sum_all([loss_sum, correct, float(len(perm))])
            history["epoch"].append(epoch + 1)
            history["loss"].append(loss_sum / seen)
            history[acc_key].append(correct / seen)
            for hook in hooks:
                hook.on_epoch_end(state)
            history["seconds"].append(time.perf_counter() - start)
    state.images = state.labels = state.inputs = state.logits = state.loss = None
    model.eval()
    history.update(
        batches_per_resolution=counts,
        parameters=count_parameters(model),
        train_seconds=time.perf_counter() - start,
        resolutions=names,
        method=cfg.method,
        epochs=cfg.epochs,
        batch_size=batch_size,
        lr=cfg.lr,
        seed=cfg.seed,
        optimizer=type(opt).__name__,
        schedule=cfg.schedule,
        world_size=world,
        steps=cfg.epochs * steps,
    )
    for hook in hooks:
        hook.on_fit_end(state)
    return history


_CONFIG_FIELDS = {f.name for f in fields(TrainConfig)}


def fit_arguments(
    *,
    val_images: Tensor | None = None,
    val_labels: Tensor | None = None,
    callback: Callable[[int], Any] | None = None,
    loss_fn: Callable[[Tensor, Tensor, Tensor], Tensor] | None = None,
    attack: AttackFactory | None = None,
    optimizer: torch.optim.Optimizer | Callable[[nn.Module], torch.optim.Optimizer] | None = None,
    **settings: Any,
) -> tuple[TrainConfig, dict[str, Any]]:
    """:func:`train_classifier`'s keyword arguments as ``(config, fit's keyword arguments)``.

    Raises TypeError for a keyword :func:`train_classifier` does not take.

    Examples
    --------
    >>> config, kw = fit_arguments(epochs=2, loss_fn=None, callback=print)
    >>> config.epochs, type(kw["hooks"][0]).__name__
    (2, 'StepCallback')
    """
    unknown = sorted(set(settings) - _CONFIG_FIELDS)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s) for train_classifier: {', '.join(unknown)}")
    if (val_images is None) != (val_labels is None):
        raise ValueError("give both val_images and val_labels, or neither")
    hooks: list[Hook] = []
    if val_images is not None:
        hooks.append(Validation(val_images, val_labels))  # type: ignore[arg-type]
    if callback is not None:
        hooks.append(StepCallback(callback))
    return TrainConfig(**settings), {"loss": loss_fn, "attack": attack, "optimizer": optimizer, "hooks": hooks}


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
    A thin front end to :func:`fit`: the options become a :class:`TrainConfig`,
    ``val_images``/``val_labels`` a :class:`Validation` hook, ``callback`` a
    :class:`StepCallback` hook, ``loss_fn`` fit's ``loss`` (see :func:`fit_arguments`).

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
    config, kwargs = fit_arguments(
        resolutions=resolutions,
        method=method,
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        weight_decay=weight_decay,
        seed=seed,
        device=device,
        val_images=val_images,
        val_labels=val_labels,
        flush_denormal=flush_denormal,
        progress=progress,
        optimizer=optimizer,
        schedule=schedule,
        callback=callback,
        attack=attack,
        clean_weight=clean_weight,
        domain=domain,
        loss_fn=loss_fn,
    )
    return fit(model, (images, labels), config, **kwargs)


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
