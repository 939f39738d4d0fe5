"""The documentation site: it builds strictly, its relative links resolve, its snippets run.

* ``mkdocs build --strict`` (warnings fail it: broken links and anchors, pages missing
  from the nav, docstrings mkdocstrings cannot render) into a temporary folder; skipped
  only when mkdocs is not installed (the ``docs`` extra).
* Every relative link in ``docs/**/*.md`` points to an existing file (and anchor, for
  links into another page).
* The Python snippets of the home page and the user guides run as written.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.rglob("*.md"))
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")
FENCE = re.compile(r"^```.*?^```", re.S | re.M)
SNIPPET = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def _slug(heading: str) -> str:
    """The anchor mkdocs' toc extension gives a heading (default slugify)."""
    text = re.sub(r"[`*_]", "", heading).strip().lower()
    text = re.sub(r"[^\w\s-]", "", text)
    return re.sub(r"[-\s]+", "-", text)


def _anchors(page: Path) -> set[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    return {_slug(m.group(1)) for m in re.finditer(r"^#{1,6}\s+(.*?)\s*#*$", text, re.M)}


def _links(page: Path) -> list[str]:
    text = FENCE.sub("", page.read_text(encoding="utf-8"))
    text = re.sub(r"`[^`\n]*`", "", text)  # inline code is not a link
    return [a or b for a, b in LINK.findall(text)]


def test_docs_has_pages():
    names = {p.relative_to(DOCS).as_posix() for p in PAGES}
    assert {"index.md", "concepts.md", "guides/drop_in_layer.md", "api/layers.md"} <= names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.relative_to(DOCS).as_posix())
def test_relative_links_resolve(page):
    broken = []
    for target in _links(page):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target):  # http:, https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.is_file():
            broken.append(f"{target} (no file {dest})")
        elif anchor and dest.suffix == ".md" and anchor not in _anchors(dest):
            broken.append(f"{target} (no heading with anchor #{anchor} in {dest.name})")
    assert not broken, f"{page.relative_to(ROOT)}: broken links: {broken}"


def test_link_checker_sees_a_broken_link(tmp_path):
    page = tmp_path / "p.md"
    page.write_text("# Title\n\n[ok](p.md#title) [bad](missing.md) ![img](img/x.png)\n```\n[code](no.md)\n```\n")
    assert _links(page) == ["p.md#title", "missing.md", "img/x.png"]
    assert _anchors(page) == {"title"}


@pytest.mark.parametrize(
    "page",
    [DOCS / "index.md", DOCS / "compression.md", *sorted((DOCS / "guides").glob("*.md"))],
    ids=lambda p: p.relative_to(DOCS).as_posix(),
)
def test_page_snippets_run(page):
    snippets = SNIPPET.findall(page.read_text(encoding="utf-8"))
    assert snippets, f"{page.name} has no python snippet"
    import torch

    torch.manual_seed(0)
    namespace: dict[str, object] = {"__name__": "__docs__"}
    for code in snippets:
        exec(compile(code, str(page), "exec"), namespace)  # our own documentation pages


NO_MKDOCS = "mkdocs is not installed; install the docs extra: pip install -e '.[docs]'"


@pytest.mark.skipif(importlib.util.find_spec("mkdocs") is None, reason=NO_MKDOCS)
def test_mkdocs_build_strict(tmp_path):
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    site = tmp_path / "site"
    assert (site / "index.html").is_file()
    for page in ("api/layers", "guides/drop_in_layer", "concepts"):
        assert (site / page / "index.html").is_file(), page
    api = (site / "api" / "layers" / "index.html").read_text(encoding="utf-8")
    assert 'id="spectral_sparse.layers.SparseSpectralConv"' in api, "mkdocstrings rendered no SparseSpectralConv"
