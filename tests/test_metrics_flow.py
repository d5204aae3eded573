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
    assert set(comments[0].model_dump()) == {"rating", "comment", "date"}


_NODE = st.one_of(
    st.text(max_size=4), st.integers(-5, 5), st.booleans(), st.none(), st.floats(0, 1)
)
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-3, 3),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=3),
)
_CHOICE = st.one_of(
    _SCALAR,
    st.lists(_SCALAR, max_size=2),
    st.dictionaries(st.text(max_size=2), _SCALAR, max_size=2),
)
_STEP = st.one_of(
    st.fixed_dictionaries(
        {"node_id": _NODE}, optional={"choice": st.one_of(st.none(), st.text(max_size=3))}
    ),
    st.fixed_dictionaries(
        {"node_id": st.text(min_size=1, max_size=4)}, optional={"choice": _CHOICE}
    ),
    st.fixed_dictionaries({"choice": st.text(max_size=3)}),
    st.integers(),
)
_KEY = st.sampled_from(["node_id", "choice", "other"])
_ESCAPED = {"node_id": "node\\u005fid", "choice": "ch\\u006fice", "other": "\\u00e9"}


@st.composite
def _raw_steps(draw) -> str:
    """Decisions written by hand: repeated, missing or escaped keys, any JSON value."""
    steps = []
    for _ in range(draw(st.integers(0, 3))):
        pairs = []
        for key in draw(st.lists(_KEY, max_size=4)):
            name = _ESCAPED[key] if draw(st.booleans()) else key
            value = draw(st.one_of(_NODE, _CHOICE))
            pairs.append(f'"{name}": {json.dumps(value)}')
        steps.append("{" + ", ".join(pairs) + "}")
    return "[" + ", ".join(steps) + "]"


_DECISIONS = st.one_of(
    st.none(),
    st.just("null"),
    st.just(" null "),
    st.just("not json"),
    st.lists(_STEP, max_size=4).map(json.dumps),
    st.lists(st.fixed_dictionaries({"node_id": st.text(min_size=1, max_size=4)}), max_size=4).map(
        json.dumps
    ),
    _raw_steps(),
)


_TRICKY = [
    '[{"node_id": "a", "choice": true}]',  # polars "true", Python "True"
    '[{"node_id": "a", "choice": -0.0}]',  # polars "-0", Python "-0.0"
    '[{"node_id": "a", "choice": {"x": [1, null]}}]',
    '[{"node_id": "a", "node_id": "b"}]',  # polars keeps the first value, Python the last
    '[{"node_id": "a", "choice": "x", "choice": "y"}]',
    '[{"node_id": "a", "choice": "x"}, {"node\\u005fid": "b", "node_id": "c"}]',
    '[{"node_id": "a", "ch\\u006fice": "y", "choice": "x"}]',
    '[{"node_id": "caf\\u00e9", "choice": "\\u00e9"}]',
    '[{"node_id": true}]',
    '[{"node_id": 0.5}]',
    '[{"node_id": 1E5}]',
    '[{"node_id": 7, "choice": 3}]',
    " null ",
]


@pytest.mark.parametrize("text", _TRICKY)
def test_bulk_decoding_of_values_polars_reads_differently(text):
    """Values polars' reader gives otherwise than json.loads + str (repeated and escaped
    keys, non-string choices, odd node ids) are read as parse_decisions reads them, also
    among many well-formed rows decoded in bulk."""
    good = '[{"node_id": "r", "choice": "Yes"}]'
    series = pl.Series("decisions", [good] * 5 + [text] + [good] * 5, dtype=pl.String)
    decoded = m.decode_decisions(series).to_list()
    assert decoded[5] == m.parse_decisions(text)
    assert decoded[:5] == decoded[6:] == [[{"node_id": "r", "choice": "Yes"}]] * 5


@settings(max_examples=300, deadline=None)
@given(st.lists(_DECISIONS, max_size=12))
def test_bulk_decoding_equals_the_row_by_row_parser(texts):
    """decode_decisions (polars' JSON reader in chunks) reads every row exactly as
    parse_decisions does: malformed, boolean, empty and null ones, non-string choices,
    repeated and escaped keys included."""
    series = pl.Series("decisions", texts, dtype=pl.String)
    expected = [m.parse_decisions(t) for t in texts]
    decoded = m.decode_decisions(series)
    assert decoded.name == "decisions" and decoded.dtype == m.DECISIONS_DTYPE
    assert decoded.to_list() == expected


@settings(max_examples=100, deadline=None)
@given(st.lists(_DECISIONS, max_size=40))
def test_bulk_decoding_in_many_slices_equals_the_row_by_row_parser(texts):
    """Several slices decoded in parallel, slices polars refuses split down to row by
    row: still row for row what parse_decisions reads."""
    series = pl.Series("decisions", texts, dtype=pl.String)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(m, "DECODE_CHUNK", 8)
        patch.setattr(m, "DECODE_SPLIT", 2)
        patch.setattr(m, "DECODE_ROWS", 2)
        decoded = m.decode_decisions(series)
    assert decoded.to_list() == [m.parse_decisions(t) for t in texts]


def test_a_malformed_row_sends_only_a_small_slice_to_the_row_parser(monkeypatch):
    """One row polars refuses among 2,000 good ones: the row parser reads a slice of at
    most DECODE_ROWS rows, not the whole chunk."""
    good = json.dumps([{"node_id": "r", "choice": "Yes"}, {"node_id": "n1"}])
    texts = [good] * 2_000
    texts[1_234] = '{"oops":'
    parsed, parse = [], m.parse_decisions

    def spy(text):
        parsed.append(text)
        return parse(text)

    monkeypatch.setattr(m, "parse_decisions", spy)
    decoded = m.decode_decisions(pl.Series("decisions", texts, dtype=pl.String)).to_list()
    assert decoded[1_234] is None and decoded[0] == decoded[-1] == [
        {"node_id": "r", "choice": "Yes"},
        {"node_id": "n1", "choice": None},
    ]
    assert 1 <= len(parsed) <= m.DECODE_ROWS


def test_step_table_reads_the_decoded_column_when_present():
    """A frame carrying the decoded column (with_decoded) gives the same table, and the
    decoded column is read instead of the JSON text."""
    expected = m.step_table(DECISIONS, THUMBS, TREE)
    decoded = m.with_decoded(DECISIONS)
    assert decoded[m.DECODED].dtype == m.DECISIONS_DTYPE
    assert m.step_table(decoded, THUMBS, TREE) == expected
    assert m.step_table(decoded.drop("decisions"), THUMBS, TREE) == expected


def test_repeated_decisions_are_decoded_once_and_weighted_by_their_sessions(monkeypatch):
    """Texts that repeat (here each 40 times, completed or not) are grouped and decoded
    once per distinct text: same table as decoding every row."""
    many = pl.concat(
        DECISIONS.with_columns(pl.col("session_id") + f"#{i}") for i in range(40)
    ).sample(fraction=1.0, shuffle=True, seed=3)
    decoded = []
    decode = m.decode_decisions

    def spy(texts):
        decoded.append(texts.len())
        return decode(texts)

    monkeypatch.setattr(m, "decode_decisions", spy)
    grouped = m.step_table(many, THUMBS, TREE)
    assert decoded == [DECISIONS.height]
    monkeypatch.setattr(m, "REPEATS_SHARE", 0.0)  # decode every row
    assert m.step_table(many, THUMBS, TREE) == grouped and decoded[-1] == many.height
    rows = {r.node_id: r for r in grouped}
    assert (rows["r"].visit_count, rows["r"].dropoff_count) == (5 * 40, 1 * 40)
    assert (rows["n1"].visit_count, rows["n1"].dropoff_count) == (2 * 40, 1 * 40)
