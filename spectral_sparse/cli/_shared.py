"""What several subcommands share beyond the common options: flag aliases, data, test sets, checkpoints, attacks.

Subcommands import these helpers from here rather than from one another.

* :func:`add_deprecated_alias`: an old flag name kept working (hidden from
  ``--help``; using it prints ``--old is deprecated, use --new`` on stderr).
* :func:`load_data`, :func:`test_set`, :func:`train_set`: the classification
  data of ``train`` and, from a checkpoint's metadata, of ``evaluate``,
  ``prune``, ``attack`` and ``robustness``.
* :func:`load_model`: a checkpoint, with a one-line :class:`CLIError` for a bad file.
* :func:`add_attack_options` and :func:`build_attack`: the attack option group
  (``--attack``, ``--eps``, ``--attack-steps``, ``--attack-step-size``, ...),
  the same names in ``train``, ``attack`` and ``robustness``.

The flag dialect: the training grid is ``--train-resolution``, mixed training
grids ``--train-resolutions``, evaluation grids ``--resolutions``; the attack
iterations ``--attack-steps`` and its step size ``--attack-step-size``.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import torch

from ..data.mnist import SPLIT_NOTE, default_data_root, mnist_split
from ..data.shapes import CLASSES, make_shapes
from ._common import ATTACKS, CLIError, make_attack, non_negative_float, positive_float, positive_int

__all__ = [
    "SHAPES_TEST_OFFSET",
    "add_attack_arguments",
    "add_attack_options",
    "add_deprecated_alias",
    "build_attack",
    "load_attacked",
    "load_data",
    "load_model",
    "test_set",
    "train_set",
    "training_data",
]

#: Test-set seed offset for the shapes data (test shapes use seed + SHAPES_TEST_OFFSET).
SHAPES_TEST_OFFSET = 1_000_003


# ----------------------------------------------------------------------------- deprecated flag names


class _DeprecatedAlias(argparse.Action):
    """An old option string that acts like ``target`` after a one-line note on stderr."""

    def __init__(self, option_strings: list[str], dest: str, *, new: str, target: argparse.Action, **kw: Any) -> None:
        super().__init__(option_strings, dest, **kw)
        self.new, self.target = new, target

    def __call__(
        self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any, option_string: Any = None
    ) -> None:
        print(f"{parser.prog}: {option_string} is deprecated, use {self.new}", file=sys.stderr)
        self.target(parser, namespace, values, self.new)


def add_deprecated_alias(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """Accept ``old`` as a hidden alias of the already defined option ``new`` (same type, nargs and dest).

    Examples
    --------
    >>> import contextlib, io
    >>> p = argparse.ArgumentParser(prog="demo")
    >>> _ = p.add_argument("--train-resolution", type=int, default=28)
    >>> add_deprecated_alias(p, "--resolution", "--train-resolution")
    >>> err = io.StringIO()
    >>> with contextlib.redirect_stderr(err):
    ...     ns = p.parse_args(["--resolution", "16"])
    >>> ns.train_resolution, err.getvalue().strip()
    (16, 'demo: --resolution is deprecated, use --train-resolution')
    >>> "--resolution" in p.format_help()
    False
    """
    try:
        target = parser._option_string_actions[new]
    except KeyError:
        raise ValueError(f"new: no option {new!r} in {parser.prog!r} to alias") from None
    parser.add_argument(
        old,
        action=_DeprecatedAlias,
        dest=target.dest,
        nargs=target.nargs,
        type=target.type,
        choices=target.choices,
        metavar=target.metavar,
        default=argparse.SUPPRESS,
        help=argparse.SUPPRESS,
        new=new,
        target=target,
    )


# ----------------------------------------------------------------------------- data and checkpoints


def load_data(data: str, args: argparse.Namespace, resolution: int) -> tuple[tuple, tuple, dict[str, Any]]:
    """``(x_train, y_train), (x_test, y_test), facts`` for ``--data``; CLIError for a missing data directory.

    MNIST comes at its native 28x28 (whole split); the shapes are generated at
    ``resolution`` (``--n-train`` / ``--n-test`` of them, default 3000 / 1000).
    """
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


def training_data(args: argparse.Namespace, res: int) -> tuple[Any, Any, Any, Any, dict[str, Any]]:
    """``x_train, y_train, x_test, y_test, facts`` for ``train`` at grid ``res`` (MNIST: the first ``--n-train``)."""
    (x_train, y_train), (x_test, y_test), facts = load_data(args.data, args, res)
    if args.data == "mnist":
        if args.n_train:
            x_train, y_train = x_train[: args.n_train], y_train[: args.n_train]
        if args.n_test:
            x_test, y_test = x_test[: args.n_test], y_test[: args.n_test]
        if res != 28:
            from ..data.transforms import resize

            x_train, x_test = resize(x_train, res), resize(x_test, res)
    return x_train, y_train, x_test, y_test, facts


def _with_checkpoint_data_dir(meta: dict[str, Any], args: argparse.Namespace) -> argparse.Namespace:
    """``args`` with ``data_dir`` taken from the checkpoint when ``--data-dir`` was not given and it still exists."""
    if args.data_dir is None and meta.get("data_dir") and Path(meta["data_dir"]).is_dir():
        return argparse.Namespace(**{**vars(args), "data_dir": Path(meta["data_dir"])})
    return args


def _unknown_data(data: Any) -> CLIError:
    return CLIError(f"checkpoint metadata names an unknown data set {data!r} (expected 'mnist' or 'shapes')")


def test_set(meta: dict[str, Any], args: argparse.Namespace) -> tuple[torch.Tensor, torch.Tensor]:
    """The test split named by a checkpoint's metadata, at the training grid (first ``--n-test``)."""
    data = meta.get("data")
    if data == "mnist":
        _, (x, y), _ = load_data("mnist", _with_checkpoint_data_dir(meta, args), 28)
    elif data == "shapes":
        res = int(meta["train_resolution"])
        x, y = make_shapes(int(meta.get("n_test", 1000)), res, seed=int(meta["shapes_test_seed"]))
    else:
        raise _unknown_data(data)
    if args.n_test:
        x, y = x[: args.n_test], y[: args.n_test]
    return x, y


test_set.__test__ = False  # type: ignore[attr-defined]  # not a pytest test despite its name


def train_set(meta: dict[str, Any], args: argparse.Namespace, res: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The training split named by a checkpoint's metadata, at grid ``res`` (first ``--n-train``)."""
    data = meta.get("data")
    if data == "mnist":
        (x, y), _, _ = load_data("mnist", _with_checkpoint_data_dir(meta, args), 28)
        if args.n_train:
            x, y = x[: args.n_train], y[: args.n_train]
        if res != 28:
            from ..data.transforms import resize

            x = resize(x, res)
        return x, y
    if data == "shapes":
        n = args.n_train or int(meta.get("n_train", 3000))
        return make_shapes(n, res, seed=int(meta.get("seed", 0)))
    raise _unknown_data(data)


def load_model(path: Path, device: torch.device | None = None, *, flag: str = "") -> tuple[Any, dict[str, Any]]:
    """``(model, metadata)`` of a classifier checkpoint, on ``device``; a one-line CLIError for a bad file.

    ``flag`` (e.g. ``"--resume"``) prefixes the message when the path came from that option.
    """
    from ..checkpoint import load_checkpoint

    try:
        model, meta = load_checkpoint(path)
    except (FileNotFoundError, ValueError) as err:
        raise CLIError(f"{flag}: {err}" if flag else str(err)) from None
    if device is not None:
        model.to(device)
    return model, meta


# ----------------------------------------------------------------------------- attacks


def add_attack_options(parser: argparse.ArgumentParser, *, training: bool = False) -> None:
    """The attack option group, with the same names in ``train``, ``attack`` and ``robustness``.

    ``training=True`` (``train``): ``--attack`` defaults to ``none`` and the
    other options to ``None`` (so :func:`~spectral_sparse.cli._training.attack_setup`
    can tell what was given), plus ``--clean-weight``. Otherwise (``attack``,
    ``robustness``): PGD with 20 steps, plus ``--norm``, ``--fourier-modes`` and
    ``--no-random-start``, and the deprecated aliases ``--steps`` and ``--alpha``.
    """
    from ._common import fraction

    if training:
        g = parser.add_argument_group("adversarial training (spectral_sparse.attacks; images in [0, 1])")
        g.add_argument(
            "--attack",
            choices=("none", *ATTACKS),
            default="none",
            help="train on adversarial examples from this attack, crafted per batch at its grid [none]",
        )
        g.add_argument("--eps", type=positive_float, default=None, help="attack budget [0.1]")
        g.add_argument("--attack-steps", type=positive_int, default=None, help="PGD/FourierPGD iterations [5]")
        g.add_argument(
            "--attack-step-size", type=positive_float, default=None, help="PGD/FourierPGD step size [2.5 eps / steps]"
        )
        g.add_argument(
            "--clean-weight", type=fraction, default=None, help="loss (1 - w) CE(adversarial) + w CE(clean) [0]"
        )
        return
    g = parser.add_argument_group("attack (spectral_sparse.attacks; images in [0, 1])")
    g.add_argument("--attack", choices=ATTACKS, default="pgd", help="attack [pgd]")
    g.add_argument("--eps", type=non_negative_float, default=0.1, help="budget [0.1]")
    g.add_argument("--attack-steps", type=positive_int, default=20, help="iterations (PGD, FourierPGD) [20]")
    g.add_argument("--attack-step-size", type=non_negative_float, default=None, help="step size [2.5 eps / steps]")
    g.add_argument(
        "--norm", default=None, help="PGD: linf or l2 [linf]; FourierPGD: l2 or linf-coeff (function space) [l2]"
    )
    g.add_argument("--fourier-modes", type=non_negative_float, default=6.0, help="FourierPGD mode radius [6]")
    g.add_argument("--no-random-start", action="store_true", help="start PGD at the clean image")
    add_deprecated_alias(parser, "--steps", "--attack-steps")
    add_deprecated_alias(parser, "--alpha", "--attack-step-size")


def add_attack_arguments(parser: argparse.ArgumentParser) -> None:
    """Checkpoint, data and attack options shared by ``attack`` and ``robustness``."""
    parser.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="checkpoint.pt written by train")
    add_attack_options(parser)
    parser.add_argument("--n-test", type=positive_int, default=200, help="attack the first N test images [200]")
    parser.add_argument("--batch-size", type=positive_int, default=50, help="images attacked at a time [50]")
    parser.add_argument("--method", default="fourier", help="resize method that puts the test set on a grid [fourier]")
    parser.add_argument(
        "--data-dir", type=Path, default=None, help="MNIST directory (default: the checkpoint's, else the default)"
    )


def build_attack(args: argparse.Namespace, model: Any) -> Any:
    """The attack named by ``--attack`` with its options, bound to ``model``; CLIError for bad combinations."""
    return make_attack(
        model,
        args.attack,
        args.eps,
        alpha=args.attack_step_size,
        steps=args.attack_steps,
        norm=args.norm,
        fourier_modes=args.fourier_modes,
        random_start=not args.no_random_start,
        seed=args.seed,
    )


def load_attacked(args: argparse.Namespace) -> tuple[Any, dict[str, Any], torch.Tensor, torch.Tensor]:
    """``model, metadata, x_test, y_test`` for ``attack``/``robustness`` (images clamped to [0, 1])."""
    model, meta = load_model(args.checkpoint, args.device)
    x, y = test_set(meta, args)
    return model, meta, x.clamp(0, 1), y
