"""Cheap fingerprints that decide whether a page must be rendered again.

A page depends on its notebook, the library version, its parameters and its
source data. The data part is, per source table the dashboard reads, the row
count and the latest timestamps of the account's rows in the page's window —
a handful of aggregate queries per (account, window), shared by every page of
that window. Equal fingerprint and a page already published → skip.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

import rfa
from rfa.db import (
    ai_session_steps,
    ai_sessions,
    flow_proposals,
    psa_post_logs,
    session_handoffs,
    session_ratings,
    sessions,
    step_ratings,
    trees,
    users,
)
from rfa.window import Window

TABLES_READ: dict[str, tuple[str, ...]] = {
    "team": ("sessions", "session_ratings", "trees", "users"),
    "personal": ("sessions", "session_ratings", "trees", "users"),
    "flow": ("sessions", "session_ratings", "step_ratings", "trees"),
    "flowpilot": ("ai_sessions", "flow_proposals", "psa_post_logs", "trees"),
    "coverage": ("ai_sessions", "flow_proposals", "trees"),
    "knowledge_gaps": ("ai_sessions", "flow_proposals", "sessions", "trees"),
    "escalations": ("session_handoffs", "ai_session_steps"),
}
"""Source tables each dashboard reads (its data fingerprint covers exactly these)."""


def _stats(*columns) -> list:
    return [sa.func.count().label("rows")] + [
        sa.func.max(c).label(f"max_{c.name}") for c in columns
    ]


def stats_queries(account_id: str, window: Window) -> dict[str, sa.Select]:
    """One aggregate SELECT per source table: rows and latest timestamps of the account's
    rows in the window (tables without a time column: all the account's rows)."""
    s, t, a = sessions.c, trees.c, ai_sessions.c
    in_window = lambda col: sa.and_(col >= window.start, col < window.end)  # noqa: E731
    by_tree = sessions.join(trees, s.tree_id == t.id)
    by_ai = a.account_id == account_id
    return {
        "sessions": sa.select(*_stats(s.started_at, s.completed_at), sa.func.count(s.outcome))
        .select_from(by_tree)
        .where(t.account_id == account_id, in_window(s.started_at)),
        "session_ratings": sa.select(*_stats(session_ratings.c.created_at)).where(
            session_ratings.c.account_id == account_id, in_window(session_ratings.c.created_at)
        ),
        "step_ratings": sa.select(*_stats(step_ratings.c.created_at))
        .select_from(
            step_ratings.join(sessions, step_ratings.c.session_id == s.id).join(
                trees, s.tree_id == t.id
            )
        )
        .where(t.account_id == account_id, in_window(s.started_at)),
        "trees": sa.select(*_stats(t.created_at), sa.func.sum(t.usage_count)).where(
            t.account_id == account_id
        ),
        "users": sa.select(sa.func.count().label("rows")).where(users.c.account_id == account_id),
        "ai_sessions": sa.select(
            *_stats(a.created_at, a.resolved_at), sa.func.count(a.status)
        ).where(by_ai, in_window(a.created_at)),
        "flow_proposals": sa.select(
            *_stats(flow_proposals.c.created_at, flow_proposals.c.reviewed_at)
        ).where(flow_proposals.c.account_id == account_id),
        "psa_post_logs": sa.select(*_stats(psa_post_logs.c.posted_at))
        .select_from(psa_post_logs.join(ai_sessions, psa_post_logs.c.ai_session_id == a.id))
        .where(by_ai, in_window(psa_post_logs.c.posted_at)),
        "session_handoffs": sa.select(
            *_stats(session_handoffs.c.created_at, session_handoffs.c.claimed_at)
        )
        .select_from(session_handoffs.join(ai_sessions, session_handoffs.c.ai_session_id == a.id))
        .where(by_ai, in_window(session_handoffs.c.created_at)),
        "ai_session_steps": sa.select(*_stats(ai_session_steps.c.created_at))
        .select_from(ai_session_steps.join(ai_sessions, ai_session_steps.c.ai_session_id == a.id))
        .where(by_ai, in_window(ai_session_steps.c.created_at)),
    }


def data_stats(conn: Connection, account_id: str, window: Window) -> dict[str, list]:
    """Run :func:`stats_queries`; table → [rows, latest timestamps…] as JSON-able values."""
    out: dict[str, list] = {}
    for table, stmt in stats_queries(account_id, window).items():
        row = conn.execute(stmt).one()
        out[table] = [v.isoformat() if hasattr(v, "isoformat") else v for v in row]
    return out


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def notebook_digest(path: Path) -> str:
    """SHA-256 of a notebook file's bytes."""
    return hashlib.sha256(path.read_bytes()).hexdigest()


def fingerprint_parts(
    dashboard: str, notebook: Path, parameters: Mapping[str, object], stats: Mapping[str, list]
) -> dict[str, str]:
    """The four parts a page depends on, each hashed: ``notebook``, ``library``,
    ``parameters`` (without the build-specific ``data_file``) and ``data`` (the stats of
    the tables :data:`TABLES_READ` lists for ``dashboard``)."""
    params = {k: v for k, v in parameters.items() if k != "data_file"}
    return {
        "notebook": notebook_digest(notebook),
        "library": rfa.__version__,
        "parameters": _digest(params),
        "data": _digest({t: stats.get(t) for t in TABLES_READ[dashboard]}),
    }


def combine(parts: Mapping[str, str]) -> str:
    """One fingerprint string from its parts."""
    return _digest(dict(parts))


def changed_parts(old: Mapping[str, str] | None, new: Mapping[str, str]) -> list[str]:
    """Names of the parts that differ (all of them when there is no previous render)."""
    if not old:
        return ["new page"]
    return [name for name in new if old.get(name) != new[name]]
