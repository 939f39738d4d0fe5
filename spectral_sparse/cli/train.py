"""``spectral-sparse train``: train a spectral or CNN classifier on MNIST or the analytic shapes; save a checkpoint.

MNIST uses the project's fixed split (:data:`spectral_sparse.data.SPLIT_NOTE`); the
shapes are generated at the training grid ``--train-resolution``;
``--train-resolutions`` trains on mixed-resolution batches.

Multi-process (data-parallel) training: ``torchrun --nproc_per_node 2 -m spectral_sparse.cli
train ...`` (:func:`spectral_sparse.distributed.init_from_env`; gloo on CPU, nccl on CUDA);
``--batch-size`` is per process and only rank 0 prints and writes files.

Nothing lost: after every completed epoch ``checkpoint.pt`` and ``optimizer.pt`` are
rewritten atomically (metadata ``"complete": False`` and the epochs done), so
``--resume OUT/checkpoint.pt --out OUT`` continues an interrupted run for ``--epochs``
more epochs (the checkpoint's architecture, weights and mode sets; the optimizer state
when its kind and parameter shapes match; the learning-rate schedule restarts). An
``--out`` that already holds results is refused unless ``--overwrite`` or such a resume.

Adversarial training: ``--attack pgd|fgsm|fourier-pgd`` with ``--eps``,
``--attack-steps``, ``--attack-step-size`` (the names of ``spectral-sparse attack``) and
``--clean-weight`` trains on examples crafted per batch at its grid, the images clamped
to [0, 1]; the settings and the robust test accuracy are recorded under
``adversarial_training``. The helpers live in :mod:`spectral_sparse.cli._training` and
:mod:`spectral_sparse.cli._shared`; their old names here keep working.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path
from typing import Any

import torch

from .. import distributed as dist
from ..checkpoint import save_checkpoint
from ..data.mnist import SPLIT_NOTE
from ..training import evaluate_resolutions, train_classifier
from ._common import CLIError, positive_float, positive_int, prepare_run, write_json
from ._shared import add_attack_options, add_deprecated_alias, training_data
from ._training import (
    EpochCheckpoints,
    add_sparse_arguments,
    attack_setup,
    build_model,
    optimizer_state,
    restore_optimizer,
    resume_model,
    save_optimizer,
    sparse_setup,
)

HELP = "train a spectral or CNN classifier (MNIST split or analytic shapes) and save a checkpoint"
DESCRIPTION = (
    "Train a SpectralClassifier or a CNNClassifier at one grid (--train-resolution) or on mixed-resolution batches "
    "(--train-resolutions), with Adam and a one-cycle schedule, or sparse (--optimizer linbreg|adabreg|proxsgd, "
    "--target-sparsity). " + SPLIT_NOTE + ". Writes checkpoint.pt "
    "(load with spectral_sparse.checkpoint.load_checkpoint or 'spectral-sparse evaluate') and history.json to --out."
)

_resume, _optimizer_state, _restore, _save_optimizer = resume_model, optimizer_state, restore_optimizer, save_optimizer


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``train``."""
    parser.add_argument("--data", choices=("mnist", "shapes"), default="mnist", help="data set [mnist]")
    parser.add_argument("--model", choices=("spectral", "cnn"), default="spectral", help="model [spectral]")
    parser.add_argument("--train-resolution", type=positive_int, default=28, help="training grid N (NxN) [28]")
    parser.add_argument(
        "--train-resolutions",
        type=positive_int,
        nargs="+",
        default=None,
        metavar="N",
        help="mixed-resolution training: each batch is resized to one of these grids (default: --train-resolution)",
    )
    add_deprecated_alias(parser, "--resolution", "--train-resolution")
    add_deprecated_alias(parser, "--resolutions", "--train-resolutions")
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
    add_sparse_arguments(parser)
    add_attack_options(parser, training=True)


def run(args: argparse.Namespace) -> int:
    """Train, check on the test split at the training grid, write checkpoint.pt and history.json.

    Under torchrun, starts (and at the end destroys) the process group; only rank 0 prints and writes.
    """
    with dist.launched(args.device):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    args.device = dist.local_device(args.device)
    main = dist.is_main()
    env = prepare_run(args)
    res = args.train_resolution
    x_train, y_train, x_test, y_test, facts = training_data(args, res)
    resolutions = list(dict.fromkeys(args.train_resolutions or [res]))
    torch.manual_seed(args.seed)
    resume_facts: dict[str, Any] = {}
    if args.resume is not None:
        model, resume_facts = resume_model(args, facts["num_classes"])
        model = model.to(args.device)
    else:
        model = build_model(args, facts["num_classes"]).to(args.device)
    factory, callback, sparse_facts = sparse_setup(args, model)
    attack, adv_facts = attack_setup(args, model)
    domain = None
    if attack is not None:  # the attacks work in [0, 1]; the shapes overshoot it slightly
        x_train, domain = x_train.clamp(0, 1), (0.0, 1.0)
    saved = optimizer_state(args)
    made: list[torch.optim.Optimizer] = []
    restored: list[bool] = []

    def make_optimizer(m: torch.nn.Module) -> torch.optim.Optimizer:
        # the default of train_classifier (Adam, weight decay 0) when no sparse optimizer is asked for
        opt = factory(m) if factory is not None else torch.optim.Adam(m.parameters(), lr=args.lr, weight_decay=0.0)
        restored.append(restore_optimizer(opt, saved, args.optimizer))
        made.append(opt)
        return opt

    schedule = args.lr_schedule or ("constant" if args.optimizer in ("linbreg", "proxsgd") else "onecycle")
    prior_epochs = resume_facts.get("resumed_epochs") or 0
    base_metadata = {
        **{k: v for k, v in facts.items() if k != "native"},
        **{"model_kind": args.model, "train_resolution": res, "train_resolutions": resolutions},
        **{"method": args.method, "seed": args.seed, "n_train": len(x_train), **resume_facts},
        **{"world_size": dist.world(), "batch_size_per_process": args.batch_size},
        "torch_version": env["torch_version"],
    }

    def partial_metadata(done: int) -> dict[str, Any]:
        return {**base_metadata, "epochs": done, "total_epochs": prior_epochs + done, "complete": False}

    steps_per_epoch = math.ceil(math.ceil(len(x_train) / dist.world()) / args.batch_size)
    saver = EpochCheckpoints(
        args.out, model, steps_per_epoch, partial_metadata, lambda: (made[0], args.optimizer), callback
    )
    options = dict(resolutions=resolutions, method=args.method, epochs=args.epochs, batch_size=args.batch_size)
    options.update(lr=args.lr, seed=args.seed, device=args.device, progress=not args.no_progress and main)
    options.update(optimizer=make_optimizer, schedule=schedule, callback=saver, attack=attack, domain=domain)
    try:
        history = train_classifier(model, x_train, y_train, clean_weight=adv_facts.get("clean_weight", 0.0), **options)
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
    if not dist.same_on_all_ranks(model):  # parameters and (compacted) mode sets, bit for bit
        raise CLIError(f"rank {dist.rank()}: the model differs between the {dist.world()} processes after training")
    if not main:
        return 0
    test_acc = evaluate_resolutions(model, x_test, y_test, [res])[0]["accuracy"]
    if attack is not None:
        from ..attacks import robust_accuracy

        adv_facts["robust_test_accuracy"] = robust_accuracy(model, x_test.clamp(0, 1), y_test, attack(model))
    metadata = {
        **base_metadata,
        **{"epochs": args.epochs, "total_epochs": args.epochs + prior_epochs, "complete": True},
        "optimizer_state_restored": bool(restored and restored[0]),
        **{"test_accuracy": test_acc, "sparse_training": sparse_facts, "adversarial_training": adv_facts},
    }
    if args.data == "mnist":
        metadata["n_test"] = len(x_test)
    out = args.out
    save_checkpoint(out / "checkpoint.pt", model.cpu(), **metadata)
    save_optimizer(out / "optimizer.pt", made[0], args.optimizer)
    write_json(out / "history.json", {**env, **metadata, "history": history, "wall_seconds": time.perf_counter() - t0})
    _summary(args, model, history, metadata, len(x_train), len(x_test), resolutions)
    return 0


def _summary(args: argparse.Namespace, model: Any, history: dict, meta: dict, n_train: int, n_test: int, grids: list):
    """Print what was trained and measured (returns None)."""
    res, sparse, adv = args.train_resolution, meta["sparse_training"], meta["adversarial_training"]
    mixed = f" (mixed: {', '.join(map(str, grids))})" if len(grids) > 1 else ""
    if "mode_sparsity" in sparse:
        print(
            f"{args.optimizer}: {100 * sparse['mode_sparsity']:.1f}% of the spectral modes are zero "
            f"(final lam {sparse['final_lam']:.3g}); the checkpoint keeps only the others."
        )
    print(
        f"Trained {type(model).__name__} ({history['parameters']:,} parameters) on {n_train} {args.data} images "
        f"at {res}x{res}{mixed}, {args.epochs} epoch(s), seed {args.seed}, in {history['train_seconds']:.1f} s; "
        f"test accuracy at {res}x{res}: {100 * meta['test_accuracy']:.2f}% on {n_test} images."
    )
    if "robust_test_accuracy" in adv:
        print(
            f"Adversarially trained with {adv['attack']} (eps {adv['eps']}, clean weight "
            f"{adv['clean_weight']}); robust test accuracy at {res}x{res}: {100 * adv['robust_test_accuracy']:.2f}%."
        )
    if args.data == "mnist":
        print(SPLIT_NOTE)
    if dist.world() > 1:
        print(f"Data-parallel over {dist.world()} processes; parameters identical on all ranks.")
    if args.resume is not None:
        state = "restored" if meta["optimizer_state_restored"] else "not restored (kind or shapes differ)"
        print(f"Resumed from {args.resume} (optimizer state {state}).")
    print(f"Wrote checkpoint.pt, optimizer.pt and history.json to {args.out}/")
