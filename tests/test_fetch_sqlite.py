"""The column read path of ``rfa.queries.fetch`` on SQLite (issue 6).

* Every query builder of :mod:`rfa.queries` (found automatically, as in
  ``test_fetch_arrow.py``) returns the same frame — columns, dtypes, values, NULLs and
  row order — through the column path and through the row path, with data, empty, and
  for another account; with its optional filters and without.
* Values the column path does not convert strictly (a uuid that is not 32 hex digits, a
  timestamp in another format) and columns with other result processors take the row
  path, so they behave exactly as before; ``RFA_ARROW_FETCH=0`` turns the path off.
* Errors raised while SQLite runs the query (during the fetch) are SQLAlchemy errors, as
  on the row path, so they are classified the same way (``rfa.db.is_transient``).
"""

from __future__ import annotations

import shutil
import sqlite3
from unittest import mock

import polars as pl
import pytest
import sqlalchemy as sa
from polars.testing import assert_frame_equal

import query_builders
from query_builders import SCHEMAS, WINDOW
from query_builders import demo_ids as ids_of
from rfa import db
from rfa.queries import _fetch, fetch
from rfa.queries import sessions as sq


@pytest.fixture(autouse=True)
def _default_settings(monkeypatch):
    monkeypatch.delenv("RFA_ARROW_FETCH", raising=False)


@pytest.fixture(scope="module")
def demo_ids(demo_sqlite_url) -> dict[str, str]:
    return ids_of(demo_sqlite_url)


@pytest.fixture(scope="module")
def compared(demo_sqlite_url, demo_ids) -> query_builders.Compared:
    """For every builder and call: ``(label, column-path frame, row-path frame)``; the
    first from the column path (the row path is not entered)."""
    return query_builders.compare_with_rows(demo_sqlite_url, demo_ids)


@pytest.mark.parametrize("name", sorted(SCHEMAS))
def test_column_and_row_paths_return_the_same_frame(compared, name):
    query_builders.assert_same_frames(compared, name)


def test_the_comparison_covers_ids_timestamps_nulls_and_empty_results(compared):
    query_builders.assert_the_comparison_covers_enough(compared)
    sessions = next(f for label, f, _ in compared["sessions_query"] if label == "data")
    assert sessions["session_id"].str.contains(r"^[0-9a-f]{8}-[0-9a-f]{4}-").all()
    assert sessions.schema["started_at"] == pl.Datetime("us", "UTC")


@pytest.fixture
def odd_copy(tmp_path, demo_sqlite_url):
    """A copy of the demo database whose rows the tests may alter."""
    from demo_db import demo_sqlite_path

    path = tmp_path / "odd.sqlite"
    shutil.copy(demo_sqlite_path(), path)
    return path


def _sessions(url: str, demo_ids: dict[str, str]) -> tuple[pl.DataFrame, pl.DataFrame, bool]:
    """The account's sessions of WINDOW by ``fetch`` and by the row path, and whether
    ``fetch`` fell back to the row path."""
    stmt = sq.sessions_query(demo_ids["account_id"], WINDOW)
    with db.connect(url) as conn:
        with mock.patch.object(_fetch, "_fetch_rows", wraps=_fetch._fetch_rows) as rows_path:
            frame = fetch(conn, stmt, sq.SESSION_SCHEMA)
        rows = _fetch._fetch_rows(conn, stmt, sq.SESSION_SCHEMA)
    return frame, rows, rows_path.called


def test_the_column_path_reads_the_demo_sessions(demo_sqlite_url, demo_ids):
    frame, rows, fell_back = _sessions(demo_sqlite_url, demo_ids)
    assert not fell_back
    assert frame.height > 50
    assert_frame_equal(frame, rows, check_exact=True)


@pytest.mark.parametrize(
    "update",
    [
        # a hyphenated uuid: uuid.UUID accepts it; so does the column path
        "UPDATE sessions SET user_id = substr(user_id,1,8)||'-'||substr(user_id,9,4)||'-'"
        "||substr(user_id,13,4)||'-'||substr(user_id,17,4)||'-'||substr(user_id,21)"
        " WHERE rowid % 7 = 0",
        # upper-case hex
        "UPDATE sessions SET user_id = upper(user_id) WHERE rowid % 5 = 0",
        # a timestamp written without its fraction
        "UPDATE sessions SET completed_at = substr(completed_at, 1, 19) WHERE rowid % 3 = 0",
    ],
)
def test_other_spellings_read_as_the_row_path_reads_them(odd_copy, demo_ids, update):
    with sqlite3.connect(odd_copy) as raw:
        raw.execute("DROP INDEX IF EXISTS ix_sessions_user_started")  # the ids change
        assert raw.execute(update).rowcount > 0
    frame, rows, _ = _sessions(f"sqlite:///{odd_copy}", demo_ids)
    assert frame.height > 50
    assert_frame_equal(frame, rows, check_exact=True)


def test_a_value_the_column_path_cannot_convert_takes_the_row_path(odd_copy, demo_ids):
    with sqlite3.connect(odd_copy) as raw:
        raw.execute("UPDATE sessions SET completed_at = 'yesterday' WHERE rowid % 11 = 0")
    url = f"sqlite:///{odd_copy}"
    stmt = sq.sessions_query(demo_ids["account_id"], WINDOW)
    with db.connect(url) as conn:
        with pytest.raises(ValueError, match="yesterday"):  # the row path's own error
            fetch(conn, stmt, sq.SESSION_SCHEMA)
    with sqlite3.connect(odd_copy) as raw:
        raw.execute("UPDATE sessions SET completed_at = NULL WHERE completed_at = 'yesterday'")
        raw.execute("UPDATE sessions SET tree_id = 'not-a-uuid' WHERE rowid % 13 = 0")
    with db.connect(url) as conn:
        rows_query = sa.select(db.sessions.c.tree_id)
        with pytest.raises(ValueError):  # uuid.UUID's error, from the row path
            fetch(conn, rows_query, {"tree_id": pl.String})


def test_a_column_with_another_result_processor_takes_the_row_path(demo_sqlite_url):
    stmt = sa.select(db.trees.c.tree_structure).limit(3)  # JSON: decoded by SQLAlchemy
    with db.connect(demo_sqlite_url) as conn:
        assert _fetch._sqlite_kinds(stmt, conn.dialect) is None
        with mock.patch.object(_fetch, "_fetch_rows", wraps=_fetch._fetch_rows) as rows_path:
            frame = fetch(conn, stmt, {"tree_structure": pl.Object})
    assert rows_path.called
    assert frame.height == 3


def test_rfa_arrow_fetch_0_reads_sqlite_row_by_row(demo_sqlite_url, demo_ids, monkeypatch):
    monkeypatch.setenv("RFA_ARROW_FETCH", "0")
    frame, rows, fell_back = _sessions(demo_sqlite_url, demo_ids)
    assert fell_back
    assert_frame_equal(frame, rows, check_exact=True)


def test_an_error_while_sqlite_runs_the_query_is_a_sqlalchemy_error(demo_sqlite_url, demo_ids):
    stmt = sq.sessions_query(demo_ids["account_id"], WINDOW)
    with db.connect(demo_sqlite_url) as conn:
        raw = conn.connection.driver_connection
        raw.set_progress_handler(lambda: 1, 1)  # interrupts the query at once
        try:
            with pytest.raises(sa.exc.OperationalError, match="interrupted") as info:
                fetch(conn, stmt, sq.SESSION_SCHEMA)
        finally:
            raw.set_progress_handler(None, 1)
    assert isinstance(info.value.orig, sqlite3.OperationalError)
    assert db.is_transient(info.value) is db.is_transient(
        sa.exc.OperationalError("x", None, sqlite3.OperationalError("interrupted"))
    )


@pytest.mark.parametrize("batch", [1, 7, "height", 100_000])
def test_batches_of_any_size_give_the_same_frame(demo_sqlite_url, demo_ids, monkeypatch, batch):
    """The cursor is read in batches (memory holds one batch of Python values); a batch
    of one row, a last partial batch, a result that is an exact multiple of the batch
    and a single batch all give the row path's frame."""
    _, rows, _ = _sessions(demo_sqlite_url, demo_ids)
    monkeypatch.setattr(_fetch, "SQLITE_BATCH_ROWS", rows.height if batch == "height" else batch)
    frame, rows, fell_back = _sessions(demo_sqlite_url, demo_ids)
    assert not fell_back
    assert_frame_equal(frame, rows, check_exact=True)
    stmt = sq.sessions_query(demo_ids["account_id"], WINDOW).where(sa.false())
    with db.connect(demo_sqlite_url) as conn:
        empty = fetch(conn, stmt, sq.SESSION_SCHEMA)
    assert empty.height == 0 and empty.schema == pl.Schema(sq.SESSION_SCHEMA)


def test_the_read_path_is_decided_once_per_context(demo_sqlite_url, demo_ids, monkeypatch):
    """Only a ``rfa.db.connect`` context's SQLite connection reads column-wise, as decided
    when it opened (the settings are not read again per query); others read rows."""
    stmt = sq.sessions_query(demo_ids["account_id"], WINDOW)
    with db.connect(demo_sqlite_url) as conn:
        assert db.column_reads(conn)
        monkeypatch.setenv("RFA_ARROW_FETCH", "0")  # after opening: no effect on it
        with mock.patch.object(_fetch, "_fetch_rows", side_effect=AssertionError):
            fetch(conn, stmt, sq.SESSION_SCHEMA)
    assert not db.column_reads(conn)
    monkeypatch.delenv("RFA_ARROW_FETCH")
    engine = sa.create_engine(demo_sqlite_url)
    try:
        with engine.connect() as plain:
            assert not db.column_reads(plain)
            with mock.patch.object(_fetch, "_fetch_rows", wraps=_fetch._fetch_rows) as rows:
                fetch(plain, stmt, sq.SESSION_SCHEMA)
            assert rows.called
    finally:
        engine.dispose()
