"""One CLI dialect: the same flag for the same thing in every subcommand; old names still work, with a note."""

from __future__ import annotations

import argparse
import ast
import re
from pathlib import Path

import pytest

import spectral_sparse.cli as cli
from spectral_sparse.checkpoint import load_checkpoint
from spectral_sparse.cli import build_parser, main
from spectral_sparse.cli._shared import _DeprecatedAlias

CLI_DIR = Path(cli.__file__).parent


def _subparsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """``(path, parser)`` for every (nested) subcommand parser."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield (*path, name), sub
                yield from _subparsers(sub, (*path, name))


def _options(parser: argparse.ArgumentParser):
    """``(flag, dest, visible, action)`` for every long option of one parser (help and subparsers left out)."""
    for action in parser._actions:
        if isinstance(action, (argparse._HelpAction, argparse._SubParsersAction)):
            continue
        for flag in action.option_strings:
            if flag.startswith("--"):
                yield flag, action.dest, action.help is not argparse.SUPPRESS, action


@pytest.fixture(scope="module")
def tree():
    return dict(_subparsers(build_parser()))


def test_every_subcommand_is_walked(tree) -> None:
    names = {path[0] for path in tree}
    assert names == set(cli.SUBCOMMANDS)
    assert ("reconstruct", "train") in tree and ("reconstruct", "evaluate") in tree


def test_one_flag_per_concept_and_one_concept_per_flag(tree) -> None:
    flag_dests: dict[str, set[str]] = {}
    dest_flags: dict[str, set[str]] = {}
    for parser in tree.values():
        for flag, dest, visible, _ in _options(parser):
            if visible:
                flag_dests.setdefault(flag, set()).add(dest)
                dest_flags.setdefault(dest, set()).add(flag)
    assert {f: d for f, d in flag_dests.items() if len(d) > 1} == {}
    assert {d: f for d, f in dest_flags.items() if len(f) > 1} == {}


def _visible(parser: argparse.ArgumentParser) -> set[str]:
    return {flag for flag, _, visible, _ in _options(parser) if visible}


@pytest.mark.parametrize(
    ("path", "flags"),
    [
        (("demo",), {"--train-resolution", "--resolutions"}),
        (("train",), {"--train-resolution", "--train-resolutions", "--attack-steps", "--attack-step-size"}),
        (("evaluate",), {"--resolutions"}),
        (("attack",), {"--resolutions", "--attack-steps", "--attack-step-size"}),
        (("robustness",), {"--attack-steps", "--attack-step-size"}),
        (("reconstruct", "train"), {"--train-resolution"}),
        (("reconstruct", "evaluate"), {"--resolutions"}),
    ],
)
def test_the_canonical_names(tree, path, flags) -> None:
    visible = _visible(tree[path])
    assert flags <= visible
    assert not visible & {"--resolution", "--alpha"}
    if path != ("prune",):  # prune's --steps are pruning steps
        assert "--steps" not in visible


def test_hidden_options_are_deprecated_aliases_of_visible_ones(tree) -> None:
    hidden_seen = set()
    for path, parser in tree.items():
        for flag, dest, visible, action in _options(parser):
            if visible:
                continue
            if path[0] == "reconstruct" and not isinstance(action, _DeprecatedAlias):
                continue  # the common options repeated on each action (default SUPPRESS, help shown)
            assert isinstance(action, _DeprecatedAlias), (path, flag)
            assert action.new in _visible(parser) and parser._option_string_actions[action.new].dest == dest
            hidden_seen.add((path, flag))
    assert hidden_seen == {
        (("train",), "--resolution"),
        (("train",), "--resolutions"),
        (("train",), "--schedule"),
        (("attack",), "--steps"),
        (("attack",), "--alpha"),
        (("robustness",), "--steps"),
        (("robustness",), "--alpha"),
    }


def _parse(argv: list[str]) -> dict:
    ns = vars(build_parser().parse_args(argv))
    return {k: v for k, v in ns.items() if not k.startswith("_")}


OLD_NEW = [
    (["train", "--resolution", "16"], ["train", "--train-resolution", "16"], ["--resolution"]),
    (["train", "--resolutions", "16", "20"], ["train", "--train-resolutions", "16", "20"], ["--resolutions"]),
    (
        ["train", "--optimizer", "linbreg", "--schedule", "onecycle"],
        ["train", "--optimizer", "linbreg", "--lr-schedule", "onecycle"],
        ["--schedule"],
    ),
    (
        ["attack", "c.pt", "--steps", "3", "--alpha", "0.01"],
        ["attack", "c.pt", "--attack-steps", "3", "--attack-step-size", "0.01"],
        ["--steps", "--alpha"],
    ),
    (
        ["robustness", "c.pt", "--steps", "2", "--alpha", "0.02"],
        ["robustness", "c.pt", "--attack-steps", "2", "--attack-step-size", "0.02"],
        ["--steps", "--alpha"],
    ),
]


@pytest.mark.parametrize(("old", "new", "renamed"), OLD_NEW)
def test_old_flags_parse_like_the_new_ones_with_a_note(old, new, renamed, capsys) -> None:
    assert _parse(old) == _parse(new)
    err = capsys.readouterr().err
    new_names = [w for w in new if w.startswith("--") and w not in old]
    for flag, replacement in zip(renamed, new_names):
        assert f"{flag} is deprecated, use {replacement}" in err
    assert err.count("\n") == len(renamed)
    _parse(new)
    assert capsys.readouterr().err == ""  # the new names say nothing


def test_old_flags_are_checked_like_the_new_ones(capsys) -> None:
    for argv in (["train", "--resolution", "0"], ["attack", "c.pt", "--steps", "x"], ["train", "--schedule", "x"]):
        with pytest.raises(SystemExit) as exc:
            build_parser().parse_args(argv)
        assert exc.value.code == 2
        assert "Traceback" not in capsys.readouterr().err


def test_help_hides_the_old_names(capsys) -> None:
    hidden = {"train": ("--resolution", "--resolutions", "--schedule"), "attack": ("--steps", "--alpha")}
    for command, old in hidden.items():
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        for flag in old:
            assert re.search(rf"(?<![\w-]){flag}(?![\w-])", out) is None, (command, flag)


def test_demo_resolutions_space_or_comma_separated() -> None:
    from spectral_sparse.cli.demo import _config

    a = _config(build_parser().parse_args(["demo", "--resolutions", "16", "28x40"])).resolutions
    b = _config(build_parser().parse_args(["demo", "--resolutions", "16,28x40"])).resolutions
    assert a == b == ((28, 28), (16, 16), (28, 40))


@pytest.mark.slow
def test_train_with_the_old_flag_names_end_to_end(tmp_path: Path, capsys) -> None:
    argv = ["train", "--data", "shapes", "--resolution", "16", "--resolutions", "16", "20", "--n-train", "32"]
    tiny = ["--n-test", "8", "--epochs", "1", "--batch-size", "16", "--width", "4", "--modes", "3", "--depth", "1"]
    assert main([*argv, *tiny, "--no-progress", "--out", str(tmp_path)]) == 0
    _, meta = load_checkpoint(tmp_path / "checkpoint.pt")
    assert meta["train_resolution"] == 16 and meta["train_resolutions"] == [16, 20]
    err = capsys.readouterr().err
    assert "--resolution is deprecated, use --train-resolution" in err
    assert "--resolutions is deprecated, use --train-resolutions" in err


def test_subcommands_do_not_import_each_other() -> None:
    """Subcommand modules share code through _common/_shared/_training/_report, never through one another."""
    subcommands = {m.lstrip(".") for m in cli.SUBCOMMANDS.values()}
    for path in CLI_DIR.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                assert node.module not in subcommands, f"{path.name} imports .{node.module}"
