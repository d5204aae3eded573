"""The session's PostgreSQL server fixture works, and the schema builds on it."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest
import sqlalchemy as sa

from postgres_server import PostgresServer
from rfa import db

pytestmark = pytest.mark.postgres


def _scalar(url: str, query: str) -> object:
    """Run ``query`` on the database at ``url`` and return the single value."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text(query)).scalar_one()
    finally:
        engine.dispose()


def test_server_answers_on_loopback(pg_server: PostgresServer) -> None:
    assert pg_server.host == "127.0.0.1"
    assert pg_server.superuser == "postgres"
    assert 0 < pg_server.port < 65536
    assert pg_server.url("x") == f"postgresql+psycopg://postgres@127.0.0.1:{pg_server.port}/x"
    version = _scalar(pg_server.url("postgres"), "SELECT version()")
    assert isinstance(version, str) and version.startswith("PostgreSQL")
    settings = {
        name: _scalar(pg_server.url("postgres"), f"SHOW {name}")
        for name in ("fsync", "synchronous_commit", "full_page_writes", "listen_addresses")
    }
    assert settings == {
        "fsync": "off",
        "synchronous_commit": "off",
        "full_page_writes": "off",
        "listen_addresses": "127.0.0.1",
    }


def test_create_database_returns_a_usable_url(pg_server: PostgresServer) -> None:
    name = f"rfa_named_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name)
    try:
        assert url == pg_server.url(name)
        assert _scalar(url, "SELECT current_database()") == name
    finally:
        pg_server.drop_database(name)
    assert (
        _scalar(
            pg_server.url("postgres"), f"SELECT count(*) FROM pg_database WHERE datname = '{name}'"
        )
        == 0
    )


@pytest.fixture
def other_pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """A second fresh database in the same test (``pg_url`` is one per test)."""
    name = f"rfa_other_{uuid.uuid4().hex[:8]}"
    url = pg_server.create_database(name)
    yield url
    pg_server.drop_database(name)


def test_pg_urls_are_distinct_empty_databases(pg_url: str, other_pg_url: str) -> None:
    assert pg_url != other_pg_url
    names = {_scalar(u, "SELECT current_database()") for u in (pg_url, other_pg_url)}
    assert len(names) == 2
    for url in (pg_url, other_pg_url):
        engine = sa.create_engine(url)
        try:
            assert sa.inspect(engine).get_table_names() == []
        finally:
            engine.dispose()


def test_pg_url_is_dropped_after_the_test(pg_server: PostgresServer, pg_url: str) -> None:
    """Each test gets its own database; earlier tests' databases are gone."""
    count = _scalar(
        pg_server.url("postgres"),
        "SELECT count(*) FROM pg_database WHERE datname LIKE 'rfa_test_%'",
    )
    assert count == 1


def test_init_db_creates_every_table(pg_url: str) -> None:
    db.init_db(pg_url)
    engine = sa.create_engine(pg_url)
    try:
        inspector = sa.inspect(engine)
        assert set(inspector.get_table_names()) == {t.name for t in db.TABLES}
        for table in db.TABLES:
            columns = {c["name"] for c in inspector.get_columns(table.name)}
            assert columns == {c.name for c in table.columns}, table.name
    finally:
        engine.dispose()


def test_aware_timestamp_round_trips(pg_url: str) -> None:
    db.init_db(pg_url)
    account, user, tree, session = (str(uuid.uuid4()) for _ in range(4))
    started = dt.datetime(2024, 3, 31, 1, 30, 15, 123456, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    engine = sa.create_engine(pg_url)
    try:
        with engine.begin() as conn:
            conn.execute(db.accounts.insert().values(id=account, name="Acme", slug="acme"))
            conn.execute(
                db.users.insert().values(id=user, account_id=account, email="a@x", role="tech")
            )
            conn.execute(db.trees.insert().values(id=tree, account_id=account, name="VPN"))
            conn.execute(
                db.sessions.insert().values(
                    id=session, tree_id=tree, user_id=user, started_at=started
                )
            )
        with engine.connect() as conn:
            read = conn.execute(
                sa.select(db.sessions.c.started_at).where(db.sessions.c.id == session)
            ).scalar_one()
            column_type = conn.execute(
                sa.text(
                    "SELECT data_type FROM information_schema.columns "
                    "WHERE table_name = 'sessions' AND column_name = 'started_at'"
                )
            ).scalar_one()
    finally:
        engine.dispose()
    assert column_type == "timestamp with time zone"
    assert read.tzinfo is not None and read.utcoffset() == dt.timedelta(0)
    assert read == started
