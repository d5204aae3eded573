"""Session metrics (:mod:`rfa.metrics.sessions`), pinned down where mutation testing
(``make mutation``) found the tests silent. Expected values by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl

from factories import ratings, sessions
from rfa.metrics import sessions as m
from rfa.window import EARLIEST, Window, make_window

_NO_RATINGS = ratings([])
ONE = sessions([("s1", "A", "u1", "2026-11-10 10:00", "2026-11-10 10:30", "resolved")])


def test_the_busiest_of_a_single_session_is_its_flow_and_engineer():
    assert m.busiest(ONE, "tree_id") == ["A"]
    assert m.busiest(ONE, "user_id") == ["u1"]
    assert m.busiest(sessions([]), "tree_id") == []


def test_an_empty_window_has_an_empty_time_series():
    # the previous window of a range starting on the earliest supported day is empty
    previous = make_window("1900-01-01..1900-01-03", None, "UTC").previous()
    assert (previous.start, previous.end) == (EARLIEST, EARLIEST)
    assert m.time_series(sessions([]), previous) == []
    empty = Window(
        start=dt.datetime(2026, 11, 10, tzinfo=dt.UTC),
        end=dt.datetime(2026, 11, 10, tzinfo=dt.UTC),
        timezone="UTC",
        period="custom",
    )
    assert m.time_series(ONE, empty) == []


THREE = sessions(
    [
        ("s1", "A", "u1", "2026-11-10 10:00", "2026-11-10 10:30", "resolved"),
        ("s2", "B", "u2", "2026-11-10 11:00", "2026-11-10 11:10", "resolved"),
        ("s3", "B", "u3", "2026-11-10 12:00", None, None),
    ]
)


def test_a_personal_summary_has_one_active_engineer_whatever_the_frame_holds():
    assert m.summary(THREE).active_engineers == 3
    assert m.summary(THREE, personal=True).active_engineers == 1


def test_durations_are_named_duration_minutes():
    d = m.durations(THREE)
    assert d.name == "duration_minutes"
    assert d.to_list() == [30.0, 10.0]


def test_a_flow_without_a_name_is_unknown_and_keeps_its_row():
    names = pl.DataFrame({"id": ["A"], "name": ["Alpha"]})  # B has no name
    rows = m.ranked(THREE, _NO_RATINGS, names, "tree_id")
    assert [(r.id, r.name, r.sessions) for r in rows] == [("B", "Unknown", 2), ("A", "Alpha", 1)]
