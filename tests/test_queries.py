"""Queries on real SQLite and PostgreSQL: account scoping and identical metrics on both."""

from __future__ import annotations

import polars as pl
import pytest
import sqlalchemy as sa

from demo_db import ANCHOR
from rfa import dashboards
from rfa.db import connect, sessions, trees
from rfa.errors import NotFoundError
from rfa.queries import accounts as aq
from rfa.queries import ratings as rq
from rfa.queries import sessions as sq
from rfa.window import make_window

AS_OF = ANCHOR.isoformat()
WINDOW = make_window("30d", ANCHOR, "UTC")


def _accounts(url: str) -> list[str]:
    with connect(url) as conn:
        return aq.list_accounts(conn)["slug"].to_list()


def _without_generated_at(page) -> dict:
    data = page.model_dump(mode="json")
    data["meta"].pop("generated_at")
    return data


def test_builders_bind_the_account_and_never_inline_it():
    account = "00000000-0000-4000-8000-00000000abcd"
    for stmt in [
        sq.sessions_query(account, WINDOW),
        sq.decisions_query(account, WINDOW, "t"),
        rq.ratings_query(account, WINDOW, with_engineer=True),
        rq.step_ratings_query(account, WINDOW, "t"),
        aq.flows_query(account),
        aq.users_query(account),
    ]:
        sql = str(stmt.compile(dialect=sa.dialects.postgresql.dialect()))
        assert "account_id = %(account_id" in sql, sql
        assert account not in sql
        assert account in stmt.compile().params.values()


@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_sessions_are_scoped_through_trees_account(which, request):
    url = request.getfixturevalue("demo_sqlite_url" if which == "sqlite" else "demo_pg_url")
    with connect(url) as conn:
        for slug in _accounts(url):
            info = aq.resolve_account(conn, slug)
            frame = sq.sessions_frame(conn, info.id, WINDOW)
            assert frame.height > 0
            own = {
                r
                for (r,) in conn.execute(sa.select(trees.c.id).where(trees.c.account_id == info.id))
            }
            assert set(frame["tree_id"].unique()) <= own
            assert frame.schema == pl.Schema(sq.SESSION_SCHEMA)
            total = conn.execute(
                sa.select(sa.func.count())
                .select_from(sessions.join(trees, sessions.c.tree_id == trees.c.id))
                .where(
                    trees.c.account_id == info.id,
                    sessions.c.started_at >= WINDOW.start,
                    sessions.c.started_at < WINDOW.end,
                )
            ).scalar()
            assert frame.height == total


@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_busiest_in_sql_ranks_like_the_metric(which, request):
    """busiest_query (counted in the database) = rfa.metrics.sessions.busiest on the frame."""
    from rfa.metrics.sessions import busiest

    url = request.getfixturevalue("demo_sqlite_url" if which == "sqlite" else "demo_pg_url")
    with connect(url) as conn:
        for slug in _accounts(url):
            info = aq.resolve_account(conn, slug)
            frame = sq.sessions_frame(conn, info.id, WINDOW)
            for by in ("tree_id", "user_id"):
                top = sq.busiest_frame(conn, info.id, WINDOW, by, 5)
                assert top["id"].to_list() == busiest(frame, by, 5), (slug, by)
                counts = frame.group_by(by).len()
                for row in top.iter_rows(named=True):
                    assert counts.filter(pl.col(by) == row["id"])["len"].item() == row["sessions"]


@pytest.mark.postgres
def test_same_data_gives_identical_metrics_on_sqlite_and_postgres(demo_sqlite_url, demo_pg_url):
    slugs = _accounts(demo_sqlite_url)
    assert slugs == _accounts(demo_pg_url) and len(slugs) >= 3
    for slug in slugs:
        for period in ("7d", "30d", "90d"):
            team = [
                dashboards.team_page(slug, period, AS_OF, url=u)
                for u in (demo_sqlite_url, demo_pg_url)
            ]
            assert _without_generated_at(team[0]) == _without_generated_at(team[1])
        flow = [
            dashboards.flow_page(slug, "", "30d", AS_OF, url=u)
            for u in (demo_sqlite_url, demo_pg_url)
        ]
        assert flow[0].steps, "the busiest flow has a step table"
        assert _without_generated_at(flow[0]) == _without_generated_at(flow[1])
        personal = [
            dashboards.personal_page(slug, "", "30d", AS_OF, url=u)
            for u in (demo_sqlite_url, demo_pg_url)
        ]
        assert _without_generated_at(personal[0]) == _without_generated_at(personal[1])


@pytest.mark.parametrize("which", ["sqlite", "postgres"])
def test_flow_and_engineer_of_another_account_are_not_found(which, request):
    url = request.getfixturevalue("demo_sqlite_url" if which == "sqlite" else "demo_pg_url")
    with connect(url) as conn:
        first, second, *_ = [aq.resolve_account(conn, s) for s in _accounts(url)]
        foreign_flow = aq.list_flows(conn, second.id)["tree_id"][0]
        foreign_name = aq.list_flows(conn, second.id)["name"][0]
        foreign_user = aq.list_users(conn, second.id)["user_id"][0]
        with pytest.raises(NotFoundError) as info:
            aq.resolve_flow(conn, first.id, foreign_flow)
        assert foreign_name not in str(info.value)
        with pytest.raises(NotFoundError):
            aq.resolve_flow(conn, first.id, foreign_name)
        with pytest.raises(NotFoundError):
            aq.resolve_engineer(conn, first.id, foreign_user)
        assert sq.flow_structure(conn, first.id, foreign_flow) == {}


def test_flow_page_reads_no_rater_identity(demo_sqlite_url):
    page = dashboards.flow_page("northwind-it", "", "30d", AS_OF, url=demo_sqlite_url)
    text = page.model_dump_json()
    with connect(demo_sqlite_url) as conn:
        info = aq.resolve_account(conn, "northwind-it")
        people = aq.list_users(conn, info.id)
    for user_id, name in people.select("user_id", "name").iter_rows():
        assert user_id not in text
        assert name not in text
