"""One loader per dashboard: parameters in, a complete, JSON-serialisable page model out.

A loader resolves the account (slug or id), the window (period, as_of, the
account's timezone) and the scope (flow or engineer), runs the account-scoped
queries, and calls the pure metric functions. Notebooks call exactly one loader
and present its result; the same result is written as the page's JSON data file.

Every extracted frame is screened by :mod:`rfa.validation` right after its query
(a :class:`~rfa.validation.Screening` per page): faulty rows are dropped, nulled or
kept as its rules say, and every rule with failing rows is one entry of the page's
``data_quality`` list, so bad rows never crash a render nor silently move a number.

Errors: :class:`~rfa.errors.NotFoundError` (unknown account / flow / engineer),
:class:`~rfa.errors.ParameterError` (bad period or as_of),
:class:`~rfa.errors.DatabaseUnavailable` (cannot connect). All are
:class:`~rfa.errors.RFAError` with a message naming what is accepted.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import polars as pl
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy.engine import Connection

import rfa
from rfa.catalog import DASHBOARDS
from rfa.db import connect, transient_retry
from rfa.definitions import definitions_for
from rfa.errors import NotFoundError, ParameterError
from rfa.ids import to_compact
from rfa.metrics import escalations as esc
from rfa.metrics import flow as flow_metrics
from rfa.metrics import flowpilot as fp
from rfa.metrics import knowledge_gaps as kg
from rfa.metrics import kpi as kpi_metrics
from rfa.metrics import sessions as session_metrics
from rfa.metrics.escalations import HistogramBin
from rfa.metrics.kpi import KPI
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
from rfa.metrics.privacy import MIN_GROUP_SIZE, PrivacyNote, protect_flow
from rfa.metrics.uncertainty import MIN_N
from rfa.queries import accounts as account_queries
from rfa.queries import ai_sessions as ai_queries
from rfa.queries import gaps as gap_queries
from rfa.queries import handoffs as handoff_queries
from rfa.queries import proposals as proposal_queries
from rfa.queries import psa as psa_queries
from rfa.queries import ratings as rating_queries
from rfa.queries import sessions as session_queries
from rfa.queries.storage import count_unreadable
from rfa.validation import Screening, flow_nodes, parse_structure
from rfa.window import Window, make_window

AUDIENCES: dict[str, str] = {name: spec.audience for name, spec in DASHBOARDS.items()}
"""Who may read each dashboard (METRICS.md §6); see :mod:`rfa.catalog`."""
TITLES: dict[str, str] = {name: spec.title for name, spec in DASHBOARDS.items()}


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
    previous_window: Window
    """The window of equal length before ``window``: every KPI's comparison baseline."""
    previous_label: str
    min_n: int
    """Below this many observations a figure is shown muted as "few sessions"."""


class TeamPage(BaseModel):
    """Team dashboard (audience: team admins)."""

    meta: PageMeta
    kpis: list[KPI]
    duration_distribution: list[HistogramBin]
    summary: Summary
    time_series: list[TimeSeriesPoint]
    top_flows: list[RankedRow]
    top_engineers: list[RankedRow]
    csat: CSAT
    data_quality: list[DataQualityFinding]


class PersonalPage(BaseModel):
    """Personal dashboard (audience: that engineer)."""

    meta: PageMeta
    kpis: list[KPI]
    duration_distribution: list[HistogramBin]
    summary: Summary
    time_series: list[TimeSeriesPoint]
    top_flows: list[RankedRow]
    csat: CSAT
    data_quality: list[DataQualityFinding]


class FlowPage(BaseModel):
    """Flow dashboard (audience: account members; no rater identity anywhere)."""

    meta: PageMeta
    kpis: list[KPI]
    duration_distribution: list[HistogramBin]
    summary: Summary
    time_series: list[TimeSeriesPoint]
    csat: CSAT
    steps: list[StepRow]
    recent_comments: list[Comment]
    privacy: PrivacyNote
    data_quality: list[DataQualityFinding]


def _meta(
    dashboard: str,
    account: AccountInfo,
    window: Window,
    data_time: dt.datetime | None,
    scope: Entity | None,
    keys: tuple[str, ...],
    min_n: int = MIN_N,
) -> PageMeta:
    return PageMeta(
        previous_window=window.previous(),
        previous_label=window.previous_label(),
        min_n=min_n,
        dashboard=dashboard,
        title=TITLES[dashboard],
        audience=AUDIENCES[dashboard],
        account=account,
        scope=scope,
        period=window.period,
        window=window,
        window_label=window.describe(),
        data_time=data_time,
        generated_at=dt.datetime.now(dt.UTC).replace(microsecond=0),
        library_version=rfa.__version__,
        definitions=definitions_for(*keys, *HONESTY_KEYS),
    )


HONESTY_KEYS = ("intervals", "comparison", "few_sessions")
"""Glossary entries every page ends with (issue 7)."""
DURATION_EDGES_SECONDS: tuple[float, ...] = tuple(
    m * 60.0 for m in (0, 5, 10, 15, 20, 30, 45, 60, 90, 120)
)
"""Lower edges of the session-duration distribution chart (0–5 min … ≥ 2 h)."""


def _durations_histogram(sessions: pl.DataFrame) -> list[HistogramBin]:
    return esc.histogram(session_metrics.durations(sessions) * 60, DURATION_EDGES_SECONDS)


def _check_min_n(min_n: int) -> None:
    if isinstance(min_n, bool) or not isinstance(min_n, int) or min_n < 1:
        raise ParameterError(
            "min_n",
            min_n,
            "a whole number ≥ 1 (observations below which a figure is shown as 'few sessions')",
        )


def _latest(frame: pl.DataFrame, column: str) -> dt.datetime | None:
    """Newest value of a timestamp column (the page's data time), None for no rows."""
    return frame[column].max() if frame.height else None


def _open(conn: Connection, account: str, period: str, as_of: str | None):
    """Resolve the account (empty: the first by slug, for exploring interactively — the
    notebooks' default, so no tenant's name sits in every executed notebook) and the window."""
    if not (account or "").strip():
        slugs = account_queries.list_accounts(conn)["slug"]
        if slugs.is_empty():
            raise NotFoundError("account", account, "", "an account slug or id (none exist)")
        account = slugs[0]
    info = account_queries.resolve_account(conn, account)
    return info, make_window(period, as_of, info.timezone)


def _scope(conn: Connection, info: AccountInfo, window: Window, kind: str, value: str) -> Entity:
    """Resolve the page's flow or engineer; empty means the busiest of the window (for
    interactive use). Raises NotFoundError when it is unknown or the window is empty."""
    resolve = account_queries.resolve_flow if kind == "flow" else account_queries.resolve_engineer
    if value:
        return resolve(conn, info.id, value)
    by = "tree_id" if kind == "flow" else "user_id"
    top = session_queries.busiest_frame(conn, info.id, window, by)["id"].to_list()
    if not top:
        raise NotFoundError(
            kind,
            value,
            " (no sessions in the window)",
            "a flow id or exact flow name of this account"
            if kind == "flow"
            else "an engineer's id, email or name in this account",
        )
    return resolve(conn, info.id, top[0])


def _report_unreadable(
    conn: Connection,
    account_id: str,
    window: Window,
    check: Screening,
    *kinds: str,
    tree_id: str | None = None,
) -> None:
    """Count the account's rows of each frame ``kind`` whose values the database stores
    with the wrong type (SQLite: text in a number column, a timestamp that is no
    timestamp; :mod:`rfa.queries.storage`) and report them as findings of ``check``
    (issue 16 §12). ``tree_id`` narrows the ratings to one flow. No query runs on
    PostgreSQL, which enforces column types."""
    if conn.dialect.name != "sqlite":
        return
    statements = {
        "ratings": lambda: rating_queries.unreadable_ratings_query(account_id, tree_id=tree_id),
        "ai_sessions": lambda: ai_queries.unreadable_ai_sessions_query(account_id, window),
        "psa_posts": lambda: psa_queries.unreadable_psa_posts_query(account_id, window),
        "proposals": lambda: proposal_queries.unreadable_proposals_query(account_id),
    }
    for kind in kinds:
        check.unreadable(kind, count_unreadable(conn, statements[kind]()))


def _both(window: Window) -> Window:
    """The previous window and ``window`` together: one scan of the database for both."""
    return window.model_copy(update={"start": window.previous().start})


def _split(frame: pl.DataFrame, column: str, window: Window):
    """``frame`` (read over :func:`_both`) as (rows of ``window``, rows of the previous one)
    by ``column``'s time."""
    current = pl.col(column) >= window.start
    return frame.filter(current), frame.filter(~current)


def team_reads(
    conn: Connection, account_id: str, window: Window
) -> tuple[pl.DataFrame, pl.DataFrame, pl.DataFrame]:
    """What the team page reads of the database, unscreened: ``(sessions, previous
    sessions, ratings)`` — the window's sessions and the previous window's
    (:data:`~rfa.queries.sessions.COMPARISON_COLUMNS` only), compact and in no particular
    order, and both windows' ratings, compact (:mod:`rfa.ids`). Source: ``sessions`` and
    ``session_ratings`` scoped to ``account_id`` (METRICS.md §3); ``make bench`` times it
    alone beside the page. Errors: those of :func:`rfa.queries._fetch.fetch`."""
    sessions = session_queries.sessions_frame(conn, account_id, window, compact=True)
    before = session_queries.sessions_frame(
        conn,
        account_id,
        window.previous(),
        compact=True,
        columns=session_queries.COMPARISON_COLUMNS,
    )
    ratings = rating_queries.ratings_frame(conn, account_id, _both(window), compact=True)
    return sessions, before, ratings


def _team_frames(conn: Connection, info: AccountInfo, window: Window, check: Screening, users):
    """Screened sessions and ratings (with ``engineer_id``) of the account in ``window``
    and in the previous window: ``((sessions, ratings), (previous sessions, previous
    ratings))``. Only this window's rows are screened into ``check`` (the page's
    findings); the previous window's into a throwaway screening.

    The frames are **compact** (:mod:`rfa.ids`: ids as bytes on PostgreSQL, no comment)
    and the sessions in no particular order: nothing on the team page depends on row
    order (quantile intervals sort their values, tables sort their rows). The previous
    window's sessions have only :data:`~rfa.queries.sessions.COMPARISON_COLUMNS` (what
    its comparisons read); the ratings of both windows are read in one pass."""
    sessions, before, ratings = team_reads(conn, info.id, window)
    # the rated sessions' engineers from the sessions just read (no second scan of them)
    known = pl.concat(
        [sessions.select("session_id", "user_id"), before.select("session_id", "user_id")]
    )
    rated = rating_queries.rated_sessions_of(conn, info.id, _both(window), ratings, known)
    engineers = rated.rename({"user_id": "engineer_id"})
    # rated ⊆ the ratings' sessions; equal sizes: every rating's session is rated
    none_orphan = rated.height == ratings["session_id"].drop_nulls().n_unique()
    user_ids = to_compact(users["user_id"], session_queries.compact_ids(conn))

    def screened(part: pl.DataFrame, kind: str, rates: pl.DataFrame, screen: Screening):
        # the orphan rule reads membership only: without orphans, this frame's own session
        # ids answer as ``rated`` does, from a shorter list (half the time at 1M sessions)
        ids = rates["session_id"].drop_nulls().unique() if none_orphan else rated["session_id"]
        rates = screen(rates, "ratings", sessions=ids)
        return (
            screen(part, kind, users=user_ids),
            rates.join(engineers, on="session_id", how="left"),
        )

    rates_now, rates_before = _split(ratings, "created_at", window)
    return (
        screened(sessions, "sessions", rates_now, check),
        screened(before, "comparison_sessions", rates_before, Screening()),
    )


@transient_retry
def team_page(
    account: str,
    period: str = "30d",
    as_of: str | None = None,
    min_n: int = MIN_N,
    *,
    url: str | None = None,
) -> TeamPage:
    """Load the team dashboard of ``account`` (METRICS.md §3; top engineers included).

    Every KPI carries its n, a 95% interval and the comparison with the previous window
    of equal length (:mod:`rfa.metrics.kpi`); figures behind fewer than ``min_n``
    observations are flagged ``few``. The previous window's data-quality findings are
    not reported (the page is about this window).
    """
    _check_min_n(min_n)
    check = Screening()
    with connect(url) as conn:
        info, window = _open(conn, account, period, as_of)
        users = check(account_queries.list_users(conn, info.id), "users")
        flows = check(account_queries.list_flows(conn, info.id), "flows", contract_only=True)
        _report_unreadable(conn, info.id, window, check, "ratings")
        (sessions, ratings), (before, before_ratings) = _team_frames(
            conn, info, window, check, users
        )
    compact = sessions.schema["tree_id"] == pl.Binary
    flows = flows.select(to_compact(flows["tree_id"], compact).alias("id"), "name")
    people = users.select(
        to_compact(users["user_id"], compact).alias("id"),
        pl.coalesce("name", "email").alias("name"),
    )
    return TeamPage(
        meta=_meta(
            "team",
            info,
            window,
            _latest(sessions, "started_at"),
            None,
            (
                "total_sessions",
                "completion_rate",
                "median_duration_minutes",
                "p90_duration_minutes",
                "duration_distribution",
                "active_engineers",
                "outcome_breakdown",
                "time_series",
                "top_flows",
                "top_engineers",
                "avg_csat",
                "csat_score",
                "data_quality",
            ),
            min_n,
        ),
        kpis=kpi_metrics.session_kpis(
            sessions,
            before,
            ratings,
            before_ratings,
            period_label=window.previous_label(),
            min_n=min_n,
            engineers=True,
        ),
        duration_distribution=_durations_histogram(sessions),
        summary=session_metrics.summary(sessions),
        time_series=session_metrics.time_series(sessions, window),
        top_flows=session_metrics.ranked(sessions, ratings, flows, "tree_id", min_n=min_n),
        top_engineers=session_metrics.ranked(sessions, ratings, people, "user_id", min_n=min_n),
        csat=flow_metrics.csat(ratings),
        data_quality=check.findings,
    )


def _personal_frames(conn: Connection, info: AccountInfo, window: Window, check, person_id):
    sessions = check(
        session_queries.sessions_frame(conn, info.id, window, user_id=person_id), "sessions"
    )
    ratings = check(
        rating_queries.ratings_frame(conn, info.id, window, engineer_id=person_id), "ratings"
    )
    return sessions, ratings


@transient_retry
def personal_page(
    account: str,
    engineer: str = "",
    period: str = "30d",
    as_of: str | None = None,
    min_n: int = MIN_N,
    *,
    url: str | None = None,
) -> PersonalPage:
    """Load the personal dashboard of ``engineer`` (id, email or name) in ``account``.

    An empty ``engineer`` picks the engineer with most sessions in the window
    (for interactive use); raises NotFoundError when the window has none. Ratings
    are read through the engineer's sessions, so none can be an orphan here. KPIs
    compare with the previous window of equal length (see :func:`team_page`).
    """
    _check_min_n(min_n)
    check = Screening()
    with connect(url) as conn:
        info, window = _open(conn, account, period, as_of)
        person = _scope(conn, info, window, "engineer", engineer)
        sessions, ratings = _personal_frames(conn, info, window, check, person.id)
        _report_unreadable(conn, info.id, window, check, "ratings")
        before, before_ratings = _personal_frames(
            conn, info, window.previous(), Screening(), person.id
        )
        flows = check(account_queries.list_flows(conn, info.id), "flows", contract_only=True)
    flows = flows.select(pl.col("tree_id").alias("id"), "name")
    return PersonalPage(
        meta=_meta(
            "personal",
            info,
            window,
            _latest(sessions, "started_at"),
            person,
            (
                "total_sessions",
                "completion_rate",
                "median_duration_minutes",
                "p90_duration_minutes",
                "duration_distribution",
                "outcome_breakdown",
                "time_series",
                "top_flows",
                "avg_csat",
                "csat_score",
                "data_quality",
            ),
            min_n,
        ),
        kpis=kpi_metrics.session_kpis(
            sessions,
            before,
            ratings,
            before_ratings,
            period_label=window.previous_label(),
            min_n=min_n,
        ),
        duration_distribution=_durations_histogram(sessions),
        summary=session_metrics.summary(sessions, personal=True),
        time_series=session_metrics.time_series(sessions, window),
        top_flows=session_metrics.ranked(sessions, ratings, flows, "tree_id", min_n=min_n),
        csat=flow_metrics.csat(ratings),
        data_quality=check.findings,
    )


def _flow_ratings(
    conn: Connection, info: AccountInfo, window: Window, flow_id: str, check
) -> tuple[pl.DataFrame, int]:
    """Screened CSAT ratings of one flow in ``window`` (no rater column) and the distinct
    engineers behind exactly those rows (issue 16 §4: orphan or duplicate ratings,
    which screening drops, cannot lift the count; :func:`rfa.queries.ratings.raters_of`)."""
    ratings = rating_queries.ratings_frame(conn, info.id, window, tree_id=flow_id)
    rated = rating_queries.rated_sessions_frame(conn, info.id, window, tree_id=flow_id)
    shown = check(ratings, "ratings", sessions=rated["session_id"])
    return shown, rating_queries.raters_of(shown, rated)


@transient_retry
def flow_page(
    account: str,
    flow: str = "",
    period: str = "30d",
    as_of: str | None = None,
    min_group_size: int = MIN_GROUP_SIZE,
    min_n: int = MIN_N,
    *,
    url: str | None = None,
) -> FlowPage:
    """Load the flow dashboard of ``flow`` (id or exact name) in ``account``.

    An empty ``flow`` picks the flow with most sessions in the window (for
    interactive use). Ratings are read without any rater column; CSAT, comments
    and step thumbs are withheld when fewer than ``min_group_size`` distinct
    engineers stand behind them (:func:`rfa.metrics.privacy.protect_flow`); the CSAT
    KPIs are left out then, and the previous window's CSAT is only compared with when
    at least ``min_group_size`` engineers rated the flow in it too.
    """
    if min_group_size < 1:
        raise ParameterError("min_group_size", min_group_size, "a whole number ≥ 1")
    _check_min_n(min_n)
    check = Screening()
    with connect(url) as conn:
        info, window = _open(conn, account, period, as_of)
        entity = _scope(conn, info, window, "flow", flow)
        users = check(account_queries.list_users(conn, info.id), "users")
        sessions = check(
            session_queries.sessions_frame(conn, info.id, window, tree_id=entity.id),
            "sessions",
            users=users["user_id"],
        )
        trees = check(
            gap_queries.flow_trees_frame(conn, info.id).filter(pl.col("tree_id") == entity.id),
            "flow_trees",
        )  # the structure as text: a malformed one is reported, not raised
        structure = parse_structure(trees["tree_structure"].first()) or {}
        decisions = check(  # decoded once, for the screening and the step table
            flow_metrics.with_decoded(
                session_queries.decisions_frame(conn, info.id, window, entity.id)
            ),
            "decisions",
            nodes=set(flow_metrics.node_titles(structure)) or None,
        )
        thumbs = check(
            rating_queries.step_ratings_frame(conn, info.id, window, entity.id),
            "step_ratings",
            sessions=decisions["session_id"],
        )
        ratings, raters = _flow_ratings(conn, info, window, entity.id, check)
        _report_unreadable(conn, info.id, window, check, "ratings", tree_id=entity.id)
        _, step_raters = rating_queries.group_sizes(conn, info.id, window, entity.id)
        previous = window.previous()
        before = session_queries.sessions_frame(conn, info.id, previous, tree_id=entity.id)
        before = Screening()(before, "sessions", users=users["user_id"])
        before_ratings, before_raters = _flow_ratings(conn, info, previous, entity.id, Screening())
    before_count = before_ratings.height  # a count is shown whatever the raters (privacy.py)
    if before_raters < min_group_size:
        before_ratings = before_ratings.clear()
    kpis = kpi_metrics.session_kpis(
        sessions,
        before,
        ratings,
        before_ratings,
        period_label=window.previous_label(),
        min_n=min_n,
        csat=raters >= min_group_size,
    )
    kpis.append(
        kpi_metrics.count_kpi(
            "total_ratings",
            "Ratings",
            ratings.height,
            before_count,
            period_label=window.previous_label(),
        )
    )
    csat, comments, steps, privacy = protect_flow(
        flow_metrics.csat(ratings),
        flow_metrics.recent_comments(ratings, timezone=window.timezone),
        flow_metrics.step_table(decisions, thumbs, structure, min_n=min_n),
        raters,
        step_raters,
        min_group_size,
    )
    return FlowPage(
        meta=_meta(
            "flow",
            info,
            window,
            _latest(sessions, "started_at"),
            entity,
            (
                "total_sessions",
                "completion_rate",
                "median_duration_minutes",
                "p90_duration_minutes",
                "duration_distribution",
                "outcome_breakdown",
                "time_series",
                "avg_csat",
                "csat_score",
                "total_ratings",
                "step_table",
                "recent_comments",
                "small_group_privacy",
                "data_quality",
            ),
            min_n,
        ),
        kpis=kpis,
        duration_distribution=_durations_histogram(sessions),
        summary=session_metrics.summary(sessions),
        time_series=session_metrics.time_series(sessions, window),
        csat=csat,
        steps=steps,
        recent_comments=comments,
        privacy=privacy,
        data_quality=check.findings,
    )


class FlowPilotPage(BaseModel):
    """FlowPilot dashboard (audience: team admins), METRICS.md §4."""

    meta: PageMeta
    kpis: list[KPI]
    summary: fp.FlowPilotSummary
    mttr_trend: list[fp.MTTRPoint]
    sessions_by_domain: list[fp.DomainBreakdownRow]
    confidence_breakdown: list[fp.ConfidenceTierRow]
    knowledge_coverage: fp.KnowledgeCoverage
    psa: fp.PsaMetrics
    data_quality: list[DataQualityFinding]


class CoveragePage(BaseModel):
    """Coverage and flow-quality dashboard (audience: team admins), METRICS.md §4."""

    meta: PageMeta
    kpis: list[KPI]
    knowledge_coverage: fp.KnowledgeCoverage
    coverage_by_domain: fp.DomainCoverage
    flow_quality: fp.FlowQuality
    data_quality: list[DataQualityFinding]


def _flowpilot_metrics(
    conn: Connection, info: AccountInfo, window: Window, check, flows, min_n: int = MIN_N
):
    """Screened FlowPilot frames of ``window`` → (every §4 metric, the AI sessions)."""
    sessions = check(
        ai_queries.ai_sessions_frame(conn, info.id, window), "ai_sessions", flows=flows["tree_id"]
    )
    proposals = check(proposal_queries.proposals_frame(conn, info.id, window), "proposals")
    posts = check(psa_queries.psa_posts_frame(conn, info.id, window), "psa_posts")
    funnel = check(psa_queries.session_psa_posts_frame(conn, info.id, window), "psa_funnel_posts")
    metrics = fp.flowpilot_metrics(sessions, flows, proposals, posts, funnel, window, min_n=min_n)
    return metrics, sessions


@transient_retry
def _flowpilot(account: str, period: str, as_of: str | None, url: str | None, min_n: int = MIN_N):
    """Load the FlowPilot frames of an account for the window and the previous one,
    screen them and compute every §4 metric once per window; also returns the findings
    of this window's screening and the KPI inputs of both windows."""
    check = Screening()
    with connect(url) as conn:
        info, window = _open(conn, account, period, as_of)
        flows = check(account_queries.list_flows(conn, info.id), "flows")
        metrics, sessions = _flowpilot_metrics(conn, info, window, check, flows, min_n)
        _report_unreadable(conn, info.id, window, check, "ai_sessions", "psa_posts", "proposals")
        before, before_sessions = _flowpilot_metrics(
            conn, info, window.previous(), Screening(), flows, min_n
        )
    inputs = (fp.kpi_inputs(sessions), fp.kpi_inputs(before_sessions))
    return info, window, _latest(sessions, "created_at"), metrics, before, inputs, check.findings


def flowpilot_page(
    account: str,
    period: str = "30d",
    as_of: str | None = None,
    min_n: int = MIN_N,
    *,
    url: str | None = None,
) -> FlowPilotPage:
    """Load the FlowPilot dashboard of ``account`` (METRICS.md §4: totals, MTTR, domains,
    confidence tiers, knowledge coverage, PSA). Rates are percentages (``*_pct``); the
    KPIs (fractions) carry intervals and the comparison with the previous window."""
    _check_min_n(min_n)
    info, window, data_time, m, _, (cur, prev), findings = _flowpilot(
        account, period, as_of, url, min_n
    )
    return FlowPilotPage(
        meta=_meta(
            "flowpilot",
            info,
            window,
            data_time,
            None,
            (
                "ai_sessions",
                "resolution_rate_pct",
                "avg_steps_to_resolution",
                "avg_rating",
                "mttr_minutes",
                "sessions_by_domain",
                "confidence_breakdown",
                "knowledge_coverage",
                "psa",
                "data_quality",
            ),
            min_n,
        ),
        kpis=kpi_metrics.flowpilot_kpis(
            cur, prev, period_label=window.previous_label(), min_n=min_n
        ),
        summary=m.summary,
        mttr_trend=m.mttr_trend,
        sessions_by_domain=m.sessions_by_domain,
        confidence_breakdown=m.confidence_breakdown,
        knowledge_coverage=m.knowledge_coverage,
        psa=m.psa,
        data_quality=findings,
    )


def _coverage_counts(m) -> dict[str, tuple[str, int]]:
    return {
        "matched_flows": ("Flows matched by AI sessions", len(m.flow_quality.flows)),
        "uncovered_domains": (
            "Domains without a flow",
            len(m.coverage_by_domain.uncovered_domains),
        ),
        "unmapped_sessions": (
            "AI sessions without a domain",
            m.coverage_by_domain.unmapped_session_count,
        ),
        "flows_needing_attention": (
            "Flows needing attention",
            len(m.flow_quality.needs_attention),
        ),
    }


def coverage_page(
    account: str,
    period: str = "30d",
    as_of: str | None = None,
    min_n: int = MIN_N,
    *,
    url: str | None = None,
) -> CoveragePage:
    """Load the coverage and flow-quality dashboard of ``account`` (METRICS.md §4:
    coverage by domain, flow quality with its documented quality score); its count KPIs
    compare with the previous window."""
    _check_min_n(min_n)
    info, window, data_time, m, before, _, findings = _flowpilot(account, period, as_of, url, min_n)
    previous = {key: value for key, (_, value) in _coverage_counts(before).items()}
    return CoveragePage(
        meta=_meta(
            "coverage",
            info,
            window,
            data_time,
            None,
            (
                "knowledge_coverage",
                "coverage_by_domain",
                "flow_quality",
                "count_kpis",
                "data_quality",
            ),
            min_n,
        ),
        kpis=kpi_metrics.count_kpis(
            _coverage_counts(m), previous, period_label=window.previous_label()
        ),
        knowledge_coverage=m.knowledge_coverage,
        coverage_by_domain=m.coverage_by_domain,
        flow_quality=m.flow_quality,
        data_quality=findings,
    )


class KnowledgeGapsPage(BaseModel):
    """Knowledge-gaps dashboard (audience: team admins), METRICS.md §4 last row."""

    meta: PageMeta
    kpis: list[KPI]
    report: kg.KnowledgeGapReport
    data_quality: list[DataQualityFinding]


class EscalationsPage(BaseModel):
    """Escalation time-to-first-action (audience: engineers and admins), METRICS.md §5."""

    meta: PageMeta
    kpis: list[KPI]
    escalations: esc.EscalationMetrics
    data_quality: list[DataQualityFinding]


@transient_retry
def knowledge_gaps_page(
    account: str,
    period: str = "30d",
    as_of: str | None = None,
    thresholds: kg.GapThresholds | dict | None = None,
    min_n: int = MIN_N,
    *,
    url: str | None = None,
) -> KnowledgeGapsPage:
    """Load the knowledge gaps of ``account``: domains, flows and flow options where
    engineers are least helped, each with evidence, severity and a suggested action.

    ``thresholds`` (a :class:`~rfa.metrics.knowledge_gaps.GapThresholds` or a dict of
    its fields) default to its documented values; an invalid value raises
    :class:`~rfa.errors.ParameterError`.
    """
    try:
        th = kg.GapThresholds.model_validate(thresholds or {})
    except ValidationError as exc:
        first = exc.errors()[0]
        raise ParameterError(
            ".".join(str(p) for p in first["loc"]) or "thresholds",
            first.get("input"),
            "fractions in [0, 1] for rates and positive integers for session minimums",
        ) from None
    _check_min_n(min_n)
    check = Screening()
    with connect(url) as conn:
        info, window = _open(conn, account, period, as_of)
        trees = check(gap_queries.flow_trees_frame(conn, info.id), "flow_trees")
        pending = check(gap_queries.pending_proposals_frame(conn, info.id), "pending_proposals")
        report, ai_sessions = _gap_report(conn, info, window, check, trees, pending, th, min_n)
        _report_unreadable(conn, info.id, window, check, "ai_sessions")
        before, _ = _gap_report(
            conn, info, window.previous(), Screening(), trees, pending, th, min_n
        )
    previous = {key: value for key, (_, value) in _gap_counts(before).items()}
    return KnowledgeGapsPage(
        meta=_meta(
            "knowledge_gaps",
            info,
            window,
            _latest(ai_sessions, "created_at"),
            None,
            ("knowledge_gaps", "count_kpis", "data_quality"),
            min_n,
        ),
        kpis=kpi_metrics.count_kpis(
            _gap_counts(report), previous, period_label=window.previous_label()
        ),
        report=report,
        data_quality=check.findings,
    )


def _gap_report(
    conn: Connection,
    info: AccountInfo,
    window: Window,
    check,
    trees,
    pending,
    th,
    min_n: int = MIN_N,
):
    """The knowledge-gap report of ``window`` and its screened AI sessions."""
    ai_sessions = check(
        ai_queries.ai_sessions_frame(conn, info.id, window), "ai_sessions", flows=trees["tree_id"]
    )
    options = check(
        gap_queries.option_sessions_frame(conn, info.id, window),
        "option_sessions",
        structures=flow_nodes(trees),
    )
    report = kg.knowledge_gap_report(ai_sessions, trees, pending, options, th, min_n=min_n)
    return report, ai_sessions


def _gap_counts(report: kg.KnowledgeGapReport) -> dict[str, tuple[str, int]]:
    return {
        "gaps": ("Gaps", len(report.gaps)),
        "high_severity_gaps": (
            "High severity",
            sum(g.severity == "high" for g in report.gaps),
        ),
        "domains_assessed": ("Domains assessed", report.domains_assessed),
        "options_assessed": ("Flow options assessed", report.options_assessed),
    }


@transient_retry
def escalations_page(
    account: str,
    period: str = "30d",
    as_of: str | None = None,
    min_n: int = MIN_N,
    *,
    url: str | None = None,
) -> EscalationsPage:
    """Load escalation time-to-first-action of ``account`` (METRICS.md §5): hand-offs
    claimed in the window and the seconds from claim to the first AI-session step after
    it. The result carries the metric's definition: post-claim activity lag, not savings.
    Its KPIs compare with the previous window of equal length."""
    _check_min_n(min_n)
    check = Screening()
    with connect(url) as conn:
        info, window = _open(conn, account, period, as_of)
        handoffs = check(handoff_queries.claimed_handoffs_frame(conn, info.id, window), "handoffs")
        unclaimed = handoff_queries.unclaimed_count(conn, info.id, window)
        before = Screening()(
            handoff_queries.claimed_handoffs_frame(conn, info.id, window.previous()), "handoffs"
        )
    metrics = esc.escalation_metrics(handoffs, unclaimed)
    return EscalationsPage(
        meta=_meta(
            "escalations",
            info,
            window,
            _latest(handoffs, "claimed_at"),
            None,
            (
                "n_handoffs_claimed",
                "action_conversion_rate",
                "median_seconds_to_first_action",
                "p95_seconds_to_first_action",
                "escalation_lag",
                "data_quality",
            ),
            min_n,
        ),
        kpis=kpi_metrics.escalation_kpis(
            metrics.n_handoffs_claimed,
            esc.lags(handoffs),
            esc.escalation_metrics(before).n_handoffs_claimed,
            esc.lags(before),
            period_label=window.previous_label(),
            min_n=min_n,
        ),
        escalations=metrics,
        data_quality=check.findings,
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
