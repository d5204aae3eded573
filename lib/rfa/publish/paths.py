"""Where a page may be written: safe path segments and a final containment check.

A published path is built from values read from the database — the account slug,
a flow's or engineer's name and id — and from the period. None of them is trusted:
an account slug ``../../etc`` or ``other-msp/admin``, or a flow id with ``/`` in
it, must never place a page outside ``published/`` or in another account's or
audience's folder (where a web server would show it to the wrong readers).

* :func:`safe_segment` turns one value into one plain path segment: a value that
  already is one (lower-case letters, digits, ``.``, ``_``, ``-``, starting with a
  letter or digit, at most 64 characters, e.g. ``northwind-it``) is kept as it is,
  so ordinary slugs publish where they always did; any other value is slugified
  and given a short hash of the original (``../../evil`` → ``evil-5d41402abc``),
  so two different values never share a folder. A value without a single letter
  or digit (empty, ``.``, ``..``, ``/``) is refused with :class:`UnsafePathError`.
* :func:`page_relpath` builds a page's path relative to the publish directory
  (the layout of :mod:`rfa.publish.pipeline`) from such segments. A flow's or
  engineer's segment carries the scope's whole id (a UUID as it is), so two scopes
  never share a path even when their names slugify alike and their ids share a
  prefix (time-ordered UUIDs do). A window that is not the rolling one (an explicit
  end) is named in the file name, so an ad-hoc page never replaces a scheduled one.
* Names the site uses itself (:data:`RESERVED_NAMES`: ``index.html``,
  ``manifest.json``, the publish lock) and hidden names (starting with ``.``) are
  never the first segment of a page path: an account slug ``manifest.json`` is
  rewritten like any other non-plain value (``manifest-json-<hash>``).
* :func:`page_path` joins a relative path to its root directory and checks, after
  resolving symbolic links and ``..``, that the result is strictly inside it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from pathlib import Path, PurePosixPath

from slugify import slugify

from rfa.errors import RFAError

__all__ = [
    "RESERVED_NAMES",
    "UnsafePathError",
    "check_relative",
    "page_path",
    "page_relpath",
    "safe_segment",
    "scope_segment",
    "window_end_label",
]

MAX_SEGMENT = 64
"""Longest segment :func:`safe_segment` returns (and keeps unchanged)."""
SCOPE_NAME_LENGTH = 48
"""Longest slug of a flow or engineer name in a page path."""
_PLAIN = re.compile(r"[a-z0-9][a-z0-9._-]*")
_PLAIN_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")
RESERVED_NAMES = frozenset({"index.html", "manifest.json", ".rfa-publish.lock"})
"""File names the site writes at the top of the publish directory (the index, the
manifest, the publish lock): never an account folder."""
_SEGMENT_ACCEPTED = "text with at least one letter or digit"


class UnsafePathError(RFAError):
    """A value cannot name a file or folder inside the publish directory, or a path
    would leave it. The message names the value and what is accepted."""


def _digest(value: str, length: int) -> str:
    data = value.encode("utf-8", "surrogatepass")
    return hashlib.sha256(data).hexdigest()[:length]


def safe_segment(value: str, what: str = "path segment", *, max_length: int = MAX_SEGMENT) -> str:
    """One plain path segment for ``value`` (see the module docstring).

    Inputs: ``value`` (any text, e.g. an account slug from the database), ``what``
    (how messages name it, e.g. ``"account slug"``) and ``max_length`` (≥ 16).
    Output: ``value`` itself when it is already plain, short enough and not one of
    :data:`RESERVED_NAMES`, otherwise ``<slug>-<10 hex digits of its SHA-256>``.
    Raises :class:`UnsafePathError` when ``value`` is not text or has no letter or
    digit to slugify.
    """
    if not isinstance(value, str):
        raise UnsafePathError(f"{what} {value!r} is not text; accepted: {_SEGMENT_ACCEPTED}")
    if len(value) <= max_length and _PLAIN.fullmatch(value) and value not in RESERVED_NAMES:
        return value
    slug = slugify(value, max_length=max(max_length - 11, 1), word_boundary=False)
    slug = slug.strip("-")
    if not slug:
        raise UnsafePathError(
            f"{what} {value[:80]!r} cannot name a file or folder under the publish "
            f"directory; accepted: {_SEGMENT_ACCEPTED}"
        )
    return f"{slug}-{_digest(value, 10)}"


def _id_part(scope_id: str | None) -> str:
    """The whole id when it is plain (a lower-case UUID, at most 40 letters, digits and
    ``-``), otherwise 16 hex digits of the id's hash: never a prefix of the id, which
    time-ordered UUIDs share."""
    if scope_id and _PLAIN_ID.fullmatch(scope_id):
        return scope_id
    return _digest(scope_id or "", 16)


def scope_segment(scope_name: str | None, scope_id: str | None) -> str:
    """``<slug of the name, ≤ 48 characters>-<id part>`` for a flow or engineer page:
    the whole UUID (two scopes never share a segment), never a separator or ``..``
    whatever the database holds."""
    name = slugify(scope_name or "", max_length=SCOPE_NAME_LENGTH)
    return f"{name}-{_id_part(scope_id)}"


def check_relative(relative: str) -> str:
    """Return ``relative`` when it is a relative POSIX path of plain segments (no
    ``..``, ``.``, empty segment, backslash, NUL or leading ``/``); raise
    :class:`UnsafePathError` otherwise. A hidden segment (``.name``) or a first
    segment that is one of :data:`RESERVED_NAMES` is refused too: a page never
    replaces or hides under the site's own files."""
    parts = relative.split("/") if isinstance(relative, str) else []
    bad = (
        not parts
        or any(p in ("", ".", "..") or p.startswith(".") for p in parts)
        or parts[0] in RESERVED_NAMES
        or "\\" in relative
        or "\x00" in relative
        or PurePosixPath(relative).is_absolute()
    )
    if bad:
        raise UnsafePathError(
            f"page path {str(relative)[:200]!r} is not inside the publish directory; "
            "accepted: a relative path of plain segments, not hidden, not starting "
            "with index.html or manifest.json"
        )
    return relative


def window_end_label(end: dt.datetime) -> str:
    """How a page path names an explicit window end: ``2026-11-01`` for 00:00 UTC,
    otherwise ``2026-11-01t0630z`` (UTC, minutes). Input: an aware datetime (naive =
    UTC)."""
    if end.tzinfo is not None:
        end = end.astimezone(dt.UTC)
    if (end.hour, end.minute, end.second) == (0, 0, 0):
        return end.date().isoformat()
    return end.strftime("%Y-%m-%dt%H%Mz")


def page_relpath(
    account_slug: str,
    folder: str,
    dashboard: str,
    period: str,
    *,
    scope: str | None = None,
    scope_name: str | None = None,
    scope_id: str | None = None,
    window_end: dt.datetime | None = None,
) -> str:
    """A page's path relative to the publish directory (POSIX), in its audience folder.

    ``<account>/<folder>/<dashboard>-<when>.html`` for account-wide pages,
    ``<account>/<folder>/flow-<scope>-<when>.html`` (``scope="flow"``) and
    ``<account>/<folder>/<scope>/personal-<when>.html`` (``scope="engineer"``),
    with ``<account>`` = :func:`safe_segment` of the slug, ``<scope>`` =
    :func:`scope_segment` and ``<when>`` the slugified period (``30d``,
    ``2026-10-01-2026-10-31``), followed by ``-to-<end>`` (:func:`window_end_label`)
    when ``window_end`` is given: a window that is not the rolling one (an explicit
    ``as_of``) never shares its path with the scheduled page. Raises
    :class:`UnsafePathError` for an account slug or period that cannot name a folder.
    """
    account = safe_segment(account_slug, "account slug")
    audience = safe_segment(folder, "audience folder")
    when = slugify(period or "")
    if not when:
        raise UnsafePathError(
            f"period {period!r} cannot name a page; "
            "accepted: 7d, 30d, 90d or YYYY-MM-DD..YYYY-MM-DD"
        )
    if window_end is not None:
        when = f"{when}-to-{window_end_label(window_end)}"
    base = f"{account}/{audience}"
    if scope is None:
        name = safe_segment(dashboard.replace("_", "-"), "dashboard")
        return check_relative(f"{base}/{name}-{when}.html")
    part = scope_segment(scope_name, scope_id)
    if scope == "flow":
        return check_relative(f"{base}/flow-{part}-{when}.html")
    return check_relative(f"{base}/{part}/personal-{when}.html")


def page_path(root: str | Path, relative: str) -> Path:
    """``root / relative``, checked to lie strictly inside ``root``.

    The check runs on resolved paths (``..`` and symbolic links followed), so
    neither a crafted segment nor a symlink planted in the tree can send a write
    elsewhere. Raises :class:`UnsafePathError` naming the path otherwise.
    """
    check_relative(relative)
    base = Path(root).resolve()
    target = (base / relative).resolve()
    if target == base or not target.is_relative_to(base):
        raise UnsafePathError(
            f"page path {relative[:200]!r} resolves outside {base}; "
            "accepted: a path inside the publish directory"
        )
    return Path(root) / relative
