"""Flow dashboard metrics (METRICS.md §3): CSAT, step table, anonymous comments.

Metric functions take screened frames (:mod:`rfa.validation`); the exclusions
themselves (ratings outside 1–5, duplicates, unknown nodes) are tested in
``test_validation.py``.
"""

from __future__ import annotations

import json

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from factories import decisions, ratings, thumbs
from rfa.metrics import flow as m

TREE = {
    "id": "r",
    "question": "Is the router powered on?",
    "children": [
        {
            "id": "n1",
            "title": "Restart the router",
            "children": [{"id": "n2", "title": "Call the ISP", "children": []}],
        },
        {"id": "n3", "question": "Check cable?", "children": []},
    ],
}
DECISIONS = decisions(
    [
        ("d1", "2026-11-10 10:30", ["r", "n1", "n2"]),
        ("d2", None, ["r", "n1"]),  # drops off at n1
        ("d3", None, ["r"]),  # drops off at r
        ("d4", "2026-11-10 11:00", ["r", "n3"]),
        ("d5", None, ["r", "ghost"]),  # drops off at a node that is not in the tree
    ]
)
THUMBS = thumbs([("n1", "d2", False), ("n1", "d1", True), ("r", "d1", True)])


def test_node_titles_use_title_or_question():
    assert m.node_titles(TREE) == {
        "r": "Is the router powered on?",
        "n1": "Restart the router",
        "n2": "Call the ISP",
        "n3": "Check cable?",
    }
    assert m.node_titles({}) == {}


def test_step_table_visits_dropoffs_and_helpfulness():
    rows = {r.node_id: r for r in m.step_table(DECISIONS, THUMBS, TREE)}
    assert {k: (r.visit_count, r.dropoff_count) for k, r in rows.items()} == {
        "r": (5, 1),
        "n1": (2, 1),
        "n2": (1, 0),
        "n3": (1, 0),
        "ghost": (1, 1),
    }
    assert rows["n1"].dropoff_rate == 0.5 and rows["r"].dropoff_rate == pytest.approx(0.2)
    assert (rows["n1"].helpful_yes, rows["n1"].helpful_no, rows["n1"].helpful_rate) == (1, 1, 0.5)
    assert (rows["r"].helpful_yes, rows["r"].helpful_no, rows["r"].helpful_rate) == (1, 0, 1.0)
    assert rows["n2"].helpful_rate is None  # no thumbs is not 0% helpful
    assert rows["ghost"].node_title == "Unknown step"


def test_step_table_is_sorted_by_dropoff_rate_then_visits():
    order = [r.node_id for r in m.step_table(DECISIONS, THUMBS, TREE)]
    assert order == ["ghost", "n1", "r", "n2", "n3"]  # n2/n3 tie: by title


def test_revisits_count_as_visits_and_only_the_last_decision_is_a_dropoff():
    rows = {
        r.node_id: r
        for r in m.step_table(decisions([("x", None, ["r", "n1", "r", "n1"])]), thumbs([]), TREE)
    }
    assert (rows["r"].visit_count, rows["r"].dropoff_count) == (2, 0)
    assert (rows["n1"].visit_count, rows["n1"].dropoff_count) == (2, 1)


def test_step_table_empty_window():
    assert m.step_table(decisions([]), thumbs([]), TREE) == []
    assert m.step_table(decisions([("e", None, [])]), thumbs([]), TREE) == []


def test_malformed_or_null_decisions_add_no_visit_and_never_raise():
    bad = ['{"oops":', '{"a": 1}', '["x"]', '[{"choice": "y"}]', '[{"node_id": ""}]', None]
    frame = pl.concat(
        [
            decisions([("ok", None, ["r", "n1"])]),
            decisions([(f"bad{i}", None, []) for i in range(len(bad))]).with_columns(
                pl.Series("decisions", bad, dtype=pl.String)
            ),
        ]
    )
    rows = m.step_table(frame, thumbs([]), TREE)
    assert {r.node_id: (r.visit_count, r.dropoff_count) for r in rows} == {
        "r": (1, 0),
        "n1": (1, 1),
    }


def test_parse_decisions_accepts_lists_of_steps_with_a_node_id_only():
    assert m.parse_decisions('[{"node_id": "a", "choice": "Yes"}, {"node_id": 7}]') == [
        {"node_id": "a", "choice": "Yes"},
        {"node_id": "7", "choice": None},
    ]
    assert m.parse_decisions("null") == [] and m.parse_decisions("[]") == []
    for bad in [
        '{"oops":',
        '{"node_id": "a"}',
        '["a"]',
        '[{"choice": "x"}]',
        '[{"node_id": true}]',
    ]:
        assert m.parse_decisions(bad) is None
    assert m.parse_decisions(None) is None


def test_csat_mean_count_and_distribution():
    r = ratings(
        [
            ("a", "F", 5, None, "2026-11-10 10:00"),
            ("b", "F", 3, None, "2026-11-10 10:00"),
            ("c", "F", 4, None, "2026-11-10 10:00"),
        ]
    )
    c = m.csat(r)
    assert (c.avg_csat, c.total_ratings) == (4.0, 3)
    assert c.distribution == {1: 0, 2: 0, 3: 1, 4: 1, 5: 1}
    empty = m.csat(ratings([]))
    assert (empty.avg_csat, empty.total_ratings) == (None, 0)


def test_recent_comments_newest_ten_non_empty_and_anonymous():
    rows = [(f"s{i:02d}", "F", 4, f"comment {i}", f"2026-11-{i + 1:02d} 10:00") for i in range(12)]
    rows += [
        ("blank", "F", 5, "   ", "2026-11-20 10:00"),
        ("none", "F", 5, None, "2026-11-20 11:00"),
    ]
    comments = m.recent_comments(ratings(rows))
    assert [c.comment for c in comments] == [f"comment {i}" for i in range(11, 1, -1)]
    assert set(comments[0].model_dump()) == {"rating", "comment", "created_at"}


_NODE = st.one_of(
    st.text(max_size=4), st.integers(-5, 5), st.booleans(), st.none(), st.floats(0, 1)
)
_STEP = st.one_of(
    st.fixed_dictionaries(
        {"node_id": _NODE}, optional={"choice": st.one_of(st.none(), st.text(max_size=3))}
    ),
    st.fixed_dictionaries({"choice": st.text(max_size=3)}),
    st.integers(),
)
_DECISIONS = st.one_of(
    st.none(),
    st.just("null"),
    st.just("not json"),
    st.lists(_STEP, max_size=4).map(json.dumps),
    st.lists(st.fixed_dictionaries({"node_id": st.text(min_size=1, max_size=4)}), max_size=4).map(
        json.dumps
    ),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_DECISIONS, max_size=12))
def test_bulk_decoding_equals_the_row_by_row_parser(texts):
    """decode_decisions (polars' JSON reader in chunks) reads every row exactly as
    parse_decisions does, malformed, boolean, empty and null ones included."""
    series = pl.Series("decisions", texts, dtype=pl.String)
    expected = [m.parse_decisions(t) for t in texts]
    assert m.decode_decisions(series).to_list() == expected
