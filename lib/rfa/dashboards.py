"""One loader per dashboard: parameters in, a complete, JSON-serialisable page model out.

A loader resolves the account (slug or id), the window (period, as_of, the
account's timezone) and the scope (flow or engineer), runs the account-scoped
queries, and calls the pure metric functions. Notebooks call exactly one loader
and present its result; the same result is written as the page's JSON data file.

Errors: :class:`~rfa.errors.NotFoundError` (unknown account / flow / engineer),
:class:`~rfa.errors.ParameterError` (bad period or as_of),
:class:`~rfa.errors.DatabaseUnavailable` (cannot connect). All are
:class:`~rfa.errors.RFAError` with a message naming what is accepted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Literal

import polars as pl
from pydantic import BaseModel, ConfigDict
from sqlalchemy.engine import Connection

import rfa
from rfa.db import connect
from rfa.definitions import definitions_for
from rfa.errors import NotFoundError
from rfa.metrics import flow as flow_metrics
from rfa.metrics import sessions as session_metrics
from rfa.metrics.models import (
    CSAT,
    AccountInfo,
    Comment,
    DataQualityFinding,
    Entity,
    RankedRow,
    StepRow,
    Summary,
    TimeSeriesPoint,
)
from rfa.queries import accounts as account_queries
from rfa.queries import ratings as rating_queries
from rfa.queries import sessions as session_queries
from rfa.window import Window, make_window

Dashboard = Literal["team", "personal", "flow"]

AUDIENCES: dict[str, str] = {
    "team": "team admins and super admins of the account",
    "personal": "the engineer the page is about",
    "flow": "members of the account (comments are anonymous)",
}
"""Who may read each dashboard (METRICS.md §6)."""

TITLES: dict[str, str] = {
    "team": "Team analytics",
    "personal": "Personal analytics",
    "flow": "Flow analytics",
}


class PageMeta(BaseModel):
    """What, for whom, and over which window a page reports."""

    model_config = ConfigDict(frozen=True)

    dashboard: str
    title: str
    audience: str
    account: AccountInfo
    scope: Entity | None
    period: str
    window: Window
    window_label: str
    data_time: dt.datetime | None
    """Start time of the newest session in the window (None when the window is empty)."""
    generated_at: dt.datetime
    library_version: str
    definitions: dict[str, str]


class TeamPage(BaseModel):
    """Team dashboard (audience: team admins)."""

    meta: PageMeta
    summary: Summary
    time_series: list[TimeSeriesPoint]
    top_flows: list[RankedRow]
    top_engineers: list[RankedRow]
    csat: CSAT
    data_quality: list[DataQualityFinding]


class PersonalPage(BaseModel):
    """Personal dashboard (audience: that engineer)."""

    meta: PageMeta
    summary: Summary
    time_series: list[TimeSeriesPoint]
    top_flows: list[RankedRow]
    csat: CSAT
    data_quality: list[DataQualityFinding]


class FlowPage(BaseModel):
    """Flow dashboard (audience: account members; no rater identity anywhere)."""

    meta: PageMeta
    summary: Summary
    time_series: list[TimeSeriesPoint]
    csat: CSAT
    steps: list[StepRow]
    recent_comments: list[Comment]
    data_quality: list[DataQualityFinding]


Page = TeamPage | PersonalPage | FlowPage


def _meta(
    dashboard: str,
    account: AccountInfo,
    window: Window,
    sessions: pl.DataFrame,
    scope: Entity | None,
    keys: tuple[str, ...],
) -> PageMeta:
    latest = sessions["started_at"].max() if sessions.height else None
    return PageMeta(
        dashboard=dashboard,
        title=TITLES[dashboard],
        audience=AUDIENCES[dashboard],
        account=account,
        scope=scope,
        period=window.period,
        window=window,
        window_label=window.describe(),
        data_time=latest,
        generated_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        library_version=rfa.__version__,
        definitions=definitions_for(*keys),
    )


def _open(conn: Connection, account: str, period: str, as_of: str | None):
    info = account_queries.resolve_account(conn, account)
    return info, make_window(period, as_of, info.timezone)


def busiest(sessions: pl.DataFrame, by: Literal["tree_id", "user_id"]) -> str | None:
    """Id with most sessions in the frame (ties: smallest id), None for no sessions."""
    if sessions.height == 0:
        return None
    counts = sessions.group_by(by).len().sort(["len", by], descending=[True, False])
    return counts[by][0]


def team_page(
    account: str, period: str = "30d", as_of: str | None = None, *, url: str | None = None
) -> TeamPage:
    """Load the team dashboard of ``account`` (METRICS.md §3; top engineers included)."""
    with connect(url) as conn:
        info, window = _open(conn, account, period, as_of)
        sessions = session_queries.sessions_frame(conn, info.id, window)
        ratings = rating_queries.ratings_frame(conn, info.id, window, with_engineer=True)
        flows = account_queries.list_flows(conn, info.id).select(
            pl.col("tree_id").alias("id"), "name"
        )
        people = account_queries.list_users(conn, info.id).select(
            pl.col("user_id").alias("id"), pl.coalesce("name", "email").alias("name")
        )
    return TeamPage(
        meta=_meta(
            "team",
            info,
            window,
            sessions,
            None,
            (
                "total_sessions",
                "completion_rate",
                "median_duration_minutes",
                "active_engineers",
                "outcome_breakdown",
                "time_series",
                "top_flows",
                "top_engineers",
                "avg_csat",
                "data_quality",
            ),
        ),
        summary=session_metrics.summary(sessions),
        time_series=session_metrics.time_series(sessions, window),
        top_flows=session_metrics.ranked(sessions, ratings, flows, "tree_id"),
        top_engineers=session_metrics.ranked(sessions, ratings, people, "user_id"),
        csat=flow_metrics.csat(ratings),
        data_quality=session_metrics.data_quality(sessions, ratings),
    )


def personal_page(
    account: str,
    engineer: str = "",
    period: str = "30d",
    as_of: str | None = None,
    *,
    url: str | None = None,
) -> PersonalPage:
    """Load the personal dashboard of ``engineer`` (id, email or name) in ``account``.

    An empty ``engineer`` picks the engineer with most sessions in the window
    (for interactive use); raises NotFoundError when the window has none.
    """
    with connect(url) as conn:
        info, window = _open(conn, account, period, as_of)
        if engineer:
            person = account_queries.resolve_engineer(conn, info.id, engineer)
        else:
            top = busiest(session_queries.sessions_frame(conn, info.id, window), "user_id")
            if top is None:
                raise NotFoundError(
                    "engineer",
                    engineer,
                    " (no sessions in the window)",
                    "an engineer's id or email in this account",
                )
            person = account_queries.resolve_engineer(conn, info.id, top)
        sessions = session_queries.sessions_frame(conn, info.id, window, user_id=person.id)
        ratings = rating_queries.ratings_frame(conn, info.id, window, engineer_id=person.id)
        flows = account_queries.list_flows(conn, info.id).select(
            pl.col("tree_id").alias("id"), "name"
        )
    return PersonalPage(
        meta=_meta(
            "personal",
            info,
            window,
            sessions,
            person,
            (
                "total_sessions",
                "completion_rate",
                "median_duration_minutes",
                "outcome_breakdown",
                "time_series",
                "top_flows",
                "avg_csat",
                "data_quality",
            ),
        ),
        summary=session_metrics.summary(sessions, personal=True),
        time_series=session_metrics.time_series(sessions, window),
        top_flows=session_metrics.ranked(sessions, ratings, flows, "tree_id"),
        csat=flow_metrics.csat(ratings),
        data_quality=session_metrics.data_quality(sessions, ratings),
    )


def flow_page(
    account: str,
    flow: str = "",
    period: str = "30d",
    as_of: str | None = None,
    *,
    url: str | None = None,
) -> FlowPage:
    """Load the flow dashboard of ``flow`` (id or exact name) in ``account``.

    An empty ``flow`` picks the flow with most sessions in the window (for
    interactive use). Ratings are read without any rater column.
    """
    with connect(url) as conn:
        info, window = _open(conn, account, period, as_of)
        if flow:
            entity = account_queries.resolve_flow(conn, info.id, flow)
        else:
            top = busiest(session_queries.sessions_frame(conn, info.id, window), "tree_id")
            if top is None:
                raise NotFoundError(
                    "flow",
                    flow,
                    " (no sessions in the window)",
                    "a flow id or exact flow name of this account",
                )
            entity = account_queries.resolve_flow(conn, info.id, top)
        sessions = session_queries.sessions_frame(conn, info.id, window, tree_id=entity.id)
        decisions = session_queries.decisions_frame(conn, info.id, window, entity.id)
        structure = session_queries.flow_structure(conn, info.id, entity.id)
        thumbs = rating_queries.step_ratings_frame(conn, info.id, window, entity.id)
        ratings = rating_queries.ratings_frame(conn, info.id, window, tree_id=entity.id)
    return FlowPage(
        meta=_meta(
            "flow",
            info,
            window,
            sessions,
            entity,
            (
                "total_sessions",
                "completion_rate",
                "median_duration_minutes",
                "outcome_breakdown",
                "time_series",
                "avg_csat",
                "total_ratings",
                "step_table",
                "recent_comments",
                "data_quality",
            ),
        ),
        summary=session_metrics.summary(sessions),
        time_series=session_metrics.time_series(sessions, window),
        csat=flow_metrics.csat(ratings),
        steps=flow_metrics.step_table(decisions, thumbs, structure),
        recent_comments=flow_metrics.recent_comments(ratings),
        data_quality=session_metrics.data_quality(sessions, ratings)
        + flow_metrics.unknown_nodes(decisions, structure),
    )


def write_data_file(page: BaseModel, path: str | Path | None) -> Path | None:
    """Write ``page`` as indented JSON to ``path`` atomically; no-op for an empty path."""
    if not path:
        return None
    from rfa.publish.site import atomic_write_text

    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, page.model_dump_json(indent=2))
    return target
