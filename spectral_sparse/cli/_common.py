"""What every subcommand shares: common options, device checks, seeding, output files.

Output files are written atomically (a temporary file in the output directory,
then :func:`os.replace`), so an interrupted run never leaves a truncated
result. An output directory that already holds results (``*.pt``, ``*.json``,
``*.csv`` or ``*.png`` files) is refused unless ``--overwrite`` is given, or
unless the run continues a checkpoint kept in that same directory
(``train --resume OUT/checkpoint.pt --out OUT``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .._checks import write_csv, write_json
from ..checkpoint import atomic_path

__all__ = [
    "ATTACKS",
    "RESULT_SUFFIXES",
    "CLIError",
    "add_common_arguments",
    "describe_attack",
    "make_attack",
    "parse_device",
    "prepare_run",
    "save_figure",
    "write_csv",
    "write_json",
]

#: Attacks the command line can build (see :func:`make_attack`).
ATTACKS = ("pgd", "fgsm", "fourier-pgd")


#: Files with these suffixes in an output directory count as earlier results (see :func:`check_output_dir`).
RESULT_SUFFIXES = (".pt", ".json", ".csv", ".png")


class CLIError(Exception):
    """An expected failure while running a subcommand: printed as one line, exit code 1."""


def parse_device(text: str) -> torch.device:
    """``--device`` value -> ``torch.device``, refusing devices this machine does not have.

    Raises
    ------
    argparse.ArgumentTypeError
        For an unknown device string or an unavailable accelerator (argparse
        turns it into a usage message and exit code 2).
    """
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise argparse.ArgumentTypeError(f"unknown device {text!r} (expected e.g. 'cpu', 'cuda', 'cuda:0')") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise argparse.ArgumentTypeError(
                f"{text!r} was requested but CUDA is not available on this machine "
                "(torch.cuda.is_available() is False); use --device cpu"
            )
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise argparse.ArgumentTypeError(f"{text!r} was requested but this machine has {count} CUDA device(s)")
    elif device.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise argparse.ArgumentTypeError(f"{text!r} was requested but MPS is not available on this machine")
    elif device.type != "cpu":
        raise argparse.ArgumentTypeError(f"unsupported device {text!r} (use cpu, cuda or mps)")
    return device


def _number_type(
    convert: Callable[[str], float], ok: Callable[[float], bool], expected: str, doc: str
) -> Callable[[str], Any]:
    """An argparse type: ``convert(text)`` when ``ok`` accepts it, else an error that says what was ``expected``."""

    def parse(text: str) -> Any:
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}") from None
        if not ok(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, got {text!r}")
        return value

    parse.__doc__ = f"argparse type: {doc}."
    return parse


_INF = float("inf")
positive_int = _number_type(int, lambda v: v >= 1, "a positive integer", "an int >= 1")
non_negative_int = _number_type(int, lambda v: v >= 0, "a non-negative integer", "an int >= 0")
positive_float = _number_type(float, lambda v: 0 < v < _INF, "a positive number", "a finite number > 0")
non_negative_float = _number_type(float, lambda v: 0 <= v < _INF, "a finite number >= 0", "a finite number >= 0")
fraction = _number_type(float, lambda v: 0 <= v < 1, "a number in [0, 1)", "a number in [0, 1)")


def add_common_arguments(parser: argparse.ArgumentParser, name: str) -> None:
    """``--device``, ``--seed``, ``--out``, ``--threads`` and ``--no-progress``, the same for every subcommand."""
    group = parser.add_argument_group("common options")
    group.add_argument(
        "--device", type=parse_device, default=torch.device("cpu"), help="torch device to run on (default: cpu)"
    )
    group.add_argument("--seed", type=non_negative_int, default=0, help="random seed (default: 0)")
    group.add_argument(
        "--out",
        type=Path,
        default=Path(f"spectral-sparse-{name}"),
        help=f"output directory for results and plots (default: ./spectral-sparse-{name}/)",
    )
    group.add_argument(
        "--threads",
        type=positive_int,
        default=None,
        help="torch CPU threads (default: torch's default for this machine; 1 is often faster on a busy machine)",
    )
    group.add_argument("--no-progress", action="store_true", help="hide progress bars")
    group.add_argument(
        "--overwrite",
        action="store_true",
        help="write into an output directory that already holds results, replacing the files this run writes "
        "(without it such a directory is refused)",
    )


def existing_results(out: Path) -> list[str]:
    """Names of the files in ``out`` that look like results (suffix in :data:`RESULT_SUFFIXES`), sorted."""
    if not out.is_dir():
        return []
    return sorted(p.name for p in out.iterdir() if p.is_file() and p.suffix in RESULT_SUFFIXES)


def check_output_dir(args: argparse.Namespace) -> None:
    """Refuse an output directory that already holds results, unless ``--overwrite`` or a resume into it.

    Raises
    ------
    CLIError
        Naming the directory, the files found and the two ways out.
    """
    out: Path = args.out
    if getattr(args, "overwrite", False) or (out.exists() and not out.is_dir()):
        return  # a file in the way is reported by prepare_run's mkdir
    found = existing_results(out)
    if not found:
        return
    resume = getattr(args, "resume", None)
    if resume is not None and Path(resume).resolve().parent == out.resolve():
        return  # continuing the checkpoint kept there: its files are the ones being advanced
    shown = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
    raise CLIError(
        f"output directory {str(out)!r} already holds results ({shown}); "
        "choose another --out, or pass --overwrite to replace them"
    )


def prepare_run(args: argparse.Namespace) -> dict[str, Any]:
    """Apply the common options (threads, seed, output directory); return facts to record in the results.

    Raises :class:`CLIError` when the output directory already holds results
    and neither ``--overwrite`` nor a resume into it was asked for (see
    :func:`check_output_dir`), or when it cannot be created.
    """
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    check_output_dir(args)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise CLIError(f"cannot create output directory {str(args.out)!r}: {err.strerror or err}") from None
    device = args.device
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu"
    return {
        "seed": args.seed,
        "device": str(device),
        "device_name": name,
        "torch_threads": torch.get_num_threads(),
        "torch_version": torch.__version__,
    }


def make_attack(
    model: torch.nn.Module,
    kind: str,
    eps: float,
    *,
    alpha: float | None = None,
    steps: int = 20,
    norm: str | None = None,
    fourier_modes: float = 6.0,
    random_start: bool = True,
    seed: int = 0,
) -> Any:
    """The attack ``kind`` (one of :data:`ATTACKS`) bound to ``model``, for ``attack``, ``robustness`` and ``train``.

    ``norm`` defaults to ``"linf"`` for PGD and ``"l2"`` (function space) for
    FourierPGD; ``alpha`` to the attack's own default. Images are taken to lie
    in [0, 1]. Raises :class:`CLIError` for an unknown kind or a bad combination.
    """
    from ..attacks import FGSM, PGD, FourierPGD

    if kind not in ATTACKS:
        raise CLIError(f"unknown attack {kind!r}; valid: {', '.join(ATTACKS)}")
    try:
        if kind == "fgsm":
            if norm not in (None, "linf"):
                raise CLIError(f"FGSM is an L-inf attack; --norm {norm!r} is not supported")
            return FGSM(model, eps)
        common = {"alpha": alpha, "steps": steps, "random_start": random_start, "seed": seed}
        if kind == "pgd":
            return PGD(model, eps, norm=norm or "linf", **common)
        return FourierPGD(model, eps, modes=fourier_modes, norm=norm or "l2", **common)
    except ValueError as err:
        raise CLIError(str(err)) from None


def describe_attack(attack: Any) -> dict[str, Any]:
    """Plain facts about an attack for the results files (class name, eps, alpha, steps, norm, ...)."""
    keys = ("eps", "alpha", "steps", "norm", "random_start", "seed", "domain")
    out = {"attack": type(attack).__name__, **{k: getattr(attack, k) for k in keys if hasattr(attack, k)}}
    if hasattr(attack, "modes"):
        out["modes"] = len(attack.modes)
    return out


def save_figure(fig: Any, path: Path, dpi: int = 120) -> None:
    """``fig.savefig(path, dpi=dpi)``, atomically (the format follows the suffix of ``path``)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=dpi)
