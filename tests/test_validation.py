"""Bad-data screening (rfa.validation): every fault kind on small frames, then on a copy
of the demo database with one row of every fault injected for kiwi-tech.

Unit tests check that :func:`screen` (a) removes exactly the faulty rows it should and
counts them, (b) leaves the metrics as they would be without the faulty rows, and
(c) never lets malformed ``decisions`` JSON crash the step table or the flow options.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import shutil
import sqlite3
import uuid

import pandera.polars as pa
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rfa.dashboards as d
from demo_db import ANCHOR
from factories import decisions, ratings, sessions, thumbs
from factories_ai import ai, ai_sessions, flows, posts, proposals
from factories_escalations import flows as flow_trees
from factories_escalations import handoffs, option_sessions
from rfa import layout, present
from rfa.metrics import escalations as esc
from rfa.metrics import flow as flow_metrics
from rfa.metrics import flowpilot as fp
from rfa.metrics import knowledge_gaps as kg
from rfa.metrics import sessions as session_metrics
from rfa.queries.gaps import OPTION_SESSION_SCHEMA
from rfa.validation import KINDS, FrameSchemaError, Screening, flow_nodes, schema, screen
from rfa.window import make_window

WINDOW = make_window("2026-11-10..2026-11-13", None, "UTC")


def found(findings) -> dict[str, int]:
    return {f.check: f.count for f in findings}


def ids(frame: pl.DataFrame, column: str) -> list:
    return frame[column].to_list()


# ------------------------------------------------------------- the contract


def test_every_kind_is_a_pandera_polars_schema_of_its_query_columns():
    for kind, spec in KINDS.items():
        pandera_schema, _ = schema(kind)
        assert isinstance(pandera_schema, pa.DataFrameSchema)
        assert set(spec.columns) <= set(pandera_schema.columns)


def test_a_timestamp_without_timezone_is_a_programming_error_not_a_fault():
    naive = sessions([("s1", "A", "u1", "2026-11-10 10:00", None, None)]).with_columns(
        pl.col("started_at").dt.replace_time_zone(None)
    )
    with pytest.raises(FrameSchemaError, match=r"started_at.*Datetime\('us', 'UTC'\)"):
        screen(naive, "sessions")


def test_a_missing_column_or_unknown_kind_raises():
    with pytest.raises(FrameSchemaError, match="outcome"):
        screen(sessions([]).drop("outcome"), "sessions")
    with pytest.raises(KeyError, match="accepted: sessions"):
        screen(sessions([]), "tickets")


def test_clean_frames_pass_unchanged_without_findings():
    s = sessions([("s1", "A", "u1", "2026-11-10 10:00", "2026-11-10 10:30", "resolved")])
    r = ratings([("s1", "A", 5, "fine", "2026-11-10 11:00")])
    for frame, kind, context in [
        (s, "sessions", {"users": ["u1"]}),
        (r, "ratings", {"sessions": ["s1"]}),
        (decisions([("s1", None, ["n1"])]), "decisions", {"nodes": {"n1"}}),
        (sessions([]), "sessions", {}),
    ]:
        out, findings = screen(frame, kind, **context)
        assert out.equals(frame) and findings == []


# ------------------------------------------------------------------ ratings


def test_ratings_outside_1_to_5_are_dropped_and_csat_is_unaffected():
    r = ratings(
        [
            ("a", "F", 5, None, "2026-11-10 10:00"),
            ("b", "F", 4, None, "2026-11-10 10:00"),
            ("c", "F", 0, "zero", "2026-11-10 10:00"),
            ("d", "F", 6, "six", "2026-11-10 10:00"),
        ]
    )
    out, findings = screen(r, "ratings")
    assert ids(out, "session_id") == ["a", "b"]
    assert found(findings) == {"rating_out_of_range": 2}
    c = flow_metrics.csat(out)
    assert (c.avg_csat, c.total_ratings) == (4.5, 2)
    assert c.distribution == {1: 0, 2: 0, 3: 0, 4: 1, 5: 1}
    assert flow_metrics.recent_comments(out) == []  # the faulty rows' comments are gone


def test_duplicate_ratings_of_a_session_keep_the_newest_valid_one():
    r = ratings(
        [
            ("a", "F", 2, "first", "2026-11-10 10:00"),
            ("a", "F", 5, "second", "2026-11-10 11:00"),
            ("a", "F", 3, "same time, later row", "2026-11-10 11:00"),
            ("b", "F", 4, None, "2026-11-10 10:00"),
            ("b", "F", 9, None, "2026-11-10 12:00"),  # newer but out of range
        ]
    )
    out, findings = screen(r, "ratings")
    assert out.select("session_id", "rating").rows() == [("a", 3), ("b", 4)]
    assert found(findings) == {"rating_out_of_range": 1, "rating_duplicate": 2}
    assert flow_metrics.csat(out).avg_csat == 3.5


def test_orphan_ratings_are_dropped_only_when_the_parents_are_known():
    r = ratings(
        [
            ("s1", "F", 4, None, "2026-11-10 10:00"),
            ("gone", "F", 1, "who?", "2026-11-10 10:00"),
            ("gone2", "F", 0, None, "2026-11-10 10:00"),  # orphan and out of range: once
        ]
    )
    out, findings = screen(r, "ratings", sessions=pl.Series(["s1", "s2"]))
    assert ids(out, "session_id") == ["s1"]
    assert found(findings) == {"rating_orphan": 2}
    _, without_parents = screen(r, "ratings")
    assert found(without_parents) == {"rating_out_of_range": 1}


def test_team_leaderboard_csat_ignores_screened_ratings():
    s = sessions([("s1", "A", "u1", "2026-11-10 10:00", "2026-11-10 10:30", "resolved")])
    names = pl.DataFrame({"id": ["A"], "name": ["Alpha"]})
    dirty = ratings(
        [
            ("s1", "A", 4, None, "2026-11-10 11:00"),
            ("s1", "A", 5, None, "2026-11-10 10:59"),  # older duplicate
            ("x", "A", 1, None, "2026-11-10 11:00"),  # orphan
            ("s1", "A", 7, None, "2026-11-10 12:00"),  # out of range
        ]
    )
    clean = dirty.head(1)
    out, findings = screen(dirty, "ratings", sessions=s["session_id"])
    assert out.equals(clean)
    assert found(findings) == {"rating_orphan": 1, "rating_out_of_range": 1, "rating_duplicate": 1}
    assert session_metrics.ranked(s, out, names, "tree_id") == session_metrics.ranked(
        s, clean, names, "tree_id"
    )


def test_step_thumbs_of_a_session_that_is_not_the_flows_are_dropped():
    t = thumbs([("n1", "s1", True), ("n1", "ghost", False)])
    out, findings = screen(t, "step_ratings", sessions=["s1"])
    assert out.rows() == [("n1", "s1", True)]
    assert found(findings) == {"step_rating_orphan": 1}


# ----------------------------------------------------------------- sessions

CLEAN_SESSIONS = [
    ("s1", "A", "u1", "2026-11-10 10:00", "2026-11-10 10:30", "resolved"),
    ("s2", "A", "u2", "2026-11-10 11:00", "2026-11-10 12:00", "escalated"),
    ("s3", "B", "u2", "2026-11-11 09:00", None, None),
]
FAULTY_SESSIONS = [
    ("b1", "A", "u1", "2026-11-12 13:00", "2026-11-12 12:00", "resolved"),  # before start
    ("b2", "A", "u1", "2026-11-12 10:00", "2026-11-12 10:05", None),  # no outcome
    ("b3", "B", "u2", "2026-11-12 10:00", "2026-11-12 10:05", "exploded"),  # unknown
    ("b4", "B", "stranger", "2026-11-12 10:00", "2026-11-12 10:05", "resolved"),  # orphan
]


def test_session_faults_are_counted_and_only_orphans_dropped():
    out, findings = screen(
        sessions(CLEAN_SESSIONS + FAULTY_SESSIONS), "sessions", users=["u1", "u2"]
    )
    assert ids(out, "session_id") == ["s1", "s2", "s3", "b1", "b2", "b3"]
    assert found(findings) == {
        "session_unknown_user": 1,
        "completed_before_started": 1,
        "completed_without_outcome": 1,
        "unknown_outcome": 1,
    }


def test_session_metrics_are_unaffected_by_the_faulty_sessions():
    out, _ = screen(sessions(CLEAN_SESSIONS + FAULTY_SESSIONS), "sessions", users=["u1", "u2"])
    clean = sessions(CLEAN_SESSIONS)
    dirty, plain = session_metrics.summary(out), session_metrics.summary(clean)
    assert dirty.total_sessions == 6 and dirty.completed_sessions == 5  # kept rows still count
    assert dirty.median_duration_minutes == 17.5  # of 5, 5, 30, 60: b1's −60 left out
    assert dirty.outcome_breakdown.resolved == plain.outcome_breakdown.resolved + 1  # b1
    assert dirty.outcome_breakdown.escalated == plain.outcome_breakdown.escalated
    assert dirty.active_engineers == 2  # the stranger is not an engineer of the account


# ---------------------------------------------------------------- decisions

TREE = {
    "id": "r",
    "question": "Powered on?",
    "children": [{"id": "n1", "title": "Restart", "children": []}],
}


def test_malformed_decisions_are_nulled_and_the_step_table_does_not_crash():
    frame = pl.concat(
        [
            decisions([("ok", None, ["r", "n1"]), ("ghost", None, ["r", "zz"])]),
            decisions([("bad", None, []), ("list", None, []), ("empty", None, [])]).with_columns(
                pl.Series("decisions", ['{"oops":', '[{"choice": "x"}]', None], dtype=pl.String)
            ),
        ]
    )
    with pytest.raises(pl.exceptions.ComputeError):  # what the old decoding did
        frame["decisions"].str.json_decode(pl.List(pl.Struct({"node_id": pl.String})))
    out, findings = screen(frame, "decisions", nodes=set(flow_metrics.node_titles(TREE)))
    assert ids(out, "session_id") == ["ok", "ghost", "bad", "list", "empty"]  # still sessions
    assert out["decisions"].to_list()[2:] == [None, None, None]
    assert found(findings) == {"decisions_malformed": 2, "decision_unknown_node": 1}
    rows = {
        r.node_id: (r.visit_count, r.node_title)
        for r in flow_metrics.step_table(out, thumbs([]), TREE)
    }
    assert rows == {"r": (2, "Powered on?"), "n1": (1, "Restart"), "zz": (1, "Unknown step")}
    assert flow_metrics.step_table(frame, thumbs([]), TREE) == flow_metrics.step_table(
        out, thumbs([]), TREE
    )  # unscreened malformed JSON does not crash the metric either


def test_decisions_are_decoded_once_per_screening_or_not_at_all_when_decoded(monkeypatch):
    """The screening decodes the JSON once for both decisions rules, and not at all when
    the frame carries the decoded column (with_decoded, as the flow page does): same
    findings, same exclusions; the decoded column is kept only when it came in."""
    frame = pl.concat(
        [
            decisions([("ok", None, ["r", "n1"]), ("ghost", None, ["r", "zz"])]),
            decisions([("bad", None, []), ("null", None, [])]).with_columns(
                pl.Series("decisions", ['[{"node_id": true}]', None], dtype=pl.String)
            ),
        ]
    )
    carried = flow_metrics.with_decoded(frame)
    calls = []
    decode = flow_metrics.decode_decisions
    monkeypatch.setattr(
        "rfa.validation.decode_decisions", lambda s: calls.append(s.len()) or decode(s)
    )
    nodes = set(flow_metrics.node_titles(TREE))
    out, findings = screen(frame, "decisions", nodes=nodes)
    assert calls == [4] and out.columns == frame.columns
    assert found(findings) == {"decisions_malformed": 1, "decision_unknown_node": 1}
    again, same = screen(carried, "decisions", nodes=nodes)
    assert calls == [4] and same == findings
    assert again.drop(flow_metrics.DECODED).equals(out)
    assert again[flow_metrics.DECODED].to_list()[2:] == [None, None]
    assert flow_metrics.step_table(again, thumbs([]), TREE) == flow_metrics.step_table(
        out, thumbs([]), TREE
    )
    with pytest.raises(FrameSchemaError, match=flow_metrics.DECODED):
        screen(frame.with_columns(pl.lit("x").alias(flow_metrics.DECODED)), "decisions")


_OPTION_ROW = st.tuples(
    st.sampled_from(["t1", "t2", "t3", None]),
    st.one_of(
        st.lists(st.sampled_from(["a", "b", "q", "zz", 3]), max_size=3).map(
            lambda ns: json.dumps([{"node_id": n, "choice": "x"} for n in ns])
        ),
        st.sampled_from([None, "null", '{"oops":', '[{"choice": "x"}]']),
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_OPTION_ROW, max_size=10))
def test_option_unknown_nodes_are_the_rows_visiting_a_node_outside_their_flow(rows):
    """decision_unknown_node on option sessions (vectorised on the decoded column) counts
    exactly the rows whose well-formed decisions visit a node their flow does not have;
    flows without a readable structure (t3) are not checked."""
    structures = {"t1": {"a", "q"}, "t2": {"b", "3"}}
    frame = pl.DataFrame(
        [(f"s{i}", tree, None, None, text) for i, (tree, text) in enumerate(rows)],
        schema=OPTION_SESSION_SCHEMA,
        orient="row",
    )
    expected = 0
    for tree, text in rows:
        steps = flow_metrics.parse_decisions(text)
        nodes = structures.get(tree)
        expected += bool(
            steps and nodes is not None and any(d["node_id"] not in nodes for d in steps)
        )
    _, findings = screen(frame, "option_sessions", structures=structures)
    assert found(findings).get("decision_unknown_node", 0) == expected


def test_option_sessions_with_malformed_decisions_take_no_option():
    trees = flow_trees(
        [("t1", "Mail", {"id": "q1", "children": [{"id": "a1"}]}), ("t2", "Bad", None)]
    )
    trees = trees.with_columns(
        pl.when(pl.col("tree_id") == "t2")
        .then(pl.lit('{"broken":'))
        .otherwise("tree_structure")
        .alias("tree_structure")
    )
    opts = option_sessions(
        [
            ("o1", "t1", "2026-11-10 10:00", "escalated", [("q1", "No")]),
            ("o2", "t1", "2026-11-10 10:00", "exploded", [("q1", "No"), ("q9", "Yes")]),
            ("o3", "t1", "2026-11-10 10:00", "resolved", []),
            ("o4", "t2", None, None, [("x", "y")]),
        ]
    ).with_columns(
        pl.when(pl.col("session_id") == "o3")
        .then(pl.lit('{"oops":'))
        .otherwise("decisions")
        .alias("decisions")
    )
    out_trees, tree_findings = screen(trees, "flow_trees")
    assert found(tree_findings) == {"flow_structure_malformed": 1}
    out, findings = screen(opts, "option_sessions", structures=flow_nodes(out_trees))
    assert found(findings) == {
        "decisions_malformed": 1,  # o3
        "decision_unknown_node": 1,  # o2's q9 (t2 has no readable structure: not checked)
        "unknown_outcome": 1,  # o2
    }
    stats = {(o.tree_id, o.node_id, o.option): o for o in kg.option_stats(out, out_trees)}
    assert stats[("t1", "q1", "No")].sessions == 2 and stats[("t1", "q1", "No")].ended == 1
    assert stats[("t1", "q9", "Yes")].step_title == "Unknown step"
    kg.option_stats(opts, trees)  # unscreened: no ComputeError either


# -------------------------------------------------------------- FlowPilot

AI_CLEAN = [
    ai("a1", "resolved", tier="guided", tree="F1", rating=5, conf=0.9,
       created="2026-11-10 10:00", resolved="2026-11-10 10:30"),
    ai("a2", "escalated", tier="exploring", tree="F1", rating=3, conf=0.5,
       created="2026-11-10 11:00"),
]  # fmt: skip
AI_FAULTY = [
    ai("x1", "exploded", tier="guided", created="2026-11-11 10:00"),
    ai("x2", "resolved", tier="guided", tree="F1", rating=9, conf=1.5,
       created="2026-11-11 10:00", resolved="2026-11-11 09:00"),
    ai("x3", "escalated", tier="expert", created="2026-11-11 10:00"),
    ai("x4", "resolved", tier="guided", tree="GONE", created="2026-11-11 10:00"),
]  # fmt: skip
FLOWS = flows([("F1", "VPN", "troubleshooting", "manual"), ("F2", "Odd", "procedural", "imported")])


def test_ai_session_faults_are_counted_bad_values_nulled_and_rows_kept():
    out, findings = screen(ai_sessions(AI_CLEAN + AI_FAULTY), "ai_sessions", flows=FLOWS["tree_id"])
    assert out.height == 6
    x2 = out.filter(pl.col("ai_session_id") == "x2").row(0, named=True)
    assert (x2["session_rating"], x2["match_confidence"]) == (None, None)
    assert found(findings) == {
        "ai_unknown_status": 1,
        "ai_resolved_without_resolved_at": 1,  # x4
        "ai_resolved_before_created": 1,
        "ai_rating_out_of_range": 1,
        "ai_confidence_out_of_range": 1,
        "ai_unknown_confidence_tier": 1,
        "ai_unknown_flow": 1,
    }
    s = fp.summary(out)
    assert s.total_sessions == 6  # unknown status counted in the total only
    assert (s.avg_rating, s.rated_sessions) == (4.0, 2)  # 5 and 3; the 9 is unrated
    assert (s.mttr_minutes, s.mttr_sessions) == (30.0, 1)  # x2 and x4 left out
    quality = {r.flow_id: r for r in fp.flow_quality(out, FLOWS).flows}
    assert quality["F1"].avg_confidence == pytest.approx(0.7)  # 0.9, 0.5; 1.5 nulled
    assert [r.sessions for r in fp.confidence_breakdown(out)] == [3, 1, 0]  # x3's tier out


def test_proposal_psa_flow_and_handoff_faults_are_counted_and_kept():
    props = proposals(
        [
            ("p1", "pending", "new_flow", "voip", "2026-11-10 09:00", None),
            ("p2", "archived", "new_flow", "voip", "2026-11-10 09:00", "2026-11-11 09:00"),
        ]
    )
    out, findings = screen(props, "proposals")
    assert out.equals(props) and found(findings) == {"proposal_unknown_status": 1}
    assert fp.knowledge_coverage(FLOWS, out, WINDOW).proposals_pending == 1

    p = posts(
        [
            ("ok", "a1", "time_entry", "success", 0, 1.5, "2026-11-10 12:00"),
            ("t", "a1", "fax", "success", 0, None, "2026-11-10 12:00"),
            ("s", "a1", "doc", "queued", 0, None, "2026-11-10 12:00"),
            ("r", "a1", "ticket_note", "success", None, None, "2026-11-10 12:00"),
            ("h", "a1", "time_entry", "success", 1, -2.0, "2026-11-10 12:00"),
        ]
    )
    out, findings = screen(p, "psa_posts")
    assert out.equals(p)
    assert found(findings) == {
        "psa_unknown_post_type": 1,
        "psa_unknown_status": 1,
        "psa_retry_count_missing": 1,
        "psa_time_entry_invalid_hours": 1,
    }
    _, none = screen(p, "psa_funnel_posts")
    assert none == []

    _, findings = screen(FLOWS, "flows")
    assert found(findings) == {"flow_unknown_origin": 1}
    assert fp.knowledge_coverage(FLOWS, props, WINDOW).ai_generated_flows == 0

    h = handoffs(
        [
            ("h1", "2026-11-10 09:00:00", "2026-11-10 09:00:10"),
            ("h2", "2026-11-10 09:00:00", "2026-11-10 08:59:55"),
        ]
    )
    out, findings = screen(h, "handoffs")
    assert out.equals(h) and found(findings) == {"handoff_action_before_claim": 1}
    assert esc.escalation_metrics(out).n_negative_floored == 1


# ---------------------------------------------------------------- Screening


def test_screening_adds_up_frames_and_counts_a_shared_row_once():
    window_posts = posts([("p1", "a1", "fax", "success", 0, None, "2026-11-10 12:00")])
    other = posts(
        [
            ("p1", "a1", "fax", "success", 0, None, "2026-11-10 12:00"),
            ("p2", "a1", "fax", "success", 0, None, "2026-11-09 12:00"),
        ]
    )
    check = Screening()
    check(window_posts, "psa_posts")
    check(other, "psa_posts")
    check(ratings([("s", "F", 0, None, "2026-11-10 10:00")]), "ratings")
    check(ratings([("s", "F", 0, None, "2026-11-10 10:00")]), "ratings")  # keyless: rows
    assert found(check.findings) == {"psa_unknown_post_type": 2, "rating_out_of_range": 2}


def test_data_quality_text_lists_counts_checks_and_what_was_done():
    _, findings = screen(ratings([("c", "F", 0, None, "2026-11-10 10:00")]), "ratings")
    text = present.data_quality_text(findings)
    assert "<strong>1</strong> CSAT ratings missing or outside 1–5" in text
    assert "(rating_out_of_range)" in text
    assert "No faulty rows" in present.data_quality_text([])


# --------------------------------------------- integration: the demo database

FAULT_TIME = ANCHOR - dt.timedelta(days=3, hours=-10)


def _hex() -> str:
    return uuid.uuid4().hex


def _at(minutes: float = 0) -> str:
    when = (FAULT_TIME + dt.timedelta(minutes=minutes)).replace(tzinfo=None)
    return when.strftime("%Y-%m-%d %H:%M:%S.%f")


def _pages(url: str, flow_id: str, engineer_id: str) -> dict:
    as_of = ANCHOR.isoformat()
    return {
        "team": d.team_page("kiwi-tech", "30d", as_of, url=url),
        "personal": d.personal_page("kiwi-tech", engineer_id, "30d", as_of, url=url),
        "flow": d.flow_page("kiwi-tech", flow_id, "30d", as_of, url=url),
        "flowpilot": d.flowpilot_page("kiwi-tech", "30d", as_of, url=url),
        "coverage": d.coverage_page("kiwi-tech", "30d", as_of, url=url),
        "knowledge_gaps": d.knowledge_gaps_page("kiwi-tech", "30d", as_of, url=url),
        "escalations": d.escalations_page("kiwi-tech", "30d", as_of, url=url),
    }


def _inject(path, flow_hex: str, user_hex: str) -> None:
    """One row (or pair) of every fault kind for kiwi-tech, three days before ANCHOR."""
    db = sqlite3.connect(path)
    (account,) = db.execute("SELECT id FROM accounts WHERE slug = 'kiwi-tech'").fetchone()
    nodes = json.loads(
        db.execute("SELECT tree_structure FROM trees WHERE id = ?", (flow_hex,)).fetchone()[0]
    )
    root = nodes["id"]
    good = json.dumps([{"node_id": root, "choice": "x"}])

    def session(user=user_hex, start=0, end=10, outcome="resolved", decisions=good):
        sid = _hex()
        completed, outcome = (None, None) if end is None else (_at(end), outcome)
        db.execute(
            "INSERT INTO sessions VALUES (?, ?, ?, ?, ?, ?, ?)",
            (sid, flow_hex, user, _at(start), completed, outcome, decisions),
        )
        return sid

    def rating(session_id, value, minutes):
        db.execute(
            "INSERT INTO session_ratings VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (_hex(), session_id, user_hex, flow_hex, account, value, "injected", _at(minutes)),
        )

    twice = session()
    rating(twice, 4, 20)
    rating(twice, 5, 30)  # duplicate: the newest (5) is kept
    rating(_hex(), 3, 20)  # orphan: no such session
    rating(session(), 0, 20)
    rating(session(), 6, 20)
    session(start=30, end=5)  # completed before started
    session(outcome="exploded")
    session(decisions='{"oops":', end=None)
    session(decisions=json.dumps([{"node_id": root}, {"node_id": "deleted-node"}]))
    session(user=_hex(), end=None)  # a user that is not the account's

    def ai_session(status, *, tier="guided", tree=None, rating=None, conf=None, resolved=None):
        aid = _hex()
        db.execute(
            "INSERT INTO ai_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (aid, account, user_hex, tree, status, "injected", tier, 3, rating, "T-1", conf,
             _at(0), resolved),
        )  # fmt: skip
        return aid

    ai_session("exploded")
    bad = ai_session("resolved", tree=flow_hex, rating=9, conf=1.5, resolved=_at(-60))
    ai_session("escalated", tier="expert")
    ai_session("active", tree=_hex())
    for post_type, status, retry, hours in [
        ("fax", "success", 0, None),
        ("doc", "queued", 0, None),
        ("ticket_note", "success", None, None),
        ("time_entry", "success", 0, -1.0),
    ]:
        db.execute(
            "INSERT INTO psa_post_logs VALUES (?, ?, ?, ?, ?, ?, ?)",
            (_hex(), bad, post_type, status, retry, hours, _at(5)),
        )
    db.execute(
        "INSERT INTO flow_proposals VALUES (?, ?, ?, ?, ?, ?, ?)",
        (_hex(), account, "archived", "new_flow", "injected", _at(-600), _at(0)),
    )
    db.execute(
        "INSERT INTO trees VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (_hex(), account, "Injected broken flow", "troubleshooting", "imported", '{"broken":', 0,
         _at(-6000)),
    )  # fmt: skip
    db.commit()
    db.close()


INJECTED = {
    "team": {
        "session_unknown_user": 1,
        "completed_before_started": 1,
        "unknown_outcome": 1,
        "rating_orphan": 1,
        "rating_out_of_range": 2,
        "rating_duplicate": 1,
    },
    "personal": {
        "completed_before_started": 1,
        "unknown_outcome": 1,
        "rating_out_of_range": 2,
        "rating_duplicate": 1,
    },
    "flow": {
        "session_unknown_user": 1,
        "completed_before_started": 1,
        "unknown_outcome": 1,
        "rating_orphan": 1,
        "rating_out_of_range": 2,
        "rating_duplicate": 1,
        "decisions_malformed": 1,
        "decision_unknown_node": 1,
    },
    "flowpilot": {
        "ai_unknown_status": 1,
        "ai_rating_out_of_range": 1,
        "ai_confidence_out_of_range": 1,
        "ai_resolved_before_created": 1,
        "ai_unknown_confidence_tier": 1,
        "ai_unknown_flow": 1,
        "psa_unknown_post_type": 1,
        "psa_unknown_status": 1,
        "psa_retry_count_missing": 1,
        "psa_time_entry_invalid_hours": 1,
        "proposal_unknown_status": 1,
        "flow_unknown_origin": 1,
    },
    "knowledge_gaps": {
        "ai_unknown_status": 1,
        "ai_rating_out_of_range": 1,
        "ai_confidence_out_of_range": 1,
        "ai_resolved_before_created": 1,
        "ai_unknown_confidence_tier": 1,
        "ai_unknown_flow": 1,
        "flow_structure_malformed": 1,
        "decisions_malformed": 1,
        "decision_unknown_node": 1,
        "unknown_outcome": 1,
    },
    "escalations": {},
}
INJECTED["coverage"] = INJECTED["flowpilot"]


@pytest.fixture
def faulty_demo(demo_sqlite_url, tmp_path):
    """A private copy of the demo database, its kiwi-tech pages before any injection,
    and the flow and engineer the faults are injected for."""
    path = tmp_path / "faulty.sqlite"
    shutil.copyfile(demo_sqlite_url.removeprefix("sqlite:///"), path)
    url = f"sqlite:///{path}"
    as_of = ANCHOR.isoformat()
    flow_id = d.flow_page("kiwi-tech", "", "30d", as_of, url=url).meta.scope.id
    engineer_id = d.personal_page("kiwi-tech", "", "30d", as_of, url=url).meta.scope.id
    before = _pages(url, flow_id, engineer_id)
    _inject(path, uuid.UUID(flow_id).hex, uuid.UUID(engineer_id).hex)
    return url, flow_id, engineer_id, before


def test_every_injected_fault_is_reported_on_its_pages_and_nothing_crashes(faulty_demo):
    url, flow_id, engineer_id, before = faulty_demo
    after = _pages(url, flow_id, engineer_id)
    for name, page in after.items():
        was, now = found(before[name].data_quality), found(page.data_quality)
        expected = {check: was.get(check, 0) + n for check, n in INJECTED[name].items()}
        assert {c: now.get(c, 0) for c in expected} == expected, name
        assert {c: n for c, n in now.items() if c not in expected} == {
            c: n for c, n in was.items() if c not in expected
        }, name  # nothing else moved
        json.loads(page.model_dump_json())  # the data file carries the findings
        about = layout.about_html(page).html
        assert all(f"({check})" in about for check in INJECTED[name]), name


def test_injected_faults_do_not_move_the_numbers_they_would_corrupt(faulty_demo):
    url, flow_id, engineer_id, before = faulty_demo
    after = _pages(url, flow_id, engineer_id)
    team_before, team = before["team"], after["team"]
    # 7 new sessions of account users (the stranger's is dropped), 6 completed
    assert team.summary.total_sessions == team_before.summary.total_sessions + 7
    assert team.summary.completed_sessions == team_before.summary.completed_sessions + 6
    assert team.summary.active_engineers == team_before.summary.active_engineers
    # of the injected ratings only the newest of the duplicated session counts (a 5)
    assert team.csat.total_ratings == team_before.csat.total_ratings + 1
    assert team.csat.distribution[5] == team_before.csat.distribution[5] + 1
    assert after["flow"].csat.total_ratings == before["flow"].csat.total_ratings + 1
    fp_before, fp_after = before["flowpilot"].summary, after["flowpilot"].summary
    assert fp_after.total_sessions == fp_before.total_sessions + 4
    assert (fp_after.rated_sessions, fp_after.avg_rating) == (
        fp_before.rated_sessions,
        fp_before.avg_rating,
    )  # the 9 is read as unrated
    assert (fp_after.mttr_minutes, fp_after.mttr_sessions) == (
        fp_before.mttr_minutes,
        fp_before.mttr_sessions,
    )  # resolved before created: no duration
    steps = {s.node_id: s for s in after["flow"].steps}
    assert steps["deleted-node"].node_title == "Unknown step"


def test_a_malformed_flow_structure_is_reported_not_raised(faulty_demo):
    url, flow_id, _, before = faulty_demo
    db = sqlite3.connect(url.removeprefix("sqlite:///"))
    db.execute(
        "UPDATE trees SET tree_structure = '{\"broken\":' WHERE id = ?", (uuid.UUID(flow_id).hex,)
    )
    db.commit()
    db.close()
    page = d.flow_page("kiwi-tech", flow_id, "30d", ANCHOR.isoformat(), url=url)
    assert found(page.data_quality)["flow_structure_malformed"] == 1
    assert "decision_unknown_node" not in found(page.data_quality)  # no structure to check
    assert {s.node_title for s in page.steps} == {"Unknown step"}
    assert page.summary.total_sessions == before["flow"].summary.total_sessions + 7


# ------------------------------------------------------ compact ids (issue 6)


def _bytes_id(text: str | None) -> bytes | None:
    """A stand-in 16-byte id for a test's text id (what a compact frame carries)."""
    return None if text is None else hashlib.md5(text.encode()).digest()  # noqa: S324


def _compacted(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    return frame.with_columns(
        pl.col(c).map_elements(_bytes_id, return_dtype=pl.Binary) for c in columns
    )


def test_compact_frames_are_screened_as_their_text_frames():
    """Ids as bytes (the team page's compact frames on PostgreSQL) give the same rows kept
    and the same findings, whether a rule fails (pandera reports hex text) or not."""
    s = sessions(CLEAN_SESSIONS + FAULTY_SESSIONS)
    cs = _compacted(s, ("session_id", "tree_id", "user_id"))
    users = ["u1", "u2"]
    out, findings = screen(s, "sessions", users=users)
    c_out, c_findings = screen(cs, "sessions", users=[_bytes_id(u) for u in users])
    assert c_findings == findings and len(findings) == 4
    assert c_out.equals(_compacted(out, ("session_id", "tree_id", "user_id")))
    r = ratings(
        [
            ("s1", "A", 4, None, "2026-11-10 11:00"),
            ("s1", "A", 5, None, "2026-11-10 10:59"),  # older duplicate
            ("x", "A", 1, None, "2026-11-10 11:00"),  # orphan
            ("x", "A", 2, None, "2026-11-10 11:05"),  # orphan, newer: still an orphan
            ("s2", "A", 7, None, "2026-11-10 12:00"),  # out of range
        ]
    ).drop("comment")
    parents = pl.Series(["s1", "s2"])
    out, findings = screen(r, "ratings", sessions=parents)
    cr = _compacted(r, ("session_id", "tree_id"))
    c_out, c_findings = screen(
        cr, "ratings", sessions=parents.map_elements(_bytes_id, return_dtype=pl.Binary)
    )
    assert found(findings) == {"rating_orphan": 2, "rating_out_of_range": 1, "rating_duplicate": 1}
    assert c_findings == findings
    assert c_out.equals(_compacted(out, ("session_id", "tree_id")))
    clean = cs.head(3)
    kept, none = screen(clean, "sessions", users=[_bytes_id(u) for u in users])
    assert kept.equals(clean) and none == []


def test_a_compact_frame_with_a_text_id_is_a_programming_error():
    s = _compacted(sessions(CLEAN_SESSIONS), ("session_id", "user_id"))  # tree_id text
    with pytest.raises(FrameSchemaError, match="tree_id"):
        screen(s, "sessions", users=[_bytes_id("u1")])


def _newest_reference(frame: pl.DataFrame, known: list[str] | None) -> list[int]:
    """The duplicate rule as first written (a window over every row): failing positions."""
    row = pl.col("row")
    valid = pl.col("rating").is_between(1, 5).fill_null(False)
    if known is not None:
        valid = valid & pl.col("session_id").is_in(known).fill_null(False)
    newest = row.sort_by([pl.col("created_at"), row]).last().over([pl.col("session_id"), valid])
    bad = valid & pl.col("session_id").is_not_null() & (row != newest)
    return frame.with_row_index("row").filter(bad)["row"].to_list()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["a", "b", "c", "x", None]),
            st.integers(0, 6),
            st.integers(0, 3),
        ),
        max_size=25,
    ),
    st.booleans(),
)
def test_the_duplicate_rule_keeps_what_the_window_rule_kept(rows, with_parents):
    """Ranking only the sessions with several valid ratings drops the same rows as the
    window over every row did (after orphans, counted first)."""
    frame = ratings(
        [(sid, "F", rating, None, f"2026-11-10 10:0{minute}") for sid, rating, minute in rows]
    )
    known = ["a", "b", "c"] if with_parents else None
    context = {"sessions": known} if with_parents else {}
    out, findings = screen(frame, "ratings", **context)
    orphans = (
        []
        if known is None
        else [i for i, (sid, _, _) in enumerate(rows) if sid is None or sid not in known]
    )
    out_of_range = [i for i, (_, rating, _) in enumerate(rows) if not 1 <= rating <= 5]
    dropped = set(orphans) | set(out_of_range) | set(_newest_reference(frame, known))
    kept = [i for i in range(len(rows)) if i not in dropped]
    assert out.equals(frame[kept])
    duplicates = {f.check: f.count for f in findings}.get("rating_duplicate", 0)
    assert duplicates == len(
        set(_newest_reference(frame, known)) - set(orphans) - set(out_of_range)
    )


# ------------------------------------- SQLite values of the wrong type (issue 16 §12)


def _wrongly_typed(tmp_path):
    """A tiny SQLite database whose rows hold what SQLite accepts and the product never
    writes: text in number columns and timestamps that are no timestamps."""
    from factories_db import TinyDB, uid

    tiny = TinyDB(tmp_path / "typed.sqlite")
    acc = tiny.account("acct-t")
    flow = tiny.flow(acc, "t-flow")
    users = [tiny.user(acc, f"t-user-{i}") for i in range(3)]
    for i, user in enumerate(users):
        session = tiny.session(flow, user, f"t-s{i}", f"2026-11-1{i} 09:00")
        tiny.rating(acc, flow, session, user, f"t-r{i}", f"2026-11-1{i} 09:30", 4, "ok")
    extra = tiny.session(flow, users[0], "t-s9", "2026-11-13 09:00")
    tiny.rating(acc, flow, extra, users[0], "t-r9", "2026-11-13 09:30", 5)
    tiny.set("session_ratings", "rating", "five", "t-r9")
    undated = tiny.session(flow, users[1], "t-s8", "2026-11-13 10:00")
    tiny.rating(acc, flow, undated, users[1], "t-r8", "2026-11-13 10:30", 3)
    tiny.rating(acc, flow, undated, users[2], "t-r7", "2026-11-13 10:40", 3)
    tiny.set("session_ratings", "created_at", "yesterday", "t-r8")
    # lexically inside the window, but no date: must not be read as one
    tiny.set("session_ratings", "created_at", "2026-11-12 25:61:00", "t-r7")

    for i in range(4):
        tiny.ai_session(acc, f"t-ai{i}", f"2026-11-1{i} 08:00", flow=flow, ticket=f"T{i}")
    tiny.set("ai_sessions", "session_rating", "great", "t-ai0")
    tiny.set("ai_sessions", "match_confidence", "high", "t-ai1")
    tiny.set("ai_sessions", "created_at", "last tuesday", "t-ai2")
    tiny.set("ai_sessions", "resolved_at", "soon", "t-ai3")
    tiny.post(uid("t-ai0"), "t-p0", "time_entry", "2026-11-10 09:00", hours=1.0)
    tiny.set("psa_post_logs", "hours", "two", "t-p0")
    tiny.post(uid("t-ai1"), "t-p1", "doc", "2026-11-11 09:00")
    tiny.set("psa_post_logs", "posted_at", "n/a", "t-p1")
    tiny.set("trees", "created_at", "some day", "t-flow")  # read as undated: still counted
    return tiny


def test_text_in_number_columns_and_unreadable_timestamps_are_findings(tmp_path):
    tiny = _wrongly_typed(tmp_path)
    as_of = "2026-11-20"
    flow = d.flow_page("acct-t", "t-flow", "30d", as_of, 1, url=tiny.url)
    found = {f.check: f.count for f in flow.data_quality}
    assert found == {"rating_out_of_range": 1, "rating_unreadable_date": 2}, found
    assert flow.csat.total_ratings == 3  # t-r0..t-r2; 'five' and the two undated left out
    team = d.team_page("acct-t", "30d", as_of, url=tiny.url)
    assert {f.check: f.count for f in team.data_quality} == found

    pilot = d.flowpilot_page("acct-t", "30d", as_of, url=tiny.url)
    found = {f.check: f.count for f in pilot.data_quality}
    # t-ai0..3: rating, confidence, created_at, resolved_at (t-ai3 is also resolved
    # without a readable resolved_at); posts: hours 'two', posted_at 'n/a'
    assert found == {
        "ai_resolved_without_resolved_at": 1,
        "psa_time_entry_invalid_hours": 1,
        "ai_unreadable_value": 4,
        "psa_unreadable_value": 2,
    }, found
    assert pilot.summary.total_sessions == 3  # 'last tuesday' is in no window
    assert pilot.summary.rated_sessions == 2  # 'great' read as unrated
    assert pilot.psa.funnel.doc_pushed == 0  # the undated doc is not taken as undated
    assert pilot.knowledge_coverage.total_flows == 1
    gaps = d.knowledge_gaps_page("acct-t", "30d", as_of, url=tiny.url)
    assert {f.check: f.count for f in gaps.data_quality}.get("ai_unreadable_value") == 4
