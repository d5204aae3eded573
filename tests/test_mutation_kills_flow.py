"""Flow metrics (:mod:`rfa.metrics.flow`), pinned down where mutation testing
(``make mutation``) found the tests silent. Expected values by hand."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from statsmodels.stats.proportion import proportion_confint

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


def _d(*steps: tuple[str, str | None]) -> list[dict]:
    return [{"node_id": n, "choice": c} for n, c in steps]


def test_suspicious_texts_among_plain_ones_decode_like_json_does():
    # duplicate keys (the last wins, as in json.loads) and an escaped key name are read
    # row by row; the plain rows around them keep their own values
    texts = pl.Series(
        [
            '[{"node_id": "a"}]',
            '[{"node_id": "b", "node_id": "c"}]',
            '[{"node\\u005fid": "d"}]',
            '[{"node_id": "e", "choice": "x", "choice": "y"}]',
            '[{"node_id": "f"}, {"node_id": "g"}]',
        ]
    )
    assert m.decode_decisions(texts).to_list() == [
        _d(("a", None)),
        _d(("c", None)),
        _d(("d", None)),
        _d(("e", "y")),
        _d(("f", None), ("g", None)),
    ]


def test_an_empty_node_id_makes_the_decisions_unreadable():
    assert m.parse_decisions('[{"node_id": ""}]') is None
    assert m.parse_decisions('[{"node_id": "a"}]') == _d(("a", None))


def test_step_rows_carry_wilson_intervals_and_few_follows_min_n():
    frame = decisions(
        [("d1", None, ["r", "n1"]), ("d2", None, ["r"]), ("d3", "2026-11-10 10:00", ["r"])]
    )
    votes = thumbs([("r", "d1", True), ("r", "d2", True), ("r", "d3", False)])
    rows = {r.node_id: r for r in m.step_table(frame, votes, TREE, min_n=3)}
    r = rows["r"]  # 3 visits, 1 drop-off; 2 of 3 thumbs up
    assert (r.visit_count, r.dropoff_count, r.helpful_yes, r.helpful_no) == (3, 1, 2, 1)
    assert (r.dropoff_low, r.dropoff_high) == pytest.approx(
        proportion_confint(1, 3, alpha=0.05, method="wilson")
    )
    assert (r.helpful_low, r.helpful_high) == pytest.approx(
        proportion_confint(2, 3, alpha=0.05, method="wilson")
    )
    assert r.helpful_rate == pytest.approx(2 / 3)
    assert (r.few, rows["n1"].few) == (False, True)  # 3 visits are not fewer than 3
    assert rows["n1"].helpful_rate is None and rows["n1"].helpful_low is None
    default = {x.node_id: x.few for x in m.step_table(frame, votes, TREE)}
    assert default == {"r": True, "n1": True}  # fewer than the default 20 visits


def test_step_rows_with_the_same_drop_off_rate_sort_by_visits_then_title_then_id():
    tree = {"id": "p", "title": "Same", "children": [{"id": "q", "title": "Same"}]}
    frame = decisions(
        [
            ("d1", None, ["x"]),  # x: 1 visit, 1 drop-off (rate 1)
            ("d2", None, ["y"]),
            ("d3", None, ["y"]),  # y: 2 visits, 2 drop-offs (rate 1)
            ("d4", None, ["q"]),
            ("d5", None, ["p"]),  # p and q: same rate, visits and title
        ]
    )
    order = [r.node_id for r in m.step_table(frame, thumbs([]), tree)]
    assert order == ["y", "p", "q", "x"]


def test_rows_polars_reads_differently_are_read_again_in_place():
    # polars decodes these texts but may read them differently from the row parser: a
    # boolean node id (refused), a number as choice (its text), JSON null (no steps) and
    # an escaped key; each is read again by the row parser, in its own place
    texts = pl.Series(
        [
            '[{"node_id": "a"}]',
            '[{"node_id": true}]',
            '[{"node_id": "b", "choice": 5}]',
            "null",
            '[{"node_id": "c", "choice": "x"}]',
            '[{"node\\u005fid": "d"}]',
            '[{"node_id": "e"}]',
        ]
    )
    assert m.decode_decisions(texts).to_list() == [
        _d(("a", None)),
        None,
        _d(("b", "5")),
        [],
        _d(("c", "x")),
        _d(("d", None)),
        _d(("e", None)),
    ]


def test_the_bulk_reading_itself_settles_odd_rows_without_falling_back():
    # decode_decisions catches any polars error of the bulk reading and reads the slice
    # row by row instead: right, but slow, so a broken bulk path would go unnoticed. Here
    # the bulk path is called alone: its own result must already be the row parser's, for
    # several re-read rows (each in its own place) between plain ones, and an escaped key.
    texts = [
        '[{"node_id": "a"}]',
        '[{"node_id": "b", "choice": 5}]',
        '[{"node_id": "c", "choice": "x"}]',
        '[{"node_id": "d", "choice": 7.5}]',
        "null",
        '[{"node\\u005fid": "e"}]',
        '[{"node_id": "f", "ch\\u006fice": "y"}]',
        '[{"node_id": "g", "choice": "z"}]',
    ]
    bulk = m._bulk(pl.Series(texts).to_frame("text").lazy()).collect()
    settled = m._settle(bulk)
    assert settled.dtype == m.DECISIONS_DTYPE
    assert (
        settled.to_list()
        == [m.parse_decisions(t) for t in texts]
        == [
            _d(("a", None)),
            _d(("b", "5")),
            _d(("c", "x")),
            _d(("d", "7.5")),
            [],
            _d(("e", None)),
            _d(("f", "y")),
            _d(("g", "z")),
        ]
    )


def test_the_bulk_reading_keeps_plain_rows_when_nothing_is_odd():
    texts = ['[{"node_id": "a", "choice": "x"}]', '[{"node_id": "b"}]', None]
    settled = m._settle(
        m._bulk(pl.Series(texts, dtype=pl.String).to_frame("text").lazy()).collect()
    )
    assert settled.to_list() == [_d(("a", "x")), _d(("b", None)), None]
