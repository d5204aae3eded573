"""METRICS.md §3 session metrics against hand-computed fixtures (one test per row at least)."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from factories import ratings, sessions
from rfa.metrics import sessions as m
from rfa.validation import screen
from rfa.window import make_window

S = sessions(
    [
        ("s1", "A", "u1", "2026-11-10 10:00", "2026-11-10 10:30", "resolved"),  # 30 min
        ("s2", "A", "u1", "2026-11-10 11:00", "2026-11-10 12:00", "escalated"),  # 60 min
        ("s3", "B", "u2", "2026-11-11 09:00", None, None),  # open
        ("s4", "B", "u2", "2026-11-12 09:00", "2026-11-12 09:10", "workaround"),  # 10 min
        ("s5", "A", "u3", "2026-11-12 13:00", "2026-11-12 12:00", "resolved"),  # negative
    ]
)
EMPTY = sessions([])
WINDOW = make_window("2026-11-10..2026-11-13", None, "UTC")


def test_total_completed_and_completion_rate():
    s = m.summary(S)
    assert (s.total_sessions, s.completed_sessions) == (5, 4)
    assert s.completion_rate == pytest.approx(0.8)


def test_median_duration_excludes_negative_durations_and_open_sessions():
    assert m.summary(S).median_duration_minutes == pytest.approx(30.0)  # of 10, 30, 60


def test_median_duration_interpolates_linearly_like_percentile_cont():
    even = sessions(
        [
            (
                f"s{i}",
                "A",
                "u1",
                "2026-11-10 10:00",
                f"2026-11-10 {10 + mins // 60}:{mins % 60:02d}",
                "resolved",
            )
            for i, mins in enumerate([10, 30, 60, 90])
        ]
    )
    assert m.summary(even).median_duration_minutes == pytest.approx(45.0)


def test_active_engineers_and_personal_is_one():
    assert m.summary(S).active_engineers == 3
    assert m.summary(S.filter(pl.col("user_id") == "u1"), personal=True).active_engineers == 1


def test_outcome_breakdown_counts_completed_sessions_only():
    # S's only open session has no outcome: add open sessions that carry one (issue 21)
    with_open = pl.concat(
        [
            S,
            sessions(
                [
                    ("s8", "A", "u1", "2026-11-12 10:00", None, "resolved"),
                    ("s9", "B", "u2", "2026-11-12 11:00", None, "unresolved"),
                ]
            ),
        ]
    )
    for frame in (S, with_open):
        b = m.summary(frame).outcome_breakdown
        assert (b.resolved, b.escalated, b.workaround, b.unresolved) == (2, 1, 1, 0)


def test_empty_window_gives_zeros_not_errors():
    s = m.summary(EMPTY)
    assert (s.total_sessions, s.completed_sessions, s.completion_rate) == (0, 0, 0.0)
    assert s.median_duration_minutes is None
    assert s.active_engineers == 0
    assert (
        m.ranked(
            EMPTY,
            ratings([], True),
            pl.DataFrame({"id": [], "name": []}, schema={"id": pl.String, "name": pl.String}),
            "tree_id",
        )
        == []
    )
    series = m.time_series(EMPTY, WINDOW)
    assert [p.sessions for p in series] == [0, 0, 0, 0]


def test_single_session():
    one = S.filter(pl.col("session_id") == "s1")
    s = m.summary(one)
    assert (s.total_sessions, s.completion_rate, s.median_duration_minutes) == (1, 1.0, 30.0)


def test_time_series_is_zero_filled_per_local_day():
    series = m.time_series(S, WINDOW)
    assert [p.date for p in series] == [dt.date(2026, 11, d) for d in (10, 11, 12, 13)]
    assert [p.sessions for p in series] == [2, 1, 2, 0]
    assert [p.resolved for p in series] == [1, 0, 1, 0]
    assert [p.escalated for p in series] == [1, 0, 0, 0]
    assert [p.workaround for p in series] == [0, 0, 1, 0]
    assert [p.unresolved for p in series] == [0, 0, 0, 0]


def test_time_series_buckets_sessions_crossing_midnight_in_the_account_timezone():
    window = make_window("2026-11-10..2026-11-11", None, "America/New_York")
    late = sessions(
        [
            # 22:30 and 23:59 local on Nov 10 (EST = UTC-5), although UTC says Nov 11
            ("a", "A", "u1", "2026-11-11 03:30", "2026-11-11 05:30", "resolved"),
            ("b", "A", "u1", "2026-11-11 04:59", None, None),
            # 00:00 local on Nov 11
            ("c", "A", "u1", "2026-11-11 05:00", "2026-11-11 05:20", "unresolved"),
        ]
    )
    series = m.time_series(late, window)
    assert [(p.date.day, p.sessions, p.resolved, p.unresolved) for p in series] == [
        (10, 2, 1, 0),
        (11, 1, 0, 1),
    ]


NAMES = pl.DataFrame({"id": ["A", "B"], "name": ["Alpha", "Bravo"]})


def test_top_flows_with_avg_csat_of_screened_ratings():
    r, _ = screen(
        ratings(
            [
                ("s1", "A", 5, None, "2026-11-10 11:00"),
                ("s2", "A", 3, "meh", "2026-11-10 13:00"),
                ("s4", "B", 6, None, "2026-11-12 10:00"),  # out of range: screened out
            ]
        ),
        "ratings",
    )
    rows = m.ranked(S, r, NAMES, "tree_id")
    assert [(x.name, x.sessions, x.completed_sessions) for x in rows] == [
        ("Alpha", 3, 3),
        ("Bravo", 2, 1),
    ]
    alpha, bravo = rows
    assert alpha.completion_rate == 1.0 and bravo.completion_rate == 0.5
    assert alpha.median_duration_minutes == 45.0  # 30 and 60; s5 negative excluded
    assert bravo.median_duration_minutes == 10.0
    assert (alpha.avg_csat, alpha.ratings) == (4.0, 2)
    assert (bravo.avg_csat, bravo.ratings) == (None, 0)


def test_top_ten_ties_are_ordered_by_name_then_id():
    many = sessions(
        [(f"s{i}", f"F{i:02d}", "u1", "2026-11-10 10:00", None, None) for i in range(12)]
        + [("extra", "F11", "u1", "2026-11-10 11:00", None, None)]
    )
    names = pl.DataFrame(
        {
            "id": [f"F{i:02d}" for i in range(12)],
            "name": [f"Flow {chr(ord('Z') - i)}" for i in range(12)],
        }
    )
    rows = m.ranked(many, ratings([]), names, "tree_id")
    assert len(rows) == 10
    assert rows[0].id == "F11"  # 2 sessions beats the 11 ties of 1
    tied = [r.name for r in rows[1:]]
    assert tied == sorted(tied)  # ties alphabetical: Flow P, Flow Q, ...
    assert tied[0] == "Flow P"


def test_top_engineers_use_ratings_of_their_sessions():
    people = pl.DataFrame({"id": ["u1", "u2", "u3"], "name": ["Ana", "Ben", "Cy"]})
    r = ratings(
        [
            ("s1", "A", 4, None, "2026-11-10 11:00", "u1"),
            ("s4", "B", 2, None, "2026-11-12 10:00", "u2"),
        ],
        with_engineer=True,
    )
    rows = m.ranked(S, r, people, "user_id")
    assert [(x.name, x.sessions, x.avg_csat) for x in rows] == [
        ("Ana", 2, 4.0),
        ("Ben", 2, 2.0),
        ("Cy", 1, None),
    ]
    assert rows[2].median_duration_minutes is None  # Cy's only session is negative


def test_faulty_outcomes_are_not_in_the_outcome_breakdown():
    # the screening keeps these rows and reports them (test_validation.py)
    odd = pl.concat(
        [
            S,
            sessions(
                [
                    ("s6", "A", "u1", "2026-11-12 10:00", "2026-11-12 10:05", None),
                    ("s7", "A", "u1", "2026-11-12 10:00", "2026-11-12 10:05", "exploded"),
                ]
            ),
        ]
    )
    s = m.summary(odd)
    assert (s.total_sessions, s.completed_sessions) == (7, 6)
    assert s.outcome_breakdown.resolved == 2  # faulty outcomes not counted
    assert sum(s.outcome_breakdown.model_dump().values()) == 4


def test_busiest_ranks_by_sessions_with_stable_ties():
    assert m.busiest(S, "tree_id") == ["A"]  # A: 3 sessions, B: 2
    assert m.busiest(S, "user_id", 3) == ["u1", "u2", "u3"]  # u1 and u2 tie on 2: by id
    assert m.busiest(EMPTY, "tree_id", 5) == []
