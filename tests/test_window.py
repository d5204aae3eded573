"""Windows: periods, as_of, explicit ranges and local days (METRICS.md §2)."""

from __future__ import annotations

import datetime as dt

import pytest

from rfa.errors import ParameterError
from rfa.window import make_window, parse_as_of

AS_OF = dt.datetime(2026, 11, 20, tzinfo=dt.UTC)


@pytest.mark.parametrize("period,days", [("7d", 7), ("30d", 30), ("90d", 90)])
def test_named_periods_end_at_as_of(period, days):
    w = make_window(period, AS_OF, "UTC")
    assert w.end == AS_OF
    assert w.end - w.start == dt.timedelta(days=days)
    assert len(w.local_days()) == days


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "31d",
        "1w",
        "7D ",
        "2026-11-01",
        "2026-11-05..2026-11-01",
        "2026-02-30..2026-03-01",
        "drop table",
        "../../etc",
    ],
)
def test_unknown_period_is_an_error_naming_accepted_values(bad):
    with pytest.raises(ParameterError) as info:
        make_window(bad, AS_OF)
    assert "7d, 30d, 90d" in str(info.value)
    assert "period" in str(info.value)


def test_explicit_range_uses_local_midnights():
    w = make_window("2026-11-01..2026-11-02", None, "America/New_York")
    assert w.start == dt.datetime(2026, 11, 1, 4, tzinfo=dt.UTC)  # EDT, UTC-4
    assert w.end == dt.datetime(2026, 11, 3, 5, tzinfo=dt.UTC)  # EST after DST ends
    assert w.local_days() == [dt.date(2026, 11, 1), dt.date(2026, 11, 2)]


def test_local_days_follow_the_account_timezone():
    w = make_window("7d", AS_OF, "Pacific/Auckland")  # UTC midnight = 13:00 NZDT
    days = w.local_days()
    assert days[0] == dt.date(2026, 11, 13) and days[-1] == dt.date(2026, 11, 20)
    assert len(days) == 8  # a partial first and last local day


def test_as_of_forms():
    assert parse_as_of("2026-11-20") == AS_OF
    assert parse_as_of("2026-11-20T01:00+01:00") == AS_OF
    assert parse_as_of(dt.date(2026, 11, 20)) == AS_OF
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert parse_as_of("", now=now) == now
    with pytest.raises(ParameterError, match="ISO date"):
        parse_as_of("yesterday")


def test_unknown_timezone_is_rejected():
    with pytest.raises(ParameterError, match="IANA"):
        make_window("7d", AS_OF, "Mars/Olympus")
