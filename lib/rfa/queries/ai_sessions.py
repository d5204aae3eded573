"""FlowPilot AI sessions of one account in a window.

Source table: ``ai_sessions``, scoped by its own ``account_id`` (METRICS.md §1,
§4). The base set is AI sessions with ``created_at`` in ``[window.start,
window.end)``. Flow names and types come from the account's flows
(:func:`rfa.queries.accounts.flows_query`), never from a join, so an AI session
whose ``tree_id`` is not a flow of the account is still counted (and reported
under data quality).
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import ai_sessions
from rfa.queries._fetch import UTC_TS, fetch
from rfa.queries.storage import readable, unreadable
from rfa.window import Window

AI_SESSION_SCHEMA: dict[str, pl.DataType] = {
    "ai_session_id": pl.String,
    "user_id": pl.String,
    "tree_id": pl.String,
    "status": pl.String,
    "problem_domain": pl.String,
    "confidence_tier": pl.String,
    "step_count": pl.Int64,
    "session_rating": pl.Int64,
    "psa_ticket_id": pl.String,
    "match_confidence": pl.Float64,
    "created_at": UTC_TS,
    "resolved_at": UTC_TS,
}
"""Columns of :func:`ai_sessions_frame`: ids as ``String`` (``tree_id`` = the
matched flow, null when none matched); ``status`` one of active / resolved /
escalated / requesting_escalation / abandoned; ``confidence_tier`` guided /
exploring / discovery; ``step_count`` and ``session_rating`` (1–5, nullable)
``Int64``; ``match_confidence`` a 0–1 ``Float64`` (null without a match);
timestamps aware UTC (``resolved_at`` null unless resolved)."""


def ai_sessions_query(account_id: str, window: Window) -> sa.Select:
    """Base set of METRICS.md §4: the account's AI sessions created in the window.

    Source: ``ai_sessions`` filtered on ``account_id`` and ``created_at``.
    Returns the columns of :data:`AI_SESSION_SCHEMA`, ordered by creation time.
    """
    a = ai_sessions.c
    return (
        sa.select(
            a.id.label("ai_session_id"),
            a.user_id,
            a.tree_id,
            a.status,
            a.problem_domain,
            a.confidence_tier,
            readable(a.step_count),  # SQLite text in a number column reads as missing
            readable(a.session_rating),
            a.psa_ticket_id,
            readable(a.match_confidence),
            readable(a.created_at),
            readable(a.resolved_at),
        )
        .where(
            a.account_id == account_id,
            a.created_at >= window.start,
            a.created_at < window.end,
            sa.not_(unreadable(a.created_at)),
        )
        .order_by(a.created_at, a.id)
    )


def ai_sessions_frame(conn: Connection, account_id: str, window: Window) -> pl.DataFrame:
    """Run :func:`ai_sessions_query`; a frame of :data:`AI_SESSION_SCHEMA`."""
    return fetch(conn, ai_sessions_query(account_id, window), AI_SESSION_SCHEMA)


def unreadable_ai_sessions_query(account_id: str, window: Window) -> sa.Select:
    """How many of the account's AI sessions hold a value SQLite cannot read as its
    column's type (:mod:`rfa.queries.storage`; 0 on PostgreSQL): a ``created_at`` that is
    not a readable timestamp (any date: such a session is in no window and
    :func:`ai_sessions_query` leaves it out), or — created in the window — a
    ``step_count``, ``session_rating``, ``match_confidence`` or ``resolved_at`` that is not
    a number / timestamp (read as missing). Issue 16 §12. Scoped by
    ``ai_sessions.account_id``. Returns :data:`rfa.queries.storage.UNREADABLE_SCHEMA`."""
    a = ai_sessions.c
    in_window = sa.and_(a.created_at >= window.start, a.created_at < window.end)
    values = unreadable(a.step_count, a.session_rating, a.match_confidence, a.resolved_at)
    return sa.select(sa.func.count().label("unreadable")).where(
        a.account_id == account_id,
        sa.or_(unreadable(a.created_at), sa.and_(in_window, values)),
    )
