"""The ``spectral-sparse`` command line: one entry point (console script target :func:`main`), one subcommand per task.

A subcommand is a module in this package that defines ``HELP`` (one line),
``DESCRIPTION``, ``add_arguments(parser)`` and ``run(args) -> int``; adding one
means adding its module name to :data:`SUBCOMMANDS`. The common options
(``--device``, ``--seed``, ``--out``, ``--threads``, ``--no-progress``) are
added to every subcommand here.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

from ._common import CLIError, add_common_arguments

__all__ = ["SUBCOMMANDS", "build_parser", "main"]

#: Subcommand name -> module (relative to this package). Later: bench.
SUBCOMMANDS: dict[str, str] = {
    "demo": ".demo",
    "train": ".train",
    "evaluate": ".evaluate",
    "prune": ".prune",
    "reconstruct": ".reconstruct",
    "attack": ".attack",
    "robustness": ".robustness",
}

PROG = "spectral-sparse"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with every registered subcommand."""
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Sparse spectral convolutions: discretization-invariant models whose cost follows their modes.",
        epilog=f"Run '{PROG} <command> --help' for the options of one command.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="<command>", title="commands")
    sub.required = True
    for name, module_name in SUBCOMMANDS.items():
        module = importlib.import_module(module_name, __package__)
        p = sub.add_parser(
            name,
            help=module.HELP,
            description=module.DESCRIPTION,
        )
        module.add_arguments(p)
        add_common_arguments(p, name)
        p.set_defaults(_run=module.run, _parser=p)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``spectral-sparse`` with ``argv`` (default: ``sys.argv[1:]``); return the exit code.

    Bad arguments exit with code 2 and a usage message (argparse), an expected
    failure while running with code 1 and a one-line message, an interrupt
    with code 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args._run(args) or 0)
    except CLIError as err:
        print(f"{PROG} {args.command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{PROG} {args.command}: interrupted", file=sys.stderr)
        return 130
