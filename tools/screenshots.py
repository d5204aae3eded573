"""Full-page screenshots of one page of every dashboard kind, for reviewing a change by eye.

``make screenshots`` (or ``.venv/bin/python tools/screenshots.py``) publishes one demo
account — every dashboard kind, the busiest flow and the busiest engineer — with each
renderer available (the nbconvert fallback always, Quarto when ``quarto`` is on PATH)
into ``build/screenshots-site/<renderer>/`` (always re-rendered, ``--force``: a page's
fingerprint holds the library's version, not its code, and a change under review is code),
then opens one page of each kind in headless Chromium (Debian's ``/usr/bin/chromium``
driven by Playwright, every request outside the publish folder aborted and every
host unresolvable) at 1400×900 and at 390×844 (a phone: mobile emulation) and writes
full-page PNGs::

    build/screenshots/<renderer>/<dashboard>-1400x900.png
    build/screenshots/<renderer>/<dashboard>-390x844.png

``--site published`` shoots an already published folder instead (its manifest says
which renderer made each page); ``--account`` picks another account of the database
(``RFA_DATABASE_URL``, default the demo database ``data/demo.sqlite``).

Exit codes: 0 every screenshot written; 1 some page failed to publish or to load;
2 bad input (no Chromium or Playwright, ``--site`` without a manifest, Quarto asked
for but not on PATH).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated
from urllib.parse import unquote, urlsplit
from urllib.request import url2pathname

import typer

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
OUT_DIR = ROOT / "build" / "screenshots"
SITE_DIR = ROOT / "build" / "screenshots-site"
DEFAULT_ACCOUNT = "kiwi-tech"
SIZES: dict[str, dict] = {
    "1400x900": {"viewport": {"width": 1400, "height": 900}},
    "390x844": {
        "viewport": {"width": 390, "height": 844},
        "is_mobile": True,
        "has_touch": True,
    },
}
"""Viewports, named as in the file names: a desktop and a phone (mobile emulation)."""
LAUNCH_ARGS = [
    "--no-sandbox",  # may run as root
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no request ever resolves a host
]


class RendererChoice(StrEnum):
    """Which renderers to publish with: every one available, or one."""

    all = "all"
    nbconvert = "nbconvert"
    quarto = "quarto"


@dataclass(frozen=True)
class Shot:
    """One page to photograph: its renderer, dashboard kind and file."""

    renderer: str
    dashboard: str
    page: Path
    site: Path


class ScreenshotError(Exception):
    """Bad input: the message is one line, printed as ``error: …`` (exit code 2)."""


def _schedule(account: str) -> str:
    return (
        "# tools/screenshots.py: every dashboard kind, one flow and one engineer.\n"
        f"account: {json.dumps(account)}\n"
        "periods: [30d]\n"
        "as_of: today\n"
        "flows: {busiest: 1}\n"
        "engineers: {busiest: 1}\n"
    )


def publish(account: str, renderer: str, site_root: Path = SITE_DIR) -> tuple[Path, bool]:
    """Publish ``account``'s pages with ``renderer`` by the real CLI (``rfa publish``).

    Input: an account slug or id; ``"nbconvert"`` or ``"quarto"``. Output: the publish
    folder (``site_root/<renderer>/published``) and whether every page published (the
    CLI's exit code 0). The database is the configured one (``RFA_DATABASE_URL``,
    default ``data/demo.sqlite``). Raises :class:`ScreenshotError` when the CLI
    rejects its input or cannot reach the database (exit codes 2 and 3).
    """
    work = site_root / renderer
    work.mkdir(parents=True, exist_ok=True)
    schedule = work / "screenshots.yml"
    schedule.write_text(_schedule(account))
    folder = work / "published"
    env = {**os.environ, "RFA_PUBLISH_DIR": str(folder), "RFA_BUILD_DIR": str(work / "build")}
    command = [sys.executable, "-m", "rfa.cli", "publish", "--schedule", str(schedule), "--force"]
    print(f"publishing {account} with {renderer} into {folder} …", flush=True)
    result = subprocess.run(
        [*command, "--renderer", renderer], env=env, stdin=subprocess.DEVNULL, check=False
    )
    if result.returncode not in (0, 1):
        raise ScreenshotError(f"rfa publish --renderer {renderer} exited {result.returncode}")
    return folder, result.returncode == 0


def pick_pages(site: Path, renderer: str | None = None) -> list[Shot]:
    """One published page per dashboard kind of a publish folder (the first by path).

    Input: a folder holding ``manifest.json``; optionally only pages of one renderer.
    Output: one :class:`Shot` per dashboard kind whose page is on disk (status ok),
    sorted by renderer and dashboard. Raises :class:`ScreenshotError` when the
    folder has no readable manifest.
    """
    manifest = site / "manifest.json"
    try:
        records = json.loads(manifest.read_text())
    except (OSError, ValueError) as exc:
        raise ScreenshotError(
            f"{manifest}: no readable manifest ({exc.__class__.__name__}); "
            "accepted: a folder rfa publish wrote"
        ) from None
    chosen: dict[tuple[str, str], Shot] = {}
    for record in sorted(records, key=lambda r: str(r.get("page"))):
        page = site / str(record.get("page"))
        made_by = str(record.get("renderer") or "unknown")
        if record.get("status") != "ok" or not page.is_file():
            continue
        if renderer is not None and made_by != renderer:
            continue
        chosen.setdefault(
            (made_by, str(record["dashboard"])),
            Shot(made_by, str(record["dashboard"]), page, site),
        )
    return [chosen[key] for key in sorted(chosen)]


def _inside(url: str, site: Path) -> bool:
    parts = urlsplit(url)
    if parts.scheme == "data":
        return True
    if parts.scheme != "file" or parts.netloc not in ("", "localhost"):
        return False
    path = Path(url2pathname(unquote(parts.path))).resolve()
    return path.is_relative_to(site.resolve())


def shoot(shots: list[Shot], out_dir: Path = OUT_DIR) -> tuple[list[Path], list[str]]:
    """Full-page PNGs of every shot at every size of :data:`SIZES`.

    Output: the files written (``out_dir/<renderer>/<dashboard>-<W>x<H>.png``) and one
    line per page that could not be photographed. Requests that leave the publish
    folder are aborted. Raises :class:`ScreenshotError` without Chromium or Playwright.
    """
    if not (CHROMIUM.exists() and os.access(CHROMIUM, os.X_OK)):
        raise ScreenshotError(f"{CHROMIUM} not found; accepted: Debian's chromium package")
    try:
        from playwright.sync_api import Error as PlaywrightError
        from playwright.sync_api import sync_playwright
    except ImportError:
        raise ScreenshotError("playwright is not installed; run make setup") from None
    written: list[Path] = []
    failed: list[str] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=LAUNCH_ARGS
        )
        try:
            for size, options in SIZES.items():
                context = browser.new_context(**options)
                try:
                    for shot in shots:
                        target = out_dir / shot.renderer / f"{shot.dashboard}-{size}.png"
                        target.parent.mkdir(parents=True, exist_ok=True)
                        page = context.new_page()
                        page.route(
                            "**/*",
                            lambda route, request, site=shot.site: (
                                route.continue_()
                                if _inside(request.url, site)
                                else route.abort("blockedbyclient")
                            ),
                        )
                        try:
                            page.goto(shot.page.resolve().as_uri(), wait_until="load")
                            page.wait_for_load_state("networkidle")
                            page.screenshot(path=str(target), full_page=True)
                            written.append(target)
                        except PlaywrightError as exc:
                            failed.append(f"{shot.page} at {size}: {str(exc).splitlines()[0]}")
                        finally:
                            page.close()
                finally:
                    context.close()
        finally:
            browser.close()
    return written, failed


def main(
    site: Annotated[
        Path | None,
        typer.Option(help="Shoot this already published folder instead of publishing."),
    ] = None,
    renderer: Annotated[
        RendererChoice,
        typer.Option(help="Publish with every renderer available, or with one."),
    ] = RendererChoice.all,
    account: Annotated[
        str, typer.Option(help="Account (slug or id) to publish.")
    ] = DEFAULT_ACCOUNT,
    out: Annotated[Path, typer.Option(help="Where the PNGs go.")] = OUT_DIR,
) -> None:
    """Write full-page PNGs of one page of every dashboard kind at 1400×900 and 390×844."""
    try:
        ok = True
        if site is not None:
            only = None if renderer is RendererChoice.all else renderer.value
            shots = pick_pages(site, only)
        else:
            if renderer is RendererChoice.all:
                renderers = ["nbconvert"] + (["quarto"] if shutil.which("quarto") else [])
            elif renderer is RendererChoice.quarto and shutil.which("quarto") is None:
                raise ScreenshotError(
                    "--renderer quarto: quarto is not on PATH; accepted: all or nbconvert"
                )
            else:
                renderers = [renderer.value]
            shots = []
            for name in renderers:
                folder, published = publish(account, name)
                ok = ok and published
                shots += pick_pages(folder, name)
        if not shots:
            raise ScreenshotError("no published page to photograph")
        written, failed = shoot(shots, out)
    except ScreenshotError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None
    for path in written:
        typer.echo(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    for line in failed:
        typer.echo(f"failed {line}", err=True)
    kinds = sorted({shot.dashboard for shot in shots})
    typer.echo(f"{len(written)} screenshots of {len(kinds)} dashboard kinds in {out}")
    if failed or not ok:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
