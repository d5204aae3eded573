"""Escalation hand-offs (``session_handoffs``) of one account, with the first action after claim.

Source tables: ``session_handoffs`` (no account column: scoped through
``ai_sessions.account_id``) and ``ai_session_steps``. METRICS.md §5 "Escalation
time-to-first-action": for each hand-off of the account with ``claimed_at`` in
``[window.start, window.end)``, the first ``ai_session_steps.created_at``
**strictly after** ``claimed_at`` on the same AI session. The first step is
computed in SQL by a correlated scalar subquery (``MIN`` over the session's
later steps, served by the ``(ai_session_id, created_at)`` index); it is the
same expression on SQLite and PostgreSQL.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import ai_session_steps, ai_sessions, session_handoffs
from rfa.queries._fetch import UTC_TS, fetch
from rfa.window import Window

HANDOFF_SCHEMA: dict[str, pl.DataType] = {
    "handoff_id": pl.String,
    "ai_session_id": pl.String,
    "created_at": UTC_TS,
    "claimed_at": UTC_TS,
    "first_action_at": UTC_TS,
}
"""Columns of :func:`claimed_handoffs_frame`: ids as ``String``; ``created_at``
(hand-off requested), ``claimed_at`` (never null here) and ``first_action_at``
(the first step strictly after the claim, null when there is none) as aware UTC."""

UNCLAIMED_SCHEMA: dict[str, pl.DataType] = {"n_unclaimed": pl.Int64}
"""Columns of :func:`unclaimed_count_query`: one row, the count of unclaimed hand-offs."""


def first_action_at() -> sa.ScalarSelect:
    """``MIN(ai_session_steps.created_at)`` strictly after the hand-off's ``claimed_at``.

    A scalar subquery correlated with ``session_handoffs`` (same ``ai_session_id``,
    ``created_at > claimed_at``); NULL when the session has no such step.
    """
    st, h = ai_session_steps.c, session_handoffs.c
    return (
        sa.select(sa.func.min(st.created_at))
        .where(st.ai_session_id == h.ai_session_id, st.created_at > h.claimed_at)
        .correlate(session_handoffs)
        .scalar_subquery()
    )


def claimed_handoffs_query(account_id: str, window: Window) -> sa.Select:
    """The account's hand-offs claimed in the window, with their first action after the claim.

    METRICS.md §5. Scoped by ``ai_sessions.account_id``; ``claimed_at`` in
    ``[window.start, window.end)`` (so unclaimed hand-offs are excluded).
    Returns the columns of :data:`HANDOFF_SCHEMA`, ordered by ``claimed_at``, id.
    """
    h, a = session_handoffs.c, ai_sessions.c
    return (
        sa.select(
            h.id.label("handoff_id"),
            h.ai_session_id,
            h.created_at,
            h.claimed_at,
            first_action_at().label("first_action_at"),
        )
        .select_from(session_handoffs.join(ai_sessions, h.ai_session_id == a.id))
        .where(
            a.account_id == account_id,
            h.claimed_at >= window.start,
            h.claimed_at < window.end,
        )
        .order_by(h.claimed_at, h.id)
    )


def claimed_handoffs_frame(conn: Connection, account_id: str, window: Window) -> pl.DataFrame:
    """Run :func:`claimed_handoffs_query`; a frame of :data:`HANDOFF_SCHEMA`."""
    return fetch(conn, claimed_handoffs_query(account_id, window), HANDOFF_SCHEMA)


def unclaimed_count_query(account_id: str, window: Window) -> sa.Select:
    """How many of the account's hand-offs created in the window were never claimed.

    Context for the escalations page (METRICS.md §5 excludes them from every
    statistic): ``claimed_at IS NULL`` and ``created_at`` in the window, scoped
    by ``ai_sessions.account_id``. Returns :data:`UNCLAIMED_SCHEMA` (one row).
    """
    h, a = session_handoffs.c, ai_sessions.c
    return (
        sa.select(sa.func.count(h.id).label("n_unclaimed"))
        .select_from(session_handoffs.join(ai_sessions, h.ai_session_id == a.id))
        .where(
            a.account_id == account_id,
            h.claimed_at.is_(None),
            h.created_at >= window.start,
            h.created_at < window.end,
        )
    )


def unclaimed_count(conn: Connection, account_id: str, window: Window) -> int:
    """Run :func:`unclaimed_count_query`; the count as an ``int`` (0 when none)."""
    frame = fetch(conn, unclaimed_count_query(account_id, window), UNCLAIMED_SCHEMA)
    return int(frame["n_unclaimed"][0] or 0)
