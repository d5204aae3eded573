"""Inputs of the knowledge-gaps report (METRICS.md §4, last row "knowledge gaps").

The AI sessions of the window come from :func:`rfa.queries.ai_sessions.ai_sessions_query`
(the report reads its ``ai_session_id, tree_id, status, problem_domain,
confidence_tier`` columns). Three more account-scoped builders:

* :func:`pending_proposals_query` — pending ``flow_proposals`` per problem domain
  (any age, as the knowledge-coverage row counts them);
* :func:`option_sessions_query` — troubleshooting ``sessions`` of every flow of
  the account (scoped through ``trees.account_id``) started in the window, with
  their outcome and ``decisions`` JSON as text (decoded in bulk by the metric);
* :func:`flow_trees_query` — the account's flows with ``tree_structure`` as JSON
  text, for flow names and step titles.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import flow_proposals, sessions, trees
from rfa.queries._fetch import UTC_TS, fetch
from rfa.window import Window

PENDING_PROPOSAL_SCHEMA: dict[str, pl.DataType] = {
    "problem_domain": pl.String,
    "pending": pl.Int64,
}
"""Columns of :func:`pending_proposals_frame`: one row per domain (null domain
included as its own row) with the count of proposals whose status is ``pending``."""

OPTION_SESSION_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String,
    "tree_id": pl.String,
    "completed_at": UTC_TS,
    "outcome": pl.String,
    "decisions": pl.String,
}
"""Columns of :func:`option_sessions_frame`: ``decisions`` is the raw JSON text of
the session's list of ``{node_id, choice, at}``; ``completed_at``/``outcome`` null
while the session is open."""

FLOW_TREE_SCHEMA: dict[str, pl.DataType] = {
    "tree_id": pl.String,
    "name": pl.String,
    "tree_structure": pl.String,
}
"""Columns of :func:`flow_trees_frame`: ``tree_structure`` is the flow's nested
node dict as JSON text (null when absent)."""


def pending_proposals_query(account_id: str) -> sa.Select:
    """Pending flow proposals of the account per problem domain, any age.

    Source: ``flow_proposals`` with ``status = 'pending'`` (METRICS.md §4
    knowledge_coverage counts pending proposals regardless of age). Returns
    :data:`PENDING_PROPOSAL_SCHEMA`, ordered by domain (nulls last).
    """
    p = flow_proposals.c
    return (
        sa.select(p.problem_domain, sa.func.count(p.id).label("pending"))
        .where(p.account_id == account_id, p.status == "pending")
        .group_by(p.problem_domain)
        .order_by(p.problem_domain.asc().nulls_last())
    )


def pending_proposals_frame(conn: Connection, account_id: str) -> pl.DataFrame:
    """Run :func:`pending_proposals_query`; a frame of :data:`PENDING_PROPOSAL_SCHEMA`."""
    return fetch(conn, pending_proposals_query(account_id), PENDING_PROPOSAL_SCHEMA)


def option_sessions_query(account_id: str, window: Window) -> sa.Select:
    """Every flow's sessions started in the window, with outcome and decisions as text.

    Sessions have no account column: scoped through ``trees.account_id``
    (METRICS.md §1). The same base set as METRICS.md §3 (``started_at`` in the
    window), over all flows of the account. Returns :data:`OPTION_SESSION_SCHEMA`.
    """
    s, t = sessions.c, trees.c
    return (
        sa.select(
            s.id.label("session_id"),
            s.tree_id,
            s.completed_at,
            s.outcome,
            sa.cast(s.decisions, sa.Text).label("decisions"),
        )
        .select_from(sessions.join(trees, s.tree_id == t.id))
        .where(
            t.account_id == account_id,
            s.started_at >= window.start,
            s.started_at < window.end,
        )
        .order_by(s.started_at, s.id)
    )


def option_sessions_frame(conn: Connection, account_id: str, window: Window) -> pl.DataFrame:
    """Run :func:`option_sessions_query`; a frame of :data:`OPTION_SESSION_SCHEMA`."""
    return fetch(conn, option_sessions_query(account_id, window), OPTION_SESSION_SCHEMA)


def flow_trees_query(account_id: str) -> sa.Select:
    """The account's flows with their ``tree_structure`` as JSON text, ordered by name, id.

    Returns :data:`FLOW_TREE_SCHEMA`.
    """
    t = trees.c
    return (
        sa.select(
            t.id.label("tree_id"),
            t.name,
            sa.cast(t.tree_structure, sa.Text).label("tree_structure"),
        )
        .where(t.account_id == account_id)
        .order_by(t.name, t.id)
    )


def flow_trees_frame(conn: Connection, account_id: str) -> pl.DataFrame:
    """Run :func:`flow_trees_query`; a frame of :data:`FLOW_TREE_SCHEMA`."""
    return fetch(conn, flow_trees_query(account_id), FLOW_TREE_SCHEMA)
