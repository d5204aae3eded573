"""Sessions (troubleshooting-flow runs) of one account in a window.

Source table: ``sessions`` joined to ``trees`` — sessions have **no account_id**,
so every query scopes through ``trees.account_id`` (METRICS.md §1, §3). The base
set is sessions with ``started_at`` in ``[window.start, window.end)``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Literal

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import sessions, trees
from rfa.queries._fetch import UTC_TS, fetch
from rfa.window import Window

SESSION_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String,
    "tree_id": pl.String,
    "user_id": pl.String,
    "started_at": UTC_TS,
    "completed_at": UTC_TS,
    "outcome": pl.String,
}
"""Columns of :func:`sessions_frame`: ids as ``String``, timestamps aware UTC
(``completed_at`` null while a session is open), ``outcome`` null or one of
resolved / escalated / workaround / unresolved."""

COMPARISON_COLUMNS: tuple[str, ...] = ("session_id", "user_id", "started_at", "completed_at")
"""What the team page reads of the previous window, whose sessions only feed the
comparisons (counts, completion, durations, engineers) and the rated-session lookup:
fewer columns per row is most of what reading a million rows costs."""

DECISIONS_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String,
    "completed_at": UTC_TS,
    "decisions": pl.String,
}
"""Columns of :func:`decisions_frame`: ``decisions`` is the raw JSON text of the
session's list of ``{node_id, ...}`` (decoded in bulk by the metrics)."""


def _scoped(account_id: str, window: Window, tree_id: str | None, user_id: str | None):
    s, t = sessions.c, trees.c
    conds = [
        t.account_id == account_id,
        s.started_at >= window.start,
        s.started_at < window.end,
    ]
    if tree_id is not None:
        conds.append(s.tree_id == tree_id)
    if user_id is not None:
        conds.append(s.user_id == user_id)
    return sessions.join(trees, s.tree_id == t.id), conds


def _sessions_select(
    account_id: str,
    window: Window,
    tree_id: str | None,
    user_id: str | None,
    *,
    ids_as_bytes: bool = False,
    session_id_as_bytes: bool = False,
    columns: Sequence[str] | None = None,
) -> sa.Select:
    """The rows of :func:`sessions_query`, **unordered**. With ``ids_as_bytes``
    (PostgreSQL only: ``uuid_send``) ``tree_id`` and ``user_id`` are their 16 bytes
    (``Binary``) instead of text — a cast to text per row is the costliest part of reading
    a million sessions — and with ``session_id_as_bytes`` ``session_id`` too. ``columns``
    (names of :data:`SESSION_SCHEMA`, in its order) selects fewer columns."""
    s = sessions.c
    source, conds = _scoped(account_id, window, tree_id, user_id)
    selected = {
        "session_id": id_column(s.id, "session_id", session_id_as_bytes),
        "tree_id": id_column(s.tree_id, "tree_id", ids_as_bytes),
        "user_id": id_column(s.user_id, "user_id", ids_as_bytes),
        "started_at": s.started_at,
        "completed_at": s.completed_at,
        "outcome": s.outcome,
    }
    wanted = [selected[name] for name in (columns or SESSION_SCHEMA)]
    return sa.select(*wanted).select_from(source).where(*conds)


def sessions_query(
    account_id: str, window: Window, *, tree_id: str | None = None, user_id: str | None = None
) -> sa.Select:
    """Base set of METRICS.md §3: the account's sessions started in the window, ordered
    by ``started_at`` then id.

    Optional ``tree_id`` (flow dashboard) and ``user_id`` (personal dashboard)
    narrow it further. Returns the columns of :data:`SESSION_SCHEMA`.
    """
    s = sessions.c
    return _sessions_select(account_id, window, tree_id, user_id).order_by(s.started_at, s.id)


def sessions_frame(
    conn: Connection,
    account_id: str,
    window: Window,
    *,
    tree_id: str | None = None,
    user_id: str | None = None,
    compact: bool = False,
    columns: Sequence[str] | None = None,
) -> pl.DataFrame:
    """The rows of :func:`sessions_query`: a frame of :data:`SESSION_SCHEMA` in its order
    (``started_at``, then ``session_id``).

    Source: ``sessions`` joined to ``trees`` (scoped by ``trees.account_id``). Read for
    large windows (the team page reads two, up to millions of rows): the database does
    not sort (PostgreSQL spilled the sort of millions of rows to disk) — the frame is
    sorted here by the same keys (a uuid orders as its canonical text) — and on
    PostgreSQL ``tree_id`` and ``user_id`` are read as bytes and converted once per
    distinct value (:func:`ids_from_bytes`).

    ``compact=True`` (the team page: two windows of up to millions of rows) returns the
    same rows **in no particular order** with every id in the backend's compact form
    (:func:`compact_ids`): on PostgreSQL ``session_id``, ``tree_id`` and ``user_id`` are
    the uuids' 16 bytes (``Binary``: no text per row in the server nor here), on SQLite
    the usual text (:mod:`rfa.ids`). Compare such ids only with ids of the same form
    (:func:`rfa.ids.to_compact`); :func:`rfa.ids.id_text` gives a shown id its text.
    With ``compact``, ``columns`` (names of :data:`SESSION_SCHEMA`, e.g.
    :data:`COMPARISON_COLUMNS`) reads only those columns, in the schema's order.

    Raises ``ValueError`` for ``columns`` without ``compact`` or naming an unknown column;
    otherwise the errors of :func:`rfa.queries._fetch.fetch`.
    """
    if columns is not None:
        unknown = [name for name in columns if name not in SESSION_SCHEMA]
        if unknown or not compact:
            raise ValueError(
                f"columns must name columns of SESSION_SCHEMA ({', '.join(SESSION_SCHEMA)}) "
                f"and come with compact=True; got {list(columns)}, compact={compact}"
            )
        columns = [name for name in SESSION_SCHEMA if name in columns]
    as_bytes = conn.dialect.name == "postgresql"
    schema = dict(SESSION_SCHEMA)
    if as_bytes:
        schema |= {"tree_id": pl.Binary, "user_id": pl.Binary}
        if compact:
            schema["session_id"] = pl.Binary
    if columns is not None:
        schema = {name: schema[name] for name in columns}
    stmt = _sessions_select(
        account_id,
        window,
        tree_id,
        user_id,
        ids_as_bytes=as_bytes,
        session_id_as_bytes=as_bytes and compact,
        columns=columns,
    )
    frame = fetch(conn, stmt, schema)
    if compact:
        return frame
    if as_bytes:
        frame = ids_from_bytes(frame, ("tree_id", "user_id"))
    return frame.sort("started_at", "session_id")


def compact_ids(conn: Connection) -> bool:
    """Whether ``compact=True`` reads give ids as bytes on ``conn`` (PostgreSQL: ``Binary``,
    the uuid's 16 bytes) rather than text (SQLite: ``String``)."""
    return conn.dialect.name == "postgresql"


def id_column(column: sa.ColumnElement, label: str, as_bytes: bool) -> sa.ColumnElement:
    """``column`` (a ``uuid``) under ``label``: as its 16 bytes (PostgreSQL ``uuid_send``,
    a ``bytea``) when ``as_bytes``, else as usual (the query layer reads it as text)."""
    if as_bytes:
        return sa.func.uuid_send(column, type_=sa.LargeBinary).label(label)
    return column.label(label)


def ids_from_bytes(frame: pl.DataFrame, columns: tuple[str, ...]) -> pl.DataFrame:
    """``frame`` with each of ``columns`` (``Binary``: the 16 bytes of a uuid, as read by
    ``uuid_send``) replaced by the uuid's canonical text (``String``, lowercase with
    hyphens — what ``CAST(uuid AS TEXT)`` gives), nulls kept. Each distinct value is
    converted once, so this is cheap for low-cardinality ids (flows, engineers).
    Raises ``ValueError`` for a value that is not 16 bytes."""
    for column in columns:
        values = frame[column].unique().drop_nulls().to_list()
        texts = [str(uuid.UUID(bytes=value)) for value in values]
        frame = frame.with_columns(
            pl.col(column).replace_strict(values, texts, default=None, return_dtype=pl.String)
            if values
            else pl.col(column).cast(pl.String)
        )
    return frame


BUSIEST_SCHEMA: dict[str, pl.DataType] = {"id": pl.String, "sessions": pl.Int64}
"""Columns of :func:`busiest_frame`: a flow or engineer id and its sessions in the window."""


def busiest_query(
    account_id: str, window: Window, by: Literal["tree_id", "user_id"], n: int = 1
) -> sa.Select:
    """The ``n`` flows (``by="tree_id"``) or engineers (``by="user_id"``) with most
    sessions started in the window, most first, ties by smallest id — the same ranking
    as :func:`rfa.metrics.sessions.busiest`, counted in the database (one row per id
    leaves it, not one per session). Returns :data:`BUSIEST_SCHEMA`."""
    if by not in ("tree_id", "user_id"):
        raise ValueError(f"by must be 'tree_id' or 'user_id', not {by!r}")
    source, conds = _scoped(account_id, window, None, None)
    key = sessions.c[by]
    count = sa.func.count().label("sessions")
    return (
        sa.select(key.label("id"), count)
        .select_from(source)
        .where(*conds)
        .group_by(key)
        .order_by(count.desc(), key)
        .limit(n)
    )


def busiest_frame(
    conn: Connection,
    account_id: str,
    window: Window,
    by: Literal["tree_id", "user_id"],
    n: int = 1,
) -> pl.DataFrame:
    """Run :func:`busiest_query`; a frame of :data:`BUSIEST_SCHEMA`."""
    return fetch(conn, busiest_query(account_id, window, by, n), BUSIEST_SCHEMA)


def decisions_query(account_id: str, window: Window, tree_id: str) -> sa.Select:
    """The flow's sessions in the window with their ``decisions`` JSON as text.

    Source: ``sessions.decisions`` (JSONB on PostgreSQL), METRICS.md §3 step table.
    Returns the columns of :data:`DECISIONS_SCHEMA`.
    """
    s = sessions.c
    source, conds = _scoped(account_id, window, tree_id, None)
    return (
        sa.select(
            s.id.label("session_id"),
            s.completed_at,
            sa.cast(s.decisions, sa.Text).label("decisions"),
        )
        .select_from(source)
        .where(*conds)
        .order_by(s.started_at, s.id)
    )


def decisions_frame(
    conn: Connection, account_id: str, window: Window, tree_id: str
) -> pl.DataFrame:
    """Run :func:`decisions_query`; a frame of :data:`DECISIONS_SCHEMA`."""
    return fetch(conn, decisions_query(account_id, window, tree_id), DECISIONS_SCHEMA)


def flow_structure(conn: Connection, account_id: str, tree_id: str) -> dict:
    """The flow's ``tree_structure`` (nested node dict), ``{}`` when absent.

    Scoped to the account: another account's flow id gives ``{}``.
    """
    t = trees.c
    value = conn.execute(
        sa.select(t.tree_structure).where(t.id == tree_id, t.account_id == account_id)
    ).scalar()
    return value if isinstance(value, dict) else {}
