"""``spectral-sparse prune``: remove Fourier modes from a trained spectral classifier; accuracy and cost before/after.

The checkpoint (written by ``spectral-sparse train``) names its data set; the
test split of that set (MNIST: the project's fixed split; shapes: the test
seed stored in the checkpoint) measures accuracy at the training grid before
and after pruning. Fine-tuning and the ``energy``/``taylor`` criteria use the
training split. Writes the pruned ``checkpoint.pt`` (it loads like any other;
its layers hold only the kept modes), ``results.json``, ``results.csv`` (one
row before, one after) and ``sparsity.csv`` (per layer, after).

Nothing is lost on an interruption: after every pruning step (and its
fine-tuning) ``OUT/checkpoint.pt`` is rewritten atomically with the model so far
(metadata ``"complete": False`` and ``"pruning_progress"``: the settings, the
steps done, the accuracy before). Ctrl-C exits with status 130 and names that
checkpoint; the same command with ``--resume OUT/checkpoint.pt`` added
continues with the next step, and gives the same model as an uninterrupted run
(every step prunes relative to the original mode counts and fine-tunes with a
fresh optimizer seeded by ``--seed``). A resumed run must use the same
settings; a different one is refused, naming the option.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from pathlib import Path
from typing import Any

from .. import distributed as dist
from ..checkpoint import atomic_write_text
from ..data.mnist import SPLIT_NOTE
from ..prune.criteria import CRITERIA
from ..prune.schedules import SCHEDULES
from ._common import CLIError, non_negative_int, positive_float, positive_int, prepare_run, write_csv, write_json
from ._shared import load_model, test_set, train_set

HELP = "prune the Fourier modes of a trained spectral classifier; accuracy, modes, parameters and FLOPs before/after"
DESCRIPTION = (
    "Load a checkpoint written by 'spectral-sparse train', remove --amount of the modes of its sparse spectral "
    "layers by a criterion (magnitude, energy, taylor), per layer or globally, in one step or on a schedule "
    "with optional fine-tuning after every step, and compact the layers so pruned modes cost nothing. "
    "Accuracy is measured at the training grid on the data set's test split (" + SPLIT_NOTE + "). "
    "Writes checkpoint.pt, results.json, results.csv and sparsity.csv to --out."
)


def amount_type(text: str) -> float:
    """argparse type: a number in [0, 1)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1), got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a number in [0, 1) (the fraction of modes to remove), got {text!r}")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``prune``."""
    parser.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="checkpoint.pt of a spectral classifier")
    parser.add_argument(
        "--amount", type=amount_type, default=0.5, help="fraction of the checkpoint's modes to remove, in [0, 1) [0.5]"
    )
    parser.add_argument("--criterion", choices=tuple(CRITERIA), default="magnitude", help="mode score [magnitude]")
    parser.add_argument(
        "--scope", choices=("global", "layer"), default="global", help="rank modes across layers or per layer [global]"
    )
    parser.add_argument("--schedule", choices=SCHEDULES, default="one_shot", help="pruning schedule [one_shot]")
    parser.add_argument("--steps", type=positive_int, default=3, help="steps of iterative/gradual schedules [3]")
    parser.add_argument(
        "--fine-tune-epochs", type=non_negative_int, default=0, help="fine-tuning epochs after every step [0]"
    )
    parser.add_argument("--lr", type=positive_float, default=1e-3, help="peak fine-tuning learning rate [1e-3]")
    parser.add_argument(
        "--batch-size", type=positive_int, default=64, help="batch size for fine-tuning and scores [64]"
    )
    parser.add_argument(
        "--score-batches", type=positive_int, default=4, help="training batches for energy/taylor scores [4]"
    )
    parser.add_argument("--n-train", type=positive_int, default=None, help="use only the first N training images")
    parser.add_argument("--n-test", type=positive_int, default=None, help="use only the first N test images")
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="directory with the MNIST files (default: the checkpoint's, else default_data_root())",
    )
    parser.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="PARTIAL",
        help="continue an interrupted run of the same command from the checkpoint.pt it left in --out",
    )


#: The old name of :func:`~spectral_sparse.cli._shared.train_set`.
_train_set = train_set


#: Options a resumed run must repeat unchanged (the first-step checkpoint records them).
RESUME_SETTINGS = (
    "amount",
    "criterion",
    "scope",
    "schedule",
    "steps",
    "fine_tune_epochs",
    "lr",
    "batch_size",
    "score_batches",
    "n_train",
    "n_test",
    "seed",
)


def _settings(args: argparse.Namespace, n_steps: int) -> dict[str, Any]:
    return {**{k: getattr(args, k) for k in RESUME_SETTINGS}, "steps": n_steps}


def _load_partial(args: argparse.Namespace, n_steps: int) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """``(model, metadata, progress)`` of the ``--resume`` checkpoint; CLIError when it cannot be continued."""
    model, meta = load_model(args.resume, flag="--resume")
    progress = meta.get("pruning_progress")
    if not isinstance(progress, dict):
        raise CLIError(
            f"--resume: {str(args.resume)!r} is not the checkpoint of an interrupted 'spectral-sparse prune' run "
            "(its metadata has no pruning_progress)"
        )
    if Path(progress["source"]).resolve() != args.checkpoint.resolve():
        raise CLIError(
            f"--resume: {str(args.resume)!r} continues the pruning of {progress['source']!r}, "
            f"not of {str(args.checkpoint)!r}"
        )
    mine = _settings(args, n_steps)
    for key, value in progress["settings"].items():
        if mine.get(key) != value:
            flag = "--" + key.replace("_", "-")
            raise CLIError(
                f"--resume: the interrupted run had {flag} {value!r}, this command {mine.get(key)!r}; "
                "a resumed run continues with the same settings"
            )
    if len(progress["history"]["steps"]) >= n_steps:
        raise CLIError(f"--resume: {str(args.resume)!r} already holds all {n_steps} step(s); nothing to continue")
    return model, meta, progress


def _stage(name: str, accuracy: float, n_test: int, report: Any) -> dict[str, Any]:
    t = report["totals"] if isinstance(report, dict) else report.totals
    return {
        "stage": name,
        "accuracy": accuracy,
        "n_test": n_test,
        "modes": t["modes_kept"],
        "spectral_parameters": t["spectral_parameters"],
        "parameters": t["parameters"],
        "spectral_flops": t["flops"],
    }


def run(args: argparse.Namespace) -> int:
    """Prune, fine-tune if asked, evaluate; write the checkpoint and the results; print a summary.

    Under torchrun the fine-tuning is data-parallel (:func:`~spectral_sparse.training.train_classifier`
    under a process group); every rank scores the same weights on the same batches, so the pruned
    mode sets agree, which is checked bit for bit before rank 0 alone evaluates and writes.
    """
    with dist.launched(args.device):
        return _run(args)


def _run(args: argparse.Namespace) -> int:
    from .._checks import progress as progress_bar
    from ..checkpoint import save_checkpoint
    from ..prune import prune_and_fine_tune, sparsity_report, spectral_layers
    from ..training import evaluate_resolutions

    t0 = time.perf_counter()
    env = prepare_run(args)
    n_steps = 1 if args.schedule == "one_shot" else args.steps
    model, meta = load_model(args.checkpoint)
    progress_state: dict[str, Any] | None = None
    if args.resume is not None:
        model, _, progress_state = _load_partial(args, n_steps)
    if not spectral_layers(model):
        raise CLIError(
            f"{str(args.checkpoint)!r} holds a {type(model).__name__} without SparseSpectralConv layers: "
            "there are no Fourier modes to prune"
        )
    args.device = dist.local_device(args.device)  # cuda:LOCAL_RANK under torchrun
    model.to(args.device)
    res = int(meta.get("train_resolution", 28))
    x_test, y_test = test_set(meta, args)
    needs_train = args.fine_tune_epochs > 0 or args.criterion in ("energy", "taylor")
    train = train_set(meta, args, res) if needs_train else None
    progress = not args.no_progress

    settings = {
        "amount": args.amount,
        "criterion": args.criterion,
        "scope": args.scope,
        "schedule": args.schedule,
        "steps": n_steps,
        "fine_tune_epochs": args.fine_tune_epochs,
        "lr": args.lr,
        "batch_size": args.batch_size,
        "n_train": None if train is None else len(train[0]),
    }
    keep = {
        k: v
        for k, v in meta.items()
        if k not in ("library_version", "model", "pruning", "modes_initial", "pruning_progress", "complete")
    }
    if progress_state is None:
        original = meta.get("modes_initial") or {name: len(layer.modes) for name, layer in spectral_layers(model)}
        acc_before = evaluate_resolutions(model, x_test, y_test, [res])[0]["accuracy"]
        before_dict = sparsity_report(model, (res, res), original=original).to_dict()
        done: list[dict[str, Any]] = []
        resume_history = None
    else:
        original, acc_before = progress_state["modes_initial"], progress_state["accuracy_before"]
        before_dict, resume_history = progress_state["report_before"], progress_state["history"]
        done = list(resume_history["steps"])
    out = args.out
    ckpt = out / "checkpoint.pt"

    def save_partial(step: int, summary: dict[str, Any], history_head: dict[str, Any]) -> None:
        """After every step: the model so far and what a --resume needs, atomically."""
        done.append(summary)
        if not dist.is_main():
            return
        state = {
            "source": str(args.checkpoint),
            "settings": _settings(args, n_steps),
            "modes_initial": dict(original),
            "accuracy_before": acc_before,
            "report_before": before_dict,
            "history": {**history_head, "steps": list(done)},
        }
        save_checkpoint(
            ckpt,
            copy.deepcopy(model).cpu(),
            **keep,
            modes_initial=dict(original),
            pruning=meta.get("pruning", []),
            complete=False,
            pruning_progress=state,
        )

    head = {"schedule": None, "amount": args.amount, "targets": None, "modes_initial": dict(original)}
    progress = progress and dist.is_main()
    bar = progress_bar(None, progress, total=n_steps, initial=len(done), desc="prune")

    def on_step(t: int, summary: dict[str, Any]) -> None:
        bar.update(1)
        save_partial(t, summary, head)

    from ..prune.schedules import get_schedule

    sched = get_schedule(args.schedule, args.amount, n_steps)
    head.update(schedule=sched.kind, targets=list(sched.targets()))
    try:
        history = prune_and_fine_tune(
            model,
            args.amount,
            args.schedule,
            train,
            steps=n_steps,
            criterion=args.criterion,
            scope=args.scope,
            fine_tune_epochs=args.fine_tune_epochs,
            lr=args.lr,
            batch_size=args.batch_size,
            score_batches=args.score_batches,
            callback=on_step,
            resume=resume_history,
            seed=args.seed,
            device=args.device,
            progress=progress,
        )
    except KeyboardInterrupt:
        if dist.is_main():
            kept = (
                f"{ckpt} holds step {len(done)} of {n_steps}"
                if done
                else f"no step of this run completed, {ckpt} was not written by it"
            )
            again = f"; continue with the same command and --resume {ckpt}" if done else ""
            print(f"Interrupted: {kept}{again}", file=sys.stderr)
        raise
    except ValueError as err:
        raise CLIError(str(err)) from None
    finally:
        bar.close()
    if not dist.same_on_all_ranks(model):  # parameters and compacted mode sets, bit for bit
        raise CLIError(f"rank {dist.rank()}: the pruned model differs between the {dist.world()} processes")
    if not dist.is_main():
        return 0
    acc_after = evaluate_resolutions(model, x_test, y_test, [res])[0]["accuracy"]
    after = sparsity_report(model, (res, res), original=original)

    pruning = {**settings, "accuracy_before": acc_before, "accuracy_after": acc_after, "n_test": len(y_test)}
    if args.resume is not None:
        pruning["resumed_from_step"] = len(resume_history["steps"])
    save_checkpoint(
        ckpt,
        model.cpu(),
        **keep,
        modes_initial=dict(original),
        pruning=[*meta.get("pruning", []), {**pruning, "source": str(args.checkpoint), "seed": args.seed}],
    )
    stages = [_stage("before", acc_before, len(y_test), before_dict), _stage("after", acc_after, len(y_test), after)]
    results = {
        **env,
        "checkpoint": str(args.checkpoint),
        "data": meta.get("data"),
        "split": meta.get("split"),
        "train_resolution": res,
        **settings,
        "accuracy_before": acc_before,
        "accuracy_after": acc_after,
        "n_test": len(y_test),
        "stages": stages,
        "report_before": before_dict,
        "report_after": after.to_dict(),
        "history": history,
        "wall_seconds": time.perf_counter() - t0,
    }
    write_json(out / "results.json", results)
    write_csv(out / "results.csv", stages)
    atomic_write_text(out / "sparsity.csv", after.to_csv(), newline="")
    print(after)
    ft = f", {args.fine_tune_epochs} fine-tuning epoch(s) per step" if args.fine_tune_epochs else ", no fine-tuning"
    print(
        f"Pruned {args.amount:.0%} of the modes ({args.criterion}, {args.scope}, {args.schedule} in {n_steps} "
        f"step(s){ft}): modes {before_dict['totals']['modes_kept']} -> {after.totals['modes_kept']}, spectral FLOPs "
        f"per sample at {res}x{res} {before_dict['totals']['flops']:,} -> {after.totals['flops']:,}; test accuracy "
        f"{100 * acc_before:.2f}% -> {100 * acc_after:.2f}% on {len(y_test)} images."
    )
    print(f"Wrote checkpoint.pt, results.json, results.csv and sparsity.csv to {out}/")
    return 0
