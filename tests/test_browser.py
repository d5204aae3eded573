"""A real browser opens the published site: headless Chromium driven by Playwright.

For each renderer available (the nbconvert fallback always; Quarto when ``quarto``
is on PATH, skipped otherwise) one account is published once per module by the
real CLI against the session's small demo database — every dashboard kind, with
the busiest flow and the busiest engineer as the scopes of the flow and personal
dashboards — then ``index.html`` and every published page are opened from
``file://`` URLs in Debian's Chromium (``/usr/bin/chromium``; Playwright's own
browser downloads are never used).

Loading (desktop, 1400×900):

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

Reading (issue 18), every page at 1400×900 (desktop) and 390×844 (a phone:
mobile emulation, so a page without ``<meta name="viewport">`` lays out at 980 px):

* the document is no wider than the viewport (the elements sticking out are named);
* no element clips its content horizontally: ``scrollWidth > clientWidth`` with
  ``overflow-x: hidden`` or ``clip`` (deliberate scroll containers, ``auto`` /
  ``scroll``, are fine; 1-pixel "visually hidden" helpers are ignored);
* at 1400×900 not even a scroll container (``overflow-x: auto`` / ``scroll``) needs
  to scroll sideways: a table cut at its card's edge on a desktop (on a phone a wide
  table may scroll inside its card);
* every ``<img>`` has a descriptive ``alt``: at least 20 characters and not a
  placeholder ("No description has been provided", ``<Figure size …>``, a file name);
* axe-core (vendored, ``tests/vendor/axe-core/``) reports no critical or serious
  violation of WCAG 2.0/2.1 level A or AA (run in a context that bypasses the
  pages' Content-Security-Policy, which would block the injected script);
* at 1400×900 the first screen (the viewport, before any scrolling) shows the
  page's period: its first and last day (in the account's timezone or UTC, as
  "6 Nov", "Nov 6" or ISO).

Each reading test collects every problem of every page and size into one list
(renderer · size · page: what failed) rather than stopping at the first.

Without Chromium or Playwright the module is skipped locally and fails when the
``CI`` environment variable is set (CI must run it).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from browser_helpers import (
    CSP_JS,
    CSP_PROBE_JS,
    PROBE_HOST,
    csp_problems,
    file_path,
    launch,
    leaves_site,
)
from cli_helpers import run_rfa
from demo_db import ANCHOR

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ACCOUNT = "kiwi-tech"
AS_OF = ANCHOR.isoformat()
RENDERERS = ("nbconvert", "quarto")
SCHEDULE = f"""\
# Every dashboard kind of one account; one flow and one engineer keep the run short.
account: {ACCOUNT}
periods: [30d]
as_of: {AS_OF}
flows: {{busiest: 1}}
engineers: {{busiest: 1}}
"""
DESKTOP = "1400×900"
PHONE = "390×844"
VIEWPORTS: dict[str, dict] = {
    DESKTOP: {"viewport": {"width": 1400, "height": 900}},
    PHONE: {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 2,
        "is_mobile": True,
        "has_touch": True,
    },
}
AXE_DIR = Path(__file__).parent / "vendor" / "axe-core"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
MIN_ALT = 20
PLACEHOLDER_ALT = re.compile(
    r"no description|has been provided|^<?figure size \d|^(image|figure|chart|plot|graph)\b"
    r"|\.(png|svg|jpe?g|gif|webp)$|^alt\b|placeholder|lorem ipsum",
    re.IGNORECASE,
)
MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")
IMAGES_JS = """() => Array.from(document.images).map(img => ({
    src: img.currentSrc || img.src || '',
    alt: img.getAttribute('alt'),
    complete: img.complete,
    naturalWidth: img.naturalWidth,
}))"""
LINKS_JS = "() => Array.from(document.querySelectorAll('a[href]')).map(a => a.href)"
LAYOUT_JS = """() => {
    const de = document.documentElement;
    const label = el => {
        let s = el.tagName.toLowerCase();
        if (el.id) s += '#' + el.id;
        const cls = Array.from(el.classList).slice(0, 3);
        if (cls.length) s += '.' + cls.join('.');
        const text = (el.innerText || el.textContent || '').replace(/\\s+/g, ' ').trim();
        if (text) s += ' "' + (text.length > 60 ? text.slice(0, 57) + '…' : text) + '"';
        return s;
    };
    const shown = el => !el.checkVisibility || el.checkVisibility({visibilityProperty: true});
    const clipped = [], scrolling = [];
    for (const el of document.querySelectorAll('*')) {
        if (!(el instanceof HTMLElement)) continue;
        const cs = getComputedStyle(el);
        if (el.clientWidth <= 1 || el.clientHeight <= 1) continue;
        if (el.scrollWidth <= el.clientWidth + 1 || !shown(el)) continue;
        const found = {element: label(el), scrollWidth: el.scrollWidth,
                       clientWidth: el.clientWidth, overflow: cs.overflowX,
                       textOverflow: cs.textOverflow};
        if (cs.overflowX === 'hidden' || cs.overflowX === 'clip') clipped.push(found);
        else if (cs.overflowX === 'auto' || cs.overflowX === 'scroll') scrolling.push(found);
    }
    const width = de.clientWidth;
    const docWidth = Math.max(de.scrollWidth, document.body ? document.body.scrollWidth : 0);
    const sticking = [];
    if (docWidth > width + 1 && document.body) {
        for (const el of document.body.querySelectorAll('*')) {
            const r = el.getBoundingClientRect();
            if (r.width <= 0 || r.right <= width + 1 || !shown(el)) continue;
            const p = el.parentElement;
            if (p && p !== document.body && p.getBoundingClientRect().right > width + 1) continue;
            sticking.push(label(el) + ' (right edge at ' + Math.round(r.right) + ' px)');
            if (sticking.length >= 5) break;
        }
    }
    return {layoutWidth: width, docWidth, clipped, scrolling, sticking,
            viewportMeta: !!document.querySelector('meta[name="viewport"]')};
}"""
FIRST_SCREEN_JS = """() => {
    const vw = window.innerWidth, vh = window.innerHeight;
    const out = [];
    if (!document.body) return '';
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    const range = document.createRange();
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
        if (!n.nodeValue.trim()) continue;
        const parent = n.parentElement;
        if (!parent || (parent.checkVisibility &&
                        !parent.checkVisibility({visibilityProperty: true, opacityProperty: true})))
            continue;
        range.selectNodeContents(n);
        const onScreen = Array.from(range.getClientRects()).some(r =>
            r.width > 0 && r.height > 0 && r.bottom > 0 && r.top < vh &&
            r.right > 0 && r.left < vw);
        if (onScreen) out.push(n.nodeValue.replace(/\\s+/g, ' ').trim());
    }
    return out.join(' ');
}"""
AXE_JS = """async (tags) => {
    const result = await axe.run(document, {
        runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
    return result.violations
        .filter(v => v.impact === 'critical' || v.impact === 'serious')
        .map(v => ({
            id: v.id, impact: v.impact, help: v.help, count: v.nodes.length,
            targets: v.nodes.slice(0, 3).map(n => n.target.join(' ')),
            html: v.nodes.length ? v.nodes[0].html.slice(0, 120) : '',
        }));
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """Debian's headless Chromium, launched by Playwright (module-scoped)."""
    with launch() as browser:
        yield browser


@pytest.fixture(scope="module")
def axe_source() -> str:
    """The vendored axe-core build (its checksum checked: an edited copy fails loudly)."""
    source = (AXE_DIR / "axe.min.js").read_bytes()
    assert hashlib.sha256(source).hexdigest() == AXE_SHA256, (
        f"{AXE_DIR / 'axe.min.js'} differs from the vendored axe-core (see its README.md)"
    )
    return source.decode()


@dataclass
class Published:
    """One run of ``rfa publish`` for the module: its folder and what it said."""

    renderer: str
    folder: Path
    returncode: int
    output: str
    records: dict[str, dict] = field(default_factory=dict)
    """Manifest records by page path (``kiwi-tech/admin/team-30d.html``)."""


@pytest.fixture(scope="module", params=RENDERERS)
def published(request, browser, tmp_path_factory, demo_sqlite_url) -> Published:
    """One account published by the real CLI with one renderer (after the browser
    is known to work). Quarto is skipped when ``quarto`` is not on PATH. A run
    where some pages failed (exit 1) still yields the pages it published;
    :func:`test_publish_succeeded` reports the failures."""
    renderer = request.param
    if renderer == "quarto" and shutil.which("quarto") is None:
        pytest.skip("quarto is not on PATH: the Quarto pages are not checked")
    root = tmp_path_factory.mktemp(f"browser-{renderer}")
    schedule = root / "browser-test.yml"
    schedule.write_text(SCHEDULE)
    publish_dir = root / "published"
    result = run_rfa(
        ["publish", "--schedule", str(schedule), "--workers", "2", "--renderer", renderer],
        url=demo_sqlite_url,
        publish_dir=publish_dir,
        build_dir=root / "build",
    )
    output = result.stdout + result.stderr
    assert result.returncode in (0, 1), output
    manifest = publish_dir / "manifest.json"
    assert manifest.is_file(), output
    records = {r["page"]: r for r in json.loads(manifest.read_text())}
    return Published(renderer, publish_dir, result.returncode, output, records)


@pytest.fixture(scope="module")
def site(published) -> Path:
    """The publish folder of :func:`published`."""
    return published.folder


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
    layout: dict = field(default_factory=dict)
    first_screen: str = ""
    axe: list[dict] | None = None
    csp: list[dict] = field(default_factory=list)
    csp_blocked: list[str] = field(default_factory=list)
    probe_requests: list[str] = field(default_factory=list)


def _scheme(url: str) -> str:
    return urlsplit(url).scheme.lower()


def _short(url: str) -> str:
    return url if len(url) <= 100 else url[:97] + "..."


def _visit(
    context,
    url: str,
    site: Path,
    screenshot: Path | None = None,
    *,
    axe_source: str | None = None,
) -> Visit:
    """Open one page in a new tab; record what went wrong while it loaded, its
    layout and its first screen (or, given ``axe_source``, axe-core's findings)."""
    visit = Visit(screenshot=screenshot)
    requested: set[str] = set()

    def on_route(route, request) -> None:
        requested.add(request.url)
        if PROBE_HOST in request.url:  # the CSP probe's load got past the policy
            visit.probe_requests.append(request.url)
        if leaves_site(request.url, site):
            route.abort("blockedbyclient")  # never let it reach the network
        else:
            route.continue_()

    def on_console(message) -> None:
        if message.type == "error":
            visit.console_errors.append(f"{message.text} @ {message.location}")

    def on_request_failed(request) -> None:
        if not leaves_site(request.url, site):  # blocked requests are reported apart
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
        if axe_source is not None:
            page.add_script_tag(content=axe_source)
            visit.axe = page.evaluate(AXE_JS, AXE_TAGS)
        else:
            visit.images = page.evaluate(IMAGES_JS)
            visit.links = page.evaluate(LINKS_JS)
            visit.title = page.title()
            visit.layout = page.evaluate(LAYOUT_JS)
            visit.first_screen = page.evaluate(FIRST_SCREEN_JS)
        if screenshot is not None:
            page.screenshot(path=str(screenshot), full_page=True)
        if axe_source is None:  # last: the probe adds an image to the page
            visit.csp = page.evaluate(CSP_JS)
            visit.csp_blocked = page.evaluate(CSP_PROBE_JS)
    finally:
        page.close()
    # The probe's own traces are not the page's doing.
    requested = {u for u in requested if PROBE_HOST not in u}
    visit.console_errors = [m for m in visit.console_errors if PROBE_HOST not in m]
    visit.external_requests = sorted(u for u in requested if leaves_site(u, site))
    visit.local_requests = sum(1 for u in requested if _scheme(u) == "file")
    return visit


def _pages(site: Path) -> list[str]:
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    assert "index.html" in pages, pages
    return pages


@pytest.fixture(scope="module")
def sized_visits(browser, site, tmp_path_factory) -> dict[str, dict[str, Visit]]:
    """Every ``*.html`` of the site opened once per viewport: size → page path → visit."""
    pages = _pages(site)
    shot_dir = tmp_path_factory.mktemp("screenshots")
    out: dict[str, dict[str, Visit]] = {}
    for size, options in VIEWPORTS.items():
        context = browser.new_context(**options)
        try:
            out[size] = {
                rel: _visit(
                    context,
                    (site / rel).resolve().as_uri(),
                    site,
                    shot_dir / "index.png" if rel == "index.html" and size == DESKTOP else None,
                )
                for rel in pages
            }
        finally:
            context.close()
    return out


@pytest.fixture(scope="module")
def visits(sized_visits) -> dict[str, Visit]:
    """The desktop (1400×900) visits, keyed by page path."""
    return sized_visits[DESKTOP]


@pytest.fixture(scope="module")
def axe_visits(browser, site, axe_source) -> dict[str, dict[str, Visit]]:
    """axe-core run on every page at both sizes (CSP bypassed for its injected script)."""
    out: dict[str, dict[str, Visit]] = {}
    for size, options in VIEWPORTS.items():
        context = browser.new_context(**options, bypass_csp=True)
        try:
            out[size] = {
                rel: _visit(context, (site / rel).resolve().as_uri(), site, axe_source=axe_source)
                for rel in _pages(site)
            }
        finally:
            context.close()
    return out


def _report(published: Published, problems: list[str], what: str) -> None:
    """Fail with every problem found, one line each, or pass when there is none."""
    if problems:
        pytest.fail(
            f"{len(problems)} {what} ({published.renderer} renderer):\n" + "\n".join(problems),
            pytrace=False,
        )


def _day_patterns(day: dt.date) -> list[str]:
    month = MONTHS[day.month - 1]
    return [
        rf"\b0?{day.day}(st|nd|rd|th)?\s+{month}",
        rf"\b{month}[a-z]*\.?\s+0?{day.day}\b",
        rf"\b{day.isoformat()}\b",
    ]


def _days(moment: dt.datetime, timezone: str) -> set[dt.date]:
    return {moment.astimezone(dt.UTC).date(), moment.astimezone(ZoneInfo(timezone)).date()}


def _period_shown(record: dict, text: str) -> bool:
    """Does ``text`` name the window's first and last day? Either may be read in
    the account's timezone or in UTC; the last day may be the end instant's day
    (an exclusive end) or the day before it."""
    start = dt.datetime.fromisoformat(record["window_start"].replace("Z", "+00:00"))
    end = dt.datetime.fromisoformat(record["window_end"].replace("Z", "+00:00"))
    zone = record.get("timezone") or "UTC"
    firsts = _days(start, zone)
    lasts = _days(end, zone) | _days(end - dt.timedelta(microseconds=1), zone)

    def named(days: set[dt.date]) -> bool:
        return any(
            re.search(pattern, text, re.IGNORECASE)
            for day in days
            for pattern in _day_patterns(day)
        )

    return named(firsts) and named(lasts)


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
        path = file_path(href.split("#", 1)[0])
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


def test_publish_succeeded(published):
    assert published.returncode == 0, (
        f"rfa publish --renderer {published.renderer} failed some pages:\n"
        + published.output[-4000:]
    )
    kinds = {r["dashboard"] for r in published.records.values()}
    assert kinds == {
        "team",
        "personal",
        "flow",
        "flowpilot",
        "coverage",
        "knowledge_gaps",
        "escalations",
    }, kinds


def test_no_page_is_wider_than_the_viewport(published, sized_visits):
    problems = []
    for size, pages in sized_visits.items():
        device_width = VIEWPORTS[size]["viewport"]["width"]
        for rel, visit in pages.items():
            layout = visit.layout
            where = f"{published.renderer} · {size} · {rel}"
            if layout["layoutWidth"] > device_width + 1:
                hint = "" if layout["viewportMeta"] else ' (no <meta name="viewport">)'
                problems.append(
                    f"{where}: lays out {layout['layoutWidth']} px wide on a "
                    f"{device_width} px screen{hint}"
                )
            if layout["docWidth"] > layout["layoutWidth"] + 1:
                problems.append(
                    f"{where}: document {layout['docWidth']} px wide in a "
                    f"{layout['layoutWidth']} px viewport; sticking out: "
                    + "; ".join(layout["sticking"] or ["?"])
                )
    _report(published, problems, "page(s) wider than the screen")


def test_no_content_is_clipped(published, sized_visits):
    problems = [
        f"{published.renderer} · {size} · {rel}: clipped {c['element']} "
        f"(content {c['scrollWidth']} px in {c['clientWidth']} px, overflow-x {c['overflow']}"
        + (", text-overflow ellipsis" if c["textOverflow"] == "ellipsis" else "")
        + ")"
        for size, pages in sized_visits.items()
        for rel, visit in pages.items()
        for c in visit.layout["clipped"]
    ]
    _report(published, problems, "clipped element(s)")


def test_no_table_scrolls_sideways_on_a_desktop(published, sized_visits):
    """Issue 18: at 1400×900 nothing is cut at its card's edge, not even inside a scroll
    container (on a phone a wide table may scroll inside its card)."""
    problems = [
        f"{published.renderer} · {DESKTOP} · {rel}: {c['element']} scrolls sideways "
        f"(content {c['scrollWidth']} px in {c['clientWidth']} px)"
        for rel, visit in sized_visits[DESKTOP].items()
        for c in visit.layout["scrolling"]
    ]
    _report(published, problems, "box(es) cut at desktop width")


def _alt_problem(alt: str | None) -> str | None:
    if alt is None:
        return "no alt"
    text = " ".join(alt.split())
    if PLACEHOLDER_ALT.search(text):
        return f"placeholder alt {text[:60]!r}"
    if len(text) < MIN_ALT:
        return f"alt too short to describe it ({len(text)} < {MIN_ALT} characters): {text!r}"
    return None


def test_every_image_has_a_descriptive_alt(published, visits):
    problems = []
    for rel, visit in visits.items():
        for n, img in enumerate(visit.images, 1):
            problem = _alt_problem(img["alt"])
            if problem:
                problems.append(
                    f"{published.renderer} · {rel}: image {n} "
                    f"({_short(img['src'])[:40]}): {problem}"
                )
    _report(published, problems, "image(s) without a descriptive alt")


def test_no_serious_accessibility_violation(published, axe_visits):
    problems = [
        f"{published.renderer} · {size} · {rel}: axe {v['impact']} {v['id']} "
        f"({v['count']} element(s)): {v['help']} — e.g. {', '.join(v['targets'])} {v['html']!r}"
        for size, pages in axe_visits.items()
        for rel, visit in pages.items()
        for v in visit.axe or []
    ]
    _report(published, problems, "critical or serious WCAG 2.1 A/AA violation(s)")


def test_first_screen_shows_the_period(published, visits):
    problems = []
    for rel, record in sorted(published.records.items()):
        visit = visits.get(rel)
        if visit is None:  # a failed page: test_publish_succeeded reports it
            continue
        if not _period_shown(record, visit.first_screen):
            problems.append(
                f"{published.renderer} · {DESKTOP} · {rel}: the first screen does not show the "
                f"period {record['window_start'][:10]} – {record['window_end'][:10]} "
                f"({record.get('timezone')}); it shows: {visit.first_screen[:200]!r}"
            )
    _report(published, problems, "page(s) without the period on the first screen")


def test_every_page_forbids_network_loads(published, visits):
    """Issue 16: a Content-Security-Policy meta forbids every network load, and the
    browser enforces it (an image and a request made from inside the page never
    leave it)."""
    problems = []
    for rel, visit in visits.items():
        where = f"{published.renderer} · {rel}"
        problems += [f"{where}: {problem}" for problem in csp_problems(visit.csp)]
        if visit.probe_requests:
            problems.append(f"{where}: the page could request {', '.join(visit.probe_requests)}")
        elif not {"img-src", "connect-src"} <= set(visit.csp_blocked):
            problems.append(
                f"{where}: the policy did not stop the probe's image and request "
                f"(blocked: {visit.csp_blocked})"
            )
    _report(published, problems, "page(s) allowed to load from the network")


BAD_PAGE = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>Bad page</title></head>
<body style="margin:0;font:16px sans-serif">
<div style="width:2000px">A banner two thousand pixels wide</div>
<div id="cut" style="width:120px;overflow:hidden;white-space:nowrap">How sure are these
 numbers? no clear change</div>
<div id="scroller" style="width:120px;overflow-x:auto"><table style="width:600px"><tr>
<td>a wide table that scrolls in its card</td></tr></table></div>
<span style="position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)">
a visually hidden label</span>
<img src="data:image/svg+xml;base64,PHN2ZyB4bWxucz0naHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmcnLz4="
 alt="No description has been provided">
<p style="color:#d0d0d0;background:#fff">Pale grey text nobody can read</p>
<div style="height:3000px"></div><p>Last 30 days · 6 Nov – 5 Dec 2026</p>
</body></html>"""
GOOD_HEADER = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<title>Good</title>
</head><body><main><h1>Team overview</h1><p>Last 30 days · 6 Nov – 5 Dec 2026</p></main>
</body></html>"""
BAD_RECORD = {
    "window_start": "2026-11-06T00:00:00Z",
    "window_end": "2026-12-06T00:00:00Z",
    "timezone": "Europe/London",
}


def test_the_checks_find_a_bad_page(browser, axe_source, tmp_path):
    """The reading checks are not vacuous: a page built to break each of them does."""
    bad, good = tmp_path / "bad.html", tmp_path / "good.html"
    bad.write_text(BAD_PAGE)
    good.write_text(GOOD_HEADER)
    context = browser.new_context(**VIEWPORTS[DESKTOP])
    try:
        visit = _visit(context, bad.as_uri(), tmp_path)
        good_visit = _visit(context, good.as_uri(), tmp_path)
    finally:
        context.close()
    context = browser.new_context(**VIEWPORTS[DESKTOP], bypass_csp=True)
    try:
        axe = _visit(context, bad.as_uri(), tmp_path, axe_source=axe_source).axe
    finally:
        context.close()
    layout = visit.layout
    assert layout["docWidth"] > layout["layoutWidth"] + 1, layout
    assert any("A banner" in s for s in layout["sticking"]), layout["sticking"]
    assert [c["element"].split(" ")[0] for c in layout["clipped"]] == ["div#cut"], layout
    assert [c["element"].split(" ")[0] for c in layout["scrolling"]] == ["div#scroller"], layout
    assert [_alt_problem(img["alt"]) for img in visit.images] == [
        "placeholder alt 'No description has been provided'"
    ]
    assert _alt_problem("A bar chart of completion rate by flow: 82% overall") is None
    assert _alt_problem("Chart of rates") is not None
    assert "color-contrast" in {v["id"] for v in axe}, axe
    assert not _period_shown(BAD_RECORD, visit.first_screen), visit.first_screen
    assert _period_shown(BAD_RECORD, good_visit.first_screen), good_visit.first_screen
    assert csp_problems(visit.csp) == ['no <meta http-equiv="Content-Security-Policy">']
    assert visit.probe_requests, "without a policy the probe reaches the router"
    assert csp_problems(good_visit.csp) == [], good_visit.csp
    assert not good_visit.probe_requests and {"img-src", "connect-src"} <= set(
        good_visit.csp_blocked
    ), good_visit
    lax = [{"content": "default-src 'self'; img-src * data:", "inHead": 1, "beforeContent": 1}]
    lax_problems = csp_problems(lax)
    assert "img-src allows *" in lax_problems, lax_problems
    assert "connect-src allows 'self'" in lax_problems, lax_problems
