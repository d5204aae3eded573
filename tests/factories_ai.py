"""Small hand-made FlowPilot frames with the query layer's exact schemas (METRICS.md §4 tests)."""

from __future__ import annotations

import polars as pl

from factories import ts
from rfa.queries.accounts import FLOW_SCHEMA
from rfa.queries.ai_sessions import AI_SESSION_SCHEMA
from rfa.queries.proposals import PROPOSAL_SCHEMA
from rfa.queries.psa import PSA_POST_SCHEMA


def ai(
    sid: str,
    status: str,
    *,
    domain: str | None = None,
    tier: str | None = None,
    tree: str | None = None,
    steps: int | None = None,
    rating: int | None = None,
    ticket: str | None = None,
    conf: float | None = None,
    created: str = "2026-11-10 10:00",
    resolved: str | None = None,
    user: str = "u1",
) -> dict:
    """One AI session row (times as ``"2026-11-10 10:00"`` UTC)."""
    return {
        "ai_session_id": sid,
        "user_id": user,
        "tree_id": tree,
        "status": status,
        "problem_domain": domain,
        "confidence_tier": tier,
        "step_count": steps,
        "session_rating": rating,
        "psa_ticket_id": ticket,
        "match_confidence": conf,
        "created_at": ts(created),
        "resolved_at": ts(resolved) if resolved else None,
    }


def ai_sessions(rows: list[dict]) -> pl.DataFrame:
    """A frame of ``AI_SESSION_SCHEMA`` from :func:`ai` rows."""
    return pl.DataFrame(rows, schema=AI_SESSION_SCHEMA)


def flows(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (tree_id, name, tree_type, origin[, created]) as a frame of the flows
    query's schema (``created`` as ``"2026-11-10 10:00"`` UTC; None when left out)."""
    data = [(*r[:4], ts(r[4]) if len(r) > 4 and r[4] else None) for r in rows]
    return pl.DataFrame(data, schema=FLOW_SCHEMA, orient="row")


def proposals(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (proposal_id, status, proposal_type, domain, created, reviewed|None)."""
    data = [(p, s, t, d, ts(c), ts(r) if r else None) for p, s, t, d, c, r in rows]
    return pl.DataFrame(data, schema=PROPOSAL_SCHEMA, orient="row")


def posts(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (post_id, ai_session_id, post_type, status, retry_count, hours, posted|None)."""
    data = [(p, a, t, s, r, h, ts(at) if at else None) for p, a, t, s, r, h, at in rows]
    return pl.DataFrame(data, schema=PSA_POST_SCHEMA, orient="row")
