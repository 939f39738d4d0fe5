"""``spectral-sparse train``: train a spectral or CNN classifier on MNIST or the analytic shapes; save a checkpoint.

MNIST uses the project's fixed split (first 8,000 images of the official test
set for training, the last 2,000 for testing; see
:data:`spectral_sparse.data.SPLIT_NOTE`). The shapes set is generated on the
fly at the training grid. ``--resolutions`` trains on mixed-resolution batches.

Multi-process (data-parallel) training: launch with torchrun, e.g.
``torchrun --nproc_per_node 2 -m spectral_sparse.cli train --data shapes ...``;
``run`` starts the process group from torchrun's environment
(:func:`spectral_sparse.distributed.init_from_env`; gloo on CPU, nccl on CUDA with
``cuda:LOCAL_RANK`` per process), ``--batch-size`` is per process, and only rank 0
prints and writes files. ``--resume CHECKPOINT`` continues from a checkpoint
written by this command (its architecture and weights; the model options are
then ignored); every rank loads it, and since a checkpoint's (pruned, compacted)
mode sets are stored with it, every rank rebuilds the same modes. The optimizer
state is saved as ``optimizer.pt`` beside the checkpoint and restored on resume
when the optimizer kind and parameter shapes match (sparse runs compact their
mode sets before saving, which changes the shapes, so their optimizer restarts);
the learning-rate schedule always restarts.

Nothing lost: after every completed epoch ``checkpoint.pt`` and ``optimizer.pt``
are rewritten atomically (metadata ``"complete": False`` and the epochs done so
far), so a Ctrl-C, a crash or a killed job leaves the last completed epoch on
disk; ``--resume OUT/checkpoint.pt --out OUT`` continues it for ``--epochs``
more epochs in the same directory. An ``--out`` that already holds results is
refused unless ``--overwrite`` is given or the run resumes a checkpoint kept there.

Adversarial training: ``--attack pgd|fgsm|fourier-pgd`` (with ``--eps``,
``--attack-steps``, ``--attack-step-size``, ``--clean-weight``) trains on
adversarial examples crafted on the fly at every training grid (the attacks of
``spectral-sparse attack``, built by the same code); the training images are
clamped to [0, 1] first. It works under torchrun too (each process attacks its
own shard). The attack settings are recorded under ``adversarial_training`` in
history.json and in the checkpoint's metadata, with the robust test accuracy.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import distributed as dist
from ..checkpoint import atomic_save, load_checkpoint, save_checkpoint
from ..data.mnist import SPLIT_NOTE, default_data_root, mnist_split
from ..data.shapes import CLASSES, make_shapes
from ..models import CNNClassifier, SpectralClassifier
from ..training import evaluate_resolutions, train_classifier
from ._common import (
    ATTACKS,
    CLIError,
    describe_attack,
    fraction,
    make_attack,
    non_negative_float,
    positive_float,
    positive_int,
    prepare_run,
    write_json,
)

HELP = "train a spectral or CNN classifier (MNIST split or analytic shapes) and save a checkpoint"
DESCRIPTION = (
    "Train a SpectralClassifier or a CNNClassifier at one grid (--resolution) or on mixed-resolution batches "
    "(--resolutions), with Adam and a one-cycle schedule, or sparse (--optimizer linbreg|adabreg|proxsgd, "
    "--target-sparsity). " + SPLIT_NOTE + ". Writes checkpoint.pt "
    "(load with spectral_sparse.checkpoint.load_checkpoint or 'spectral-sparse evaluate') and history.json to --out."
)

#: Test-set seed offset for the shapes data (test shapes use seed + SHAPES_TEST_OFFSET).
SHAPES_TEST_OFFSET = 1_000_003


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``train``."""
    parser.add_argument("--data", choices=("mnist", "shapes"), default="mnist", help="data set [mnist]")
    parser.add_argument("--model", choices=("spectral", "cnn"), default="spectral", help="model [spectral]")
    parser.add_argument("--resolution", type=positive_int, default=28, help="training grid N (NxN) [28]")
    parser.add_argument(
        "--resolutions",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="N",
        help="mixed-resolution training: each batch is resized to one of these grids (default: --resolution only)",
    )
    parser.add_argument("--method", default="fourier", help="resize method for mixed resolutions [fourier]")
    parser.add_argument("--epochs", type=positive_int, default=8, help="training epochs [8]")
    parser.add_argument("--batch-size", type=positive_int, default=64, help="batch size [64]")
    parser.add_argument("--lr", type=positive_float, default=3e-3, help="peak one-cycle learning rate [3e-3]")
    parser.add_argument("--n-train", type=positive_int, default=None, help="training images (MNIST: first N of 8000)")
    parser.add_argument(
        "--n-test", type=positive_int, default=None, help="test images for the final check (MNIST: first N of 2000)"
    )
    parser.add_argument("--width", type=positive_int, default=32, help="spectral: hidden channels [32]")
    parser.add_argument("--modes", type=positive_float, default=8.0, help="spectral: radius of the radial modes [8]")
    parser.add_argument("--depth", type=positive_int, default=4, help="spectral: number of blocks [4]")
    parser.add_argument(
        "--cnn-widths", type=positive_int, nargs="+", default=[32, 64, 96], help="cnn: channels per stage [32 64 96]"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory with the MNIST files (default: spectral_sparse.data.default_data_root())",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="continue training the model in this checkpoint (from 'spectral-sparse train') for --epochs; "
        "restores optimizer.pt beside it when it fits",
    )
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
        "--schedule",
        choices=("onecycle", "constant"),
        default=None,
        help="learning-rate schedule [onecycle for adam/adabreg, constant for linbreg/proxsgd]",
    )
    adv = parser.add_argument_group("adversarial training (spectral_sparse.attacks; images in [0, 1])")
    adv.add_argument(
        "--attack",
        choices=("none", *ATTACKS),
        default="none",
        help="train on adversarial examples from this attack, crafted per batch at its grid [none]",
    )
    adv.add_argument("--eps", type=positive_float, default=None, help="attack budget [0.1]")
    adv.add_argument("--attack-steps", type=positive_int, default=None, help="PGD/FourierPGD iterations [5]")
    adv.add_argument(
        "--attack-step-size", type=positive_float, default=None, help="PGD/FourierPGD step size [2.5 eps / steps]"
    )
    adv.add_argument(
        "--clean-weight", type=fraction, default=None, help="loss (1 - w) CE(adversarial) + w CE(clean) [0]"
    )


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


def load_data(data: str, args: argparse.Namespace, resolution: int) -> tuple[tuple, tuple, dict[str, Any]]:
    """``(x_train, y_train), (x_test, y_test), facts`` for ``--data``; CLIError for a missing data directory."""
    seed = args.seed
    if data == "mnist":
        root = args.data_dir if args.data_dir is not None else default_data_root()
        if root is None:
            raise CLIError(
                "no MNIST data directory: pass --data-dir DIR or set SPECTRAL_SPARSE_DATA "
                "(expected t10k-images-idx3-ubyte.gz and t10k-labels-idx1-ubyte.gz)"
            )
        if not Path(root).is_dir():
            raise CLIError(f"MNIST data directory {str(root)!r} does not exist")
        try:
            train, test = mnist_split(root)
        except (OSError, ValueError) as err:
            raise CLIError(f"cannot load MNIST from {str(root)!r}: {str(err).splitlines()[0]}") from None
        facts = {"data": "mnist", "data_dir": str(root), "split": SPLIT_NOTE, "num_classes": 10, "native": 28}
        return train, test, facts
    n_train = args.n_train or 3000
    n_test = args.n_test or 1000
    train = make_shapes(n_train, resolution, seed=seed)
    test = make_shapes(n_test, resolution, seed=seed + SHAPES_TEST_OFFSET)
    facts = {
        "data": "shapes",
        "split": f"analytic shapes: train seed {seed}, test seed {seed + SHAPES_TEST_OFFSET}",
        "shapes_test_seed": seed + SHAPES_TEST_OFFSET,
        "n_test": n_test,
        "num_classes": len(CLASSES),
        "classes": list(CLASSES),
        "native": resolution,
    }
    return train, test, facts


def build_model(args: argparse.Namespace, num_classes: int) -> torch.nn.Module:
    """The model named by ``--model`` with its size options."""
    if args.model == "spectral":
        return SpectralClassifier(1, num_classes, width=args.width, modes=args.modes, depth=args.depth)
    return CNNClassifier(1, num_classes, widths=tuple(args.cnn_widths))


def run(args: argparse.Namespace) -> int:
    """Train, check on the test split at the training grid, write checkpoint.pt and history.json.

    Under torchrun, starts (and at the end destroys) the process group; only rank 0 prints and writes.
    """
    with dist.launched(args.device):
        return _run(args)


def _resume(args: argparse.Namespace, num_classes: int) -> tuple[torch.nn.Module, dict[str, Any]]:
    """The model in ``--resume`` (``--model`` set to its kind) and facts to record; CLIError when it does not fit."""
    try:
        model, meta = load_checkpoint(args.resume)
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(f"--resume: {err}") from None
    kinds = {"SpectralClassifier": "spectral", "CNNClassifier": "cnn"}
    if type(model).__name__ not in kinds:
        raise CLIError(f"--resume: {str(args.resume)!r} holds a {type(model).__name__}, not a classifier")
    classes = model.config.get("num_classes")
    if classes is not None and classes != num_classes:
        raise CLIError(f"--resume: the checkpoint's model has {classes} classes, --data {args.data} has {num_classes}")
    args.model = kinds[type(model).__name__]
    return model, {"resumed_from": str(args.resume), "resumed_epochs": meta.get("total_epochs", meta.get("epochs"))}


def _optimizer_state(args: argparse.Namespace) -> dict[str, Any] | None:
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


def _restore(opt: torch.optim.Optimizer, saved: dict[str, Any] | None, name: str) -> bool:
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


def _save_optimizer(path: Path, opt: torch.optim.Optimizer, name: str) -> None:
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
            _save_optimizer(self.out / "optimizer.pt", opt, name)


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    args.device = dist.local_device(args.device)
    main = dist.is_main()
    env = prepare_run(args)
    res = args.resolution
    (x_train, y_train), (x_test, y_test), facts = load_data(args.data, args, res)
    if args.data == "mnist":
        if args.n_train:
            x_train, y_train = x_train[: args.n_train], y_train[: args.n_train]
        if args.n_test:
            x_test, y_test = x_test[: args.n_test], y_test[: args.n_test]
        if res != 28:
            from ..data.transforms import resize

            x_train, x_test = resize(x_train, res), resize(x_test, res)
    resolutions = list(dict.fromkeys(args.resolutions or [res]))
    torch.manual_seed(args.seed)
    resume_facts: dict[str, Any] = {}
    if args.resume is not None:
        model, resume_facts = _resume(args, facts["num_classes"])
        model = model.to(args.device)
    else:
        model = build_model(args, facts["num_classes"]).to(args.device)
    progress = not args.no_progress and main
    factory, callback, sparse_facts = sparse_setup(args, model)
    attack, adv_facts = attack_setup(args, model)
    domain = None
    if attack is not None:  # the attacks work in [0, 1]; the shapes overshoot it slightly
        x_train, domain = x_train.clamp(0, 1), (0.0, 1.0)
    saved = _optimizer_state(args)
    made: list[torch.optim.Optimizer] = []
    restored: list[bool] = []

    def make_optimizer(m: torch.nn.Module) -> torch.optim.Optimizer:
        # the default of train_classifier (Adam, weight decay 0) when no sparse optimizer is asked for
        opt = factory(m) if factory is not None else torch.optim.Adam(m.parameters(), lr=args.lr, weight_decay=0.0)
        restored.append(_restore(opt, saved, args.optimizer))
        made.append(opt)
        return opt

    schedule = args.schedule or ("constant" if args.optimizer in ("linbreg", "proxsgd") else "onecycle")
    prior_epochs = resume_facts.get("resumed_epochs") or 0
    base_metadata = {
        **{k: v for k, v in facts.items() if k != "native"},
        "model_kind": args.model,
        "train_resolution": res,
        "train_resolutions": resolutions,
        "method": args.method,
        "seed": args.seed,
        "n_train": len(x_train),
        **resume_facts,
        "world_size": dist.world(),
        "batch_size_per_process": args.batch_size,
        "torch_version": env["torch_version"],
    }

    def partial_metadata(done: int) -> dict[str, Any]:
        return {**base_metadata, "epochs": done, "total_epochs": prior_epochs + done, "complete": False}

    steps_per_epoch = math.ceil(math.ceil(len(x_train) / dist.world()) / args.batch_size)
    saver = EpochCheckpoints(
        args.out, model, steps_per_epoch, partial_metadata, lambda: (made[0], args.optimizer), callback
    )
    try:
        history = train_classifier(
            model,
            x_train,
            y_train,
            resolutions=resolutions,
            method=args.method,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device=args.device,
            progress=progress,
            optimizer=make_optimizer,
            schedule=schedule,
            callback=saver,
            attack=attack,
            clean_weight=adv_facts.get("clean_weight", 0.0),
            domain=domain,
        )
    except KeyboardInterrupt:
        if main:
            ckpt = args.out / "checkpoint.pt"
            if saver.epochs_done:
                kept = f"{ckpt} holds epoch {saver.epochs_done} of {args.epochs}"
            else:
                kept = f"no epoch of this run completed, {ckpt} was not written by it"
            print(f"Interrupted: {kept}; continue with --resume {ckpt} --out {args.out}", file=sys.stderr)
        raise
    except ValueError as err:
        raise CLIError(str(err)) from None
    except (RuntimeError, OverflowError) as err:  # e.g. an absurd --lr overflowing the optimizer's float arithmetic
        raise CLIError(f"training failed ({type(err).__name__}: {str(err).splitlines()[0]}); check --lr") from None
    if "final_lam" in sparse_facts:
        sparse_facts["final_lam"] = sparse_facts["final_lam"]()
    sparse_facts["schedule"] = schedule
    if args.model == "spectral" and args.optimizer != "adam":
        from ..optim import mode_sparsity

        sparse_facts["mode_sparsity"] = mode_sparsity(model)
        for layer in model.spectral:
            layer.compact()  # the checkpoint keeps only the modes that survived
    if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):  # identical on all ranks: all stop
        raise CLIError("training diverged: the model has non-finite weights; lower --lr (or --attack-step-size)")
    identical = dist.same_on_all_ranks(model)  # parameters and (compacted) mode sets, bit for bit
    if not identical:
        raise CLIError(f"rank {dist.rank()}: the model differs between the {dist.world()} processes after training")
    if not main:
        return 0
    test_acc = evaluate_resolutions(model, x_test, y_test, [res])[0]["accuracy"]
    if attack is not None:
        from ..attacks import robust_accuracy

        adv_facts["robust_test_accuracy"] = robust_accuracy(model, x_test.clamp(0, 1), y_test, attack(model))
    metadata = {
        **base_metadata,
        "epochs": args.epochs,
        "total_epochs": args.epochs + prior_epochs,
        "complete": True,
        "optimizer_state_restored": bool(restored and restored[0]),
        "test_accuracy": test_acc,
        "sparse_training": sparse_facts,
        "adversarial_training": adv_facts,
    }
    if args.data == "mnist":
        metadata["n_test"] = len(x_test)
    out = args.out
    save_checkpoint(out / "checkpoint.pt", model.cpu(), **metadata)
    _save_optimizer(out / "optimizer.pt", made[0], args.optimizer)
    write_json(out / "history.json", {**env, **metadata, "history": history, "wall_seconds": time.perf_counter() - t0})
    mixed = f" (mixed: {', '.join(map(str, resolutions))})" if len(resolutions) > 1 else ""
    if "mode_sparsity" in sparse_facts:
        print(
            f"{args.optimizer}: {100 * sparse_facts['mode_sparsity']:.1f}% of the spectral modes are zero "
            f"(final lam {sparse_facts['final_lam']:.3g}); the checkpoint keeps only the others."
        )
    print(
        f"Trained {type(model).__name__} ({history['parameters']:,} parameters) on {len(x_train)} {args.data} images "
        f"at {res}x{res}{mixed}, {args.epochs} epoch(s), seed {args.seed}, in {history['train_seconds']:.1f} s; "
        f"test accuracy at {res}x{res}: {100 * test_acc:.2f}% on {len(x_test)} images."
    )
    if attack is not None:
        print(
            f"Adversarially trained with {adv_facts['attack']} (eps {adv_facts['eps']}, clean weight "
            f"{adv_facts['clean_weight']}); robust test accuracy at {res}x{res}: "
            f"{100 * adv_facts['robust_test_accuracy']:.2f}%."
        )
    if args.data == "mnist":
        print(SPLIT_NOTE)
    if dist.world() > 1:
        print(f"Data-parallel over {dist.world()} processes; parameters identical on all ranks.")
    if args.resume is not None:
        state = "restored" if metadata["optimizer_state_restored"] else "not restored (kind or shapes differ)"
        print(f"Resumed from {args.resume} (optimizer state {state}).")
    print(f"Wrote checkpoint.pt, optimizer.pt and history.json to {out}/")
    return 0
