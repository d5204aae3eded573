"""Hand-made frames for the escalations and knowledge-gaps metric tests (query schemas)."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from factories import ts
from rfa.queries.ai_sessions import AI_SESSION_SCHEMA
from rfa.queries.gaps import FLOW_TREE_SCHEMA, OPTION_SESSION_SCHEMA, PENDING_PROPOSAL_SCHEMA
from rfa.queries.handoffs import HANDOFF_SCHEMA

CLAIM = ts("2026-11-10 09:00")


def handoffs_from_lags(lags: list[float | None], claim: dt.datetime = CLAIM) -> pl.DataFrame:
    """One claimed hand-off per lag: ``first_action_at = claim + lag`` seconds (None: no step)."""
    rows = [
        (
            f"h{i}",
            f"a{i}",
            claim - dt.timedelta(minutes=5),
            claim,
            None if lag is None else claim + dt.timedelta(seconds=lag),
        )
        for i, lag in enumerate(lags)
    ]
    return pl.DataFrame(rows, schema=HANDOFF_SCHEMA, orient="row")


def handoffs(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (handoff_id, claimed|None, first_action|None) as ``"2026-11-10 09:00:05"``."""
    data = [
        (hid, f"a-{hid}", CLAIM, ts(claimed) if claimed else None, ts(first) if first else None)
        for hid, claimed, first in rows
    ]
    return pl.DataFrame(data, schema=HANDOFF_SCHEMA, orient="row")


def ai_sessions(
    domain: str | None,
    n: int,
    *,
    tree: str | None = None,
    escalated: int = 0,
    guided: int = 0,
    discovery: int = 0,
    prefix: str = "",
) -> pl.DataFrame:
    """``n`` AI sessions of one domain: the first ``escalated`` escalated (every other one
    ``requesting_escalation``), the rest resolved; the first ``guided`` guided-tier, the next
    ``discovery`` discovery-tier, the rest exploring; all matched to ``tree`` (or none)."""
    rows = []
    for i in range(n):
        status = (
            ("escalated" if i % 2 == 0 else "requesting_escalation")
            if i < escalated
            else "resolved"
        )
        tier = "guided" if i < guided else "discovery" if i < guided + discovery else "exploring"
        rows.append((f"{prefix}{domain}-{tree}-{i}", tree, status, domain, tier))
    cols = ("ai_session_id", "tree_id", "status", "problem_domain", "confidence_tier")
    return pl.DataFrame(rows, schema={c: AI_SESSION_SCHEMA[c] for c in cols}, orient="row")


def flows(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (tree_id, name, tree_structure dict | None)."""
    data = [(t, name, None if tree is None else json.dumps(tree)) for t, name, tree in rows]
    return pl.DataFrame(data, schema=FLOW_TREE_SCHEMA, orient="row")


def pending(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (problem_domain | None, pending count)."""
    return pl.DataFrame(rows, schema=PENDING_PROPOSAL_SCHEMA, orient="row")


def option_sessions(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (session_id, tree_id, completed | None, outcome | None, [(node_id, choice)…])."""
    data = [
        (
            sid,
            tree,
            ts(done) if done else None,
            outcome,
            json.dumps(
                [{"node_id": n, "choice": c, "at": "2026-11-10T09:00:00Z"} for n, c in decisions]
            ),
        )
        for sid, tree, done, outcome, decisions in rows
    ]
    return pl.DataFrame(data, schema=OPTION_SESSION_SCHEMA, orient="row")


def repeat_sessions(
    prefix: str,
    tree: str,
    n: int,
    outcome: str | None,
    decisions: list[tuple],
    completed: str | None = "2026-11-10 10:00",
) -> list[tuple]:
    """``n`` option-session rows with the same flow, outcome and decisions."""
    return [(f"{prefix}{i}", tree, completed, outcome, decisions) for i in range(n)]
