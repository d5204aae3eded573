"""Session metrics (:mod:`rfa.metrics.sessions`), pinned down where mutation testing
(``make mutation``) found the tests silent. Expected values by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

from factories import ratings, sessions
from rfa.ids import to_compact
from rfa.metrics import sessions as m
from rfa.metrics import uncertainty as u
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


def _flow(tree: str, n: int, completed: int, minutes=lambda i: 10 + i % 40) -> list[tuple]:
    """``n`` sessions of flow ``tree``, the first ``completed`` of them completed."""
    start = dt.datetime(2026, 11, 10, tzinfo=dt.UTC)
    fmt = "%Y-%m-%d %H:%M"
    return [
        (
            f"{tree}-{i}",
            tree,
            "u1",
            start.strftime(fmt),
            (start + dt.timedelta(minutes=minutes(i))).strftime(fmt) if i < completed else None,
            "resolved" if i < completed else None,
        )
        for i in range(n)
    ]


BUSY_LOW = "a0000000-0000-4000-8000-000000000001"  # 30 sessions, 10 completed
FEW_HIGH = "b0000000-0000-4000-8000-000000000002"  # 5 sessions, all completed
FLOWS = sessions(_flow(BUSY_LOW, 30, 10) + _flow(FEW_HIGH, 5, 5))
FLOW_NAMES = pl.DataFrame({"id": [BUSY_LOW, FEW_HIGH], "name": ["Busy", "Few"]})
FEW_RATINGS = ratings(
    [
        (f"{FEW_HIGH}-0", FEW_HIGH, 1, None, "2026-11-10 11:00"),
        (f"{FEW_HIGH}-1", FEW_HIGH, 5, None, "2026-11-10 11:00"),
    ]
)


def test_ranked_rows_carry_their_intervals():
    busy, few = m.ranked(FLOWS, FEW_RATINGS, FLOW_NAMES, "tree_id")
    assert (busy.name, busy.sessions, few.name, few.sessions) == ("Busy", 30, "Few", 5)
    low, high = proportion_confint(10, 30, alpha=0.05, method="wilson")
    assert (busy.completion_low, busy.completion_high) == pytest.approx((low, high))
    # two ratings, 1 and 5: the t interval (3 ± 25.4) is cut to the possible 1–5
    assert (few.avg_csat, few.csat_low, few.csat_high) == (3.0, 1.0, 5.0)
    assert busy.csat_low is None and busy.csat_high is None  # no ratings
    assert busy.median_low <= busy.median_duration_minutes <= busy.median_high
    assert busy.median_low < busy.median_high  # ten different durations


def test_with_min_n_rows_rank_by_the_lower_bound_and_small_rows_are_few():
    plain = m.ranked(FLOWS, _NO_RATINGS, FLOW_NAMES, "tree_id")
    assert [r.name for r in plain] == ["Busy", "Few"]  # by sessions
    assert [r.few for r in plain] == [False, False]
    ranked = m.ranked(FLOWS, _NO_RATINGS, FLOW_NAMES, "tree_id", min_n=5)
    assert [r.name for r in ranked] == ["Few", "Busy"]  # Wilson low 0.57 vs 0.19
    assert [r.few for r in ranked] == [False, False]  # 5 sessions are not fewer than 5
    assert [r.few for r in m.ranked(FLOWS, _NO_RATINGS, FLOW_NAMES, "tree_id", min_n=6)] == [
        True,
        False,
    ]


def test_ties_on_sessions_and_name_are_ordered_by_id():
    twins = sessions(_flow("B", 1, 1) + _flow("A", 1, 1))
    names = pl.DataFrame({"id": ["A", "B"], "name": ["Same", "Same"]})
    assert [r.id for r in m.ranked(twins, _NO_RATINGS, names, "tree_id")] == ["A", "B"]


def test_compact_ids_are_shown_as_text():
    compact = FLOWS.with_columns(to_compact(FLOWS["tree_id"], True))
    names = FLOW_NAMES.with_columns(to_compact(FLOW_NAMES["id"], True))
    no_ratings = _NO_RATINGS.with_columns(pl.col("tree_id").cast(pl.Binary))
    rows = m.ranked(compact, no_ratings, names, "tree_id")
    assert [r.id for r in rows] == [BUSY_LOW, FEW_HIGH]


def test_a_large_table_row_takes_the_order_statistic_interval_of_its_median():
    # 250 completed sessions: above the tables' bootstrap limit (200), so the median's
    # interval is the order-statistic one, as the uncertainty module gives it for n > 200
    skewed = sessions(_flow("A", 250, 250, minutes=lambda i: (i * 37) % 300 + i // 5))
    (row,) = m.ranked(skewed, _NO_RATINGS, pl.DataFrame({"id": ["A"], "name": ["A"]}), "tree_id")
    values = sorted(m.durations(skewed).to_list())
    table = u.quantile(values, 0.5, bootstrap_max_n=u.TABLE_BOOTSTRAP_MAX_N)
    assert table.method == "order-statistic"
    assert (row.median_low, row.median_high) == (table.low, table.high)
    assert (row.median_low, row.median_high) != (
        u.quantile(values, 0.5).low,
        u.quantile(values, 0.5).high,
    )
