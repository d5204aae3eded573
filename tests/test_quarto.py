"""The Quarto renderer with the REAL Quarto CLI (no fake): every dashboard notebook, alone
and in one project render, then the page checks and a browser visit under the page's CSP.

The seven dashboards of one account of the session's small demo database (one flow, one
engineer) are executed once by the publishing pipeline itself
(:func:`rfa.publish.pipeline.run_job` with ``RENDER_LATER``: execute only, as a batch does
before its Quarto project render), then

* each notebook is rendered alone (:func:`render_quarto`, the single-page path);
* all of them, plus a notebook with invalid ``#|`` options and one whose page would load
  an image from the network, are rendered with ONE project render
  (:func:`render_quarto_project`, the batch path): the two bad pages fail alone, with their
  reasons, and keep their previous version; the seven others are published;
* every page: its title, no front-matter text in the body, nothing loaded from the
  network, the CSP ``<meta>`` first in ``<head>``, no resource embedded twice, at most
  :data:`MAX_PAGE_BYTES`;
* Chromium opens a Quarto page and an nbconvert page: no CSP violation, no console error,
  Quarto's dashboard JavaScript ran; a script and an inline handler injected after the
  render are blocked;
* the CLI publishes two pages with ``--renderer quarto`` (the manifest says ``quarto``).

Marked ``quarto``: without ``quarto`` on PATH the module is skipped locally and fails when
``CI`` is set (``.ci/run`` builds Quarto with the Quarto test kit and puts it on PATH).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from bs4 import BeautifulSoup

from cli_helpers import run_rfa
from demo_db import ANCHOR
from rfa.db import connect
from rfa.publish.pipeline import RENDER_LATER, PageJob, run_job
from rfa.publish.render import (
    find_remote_references,
    render_nbconvert,
    render_quarto,
    render_quarto_project,
)
from rfa.publish.schedule import parse_schedule, plan_schedule

pytestmark = [pytest.mark.slow, pytest.mark.quarto]

ACCOUNT = "kiwi-tech"
AS_OF = ANCHOR.isoformat()
DASHBOARDS = {
    "team",
    "flow",
    "personal",
    "flowpilot",
    "coverage",
    "knowledge_gaps",
    "escalations",
}
MAX_PAGE_BYTES = 1_500_000
"""A Quarto page's size limit (Quarto 1.7 alone embeds Bootstrap's CSS three times: ~3 MB)."""
FRONT_MATTER_WORDS = ("embed-resources", "html-math-method", "orientation:", "nav-buttons")
CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture(scope="module")
def executed_pages(
    tmp_path_factory: pytest.TempPathFactory, demo_sqlite_url: str
) -> list[tuple[PageJob, Path]]:
    """Every dashboard of one account executed by the pipeline (not rendered): ``(job,
    executed notebook)``, one per dashboard kind."""
    root = tmp_path_factory.mktemp("quarto-executed")
    patch = pytest.MonkeyPatch()
    patch.setenv("RFA_DATABASE_URL", demo_sqlite_url)
    try:
        schedule = parse_schedule(
            {
                "account": ACCOUNT,
                "periods": ["30d"],
                "as_of": AS_OF,
                "flows": {"busiest": 1},
                "engineers": {"busiest": 1},
            },
            source="test_quarto",
            team="quarto-test",
        )
        with connect(demo_sqlite_url) as conn:
            jobs, failures = plan_schedule(conn, schedule)
        assert not failures and {j.dashboard for j in jobs} == DASHBOARDS
        out = []
        for job in jobs:
            assert run_job(job, root / "published", root / "build", RENDER_LATER) is None
            executed = next((root / "build").rglob(f"{Path(job.label).name}/page.ipynb"))
            out.append((job, executed))
        return out
    finally:
        patch.undo()


def check_page(path: Path, title: str) -> BeautifulSoup:
    """Every check a published Quarto page passes; returns the parsed page."""
    text = path.read_text(encoding="utf-8")
    assert len(text.encode()) <= MAX_PAGE_BYTES, f"{path.name}: {len(text.encode()):,} bytes"
    soup = BeautifulSoup(text, "html.parser")
    assert soup.find("meta", attrs={"name": "generator"})["content"].startswith("quarto-")
    first = next(el for el in soup.head.children if el.name)
    assert first.name == "meta" and first["http-equiv"] == "Content-Security-Policy"
    assert "default-src 'none'" in first["content"] and "connect-src 'none'" in first["content"]
    assert soup.title.string == title
    assert find_remote_references(text) == []
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", text, re.I)
    assert "@import" not in text, "no web fonts"
    assert "cdnjs" not in text and "RequireJS" not in text and "jQuery v" not in text
    body = soup.body.get_text(" ")
    assert not [w for w in FRONT_MATTER_WORDS if w in body], "front matter shown as text"
    assert "#|" not in body and "{=html}" not in body and "```" not in body
    assert soup.find("img", src=re.compile(r"^data:image/")), "charts are shown"
    # no resource embedded twice (Quarto 1.7 repeats Bootstrap per colour-scheme role)
    blobs = [el.string or "" for el in soup.find_all(["style", "script"])]
    blobs += [el.get("href", "") for el in soup.find_all("link")]
    blobs += [el.get("src", "") for el in soup.find_all("script")]
    large = [b for b in blobs if len(b) > 2000]
    assert len(large) == len(set(large)), "a resource is embedded twice"
    return soup


def test_every_dashboard_renders_alone_with_quarto(
    executed_pages: list[tuple[PageJob, Path]], tmp_path: Path, quarto_exe: str
) -> None:
    for job, executed in executed_pages:
        out = tmp_path / f"{job.dashboard}.html"
        render_quarto(executed, out, job.title, quarto=quarto_exe)
        check_page(out, job.title)
        assert sorted(p.name for p in executed.parent.iterdir() if "rfa-quarto" in p.name) == []


def _broken_copies(executed: Path, root: Path) -> tuple[Path, Path]:
    """Two copies of an executed notebook: one with invalid ``#|`` options (an unquoted
    ``: `` in a title), one whose HTML output would load an image from the network."""
    nb = json.loads(executed.read_text(encoding="utf-8"))
    card = next(
        c
        for c in nb["cells"]
        if c["cell_type"] == "code"
        and "#| title:" in "".join(c["source"])
        and "valuebox" not in "".join(c["source"])
    )
    source = "".join(card["source"])
    card["source"] = re.sub(r"(?m)^#\| title: .*$", "#| title: Rates: this window", source, count=1)
    bad_options = root / "bad-options" / "page.ipynb"
    bad_options.parent.mkdir(parents=True)
    bad_options.write_text(json.dumps(nb), encoding="utf-8")

    nb = json.loads(executed.read_text(encoding="utf-8"))
    for cell in nb["cells"]:
        for output in cell.get("outputs", []):
            if "text/html" in output.get("data", {}):
                # a closed local port: pandoc's fetch fails at once, without DNS
                output["data"]["text/html"] = '<img alt="x" src="http://127.0.0.1:9/x.png">'
                break
        else:
            continue
        break
    remote = root / "remote" / "page.ipynb"
    remote.parent.mkdir(parents=True)
    remote.write_text(json.dumps(nb), encoding="utf-8")
    return bad_options, remote


def test_one_project_render_publishes_every_dashboard_and_bad_pages_fail_alone(
    executed_pages: list[tuple[PageJob, Path]], tmp_path: Path, quarto_exe: str
) -> None:
    published = tmp_path / "published"
    items = [(ex, published / f"{job.dashboard}.html", job.title) for job, ex in executed_pages]
    bad_options, remote = _broken_copies(executed_pages[0][1], tmp_path / "build")
    previous = "<html><head></head><body>the last good version</body></html>"
    for name in ("bad-options", "remote"):
        (published / f"{name}.html").parent.mkdir(parents=True, exist_ok=True)
        (published / f"{name}.html").write_text(previous)
    items.insert(2, (bad_options, published / "bad-options.html", "Bad options"))
    items.append((remote, published / "remote.html", "Remote image"))

    results = render_quarto_project(items, tmp_path / "work", quarto=quarto_exe)

    assert set(results) == {out for _, out, _ in items}
    for job, _ in executed_pages:
        result = results[published / f"{job.dashboard}.html"]
        assert result.error is None, result.error
        assert 1.0 < result.seconds < 120, "the page's own Quarto time (pandoc, embedding)"
        check_page(published / f"{job.dashboard}.html", job.title)
    options_error = results[published / "bad-options.html"].error
    assert options_error and "invalid #| option line 'title: Rates: this window'" in options_error
    assert re.search(r"cell \d+", options_error)
    remote_error = results[published / "remote.html"].error
    assert remote_error and "not self-contained" in remote_error
    assert "http://127.0.0.1:9/x.png" in remote_error
    for error in (options_error, remote_error):
        assert "\x1b" not in error
    for name in ("bad-options", "remote"):
        assert (published / f"{name}.html").read_text() == previous, "the last good version stays"
    seconds = [results[out].seconds for _, out, _ in items]
    assert len({round(s, 3) for s in seconds}) > 1, "each page's own time, not the average"
    assert not list((tmp_path / "work").iterdir()), "the project folder is removed"


def test_cli_publishes_with_quarto(tmp_path: Path, demo_sqlite_url: str, quarto_exe: str) -> None:
    publish_dir = tmp_path / "published"
    result = run_rfa(
        [
            "publish",
            "--account",
            ACCOUNT,
            "--dashboard",
            "team",
            "--dashboard",
            "escalations",
            "--renderer",
            "quarto",
            "--workers",
            "2",
            "--as-of",
            AS_OF,
        ],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        build_dir=tmp_path / "build",
        env={"PATH": f"{Path(quarto_exe).parent}{os.pathsep}{os.environ['PATH']}"},
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "\x1b" not in output
    records = json.loads((publish_dir / "manifest.json").read_text())
    assert len(records) == 2
    for record in records:
        assert record["status"] == "ok" and record["renderer"] == "quarto", record
        page = publish_dir / record["page"]
        soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
        assert soup.find("meta", attrs={"name": "generator"})["content"].startswith("quarto-")
        assert find_remote_references(str(soup)) == []
        body = soup.body.get_text(" ")
        assert not [w for w in FRONT_MATTER_WORDS if w in body]


# ---------------------------------------------------------------------------------------------
# The CSP in a real browser
# ---------------------------------------------------------------------------------------------

VISIT_JS = """() => ({
    violations: window.__csp,
    title: document.title,
    cardInitLeft: document.querySelectorAll('script[data-bslib-card-init]').length,
    bslib: typeof window.bslib,
    bootstrap: typeof window.bootstrap,
    injected: window.__injected || null,
    charset: document.characterSet,
})"""
LISTEN_JS = (
    "window.__csp = []; document.addEventListener('securitypolicyviolation', e =>"
    " window.__csp.push(e.violatedDirective + ' ' + (e.blockedURI || e.sample || '')));"
)


def _visit(browser, page: Path) -> tuple[dict, list[str]]:
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    try:
        tab = context.new_page()
        problems: list[str] = []
        tab.on("console", lambda m: m.type == "error" and problems.append(m.text))
        tab.on("pageerror", lambda e: problems.append(str(e)))
        tab.add_init_script(LISTEN_JS)
        tab.goto(page.as_uri())
        tab.wait_for_load_state("load")
        tab.wait_for_timeout(300)
        return tab.evaluate(VISIT_JS), problems
    finally:
        context.close()


@pytest.fixture(scope="module")
def chromium():
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} not found; CI is set", pytrace=False)
        pytest.skip(f"{CHROMIUM} not found")
    playwright_api = pytest.importorskip("playwright.sync_api")
    with playwright_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            headless=True,
            args=["--no-sandbox", "--disable-gpu", "--host-resolver-rules=MAP * ~NOTFOUND"],
        )
        try:
            yield browser
        finally:
            browser.close()


INJECTED = (
    "<script>window.__injected = 'script ran'; document.title = 'pwned';</script>"
    '<img alt="" src="data:image/gif;base64,R0lGODlhAQABAAAAACw=" '
    "onload=\"window.__injected = 'handler ran'; document.title = 'pwned'\">"
)


def test_quarto_and_nbconvert_pages_run_under_their_csp_in_chromium(
    executed_pages: list[tuple[PageJob, Path]], tmp_path: Path, chromium, quarto_exe: str
) -> None:
    job, executed = next((j, e) for j, e in executed_pages if j.dashboard == "team")
    quarto_page = render_quarto(executed, tmp_path / "quarto.html", job.title, quarto=quarto_exe)
    nbconvert_page = render_nbconvert(executed, tmp_path / "nbconvert.html", job.title)

    for page in (quarto_page, nbconvert_page):
        seen, problems = _visit(chromium, page)
        assert seen["violations"] == [] and problems == [], (page.name, seen, problems)
        assert seen["title"] == job.title and seen["charset"] == "UTF-8"
        assert seen["injected"] is None
    seen, _ = _visit(chromium, quarto_page)
    assert seen["bslib"] == "object" and seen["bootstrap"] == "object"
    assert seen["cardInitLeft"] == 0, "Quarto's card scripts ran (they remove themselves)"

    # Text added to a page after its render (e.g. a failed filter on a filled-in slot)
    # can neither run a script nor an inline handler: their hashes are not in the CSP.
    for page in (quarto_page, nbconvert_page):
        hacked = tmp_path / f"hacked-{page.name}"
        hacked.write_text(
            page.read_text(encoding="utf-8").replace("</body>", INJECTED + "</body>", 1),
            encoding="utf-8",
        )
        seen, _ = _visit(chromium, hacked)
        assert seen["injected"] is None and seen["title"] == job.title, seen
        assert any(v.startswith("script-src") for v in seen["violations"]), seen
