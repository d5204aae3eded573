"""The Arrow (ADBC) read path of ``rfa.queries.fetch`` on PostgreSQL (issue 6).

* Every query builder of :mod:`rfa.queries` (every public ``*_query``, found
  automatically) returns the same frame — columns, dtypes, values, NULLs and row order —
  through the Arrow path and through the row path, with data, empty, and for another
  account; with its optional filters and without.
* Values pass their SQLAlchemy type's bind processing; IN lists expand. Typed values
  (uuids, timestamps, dates, numbers, booleans, NULL) are written into the text as
  literals under their casts, so ADBC can stream with ``COPY``; free text keeps the
  whole statement bound (``$n`` with casts) and cannot inject.
* The ADBC connection carries the engine's safety: read-only, ``statement_timeout``,
  ``lock_timeout``, ``application_name``; one per ``rfa.db.connect()`` context, opened on
  first use, closed when the context exits (also on error); none on SQLite or on a
  writable engine.
* Its errors are classified like psycopg's (``rfa.db.is_transient``); a failed connect is
  ``DatabaseUnavailable`` with the password masked.
* ``RFA_ARROW_FETCH=0`` and a missing ADBC fall back to the row path.
"""

from __future__ import annotations

import datetime as dt
import sys
import time
import uuid
from collections.abc import Iterator
from unittest import mock

import polars as pl
import psycopg
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal
from psycopg import sql
from sqlalchemy.engine import make_url

import query_builders
from demo_db import ANCHOR
from query_builders import BUILDERS, SCHEMAS, WINDOW
from rfa import db
from rfa.config import APPLICATION_NAME
from rfa.errors import DatabaseUnavailable
from rfa.queries import _fetch, fetch
from rfa.queries import accounts as aq
from rfa.queries import sessions as sq

pytestmark = pytest.mark.postgres

SECRET = f"pw-{uuid.uuid4().hex}"


@pytest.fixture(autouse=True)
def _default_settings(monkeypatch):
    for name in (
        "RFA_ARROW_FETCH",
        "RFA_STATEMENT_TIMEOUT_MS",
        "RFA_LOCK_TIMEOUT_MS",
        "RFA_DB_RETRIES",
    ):
        monkeypatch.delenv(name, raising=False)


# ---------------------------------------------------------------- builders and schemas


def test_every_builder_has_a_schema_here():
    assert len(BUILDERS) >= 16
    assert sorted(BUILDERS) == sorted(SCHEMAS), "a new builder: add its schema to SCHEMAS"


@pytest.fixture(scope="module")
def demo_ids(demo_pg_url) -> dict[str, str]:
    """kiwi-tech's id, its busiest flow and its busiest engineer in WINDOW."""
    return query_builders.demo_ids(demo_pg_url)


@pytest.fixture(scope="module")
def compared(demo_pg_url, demo_ids) -> query_builders.Compared:
    """For every builder and call: ``(label, Arrow frame, row frame)`` on the demo
    database; the Arrow frames come from the Arrow path (the row path is not entered)."""
    with db.connect(demo_pg_url) as conn:
        fetch(conn, sq.busiest_query(demo_ids["account_id"], WINDOW, "tree_id"), sq.BUSIEST_SCHEMA)
        assert db.arrow_connection(conn) is not None  # the context has its Arrow connection
    return query_builders.compare_with_rows(demo_pg_url, demo_ids)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_arrow_and_row_paths_return_the_same_frame(compared, name):
    query_builders.assert_same_frames(compared, name)


def test_the_comparison_covers_rows_nulls_and_empty_results(compared):
    query_builders.assert_the_comparison_covers_enough(compared)


# ---------------------------------------------------------------- parameters


def _with_free_text(stmt: sa.Select) -> sa.Select:
    """``stmt`` with a condition on free text: the whole statement then stays bound."""
    return stmt.where(db.sessions.c.outcome != "no such outcome")


def test_statements_are_compiled_with_bound_cast_parameters(demo_ids):
    stmt = sq.sessions_query(demo_ids["account_id"], WINDOW, tree_id=demo_ids["tree_id"])
    text, params = _fetch._compile_for_arrow(_with_free_text(stmt))
    assert demo_ids["account_id"] not in text and demo_ids["tree_id"] not in text
    assert "trees.account_id = $1::UUID" in text
    assert "sessions.started_at >= $2::TIMESTAMP WITH TIME ZONE" in text
    assert "CAST(sessions.id AS TEXT) AS session_id" in text
    assert "ORDER BY sessions.started_at, sessions.id" in text  # by the uuid, not its text
    assert params is not None
    assert params.row(0)[:4] == (
        demo_ids["account_id"],
        WINDOW.start,
        WINDOW.end,
        demo_ids["tree_id"],
    )
    assert params.dtypes[:4] == [pl.String, pl.Datetime("us", "UTC"), pl.Datetime("us", "UTC")] + [
        pl.String
    ]
    assert params.row(0)[4] == "no such outcome"


def test_typed_values_are_written_as_literals_so_postgresql_can_copy(demo_ids):
    """ADBC streams with COPY only without parameters: uuids and timestamps are written
    into the text, each under its cast, and nothing else changes."""
    stmt = sq.sessions_query(demo_ids["account_id"], WINDOW, tree_id=demo_ids["tree_id"])
    bound, _ = _fetch._compile_for_arrow(_with_free_text(stmt))
    text, params = _fetch._compile_for_arrow(stmt)
    assert params is None and "$" not in text
    assert f"trees.account_id = '{demo_ids['account_id']}'::UUID" in text
    start = WINDOW.start.astimezone(dt.UTC).isoformat()
    assert f"sessions.started_at >= '{start}'::TIMESTAMP WITH TIME ZONE" in text
    assert f"sessions.tree_id = '{demo_ids['tree_id']}'::UUID" in text
    for number, literal in enumerate(
        (f"'{demo_ids['account_id']}'", f"'{start}'", None, f"'{demo_ids['tree_id']}'"), 1
    ):
        if literal:
            bound = bound.replace(f"${number}::", f"{literal}::")
    assert bound.split("< ")[0] == text.split("< ")[0]


@pytest.mark.parametrize(
    ("value", "literal"),
    [
        (None, "NULL"),
        (True, "true"),
        (7, "(7)"),
        (-7, "(-7)"),
        (2.5, "(2.5)"),
        (uuid.UUID(int=1), "'00000000-0000-0000-0000-000000000001'"),
        ("0A1B2C3D-0000-0000-0000-00000000000f", "'0A1B2C3D-0000-0000-0000-00000000000f'"),
        (dt.datetime(2026, 3, 3, tzinfo=dt.UTC), "'2026-03-03T00:00:00+00:00'"),
        (dt.datetime(2026, 3, 3, 1, 2, 3, 4), "'2026-03-03T01:02:03.000004'"),
        (dt.date(2026, 3, 3), "'2026-03-03'"),
        # free text, however harmless it looks, and what a literal cannot carry: bound
        ("resolved", None),
        ("x' OR '1'='1", None),
        ("00000000-0000-0000-0000-000000000001' OR '1'='1", None),
        ("00000000-0000-0000-0000-000000000001\n", None),
        (float("nan"), None),
        (2**63, None),
        (b"\x00", None),
    ],
)
def test_only_typed_values_become_literals(value, literal):
    assert _fetch._typed_literal(value) == literal


def test_free_text_keeps_the_statement_bound_and_cannot_inject(demo_pg_url, demo_ids):
    t = db.trees.c
    schema = {"tree_id": pl.String, "name": pl.String}
    for name in ("x' OR '1'='1", "Printer'); DROP TABLE trees; --"):
        stmt = (
            sa.select(t.id.label("tree_id"), t.name)
            .where(t.account_id == demo_ids["account_id"], t.name == name)
            .order_by(t.id)
        )
        text, params = _fetch._compile_for_arrow(stmt)
        assert name not in text and params is not None
        assert params.row(0) == (demo_ids["account_id"], name)  # the whole statement bound
        with db.connect(demo_pg_url) as conn:
            arrow, rows = _both(conn, stmt, schema)
            assert conn.execute(sa.select(sa.func.count()).select_from(db.trees)).scalar()
        assert_frame_equal(arrow, rows)
        assert arrow.height == 0


def test_the_big_reads_run_without_parameters(demo_pg_url, demo_ids):
    """The team page's two large reads reach ADBC with no parameters (so as COPY)."""
    from rfa.queries import ratings as rq

    with db.connect(demo_pg_url) as conn:
        with mock.patch.object(_fetch, "_fetch_arrow", wraps=_fetch._fetch_arrow) as arrow:
            sessions = sq.sessions_frame(conn, demo_ids["account_id"], WINDOW)
            ratings = rq.ratings_frame(conn, demo_ids["account_id"], WINDOW)
    assert sessions.height and ratings.height
    assert [call.args[3] for call in arrow.call_args_list] == [None, None]


def test_ids_read_as_bytes_reach_the_server_as_bare_uuid_columns(demo_pg_url, demo_ids):
    """``uuid_send(id)`` (ids as bytes) is sent to ADBC as the bare uuid column: ADBC reads
    a uuid as those 16 bytes, so the server runs no function per row; the bytes equal the
    row path's ``uuid_send`` values (and the text ids they stand for)."""
    from rfa.queries import ratings as rq

    with db.connect(demo_pg_url) as conn:
        with mock.patch.object(_fetch, "_fetch_arrow", wraps=_fetch._fetch_arrow) as arrow:
            compact = sq.sessions_frame(conn, demo_ids["account_id"], WINDOW, compact=True)
            ratings = rq.ratings_frame(conn, demo_ids["account_id"], WINDOW, compact=True)
        sent = [call.args[2] for call in arrow.call_args_list]
        stmt = sq._sessions_select(  # noqa: SLF001 - the compact read's statement
            demo_ids["account_id"], WINDOW, None, None, ids_as_bytes=True,
            session_id_as_bytes=True,
        )  # fmt: skip
        schema = {**sq.SESSION_SCHEMA, **dict.fromkeys(("session_id", "tree_id", "user_id"),
                  pl.Binary)}  # fmt: skip
        by_arrow, by_rows = _both(conn, stmt, schema)
        text = sq.sessions_frame(conn, demo_ids["account_id"], WINDOW)
    assert sent and all("uuid_send" not in sql_text for sql_text in sent)
    assert "sessions.id AS session_id" in sent[0]
    keys = ["started_at", "session_id"]
    assert_frame_equal(by_arrow.sort(keys), by_rows.sort(keys), check_exact=True)
    assert compact.schema["session_id"] == pl.Binary and ratings.schema["session_id"] == pl.Binary
    assert sorted(str(uuid.UUID(bytes=b)) for b in compact["session_id"]) == sorted(
        text["session_id"]
    )


def _both(conn, stmt, schema) -> tuple[pl.DataFrame, pl.DataFrame]:
    with mock.patch.object(_fetch, "_fetch_rows", side_effect=AssertionError):
        arrow = fetch(conn, stmt, schema)
    return arrow, _fetch._fetch_rows(conn, stmt, schema)


def test_in_lists_and_literals_bind_like_the_row_path(demo_pg_url, demo_ids):
    t = db.trees.c
    schema = {"tree_id": pl.String, "name": pl.String, "n": pl.Int64, "pct": pl.String}
    with db.connect(demo_pg_url) as conn:
        ids = conn.execute(sa.select(t.id).order_by(t.id).limit(3)).scalars().all()
        for values in (ids, ids[:1], []):
            stmt = (
                sa.select(
                    t.id.label("tree_id"),
                    t.name,
                    sa.literal(7, sa.BigInteger).label("n"),
                    sa.literal_column("'50%'").label("pct"),
                )
                .where(t.id.in_(values), t.name.not_in(["x", "y"]), t.name.is_not(None))
                .order_by(t.id)
            )
            arrow, rows = _both(conn, stmt, schema)
            assert_frame_equal(arrow, rows)
            assert arrow.height == len(values)


def test_bind_processing_is_applied_on_the_arrow_path(pg_server, demo_pg_url, demo_ids):
    """A naive datetime is UTC for UTCDateTime (its bind processing): a session in a time
    zone far from UTC must not shift the window — as on the row path."""
    url = f"{demo_pg_url}?options=-c%20TimeZone%3DPacific/Kiritimati"  # UTC+14
    s = db.sessions.c
    start = ANCHOR.replace(tzinfo=None) - dt.timedelta(days=20)
    end = start + dt.timedelta(hours=14)
    stmt = (
        sa.select(s.id.label("session_id"), s.started_at)
        .where(s.started_at >= start, s.started_at < end)
        .order_by(s.started_at, s.id)
    )
    schema = {"session_id": pl.String, "started_at": _fetch.UTC_TS}
    with db.connect(url) as conn:
        arrow, rows = _both(conn, stmt, schema)
    assert_frame_equal(arrow, rows)
    assert arrow.height > 0
    assert arrow["started_at"].min() >= start.replace(tzinfo=dt.UTC)
    # without the processing the bounds would be read in the session's zone: 14 h earlier
    with psycopg.connect(
        host=pg_server.host, port=pg_server.port, user=pg_server.superuser,
        dbname=make_url(demo_pg_url).database, options="-c TimeZone=Pacific/Kiritimati",
    ) as raw:  # fmt: skip
        naive = raw.execute(
            "SELECT count(*) FROM sessions WHERE started_at >= %s::timestamp::timestamptz "
            "AND started_at < %s::timestamp::timestamptz",
            (start, end),
        ).fetchone()[0]
    assert naive != arrow.height


def test_a_value_arrow_cannot_bind_takes_the_row_path(demo_pg_url):
    stmt = sa.select(sa.literal(dt.time(1, 2, 3), sa.Time).label("at"))
    with db.connect(demo_pg_url) as conn:
        with mock.patch.object(_fetch, "_fetch_rows", wraps=_fetch._fetch_rows) as rows_path:
            frame = fetch(conn, stmt, {"at": pl.Time})
    assert rows_path.call_count == 1
    assert frame["at"].to_list() == [dt.time(1, 2, 3)]


def test_labels_must_match_the_schema_on_the_arrow_path(demo_pg_url):
    with db.connect(demo_pg_url) as conn:
        with mock.patch.object(_fetch, "_fetch_rows", side_effect=AssertionError):
            with pytest.raises(ValueError, match="schema expects"):
                fetch(conn, aq.accounts_query(), {"slug": pl.String, "account_id": pl.String})


# ---------------------------------------------------------------- the connection's safety


def _app_url(url: str) -> tuple[str, str]:
    name = f"rfa-arrow-{uuid.uuid4().hex[:8]}"
    return f"{url}?application_name={name}", name


def _backends(pg_server, application_name: str) -> int:
    with pg_server.admin_connection() as admin:
        return admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
            (application_name,),
        ).fetchone()[0]


def _wait_backends(pg_server, application_name: str, expected: int, timeout: float = 10.0):
    deadline = time.monotonic() + timeout
    while (n := _backends(pg_server, application_name)) != expected:
        if time.monotonic() > deadline:
            pytest.fail(f"{n} connections named {application_name}, expected {expected}")
        time.sleep(0.05)


SETTINGS_SCHEMA = {
    "pid": pl.Int64,
    "application_name": pl.String,
    "statement_timeout": pl.String,
    "lock_timeout": pl.String,
    "transaction_read_only": pl.String,
}


def _settings_stmt() -> sa.Select:
    setting = sa.func.current_setting
    return sa.select(
        sa.func.pg_backend_pid().label("pid"),
        setting("application_name").label("application_name"),
        setting("statement_timeout").label("statement_timeout"),
        setting("lock_timeout").label("lock_timeout"),
        setting("transaction_read_only").label("transaction_read_only"),
    )


def test_arrow_connection_carries_read_only_mode_timeouts_and_application_name(demo_pg_url):
    with db.connect(demo_pg_url) as conn:
        own_pid = conn.execute(sa.select(sa.func.pg_backend_pid())).scalar()
        frame = fetch(conn, _settings_stmt(), SETTINGS_SCHEMA)
    assert frame.row(0, named=True) == {
        "pid": frame["pid"][0],
        "application_name": APPLICATION_NAME,
        "statement_timeout": "2min",
        "lock_timeout": "5s",
        "transaction_read_only": "on",
    }
    assert frame["pid"][0] != own_pid  # it ran on the ADBC connection


def test_arrow_connection_follows_the_settings_and_url(demo_pg_url, monkeypatch):
    monkeypatch.setenv("RFA_STATEMENT_TIMEOUT_MS", "4321")
    monkeypatch.setenv("RFA_LOCK_TIMEOUT_MS", "1234")
    url = f"{demo_pg_url}?options=-c%20default_transaction_read_only%3Doff&application_name=ops"
    with db.connect(url) as conn:
        frame = fetch(conn, _settings_stmt(), SETTINGS_SCHEMA)
    assert frame.select(pl.exclude("pid")).row(0) == ("ops", "4321ms", "1234ms", "on")


def test_a_write_over_the_arrow_connection_fails(demo_pg_url):
    import adbc_driver_manager

    count = sa.select(sa.func.count().label("n")).select_from(db.accounts)
    with db.connect(demo_pg_url) as conn:
        before = fetch(conn, count, {"n": pl.Int64})["n"][0]
        arrow = db.arrow_connection(conn)
        for statement in (
            "INSERT INTO accounts (id, name, slug) "
            "VALUES ('00000000-0000-4000-8000-0000000000ff', 'Intruder', 'intruder')",
            "DELETE FROM session_ratings",
            "CREATE TABLE rfa_must_not_exist (x integer)",
        ):
            stmt = adbc_driver_manager.AdbcStatement(arrow)
            try:
                stmt.set_sql_query(statement)
                with pytest.raises(adbc_driver_manager.Error, match="read-only transaction"):
                    stmt.execute_update()
            finally:
                stmt.close()
        after = fetch(conn, count, {"n": pl.Int64})["n"][0]
    assert before == after > 0


def test_runaway_arrow_fetch_is_cancelled_by_statement_timeout(demo_pg_url, monkeypatch):
    monkeypatch.setenv("RFA_STATEMENT_TIMEOUT_MS", "200")
    stmt = sa.select(sa.func.pg_sleep(5).cast(sa.Text).label("slept"))
    with db.connect(demo_pg_url) as conn:
        started = time.monotonic()
        with pytest.raises(sa.exc.OperationalError, match="statement timeout") as caught:
            fetch(conn, stmt, {"slept": pl.String})
        assert time.monotonic() - started < 3
        assert type(caught.value.orig).__module__.startswith("adbc_driver_manager")
        assert not db.is_transient(caught.value)
        # the context goes on: a new ADBC connection for the next fetch
        assert fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA).height > 0


def test_locked_table_fails_the_arrow_fetch_with_lock_timeout(pg_server, pg_url, monkeypatch):
    db.init_db(pg_url)
    monkeypatch.setenv("RFA_LOCK_TIMEOUT_MS", "200")
    with psycopg.connect(
        host=pg_server.host, port=pg_server.port, user=pg_server.superuser,
        dbname=make_url(pg_url).database, autocommit=True,
    ) as admin, admin.transaction():  # fmt: skip
        admin.execute("LOCK TABLE accounts IN ACCESS EXCLUSIVE MODE")
        with db.connect(pg_url) as conn:
            with pytest.raises(sa.exc.OperationalError, match="lock timeout"):
                fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA)


def test_one_arrow_connection_per_context_opened_lazily_and_closed(pg_server, demo_pg_url):
    url, name = _app_url(demo_pg_url)
    with db.connect(url) as conn:
        assert _backends(pg_server, name) == 1  # no ADBC connection before the first fetch
        first = fetch(conn, _settings_stmt(), SETTINGS_SCHEMA)["pid"][0]
        fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA)
        second = fetch(conn, _settings_stmt(), SETTINGS_SCHEMA)["pid"][0]
        assert first == second
        assert _backends(pg_server, name) == 2
    _wait_backends(pg_server, name, 0)


def test_arrow_connection_is_closed_when_the_context_fails(pg_server, demo_pg_url):
    url, name = _app_url(demo_pg_url)
    with pytest.raises(RuntimeError, match="page failed"):
        with db.connect(url) as conn:
            fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA)
            assert _backends(pg_server, name) == 2
            raise RuntimeError("page failed")
    _wait_backends(pg_server, name, 0)


def test_a_given_engine_keeps_no_arrow_connection_after_the_context(pg_server, demo_pg_url):
    url, name = _app_url(demo_pg_url)
    engine = db.create_engine(url)
    try:
        for _ in range(2):
            with db.connect(engine) as conn:
                fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA)
            _wait_backends(pg_server, name, 1)  # the pooled SQLAlchemy connection only
    finally:
        engine.dispose()


def test_no_arrow_connection_on_sqlite_writable_engines_or_other_connections(
    demo_sqlite_url, pg_url
):
    with db.connect(demo_sqlite_url) as conn:
        assert fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA).height > 0
        assert db.arrow_connection(conn) is None
    db.init_db(pg_url)
    writable = db.create_engine(pg_url, read_only=False)
    try:
        with db.connect(writable) as conn:
            assert db.arrow_connection(conn) is None
            assert fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA).height == 0
    finally:
        writable.dispose()
    engine = db.create_engine(pg_url)
    try:
        with engine.connect() as conn:  # not an rfa.db.connect() context
            assert db.arrow_connection(conn) is None
    finally:
        engine.dispose()


# ---------------------------------------------------------------- errors


def test_a_dropped_arrow_connection_is_transient_and_replaced(pg_server, demo_pg_url):
    url, name = _app_url(demo_pg_url)
    with db.connect(url) as conn:
        pid = fetch(conn, _settings_stmt(), SETTINGS_SCHEMA)["pid"][0]
        with pg_server.admin_connection() as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (int(pid),))
        with pytest.raises(sa.exc.DBAPIError) as caught:
            fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA)
        assert db.is_transient(caught.value)
        assert db.is_transient(caught.value.orig)  # the ADBC error itself
        again = fetch(conn, _settings_stmt(), SETTINGS_SCHEMA)["pid"][0]
        assert again != pid


@pytest.mark.parametrize(
    ("sqlstate", "message", "transient"),
    [
        ("40001", "could not serialize access", True),
        ("40P01", "deadlock detected", True),
        ("57P01", "terminating connection due to administrator command", True),
        (None, "IO: [libpq] Failed to connect: ... failed: Connection refused", True),
        ("57014", "canceling statement due to statement timeout", False),
        ("42P01", 'relation "nope" does not exist', False),
    ],
)
def test_adbc_errors_are_classified_like_psycopg_errors(sqlstate, message, transient):
    import adbc_driver_manager

    programming = sqlstate == "42P01"
    cls = (
        adbc_driver_manager.ProgrammingError
        if programming
        else adbc_driver_manager.OperationalError
    )
    error = cls(message, status_code=adbc_driver_manager.AdbcStatusCode.IO, sqlstate=sqlstate)
    wrapped = sa.exc.DBAPIError.instance("SELECT 1", (), error, adbc_driver_manager.Error)
    assert db.is_transient(error) is transient
    assert db.is_transient(wrapped) is transient


@pytest.fixture
def limited_role(pg_server, demo_pg_url) -> Iterator[str]:
    """A read-only role allowed one connection, with a password: its URL."""
    role = f"rfa_one_{uuid.uuid4().hex[:8]}"
    database = make_url(demo_pg_url).database
    with psycopg.connect(
        host=pg_server.host, port=pg_server.port, user=pg_server.superuser,
        dbname=database, autocommit=True,
    ) as admin:  # fmt: skip
        admin.execute(db.least_privilege_sql(role, database))
        admin.execute(
            sql.SQL("ALTER ROLE {} CONNECTION LIMIT 1 PASSWORD {}").format(
                sql.Identifier(role), sql.Literal(SECRET)
            )
        )
    try:
        url = make_url(demo_pg_url).set(username=role, password=SECRET)
        yield url.render_as_string(hide_password=False)
    finally:
        with psycopg.connect(
            host=pg_server.host, port=pg_server.port, user=pg_server.superuser,
            dbname=database, autocommit=True,
        ) as admin:  # fmt: skip
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s",
                (role,),
            )
            admin.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
            admin.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def test_a_failed_arrow_connect_is_database_unavailable_without_the_password(limited_role):
    with db.connect(limited_role) as conn:  # the role's one connection
        with pytest.raises(DatabaseUnavailable, match="cannot connect to database") as caught:
            fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA)
    text = str(caught.value)
    assert SECRET not in text and "***" in text, text
    assert SECRET not in str(caught.value.__cause__)
    assert not db.is_transient(caught.value)


def test_an_unreachable_arrow_server_is_retried_then_unavailable(demo_pg_url, monkeypatch):
    from postgres_server import free_port

    monkeypatch.setenv("RFA_DB_RETRIES", "2")
    dead = f"host=127.0.0.1 port={free_port()} user=postgres password={SECRET} dbname=x"
    attempts = []
    original = db._ArrowSlot._open

    def counted(self, *args):
        attempts.append(1)
        return original(self, *args)

    with (
        mock.patch.object(db._ArrowSlot, "_conninfo", lambda self: dead),
        mock.patch.object(db._ArrowSlot, "_open", counted),
        db.connect(demo_pg_url) as conn,
    ):
        with pytest.raises(DatabaseUnavailable, match="unreachable") as caught:
            fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA)
    assert len(attempts) == 2  # the connection-refused error was retried
    assert db.is_transient(caught.value.__cause__)
    assert SECRET not in str(caught.value) and SECRET not in str(caught.value.__cause__)


# ---------------------------------------------------------------- switching it off


def test_rfa_arrow_fetch_0_uses_the_row_path(pg_server, demo_pg_url, demo_ids, monkeypatch):
    url, name = _app_url(demo_pg_url)
    stmt = sq.sessions_query(demo_ids["account_id"], WINDOW)
    with db.connect(url) as conn:
        arrow = fetch(conn, stmt, sq.SESSION_SCHEMA)
    monkeypatch.setenv("RFA_ARROW_FETCH", "0")
    with db.connect(url) as conn:
        with mock.patch.object(_fetch, "_fetch_rows", wraps=_fetch._fetch_rows) as rows_path:
            rows = fetch(conn, stmt, sq.SESSION_SCHEMA)
        assert rows_path.call_count == 1
        assert db.arrow_connection(conn) is None
        assert _backends(pg_server, name) == 1
    assert_frame_equal(arrow, rows)


def test_without_adbc_the_row_path_is_used_silently(pg_server, demo_pg_url, monkeypatch):
    url, name = _app_url(demo_pg_url)
    monkeypatch.setitem(sys.modules, "adbc_driver_postgresql", None)  # import fails
    with db.connect(url) as conn:
        frame = fetch(conn, aq.accounts_query(), aq.ACCOUNT_SCHEMA)
        assert frame.height > 0
        assert db.arrow_connection(conn) is None
        assert _backends(pg_server, name) == 1
