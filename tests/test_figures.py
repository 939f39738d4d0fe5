"""The figure manifest ``benchmarks/figures.toml`` and ``python -m benchmarks figure`` (no training).

* The manifest parses (tomllib) and names every figure the docs pages show (``docs/img/*.png``).
* Each entry's pages exist and show it; each figure's target lies in ``docs/img`` and exists.
* Each command of ``python -m experiments.<name>`` / ``python -m benchmarks[.<name>]`` parses
  with that module's parser (``build_parser()``, or the timing runner's), without running.
* ``--list``, ``--dry-run``, unknown names, a failing command and a missing figure.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import re
import subprocess
import sys
from pathlib import Path

import pytest

figures = pytest.importorskip("benchmarks.figures", reason="tomllib (Python 3.11) or tomli is needed")
tomllib = figures.tomllib

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
ENTRIES = figures.load_manifest()
IMG_REF = re.compile(r"!\[[^\]]*\]\(((?:\.\./)*img/[^)\s]+\.png)\)")


def _shown_figures() -> dict[str, set[str]]:
    """``{docs/img/x.png: {pages}}`` for every image a docs page shows."""
    shown: dict[str, set[str]] = {}
    for page in sorted(DOCS.rglob("*.md")):
        for ref in IMG_REF.findall(page.read_text(encoding="utf-8")):
            target = (page.parent / ref).resolve().relative_to(ROOT).as_posix()
            shown.setdefault(target, set()).add(page.relative_to(ROOT).as_posix())
    return shown


def _parser_of(words: list[str]) -> tuple[str, argparse.ArgumentParser, list[str]] | None:
    """The parser a ``python -m MODULE ...`` command goes through, or None for other commands."""
    if words[:2] != ["python", "-m"] or len(words) < 3:
        return None
    module, rest = words[2], words[3:]
    if module == "benchmarks":
        if rest[:1] == ["figure"]:
            return module, figures.build_parser(), rest[1:]
        from benchmarks import runner

        return module, runner.build_parser(), rest
    if not module.startswith(("experiments.", "benchmarks.")):
        return None
    mod = importlib.import_module(module)
    build = getattr(mod, "build_parser", None) or getattr(mod, "_parser", None)
    return (module, build(), rest) if build is not None else None


def _run_main(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = figures.main(argv)
    return rc, out.getvalue(), err.getvalue()


def test_manifest_parses_with_tomllib() -> None:
    with open(figures.MANIFEST, "rb") as f:
        data = tomllib.load(f)
    assert data["figure"] and data["table"]
    assert len(ENTRIES) == len(data["figure"]) + len(data["table"])  # names are unique


def test_every_figure_shown_in_the_docs_has_an_entry() -> None:
    targets = {e.target for e in ENTRIES.values() if e.kind == "figure"}
    missing = sorted(set(_shown_figures()) - targets)
    assert not missing, f"docs/img figures shown in the docs without a manifest entry: {missing}"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_pages_show_it(name: str) -> None:
    entry = ENTRIES[name]
    assert entry.pages and entry.commands
    assert entry.results.startswith("benchmarks/results"), entry.results
    shown = _shown_figures()
    for page in entry.pages:
        path = ROOT / page
        assert path.is_file(), f"{name}: no page {page}"
        text = path.read_text(encoding="utf-8")
        if entry.kind == "figure":
            assert entry.target is not None and entry.target.startswith("docs/img/")
            assert (ROOT / entry.target).is_file(), entry.target
            assert page in shown.get(entry.target, set()), f"{page} does not show {entry.target}"
        else:
            run = Path(entry.results).relative_to("benchmarks/results").as_posix()
            mentions = [entry.source] if run == "." else [f"{run}/{entry.source}", f"{run}/"]
            flat = " ".join(re.sub(r"\\\n", " ", text).split())  # continuation lines joined
            stated = [c for c in entry.commands if " ".join(c.split()) in flat]
            assert any(m in text for m in mentions) or stated, f"{page} names none of {mentions} ({name})"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_figure_commands_are_stated_on_a_page(name: str) -> None:
    """The commands are the pages' own (a page's shorthand written out is checked by parsing)."""
    entry = ENTRIES[name]
    flat = " ".join(" ".join(re.sub(r"\\\n", " ", (ROOT / p).read_text(encoding="utf-8")).split()) for p in entry.pages)
    modules = {figures.split_command(c)[1][2] for c in entry.commands if c.startswith(("python -m", "OMP"))}
    for module in modules:
        assert f"python -m {module}" in flat, f"{name}: no page states python -m {module}"


@pytest.mark.parametrize("name", sorted(ENTRIES))
def test_entry_commands_parse(name: str) -> None:
    for command in ENTRIES[name].commands:
        env, words = figures.split_command(command)
        assert words, command
        assert all(k.isidentifier() for k in env)
        found = _parser_of(words)
        if found is None:
            continue
        module, parser, rest = found
        try:
            parser.parse_args(rest)
        except SystemExit as err:  # argparse's way of failing
            pytest.fail(f"{name}: {module} rejects {rest}: exit {err.code}")


def test_split_command_takes_env_and_comments() -> None:
    env, words = figures.split_command("A=1 B_=x python -m m --y 2   # a comment")
    assert env == {"A": "1", "B_": "x"}
    assert words == ["python", "-m", "m", "--y", "2"]
    assert figures.split_command("python -m m --tag=-w32")[0] == {}


def test_list_names_every_entry_with_its_pages() -> None:
    rc, out, _ = _run_main(["--list"])
    assert rc == 0
    lines = out.splitlines()
    assert len(lines) == len(ENTRIES)
    assert any(line.startswith("darcy_predictions ") and "docs/operators.md" in line for line in lines)


def test_dry_run_prints_the_commands_and_the_copy() -> None:
    entry = ENTRIES["darcy_predictions"]
    rc, out, _ = _run_main(["--dry-run", "darcy_predictions"])
    assert rc == 0
    for command in entry.commands:
        assert command in out
    assert f"cp {entry.results}/{entry.source} {entry.target}" in out


def test_dry_run_through_python_m_benchmarks() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "figure", "--dry-run", "concepts_cost"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert "python -m experiments.concept_figures" in proc.stdout
    assert "docs/img/concepts_cost.png" in proc.stdout


def test_unknown_name_lists_close_matches() -> None:
    rc, _, err = _run_main(["darcy_prediction"])
    assert rc == 2
    assert "no entry 'darcy_prediction'" in err and "darcy_predictions" in err
    rc, _, err = _run_main([])
    assert rc == 2 and "--list" in err


def _manifest(tmp_path: Path, command: str, source: str) -> Path:
    path = tmp_path / "figures.toml"
    path.write_text(
        "[[figure]]\n"
        'name = "x"\n'
        'pages = ["docs/index.md"]\n'
        f"commands = [{command!r}]\n"
        f'results = "{tmp_path.as_posix()}"\n'
        f'source = "{source}"\n'
        'target = "docs/img/never_written_by_the_tests.png"\n'
    )
    return path


def test_failing_command_propagates_its_exit_code(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, 'python -c "raise SystemExit(3)"', "x.png")
    rc, _, err = _run_main(["--manifest", str(manifest), "x"])
    assert rc == 3
    assert "exit code 3" in err
    assert not (ROOT / "docs/img/never_written_by_the_tests.png").exists()


def test_missing_figure_after_the_run_is_an_error(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, 'python -c "pass"', "absent.png")
    rc, _, err = _run_main(["--manifest", str(manifest), "x"])
    assert rc == 1
    assert "produced no" in err and "absent.png" in err
    assert not (ROOT / "docs/img/never_written_by_the_tests.png").exists()


def test_bad_manifest_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "figures.toml"
    path.write_text('[[figure]]\nname = "x"\n')
    rc, _, err = _run_main(["--manifest", str(path), "--list"])
    assert rc == 2 and "lacks" in err
    path.write_text(
        '[[table]]\nname = "t"\npages = []\ncommands = []\nresults = "r"\nsource = "s"\ntarget = "docs/t.png"\n'
    )
    with pytest.raises(ValueError, match="not under docs/img"):
        figures.load_manifest(path)


def test_runner_keeps_its_timing_options() -> None:
    from benchmarks import runner

    args = runner.build_parser().parse_args(["--suite", "auto", "--threads", "2", "--quick"])
    assert (args.suite, args.threads, args.quick) == ("auto", 2, True)


def test_copy_only_skips_the_commands(tmp_path: Path) -> None:
    manifest = _manifest(tmp_path, 'python -c "raise SystemExit(3)"', "absent.png")
    rc, out, err = _run_main(["--manifest", str(manifest), "x", "--copy-only"])
    assert rc == 1  # not 3: the failing command did not run
    assert "holds no" in err and "absent.png" in err and "$ python" not in out
    assert not (ROOT / "docs/img/never_written_by_the_tests.png").exists()
