"""Session metrics (:mod:`rfa.metrics.sessions`), pinned down where mutation testing
(``make mutation``) found the tests silent. Expected values by hand."""

from __future__ import annotations

import datetime as dt

from factories import sessions
from rfa.metrics import sessions as m
from rfa.window import EARLIEST, Window, make_window

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
