"""Rerun a figure or table of the docs from the manifest ``benchmarks/figures.toml``.

Examples
--------
From the repository root::

    python -m benchmarks figure --list                  # every name, with the pages that show it
    python -m benchmarks figure --dry-run darcy_predictions   # the commands and the copy, not run
    python -m benchmarks figure darcy_predictions       # rerun, then copy the figure into docs/img

Each manifest entry (``[[figure]]`` or ``[[table]]``) names the docs pages that show it, the
commands that produce it (as the pages state them), the results folder the commands write
into and, for a figure, the file in that folder (``source``) and its copy under ``docs/img``
(``target``). The commands run from the repository root, one after the other; the first
that fails stops the run and its exit code is returned. ``docs/img`` is the only place
anything is copied into ``docs/``, and only by this command.
"""

from __future__ import annotations

import argparse
import difflib
import os
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: the same parser as the tomli package
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = ["MANIFEST", "ROOT", "Entry", "build_parser", "load_manifest", "main", "split_command"]

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = ROOT / "benchmarks" / "figures.toml"


@dataclass(frozen=True)
class Entry:
    """One figure or table of the docs.

    Attributes
    ----------
    name : str
        Unique name (``python -m benchmarks figure NAME``).
    kind : str
        ``"figure"`` or ``"table"``.
    pages : tuple of str
        Docs pages that show it, relative to the repository root.
    commands : tuple of str
        Shell-style commands run from the repository root, in order.
    results : str
        Results folder the commands write into, relative to the repository root.
    source : str or None
        Figure: its file name in ``results``; table: the CSV behind it in ``results``.
    target : str or None
        Figure only: where it is copied, relative to the repository root (under ``docs/img``).
    """

    name: str
    kind: str
    pages: tuple[str, ...]
    commands: tuple[str, ...]
    results: str
    source: str | None = None
    target: str | None = None

    @property
    def source_path(self) -> Path | None:
        return None if self.source is None else ROOT / self.results / self.source

    @property
    def target_path(self) -> Path | None:
        return None if self.target is None else ROOT / self.target


def load_manifest(path: Path = MANIFEST) -> dict[str, Entry]:
    """Entries of the manifest by name (figures first, then tables, in file order).

    Raises
    ------
    ValueError
        A duplicate name, a missing field, or a figure target outside ``docs/img``.
    """
    with open(path, "rb") as f:
        data = tomllib.load(f)
    entries: dict[str, Entry] = {}
    for kind, key in (("figure", "figure"), ("table", "table")):
        for raw in data.get(key, []):
            missing = [k for k in ("name", "pages", "commands", "results", "source") if k not in raw]
            if kind == "figure" and "target" not in raw:
                missing.append("target")
            if missing:
                raise ValueError(f"{path.name}: {kind} {raw.get('name', '?')!r} lacks {', '.join(missing)}")
            name = raw["name"]
            if name in entries:
                raise ValueError(f"{path.name}: duplicate name {name!r}")
            target = raw.get("target")
            if target is not None and not target.startswith("docs/img/"):
                raise ValueError(f"{path.name}: {name!r}: target {target!r} is not under docs/img/")
            entries[name] = Entry(
                name=name,
                kind=kind,
                pages=tuple(raw["pages"]),
                commands=tuple(raw["commands"]),
                results=raw["results"],
                source=raw["source"],
                target=target,
            )
    return entries


def split_command(command: str) -> tuple[dict[str, str], list[str]]:
    """``"A=1 python -m x --y"`` -> ``({"A": "1"}, ["python", "-m", "x", "--y"])``."""
    words = shlex.split(command, comments=True)
    env: dict[str, str] = {}
    while words and "=" in words[0] and not words[0].startswith("-") and words[0].split("=", 1)[0].isidentifier():
        key, value = words.pop(0).split("=", 1)
        env[key] = value
    return env, words


def _argv(words: list[str]) -> list[str]:
    """``python`` runs as this interpreter (the environment the command was started in)."""
    return [sys.executable, *words[1:]] if words and words[0] in ("python", "python3") else words


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks figure",
        description="Rerun the commands behind a figure or table of the docs (benchmarks/figures.toml) from the "
        "repository root, then copy the figure into docs/img.",
    )
    p.add_argument("name", nargs="?", help="entry of the manifest (see --list)")
    p.add_argument("--list", action="store_true", help="list the names with the pages that show them")
    p.add_argument("--dry-run", action="store_true", help="print the commands and the copy without running them")
    p.add_argument(
        "--copy-only",
        action="store_true",
        help="skip the commands: copy the figure the results folder already holds (after running them yourself)",
    )
    p.add_argument("--manifest", type=Path, default=MANIFEST, help=argparse.SUPPRESS)
    return p


def _rel(path: Path) -> str:
    try:
        return path.relative_to(ROOT).as_posix()
    except ValueError:
        return str(path)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        entries = load_manifest(args.manifest)
    except (OSError, ValueError, tomllib.TOMLDecodeError) as err:
        print(f"error: cannot read the manifest: {err}", file=sys.stderr)
        return 2
    if args.list:
        width = max(map(len, entries), default=0)
        for entry in entries.values():
            print(f"{entry.name:<{width}}  {entry.kind:<6}  {', '.join(entry.pages)}")
        return 0
    if args.name is None:
        print("error: give a NAME (python -m benchmarks figure --list shows them)", file=sys.stderr)
        return 2
    entry = entries.get(args.name)
    if entry is None:
        close = difflib.get_close_matches(args.name, list(entries), n=5, cutoff=0.5)
        hint = f"; close matches: {', '.join(close)}" if close else ""
        print(f"error: no entry {args.name!r} in {_rel(args.manifest)}{hint} (--list shows all)", file=sys.stderr)
        return 2
    copy = None if entry.target is None else f"cp {entry.results}/{entry.source} {entry.target}"
    if args.dry_run:
        print(f"# {entry.name} ({entry.kind}; shown in {', '.join(entry.pages)}); run from the repository root")
        for command in entry.commands:
            print(command)
        print(copy if copy else f"# table: {entry.results}/{entry.source}")
        return 0
    for command in () if args.copy_only else entry.commands:
        env, words = split_command(command)
        print(f"$ {command}", flush=True)
        rc = subprocess.call(_argv(words), cwd=ROOT, env={**os.environ, **env})
        if rc != 0:
            print(f"error: command failed with exit code {rc}: {command}", file=sys.stderr)
            return rc
    source = entry.source_path
    assert source is not None
    if not source.is_file():
        what = "the results folder holds" if args.copy_only else "the commands ran but produced"
        print(f"error: {what} no {_rel(source)}", file=sys.stderr)
        return 1
    if entry.target_path is not None:
        entry.target_path.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, entry.target_path)
        print(f"copied {_rel(source)} -> {entry.target}")
    else:
        print(f"table data: {_rel(source)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
