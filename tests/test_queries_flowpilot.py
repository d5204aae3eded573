"""FlowPilot queries on real SQLite and PostgreSQL: account scoping, parity, demo stories."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import polars as pl
import pytest
import sqlalchemy as sa

from demo_db import ANCHOR
from rfa import dashboards
from rfa.db import ai_sessions, connect, create_engine, flow_proposals, psa_post_logs, trees
from rfa.demo import DEMO_ACCOUNTS
from rfa.metrics import flowpilot as fp
from rfa.queries import accounts as aq
from rfa.queries import ai_sessions as aiq
from rfa.queries import proposals as pq
from rfa.queries import psa as psq
from rfa.window import make_window

WINDOW = make_window("30d", ANCHOR, "UTC")
SPECS = {spec.slug: spec for spec in DEMO_ACCOUNTS}


@contextmanager
def _connect(url: str) -> Iterator[sa.Connection]:
    """A connection whose engine is disposed afterwards (no pooled connection left open)."""
    engine = create_engine(url)
    try:
        with connect(engine) as conn:
            yield conn
    finally:
        engine.dispose()


def _accounts(url: str) -> list[str]:
    with _connect(url) as conn:
        return aq.list_accounts(conn)["slug"].to_list()


def _frames(conn, account_id: str, window) -> dict[str, pl.DataFrame]:
    return {
        "sessions": aiq.ai_sessions_frame(conn, account_id, window),
        "flows": aq.list_flows(conn, account_id),
        "proposals": pq.proposals_frame(conn, account_id, window),
        "posts": psq.psa_posts_frame(conn, account_id, window),
        "session_posts": psq.session_psa_posts_frame(conn, account_id, window),
    }


def _metrics(url: str, slug: str, period: str) -> fp.FlowPilotMetrics:
    with _connect(url) as conn:
        info = aq.resolve_account(conn, slug)
        window = make_window(period, ANCHOR, info.timezone)
        frames = _frames(conn, info.id, window)
    return fp.flowpilot_metrics(window=window, **frames)


def test_flowpilot_builders_bind_the_account_and_never_inline_it():
    account = "00000000-0000-4000-8000-00000000abcd"
    for stmt in [
        aiq.ai_sessions_query(account, WINDOW),
        aq.flows_query(account),
        pq.proposals_query(account, WINDOW),
        psq.psa_posts_query(account, WINDOW),
        psq.session_psa_posts_query(account, WINDOW),
    ]:
        sql = str(stmt.compile(dialect=sa.dialects.postgresql.dialect()))
        assert "account_id = %(account_id" in sql, sql
        assert account not in sql
        assert account in stmt.compile().params.values()


@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_flowpilot_frames_hold_only_rows_of_the_account(which, request):
    url = request.getfixturevalue("demo_sqlite_url" if which == "sqlite" else "demo_pg_url")
    with _connect(url) as conn:
        infos = [aq.resolve_account(conn, slug) for slug in _accounts(url)]
        assert len(infos) >= 3
        for info in infos:

            def ids(table: sa.Table, column: str = "id", account_id=info.id) -> set[str]:
                stmt = sa.select(table.c[column]).where(table.c.account_id == account_id)
                return {r for (r,) in conn.execute(stmt)}

            frames = _frames(conn, info.id, WINDOW)
            for name, schema in [
                ("sessions", aiq.AI_SESSION_SCHEMA),
                ("flows", aq.FLOW_SCHEMA),
                ("proposals", pq.PROPOSAL_SCHEMA),
                ("posts", psq.PSA_POST_SCHEMA),
                ("session_posts", psq.PSA_POST_SCHEMA),
            ]:
                assert frames[name].schema == pl.Schema(schema), name
                assert frames[name].height > 0, name
            own_sessions = ids(ai_sessions)
            foreign_sessions = set().union(
                *(ids(ai_sessions, account_id=o.id) for o in infos if o.id != info.id)
            )
            assert set(frames["sessions"]["ai_session_id"]) <= own_sessions
            assert set(frames["flows"]["tree_id"]) == ids(trees)
            assert set(frames["proposals"]["proposal_id"]) <= ids(flow_proposals)
            for name in ("posts", "session_posts"):
                posted_by = set(frames[name]["ai_session_id"])
                assert posted_by <= own_sessions and not posted_by & foreign_sessions
            matched = set(frames["sessions"]["tree_id"].drop_nulls())
            assert matched <= ids(trees)

            a, p = ai_sessions.c, psa_post_logs.c
            n_sessions = conn.execute(
                sa.select(sa.func.count()).where(
                    a.account_id == info.id,
                    a.created_at >= WINDOW.start,
                    a.created_at < WINDOW.end,
                )
            ).scalar()
            assert frames["sessions"].height == n_sessions
            n_posts = conn.execute(
                sa.select(sa.func.count())
                .select_from(psa_post_logs.join(ai_sessions, p.ai_session_id == a.id))
                .where(
                    a.account_id == info.id,
                    p.posted_at >= WINDOW.start,
                    p.posted_at < WINDOW.end,
                )
            ).scalar()
            assert frames["posts"].height == n_posts
            assert set(frames["session_posts"]["ai_session_id"]) <= set(
                frames["sessions"]["ai_session_id"]
            )
            props = frames["proposals"]
            in_window = props["reviewed_at"].is_between(WINDOW.start, WINDOW.end, closed="left")
            pending = (props["status"] == "pending") & (props["created_at"] < WINDOW.end)
            assert (in_window.fill_null(False) | pending).all()


@pytest.mark.postgres
def test_same_data_gives_identical_flowpilot_metrics_on_sqlite_and_postgres(
    demo_sqlite_url, demo_pg_url
):
    slugs = _accounts(demo_sqlite_url)
    assert slugs == _accounts(demo_pg_url) and len(slugs) >= 3
    for slug in slugs:
        for period in ("7d", "30d", "90d"):
            lite, pg = (
                _metrics(url, slug, period).model_dump(mode="json")
                for url in (demo_sqlite_url, demo_pg_url)
            )
            assert lite["summary"]["total_sessions"] > 0
            assert lite == pg, (slug, period)


@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_every_demo_account_shows_the_flowpilot_stories(which, request):
    url = request.getfixturevalue("demo_sqlite_url" if which == "sqlite" else "demo_pg_url")
    for slug in _accounts(url):
        spec = SPECS[slug]
        month = _metrics(url, slug, "30d")
        # a domain no flow covers
        assert spec.uncovered_domain in month.coverage_by_domain.uncovered_domains
        # PSA pushes that only succeeded after a retry
        assert month.psa.push_success_after_retry_pct > 0
        assert month.psa.time_entries > 0 and month.psa.hours_logged > 0
        # the flow whose AI sessions mostly escalate needs attention (≥ 5 matches: 90 days)
        quarter = _metrics(url, slug, "90d")
        attention = {row.name: row for row in quarter.flow_quality.needs_attention}
        assert spec.weak_ai_flow in attention, (slug, list(attention))
        weak = attention[spec.weak_ai_flow]
        assert weak.success_rate_pct < fp.ATTENTION_SUCCESS_PCT
        assert weak.name not in {r.name for r in quarter.flow_quality.top_performers}


# ----------------------------------------------- issue 20 on a hand-built database


def test_flowpilot_page_shows_the_nested_funnel_and_coverage_as_of_the_windows_end(tmp_path):
    """Hand-computed on a tiny database: a session linked with a time entry but no doc
    stops at 'linked'; a flow created after as_of is not counted on a page for that
    as_of, and is on a later page."""
    import json

    from factories_db import TinyDB

    tiny = TinyDB(tmp_path / "funnel.sqlite")
    acc = tiny.account("acct-f")
    tiny.flow(acc, "f-old", created="2026-01-05 09:00")
    tiny.flow(acc, "f-ai", origin="ai_generated", created="2026-11-01 09:00")
    tiny.flow(acc, "f-after", origin="ai_enhanced", created="2026-11-25 09:00")
    full = tiny.ai_session(acc, "ai-full", "2026-11-10 09:00", ticket="T1")
    tiny.post(full, "p-doc", "doc", "2026-11-10 09:30")
    tiny.post(full, "p-time", "time_entry", "2026-11-10 09:40", hours=1.0)
    no_doc = tiny.ai_session(acc, "ai-no-doc", "2026-11-11 09:00", ticket="T2")
    tiny.post(no_doc, "p-time2", "time_entry", "2026-11-11 09:40", hours=0.5)
    failed = tiny.ai_session(acc, "ai-failed-doc", "2026-11-12 09:00", ticket="T3")
    tiny.post(failed, "p-doc3", "doc", "2026-11-12 09:30", status="failed")
    tiny.post(failed, "p-time3", "time_entry", "2026-11-12 09:40", hours=0.5)
    tiny.ai_session(acc, "ai-unlinked", "2026-11-13 09:00")

    page = dashboards.flowpilot_page("acct-f", "30d", "2026-11-20", url=tiny.url)
    data = json.loads(page.model_dump_json())
    assert data["psa"]["funnel"] == {
        "total_sessions": 4,
        "linked_to_ticket": 3,
        "doc_pushed": 1,  # ai-full only (ai-failed-doc's doc failed)
        "time_entry_logged": 1,  # ai-full only: ai-no-doc has no doc
    }
    assert data["psa"]["stage_counts"] == {
        "total_sessions": 4,
        "linked_to_ticket": 3,
        "doc_pushed": 1,
        "time_entry_logged": 3,
    }
    coverage = data["knowledge_coverage"]
    assert (coverage["total_flows"], coverage["ai_generated_flows"]) == (2, 1)  # not f-after
    later = dashboards.coverage_page("acct-f", "30d", "2026-11-30", url=tiny.url)
    assert (later.knowledge_coverage.total_flows, later.knowledge_coverage.ai_generated_flows) == (
        3,
        2,
    )
