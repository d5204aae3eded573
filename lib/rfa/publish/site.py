"""The published site: atomic file writes, the page manifest and the index page.

Layout of a publish directory::

    published/
      index.html            every page, grouped by account then dashboard (write_index)
      manifest.json         one PageRecord per page, keyed by ``page`` (save_records)
      <account>/...         the pages and the JSON data beside each page

Every write goes to a temporary file in the destination directory, is flushed
and fsynced, then renamed over the destination with :func:`os.replace`: a reader
(a web server, a browser) sees the old file or the new one, never half of one.
A page and its data file are staged together and renamed only when both are
complete (:func:`atomic_write_many`): a full disk publishes neither.

A run holds :func:`publish_lock` on the publish directory (``.rfa-publish.lock``,
with the ``filelock`` library) from reading the manifest to
writing the index: a second run waits, then gives up with :class:`PublishBusy`.

Pages carry two slots the publisher fills (:func:`fill_slots`), after the render and
again at the end of every run: ``<!--rfa:nav-->…<!--/rfa:nav-->`` (breadcrumbs to
the index and links to the related pages a reader of this page may open,
:func:`nav_html`) and ``<!--rfa:status-->…<!--/rfa:status-->`` (a banner when the
page's last refresh failed and this is the last good version, :func:`status_html`).
The manifest vouches for each page by a digest of its content outside the slots
(:func:`page_digest`), so refilling the slots never invalidates it, and a page the
manifest does not vouch for (a run killed after the page moved into place but
before the manifest was written) is rendered again by the next run.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import posixpath
import re
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import IO, Any, Literal
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import filelock
import jinja2
from markupsafe import Markup, escape
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from rfa.catalog import DASHBOARDS
from rfa.errors import RFAError

INDEX_TEMPLATE = "index.html.j2"
"""The Jinja2 template of the index page, in the packaged ``rfa/templates``."""

MANIFEST_NAME = "manifest.json"
INDEX_NAME = "index.html"
PUBLISHED_MODE = 0o644
"""Permissions of published files (readable by a web server; temp files start at 0600)."""

DASHBOARD_ORDER = ("team", "personal", "flow", "engineer", "flowpilot", "ai")
"""Dashboards listed first in the index, in this order; others follow alphabetically."""


LOCK_NAME = ".rfa-publish.lock"
"""The publish lock's file, in the publish directory (hidden: never a page's path)."""
DEFAULT_LOCK_WAIT = 600.0
"""Seconds a run waits for another run's publish lock on the same folder before it gives
up with :class:`PublishBusy` (setting ``RFA_PUBLISH_LOCK_WAIT_S``)."""


class SiteError(RFAError):
    """The publish directory cannot be read or written (e.g. a corrupt manifest)."""

    exit_code = 4


class PublishBusy(SiteError):
    """Another run holds the publish lock of the same folder longer than the wait.
    Exit code 75 (``EX_TEMPFAIL``: try again later)."""

    exit_code = 75


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


def atomic_write_many(items: Sequence[tuple[Path, bytes]]) -> list[Path]:
    """Write several files as one: stage every file (temp file beside its destination,
    fsynced), and only when all are complete rename each into place.

    Input: ``(destination, content)`` pairs (e.g. a page and its data file). A failure
    while staging (a full disk, a read-only folder) removes the staged files and
    leaves every destination as it was. Output: the destinations. Raises ``OSError``.
    """
    staged: list[tuple[Path, Path]] = []
    try:
        for path, data in items:
            path = Path(path)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed below
                dir=path.parent, prefix=f".{path.name}.", suffix=".tmp", delete=False
            )
            staged.append((Path(tmp.name), path))
            with tmp:
                tmp.write(data)
                tmp.flush()
                os.fsync(tmp.fileno())
            os.chmod(tmp.name, PUBLISHED_MODE)
        for tmp_path, path in staged:
            os.replace(tmp_path, path)
    except BaseException:
        for tmp_path, _ in staged:
            tmp_path.unlink(missing_ok=True)
        raise
    for directory in {path.parent for _, path in staged}:
        _fsync_dir(directory)
    return [path for _, path in staged]


# ---------------------------------------------------------------------------------------------
# The publish lock
# ---------------------------------------------------------------------------------------------


@contextmanager
def publish_lock(
    publish_dir: Path,
    wait: float = DEFAULT_LOCK_WAIT,
    on_wait: Callable[[str], None] | None = None,
) -> Iterator[Path]:
    """Hold the exclusive publish lock of ``publish_dir`` (created if missing).

    Inputs: the publish directory, ``wait`` (seconds to wait for another run's lock,
    ≥ 0) and ``on_wait`` (called with one line when the lock is busy and the wait
    starts). Yields the lock file's path. The lock is an OS file lock
    (:class:`filelock.FileLock`): a run killed with ``kill -9`` releases it.
    Raises :class:`PublishBusy` (exit code 75) when the lock is still held after
    ``wait`` seconds, :class:`SiteError` when the folder cannot be created.
    """
    folder = Path(publish_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SiteError(
            f"cannot create the publish directory {folder}: {exc.strerror or exc}; "
            "accepted: a writable folder (RFA_PUBLISH_DIR)"
        ) from None
    path = folder / LOCK_NAME
    lock = filelock.FileLock(path, timeout=wait)
    try:
        lock.acquire(timeout=0)
    except filelock.Timeout:
        if on_wait is not None:
            on_wait(
                f"another publish into {folder} is running; waiting up to {wait:.0f} s "
                "for it to finish"
            )
        try:
            lock.acquire(timeout=wait)
        except filelock.Timeout:
            raise PublishBusy(
                f"another publish into {folder} still holds {path} after {wait:.0f} s; "
                "accepted: one publish per folder at a time — run again later, or wait "
                "longer with RFA_PUBLISH_LOCK_WAIT_S"
            ) from None
    try:
        yield path
    finally:
        lock.release()


class _LockSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RFA_", extra="ignore")

    publish_lock_wait_s: float = Field(default=DEFAULT_LOCK_WAIT, ge=0, le=86_400)


def lock_wait() -> float:
    """Seconds to wait for the publish lock: ``RFA_PUBLISH_LOCK_WAIT_S`` (0 to 86400),
    default :data:`DEFAULT_LOCK_WAIT`. Raises :class:`~rfa.errors.ParameterError` for
    another value."""
    from rfa.errors import ParameterError

    try:
        return _LockSettings().publish_lock_wait_s
    except ValidationError:
        raise ParameterError(
            "RFA_PUBLISH_LOCK_WAIT_S",
            os.environ.get("RFA_PUBLISH_LOCK_WAIT_S"),
            "seconds from 0 to 86400",
        ) from None


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
    failed_at: dt.datetime | None = None
    """When the last render of this page failed (``rendered_at`` is then the last
    good render)."""
    rolling: bool = True
    """The window ends at the run's time (a scheduled page); ``False`` for an explicit
    end (an ad-hoc page, whose path names its window)."""
    page_sha256: str | None = None
    """:func:`page_digest` of the published page: the manifest vouches for this content."""
    data_sha256: str | None = None
    """SHA-256 of the published data file."""

    @field_validator("window_start", "window_end", "data_time", "rendered_at", "failed_at")
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

    Raises :class:`SiteError` (one line: the file, the reason) when it cannot be
    written, e.g. on a full disk; the previous manifest is then left as it was.
    """
    unique = merge_records([], records)
    payload = [record.model_dump(mode="json") for record in unique]
    text = json.dumps(payload, indent=2, ensure_ascii=False) + "\n"
    path = Path(publish_dir) / MANIFEST_NAME
    try:
        return atomic_write_text(path, text)
    except OSError as exc:
        raise SiteError(
            f"cannot write the manifest {path}: {exc.strerror or exc}; the previous "
            "manifest is kept (pages published by this run are rendered again by the "
            "next one) — free disk space or fix the folder's permissions and run again"
        ) from None


# ---------------------------------------------------------------------------------------------
# Page names, slots and digests
# ---------------------------------------------------------------------------------------------

SLOTS = ("status", "nav")
"""The slots of a page's header the publisher fills (``<!--rfa:NAME-->…<!--/rfa:NAME-->``)."""
_SLOT_TEXT = {
    name: re.compile(rf"(<!--rfa:{name}-->)(.*?)(<!--/rfa:{name}-->)", re.S) for name in SLOTS
}
_SLOT_BYTES = {
    name: re.compile(rf"(<!--rfa:{name}-->)(.*?)(<!--/rfa:{name}-->)".encode(), re.S)
    for name in SLOTS
}
PAGE_NAMES = {
    "team": "Team",
    "personal": "Personal",
    "flow": "Flow",
    "flowpilot": "FlowPilot",
    "coverage": "Coverage",
    "knowledge_gaps": "Knowledge gaps",
    "escalations": "Escalations",
}
"""How link texts name each dashboard ("Team — last 30 days", "Flow — <flow name>")."""
_AUDIENCE_RANK = {"engineers": 0, "admin": 0, "staff": 1, "members": 2}
"""Audience folders by breadth: every admin and every engineer is staff; all staff are
members. ``admin`` and one engineer's folder are not comparable (neither contains the
other), and two engineers' folders never are."""


def fill_slots(html: str, *, nav: str | None = None, status: str | None = None) -> str:
    """Put ``nav`` and ``status`` between their markers in ``html`` (a rendered page).

    Pure function. Inputs: the page's HTML and the slots' new contents: ``None``
    leaves a slot as it is, ``""`` empties it; a :class:`markupsafe.Markup` is
    inserted as it is, any other text is escaped. Only the first occurrence of each
    slot (in the page header) is replaced, the markers are kept (so the slot can be
    filled again), nothing else of the page changes. A page without the slots (an
    old page) is returned unchanged. Output: the new HTML.
    """
    for name, content in (("status", status), ("nav", nav)):
        if content is None:
            continue
        inner = str(escape(content))
        html = _SLOT_TEXT[name].sub(lambda m, i=inner: m.group(1) + i + m.group(3), html, 1)
    return html


def page_digest(html: bytes) -> str:
    """SHA-256 (hex) of a page's bytes with the contents of its slots left out, so
    filling the slots (:func:`fill_slots`) never changes it. The manifest records it
    (:attr:`PageRecord.page_sha256`) to vouch for the published page."""
    for pattern in _SLOT_BYTES.values():
        html = pattern.sub(lambda m: m.group(1) + m.group(3), html, 1)
    return hashlib.sha256(html).hexdigest()


def _local_day(value: dt.datetime, timezone: str) -> dt.date:
    return value.astimezone(_zone(timezone)).date()


def _day_text(day: dt.date) -> str:
    return f"{day.day} {day:%b %Y}"


def period_words(record: PageRecord) -> str:
    """The page's window in words: ``last 30 days`` for a rolling page, ``30 days to
    1 Nov 2026`` for an explicit end, ``1 Oct 2026 – 31 Oct 2026`` for a date range
    (local dates in the account's timezone)."""
    period = record.period.strip()
    if period.endswith("d") and period[:-1].isdigit():
        days = int(period[:-1])
        if record.rolling:
            return f"last {days} days"
        return f"{days} days to {_day_text(_local_day(record.window_end, record.timezone))}"
    first = _local_day(record.window_start, record.timezone)
    last = _local_day(record.window_end - dt.timedelta(microseconds=1), record.timezone)
    return f"{_day_text(first)} – {_day_text(max(first, last))}"


def page_name(record: PageRecord, *, with_period: bool = True) -> str:
    """A page's name as link texts show it (plain text; escape it for HTML):
    ``Team — last 30 days``, ``Flow — Outlook profile corruption — last 30 days``
    (without the period when ``with_period`` is false)."""
    name = PAGE_NAMES.get(record.dashboard, record.dashboard_title)
    spec = DASHBOARDS.get(record.dashboard)
    parts = [name]
    if spec is not None and spec.scope is not None:
        parts.append(record.scope)
    if with_period:
        parts.append(period_words(record))
    return " — ".join(parts)


def _audience(record: PageRecord) -> tuple[str, str] | None:
    """``(folder, engineer folder or "")`` of a record, ``None`` for an unknown dashboard."""
    spec = DASHBOARDS.get(record.dashboard)
    if spec is None:
        return None
    parts = PurePosixPath(record.page).parts
    who = parts[2] if spec.folder == "engineers" and len(parts) > 3 else ""
    return spec.folder, who


def may_link(source: PageRecord, target: PageRecord) -> bool:
    """Whether ``source``'s page may link to ``target``'s: same account, and every
    reader of ``source`` may read ``target`` (its audience is the same or broader,
    never narrower): a team page (admins) may link to flow pages (members), a flow
    page never to the team page, a personal page never to another engineer's."""
    if source.account_slug != target.account_slug:
        return False
    mine, theirs = _audience(source), _audience(target)
    if mine is None or theirs is None:
        return False
    if mine == theirs:
        return True
    rank_mine, rank_theirs = _AUDIENCE_RANK[mine[0]], _AUDIENCE_RANK[theirs[0]]
    return rank_theirs > rank_mine


def _same_window(a: PageRecord, b: PageRecord) -> bool:
    if a.period != b.period or a.rolling != b.rolling:
        return False
    return a.rolling or a.window_end == b.window_end


def _relative_href(source: str, target: str) -> str:
    start = posixpath.dirname(source) or "."
    return _href(posixpath.relpath(target, start))


def related_records(record: PageRecord, records: Iterable[PageRecord]) -> list[PageRecord]:
    """The pages ``record``'s page links to: same account, same period and window,
    audience the same or broader (:func:`may_link`), not itself; in the index's order
    (dashboard, then name)."""
    out = [
        other
        for other in records
        if other.page != record.page and _same_window(record, other) and may_link(record, other)
    ]
    out.sort(key=lambda r: (_dashboard_key(r.dashboard), r.scope.casefold(), r.page))
    return out


def nav_html(record: PageRecord, records: Iterable[PageRecord]) -> Markup:
    """The nav slot of ``record``'s page (static HTML, no script, no inline style):
    breadcrumbs — the index (its relative href is right for the page's depth), the
    account, this page — and links to :func:`related_records`. Every name is escaped."""
    depth = record.page.count("/")
    index = "../" * depth + INDEX_NAME
    anchor = "account-" + quote(record.account_slug, safe="-_.")
    crumbs = Markup(
        '<ol class="rfa-breadcrumbs">'
        '<li><a href="{index}">All dashboards</a> › </li>'
        '<li><a href="{index}#{anchor}">{account}</a> › </li>'
        '<li aria-current="page">{name}</li></ol>'
    ).format(index=index, anchor=anchor, account=record.account_name, name=page_name(record))
    related = related_records(record, records)
    if not related:
        return crumbs
    links = Markup("").join(
        Markup('<li><a href="{}">{}</a>{}</li>').format(
            _relative_href(record.page, other.page),
            page_name(other, with_period=False),
            " · " if i < len(related) - 1 else "",
        )
        for i, other in enumerate(related)
    )
    return (
        crumbs
        + Markup(' <span class="rfa-related-label">· Related pages:</span> ')
        + Markup('<ul class="rfa-related">{}</ul>').format(links)
    )


def status_html(record: PageRecord) -> Markup:
    """The status slot of ``record``'s page: when its last refresh failed and this is
    its last good version, a banner (``role="alert"``) "Showing the version of 3 Dec:
    the refresh of 6 Dec failed." (dates in the account's timezone); otherwise empty."""
    if record.status != "failed":
        return Markup("")
    good = _local_day(record.rendered_at, record.timezone)
    failed = _local_day(record.failed_at or record.rendered_at, record.timezone)
    return Markup(
        '<div class="rfa-banner rfa-banner--failed" role="alert">Showing the version of '
        "{good}: the refresh of {failed} failed.</div>"
    ).format(good=f"{good.day} {good:%b}", failed=f"{failed.day} {failed:%b}")


def fill_page(record: PageRecord, records: Iterable[PageRecord], html: str) -> str:
    """:func:`fill_slots` of ``html`` with :func:`nav_html` and :func:`status_html` of
    ``record`` (``records``: every page of the site, for the related links)."""
    return fill_slots(html, nav=nav_html(record, records), status=status_html(record))


def refill_pages(
    records: Sequence[PageRecord],
    publish_dir: Path,
    on_error: Callable[[str], None] | None = None,
) -> int:
    """Refill the slots of every published page of ``records`` (so earlier pages link
    to later ones, and a failed refresh shows its banner); each changed page is
    rewritten atomically, pages without slots or unchanged are left alone. A page
    that cannot be read or written is reported to ``on_error`` (one line) and
    skipped. Output: the number of pages rewritten."""
    changed = 0
    by_account: dict[str, list[PageRecord]] = {}
    for record in records:
        by_account.setdefault(record.account_slug, []).append(record)
    for record in records:
        path = Path(publish_dir) / record.page
        try:
            html = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # a page that never rendered, or was removed by hand
        new = fill_page(record, by_account[record.account_slug], html)
        if new == html:
            continue
        try:
            atomic_write_text(path, new)
            changed += 1
        except OSError as exc:
            if on_error is not None:
                on_error(f"{record.page}: cannot fill its navigation: {exc.strerror or exc}")
    return changed


def unvouched(record: PageRecord, publish_dir: Path) -> str | None:
    """Why the manifest does not vouch for ``record``'s published files, or ``None``.

    The page's :func:`page_digest` and the data file's SHA-256 must be the ones the
    record holds (a page moved into place by a run that was killed before it wrote
    the manifest is not). A record written before digests were kept is vouched for
    while neither file is newer than its ``rendered_at``. Output: ``"page missing"``,
    ``"data file missing"``, ``"page not the one the manifest records"``, ``"data file
    not the one the manifest records"`` or ``None``.
    """
    page = Path(publish_dir) / record.page
    data = Path(publish_dir) / record.data_file
    try:
        page_bytes = page.read_bytes()
    except OSError:
        return "page missing"
    try:
        data_bytes = data.read_bytes()
    except OSError:
        return "data file missing"
    if record.page_sha256 is None or record.data_sha256 is None:
        limit = record.rendered_at.timestamp() + 2.0
        newest = max(page.stat().st_mtime, data.stat().st_mtime)
        return "page newer than its manifest record" if newest > limit else None
    if page_digest(page_bytes) != record.page_sha256:
        return "page not the one the manifest records"
    if hashlib.sha256(data_bytes).hexdigest() != record.data_sha256:
        return "data file not the one the manifest records"
    return None


def one_line(text: str | None, limit: int = 300) -> str | None:
    """``text``'s first non-empty line without terminal colour codes (ANSI escapes,
    removed with Rich), at most ``limit`` characters; ``None`` for no text."""
    if not text:
        return None
    from rich.text import Text

    plain = Text.from_ansi(text).plain
    first = next((line.strip() for line in plain.splitlines() if line.strip()), "")
    first = "".join(c for c in first if c.isprintable())
    return first if len(first) <= limit else first[: limit - 1] + "…"


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
    rows by scope, then the rolling (scheduled) page before ad-hoc ones, then period.
    Each row's link text names the page (:func:`page_name`); a failed row carries its
    reason (:func:`one_line`), when it failed, and ``rendered_at`` (its last good
    render). Links are relative, percent-encoded paths.
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
                "name": page_name(record),
                "rolling": record.rolling,
                "error": one_line(record.error) if record.status == "failed" else None,
                "failed_at": _utc_text(record.failed_at) if record.failed_at else None,
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
            group["rows"].sort(
                key=lambda r: (r["scope"].casefold(), not r["rolling"], r["period"], r["page"])
            )
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
        SiteError: the packaged template is missing, or the index cannot be written
            (one line with the reason; the previous index stays).
    """
    page = render_index(records, generated_at)
    path = Path(publish_dir) / INDEX_NAME
    try:
        return atomic_write_text(path, page)
    except OSError as exc:
        raise SiteError(
            f"cannot write the index {path}: {exc.strerror or exc}; the previous index is "
            "kept — free disk space or fix the folder's permissions and run again"
        ) from None
