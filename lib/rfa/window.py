"""Reporting windows: the ``period`` and ``as_of`` parameters (METRICS.md §2).

A window is the half-open interval ``[start, end)`` in UTC, with the account's
IANA timezone for bucketing days. ``period`` is one of ``7d``, ``30d``, ``90d``
(``end = as_of``, ``start = as_of − N days``) or an explicit
``YYYY-MM-DD..YYYY-MM-DD`` (local dates in the account's timezone, both
inclusive; ``as_of`` is then ignored). An unknown period is an error naming the
accepted values; the seed's silent fallback to 30d is gone on purpose.

``as_of`` and the dates of an explicit range lie between :data:`EARLIEST` and
:data:`LATEST` (1900-01-01 and 2200-01-01 UTC): a date outside is a
:class:`~rfa.errors.ParameterError`, never an ``OverflowError`` from date
arithmetic near year 1 or 9999.
"""

from __future__ import annotations

import datetime as dt
import re
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict

from rfa.errors import ParameterError

PERIODS: dict[str, int] = {"7d": 7, "30d": 30, "90d": 90}
"""Named periods and their length in days."""

PERIOD_ACCEPTED = "7d, 30d, 90d, or an explicit range YYYY-MM-DD..YYYY-MM-DD"
AS_OF_ACCEPTED = "an ISO date or datetime such as 2026-11-01 or 2026-11-01T06:00Z"
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
"""Earliest supported ``as_of`` and first day of an explicit range."""
LATEST = dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
"""Latest supported ``as_of``; an explicit range ends on 2199-12-31 at the latest."""
SUPPORTED_DATES = "dates from 1900-01-01 to 2199-12-31"
_RANGE = re.compile(r"([0-9]{4}-[0-9]{2}-[0-9]{2})\.\.([0-9]{4}-[0-9]{2}-[0-9]{2})")


class Window(BaseModel):
    """A reporting window.

    ``start``/``end`` are aware UTC datetimes (end exclusive); ``timezone`` is the
    account's IANA name used to bucket days; ``period`` is the label the user
    asked for (``"30d"`` or ``"2026-10-01..2026-10-31"``).
    """

    model_config = ConfigDict(frozen=True)

    start: dt.datetime
    end: dt.datetime
    timezone: str
    period: str

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def local_days(self) -> list[dt.date]:
        """Every local calendar day the window touches, in order (for zero-filling)."""
        first = self.start.astimezone(self.tz).date()
        last = (self.end - dt.timedelta(microseconds=1)).astimezone(self.tz).date()
        n = (last - first).days + 1
        return [first + dt.timedelta(days=i) for i in range(max(n, 0))]

    def describe(self) -> str:
        """Human wording, e.g. ``"last 30 days (2026-10-22 – 2026-11-20, Europe/London)"``."""
        days = self.local_days()
        span = f"{days[0].isoformat()} – {days[-1].isoformat()}" if days else "empty"
        label = f"last {PERIODS[self.period]} days" if self.period in PERIODS else "custom range"
        return f"{label} ({span}, {self.timezone})"

    def previous(self) -> Window:
        """The window of equal length that ends where this one starts (the comparison
        baseline of every KPI, issue 7). Its ``period`` label is ``"previous"``; a start
        before :data:`EARLIEST` is clamped there (the window is then shorter)."""
        length = self.end - self.start
        start = max(self.start - length, EARLIEST) if self.start > EARLIEST else self.start
        return Window(start=start, end=self.start, timezone=self.timezone, period="previous")

    def previous_label(self) -> str:
        """How pages name the baseline: ``"previous 30 days"`` or ``"previous period"``."""
        if self.period in PERIODS:
            return f"previous {PERIODS[self.period]} days"
        return f"previous {len(self.local_days())} days"


def parse_timezone(name: str | None) -> str:
    """Validate an IANA timezone name; ``None``/empty means ``UTC``."""
    if not name:
        return "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:  # OSError: name too long
        raise ParameterError("timezone", name, "an IANA name such as Europe/London") from exc
    return name


def parse_as_of(
    as_of: str | dt.datetime | dt.date | None, now: dt.datetime | None = None
) -> dt.datetime:
    """Parse ``as_of`` into an aware UTC datetime.

    Accepts ``None``/``""`` (now), an ISO date (midnight UTC), an ISO datetime
    (naive = UTC) or a ``datetime``/``date``. Raises :class:`ParameterError` for
    a malformed value or one outside :data:`EARLIEST` – :data:`LATEST`.
    """
    if as_of is None or (isinstance(as_of, str) and not as_of.strip()):
        value = now or dt.datetime.now(dt.UTC)
    elif isinstance(as_of, dt.datetime):
        value = as_of
    elif isinstance(as_of, dt.date):
        value = dt.datetime.combine(as_of, dt.time(), tzinfo=dt.UTC)
    else:
        try:
            value = dt.datetime.fromisoformat(as_of.strip().replace("Z", "+00:00"))
        except ValueError as exc:
            raise ParameterError("as_of", as_of, AS_OF_ACCEPTED) from exc
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    try:
        value = value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00 is before year 1 in UTC
        value = None
    if value is None or not EARLIEST <= value <= LATEST:
        raise ParameterError(
            "as_of", as_of, f"{AS_OF_ACCEPTED}, {SUPPORTED_DATES}", "outside the supported dates"
        )
    return value


def make_window(
    period: str,
    as_of: str | dt.datetime | dt.date | None = None,
    timezone: str | None = "UTC",
    now: dt.datetime | None = None,
) -> Window:
    """Build the :class:`Window` for ``period`` ending at ``as_of`` (METRICS.md §2).

    Raises :class:`ParameterError` naming the accepted values for an unknown
    period, a malformed ``as_of``, a reversed range, dates outside
    :data:`SUPPORTED_DATES` or an unknown timezone.
    """
    tzname = parse_timezone(timezone)
    label = (period or "").strip()
    if label in PERIODS:
        end = parse_as_of(as_of, now)
        return Window(
            start=end - dt.timedelta(days=PERIODS[label]), end=end, timezone=tzname, period=label
        )
    match = _RANGE.fullmatch(label)
    if not match:
        raise ParameterError("period", period, PERIOD_ACCEPTED)
    try:
        first, last = (dt.date.fromisoformat(g) for g in match.groups())
    except ValueError as exc:
        raise ParameterError("period", period, PERIOD_ACCEPTED, "not a calendar date") from exc
    if last < first:
        raise ParameterError("period", period, PERIOD_ACCEPTED, "the range ends before it starts")
    if first < EARLIEST.date() or last >= LATEST.date():
        raise ParameterError(
            "period", period, f"{PERIOD_ACCEPTED}, {SUPPORTED_DATES}", "outside the supported dates"
        )
    tz = ZoneInfo(tzname)
    start = dt.datetime.combine(first, dt.time(), tzinfo=tz).astimezone(dt.UTC)
    end = dt.datetime.combine(last + dt.timedelta(days=1), dt.time(), tzinfo=tz).astimezone(dt.UTC)
    return Window(start=start, end=end, timezone=tzname, period=label)
