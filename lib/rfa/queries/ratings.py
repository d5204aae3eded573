"""CSAT ratings (``session_ratings``) and step thumbs (``step_ratings``) of one account.

Source tables: ``session_ratings`` (scoped by its ``account_id`` and, for the
flow filter, by ``trees.account_id``) and ``step_ratings`` (no account column:
scoped through ``sessions`` → ``trees.account_id``). METRICS.md §3.
"""

from __future__ import annotations

import polars as pl
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from rfa.db import session_ratings, sessions, step_ratings, trees
from rfa.queries._fetch import UTC_TS, fetch
from rfa.window import Window

RATING_SCHEMA: dict[str, pl.DataType] = {
    "session_id": pl.String,
    "tree_id": pl.String,
    "rating": pl.Int64,
    "comment": pl.String,
    "created_at": UTC_TS,
}
"""Columns of :func:`ratings_frame` without the engineer: no rater id or name."""

RATING_WITH_ENGINEER_SCHEMA: dict[str, pl.DataType] = {**RATING_SCHEMA, "engineer_id": pl.String}
"""Columns with ``engineer_id`` = the rated session's ``user_id`` (team/personal pages)."""

STEP_RATING_SCHEMA: dict[str, pl.DataType] = {
    "step_id": pl.String,
    "session_id": pl.String,
    "was_helpful": pl.Boolean,
}
"""Columns of :func:`step_ratings_frame`: ``step_id`` is the rated node id."""


def ratings_query(
    account_id: str,
    window: Window,
    *,
    tree_id: str | None = None,
    engineer_id: str | None = None,
    with_engineer: bool = False,
) -> sa.Select:
    """CSAT ratings of the account with ``created_at`` in the window.

    ``tree_id`` narrows to one flow; ``engineer_id`` to ratings of sessions that
    engineer ran. ``with_engineer`` adds ``engineer_id`` (the session's user);
    the flow page never asks for it, so no rater identity leaves the database.
    Returns :data:`RATING_SCHEMA` (+ ``engineer_id``).
    """
    r, s, t = session_ratings.c, sessions.c, trees.c
    cols = [r.session_id, r.tree_id, r.rating, r.comment, r.created_at]
    if with_engineer:
        cols.append(s.user_id.label("engineer_id"))
    conds = [
        r.account_id == account_id,
        t.account_id == account_id,
        r.created_at >= window.start,
        r.created_at < window.end,
    ]
    if tree_id is not None:
        conds.append(r.tree_id == tree_id)
    if engineer_id is not None:
        conds.append(s.user_id == engineer_id)
    source = session_ratings.join(trees, r.tree_id == t.id)
    if with_engineer or engineer_id is not None:
        source = source.join(sessions, r.session_id == s.id)
    return sa.select(*cols).select_from(source).where(*conds).order_by(r.created_at, r.id)


def ratings_frame(
    conn: Connection,
    account_id: str,
    window: Window,
    *,
    tree_id: str | None = None,
    engineer_id: str | None = None,
    with_engineer: bool = False,
) -> pl.DataFrame:
    """Run :func:`ratings_query`; see its schemas."""
    schema = RATING_WITH_ENGINEER_SCHEMA if with_engineer else RATING_SCHEMA
    stmt = ratings_query(
        account_id, window, tree_id=tree_id, engineer_id=engineer_id, with_engineer=with_engineer
    )
    return fetch(conn, stmt, schema)


RATED_SESSION_SCHEMA: dict[str, pl.DataType] = {"session_id": pl.String, "user_id": pl.String}
"""Columns of :func:`rated_sessions_frame`: the rated session and who ran it."""


def rated_sessions_query(
    account_id: str, window: Window, *, tree_id: str | None = None
) -> sa.Select:
    """The account's sessions, of any start time, that the window's ratings point at.

    The ratings are those of :func:`ratings_query` (same account, window and flow);
    sessions are scoped through ``trees.account_id`` like every session query. A rating
    whose session is not returned is an orphan (``rating_orphan`` of
    :mod:`rfa.validation`); the team page takes the rated engineer from ``user_id``.
    One query (not one per batch of ids): a plain join from the window's ratings, which
    the planner drives from the ratings' index (an ``IN (subquery)`` form made PostgreSQL
    loop over every flow × rating).
    Returns :data:`RATED_SESSION_SCHEMA`, ordered by session id.
    """
    r, s = session_ratings.c, sessions.c
    rating_trees, session_trees = trees.alias("rating_trees"), trees.alias("session_trees")
    conds = [
        r.account_id == account_id,
        rating_trees.c.account_id == account_id,
        session_trees.c.account_id == account_id,
        r.created_at >= window.start,
        r.created_at < window.end,
    ]
    if tree_id is not None:
        conds.append(r.tree_id == tree_id)
    source = (
        session_ratings.join(rating_trees, r.tree_id == rating_trees.c.id)
        .join(sessions, r.session_id == s.id)
        .join(session_trees, s.tree_id == session_trees.c.id)
    )
    return (
        sa.select(s.id.label("session_id"), s.user_id)
        .select_from(source)
        .where(*conds)
        .group_by(s.id, s.user_id)  # a session rated twice is listed once
        .order_by(s.id)
    )


def rated_sessions_frame(
    conn: Connection, account_id: str, window: Window, *, tree_id: str | None = None
) -> pl.DataFrame:
    """Run :func:`rated_sessions_query`; a frame of :data:`RATED_SESSION_SCHEMA`."""
    return fetch(
        conn, rated_sessions_query(account_id, window, tree_id=tree_id), RATED_SESSION_SCHEMA
    )


def step_ratings_query(account_id: str, window: Window, tree_id: str) -> sa.Select:
    """Thumbs up/down on the steps of the flow's sessions started in the window.

    Joined through the flow's sessions (METRICS.md §3 step table: helpful_yes,
    helpful_no). Returns :data:`STEP_RATING_SCHEMA`; no rater id.
    """
    sr, s, t = step_ratings.c, sessions.c, trees.c
    return (
        sa.select(sr.step_id, sr.session_id, sr.was_helpful)
        .select_from(
            step_ratings.join(sessions, sr.session_id == s.id).join(trees, s.tree_id == t.id)
        )
        .where(
            t.account_id == account_id,
            s.tree_id == tree_id,
            s.started_at >= window.start,
            s.started_at < window.end,
        )
        .order_by(sr.session_id, sr.step_id)
    )


def step_ratings_frame(
    conn: Connection, account_id: str, window: Window, tree_id: str
) -> pl.DataFrame:
    """Run :func:`step_ratings_query`; a frame of :data:`STEP_RATING_SCHEMA`."""
    return fetch(conn, step_ratings_query(account_id, window, tree_id), STEP_RATING_SCHEMA)


RATER_COUNT_SCHEMA: dict[str, pl.DataType] = {"raters": pl.Int64}
STEP_RATER_SCHEMA: dict[str, pl.DataType] = {"step_id": pl.String, "raters": pl.Int64}
"""Group sizes for small-group privacy: how many distinct people stand behind the
flow's ratings / each step's thumbs. Counts only — never who they are."""


def flow_raters_query(account_id: str, window: Window, tree_id: str) -> sa.Select:
    """Distinct engineers who gave the flow a valid (1–5) CSAT rating in the window.

    Source: ``session_ratings`` (METRICS.md §3, §6 small-group privacy). Returns
    :data:`RATER_COUNT_SCHEMA` — one row, a count, no ids.
    """
    r, t = session_ratings.c, trees.c
    return (
        sa.select(sa.func.count(sa.distinct(r.user_id)).label("raters"))
        .select_from(session_ratings.join(trees, r.tree_id == t.id))
        .where(
            r.account_id == account_id,
            t.account_id == account_id,
            r.tree_id == tree_id,
            r.rating.between(1, 5),
            r.created_at >= window.start,
            r.created_at < window.end,
        )
    )


def step_raters_query(account_id: str, window: Window, tree_id: str) -> sa.Select:
    """Distinct engineers behind each step's thumbs on the flow's sessions of the window.

    Returns :data:`STEP_RATER_SCHEMA` (``step_id`` is a node id, never a person).
    """
    sr, s, t = step_ratings.c, sessions.c, trees.c
    return (
        sa.select(sr.step_id, sa.func.count(sa.distinct(sr.user_id)).label("raters"))
        .select_from(
            step_ratings.join(sessions, sr.session_id == s.id).join(trees, s.tree_id == t.id)
        )
        .where(
            t.account_id == account_id,
            s.tree_id == tree_id,
            sr.was_helpful.is_not(None),
            s.started_at >= window.start,
            s.started_at < window.end,
        )
        .group_by(sr.step_id)
        .order_by(sr.step_id)
    )


def group_sizes(
    conn: Connection, account_id: str, window: Window, tree_id: str
) -> tuple[int, dict[str, int]]:
    """Run both group-size queries: (distinct CSAT raters, {step_id: distinct thumbs raters})."""
    raters = fetch(conn, flow_raters_query(account_id, window, tree_id), RATER_COUNT_SCHEMA)
    steps = fetch(conn, step_raters_query(account_id, window, tree_id), STEP_RATER_SCHEMA)
    return int(raters["raters"][0]), dict(steps.iter_rows())
