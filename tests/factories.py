"""Small hand-made frames with the query layer's exact schemas, for metric unit tests."""

from __future__ import annotations

import datetime as dt
import json

import polars as pl

from rfa.queries.ratings import RATING_SCHEMA, RATING_WITH_ENGINEER_SCHEMA, STEP_RATING_SCHEMA
from rfa.queries.sessions import DECISIONS_SCHEMA, SESSION_SCHEMA

UTC = dt.UTC


def ts(text: str) -> dt.datetime:
    """``"2026-11-01 10:00"`` → aware UTC datetime."""
    return dt.datetime.fromisoformat(text).replace(tzinfo=UTC)


def sessions(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (session_id, tree_id, user_id, started, completed|None, outcome|None)."""
    data = [
        (sid, tree, user, ts(start), ts(end) if end else None, outcome)
        for sid, tree, user, start, end, outcome in rows
    ]
    return pl.DataFrame(data, schema=SESSION_SCHEMA, orient="row")


def ratings(rows: list[tuple], with_engineer: bool = False) -> pl.DataFrame:
    """Rows of (session_id, tree_id, rating, comment, created[, engineer_id])."""
    schema = RATING_WITH_ENGINEER_SCHEMA if with_engineer else RATING_SCHEMA
    data = [(r[0], r[1], r[2], r[3], ts(r[4]), *r[5:]) for r in rows]
    return pl.DataFrame(data, schema=schema, orient="row")


def decisions(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (session_id, completed|None, [node ids])."""
    data = [
        (sid, ts(end) if end else None, json.dumps([{"node_id": n, "choice": "x"} for n in nodes]))
        for sid, end, nodes in rows
    ]
    return pl.DataFrame(data, schema=DECISIONS_SCHEMA, orient="row")


def thumbs(rows: list[tuple]) -> pl.DataFrame:
    """Rows of (step_id, session_id, was_helpful)."""
    return pl.DataFrame(rows, schema=STEP_RATING_SCHEMA, orient="row")
