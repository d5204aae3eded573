"""PSA post logs (``psa_post_logs``) of one account's FlowPilot sessions.

Source table: ``psa_post_logs`` joined to ``ai_sessions`` — post logs have **no
account_id**, so every query scopes through ``ai_sessions.account_id``
(METRICS.md §1, §4 PSA). Two sets:

* :func:`psa_posts_query` — posts with ``posted_at`` in the window (push success
  rates, time entries, hours, daily trend);
* :func:`session_psa_posts_query` — posts of the AI sessions *created* in the
  window (the funnel), posted before the window's end.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import ai_sessions, psa_post_logs
from rfa.queries._fetch import UTC_TS, fetch
from rfa.queries.storage import readable, unreadable
from rfa.window import Window

PSA_POST_SCHEMA: dict[str, pl.DataType] = {
    "post_id": pl.String,
    "ai_session_id": pl.String,
    "post_type": pl.String,
    "status": pl.String,
    "retry_count": pl.Int64,
    "hours": pl.Float64,
    "posted_at": UTC_TS,
}
"""Columns of both frames: ``post_type`` one of ticket_note / doc / time_entry;
``status`` success / failed; ``retry_count`` retries before the final status
(``Int64``, 0 = first try); ``hours`` logged by a time entry (``Float64``, null
for other post types); ``posted_at`` aware UTC."""


def _columns() -> list:
    p = psa_post_logs.c
    return [
        p.id.label("post_id"),
        p.ai_session_id,
        p.post_type,
        p.status,
        readable(p.retry_count),  # SQLite text in a number column reads as missing
        readable(p.hours),
        readable(p.posted_at),
    ]


def _source():
    return psa_post_logs.join(ai_sessions, psa_post_logs.c.ai_session_id == ai_sessions.c.id)


def psa_posts_query(account_id: str, window: Window) -> sa.Select:
    """PSA posts of the account's AI sessions with ``posted_at`` in the window.

    METRICS.md §4 PSA: push success rates, time entries, hours, daily trend.
    Returns :data:`PSA_POST_SCHEMA` ordered by ``posted_at``, id.
    """
    p, a = psa_post_logs.c, ai_sessions.c
    return (
        sa.select(*_columns())
        .select_from(_source())
        .where(
            a.account_id == account_id,
            p.posted_at >= window.start,
            p.posted_at < window.end,
            sa.not_(unreadable(p.posted_at)),
        )
        .order_by(p.posted_at, p.id)
    )


def psa_posts_frame(conn: Connection, account_id: str, window: Window) -> pl.DataFrame:
    """Run :func:`psa_posts_query`; a frame of :data:`PSA_POST_SCHEMA`."""
    return fetch(conn, psa_posts_query(account_id, window), PSA_POST_SCHEMA)


def session_psa_posts_query(account_id: str, window: Window) -> sa.Select:
    """PSA posts of the account's AI sessions created in the window (the funnel base set).

    METRICS.md §4 PSA funnel. Posts dated at or after ``window.end`` are left out
    so a page with a past ``as_of`` stays reproducible; posts without a
    ``posted_at`` are kept. Returns :data:`PSA_POST_SCHEMA` ordered by session, id.
    """
    p, a = psa_post_logs.c, ai_sessions.c
    return (
        sa.select(*_columns())
        .select_from(_source())
        .where(
            a.account_id == account_id,
            a.created_at >= window.start,
            a.created_at < window.end,
            sa.or_(p.posted_at.is_(None), p.posted_at < window.end),
            sa.not_(unreadable(p.posted_at)),  # unreadable: not taken for "undated"
        )
        .order_by(p.ai_session_id, p.id)
    )


def session_psa_posts_frame(conn: Connection, account_id: str, window: Window) -> pl.DataFrame:
    """Run :func:`session_psa_posts_query`; a frame of :data:`PSA_POST_SCHEMA`."""
    return fetch(conn, session_psa_posts_query(account_id, window), PSA_POST_SCHEMA)


def unreadable_psa_posts_query(account_id: str, window: Window) -> sa.Select:
    """How many PSA posts of the account's AI sessions hold a value SQLite cannot read as
    its column's type (:mod:`rfa.queries.storage`; 0 on PostgreSQL): a ``posted_at``
    that is not a readable timestamp (any date: such a post is in no window and in no
    funnel), or — posted in the window — a ``retry_count`` or ``hours`` that is not a
    number (read as missing). Issue 16 §12. Scoped through ``ai_sessions.account_id``.
    Returns :data:`rfa.queries.storage.UNREADABLE_SCHEMA`."""
    p, a = psa_post_logs.c, ai_sessions.c
    in_window = sa.and_(p.posted_at >= window.start, p.posted_at < window.end)
    return (
        sa.select(sa.func.count().label("unreadable"))
        .select_from(_source())
        .where(
            a.account_id == account_id,
            sa.or_(
                unreadable(p.posted_at),
                sa.and_(in_window, unreadable(p.retry_count, p.hours)),
            ),
        )
    )
