"""The published site: atomic file writes, the page manifest and the index page.

Layout of a publish directory::

    published/
      index.html            every page, grouped by account then dashboard (write_index)
      manifest.json         one PageRecord per page, keyed by ``page`` (save_records)
      <account>/...         the pages and the JSON data beside each page

Every write goes to a temporary file in the destination directory, is flushed
and fsynced, then renamed over the destination with :func:`os.replace`: a reader
(a web server, a browser) sees the old file or the new one, never half of one.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import jinja2
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from rfa.errors import RFAError

INDEX_TEMPLATE = "index.html.j2"
"""The Jinja2 template of the index page, in the packaged ``rfa/templates``."""

MANIFEST_NAME = "manifest.json"
INDEX_NAME = "index.html"
PUBLISHED_MODE = 0o644
"""Permissions of published files (readable by a web server; temp files start at 0600)."""

DASHBOARD_ORDER = ("team", "personal", "flow", "engineer", "flowpilot", "ai")
"""Dashboards listed first in the index, in this order; others follow alphabetically."""


class SiteError(RFAError):
    """The publish directory cannot be read or written (e.g. a corrupt manifest)."""

    exit_code = 4


# ---------------------------------------------------------------------------------------------
# Atomic writes
# ---------------------------------------------------------------------------------------------


def _fsync_dir(directory: Path) -> None:
    """Best effort: persist the rename in ``directory`` (not possible on every platform)."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _atomic_write(path: Path, fill: Any) -> Path:
    """Create a temp file beside ``path``, let ``fill(fileobj)`` write it, fsync, replace."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp: IO[bytes] = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
        dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
    )
    tmp_path = Path(tmp.name)
    try:
        with tmp:
            fill(tmp)
            tmp.flush()
            os.fsync(tmp.fileno())
        os.chmod(tmp_path, PUBLISHED_MODE)
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_bytes(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically (temp file in the same directory, fsync, rename).

    Parent directories are created. The file ends with mode 0644.

    Returns:
        ``path``.

    Raises:
        OSError: the directory cannot be written; no temp file is left behind.
    """
    return _atomic_write(Path(path), lambda f: f.write(data))


def atomic_write_text(path: Path, text: str, encoding: str = "utf-8") -> Path:
    """Write ``text`` (encoded with ``encoding``) to ``path`` atomically.

    See :func:`atomic_write_bytes`; returns ``path``, raises ``OSError``.
    """
    return atomic_write_bytes(path, text.encode(encoding))


def atomic_copy(src: Path, dst: Path) -> Path:
    """Copy ``src`` to ``dst`` atomically (``dst`` shows the old or the complete new content).

    Returns:
        ``dst``.

    Raises:
        OSError: ``src`` cannot be read or ``dst``'s directory cannot be written.
    """
    with open(src, "rb") as source:
        return _atomic_write(Path(dst), lambda f: shutil.copyfileobj(source, f, 1024 * 1024))


# ---------------------------------------------------------------------------------------------
# Records and manifest
# ---------------------------------------------------------------------------------------------


def _relative_posix(value: str, field: str) -> str:
    path = PurePosixPath(value)
    if (
        not value
        or "\\" in value
        or path.is_absolute()
        or ".." in path.parts
        or ":" in path.parts[0]
    ):
        raise ValueError(f"{field} must be a relative POSIX path inside the publish directory")
    return path.as_posix()


class PageRecord(BaseModel):
    """One published page, as listed in the index and stored in ``manifest.json``.

    ``page`` and ``data_file`` are POSIX paths relative to the publish directory
    (no ``..``, not absolute). Naive datetimes are taken as UTC. ``audience`` is
    METRICS.md §6 wording (e.g. "team admins and super admins"); ``scope`` is
    "team", a flow name or an engineer name (untrusted text: the index escapes it).
    """

    model_config = ConfigDict(extra="ignore")

    account_slug: str
    account_name: str
    dashboard: str
    dashboard_title: str
    scope: str
    audience: str
    period: str
    window_start: dt.datetime
    window_end: dt.datetime
    timezone: str
    data_time: dt.datetime | None
    rendered_at: dt.datetime
    renderer: str
    page: str
    data_file: str
    status: Literal["ok", "failed", "stale"] = "ok"
    team: str | None = None
    """The schedule (team) that asked for the page."""
    as_of: str | None = None
    """End of the window the page was rendered for (ISO, UTC)."""
    parameters: dict[str, Any] = {}
    """Notebook parameters of the render (never a secret: the URL is not a parameter)."""
    fingerprint: str | None = None
    """What the page depends on, hashed (see :mod:`rfa.publish.fingerprint`)."""
    fingerprint_parts: dict[str, str] = {}
    error: str | None = None
    """Why the last render of this page failed (its previous version stays published)."""

    @field_validator("window_start", "window_end", "data_time", "rendered_at")
    @classmethod
    def _aware(cls, value: dt.datetime | None) -> dt.datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=dt.UTC)
        return value

    @field_validator("page", "data_file")
    @classmethod
    def _relative(cls, value: str, info: Any) -> str:
        return _relative_posix(value, info.field_name)


def merge_records(existing: Iterable[PageRecord], new: Iterable[PageRecord]) -> list[PageRecord]:
    """Merge two record lists keyed by ``page`` (a record in ``new`` replaces the old one).

    Returns:
        The merged records sorted by ``page``.
    """
    merged = {record.page: record for record in existing}
    merged.update({record.page: record for record in new})
    return [merged[key] for key in sorted(merged)]


def load_records(publish_dir: Path) -> list[PageRecord]:
    """Read ``publish_dir/manifest.json``.

    Returns:
        The records (an empty list when there is no manifest yet).

    Raises:
        SiteError: the manifest is not valid JSON or not a list of PageRecord objects.
    """
    path = Path(publish_dir) / MANIFEST_NAME
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    try:
        data = json.loads(raw)
        if not isinstance(data, list):
            raise ValueError("the manifest must be a JSON list of page records")
        return [PageRecord.model_validate(item) for item in data]
    except (ValueError, ValidationError) as exc:
        raise SiteError(f"corrupt manifest {path}: {exc}") from exc


def save_records(records: Iterable[PageRecord], publish_dir: Path) -> Path:
    """Write ``records`` to ``publish_dir/manifest.json`` atomically.

    One record per ``page`` (a later duplicate wins), sorted by ``page``.

    Returns:
        The manifest path.
    """
    unique = merge_records([], records)
    payload = [record.model_dump(mode="json") for record in unique]
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    return atomic_write_text(Path(publish_dir) / MANIFEST_NAME, text)


# ---------------------------------------------------------------------------------------------
# Index page
# ---------------------------------------------------------------------------------------------


def _template_env() -> jinja2.Environment:
    import importlib.resources

    root = Path(str(importlib.resources.files("rfa").joinpath("templates")))
    if not (root / INDEX_TEMPLATE).is_file():
        raise SiteError(f"the index template is missing from {root}; reinstall the package")
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(root)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _zone(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def _utc_text(value: dt.datetime | None) -> str:
    if value is None:
        return "—"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _window_text(record: PageRecord) -> str:
    tz = _zone(record.timezone)
    first = record.window_start.astimezone(tz).date()
    last = (record.window_end - dt.timedelta(microseconds=1)).astimezone(tz).date()
    if last < first:
        last = first
    return f"{first.isoformat()} – {last.isoformat()}"


def _href(path: str) -> str:
    return quote(path, safe="/-_.~")


def _dashboard_key(name: str) -> tuple[int, str]:
    lowered = name.lower()
    rank = DASHBOARD_ORDER.index(lowered) if lowered in DASHBOARD_ORDER else len(DASHBOARD_ORDER)
    return rank, lowered


def index_context(
    records: Iterable[PageRecord], generated_at: dt.datetime | None = None
) -> dict[str, Any]:
    """The view model of the index page: accounts → dashboards → rows of display strings.

    Accounts are sorted by name, dashboards by :data:`DASHBOARD_ORDER` then name,
    rows by scope then period. Links are relative, percent-encoded paths.
    """
    generated = generated_at or dt.datetime.now(dt.UTC)
    accounts: dict[str, dict[str, Any]] = {}
    counts = {"ok": 0, "failed": 0, "stale": 0}
    for record in records:
        counts[record.status] += 1
        account = accounts.setdefault(
            record.account_slug,
            {"slug": record.account_slug, "name": record.account_name, "dashboards": {}},
        )
        group = account["dashboards"].setdefault(
            record.dashboard,
            {"name": record.dashboard, "title": record.dashboard_title, "rows": []},
        )
        group["rows"].append(
            {
                "scope": record.scope,
                "audience": record.audience,
                "period": record.period,
                "window": _window_text(record),
                "timezone": record.timezone,
                "data_time": _utc_text(record.data_time),
                "rendered_at": _utc_text(record.rendered_at),
                "renderer": record.renderer,
                "status": record.status,
                "page_href": _href(record.page),
                "data_href": _href(record.data_file),
                "page": record.page,
                "data_file": record.data_file,
            }
        )
    ordered = []
    for account in sorted(accounts.values(), key=lambda a: (a["name"].casefold(), a["slug"])):
        dashboards = []
        for key in sorted(account["dashboards"], key=_dashboard_key):
            group = account["dashboards"][key]
            group["rows"].sort(key=lambda r: (r["scope"].casefold(), r["period"], r["page"]))
            group["failed"] = sum(1 for r in group["rows"] if r["status"] != "ok")
            dashboards.append(group)
        ordered.append(
            {
                "slug": account["slug"],
                "name": account["name"],
                "anchor": "account-" + quote(account["slug"], safe="-_."),
                "dashboards": dashboards,
                "pages": sum(len(d["rows"]) for d in dashboards),
                "problems": sum(d["failed"] for d in dashboards),
            }
        )
    return {
        "title": "ResolutionFlow Analytics — dashboards",
        "generated_at": _utc_text(generated),
        "accounts": ordered,
        "counts": counts,
        "total": sum(counts.values()),
    }


def render_index(records: Iterable[PageRecord], generated_at: dt.datetime | None = None) -> str:
    """Render the index page HTML (autoescaped Jinja2, inline CSS, no scripts, no network)."""
    template = _template_env().get_template(INDEX_TEMPLATE)
    return template.render(**index_context(records, generated_at))


def write_index(
    records: list[PageRecord], publish_dir: Path, generated_at: dt.datetime | None = None
) -> Path:
    """Write ``publish_dir/index.html`` atomically, listing every record.

    Args:
        records: the pages to list (typically :func:`load_records` merged with new ones).
        publish_dir: the publish directory; links in the page are relative to it.
        generated_at: the time shown as "generated" (default: now, UTC).

    Returns:
        The index path.

    Raises:
        SiteError: the packaged template is missing.
        OSError: the directory cannot be written.
    """
    page = render_index(records, generated_at)
    return atomic_write_text(Path(publish_dir) / INDEX_NAME, page)
