"""A real browser opens the published site: headless Chromium driven by Playwright.

Publishes one account once per module (the real CLI against the session's small
demo database), then opens ``index.html`` and every published page from
``file://`` URLs in Debian's Chromium (``/usr/bin/chromium``; Playwright's own
browser downloads are never used) and checks that

* no console message of type error and no uncaught page error appears;
* no request leaves the publish folder: every request that is neither ``data:``
  nor a ``file:`` inside the folder (``http(s):``, ``ws:``, ``file://host/…``
  from a ``//host`` reference, a file elsewhere on disk) is recorded and aborted,
  and the browser's host resolver maps every host to "not found", so the test
  never touches the network;
* no ``file:`` request fails (a missing local asset);
* every ``<img>`` has loaded (``complete`` and ``naturalWidth > 0``), and every
  dashboard page has at least one chart image;
* every link of the index resolves to an existing file inside the publish folder,
  and every published page is linked from the index;
* the index renders: one full-page screenshot, not a blank image (set
  ``RFA_BROWSER_SCREENSHOT=/some/file.png`` to keep a copy).

Without Chromium or Playwright the module is skipped locally and fails when the
``CI`` environment variable is set (CI must run it).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import pytest

from cli_helpers import run_rfa
from demo_db import ANCHOR

pytestmark = [pytest.mark.slow, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
ACCOUNT = "kiwi-tech"
AS_OF = ANCHOR.isoformat()
LAUNCH_ARGS = [
    "--no-sandbox",  # the tests may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Belt and braces: even a request the page router never sees resolves no host.
    "--host-resolver-rules=MAP * ~NOTFOUND",
]
IMAGES_JS = """() => Array.from(document.images).map(img => ({
    src: img.currentSrc || img.src || '',
    complete: img.complete,
    naturalWidth: img.naturalWidth,
}))"""
LINKS_JS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"


def _unavailable(reason: str) -> None:
    """Skip locally; fail when CI is set, since CI must run the browser test."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the browser test must run", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's headless Chromium, launched by Playwright (module-scoped)."""
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        _unavailable(f"{CHROMIUM} not found (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def site(browser, tmp_path_factory, demo_sqlite_url) -> Path:
    """One account published by the real CLI (after the browser is known to work)."""
    root = tmp_path_factory.mktemp("browser")
    publish_dir = root / "published"
    result = run_rfa(
        ["publish", "--account", ACCOUNT, "--workers", "2", "--as-of", AS_OF],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        build_dir=root / "build",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return publish_dir


@dataclass
class Visit:
    """What the browser saw while loading one page."""

    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    external_requests: list[str] = field(default_factory=list)
    failed_local_requests: list[str] = field(default_factory=list)
    local_requests: int = 0
    images: list[dict] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    title: str = ""
    screenshot: Path | None = None


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def _short(url: str) -> str:
    return url if len(url) <= 100 else url[:97] + "..."


def _file_path(url: str) -> Path:
    parts = urlsplit(url)
    assert parts.scheme == "file", url
    return Path(url2pathname(unquote(parts.path)))


def _leaves_site(url: str, site: Path) -> bool:
    """A request that is neither inline data nor a file inside the publish folder.

    ``//host/x`` in a page opened from disk becomes ``file://host/x`` (a network
    share on some systems): that leaves the file too.
    """
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme == "data":
        return False
    if scheme != "file" or parts.netloc not in ("", "localhost"):
        return True
    return not _file_path(url).resolve().is_relative_to(site.resolve())


def _visit(context, url: str, site: Path, screenshot: Path | None = None) -> Visit:
    """Open one page in a new tab; record what went wrong while it loaded."""
    visit = Visit(screenshot=screenshot)
    requested: set[str] = set()

    def on_route(route, request) -> None:
        requested.add(request.url)
        if _leaves_site(request.url, site):
            route.abort("blockedbyclient")  # never let it reach the network
        else:
            route.continue_()

    def on_console(message) -> None:
        if message.type == "error":
            visit.console_errors.append(f"{message.text} @ {message.location}")

    def on_request_failed(request) -> None:
        if not _leaves_site(request.url, site):  # blocked requests are reported apart
            visit.failed_local_requests.append(f"{request.url}: {request.failure}")

    page = context.new_page()
    page.route("**/*", on_route)
    # Requests the router does not see (e.g. some navigations) still fire events.
    page.on("request", lambda request: requested.add(request.url))
    page.on("websocket", lambda ws: requested.add(ws.url))
    page.on("console", on_console)
    page.on("pageerror", lambda error: visit.page_errors.append(str(error)))
    page.on("requestfailed", on_request_failed)
    try:
        page.goto(url, wait_until="load")
        page.wait_for_load_state("networkidle")
        visit.images = page.evaluate(IMAGES_JS)
        visit.links = page.evaluate(LINKS_JS)
        visit.title = page.title()
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
    finally:
        page.close()
    visit.external_requests = sorted(u for u in requested if _leaves_site(u, site))
    visit.local_requests = sum(1 for u in requested if _scheme(u) == "file")
    return visit


@pytest.fixture(scope="module")
def visits(browser, site, tmp_path_factory) -> dict[str, Visit]:
    """Every ``*.html`` of the site opened once, keyed by its path in the site."""
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert "index.html" in pages and len(pages) > 1, pages
    shot_dir = tmp_path_factory.mktemp("screenshots")
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        return {
            rel: _visit(
                context,
                (site / rel).resolve().as_uri(),
                site,
                shot_dir / "index.png" if rel == "index.html" else None,
            )
            for rel in pages
        }
    finally:
        context.close()


def test_every_page_was_opened(visits, site):
    manifest = json.loads((site / "manifest.json").read_text())
    assert {r["page"] for r in manifest} | {"index.html"} == set(visits)
    assert {r["account_slug"] for r in manifest} == {ACCOUNT}
    for rel, visit in visits.items():
        assert visit.local_requests >= 1, f"{rel}: the page itself was never requested"
        assert visit.title, f"{rel}: no <title>"


def test_no_console_or_page_errors(visits):
    errors = {
        rel: v.console_errors + v.page_errors
        for rel, v in visits.items()
        if v.console_errors or v.page_errors
    }
    assert not errors, json.dumps(errors, indent=1)[:4000]


def test_no_request_leaves_the_file(visits):
    external = {rel: v.external_requests for rel, v in visits.items() if v.external_requests}
    assert not external, json.dumps(
        {rel: [_short(u) for u in urls] for rel, urls in external.items()}, indent=1
    )[:4000]
    failed = {rel: v.failed_local_requests for rel, v in visits.items() if v.failed_local_requests}
    assert not failed, json.dumps(failed, indent=1)[:4000]


def test_every_chart_image_is_loaded(visits):
    for rel, visit in visits.items():
        broken = [
            _short(img["src"])
            for img in visit.images
            if not (img["complete"] and img["naturalWidth"] > 0)
        ]
        assert not broken, f"{rel}: images not loaded: {broken}"
        if rel != "index.html":
            assert visit.images, f"{rel}: no chart image"


def test_index_links_resolve_to_published_files(visits, site):
    root = site.resolve()
    index = root / "index.html"
    linked: set[Path] = set()
    for href in visits["index.html"].links:
        assert _scheme(href) == "file", f"index links outside the site: {href}"
        path = _file_path(href.split("#", 1)[0])
        assert path.is_relative_to(root), f"index links outside the publish folder: {href}"
        assert path.is_file(), f"index links a missing file: {href}"
        if path != index:
            linked.add(path)
    pages = {p.resolve() for p in root.rglob("*.html")} - {index}
    assert pages <= linked, sorted(p.relative_to(root).as_posix() for p in pages - linked)
    data_files = {p.resolve() for p in root.rglob("*.json")} - {root / "manifest.json"}
    assert data_files <= linked, sorted(p.relative_to(root).as_posix() for p in data_files - linked)


def test_the_index_renders(visits):
    from PIL import Image

    shot = visits["index.html"].screenshot
    assert shot is not None and shot.is_file() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with Image.open(shot) as image:
        assert image.width >= 800 and image.height >= 300, image.size
        colours = image.convert("RGB").getcolors(maxcolors=1 << 16)
        assert colours is None or len(colours) > 10, "the screenshot is (nearly) blank"
    keep = os.environ.get("RFA_BROWSER_SCREENSHOT")
    if keep:  # handy for a look at what the browser drew
        shutil.copyfile(shot, keep)
