"""Escalation and knowledge-gap builders on real SQLite and PostgreSQL.

Account filter bound in every builder; ``first_action_at`` is the first step strictly
after the claim (a hand-made database and the demo rows recomputed in Python);
identical frames and metrics on both backends; the demo shows what the pages need.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict

import polars as pl
import pytest
import sqlalchemy as sa

from demo_db import ANCHOR, demo_rows
from rfa.db import connect, init_db
from rfa.demo import load
from rfa.metrics import escalations as em
from rfa.metrics import knowledge_gaps as kg
from rfa.queries import accounts as aq
from rfa.queries import ai_sessions as aiq
from rfa.queries import gaps as gq
from rfa.queries import handoffs as hq
from rfa.window import make_window

WINDOW = make_window("30d", ANCHOR, "UTC")
WINDOW_90 = make_window("90d", ANCHOR, "UTC")
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
DEMO_URL = {"sqlite": "demo_sqlite_url", "postgres": "demo_pg_url"}

SMALL_DEMO = kg.GapThresholds(min_sessions=5, min_option_sessions=5)
"""The test demo is 3 % of the real demo's size (``demo_db.py``): a few AI sessions per
domain in 90 days, so the minimum sessions are scaled down for the "every account has a
gap" check. The default thresholds are checked on the largest account."""


def _builders(account: str) -> list[sa.Select]:
    return [
        hq.claimed_handoffs_query(account, WINDOW),
        hq.unclaimed_count_query(account, WINDOW),
        gq.pending_proposals_query(account),
        gq.option_sessions_query(account, WINDOW),
        gq.flow_trees_query(account),
    ]


def test_every_builder_binds_the_account_and_never_inlines_it():
    account = "00000000-0000-4000-8000-00000000abcd"
    for stmt in _builders(account):
        sql = str(stmt.compile(dialect=sa.dialects.postgresql.dialect()))
        assert "account_id = %(account_id" in sql, sql
        assert account not in sql
        assert account in stmt.compile().params.values()


# ---------------------------------------------------------------- hand-made database

T0 = dt.datetime(2026, 11, 10, 9, 0, tzinfo=dt.UTC)
ACC, OTHER = "10000000-0000-4000-8000-000000000001", "10000000-0000-4000-8000-000000000002"


def _uuid(n: int) -> str:
    return f"20000000-0000-4000-8000-{n:012d}"


def _s(seconds: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


def _handmade_rows() -> dict[str, list[dict]]:
    sessions = {1: ACC, 2: ACC, 3: ACC, 4: OTHER}
    steps = {
        # session 1: drift (−5 s), a step exactly at the claim, then +10 s and +3 s
        1: [-600, -5, 0, 10, 3],
        # session 2: only steps before the claim → claimed, never acted on
        2: [-900, -1],
        # session 4 (other account): a step 1 s after its claim
        4: [1],
    }
    handoffs = [
        (101, 1, -60, 0),  # first action +3 s
        (102, 2, -60, 0),  # none after the claim
        (103, 3, -60, None),  # never claimed (created in the window)
        (104, 4, -60, 0),  # other account
        (105, 3, -60 * 86_400, -40 * 86_400),  # claimed before the window
    ]
    return {
        "accounts": [
            {"id": a, "name": f"Account {i}", "slug": f"acc-{i}", "timezone": "UTC"}
            for i, a in enumerate((ACC, OTHER))
        ],
        "ai_sessions": [
            {"id": _uuid(k), "account_id": a, "status": "escalated", "created_at": _s(-3600)}
            for k, a in sessions.items()
        ],
        "ai_session_steps": [
            {"id": _uuid(1000 + 10 * k + i), "ai_session_id": _uuid(k), "created_at": _s(t)}
            for k, ts_ in steps.items()
            for i, t in enumerate(ts_)
        ],
        "session_handoffs": [
            {
                "id": _uuid(h),
                "ai_session_id": _uuid(k),
                "created_at": _s(created),
                "claimed_at": None if claimed is None else _s(claimed),
            }
            for h, k, created, claimed in handoffs
        ],
    }


@pytest.fixture(params=BACKENDS)
def handmade_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'handmade.sqlite'}"
    else:
        url = request.getfixturevalue("pg_url")
    init_db(url)
    load(url, _handmade_rows())
    return url


def test_first_action_is_the_minimum_step_strictly_after_the_claim(handmade_url):
    window = make_window("30d", T0 + dt.timedelta(days=1), "UTC")
    with connect(handmade_url) as conn:
        frame = hq.claimed_handoffs_frame(conn, ACC, window)
        unclaimed = hq.unclaimed_count(conn, ACC, window)
    assert frame.schema == pl.Schema(hq.HANDOFF_SCHEMA)
    got = dict(zip(frame["handoff_id"], frame["first_action_at"], strict=True))
    # not the drifted step, not the step at the claim, the earliest after it (+3 s, not +10 s)
    assert got == {_uuid(101): _s(3), _uuid(102): None}
    assert unclaimed == 1
    metrics = em.escalation_metrics(frame, unclaimed)
    assert (metrics.n_handoffs_claimed, metrics.n_handoffs_with_action) == (2, 1)
    assert metrics.avg_seconds_to_first_action == 3.0
    assert metrics.n_handoffs_unclaimed == 1


# ---------------------------------------------------------------- the demo database


def _python_first_actions(account_id: str, window) -> dict[str, dt.datetime | None]:
    """Hand-off id → first step strictly after the claim, straight from the demo rows."""
    rows = demo_rows()
    own = {r["id"] for r in rows["ai_sessions"] if r["account_id"] == account_id}
    steps = defaultdict(list)
    for r in rows["ai_session_steps"]:
        steps[r["ai_session_id"]].append(r["created_at"])
    out = {}
    for h in rows["session_handoffs"]:
        claimed = h["claimed_at"]
        if h["ai_session_id"] in own and claimed and window.start <= claimed < window.end:
            later = [t for t in steps[h["ai_session_id"]] if t > claimed]
            out[h["id"]] = min(later) if later else None
    return out


def _account_ids(url: str) -> dict[str, str]:
    with connect(url) as conn:
        return dict(aq.list_accounts(conn).select("slug", "account_id").iter_rows())


@pytest.mark.parametrize("which", BACKENDS)
def test_demo_first_actions_match_a_direct_python_computation(which, request):
    url = request.getfixturevalue(DEMO_URL[which])
    drifted = 0
    with connect(url) as conn:
        for account_id in _account_ids(url).values():
            for window in (WINDOW, WINDOW_90):
                frame = hq.claimed_handoffs_frame(conn, account_id, window)
                expected = _python_first_actions(account_id, window)
                assert frame.height == len(expected) > 0
                got = dict(zip(frame["handoff_id"], frame["first_action_at"], strict=True))
                assert got == expected
                acted = frame.filter(pl.col("first_action_at").is_not_null())
                assert (acted["first_action_at"] > acted["claimed_at"]).all()
            # the demo's clock drift: steps dated before the claim exist and are skipped
            rows = demo_rows()
            own = {r["id"] for r in rows["ai_sessions"] if r["account_id"] == account_id}
            claims = {
                h["ai_session_id"]: h["claimed_at"]
                for h in rows["session_handoffs"]
                if h["ai_session_id"] in own and h["claimed_at"]
            }
            drifted += sum(
                1
                for s in rows["ai_session_steps"]
                if s["ai_session_id"] in claims
                and dt.timedelta(0)
                < claims[s["ai_session_id"]] - s["created_at"]
                <= dt.timedelta(seconds=9)
            )
    assert drifted > 0


@pytest.mark.parametrize("which", BACKENDS)
def test_frames_are_scoped_to_the_account(which, request):
    url = request.getfixturevalue(DEMO_URL[which])
    rows = demo_rows()
    with connect(url) as conn:
        for account_id in _account_ids(url).values():
            own_ai = {r["id"] for r in rows["ai_sessions"] if r["account_id"] == account_id}
            own_trees = {r["id"] for r in rows["trees"] if r["account_id"] == account_id}
            handoffs = hq.claimed_handoffs_frame(conn, account_id, WINDOW_90)
            assert set(handoffs["ai_session_id"]) <= own_ai
            ai = aiq.ai_sessions_frame(conn, account_id, WINDOW)
            assert ai.height > 0 and set(ai["ai_session_id"]) <= own_ai
            options = gq.option_sessions_frame(conn, account_id, WINDOW)
            assert options.height > 0 and set(options["tree_id"]) <= own_trees
            assert set(gq.flow_trees_frame(conn, account_id)["tree_id"]) == own_trees
            pending = gq.pending_proposals_frame(conn, account_id)
            expected = sum(
                1
                for r in rows["flow_proposals"]
                if r["account_id"] == account_id and r["status"] == "pending"
            )
            assert pending["pending"].sum() == expected


def _decoded(frame: pl.DataFrame, column: str) -> list[dict]:
    rows = frame.to_dicts()
    for row in rows:
        row[column] = None if row[column] is None else json.loads(row[column])
    return rows


def _everything(url: str, account_id: str) -> dict:
    with connect(url) as conn:
        handoffs = hq.claimed_handoffs_frame(conn, account_id, WINDOW_90)
        unclaimed = hq.unclaimed_count(conn, account_id, WINDOW_90)
        ai = aiq.ai_sessions_frame(conn, account_id, WINDOW_90)
        pending = gq.pending_proposals_frame(conn, account_id)
        options = gq.option_sessions_frame(conn, account_id, WINDOW_90)
        trees = gq.flow_trees_frame(conn, account_id)
    return {
        "handoffs": handoffs.to_dicts(),
        "unclaimed": unclaimed,
        "ai": ai.to_dicts(),
        "pending": pending.to_dicts(),
        # JSONB text and SQLite JSON text differ in key order and spacing, not content
        "options": _decoded(options, "decisions"),
        "trees": _decoded(trees, "tree_structure"),
        "escalations": em.escalation_metrics(handoffs, unclaimed).model_dump(mode="json"),
        "gaps": kg.knowledge_gap_report(ai, trees, pending, options, SMALL_DEMO).model_dump(
            mode="json"
        ),
    }


@pytest.mark.postgres
def test_identical_frames_and_metrics_on_sqlite_and_postgres(demo_sqlite_url, demo_pg_url):
    accounts = _account_ids(demo_sqlite_url)
    assert accounts == _account_ids(demo_pg_url) and len(accounts) >= 3
    for account_id in accounts.values():
        lite, pg = _everything(demo_sqlite_url, account_id), _everything(demo_pg_url, account_id)
        for key in lite:
            assert lite[key] == pg[key], key


@pytest.mark.parametrize("which", BACKENDS)
def test_every_demo_account_has_unacted_handoffs_and_a_gap(which, request):
    url = request.getfixturevalue(DEMO_URL[which])
    with connect(url) as conn:
        for slug, account_id in _account_ids(url).items():
            handoffs = hq.claimed_handoffs_frame(conn, account_id, WINDOW_90)
            metrics = em.escalation_metrics(
                handoffs, hq.unclaimed_count(conn, account_id, WINDOW_90)
            )
            assert metrics.n_handoffs_without_action > 0, slug
            assert metrics.n_handoffs_with_action > 0, slug
            assert metrics.metric_definition == em.METRIC_DEFINITION
            gaps = kg.knowledge_gaps(
                aiq.ai_sessions_frame(conn, account_id, WINDOW_90),
                gq.flow_trees_frame(conn, account_id),
                gq.pending_proposals_frame(conn, account_id),
                gq.option_sessions_frame(conn, account_id, WINDOW_90),
                SMALL_DEMO,
            )
            assert gaps, slug
            # the domain no flow covers (demo spec) is reported as such
            assert any(g.kind == "domain_without_flows" for g in gaps), slug


def test_default_thresholds_find_gaps_in_the_largest_demo_account(demo_sqlite_url):
    account_id = _account_ids(demo_sqlite_url)["northwind-it"]
    with connect(demo_sqlite_url) as conn:
        gaps = kg.knowledge_gaps(
            aiq.ai_sessions_frame(conn, account_id, WINDOW_90),
            gq.flow_trees_frame(conn, account_id),
            gq.pending_proposals_frame(conn, account_id),
            gq.option_sessions_frame(conn, account_id, WINDOW_90),
        )
    kinds = {g.kind for g in gaps}
    assert {"domain_without_flows", "flow_option_bad_outcomes"} <= kinds
    assert [g for g in gaps if g.kind == "domain_without_flows"][0].subject == "voip"
    assert all(g.evidence_sessions >= 8 for g in gaps)
