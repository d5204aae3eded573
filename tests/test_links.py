"""No link in the documentation, the library's texts or a published page leaves the project.

A user's clone has only this repository, and a reader of a published page has only the
publish folder. So:

* **Documentation** (``README.md``, ``docs/*.md``, ``params/README.md``): every relative
  link resolves to an existing file inside the repository (and a ``#fragment`` of a
  Markdown file to one of its headings); no text, link or code span points outside it —
  ``../shared/…`` (the workspace this project was built in), an absolute path of a
  developer's machine (``/work/…``, ``/root/…``, ``/home/…``, ``/tmp/…``, ``file:``);
  ``http(s)`` links go only to :data:`DOC_SITES`, the documentation sites of the tools
  the project uses (or to a loopback address in an example).
* **Library texts** (every string literal of ``lib/rfa/**/*.py`` — glossary definitions,
  page texts, docstrings — and the templates under ``lib/rfa/templates/``): the same
  rules for ``../shared``, machine paths and ``http(s)`` links; a template's literal
  ``href`` / ``src`` is a fragment, ``data:`` or a relative path that stays inside the
  folder of the page.
* **Published pages**: every ``href`` and ``src`` of a page rendered by the nbconvert
  fallback resolves inside the publish folder (fast, a hand-made executed notebook); and,
  marked ``slow``, every ``href`` / ``src`` of every page and of the index of a real publish
  (two dashboards of one account through the CLI) resolves to an existing file inside the
  publish folder. ``tests/test_browser.py`` checks the same in Chromium for the index's
  links and every request a page makes.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote, urlsplit

import nbformat
import pytest
from bs4 import BeautifulSoup
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook, new_output

from cli_helpers import run_rfa
from demo_db import ANCHOR

ROOT = Path(__file__).resolve().parents[1]

DOC_SITES = frozenset(
    {
        # the tools the pages are built with and the project runs on
        "quarto.org",
        "docs.python.org",
        "packaging.python.org",
        "pip.pypa.io",
        "docs.jupyter.org",
        "jupyter.org",
        "jupyterlab.readthedocs.io",
        "papermill.readthedocs.io",
        "nbconvert.readthedocs.io",
        "docs.pola.rs",
        "pandera.readthedocs.io",
        "docs.pydantic.dev",
        "docs.sqlalchemy.org",
        "www.postgresql.org",
        "www.sqlite.org",
        "docs.scipy.org",
        "www.statsmodels.org",
        "tenacity.readthedocs.io",
        "py-filelock.readthedocs.io",
        "typer.tiangolo.com",
        "docs.dask.org",
        "distributed.dask.org",
        "playwright.dev",
        "docs.conda.io",
        "conda-forge.org",
        # serving the pages (docs/OPERATIONS.md)
        "nginx.org",
        "caddyserver.com",
        # XML namespaces are identifiers, not links a browser follows
        "www.w3.org",
    }
)
"""Hosts an ``http(s)`` link of the documentation or the library may point to: the
documentation of the tools the project uses. Add a host here only for a tool's own docs."""

LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
"""Hosts of examples that talk to the same machine (a health check, ``http.server``)."""

DOCS = sorted([ROOT / "README.md", ROOT / "params" / "README.md", *(ROOT / "docs").glob("*.md")])
LIBRARY = sorted((ROOT / "lib" / "rfa").rglob("*.py"))
TEMPLATES = sorted(p for p in (ROOT / "lib" / "rfa" / "templates").rglob("*") if p.is_file())

OUTSIDE = re.compile(
    r"\.\./shared\b"  # the workspace beside the repository
    r"|(?<![\w.~-])/(?:work|root|home|Users|tmp)/"  # a path on a developer's machine
    r"|\bfile:/",
    re.IGNORECASE,
)
URL = re.compile(r"\bhttps?://[^\s<>\"'`)\]}|\\]+", re.IGNORECASE)
MD_LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
MD_REFERENCE = re.compile(r"^[ ]{0,3}\[[^\]]+\]:[ \t]*<?(\S+?)>?(?:\s+.*)?$", re.MULTILINE)
HTML_ATTR = re.compile(r"""\b(?:href|src)\s*=\s*["']([^"']*)["']""", re.IGNORECASE)
FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _line(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def outside_references(text: str) -> list[str]:
    """Every place in ``text`` that points outside the repository or to a web site that
    is not a documentation site: ``"line N: <match>"`` strings (empty when clean)."""
    problems = [f"line {_line(text, m.start())}: {m.group(0)}" for m in OUTSIDE.finditer(text)]
    for match in URL.finditer(text):
        url = match.group(0).rstrip(".,;:")
        host = (urlsplit(url).hostname or "").lower()
        if host not in DOC_SITES and host not in LOOPBACK:
            problems.append(f"line {_line(text, match.start())}: {url} (not a documentation site)")
    return problems


def github_anchor(heading: str) -> str:
    """The fragment GitHub (and most Markdown viewers) give a heading: lower case,
    punctuation other than ``-`` and ``_`` removed, spaces as ``-``."""
    text = re.sub(r"`([^`]*)`", r"\1", heading.strip().lower())
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"[^\w\- ]", "", text)
    return text.replace(" ", "-")


def markdown_anchors(text: str) -> set[str]:
    """Fragments of the headings of a Markdown text (repeated headings get ``-1``, ``-2``)."""
    anchors: set[str] = set()
    seen: dict[str, int] = {}
    for match in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", FENCE.sub("", text), re.MULTILINE):
        anchor = github_anchor(match.group(1))
        count = seen.get(anchor, 0)
        seen[anchor] = count + 1
        anchors.add(anchor if count == 0 else f"{anchor}-{count}")
    return anchors


def markdown_links(text: str) -> Iterator[tuple[int, str]]:
    """``(line, target)`` of every Markdown link, reference definition and HTML
    ``href``/``src`` outside fenced code blocks."""
    prose = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
    for pattern in (MD_LINK, MD_REFERENCE, HTML_ATTR):
        for match in pattern.finditer(prose):
            yield _line(prose, match.start()), match.group(1)


def broken_link(source: Path, target: str, root: Path = ROOT) -> str | None:
    """Why ``target`` (a link in the Markdown file ``source``) leaves ``root`` or resolves
    to nothing; None when it is fine. Web links are checked by :func:`outside_references`."""
    parts = urlsplit(target)
    if parts.scheme in ("http", "https", "mailto"):
        return None
    if parts.scheme or parts.netloc:
        return f"{target}: not a link inside the repository"
    if parts.path.startswith("/"):
        return f"{target}: an absolute path (use a path relative to {source.name})"
    path = (source.parent / unquote(parts.path)).resolve() if parts.path else source
    if not path.is_relative_to(root):
        return f"{target}: leaves the repository"
    if not path.exists():
        return f"{target}: no such file in the repository"
    if parts.fragment and path.suffix == ".md":
        if parts.fragment not in markdown_anchors(path.read_text(encoding="utf-8")):
            return f"{target}: no heading #{parts.fragment} in {path.name}"
    return None


def string_literals(path: Path) -> Iterator[tuple[int, str]]:
    """``(line, text)`` of every string literal of a Python file (docstrings and the
    constant parts of f-strings included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def page_link_problems(page: Path, root: Path) -> list[str]:
    """Every ``href``/``src`` of the published HTML ``page`` that does not resolve to an
    existing file inside the publish folder ``root`` (``data:`` URIs and fragments of the
    page itself are fine)."""
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    problems = []
    for tag in soup.find_all(True):
        for attr in ("href", "src"):
            value = tag.get(attr)
            if value is None:
                continue
            value = value.strip()
            parts = urlsplit(value)
            if parts.scheme == "data" or (not parts.scheme and not parts.path and value):
                continue  # an inline image or a fragment of this page
            if parts.scheme or parts.netloc or parts.path.startswith("/"):
                problems.append(f"<{tag.name} {attr}={value!r}>: leaves the publish folder")
                continue
            target = (page.parent / unquote(parts.path)).resolve()
            if not target.is_relative_to(root.resolve()):
                problems.append(f"<{tag.name} {attr}={value!r}>: leaves the publish folder")
            elif not target.is_file():
                problems.append(f"<{tag.name} {attr}={value!r}>: no such published file")
    return problems


# ----------------------------------------------------------------- documentation


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_documentation_points_nowhere_outside_the_repository(doc: Path) -> None:
    problems = outside_references(doc.read_text(encoding="utf-8"))
    assert not problems, f"{_rel(doc)}:\n" + "\n".join(problems)


@pytest.mark.parametrize("doc", DOCS, ids=_rel)
def test_documentation_links_resolve_inside_the_repository(doc: Path) -> None:
    text = doc.read_text(encoding="utf-8")
    problems = [
        f"line {line}: {why}"
        for line, target in markdown_links(text)
        if (why := broken_link(doc, target)) is not None
    ]
    assert not problems, f"{_rel(doc)}:\n" + "\n".join(problems)


def test_the_project_has_its_own_metric_dictionary() -> None:
    metrics = ROOT / "docs" / "METRICS.md"
    assert metrics.is_file()
    anchors = markdown_anchors(metrics.read_text(encoding="utf-8"))
    # the code cites these sections ("METRICS.md §3"): they must exist, in this order
    for number in range(1, 8):
        assert any(a.startswith(f"{number}-") for a in anchors), f"METRICS.md has no §{number}"
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "](docs/METRICS.md" in readme, "the README does not link docs/METRICS.md"


# ----------------------------------------------------------------- library texts


@pytest.mark.parametrize("module", LIBRARY, ids=_rel)
def test_library_texts_point_nowhere_outside_the_project(module: Path) -> None:
    problems = [
        f"{_rel(module)}:{line}: {problem}"
        for line, text in string_literals(module)
        for problem in outside_references(text)
    ]
    assert not problems, "\n".join(problems)


def test_glossary_definitions_point_nowhere_outside_the_project() -> None:
    from rfa.definitions import DEFINITIONS

    problems = {key: outside_references(text) for key, text in DEFINITIONS.items()}
    assert not {k: v for k, v in problems.items() if v}
    # a page's reader has the publish folder, not the repository: no file to look up
    naming = {key: text for key, text in DEFINITIONS.items() if re.search(r"\w\.md\b", text)}
    assert not naming, f"glossary texts that send the reader to a repository file: {naming}"


@pytest.mark.parametrize("template", TEMPLATES, ids=_rel)
def test_templates_link_only_inside_the_publish_folder(template: Path) -> None:
    text = template.read_text(encoding="utf-8")
    problems = outside_references(text)
    for match in HTML_ATTR.finditer(text):
        value = match.group(1).strip()
        if "{{" in value or "{%" in value:
            continue  # filled from the page model (site.py, render.py); checked on pages
        parts = urlsplit(value)
        if parts.scheme in ("", "data") and not parts.netloc and not value.startswith("/"):
            if not value.startswith(".."):
                continue
        problems.append(f"line {_line(text, match.start())}: {value}")
    assert not problems, f"{_rel(template)}:\n" + "\n".join(problems)


# ------------------------------------------------------------ the checks themselves


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """Each rule on a made-up text: the checks above would fail on these."""
    assert outside_references("see ../shared/docs/METRICS.md")
    assert outside_references("[x](../shared/docs/METRICS.md)")
    assert outside_references("open /work/main/README.md or /root/.cache/x")
    assert outside_references("file:///etc/passwd")
    assert outside_references("https://cdn.jsdelivr.net/npm/x.js")
    assert outside_references("http://example.com/")
    assert not outside_references("https://quarto.org/docs/get-started/ and /srv/rfa/.venv")
    assert not outside_references("curl http://127.0.0.1:8000/ ~/.pgpass docs/METRICS.md")

    repo = tmp_path / "repo"
    (repo / "docs").mkdir(parents=True)
    (repo / "docs" / "A.md").write_text("# Title\n\n## 7. Decisions: where it's silent\n")
    readme = repo / "README.md"
    assert broken_link(readme, "docs/A.md", repo) is None
    assert broken_link(readme, "docs/A.md#7-decisions-where-its-silent", repo) is None
    assert broken_link(readme, "docs/A.md#8-nothing", repo)
    assert broken_link(readme, "docs/B.md", repo)
    assert broken_link(readme, "../shared/docs/METRICS.md", repo)
    assert broken_link(readme, "/work/main/docs/A.md", repo)
    assert broken_link(readme, "file:///work/main/docs/A.md", repo)
    assert list(markdown_links("[a](x.md) ![b](y.png)\n```\n[c](z.md)\n```\n[d]: w.md\n")) == [
        (1, "x.md"),
        (1, "y.png"),
        (5, "w.md"),
    ]

    site = tmp_path / "published"
    (site / "acme" / "admin").mkdir(parents=True)
    (site / "index.html").write_text("<p>index</p>")
    page = site / "acme" / "admin" / "team-30d.html"
    page.write_text(
        '<a href="../../index.html">index</a><a href="#glossary">g</a>'
        '<img src="data:image/png;base64,AAAA">'
        '<a href="../../../README.md">r</a><a href="https://quarto.org/">q</a>'
        '<a href="/etc/passwd">p</a><a href="missing.html">m</a>'
    )
    assert [p.split(":")[0] for p in page_link_problems(page, site)] == [
        "<a href='../../../README.md'>",
        "<a href='https",
        "<a href='/etc/passwd'>",
        "<a href='missing.html'>",
    ]


# --------------------------------------------------------------- published pages


def _executed_notebook() -> nbformat.NotebookNode:
    """A small executed dashboard notebook: front matter, a value box, a table with a
    fragment link, a chart — what the fallback renderer turns into a page."""
    front = new_markdown_cell("---\ntitle: Team analytics\nformat: dashboard\n---")
    box = new_code_cell("box", execution_count=1)
    box.outputs = [
        new_output(
            "execute_result",
            data={
                "text/html": '<div class="rfa-kpi"><span>3,256</span>'
                '<a href="#how-sure">How sure?</a></div>',
                "text/plain": "box",
            },
            execution_count=1,
        )
    ]
    chart = new_code_cell("chart", execution_count=2)
    chart.outputs = [
        new_output(
            "display_data",
            data={
                "text/html": '<figure class="rfa-chart"><img src="data:image/svg+xml;base64,'
                'PHN2Zy8+" alt="Sessions per day: 12 days, 340 sessions"></figure>',
                "text/plain": "<Chart>",
            },
        )
    ]
    about = new_markdown_cell("## About these numbers and glossary {#how-sure}\n\nWindow: …")
    nb = new_notebook(cells=[front, box, chart, about])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def test_a_page_of_the_fallback_renderer_links_only_inside_the_publish_folder(
    tmp_path: Path,
) -> None:
    from rfa.publish.render import render_nbconvert

    executed = tmp_path / "build" / "page.ipynb"
    executed.parent.mkdir(parents=True)
    nbformat.write(_executed_notebook(), executed)
    site = tmp_path / "published"
    page = site / "acme" / "admin" / "team-30d.html"
    page.parent.mkdir(parents=True)
    render_nbconvert(executed, page, "Acme — Team analytics")
    assert page.is_file()
    assert not page_link_problems(page, site)


@pytest.mark.slow
def test_every_link_of_a_real_publish_resolves_inside_the_publish_folder(
    tmp_path: Path, demo_sqlite_url: str
) -> None:
    """Two dashboards of one account through the real CLI: every href/src of each page
    and of the index is a published file (the pages' navigation included)."""
    site = tmp_path / "published"
    result = run_rfa(
        [
            "publish",
            "--account",
            "kiwi-tech",
            "-d",
            "team",
            "-d",
            "escalations",
            "--as-of",
            ANCHOR.isoformat(),
            "--workers",
            "1",
            "--renderer",
            "nbconvert",
        ],
        url=demo_sqlite_url,
        publish_dir=site,
        build_dir=tmp_path / "build",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    pages = sorted(site.rglob("*.html"))
    assert len(pages) >= 3, [p.relative_to(site).as_posix() for p in pages]
    problems = {
        p.relative_to(site).as_posix(): found
        for p in pages
        if (found := page_link_problems(p, site))
    }
    assert not problems, problems
