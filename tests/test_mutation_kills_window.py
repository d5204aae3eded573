"""Reporting windows, pinned down where mutation testing (``make mutation``) found the
tests silent: exact error messages, inclusive/exclusive bounds, the wording of a
window, the previous window, and UTC whatever the machine's local timezone.

Every expected value is written out by hand.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest

from rfa.errors import ParameterError
from rfa.window import EARLIEST, Window, make_window, parse_as_of, parse_timezone

AS_OF = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)
PERIODS_TEXT = "7d, 30d, 90d, or an explicit range YYYY-MM-DD..YYYY-MM-DD"
AS_OF_TEXT = "an ISO date or datetime such as 2026-11-01 or 2026-11-01T06:00Z"
DATES_TEXT = "dates from 1900-01-01 to 2199-12-31"


def _error(call, *args, **kwargs) -> ParameterError:
    with pytest.raises(ParameterError) as info:
        call(*args, **kwargs)
    return info.value


# ── error messages: field, value, reason and what is accepted ────────────────


@pytest.mark.parametrize(
    ("period", "message"),
    [
        ("31d", f"invalid period '31d'; accepted: {PERIODS_TEXT}"),
        (
            "2026-02-30..2026-03-01",
            f"invalid period '2026-02-30..2026-03-01' (not a calendar date); "
            f"accepted: {PERIODS_TEXT}",
        ),
        (
            "2026-11-05..2026-11-01",
            f"invalid period '2026-11-05..2026-11-01' (the range ends before it starts); "
            f"accepted: {PERIODS_TEXT}",
        ),
        (
            "1899-12-31..1900-01-01",
            f"invalid period '1899-12-31..1900-01-01' (outside the supported dates); "
            f"accepted: {PERIODS_TEXT}, {DATES_TEXT}",
        ),
        (
            "2199-12-31..2200-01-01",
            f"invalid period '2199-12-31..2200-01-01' (outside the supported dates); "
            f"accepted: {PERIODS_TEXT}, {DATES_TEXT}",
        ),
    ],
)
def test_period_errors_say_what_was_wrong_and_what_is_accepted(period, message):
    error = _error(make_window, period, AS_OF)
    assert str(error) == message
    assert (error.field, error.value) == ("period", period)


@pytest.mark.parametrize(
    ("as_of", "message"),
    [
        ("yesterday", f"invalid as_of 'yesterday'; accepted: {AS_OF_TEXT}"),
        (
            "1899-12-31",
            f"invalid as_of '1899-12-31' (outside the supported dates); "
            f"accepted: {AS_OF_TEXT}, {DATES_TEXT}",
        ),
        (
            # before year 1 once converted to UTC: an error, not an OverflowError
            "0001-01-01T00:00+05:00",
            f"invalid as_of '0001-01-01T00:00+05:00' (outside the supported dates); "
            f"accepted: {AS_OF_TEXT}, {DATES_TEXT}",
        ),
        (
            "2200-01-01T00:00:01",
            f"invalid as_of '2200-01-01T00:00:01' (outside the supported dates); "
            f"accepted: {AS_OF_TEXT}, {DATES_TEXT}",
        ),
    ],
)
def test_as_of_errors_say_what_was_wrong_and_what_is_accepted(as_of, message):
    error = _error(parse_as_of, as_of)
    assert str(error) == message
    assert (error.field, error.value) == ("as_of", as_of)


def test_timezone_error_names_the_value_and_what_is_accepted():
    error = _error(make_window, "7d", AS_OF, "Mars/Olympus")
    assert str(error) == (
        "invalid timezone 'Mars/Olympus'; accepted: an IANA name such as Europe/London"
    )
    assert (error.field, error.value) == ("timezone", "Mars/Olympus")


def test_no_timezone_means_utc():
    assert parse_timezone(None) == parse_timezone("") == "UTC"
    assert make_window("7d", AS_OF, None).timezone == "UTC"


# ── bounds ─────────────────────────────────────────────────────────────────────


def test_a_one_day_range_is_a_range():
    w = make_window("2026-11-05..2026-11-05", None, "UTC")
    assert (w.start, w.end) == (
        dt.datetime(2026, 11, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 6, tzinfo=dt.UTC),
    )


def test_the_first_and_last_supported_days_are_accepted():
    first = make_window("1900-01-01..1900-01-01", None, "UTC")
    assert first.start == dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
    last = make_window("2199-12-31..2199-12-31", None, "UTC")
    assert last.end == dt.datetime(2200, 1, 1, tzinfo=dt.UTC)
    assert parse_as_of("1900-01-01") == dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
    assert parse_as_of("2200-01-01") == dt.datetime(2200, 1, 1, tzinfo=dt.UTC)


def test_as_of_with_z_is_utc():
    assert parse_as_of("2026-11-20T06:00Z") == dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC)


def test_a_named_period_ends_at_now_when_as_of_is_empty():
    now = dt.datetime(2026, 3, 4, 5, 6, tzinfo=dt.UTC)
    w = make_window("7d", None, "UTC", now=now)
    assert (w.start, w.end) == (dt.datetime(2026, 2, 25, 5, 6, tzinfo=dt.UTC), now)


# ── UTC whatever the machine's local timezone ─────────────────────────────────


@pytest.fixture
def kolkata_machine(monkeypatch):
    """The process's local timezone set to UTC+05:30 for the test."""
    monkeypatch.setenv("TZ", "Asia/Kolkata")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _is_utc(value: dt.datetime) -> bool:
    return value.utcoffset() == dt.timedelta(0) and value.isoformat().endswith("+00:00")


def test_windows_are_utc_on_a_machine_in_another_timezone(kolkata_machine):
    naive = parse_as_of("2026-11-20T06:00")
    assert naive == dt.datetime(2026, 11, 20, 6, tzinfo=dt.UTC) and _is_utc(naive)
    shifted = parse_as_of("2026-11-20T07:00+01:00")
    assert shifted.isoformat() == "2026-11-20T06:00:00+00:00"
    assert _is_utc(parse_as_of(dt.date(2026, 11, 20)))
    now = parse_as_of(None)
    assert _is_utc(now)
    assert abs(now - dt.datetime.now(dt.UTC)) < dt.timedelta(minutes=5)
    w = make_window("2026-11-01..2026-11-02", None, "America/New_York")
    assert w.start.isoformat() == "2026-11-01T04:00:00+00:00"
    assert w.end.isoformat() == "2026-11-03T05:00:00+00:00"


# ── local days, wording, the previous window ──────────────────────────────────


def test_local_days_are_the_accounts_not_utcs():
    w = make_window("7d", AS_OF, "America/New_York")  # 2026-11-13 00:00 UTC = 11-12 19:00 EST
    assert w.local_days() == [dt.date(2026, 11, d) for d in range(12, 20)]


def test_an_end_one_microsecond_after_midnight_touches_that_day():
    w = Window(
        start=dt.datetime(2026, 11, 19, tzinfo=dt.UTC),
        end=dt.datetime(2026, 11, 20, 0, 0, 0, 1, tzinfo=dt.UTC),
        timezone="UTC",
        period="custom",
    )
    assert w.local_days() == [dt.date(2026, 11, 19), dt.date(2026, 11, 20)]


def test_an_empty_window_has_no_days_and_says_so():
    w = Window(start=AS_OF, end=AS_OF, timezone="UTC", period="custom")
    assert w.local_days() == []
    assert w.describe() == "custom range (empty, UTC)"


def test_describe_names_the_period_its_first_and_last_local_day_and_the_timezone():
    w = make_window("30d", AS_OF, "Europe/London")
    assert w.describe() == "last 30 days (2026-10-21 – 2026-11-19, Europe/London)"
    r = make_window("2026-11-01..2026-11-10", None, "UTC")
    assert r.describe() == "custom range (2026-11-01 – 2026-11-10, UTC)"


def test_the_previous_window_ends_where_this_one_starts():
    w = make_window("30d", AS_OF, "Europe/London")
    assert w.previous() == Window(
        start=dt.datetime(2026, 9, 21, tzinfo=dt.UTC),
        end=dt.datetime(2026, 10, 21, tzinfo=dt.UTC),
        timezone="Europe/London",
        period="previous",
    )
    assert w.previous_label() == "previous 30 days"
    r = make_window("2026-11-01..2026-11-10", None, "UTC")
    assert r.previous().start == dt.datetime(2026, 10, 22, tzinfo=dt.UTC)
    assert r.previous_label() == "previous 10 days"


def test_the_previous_window_is_clamped_at_the_earliest_date():
    w = make_window("1900-01-05..1900-01-14", None, "UTC")
    assert (w.previous().start, w.previous().end) == (EARLIEST, w.start)
    at_start = make_window("1900-01-01..1900-01-03", None, "UTC").previous()
    assert (at_start.start, at_start.end) == (EARLIEST, EARLIEST)
    # a window built by hand before the earliest date has an empty previous window
    old = Window(
        start=dt.datetime(1899, 6, 1, tzinfo=dt.UTC),
        end=dt.datetime(1899, 7, 1, tzinfo=dt.UTC),
        timezone="UTC",
        period="custom",
    )
    assert (old.previous().start, old.previous().end) == (old.start, old.start)
