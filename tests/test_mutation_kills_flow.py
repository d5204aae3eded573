"""Flow metrics (:mod:`rfa.metrics.flow`), pinned down where mutation testing
(``make mutation``) found the tests silent. Expected values by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl

from factories import decisions, ratings, thumbs
from rfa.metrics import flow as m

TREE = {
    "id": "r",
    "question": "Is the router powered on?",
    "children": [{"id": "n1", "title": "Restart the router", "children": []}, {"id": "n2"}],
}


def test_a_node_without_title_or_question_is_unnamed_and_no_tree_has_no_titles():
    assert m.node_titles(TREE) == {
        "r": "Is the router powered on?",
        "n1": "Restart the router",
        "n2": "Unnamed step",
    }
    assert m.node_titles(None) == {}
    assert m.node_titles([TREE]) == {}


def test_step_rows_carry_the_trees_titles():
    rows = m.step_table(decisions([("d1", None, ["r", "n1", "n2"])]), thumbs([]), TREE)
    assert {r.node_id: r.node_title for r in rows} == {
        "r": "Is the router powered on?",
        "n1": "Restart the router",
        "n2": "Unnamed step",
    }


def test_an_empty_or_null_node_id_is_no_visit_and_no_drop_off():
    # the JSON decoder already refuses such lists; a decoded column given by the caller
    # (with_decoded's column) is filtered too
    frame = decisions([("d1", None, ["r"]), ("d2", None, ["r"])]).with_columns(
        pl.Series(
            m.DECODED,
            [
                [{"node_id": "r", "choice": None}, {"node_id": "", "choice": None}],
                [{"node_id": "r", "choice": None}, {"node_id": None, "choice": None}],
            ],
            dtype=m.DECISIONS_DTYPE,
        )
    )
    rows = m.step_table(frame, thumbs([]), TREE)
    assert [(r.node_id, r.visit_count, r.dropoff_count) for r in rows] == [("r", 2, 0)]


def test_a_one_character_comment_is_a_comment():
    rows = ratings(
        [
            ("s1", "A", 4, "k", "2026-11-10 10:00"),
            ("s2", "A", 5, "   ", "2026-11-10 11:00"),  # blank: not a comment
        ]
    )
    comments = m.recent_comments(rows)
    assert [(c.rating, c.comment, c.date) for c in comments] == [(4, "k", dt.date(2026, 11, 10))]
