"""Training with deepinv's ``Trainer``, evaluation with deepinv's PSNR and SSIM, baselines, checkpoints.

* :func:`train_reconstructor` — supervised training (``SupLoss`` with MSE) with deepinv's
  ``Trainer``, measurements generated online (fresh noise every batch), Adam; data-parallel
  (DistributedDataParallel) under a :mod:`torch.distributed` process group, e.g. ``torchrun``.
* :func:`measure` — measurements with a fixed noise seed, so that every method sees the same data.
* :func:`evaluate_reconstructor` — mean PSNR / SSIM (deepinv metrics, ``max_pixel=1``) of a
  method ``f(y, physics) -> x_hat``.
* :func:`tv_reconstruction`, :func:`wiener_reconstruction` — classical baselines through deepinv
  (TV-regularised PGD with ``TVPrior``; the Tikhonov/Wiener solution ``physics.prox_l2``).
* :func:`save_reconstructor` / :func:`load_reconstructor` — a plain dict (config, weights,
  metadata) that loads with ``torch.load(weights_only=True)``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from .. import distributed as dist
from .models import build_reconstructor, count_parameters, grid_l2, initial_image

__all__ = [
    "FORMAT",
    "evaluate_reconstructor",
    "load_reconstructor",
    "measure",
    "reconstruct_batched",
    "save_reconstructor",
    "score",
    "train_reconstructor",
    "tv_reconstruction",
    "wiener_reconstruction",
]

#: Tag of inverse-problem checkpoints.
FORMAT = "spectral_sparse.inverse.checkpoint"


#: Tag of the ``state`` dicts of :func:`train_reconstructor`'s ``epoch_callback``.
RESUME_FORMAT = "spectral_sparse.inverse.resume"


class _EpochEndCosine(torch.optim.lr_scheduler.CosineAnnealingLR):
    """Cosine annealing that calls ``on_epoch_end(epochs_done)`` after each step.

    deepinv's ``Trainer`` steps its scheduler once at the end of every epoch and offers no
    other per-epoch hook (its own checkpoints skip epoch 0 and load with pickle).
    """

    on_epoch_end: Callable[[int], None] | None = None

    def step(self, epoch: int | None = None) -> None:  # type: ignore[override]
        super().step(epoch)
        if self.on_epoch_end is not None and self.last_epoch > 0:
            self.on_epoch_end(self.last_epoch)

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in super().state_dict().items() if k != "on_epoch_end"}


def _check_resume_state(state: Any, epochs: int) -> None:
    if not isinstance(state, dict) or state.get("format") != RESUME_FORMAT:
        raise ValueError("resume must be a state passed to epoch_callback by train_reconstructor")
    if state["epochs"] != epochs:
        raise ValueError(f"resume: the interrupted run had epochs={state['epochs']}, this call {epochs}")
    if not 0 < state["epochs_done"] < epochs:
        raise ValueError(f"resume: the state is at epoch {state['epochs_done']} of {epochs}; nothing to continue")


_RESUMABLE: dict[str, type] = {}


def _resumable_trainer() -> type:
    """deepinv's ``Trainer`` that starts from ``resume_state`` (set after construction) when it has one."""
    if "cls" not in _RESUMABLE:
        from deepinv.training import Trainer

        class ResumableTrainer(Trainer):  # type: ignore[misc]
            resume_state: dict[str, Any] | None = None
            restore_rng: Callable[[dict[str, Any]], None] | None = None

            def load_model(self, ckpt_pretrained: Any = None, strict: bool = True) -> Any:
                state = self.resume_state
                if state is None:
                    return super().load_model(ckpt_pretrained, strict)
                self.resume_state = None  # called by setup_train, after it set epoch_start = 0
                self.optimizer.load_state_dict(state["optimizer"])
                self.scheduler.load_state_dict(state["scheduler"])
                self.epoch_start = int(state["epochs_done"])
                if self.restore_rng is not None:
                    self.restore_rng(state)
                return state

        _RESUMABLE["cls"] = ResumableTrainer
    return _RESUMABLE["cls"]


class _Images(torch.utils.data.Dataset):
    """Images as deepinv's ``{"x": image}`` items, optionally under a random flip / quarter turn."""

    def __init__(self, images: Tensor, augment: bool = False) -> None:
        self.images, self.augment = images, augment
        self.square = images.shape[-1] == images.shape[-2]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        x = self.images[i]
        if self.augment and self.square:  # one of the 8 symmetries of the square
            k = int(torch.randint(8, ()))
            x = torch.rot90(x, k % 4, (-2, -1))
            x = x.flip(-1) if k >= 4 else x
        elif self.augment:  # a rectangle keeps only its 4 flips
            k = int(torch.randint(4, ()))
            x = x.flip(-1) if k & 1 else x
            x = x.flip(-2) if k & 2 else x
        return {"x": x}  # deepinv's dict format (its tuple format is deprecated)


#: The sampler of the data-parallel loader (now :class:`spectral_sparse.distributed.EpochSampler`).
_EpochSampler = dist.EpochSampler


def train_reconstructor(
    model: nn.Module,
    physics: Any,
    images: Tensor,
    *,
    epochs: int = 1,
    batch_size: int = 8,
    lr: float = 1e-3,
    seed: int = 0,
    device: str | torch.device = "cpu",
    progress: bool = False,
    grad_clip: float | None = 1.0,
    augment: bool = False,
    epoch_callback: Callable[[int, dict[str, Any]], None] | None = None,
    resume: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Train ``model(y, physics)`` to reconstruct ``images`` from ``physics(images)`` with deepinv's Trainer.

    Parameters
    ----------
    model : nn.Module
        A reconstructor (e.g. from :func:`~spectral_sparse.inverse.build_reconstructor`).
    physics : deepinv physics
        Built at the grid of ``images``.
    images : Tensor, shape (n, C, H, W)
    epochs, batch_size : int
    lr : float
        Adam learning rate, cosine-annealed to 0 over the epochs.
    seed : int
        Shuffling and noise.
    progress : bool
        deepinv's progress bar.
    grad_clip : float, optional
        Clip the gradient norm to this value (``None``: no clipping).
    augment : bool
        Draw each training image under a random symmetry of the square (the 8 flips and
        quarter turns; flips only for non-square images), seeded like the shuffling.
    epoch_callback : callable, optional
        Called as ``epoch_callback(epochs_done, state)`` at the end of every epoch, after the
        scheduler step; ``state`` (tensors and plain types, loadable with
        ``torch.load(weights_only=True)``) is what ``resume`` needs to continue from there,
        with ``model`` in its current state.
    resume : dict, optional
        A ``state`` from ``epoch_callback`` of an interrupted call with the same
        arguments; ``model`` must hold the weights of that epoch. Training continues
        with the next epoch: the optimizer, the schedule, the shuffling and the noise
        generator continue where they were, so in one process the result equals that of
        an uninterrupted call bit for bit (under ``W > 1`` ranks the noise of the
        remaining epochs is reseeded with ``seed + rank + epochs_done``).

    Returns
    -------
    dict
        ``loss`` (mean training loss per epoch), ``steps`` (optimizer steps, the same on every
        rank), ``train_seconds``, ``parameters``, ``world_size``.

    Notes
    -----
    **Data-parallel training.** Under a :mod:`torch.distributed` process group with
    ``W > 1`` ranks (:func:`spectral_sparse.distributed.init_from_env`), the model is
    wrapped in :class:`~torch.nn.parallel.DistributedDataParallel` before the optimizer
    is made (DDP broadcasts rank 0's weights and averages the gradients), and the
    Trainer's loader draws with a :class:`~torch.utils.data.DistributedSampler`
    (``shuffle=True``, ``seed``; a new order every epoch): each rank sees
    ``ceil(n / W)`` images per epoch, ``batch_size`` of them per step. The online
    measurement noise is seeded with ``seed + rank`` (different on every rank,
    reproducible); ``seed`` alone in one process. Only rank 0 shows deepinv's
    progress; ``loss`` is averaged over the ranks, so every rank returns the same
    history. ``model`` itself (not the wrapper) is trained in place and stays
    identical on all ranks.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.inverse import build_reconstructor, make_physics
    >>> physics = make_physics("deblur", 16)
    >>> model = build_reconstructor({"arch": "spectral", "width": 4, "modes": 2, "depth": 1})
    >>> len(train_reconstructor(model, physics, torch.rand(4, 1, 16, 16), batch_size=2)["loss"])
    1
    """
    from deepinv.loss import MSE, SupLoss
    from deepinv.loss.metric import PSNR

    if not isinstance(images, Tensor) or images.ndim != 4:
        raise ValueError(f"images must be a (n, C, H, W) tensor, got {getattr(images, 'shape', type(images))}")
    grid = tuple(getattr(physics, "grid", images.shape[-2:]))
    if tuple(images.shape[-2:]) != grid:
        raise ValueError(f"images are {tuple(images.shape[-2:])} but the physics is built for {grid}")
    world, rank = dist.world(), dist.rank()
    torch.manual_seed(seed + rank)  # the online noise: different on every rank, reproducible
    data = _Images(images, augment)
    if world > 1:
        sampler = _EpochSampler(data, num_replicas=world, rank=rank, shuffle=True, seed=seed)
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, sampler=sampler)
    else:
        gen = torch.Generator().manual_seed(seed)
        loader = torch.utils.data.DataLoader(data, batch_size=batch_size, shuffle=True, generator=gen)
    model.to(device)
    net = dist.wrap(model)  # before the optimizer: DDP broadcasts rank 0's weights
    progress = progress and rank == 0
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=lr)
    scheduler = _EpochEndCosine(optimizer, T_max=max(1, epochs))
    prior_loss: list[float] = []
    prior_seconds = 0.0
    if resume is not None:
        _check_resume_state(resume, epochs)
        prior_loss, prior_seconds = [float(v) for v in resume["loss"]], float(resume["train_seconds"])
    t0 = time.perf_counter()

    def state(done: int, trainer: Any) -> dict[str, Any]:
        loss = [float(v) for v in next(iter(trainer.loss_history.values()), [])]
        return {
            "format": RESUME_FORMAT,
            "epochs_done": done,
            "epochs": epochs,
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "loader_rng": gen.get_state() if world == 1 else None,
            "torch_rng": torch.get_rng_state(),
            "loss": prior_loss + loss,
            "train_seconds": prior_seconds + time.perf_counter() - t0,
        }

    trainer = _resumable_trainer()(
        model=net,
        physics=physics,
        optimizer=optimizer,
        scheduler=scheduler,
        train_dataloader=loader,
        epochs=epochs,
        losses=SupLoss(metric=MSE()),
        metrics=PSNR(),
        online_measurements=True,
        device=device,
        non_blocking_transfers=torch.device(device).type == "cuda",
        save_path=None,
        compute_train_metrics=False,
        grad_clip=grad_clip,
        # deepinv 0.5 reads its gradient-norm meter whenever grad_clip is set, but creates it only with check_grad
        check_grad=grad_clip is not None,
        verbose=progress,
        show_progress_bar=progress,
        plot_images=False,
    )
    if resume is not None:

        def restore_rng(saved: dict[str, Any]) -> None:
            done = int(saved["epochs_done"])
            if world > 1:
                torch.manual_seed(seed + rank + done)
                sampler.set_epoch(done)
            else:
                gen.set_state(saved["loader_rng"])
                torch.set_rng_state(saved["torch_rng"])

        trainer.resume_state, trainer.restore_rng = resume, restore_rng
    if epoch_callback is not None:
        scheduler.on_epoch_end = lambda done: epoch_callback(done, state(done, trainer))
    trainer.train()
    seconds = prior_seconds + time.perf_counter() - t0
    model.eval()
    loss = prior_loss + [float(v) for v in next(iter(trainer.loss_history.values()), [])]
    if world > 1:  # every rank averaged over the same number of (padded) samples
        loss = [v / world for v in dist.sum_all(loss)]
    return {
        "loss": loss,
        "steps": epochs * len(loader),
        "train_seconds": seconds,
        "parameters": count_parameters(model),
        "world_size": world,
    }


def measure(physics: Any, x: Tensor, seed: int = 0) -> Tensor:
    """``physics(x)`` with the noise drawn from ``torch.manual_seed(seed)`` (global RNG state restored)."""
    state = torch.get_rng_state()
    try:
        torch.manual_seed(seed)
        with torch.no_grad():
            return physics(x)
    finally:
        torch.set_rng_state(state)


def score(x_hat: Tensor, x: Tensor) -> dict[str, float]:
    """Mean PSNR and SSIM (deepinv metrics, ``max_pixel=1``) of ``x_hat`` against ``x``; ``{"psnr", "ssim", "n"}``.

    Examples
    --------
    >>> import torch
    >>> x = torch.rand(2, 1, 32, 32)
    >>> r = score(x + 0.01, x)
    >>> round(r["psnr"], 1), r["n"]
    (40.0, 2)
    """
    from deepinv.loss.metric import PSNR, SSIM

    if x_hat.shape != x.shape:
        raise ValueError(f"reconstruction shape {tuple(x_hat.shape)} differs from the truth {tuple(x.shape)}")
    with torch.no_grad():
        psnr = PSNR(max_pixel=1.0)(x_hat, x)
        ssim = SSIM(max_pixel=1.0)(x_hat, x)
    return {"psnr": float(psnr.mean()), "ssim": float(ssim.mean()), "n": len(x)}


def evaluate_reconstructor(
    method: Callable[[Tensor, Any], Tensor],
    physics: Any,
    x: Tensor,
    y: Tensor | None = None,
    *,
    batch_size: int = 8,
    seed: int = 0,
) -> dict[str, float]:
    """:func:`score` of ``method(y, physics)`` against ``x``; ``y`` defaults to :func:`measure` ``(physics, x, seed)``.

    Examples
    --------
    >>> import torch
    >>> from spectral_sparse.inverse import make_physics
    >>> physics = make_physics("inpainting", 32)
    >>> r = evaluate_reconstructor(lambda y, p: y, physics, torch.rand(2, 1, 32, 32))
    >>> r["n"], r["psnr"] > 5
    (2, True)
    """
    y = measure(physics, x, seed) if y is None else y
    return score(reconstruct_batched(method, y, physics, batch_size), x)


def tv_reconstruction(lam: float, n_iter: int = 40, inner: int = 20) -> Callable[[Tensor, Any], Tensor]:
    """TV-regularised reconstruction: deepinv ``PGD`` with ``TVPrior`` and the grid-consistent L2 step.

    Minimises ``||Ax - y||^2 / (2 ||A^T A||) + lam * (N / 64) * TV(x)`` from the
    physics' input image; the factor ``N / 64`` (``N`` the grid side) keeps the
    balance of the two terms the same continuous problem at every grid (the data term
    grows like ``N^2``, discrete TV like ``N``), so ``lam`` tuned at 64 carries over.
    """
    from deepinv.optim import PGD, TVPrior

    def run(y: Tensor, physics: Any) -> Tensor:
        scale = getattr(physics, "grid", (64, 64))[0] / 64
        algo = PGD(
            data_fidelity=grid_l2(),
            prior=TVPrior(n_it_max=inner),
            stepsize=1.0,
            lambda_reg=lam * scale,
            max_iter=n_iter,
            custom_init=lambda yy, pp: initial_image(yy, pp),
        )
        return algo(y, physics)

    return run


def wiener_reconstruction(lam: float) -> Callable[[Tensor, Any], Tensor]:
    """Tikhonov (Wiener) solution ``(A^T A + lam I)^{-1} A^T y`` via the physics' ``prox_l2`` (Fourier-diagonal)."""

    def run(y: Tensor, physics: Any) -> Tensor:
        return physics.prox_l2(0, y, 1.0 / lam)

    return run


def save_reconstructor(path: str | os.PathLike, model: nn.Module, config: dict[str, Any], **metadata: Any) -> Path:
    """Write ``{"format", "config", "state_dict", "metadata"}`` to ``path`` (plain types + tensors)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    torch.save({"format": FORMAT, "config": dict(config), "state_dict": state, "metadata": metadata}, path)
    return path


def load_reconstructor(path: str | os.PathLike) -> tuple[nn.Module, dict[str, Any], dict[str, Any]]:
    """``(model, config, metadata)`` from a file written by :func:`save_reconstructor`.

    Raises
    ------
    FileNotFoundError
        If ``path`` does not exist.
    ValueError
        If it is not an inverse-problem checkpoint.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {str(path)!r} does not exist")
    try:
        blob = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:
        raise ValueError(f"{str(path)!r} is not a spectral_sparse inverse checkpoint ({type(err).__name__})") from None
    if not isinstance(blob, dict) or blob.get("format") != FORMAT:
        raise ValueError(f"{str(path)!r} is not a spectral_sparse inverse checkpoint")
    model = build_reconstructor(blob["config"])
    model.load_state_dict(blob["state_dict"])
    model.eval()
    return model, blob["config"], blob["metadata"]


def reconstruct_batched(
    method: Callable[[Tensor, Any], Tensor], y: Tensor, physics: Any, batch_size: int = 8
) -> Tensor:
    """``method(y, physics)`` in batches, without gradients."""
    with torch.no_grad():
        return torch.cat([method(y[i : i + batch_size], physics) for i in range(0, len(y), batch_size)])
