"""``spectral-sparse reconstruct``: train and evaluate inverse-problem reconstructors at any resolution.

Two actions:

``reconstruct train``
    Build the physics (``--physics`` with ``--param key=value`` continuous parameters)
    at ``--train-resolution``, generate offline ground truth (``--data``), train a
    reconstructor with deepinv's ``Trainer`` and write ``checkpoint.pt`` and
    ``history.json`` to ``--out``.
``reconstruct evaluate CHECKPOINT``
    Rebuild the checkpoint's physics at every ``--resolutions`` grid, measure the test
    images (fixed noise seed), reconstruct with the model and the ``--baselines``,
    and write ``results.json``, ``results.csv`` (PSNR/SSIM per method and grid) and
    ``panels.png`` (truth, measurement image, baseline, ours at each resolution).

Nothing is lost on an interruption of ``reconstruct train``: at the end of every
epoch ``OUT/checkpoint.pt`` (metadata ``"complete": False``, ``"epochs_done"``) and
``OUT/resume_state.pt`` (optimizer, schedule and random-generator states, loss so
far; plain tensors, loaded with ``weights_only=True``) are rewritten atomically.
Ctrl-C exits with status 130 and names them; the same command with
``--resume OUT/checkpoint.pt`` added continues with the next epoch and, in one
process, ends with the same weights as an uninterrupted run. A resumed run must
use the same settings; a different one is refused, naming the option.

Multi-process (data-parallel) training: launch ``reconstruct train`` with torchrun, e.g.
``torchrun --nproc_per_node 2 -m spectral_sparse.cli reconstruct train --physics deblur ...``;
``run`` starts the process group from torchrun's environment
(:func:`spectral_sparse.distributed.init_from_env`; gloo on CPU, nccl on CUDA with
``cuda:LOCAL_RANK`` per process), :func:`~spectral_sparse.inverse.train.train_reconstructor`
trains with DistributedDataParallel and a distributed sampler (``--batch-size`` is per
process, the measurement noise differs per rank), and only rank 0 prints and writes
``checkpoint.pt`` and ``history.json``. ``reconstruct evaluate`` runs in one process.
"""

from __future__ import annotations

import argparse
import copy
import sys
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any

from .. import distributed as dist
from .._checks import progress as _progress
from ..checkpoint import atomic_path, atomic_save
from ._common import (
    CLIError,
    non_negative_int,
    parse_device,
    positive_float,
    positive_int,
    prepare_run,
    save_figure,
    write_csv,
    write_json,
)

HELP = "train / evaluate inverse-problem reconstructors (deblur, mri, tomography, ...) at any resolution"
DESCRIPTION = (
    "Inverse problems with deepinv physics defined in continuous units. 'reconstruct train' trains a sparse-spectral "
    "(or DnCNN/UNet baseline) reconstructor at one grid with deepinv's Trainer; 'reconstruct evaluate CHECKPOINT' "
    "measures PSNR/SSIM at several grids against baselines and writes results.json, results.csv and panels.png."
)
BASELINES = ("input", "tv", "wiener")


def _param(text: str) -> tuple[str, Any]:
    """argparse type for ``--param key=value`` (value parsed as int, float, ``None`` or string)."""
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value, got {text!r}")
    key, value = text.split("=", 1)
    if value.strip() == "None":  # e.g. mri k_max=None: no upper frequency
        return key.strip(), None
    for cast in (int, float):
        try:
            return key.strip(), cast(value)
        except ValueError:
            pass
    return key.strip(), value


def _common(p: argparse.ArgumentParser) -> None:
    """The common options again on each action, so they may follow it (they default to the parent's)."""
    g = p.add_argument_group("common options (also accepted before the action)")
    s = argparse.SUPPRESS
    g.add_argument("--device", type=parse_device, default=s, help="torch device (default: cpu)")
    g.add_argument("--seed", type=non_negative_int, default=s, help="random seed (default: 0)")
    g.add_argument("--out", type=Path, default=s, help="output directory")
    g.add_argument("--threads", type=positive_int, default=s, help="torch CPU threads")
    g.add_argument("--no-progress", action="store_true", default=s, help="hide progress bars")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``train`` and ``evaluate`` actions and their options."""
    from ..inverse.data import DATA_SOURCES
    from ..inverse.models import ARCHS, WRAPPERS
    from ..inverse.physics import PHYSICS_KINDS

    actions = parser.add_subparsers(dest="action", metavar="<action>", title="actions")
    actions.required = True
    tr = actions.add_parser(
        "train",
        help="train a reconstructor at one grid",
        description="Train a reconstructor with deepinv's Trainer at --train-resolution on offline ground truth; "
        "writes checkpoint.pt and history.json to --out.",
    )
    tr.add_argument("--physics", default="deblur", help=f"one of {', '.join(PHYSICS_KINDS)} [deblur]")
    tr.add_argument(
        "--param", type=_param, action="append", default=[], metavar="KEY=VALUE", help="continuous physics parameter"
    )
    tr.add_argument("--data", choices=DATA_SOURCES[:2], default="photos", help="ground truth [photos]")
    tr.add_argument("--train-resolution", type=positive_int, default=64, help="training grid N (NxN) [64]")
    tr.add_argument("--epochs", type=positive_int, default=5, help="epochs [5]")
    tr.add_argument("--n-train", type=positive_int, default=128, help="training images [128]")
    tr.add_argument("--batch-size", type=positive_int, default=8, help="batch size [8]")
    tr.add_argument("--lr", type=positive_float, default=2e-3, help="Adam learning rate (cosine schedule) [2e-3]")
    tr.add_argument("--arch", choices=ARCHS, default="spectral", help="backbone [spectral]")
    tr.add_argument(
        "--wrapper", choices=WRAPPERS, default="artifact", help="artifact removal, unrolled PGD or unrolled HQS"
    )
    tr.add_argument("--width", type=positive_int, default=16, help="spectral/dncnn hidden channels [16]")
    tr.add_argument("--modes", type=positive_float, default=20.0, help="spectral: radius of the radial modes [20]")
    tr.add_argument("--depth", type=positive_int, default=4, help="spectral/dncnn blocks [4]")
    tr.add_argument("--n-iter", type=positive_int, default=4, help="unrolled: iterations [4]")
    tr.add_argument("--data-last", action="store_true", help="hqs: end every iteration with the data step")
    tr.add_argument("--augment", action="store_true", help="random flips and quarter turns of the training images")
    tr.add_argument("--patch", type=positive_int, default=256, help="photos: native side of the crops [256]")
    tr.add_argument(
        "--resume",
        type=Path,
        default=None,
        metavar="PARTIAL",
        help="continue an interrupted run of the same command from the checkpoint.pt it left in --out",
    )
    _common(tr)
    ev = actions.add_parser(
        "evaluate",
        help="PSNR/SSIM across grids, with baselines and panels",
        description="Evaluate a checkpoint at several grids against baselines; writes results.json, results.csv "
        "and panels.png to --out.",
    )
    ev.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="checkpoint.pt from 'reconstruct train'")
    ev.add_argument(
        "--resolutions", type=positive_int, nargs="+", default=[64, 128, 256], metavar="N", help="test grids"
    )
    ev.add_argument("--n-test", type=positive_int, default=8, help="test images [8]")
    ev.add_argument("--data", choices=DATA_SOURCES, default=None, help="test ground truth (default: the checkpoint's)")
    ev.add_argument("--baselines", nargs="*", choices=BASELINES, default=["input"], help="classical baselines [input]")
    ev.add_argument("--tv-lambda", type=positive_float, default=0.01, help="TV weight at 64x64 [0.01]")
    ev.add_argument("--wiener-lambda", type=positive_float, default=0.01, help="Wiener/Tikhonov weight [0.01]")
    _common(ev)


def _physics(kind: str, n: int, params: dict[str, Any]) -> Any:
    from ..inverse import make_physics

    try:
        return make_physics(kind, n, **params)
    except (TypeError, ValueError) as err:
        raise CLIError(str(err)) from None


#: Optimizer, schedule and generator states of an unfinished ``reconstruct train``, beside its checkpoint.
RESUME_FILE = "resume_state.pt"


def _load_partial(
    args: argparse.Namespace, model: Any, config: dict[str, Any], settings: dict[str, Any]
) -> dict[str, Any]:
    """Load the ``--resume`` checkpoint's weights into ``model``; its training state. CLIError when it does not fit."""
    import torch

    from ..inverse.train import load_reconstructor

    try:
        saved, saved_config, meta = load_reconstructor(args.resume)
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(f"--resume: {err}") from None
    if meta.get("complete", True) is not False:
        raise CLIError(
            f"--resume: {str(args.resume)!r} is not the checkpoint of an interrupted 'reconstruct train' run "
            "(it is complete)"
        )
    for key, value in {**config, **settings}.items():
        theirs = saved_config.get(key) if key in config else meta.get(key)
        if theirs != value:
            flag = "--" + key.replace("_", "-")
            raise CLIError(
                f"--resume: the interrupted run had {flag} {theirs!r}, this command {value!r}; "
                "a resumed run continues with the same settings"
            )
    path = Path(args.resume).parent / RESUME_FILE
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CLIError(f"--resume: {str(path)!r}, the training state beside the checkpoint, is missing") from None
    except Exception as err:
        raise CLIError(f"--resume: {str(path)!r} is not a training state ({type(err).__name__})") from None
    if not isinstance(state, dict) or state.get("epochs_done") != meta.get("epochs_done"):
        raise CLIError(f"--resume: {str(path)!r} does not belong to {str(args.resume)!r} (another epoch)")
    model.load_state_dict(saved.state_dict())
    return state


def _train(args: argparse.Namespace, env: dict[str, Any]) -> int:
    from ..inverse import SPLIT_NOTE, build_reconstructor, ground_truth
    from ..inverse.train import save_reconstructor, train_reconstructor

    params = dict(args.param)
    res = args.train_resolution
    physics = _physics(args.physics, res, params)
    config: dict[str, Any] = {"arch": args.arch, "wrapper": args.wrapper, "input_mode": physics.input_mode}
    config.update({"width": args.width, "modes": args.modes, "depth": args.depth, "n_iter": args.n_iter})
    if args.data_last:
        if args.wrapper != "hqs":
            raise CLIError("--data-last needs --wrapper hqs")
        config["data_last"] = True
    try:
        model = build_reconstructor(config)
        x = ground_truth(args.data, "train", args.n_train, res, seed=args.seed, patch=args.patch)
    except ValueError as err:
        raise CLIError(str(err)) from None
    settings = {
        "physics": args.physics,
        "params": physics.params,
        "data": args.data,
        "split": SPLIT_NOTE,
        "train_resolution": res,
        "n_train": args.n_train,
        "epochs": args.epochs,
        "batch_size": args.batch_size,
        "lr": args.lr,
        "seed": args.seed,
        "patch": args.patch,
        "augment": args.augment,
    }
    resume_state = None
    if args.resume is not None:
        resume_state = _load_partial(args, model, config, settings)
    ckpt, state_file = args.out / "checkpoint.pt", args.out / RESUME_FILE
    done = [0 if resume_state is None else int(resume_state["epochs_done"])]

    def save_epoch(epochs_done: int, state: dict[str, Any]) -> None:
        done[0] = epochs_done
        if not dist.is_main() or epochs_done == args.epochs:
            return  # the final checkpoint follows
        partial = {**settings, "complete": False, "epochs_done": epochs_done, "world_size": dist.world()}
        atomic_save(state, state_file)  # first: a checkpoint.pt of epoch k always has its state beside it
        with atomic_path(ckpt) as tmp:
            save_reconstructor(tmp, copy.deepcopy(model).cpu(), config, **partial)

    try:
        history = train_reconstructor(
            model,
            physics,
            x,
            epochs=args.epochs,
            batch_size=args.batch_size,
            lr=args.lr,
            seed=args.seed,
            device=args.device,
            progress=not args.no_progress and dist.is_main(),
            augment=args.augment,
            epoch_callback=save_epoch,
            resume=resume_state,
        )
    except KeyboardInterrupt:
        if dist.is_main():
            if ckpt.is_file() and done[0]:
                print(
                    f"Interrupted: {ckpt} holds epoch {done[0]} of {args.epochs}; continue with the same command "
                    f"and --resume {ckpt}",
                    file=sys.stderr,
                )
            else:
                print(f"Interrupted: no epoch of this run completed, {ckpt} was not written by it", file=sys.stderr)
        raise
    if not dist.same_on_all_ranks(model):  # parameters and buffers, bit for bit
        raise CLIError(f"rank {dist.rank()}: the model differs between the {dist.world()} processes after training")
    if not dist.is_main():
        return 0
    meta = {
        **settings,
        "parameters": history["parameters"],
        "world_size": dist.world(),
        "batch_size_per_process": args.batch_size,
    }
    if resume_state is not None:
        meta["resumed_from_epoch"] = int(resume_state["epochs_done"])
    with atomic_path(ckpt) as tmp:  # an interrupted save leaves no truncated checkpoint
        save_reconstructor(tmp, model.cpu(), config, **meta)
    state_file.unlink(missing_ok=True)  # the run is complete: nothing to resume
    write_json(args.out / "history.json", {**env, **meta, "config": config, "history": history})
    print(
        f"Trained {args.arch}/{args.wrapper} ({history['parameters']:,} parameters) for {args.physics} at {res}x{res} "
        f"on {args.n_train} {args.data} images, {args.epochs} epoch(s), {history['steps']} steps in "
        f"{history['train_seconds']:.1f} s; loss {history['loss'][0]:.4g} -> {history['loss'][-1]:.4g}."
    )
    if dist.world() > 1:
        print(f"Data-parallel over {dist.world()} processes; parameters identical on all ranks.")
    print(f"Wrote checkpoint.pt and history.json to {args.out}/")
    return 0


def plot_panels(panels: dict[int, dict[str, Any]], path: Path, title: str = "") -> None:
    """One row per resolution, one column per image (truth, measurement image, baselines, ours); PSNR in titles."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt
    import torch

    from ..inverse.train import score

    cols = list(dict.fromkeys(k for row in panels.values() for k in row))
    fig, axes = plt.subplots(len(panels), len(cols), figsize=(2.2 * len(cols), 2.3 * len(panels)), squeeze=False)
    for r, (n, row) in enumerate(panels.items()):
        for c, key in enumerate(cols):
            ax = axes[r][c]
            ax.axis("off")
            if key not in row:
                continue
            img = row[key].detach().float()
            label = f"{key}\n{n}x{n}"
            if key != "truth" and img.shape == row["truth"].shape:
                label += f"  {score(img, row['truth'])['psnr']:.1f} dB"
            ax.imshow(torch.clamp(img[0, 0], 0, 1).cpu().numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_title(label, fontsize=7)
    if title:
        fig.suptitle(title, fontsize=8)
    fig.tight_layout()
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    save_figure(fig, path, dpi=110)
    plt.close(fig)


def _evaluate(args: argparse.Namespace, env: dict[str, Any]) -> int:
    import torch

    from ..inverse import ground_truth
    from ..inverse.models import count_parameters, initial_image
    from ..inverse.train import (
        evaluate_reconstructor,
        load_reconstructor,
        measure,
        tv_reconstruction,
        wiener_reconstruction,
    )

    try:
        model, config, meta = load_reconstructor(args.checkpoint)
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(str(err)) from None
    model.to(args.device)
    kind, params = meta["physics"], dict(meta["params"])
    data = args.data or meta["data"]
    methods: dict[str, Any] = {}
    for b in args.baselines:
        if b == "input":
            methods["input"] = initial_image
        elif b == "tv":
            methods["tv"] = tv_reconstruction(args.tv_lambda)
        elif kind == "deblur" or kind == "denoising":
            methods["wiener"] = wiener_reconstruction(args.wiener_lambda)
        else:
            raise CLIError(f"the wiener baseline needs a Fourier-diagonal physics (deblur), not {kind!r}")
    methods["ours"] = model
    n_params = count_parameters(model)
    rows, panels = [], {}
    for n in _progress(args.resolutions, not args.no_progress, desc="resolutions"):
        physics = _physics(kind, n, params)
        try:
            x = ground_truth(data, "test", args.n_test, n, seed=args.seed, patch=int(meta.get("patch", 256)))
        except ValueError as err:
            raise CLIError(str(err)) from None
        y = measure(physics, x, args.seed)
        panels[n] = {"truth": x[:1], "measurement": initial_image(y[:1], physics)}
        for label, method in methods.items():
            r = evaluate_reconstructor(method, physics, x, y=y)
            rows.append(
                {
                    "method": label,
                    "resolution": n,
                    "psnr": r["psnr"],
                    "ssim": r["ssim"],
                    "n": r["n"],
                    "parameters": n_params if label == "ours" else 0,
                    "physics": kind,
                    "data": data,
                }
            )
            if label != "input":
                with torch.no_grad():
                    panels[n][label] = method(y[:1], physics)
    out = args.out
    write_json(
        out / "results.json",
        {
            **env,
            "checkpoint": str(args.checkpoint),
            "physics": kind,
            "params": params,
            "data": data,
            "train_resolution": meta.get("train_resolution"),
            "config": config,
            "resolutions": args.resolutions,
            "n_test": args.n_test,
            "rows": rows,
        },
    )
    write_csv(out / "results.csv", rows)
    plot_panels(panels, out / "panels.png", title=f"{kind} {params}; trained at {meta.get('train_resolution')}")
    print(f"{'method':<10}" + "".join(f"{n:>16}" for n in args.resolutions))
    for label in methods:
        cells = [f"{r['psnr']:7.2f}/{r['ssim']:.3f}" for r in rows if r["method"] == label]
        print(f"{label:<10}" + "".join(f"{c:>16}" for c in cells))
    print(f"PSNR (dB) / SSIM on {args.n_test} {data} test images; ours has {n_params:,} parameters.")
    print(f"Wrote results.json, results.csv and panels.png to {out}/")
    return 0


def run(args: argparse.Namespace) -> int:
    """Dispatch to the action; ``train`` under torchrun starts (and at the end destroys) the process group."""
    t0 = time.perf_counter()
    with dist.launched(args.device) if args.action == "train" else nullcontext():
        if args.action == "train":
            args.device = dist.local_device(args.device)
        env = prepare_run(args)
        code = _train(args, env) if args.action == "train" else _evaluate(args, env)
        if not args.no_progress and dist.is_main():
            print(f"({time.perf_counter() - t0:.1f} s)")
        return code
