"""The pieces of ``spectral-sparse train`` around the training loop: sparse and adversarial setup, resume, saving.

* :func:`add_sparse_arguments`, :func:`sparse_setup`: sparse training
  (``--optimizer linbreg|adabreg|proxsgd``, ``--target-sparsity``, ...).
* :func:`attack_setup`: adversarial training from the attack option group of
  :func:`~spectral_sparse.cli._shared.add_attack_options`.
* :func:`build_model`, :func:`resume_model`: a new classifier, or the one in ``--resume``.
* :func:`optimizer_state`, :func:`restore_optimizer`, :func:`save_optimizer`:
  ``optimizer.pt`` beside the checkpoint.
* :class:`EpochCheckpoints`: the callback that saves both after every epoch.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import distributed as dist
from ..checkpoint import atomic_save, save_checkpoint
from ..models import CNNClassifier, SpectralClassifier
from ._common import (
    ATTACKS,
    CLIError,
    describe_attack,
    fraction,
    make_attack,
    non_negative_float,
    positive_float,
    positive_int,
)
from ._shared import add_deprecated_alias, load_model

__all__ = [
    "EpochCheckpoints",
    "add_sparse_arguments",
    "attack_setup",
    "build_model",
    "optimizer_state",
    "restore_optimizer",
    "resume_model",
    "save_optimizer",
    "sparse_setup",
]


def add_sparse_arguments(parser: argparse.ArgumentParser) -> None:
    """The sparse-training option group of ``train`` (``--lr-schedule``; ``--schedule`` is its deprecated alias)."""
    sparse = parser.add_argument_group("sparse training (spectral model; spectral_sparse.optim)")
    sparse.add_argument(
        "--optimizer",
        choices=("adam", "linbreg", "adabreg", "proxsgd"),
        default="adam",
        help="adam, or a sparse optimizer that regularizes the spectral weights [adam]",
    )
    sparse.add_argument(
        "--reg",
        choices=("mode", "l1", "channel", "nuclear"),
        default="mode",
        help="regularizer of the spectral weights: mode-group L1-L2 (removes whole modes), L1 of the modulus, "
        "channel groups, nuclear norm per mode [mode]",
    )
    sparse.add_argument("--lam", type=non_negative_float, default=0.1, help="regularization strength [0.1]")
    sparse.add_argument("--delta", type=positive_float, default=1.0, help="Bregman elastic-net delta [1]")
    sparse.add_argument("--momentum", type=fraction, default=0.0, help="linbreg/proxsgd momentum [0]")
    sparse.add_argument(
        "--density",
        type=fraction,
        default=None,
        help="sparse initialisation: keep this fraction of each layer's modes at the start (Bregman: grow the rest)",
    )
    sparse.add_argument(
        "--target-sparsity",
        type=fraction,
        default=None,
        help="steer lam every --control-interval steps so this fraction of the modes is zero",
    )
    sparse.add_argument("--control-interval", type=positive_int, default=10, help="steps between lam updates [10]")
    sparse.add_argument(
        "--lr-schedule",
        choices=("onecycle", "constant"),
        default=None,
        help="learning-rate schedule [onecycle for adam/adabreg, constant for linbreg/proxsgd]",
    )
    add_deprecated_alias(parser, "--schedule", "--lr-schedule")


def sparse_setup(args: argparse.Namespace, model: torch.nn.Module) -> tuple[Any, Any, dict[str, Any]]:
    """``(optimizer factory or None, step callback or None, facts)`` for the sparse-training options."""
    sparse_opts = args.density is not None or args.target_sparsity is not None
    if args.optimizer == "adam":
        if sparse_opts:
            raise CLIError("--density and --target-sparsity need a sparse --optimizer (linbreg, adabreg, proxsgd)")
        return None, None, {"optimizer": "adam"}
    if args.model != "spectral":
        raise CLIError(f"--optimizer {args.optimizer} regularizes spectral weights; it needs --model spectral")
    from .. import optim

    if args.density is not None:
        optim.sparse_init(model, density=args.density, seed=args.seed)
    made: list[torch.optim.Optimizer] = []
    controller: list[Any] = []

    def factory(m: torch.nn.Module) -> torch.optim.Optimizer:
        opt = optim.make_optimizer(
            args.optimizer, m, lr=args.lr, lam=args.lam, reg=args.reg, delta=args.delta, momentum=args.momentum
        )
        made.append(opt)
        if args.target_sparsity is not None:
            if not args.lam > 0:
                raise CLIError("--target-sparsity steers lam multiplicatively; give --lam > 0")
            controller.append(
                optim.SparsityController(
                    opt, args.target_sparsity, measure=lambda: optim.mode_sparsity(m), interval=args.control_interval
                )
            )
        return opt

    def callback(step: int) -> None:
        if controller:
            controller[0].step()

    facts = {
        "optimizer": args.optimizer,
        "reg": args.reg,
        "lam": args.lam,
        "delta": args.delta,
        "momentum": args.momentum,
        "density": args.density,
        "target_sparsity": args.target_sparsity,
        "final_lam": lambda: made[0].param_groups[0]["lam"] if made else None,
    }
    return factory, callback, facts


def attack_setup(args: argparse.Namespace, model: torch.nn.Module) -> tuple[Any, dict[str, Any]]:
    """``(attack factory or None, facts)`` for the adversarial-training options; CLIError for bad combinations."""
    given = {
        "--eps": args.eps,
        "--attack-steps": args.attack_steps,
        "--attack-step-size": args.attack_step_size,
        "--clean-weight": args.clean_weight,
    }
    if args.attack == "none":
        extra = [name for name, value in given.items() if value is not None]
        if extra:
            raise CLIError(f"{', '.join(extra)} set but no adversarial training; add --attack {'|'.join(ATTACKS)}")
        return None, {"attack": "none"}
    if args.attack == "fgsm" and (args.attack_steps is not None or args.attack_step_size is not None):
        raise CLIError("FGSM takes one step of size eps; --attack-steps and --attack-step-size are for pgd/fourier-pgd")
    options = {
        "eps": args.eps if args.eps is not None else 0.1,
        "alpha": args.attack_step_size,
        "steps": args.attack_steps or 5,
        "seed": args.seed,
    }

    def factory(m: torch.nn.Module) -> Any:
        return make_attack(m, args.attack, options["eps"], **{k: v for k, v in options.items() if k != "eps"})

    facts = {**describe_attack(factory(model)), "kind": args.attack, "clean_weight": args.clean_weight or 0.0}
    return factory, facts


def build_model(args: argparse.Namespace, num_classes: int) -> torch.nn.Module:
    """The model named by ``--model`` with its size options."""
    if args.model == "spectral":
        return SpectralClassifier(1, num_classes, width=args.width, modes=args.modes, depth=args.depth)
    return CNNClassifier(1, num_classes, widths=tuple(args.cnn_widths))


def resume_model(args: argparse.Namespace, num_classes: int) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model in ``--resume`` (``--model`` set to its kind) and facts to record; CLIError when it does not fit."""
    model, meta = load_model(args.resume, flag="--resume")
    kinds = {"SpectralClassifier": "spectral", "CNNClassifier": "cnn"}
    if type(model).__name__ not in kinds:
        raise CLIError(f"--resume: {str(args.resume)!r} holds a {type(model).__name__}, not a classifier")
    classes = model.config.get("num_classes")
    if classes is not None and classes != num_classes:
        raise CLIError(f"--resume: the checkpoint's model has {classes} classes, --data {args.data} has {num_classes}")
    args.model = kinds[type(model).__name__]
    return model, {"resumed_from": str(args.resume), "resumed_epochs": meta.get("total_epochs", meta.get("epochs"))}


def optimizer_state(args: argparse.Namespace) -> dict[str, Any] | None:
    """The optimizer state saved beside ``--resume`` (``optimizer.pt``), if any."""
    path = args.resume.parent / "optimizer.pt" if args.resume is not None else None
    if path is None or not path.is_file():
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # a foreign or corrupt file: train on with a fresh optimizer, but say so
        if dist.is_main():
            print(f"Note: ignoring {path} ({type(err).__name__}); the optimizer starts fresh.")
        return None


def restore_optimizer(opt: torch.optim.Optimizer, saved: dict[str, Any] | None, name: str) -> bool:
    """Load ``saved`` into ``opt`` when it was written for the same optimizer and parameter shapes."""
    if not saved or saved.get("optimizer") != name:
        return False
    shapes = [list(p.shape) for group in opt.param_groups for p in group["params"]]
    if saved.get("shapes") != shapes:
        return False
    try:  # state and hyper-parameters (e.g. a steered lam); the schedule then sets lr from --lr
        opt.load_state_dict(saved["state_dict"])
    except (KeyError, TypeError, ValueError):  # other param groups: keep the fresh optimizer
        return False
    return True


def save_optimizer(path: Path, opt: torch.optim.Optimizer, name: str) -> None:
    """``optimizer.pt``: the optimizer kind, its parameter shapes and its state (atomically)."""
    shapes = [list(p.shape) for group in opt.param_groups for p in group["params"]]
    atomic_save({"optimizer": name, "shapes": shapes, "state_dict": opt.state_dict()}, path)


class EpochCheckpoints:
    """A training callback that saves the model and optimizer after every completed epoch.

    Parameters
    ----------
    out : Path
        Directory of ``checkpoint.pt`` and ``optimizer.pt``.
    model : nn.Module
        The model being trained (unwrapped).
    steps_per_epoch : int
        Optimizer steps in one epoch (``ceil(ceil(n / world) / batch_size)``, as
        :func:`~spectral_sparse.training.train_classifier` counts them).
    metadata : callable
        ``metadata(epochs_done) -> dict`` for :func:`~spectral_sparse.checkpoint.save_checkpoint`.
    optimizer : callable
        ``optimizer() -> (opt, name)``: the optimizer in use and its kind.
    inner : callable, optional
        Another ``callback(step)`` to run first (e.g. a sparsity controller).
    """

    def __init__(
        self,
        out: Path,
        model: torch.nn.Module,
        steps_per_epoch: int,
        metadata: Callable[[int], dict[str, Any]],
        optimizer: Callable[[], tuple[torch.optim.Optimizer, str]],
        inner: Callable[[int], Any] | None = None,
    ) -> None:
        self.out, self.model, self.steps = out, model, steps_per_epoch
        self.metadata, self.optimizer, self.inner = metadata, optimizer, inner
        self.epochs_done = 0

    def __call__(self, step: int) -> None:
        if self.inner is not None:
            self.inner(step)
        if step % self.steps:
            return
        self.epochs_done = step // self.steps
        if dist.is_main():
            save_checkpoint(self.out / "checkpoint.pt", self.model, **self.metadata(self.epochs_done))
            opt, name = self.optimizer()
            save_optimizer(self.out / "optimizer.pt", opt, name)
