"""Shared by the browser tests: Debian's Chromium, requests kept inside the site,
and the Content-Security-Policy every published page must carry.

* :data:`CHROMIUM`, :data:`LAUNCH_ARGS` and :func:`launch` — headless Chromium via
  Playwright (its own browser downloads are never used), every host unresolvable;
* :func:`leaves_site` — is a request anything but inline data or a file of the site?
* :func:`csp_problems` — what is wrong with a page's CSP ``<meta>`` (empty: nothing).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import pytest

CHROMIUM = Path("/usr/bin/chromium")
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
CSP_JS = """() => {
    const metas = Array.from(document.querySelectorAll('meta[http-equiv]')).filter(
        m => m.httpEquiv.toLowerCase() === 'content-security-policy');
    const first = document.querySelector('script, link, style, img, iframe, object, embed');
    return metas.map(m => ({
        content: m.content,
        inHead: !!m.closest('head'),
        beforeContent: !first ||
            !!(m.compareDocumentPosition(first) & Node.DOCUMENT_POSITION_FOLLOWING),
    }));
}"""
"""Every CSP ``<meta>`` of the page: its policy, whether it sits in ``<head>`` and
before the first script, style, link or image (a meta CSP governs only what follows)."""
FETCH_DIRECTIVES = (
    "default-src",
    "script-src",
    "script-src-elem",
    "script-src-attr",
    "style-src",
    "style-src-elem",
    "style-src-attr",
    "img-src",
    "font-src",
    "connect-src",
    "media-src",
    "object-src",
    "frame-src",
    "child-src",
    "worker-src",
    "manifest-src",
)
"""Directives that govern loads; those not given fall back to ``default-src``."""
LOCAL_SOURCES = re.compile(
    r"^('none'|'unsafe-inline'|'unsafe-eval'|'unsafe-hashes'|'strict-dynamic'|'report-sample'"
    r"|'wasm-unsafe-eval'|'(nonce|sha256|sha384|sha512)-[A-Za-z0-9+/=_-]+'|data:|blob:)$",
    re.IGNORECASE,
)
"""Sources that load nothing from the network (``'self'`` would, once served over HTTP)."""


def unavailable(reason: str) -> None:
    """Skip locally; fail when CI is set, since CI must run the browser tests."""
    if os.environ.get("CI"):
        pytest.fail(f"{reason}; CI is set, so the browser test must run", pytrace=False)
    pytest.skip(reason)


@contextmanager
def launch() -> Iterator[object]:
    """Debian's headless Chromium launched by Playwright; skipped (failed under CI)
    when Chromium or Playwright is missing."""
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        unavailable(f"{CHROMIUM} not found (Debian: apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()


def file_path(url: str) -> Path:
    """The local path of a ``file:`` URL."""
    parts = urlsplit(url)
    assert parts.scheme == "file", url
    return Path(url2pathname(unquote(parts.path)))


def leaves_site(url: str, site: Path) -> bool:
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
    return not file_path(url).resolve().is_relative_to(site.resolve())


def csp_problems(metas: list[dict]) -> list[str]:
    """What keeps a page's CSP metas (from :data:`CSP_JS`) from forbidding every
    network load; empty when the page is safe.

    Required: exactly one ``<meta http-equiv="Content-Security-Policy">`` in ``<head>``
    before any script, style, link or image, with a ``default-src``; every fetch
    directive (given or inherited from ``default-src``) lists only sources that load
    nothing from the network (``'none'``, hashes, nonces, ``data:``, ``blob:``,
    ``'unsafe-inline'``); ``connect-src`` is ``'none'`` (nothing may be sent anywhere).
    """
    if not metas:
        return ['no <meta http-equiv="Content-Security-Policy">']
    problems = []
    if len(metas) > 1:
        problems.append(f"{len(metas)} CSP metas (one expected)")
    meta = metas[0]
    if not meta["inHead"]:
        problems.append("the CSP meta is not in <head>")
    if not meta["beforeContent"]:
        problems.append("the CSP meta comes after a script, style, link or image")
    directives: dict[str, list[str]] = {}
    for part in meta["content"].split(";"):
        words = part.split()
        if words:
            directives.setdefault(words[0].lower(), words[1:])
    if "default-src" not in directives:
        problems.append(f"no default-src in {meta['content']!r}")
    for name in FETCH_DIRECTIVES:
        sources = directives.get(name, directives.get("default-src", []))
        network = [s for s in sources if not LOCAL_SOURCES.match(s)]
        if network:
            problems.append(f"{name} allows {' '.join(network)}")
    connect = directives.get("connect-src", directives.get("default-src"))
    if connect != ["'none'"]:
        problems.append(f"connect-src is {' '.join(connect or ['(unset)'])}, not 'none'")
    return problems


PROBE_HOST = "rfa-csp-probe.invalid"
"""A host no page ever names: the CSP probe asks for it; the policy must stop it."""
CSP_PROBE_JS = """async () => {
    const seen = [];
    document.addEventListener('securitypolicyviolation', e => seen.push(e.effectiveDirective));
    const img = new Image();
    img.src = 'http://HOST/pixel.png';
    document.body.appendChild(img);
    try { await fetch('https://HOST/beacon', {method: 'POST', body: 'x'}); } catch (e) {}
    await new Promise(resolve => setTimeout(resolve, 150));
    img.remove();
    return seen;
}""".replace("HOST", PROBE_HOST)
"""Try to load an image and send a request off the machine from inside the page;
returns the CSP directives that stopped them (a request that got through reaches
the page's router, where the test sees it)."""
