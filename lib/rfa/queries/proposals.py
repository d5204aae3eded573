"""Flow proposals (``flow_proposals``) of one account: the review queue of FlowPilot.

Source table: ``flow_proposals``, scoped by its own ``account_id`` (METRICS.md
§1, §4 knowledge_coverage). The builder returns the proposals the coverage
counts need: every proposal still **pending** that was created before the
window's end (any age), and every proposal **reviewed** in the window
(``reviewed_at`` in ``[window.start, window.end)``, whatever its status).
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import flow_proposals
from rfa.queries._fetch import UTC_TS, fetch
from rfa.queries.storage import readable, unreadable
from rfa.window import Window

PROPOSAL_SCHEMA: dict[str, pl.DataType] = {
    "proposal_id": pl.String,
    "status": pl.String,
    "proposal_type": pl.String,
    "problem_domain": pl.String,
    "created_at": UTC_TS,
    "reviewed_at": UTC_TS,
}
"""Columns of :func:`proposals_frame`: ``status`` one of pending / approved /
modified / rejected / dismissed; ``proposal_type`` e.g. new_flow / enhancement;
timestamps aware UTC (``reviewed_at`` null while pending)."""


def proposals_query(account_id: str, window: Window) -> sa.Select:
    """Pending proposals created before ``window.end`` and proposals reviewed in the window.

    METRICS.md §4 knowledge_coverage (proposals pending, approved or modified,
    rejected). Returns :data:`PROPOSAL_SCHEMA` ordered by ``created_at``, id.
    """
    p = flow_proposals.c
    pending = sa.and_(
        p.status == "pending", p.created_at < window.end, sa.not_(unreadable(p.created_at))
    )
    reviewed = sa.and_(
        p.reviewed_at >= window.start,
        p.reviewed_at < window.end,
        sa.not_(unreadable(p.reviewed_at)),
    )
    return (
        sa.select(
            p.id.label("proposal_id"),
            p.status,
            p.proposal_type,
            p.problem_domain,
            readable(p.created_at),  # SQLite text that is no timestamp reads as missing
            readable(p.reviewed_at),
        )
        .where(p.account_id == account_id, sa.or_(pending, reviewed))
        .order_by(p.created_at, p.id)
    )


def proposals_frame(conn: Connection, account_id: str, window: Window) -> pl.DataFrame:
    """Run :func:`proposals_query`; a frame of :data:`PROPOSAL_SCHEMA`."""
    return fetch(conn, proposals_query(account_id, window), PROPOSAL_SCHEMA)


def unreadable_proposals_query(account_id: str) -> sa.Select:
    """How many of the account's flow proposals, of any date, have a ``created_at`` or
    ``reviewed_at`` that is not a readable timestamp (SQLite only,
    :mod:`rfa.queries.storage`; 0 elsewhere): such a proposal is in no window's counts
    (issue 16 §12). Scoped by ``flow_proposals.account_id``. Returns
    :data:`rfa.queries.storage.UNREADABLE_SCHEMA`."""
    p = flow_proposals.c
    return sa.select(sa.func.count().label("unreadable")).where(
        p.account_id == account_id, unreadable(p.created_at, p.reviewed_at)
    )
