"""FlowPilot dashboard metrics (METRICS.md §4): pure functions, typed results.

Inputs are frames with the query layer's schemas:

* ``sessions`` — :data:`rfa.queries.ai_sessions.AI_SESSION_SCHEMA`
  (``ai_session_id, user_id, tree_id, status, problem_domain, confidence_tier,
  psa_ticket_id: String; step_count, session_rating: Int64; match_confidence:
  Float64; created_at, resolved_at: Datetime[us, UTC]``) — the base set, AI
  sessions of the account created in the window;
* ``flows`` — :data:`rfa.queries.accounts.FLOW_SCHEMA`
  (``tree_id, name, tree_type, origin: String``);
* ``proposals`` — :data:`rfa.queries.proposals.PROPOSAL_SCHEMA`
  (``proposal_id, status, proposal_type, problem_domain: String; created_at,
  reviewed_at: Datetime[us, UTC]``);
* ``posts`` / ``session_posts`` — :data:`rfa.queries.psa.PSA_POST_SCHEMA`
  (``post_id, ai_session_id, post_type, status: String; retry_count: Int64;
  hours: Float64; posted_at: Datetime[us, UTC]``).

Units — **read the field names**: FlowPilot rates are **percentages in
[0, 100]** and every such field ends in ``_pct`` (METRICS.md §4 defines
``resolution_rate`` as resolved / total × 100), unlike the §3 session rates,
which are fractions. ``avg_confidence`` and ``match_confidence`` are fractions in
[0, 1]; durations are **minutes**; hours are PSA hours; ``quality_score`` is a
score in [0, 100]. A value that cannot be computed is ``None`` (no value is not
zero), except ``resolution_rate_pct`` of an empty base set, which is 0.0 as
METRICS.md says, and zero-filled daily PSA counts, where no entry is a true 0.

Frames are screened by :mod:`rfa.validation` first, which reports every faulty
row (the page's ``data_quality``): ratings outside 1–5 and confidences outside
0–1 arrive as null. Rows it keeps are handled by the definitions here (a
resolution before creation is not a duration, an unknown status counts in the
total only, …).
"""

from __future__ import annotations

import datetime as dt
import math

import polars as pl

from rfa.metrics import uncertainty as u
from rfa.metrics.models import Result
from rfa.window import Window

AI_STATUSES: tuple[str, ...] = (
    "active",
    "resolved",
    "escalated",
    "requesting_escalation",
    "abandoned",
)
"""Accepted ``ai_sessions.status`` values (METRICS.md §1)."""
ESCALATED_STATUSES: tuple[str, ...] = ("escalated", "requesting_escalation")
"""Statuses counted as escalated (METRICS.md §4)."""
ENDED_STATUSES: tuple[str, ...] = ("resolved", *ESCALATED_STATUSES)
"""Statuses of sessions that "ended resolved or escalated" (confidence_breakdown)."""
CONFIDENCE_TIERS: tuple[str, ...] = ("guided", "exploring", "discovery")
"""Accepted ``ai_sessions.confidence_tier`` values, in display order."""
AI_ORIGINS: tuple[str, ...] = ("ai_generated", "ai_enhanced")
"""``trees.origin`` values counted as AI-generated flows."""
PROPOSAL_STATUSES: tuple[str, ...] = ("pending", "approved", "modified", "rejected", "dismissed")
"""Accepted ``flow_proposals.status`` values (METRICS.md §1)."""
POST_TYPES: tuple[str, ...] = ("ticket_note", "doc", "time_entry")
"""Accepted ``psa_post_logs.post_type`` values, in display order."""
POST_STATUSES: tuple[str, ...] = ("success", "failed")
"""Accepted ``psa_post_logs.status`` values."""

QUALITY_PRIOR_SESSIONS = 5
"""Default prior weight *k* (in sessions) of the quality score's shrinkage."""
QUALITY_WEIGHTS: dict[str, float] = {"success": 0.60, "confidence": 0.25, "usage": 0.15}
"""Weights of the quality score's three terms (they sum to 1)."""
NEUTRAL_CONFIDENCE = 0.5
"""Confidence prior used when no matched session of the window has a valid confidence."""
MIN_USAGE = 5
"""Default minimum ``usage_count`` for the top-performers and needs-attention lists."""
FLOW_LIST_LIMIT = 5
"""Default length of the top-performers and needs-attention lists."""
ATTENTION_SUCCESS_PCT = 50.0
"""A flow needs attention when its raw success rate is below this (percent) …"""
ATTENTION_SCORE = 50.0
"""… or its quality score is below this."""

_FORMULA_TEMPLATE = (
    "quality_score = 100 × (0.60 × S + 0.25 × C + 0.15 × U), where, over the AI sessions "
    "of the window matched to the flow (n = usage_count, r = resolved among them): "
    "S = (r + k·p₀) / (n + k) is the success rate shrunk toward the account's success "
    "rate p₀ of all matched sessions of the window with a prior of k = {k} sessions; "
    "C = (Σ match_confidence + k·c₀) / (m + k) is the mean match confidence (0–1) "
    "shrunk the same way toward the account mean c₀ (m = sessions with a confidence "
    "in 0–1; c₀ = 0.5 when none has one); U = ln(1 + n) / ln(1 + n_max) is usage "
    "relative to the busiest flow. A flow with one or two matches therefore scores "
    "close to the account average rather than 0 or 100."
)
QUALITY_SCORE_FORMULA = _FORMULA_TEMPLATE.format(k=QUALITY_PRIOR_SESSIONS)
"""The quality score formula in words (METRICS.md §4 flow quality; printed on the page), for
the default prior k = :data:`QUALITY_PRIOR_SESSIONS`; :attr:`FlowQuality.formula` states the
k actually used."""

_STATUS = pl.col("status")
_RESOLVED = _STATUS == "resolved"
_ESCALATED = _STATUS.is_in(ESCALATED_STATUSES)
_MINUTES = (pl.col("resolved_at") - pl.col("created_at")).dt.total_microseconds() / 60_000_000
"""resolved_at − created_at in minutes (Float64)."""
_VALID_MTTR = pl.when(_RESOLVED & pl.col("resolved_at").is_not_null() & (_MINUTES >= 0)).then(
    _MINUTES
)
"""Time to resolution in minutes, null unless resolved with a non-negative duration."""
_RATING = pl.col("session_rating")
"""1–5 or null (screened: :mod:`rfa.validation` nulls ratings outside 1–5)."""
_CONFIDENCE = pl.col("match_confidence")
"""0–1 or null (screened: :mod:`rfa.validation` nulls values outside 0–1 and NaN)."""
_LINKED = pl.col("psa_ticket_id").is_not_null() & (
    pl.col("psa_ticket_id").str.strip_chars().str.len_chars() > 0
)
_SUCCESS = pl.col("status") == "success"
_RETRIES = pl.col("retry_count").fill_null(0)
_VALID_HOURS = pl.when(pl.col("hours") >= 0).then(pl.col("hours"))
_TIME_ENTRY = (pl.col("post_type") == "time_entry") & _SUCCESS


def _pct(part: int | float, whole: int | float) -> float | None:
    """``part / whole × 100``, None when ``whole`` is 0."""
    return part / whole * 100 if whole else None


def _pct_interval(part: int, whole: int) -> tuple[float | None, float | None]:
    """The 95% Wilson interval of ``part / whole`` in percent (:func:`rfa.metrics.
    uncertainty.rate`); ``(None, None)`` when ``whole`` is 0."""
    est = u.rate(part, whole)
    if est.low is None or est.high is None:
        return None, None
    return est.low * 100, est.high * 100


def _mean(values: pl.Series) -> float | None:
    value = values.drop_nulls().mean()
    return None if value is None else float(value)


def _in_window(column: str, window: Window) -> pl.Expr:
    return (pl.col(column) >= window.start) & (pl.col(column) < window.end)


def _local_day(column: str, window: Window) -> pl.Expr:
    return pl.col(column).dt.convert_time_zone(window.timezone).dt.date().alias("date")


def _days(window: Window) -> pl.DataFrame:
    return pl.DataFrame({"date": window.local_days()}, schema={"date": pl.Date})


# --------------------------------------------------------------------- results


class FlowPilotSummary(Result):
    """KPI summary of the base set (METRICS.md §4: total … mttr_minutes)."""

    total_sessions: int
    """AI sessions created in the window."""
    resolved_sessions: int
    """status = resolved."""
    escalated_sessions: int
    """status ∈ {escalated, requesting_escalation}."""
    abandoned_sessions: int
    """status = abandoned."""
    active_sessions: int
    """status = active (still running)."""
    resolution_rate_pct: float
    """resolved / total × 100 (percent); 0.0 when total is 0 (METRICS.md §4)."""
    avg_steps_to_resolution: float | None
    """Mean ``step_count`` of resolved sessions (nulls ignored); None without any."""
    avg_rating: float | None
    """Mean ``session_rating`` (1–5) ignoring nulls; None without any."""
    rated_sessions: int
    """Sessions with a rating (1–5): the n behind ``avg_rating``."""
    mttr_minutes: float | None
    """Mean resolved_at − created_at (minutes) of resolved sessions with a resolved_at and a
    non-negative duration; None without any."""
    mttr_sessions: int
    """Resolved sessions behind ``mttr_minutes``."""


class MTTRPoint(Result):
    """One local day of the MTTR trend (METRICS.md §4 mttr_minutes, daily trend)."""

    date: dt.date
    resolved_sessions: int
    """Resolved sessions of the base set whose resolved_at falls on this local day and whose
    duration is valid (the n behind ``mttr_minutes``); 0 on days without any."""
    mttr_minutes: float | None
    """Mean time to resolution (minutes) of those sessions; None — not 0 — without any."""
    mttr_low: float | None = None
    mttr_high: float | None = None
    """95% Student t interval of ``mttr_minutes`` (None with fewer than 2 resolutions)."""


class DomainBreakdownRow(Result):
    """A problem domain's sessions (METRICS.md §4 sessions_by_domain)."""

    domain: str
    total: int
    resolved: int
    escalated: int
    """status ∈ {escalated, requesting_escalation}."""
    resolution_rate_pct: float
    """resolved / total × 100 (percent)."""
    resolution_low_pct: float | None = None
    resolution_high_pct: float | None = None
    """95% Wilson interval of ``resolution_rate_pct`` (percent)."""
    few: bool = False
    """Fewer AI sessions than the page's ``min_n``: shown muted as "few sessions"."""


class ConfidenceTierRow(Result):
    """A confidence tier among sessions that ended resolved or escalated (METRICS.md §4)."""

    tier: str
    """guided, exploring or discovery."""
    sessions: int
    """Sessions of the tier with status ∈ {resolved, escalated, requesting_escalation}."""
    resolved: int
    resolution_rate_pct: float | None
    """resolved / sessions × 100 (percent); None when the tier has no such session."""
    resolution_low_pct: float | None = None
    resolution_high_pct: float | None = None
    """95% Wilson interval of ``resolution_rate_pct`` (percent)."""
    few: bool = False
    """Fewer ended sessions than the page's ``min_n``."""


class KnowledgeCoverage(Result):
    """Flows and the proposal review queue (METRICS.md §4 knowledge_coverage), as they
    stood at the window's end: a page for a past ``as_of`` shows what was true then
    (issue 20)."""

    total_flows: int
    """Flows (``trees``) of the account created before the window's end (a flow without
    a ``created_at`` counts: nothing dates it after the window)."""
    ai_generated_flows: int
    """Those of them with origin ai_generated or ai_enhanced."""
    proposals_pending: int
    """Proposals with status pending created before the window's end (any age)."""
    proposals_approved_in_window: int
    """Proposals approved or modified with ``reviewed_at`` in the window."""
    proposals_rejected_in_window: int
    """Proposals rejected with ``reviewed_at`` in the window."""
    proposals_dismissed_in_window: int
    """Proposals dismissed with ``reviewed_at`` in the window (shown for completeness)."""


class DomainCoverageRow(Result):
    """A problem domain's coverage by flows (METRICS.md §4 coverage by domain)."""

    domain: str
    flow_count: int
    """Distinct flows (non-null ``tree_id``) matched by the domain's AI sessions in the window."""
    session_count: int
    resolution_rate_pct: float
    """resolved / session_count × 100 (percent)."""
    escalation_rate_pct: float
    """status ∈ {escalated, requesting_escalation} / session_count × 100 (percent)."""
    guided_rate_pct: float
    """confidence_tier = guided / session_count × 100 (percent)."""
    avg_resolution_minutes: float | None
    """Mean time to resolution (minutes) of the domain's resolved sessions; None without any."""
    uncovered: bool
    """True when no flow matched any of the domain's sessions (flow_count 0)."""
    resolution_low_pct: float | None = None
    resolution_high_pct: float | None = None
    escalation_low_pct: float | None = None
    escalation_high_pct: float | None = None
    guided_low_pct: float | None = None
    guided_high_pct: float | None = None
    """95% Wilson intervals of the three rates (percent)."""
    avg_resolution_low: float | None = None
    avg_resolution_high: float | None = None
    """95% Student t interval of ``avg_resolution_minutes`` (None with fewer than 2)."""
    few: bool = False
    """Fewer AI sessions than the page's ``min_n``: shown muted as "few sessions"."""


class DomainCoverage(Result):
    """Coverage by domain plus sessions without a domain (METRICS.md §4)."""

    domains: list[DomainCoverageRow]
    """One row per non-null problem_domain, by session_count descending, then domain."""
    unmapped_session_count: int
    """AI sessions of the window with no problem_domain."""
    total_domains: int
    uncovered_domains: list[str]
    """Domains with flow_count 0, in the order of ``domains``."""


class FlowQualityRow(Result):
    """A flow matched by AI sessions of the window (METRICS.md §4 flow quality)."""

    flow_id: str
    name: str
    """The flow's name (``"Unnamed flow"`` when it has none); only flows of the account
    are listed (issue 16: no other account's id)."""
    tree_type: str | None
    usage_count: int
    """AI sessions of the window matched to the flow."""
    resolved_sessions: int
    success_rate_pct: float
    """resolved / usage_count × 100 (percent, raw)."""
    adjusted_success_rate_pct: float
    """The success rate shrunk toward the account's (term S of the formula, percent)."""
    last_matched_at: dt.datetime
    """Creation time (UTC) of the newest matched AI session."""
    avg_confidence: float | None
    """Mean ``match_confidence`` (fraction 0–1, raw, missing values ignored); None
    without any."""
    confidence_low: float | None = None
    confidence_high: float | None = None
    """95% t interval of ``avg_confidence`` (fraction, cut to 0–1); None with fewer than
    two confidence values."""
    quality_score: float
    """Score in [0, 100]; see :data:`QUALITY_SCORE_FORMULA`."""
    needs_attention: bool
    """usage_count ≥ min_usage and (success_rate_pct < attention_success_pct or
    quality_score < attention_score)."""
    success_low_pct: float | None = None
    success_high_pct: float | None = None
    """95% Wilson interval of ``success_rate_pct`` (percent). Top performers are ranked by
    its lower end, needs-attention by its upper end (issue 7)."""
    few: bool = False
    """Fewer uses than the page's ``min_n``: shown muted as "few sessions"."""


class FlowQuality(Result):
    """Flow quality table and lists (METRICS.md §4 flow quality)."""

    flows: list[FlowQualityRow]
    """Every matched flow by quality_score descending, then usage, name, id."""
    top_performers: list[FlowQualityRow]
    """Up to ``limit`` flows with usage_count ≥ min_usage not needing attention, best first."""
    needs_attention: list[FlowQualityRow]
    """Up to ``limit`` flows flagged ``needs_attention``, worst quality first."""
    formula: str
    """:data:`QUALITY_SCORE_FORMULA` with the prior k actually used."""
    account_success_rate_pct: float | None
    """p₀ × 100: resolved / matched over all matched AI sessions of the window (percent)."""
    account_avg_confidence: float | None
    """c₀ before the neutral fallback: mean valid match_confidence (fraction 0–1)."""
    prior_sessions: int
    min_usage: int
    limit: int
    attention_success_pct: float
    attention_score: float


class PsaPushTypeRow(Result):
    """Pushes of one post type with ``posted_at`` in the window (METRICS.md §4 PSA)."""

    post_type: str
    pushes: int
    first_try_successes: int
    """status success with retry_count 0."""
    retry_successes: int
    """status success with retry_count > 0."""
    failed: int
    """Pushes whose status is not success."""
    success_rate_pct: float | None
    """(first_try_successes + retry_successes) / pushes × 100 (percent); None without pushes."""
    success_low_pct: float | None = None
    success_high_pct: float | None = None
    """95% Wilson interval of ``success_rate_pct`` (percent); None without pushes."""
    few: bool = False
    """Fewer pushes than the page's ``min_n``: shown muted as "few sessions"."""


class PsaFunnel(Result):
    """AI sessions of the window through the PSA stages, **nested** (METRICS.md §4 PSA
    funnel, issue 20): each stage counts the sessions that also reached every stage
    before it, so the counts never grow from one stage to the next.

    Posts count when successful and posted before the window's end (or undated).
    """

    total_sessions: int
    """AI sessions created in the window."""
    linked_to_ticket: int
    """Sessions with a non-empty ``psa_ticket_id``."""
    doc_pushed: int
    """Linked sessions with a successful ``doc`` post."""
    time_entry_logged: int
    """Linked sessions with a successful ``doc`` post **and** a successful
    ``time_entry`` post."""


class PsaStageCounts(Result):
    """The same stages, each counted **on its own** (not a funnel: a session may log time
    without a doc, or post without a ticket). Drawn, if at all, as separate bars that do
    not narrow (:func:`rfa.charts.psa_stage_counts`), never as a funnel."""

    total_sessions: int
    linked_to_ticket: int
    """Sessions with a non-empty ``psa_ticket_id``."""
    doc_pushed: int
    """Sessions with a successful ``doc`` post, linked or not."""
    time_entry_logged: int
    """Sessions with a successful ``time_entry`` post, linked or not, with or without a
    doc."""


class PsaDailyPoint(Result):
    """Successful time entries posted on one local day (zero-filled: 0 is a true 0)."""

    date: dt.date
    entries: int = 0
    hours: float = 0.0


class PsaMetrics(Result):
    """PSA integration metrics (METRICS.md §4 PSA)."""

    ticket_link_rate_pct: float | None
    """AI sessions of the window with a psa_ticket_id / total × 100 (percent); None when
    there is no session."""
    total_pushes: int
    """PSA posts with ``posted_at`` in the window, every post type."""
    push_success_first_try_pct: float | None
    """success with retry_count 0 / total_pushes × 100 (percent); None without pushes."""
    push_success_after_retry_pct: float | None
    """success with retry_count > 0 / total_pushes × 100 (percent); None without pushes."""
    push_success_overall_pct: float | None
    """success / total_pushes × 100 — the sum of the two above; None without pushes."""
    ticket_link_low_pct: float | None = None
    ticket_link_high_pct: float | None = None
    push_success_first_try_low_pct: float | None = None
    push_success_first_try_high_pct: float | None = None
    push_success_after_retry_low_pct: float | None = None
    push_success_after_retry_high_pct: float | None = None
    push_success_overall_low_pct: float | None = None
    push_success_overall_high_pct: float | None = None
    """95% Wilson intervals of the four rates above (percent, from the counts; None
    without a denominator) — in the data file, not only on the page (issue 7)."""
    doc_pushed_low_pct: float | None = None
    doc_pushed_high_pct: float | None = None
    time_entry_logged_low_pct: float | None = None
    time_entry_logged_high_pct: float | None = None
    """95% Wilson intervals of the (nested) funnel's last two stages as a share of its
    ``total_sessions`` (percent; the linked stage's is ``ticket_link_*``); None
    without sessions."""
    pushes_by_type: list[PsaPushTypeRow]
    """ticket_note, doc, time_entry (always all three, zero-filled)."""
    time_entries: int
    """Successful time_entry posts with ``posted_at`` in the window."""
    hours_logged: float
    """Sum of their ``hours`` (null or negative hours count as 0 and are reported)."""
    sessions_with_time_entry: int
    """Distinct AI sessions behind ``time_entries``."""
    avg_hours_per_session: float | None
    """hours_logged / sessions_with_time_entry (hours); None without time entries."""
    funnel: PsaFunnel
    """The nested funnel: total → linked → linked and doc → linked, doc and time entry."""
    stage_counts: PsaStageCounts
    """Each stage counted on its own (not nested; not a funnel)."""
    daily_trend: list[PsaDailyPoint]
    """One point per local day of the window (posted day), zero-filled."""


class FlowPilotMetrics(Result):
    """Every METRICS.md §4 row computed by this module, for one account and window."""

    summary: FlowPilotSummary
    mttr_trend: list[MTTRPoint]
    sessions_by_domain: list[DomainBreakdownRow]
    confidence_breakdown: list[ConfidenceTierRow]
    knowledge_coverage: KnowledgeCoverage
    coverage_by_domain: DomainCoverage
    flow_quality: FlowQuality
    psa: PsaMetrics


# ------------------------------------------------------------------- sessions


def summary(sessions: pl.DataFrame) -> FlowPilotSummary:
    """KPI summary of the base set (METRICS.md §4 total / resolved / escalated / abandoned,
    resolution_rate, avg_steps_to_resolution, avg_rating, mttr_minutes).

    Input: ``sessions`` of ``AI_SESSION_SCHEMA`` (uses status: String, step_count,
    session_rating: Int64, created_at, resolved_at: Datetime[us, UTC]).
    Output: :class:`FlowPilotSummary`; ``resolution_rate_pct`` is a percentage
    (0.0 for no sessions); averages are None without values; null ratings
    and resolved sessions without resolved_at or resolved before created are
    excluded (reported by :mod:`rfa.validation`). Sessions with an unknown status
    count in the total only. Raises nothing for empty input.
    """
    total = sessions.height
    counts = sessions.select(
        _RESOLVED.sum().alias("resolved"),
        _ESCALATED.sum().alias("escalated"),
        (_STATUS == "abandoned").sum().alias("abandoned"),
        (_STATUS == "active").sum().alias("active"),
        _RATING.is_not_null().sum().alias("rated"),
    ).row(0, named=True)
    mttr = sessions.select(_VALID_MTTR).to_series()
    return FlowPilotSummary(
        total_sessions=total,
        resolved_sessions=counts["resolved"],
        escalated_sessions=counts["escalated"],
        abandoned_sessions=counts["abandoned"],
        active_sessions=counts["active"],
        resolution_rate_pct=_pct(counts["resolved"], total) or 0.0,
        avg_steps_to_resolution=_mean(sessions.filter(_RESOLVED)["step_count"]),
        avg_rating=_mean(sessions["session_rating"]),
        rated_sessions=counts["rated"],
        mttr_minutes=_mean(mttr),
        mttr_sessions=mttr.drop_nulls().len(),
    )


def kpi_inputs(sessions: pl.DataFrame) -> dict[str, object]:
    """What the FlowPilot KPIs are computed over (issue 7): ``total`` and ``resolved``
    counts, and the Float64 series ``mttr`` (minutes, resolved sessions with a valid
    resolution time), ``steps`` (step_count of resolved sessions) and ``ratings``
    (1–5 session ratings). Input: ``AI_SESSION_SCHEMA`` frame, screened."""
    return {
        "total": sessions.height,
        "resolved": int(sessions.select(_RESOLVED.sum()).item() or 0),
        "mttr": sessions.select(_VALID_MTTR).to_series().drop_nulls(),
        "steps": sessions.filter(_RESOLVED)["step_count"].drop_nulls().cast(pl.Float64),
        "ratings": sessions["session_rating"].drop_nulls().cast(pl.Float64),
    }


def mttr_trend(sessions: pl.DataFrame, window: Window) -> list[MTTRPoint]:
    """Daily MTTR by **resolved day** in the account's timezone (METRICS.md §4 mttr trend).

    Input: ``sessions`` of ``AI_SESSION_SCHEMA`` (status, created_at, resolved_at) and
    the :class:`~rfa.window.Window` (its ``timezone`` buckets days). Output: one
    :class:`MTTRPoint` per :meth:`~rfa.window.Window.local_days` in date order:
    ``resolved_sessions`` (count, 0 on empty days) and ``mttr_minutes`` (mean
    minutes, **None** — not 0 — on days without resolved sessions) with its 95% t
    interval (``mttr_low`` / ``mttr_high``, None below 2 resolutions). Only valid
    resolutions count (as in :func:`summary`); a resolution dated after the
    window's last local day is in the summary's MTTR but on no point.
    """
    per_day = (
        sessions.with_columns(_VALID_MTTR.alias("minutes"), _local_day("resolved_at", window))
        .filter(pl.col("minutes").is_not_null())
        .group_by("date")
        .agg(
            pl.len().alias("resolved_sessions"),
            pl.col("minutes").mean().alias("mttr_minutes"),
            pl.col("minutes").alias("values"),
        )
    )
    filled = (
        _days(window)
        .join(per_day, on="date", how="left")
        .with_columns(pl.col("resolved_sessions").fill_null(0))
        .sort("date")
    )
    points = []
    for row in filled.iter_rows(named=True):
        est = u.mean(row.pop("values") or [], bounds=u.DURATION_BOUNDS)
        points.append(MTTRPoint(**row, mttr_low=est.low, mttr_high=est.high))
    return points


def sessions_by_domain(sessions: pl.DataFrame, *, min_n: int = u.MIN_N) -> list[DomainBreakdownRow]:
    """Sessions per problem domain (METRICS.md §4 sessions_by_domain).

    Input: ``sessions`` of ``AI_SESSION_SCHEMA`` (problem_domain, status). Output:
    one :class:`DomainBreakdownRow` per non-null domain — total, resolved,
    escalated (escalated or requesting_escalation), resolution_rate_pct
    (percent) with its 95% Wilson interval, ``few`` when total < ``min_n`` — ordered by
    total descending, then domain (stable for ties).
    Sessions without a domain are left out (see :func:`coverage_by_domain`,
    ``unmapped_session_count``).
    """
    table = (
        sessions.filter(pl.col("problem_domain").is_not_null())
        .group_by("problem_domain")
        .agg(
            pl.len().alias("total"),
            _RESOLVED.sum().alias("resolved"),
            _ESCALATED.sum().alias("escalated"),
        )
        .with_columns((pl.col("resolved") / pl.col("total") * 100).alias("resolution_rate_pct"))
        .rename({"problem_domain": "domain"})
        .sort(["total", "domain"], descending=[True, False])
    )
    table = u.wilson_columns(table, "resolved", "total", "resolution").with_columns(
        (pl.col("total") < min_n).alias("few")
    )
    return [DomainBreakdownRow(**row) for row in table.iter_rows(named=True)]


def confidence_breakdown(
    sessions: pl.DataFrame, *, min_n: int = u.MIN_N
) -> list[ConfidenceTierRow]:
    """Sessions and resolution rate per confidence tier (METRICS.md §4 confidence_breakdown).

    Input: ``sessions`` of ``AI_SESSION_SCHEMA`` (confidence_tier, status). Only
    sessions that ended resolved or escalated (status ∈ resolved, escalated,
    requesting_escalation) count. Output: exactly three rows — guided,
    exploring, discovery — zero-filled; ``resolution_rate_pct`` (percent) is
    None for a tier without sessions. Sessions with a null or unknown tier are
    left out (reported by :mod:`rfa.validation`).
    """
    counts = {
        tier: (n, r)
        for tier, n, r in sessions.filter(_STATUS.is_in(ENDED_STATUSES))
        .group_by("confidence_tier")
        .agg(pl.len().alias("n"), _RESOLVED.sum().alias("r"))
        .iter_rows()
    }
    rows = []
    for tier in CONFIDENCE_TIERS:
        n, r = counts.get(tier, (0, 0))
        rows.append(
            ConfidenceTierRow(
                tier=tier, sessions=n, resolved=r, resolution_rate_pct=_pct(r, n), few=n < min_n
            )
        )
    bounds = u.wilson_columns(
        pl.DataFrame({"k": [x.resolved for x in rows], "n": [x.sessions for x in rows]}),
        "k",
        "n",
        "resolution",
    )
    return [
        x.model_copy(update=b)
        for x, b in zip(rows, bounds.drop("k", "n").iter_rows(named=True), strict=True)
    ]


def knowledge_coverage(
    flows: pl.DataFrame, proposals: pl.DataFrame, window: Window
) -> KnowledgeCoverage:
    """Flows and proposal counts (METRICS.md §4 knowledge_coverage).

    Input: ``flows`` of ``rfa.queries.accounts.FLOW_SCHEMA`` (origin: String), ``proposals`` of
    ``PROPOSAL_SCHEMA`` (status: String, created_at, reviewed_at: Datetime[us, UTC])
    — any superset of the rows :func:`rfa.queries.proposals.proposals_query`
    returns; the window conditions are re-applied here. Output: counts of flows
    and AI-generated flows (origin ai_generated or ai_enhanced) **created before the
    window's end** (``created_at`` < ``window.end``; a flow without ``created_at`` counts),
    pending proposals created before the window's end (any age), and proposals approved
    or modified / rejected / dismissed with reviewed_at in the window. Every count is
    what was true at the window's end, so a page for a past ``as_of`` is reproducible
    (issue 20).
    """
    reviewed = proposals.filter(_in_window("reviewed_at", window))
    status = pl.col("status")
    existing = flows.filter(pl.col("created_at").is_null() | (pl.col("created_at") < window.end))
    return KnowledgeCoverage(
        total_flows=existing.height,
        ai_generated_flows=existing.filter(pl.col("origin").is_in(AI_ORIGINS)).height,
        proposals_pending=proposals.filter(
            (status == "pending") & (pl.col("created_at") < window.end)
        ).height,
        proposals_approved_in_window=reviewed.filter(status.is_in(["approved", "modified"])).height,
        proposals_rejected_in_window=reviewed.filter(status == "rejected").height,
        proposals_dismissed_in_window=reviewed.filter(status == "dismissed").height,
    )


_COVERAGE_COMPUTED_FIELDS = ("avg_resolution_low", "avg_resolution_high", "few")


def coverage_by_domain(sessions: pl.DataFrame, *, min_n: int = u.MIN_N) -> DomainCoverage:
    """Coverage of each problem domain by flows (METRICS.md §4 coverage by domain).

    Input: ``sessions`` of ``AI_SESSION_SCHEMA`` (problem_domain, tree_id, status,
    confidence_tier, created_at, resolved_at). Per non-null domain:
    ``flow_count`` = distinct non-null matched ``tree_id`` of its sessions (the
    seed left it 0), ``session_count``, resolution / escalation / guided rates
    (percent of session_count) and ``avg_resolution_minutes`` (mean minutes of
    valid resolutions, None without any); rows by session_count descending, then
    domain. Also ``unmapped_session_count`` (sessions with no domain) and the
    ``uncovered_domains`` whose flow_count is 0 — no flow of the account matched
    any of their sessions in the window. Each rate carries its 95% Wilson interval, the
    mean minutes their t interval; ``few`` marks domains with fewer than ``min_n``
    sessions.
    """
    n = pl.col("session_count")
    table = (
        sessions.filter(pl.col("problem_domain").is_not_null())
        .group_by("problem_domain")
        .agg(
            pl.col("tree_id").drop_nulls().n_unique().alias("flow_count"),
            pl.len().alias("session_count"),
            _RESOLVED.sum().alias("resolved"),
            _ESCALATED.sum().alias("escalated"),
            (pl.col("confidence_tier") == "guided").sum().alias("guided"),
            _VALID_MTTR.mean().alias("avg_resolution_minutes"),
            _VALID_MTTR.drop_nulls().alias("resolution_minutes"),
        )
        .with_columns(
            (pl.col("resolved") / n * 100).alias("resolution_rate_pct"),
            (pl.col("escalated") / n * 100).alias("escalation_rate_pct"),
            (pl.col("guided") / n * 100).alias("guided_rate_pct"),
            (pl.col("flow_count") == 0).alias("uncovered"),
        )
        .rename({"problem_domain": "domain"})
        .sort(["session_count", "domain"], descending=[True, False])
    )
    for succ, name in (
        ("resolved", "resolution"),
        ("escalated", "escalation"),
        ("guided", "guided"),
    ):
        table = u.wilson_columns(table, succ, "session_count", name)
    fields = [f for f in DomainCoverageRow.model_fields if f not in _COVERAGE_COMPUTED_FIELDS]
    rows = []
    for row in table.select(*fields, "resolution_minutes").iter_rows(named=True):
        est = u.mean(row.pop("resolution_minutes") or [], bounds=u.DURATION_BOUNDS)
        rows.append(
            DomainCoverageRow(
                **row,
                avg_resolution_low=est.low,
                avg_resolution_high=est.high,
                few=row["session_count"] < min_n,
            )
        )
    return DomainCoverage(
        domains=rows,
        unmapped_session_count=sessions.filter(pl.col("problem_domain").is_null()).height,
        total_domains=len(rows),
        uncovered_domains=[r.domain for r in rows if r.uncovered],
    )


# --------------------------------------------------------------- flow quality


def flow_quality(
    sessions: pl.DataFrame,
    flows: pl.DataFrame,
    *,
    prior_sessions: int = QUALITY_PRIOR_SESSIONS,
    min_usage: int = MIN_USAGE,
    limit: int = FLOW_LIST_LIMIT,
    attention_success_pct: float = ATTENTION_SUCCESS_PCT,
    attention_score: float = ATTENTION_SCORE,
    min_n: int = u.MIN_N,
) -> FlowQuality:
    """Quality of every flow matched by AI sessions of the window (METRICS.md §4 flow quality).

    Input: ``sessions`` of ``AI_SESSION_SCHEMA`` (tree_id, status,
    match_confidence: Float64, created_at) and ``flows`` of
    ``rfa.queries.accounts.FLOW_SCHEMA`` (tree_id, name, tree_type). Per matched flow:
    usage_count, resolved_sessions, success_rate_pct (raw, percent),
    adjusted_success_rate_pct (shrunk, percent), last_matched_at (UTC),
    avg_confidence (fraction 0–1, missing values ignored; with its 95% t interval
    ``confidence_low``/``confidence_high``, cut to 0–1) and
    ``quality_score`` in [0, 100]:

        100 × (0.60·S + 0.25·C + 0.15·U) with
        S = (r + k·p₀) / (n + k), C = (Σconf + k·c₀) / (m + k),
        U = ln(1 + n) / ln(1 + n_max)

    (see :data:`QUALITY_SCORE_FORMULA`; k = ``prior_sessions``, default 5). The
    shrinkage keeps flows with 1–2 matches near the account average.

    Lists (defaults in parentheses): ``needs_attention`` — flows with
    usage_count ≥ ``min_usage`` (5) whose raw success rate is below
    ``attention_success_pct`` (50 %) or whose score is below ``attention_score``
    (50), lowest upper end of the success rate's 95% Wilson interval first (then worst
    score); ``top_performers`` — other flows with usage_count ≥ ``min_usage``, highest
    lower end of that interval first (then best score), so a flow with 2 of 2 resolved
    does not top the list (issue 7); both cut to ``limit`` (5) rows. Ties: usage,
    then name, then id. A matched ``tree_id`` that is not a flow of ``flows`` (another
    account's or a deleted flow) counts as no match: it is in no row, no list and not in
    p₀, so no foreign id reaches the output (:mod:`rfa.validation` nulls such ids and
    reports them as ``ai_unknown_flow``; issue 16). ``few`` marks flows
    with fewer than ``min_n`` uses (shown muted; the lists still follow ``min_usage``).

    Raises ``ValueError`` when ``prior_sessions`` < 1 or ``min_usage`` / ``limit`` < 0.
    """
    if prior_sessions < 1:
        raise ValueError("prior_sessions must be at least 1")
    if min_usage < 0 or limit < 0:
        raise ValueError("min_usage and limit must not be negative")
    k = float(prior_sessions)
    known = pl.col("tree_id").is_in(flows["tree_id"].drop_nulls().implode())
    matched = sessions.filter(pl.col("tree_id").is_not_null() & known)
    p0 = _mean(matched.select(_RESOLVED.cast(pl.Float64)).to_series())
    c_mean = _mean(matched["match_confidence"])
    c0 = NEUTRAL_CONFIDENCE if c_mean is None else c_mean
    per_flow = matched.group_by("tree_id").agg(
        pl.len().alias("usage_count"),
        _RESOLVED.sum().alias("resolved_sessions"),
        pl.col("created_at").max().alias("last_matched_at"),
        _CONFIDENCE.sum().alias("conf_sum"),
        _CONFIDENCE.count().alias("conf_n"),
        _CONFIDENCE.mean().alias("avg_confidence"),
        _CONFIDENCE.drop_nulls().alias("confidence_values"),
    )
    n_max = per_flow["usage_count"].max() if per_flow.height else 0
    n, r = pl.col("usage_count"), pl.col("resolved_sessions")
    s = (r + k * (p0 or 0.0)) / (n + k)
    c = (pl.col("conf_sum") + k * c0) / (pl.col("conf_n") + k)
    u = (n.cast(pl.Float64).log1p() / math.log1p(n_max)) if n_max else pl.lit(0.0)
    score = 100 * (
        QUALITY_WEIGHTS["success"] * s
        + QUALITY_WEIGHTS["confidence"] * c
        + QUALITY_WEIGHTS["usage"] * u
    )
    table = (
        per_flow.join(
            flows.select("tree_id", "name", "tree_type").unique("tree_id", keep="first"),
            on="tree_id",
            how="inner",
        )
        .with_columns(
            pl.col("name").fill_null("Unnamed flow"),
            (r / n * 100).alias("success_rate_pct"),
            (s * 100).alias("adjusted_success_rate_pct"),
            score.clip(0.0, 100.0).alias("quality_score"),
        )
        .with_columns(
            (
                (n >= min_usage)
                & (
                    (pl.col("success_rate_pct") < attention_success_pct)
                    | (pl.col("quality_score") < attention_score)
                )
            ).alias("needs_attention")
        )
        .rename({"tree_id": "flow_id"})
        .sort(
            ["quality_score", "usage_count", "name", "flow_id"],
            descending=[True, True, False, False],
        )
    )
    from rfa.metrics import uncertainty as u

    base = [
        f
        for f in FlowQualityRow.model_fields
        if (not f.startswith("success_") or f == "success_rate_pct")
        and f not in ("few", "confidence_low", "confidence_high")
    ]
    rows = []
    for row in table.select(*base, "confidence_values").iter_rows(named=True):
        interval = u.rate(row["resolved_sessions"], row["usage_count"])
        confidence = u.mean(row.pop("confidence_values"), bounds=u.FRACTION_BOUNDS)
        rows.append(
            FlowQualityRow(
                **row,
                success_low_pct=None if interval.low is None else interval.low * 100,
                success_high_pct=None if interval.high is None else interval.high * 100,
                confidence_low=confidence.low,
                confidence_high=confidence.high,
                few=row["usage_count"] < min_n,
            )
        )
    attention = sorted(
        (x for x in rows if x.needs_attention),
        key=lambda x: (
            x.success_high_pct if x.success_high_pct is not None else 100.0,
            x.quality_score,
            -x.usage_count,
            x.name,
            x.flow_id,
        ),
    )
    top = sorted(
        (x for x in rows if x.usage_count >= min_usage and not x.needs_attention),
        key=lambda x: (
            -(x.success_low_pct or 0.0),
            -x.quality_score,
            -x.usage_count,
            x.name,
            x.flow_id,
        ),
    )
    return FlowQuality(
        flows=rows,
        top_performers=top[:limit],
        needs_attention=attention[:limit],
        formula=_FORMULA_TEMPLATE.format(k=prior_sessions),
        account_success_rate_pct=None if p0 is None else p0 * 100,
        account_avg_confidence=c_mean,
        prior_sessions=prior_sessions,
        min_usage=min_usage,
        limit=limit,
        attention_success_pct=attention_success_pct,
        attention_score=attention_score,
    )


# ------------------------------------------------------------------------ PSA


def psa_metrics(
    sessions: pl.DataFrame,
    posts: pl.DataFrame,
    session_posts: pl.DataFrame,
    window: Window,
    *,
    min_n: int = u.MIN_N,
) -> PsaMetrics:
    """PSA integration metrics (METRICS.md §4 PSA).

    Input: ``sessions`` of ``AI_SESSION_SCHEMA`` (ai_session_id, psa_ticket_id);
    ``posts`` of ``PSA_POST_SCHEMA`` with ``posted_at`` in the window
    (:func:`rfa.queries.psa.psa_posts_query`; the window is re-applied here);
    ``session_posts`` of ``PSA_POST_SCHEMA``: posts of the sessions of the window
    (:func:`rfa.queries.psa.session_psa_posts_query`; only rows whose
    ai_session_id is in ``sessions`` and posted before the window's end, or
    undated, count).

    Output (:class:`PsaMetrics`, rates in **percent**, None without a
    denominator): ticket_link_rate_pct = sessions with a non-empty
    psa_ticket_id / sessions; push success first try (success, retry_count 0)
    and after retry (success, retry_count > 0) over **all** pushes of the
    window, and their sum overall; per post type; time entries = successful
    time_entry posts of the window, their hours (sum, hours), distinct sessions
    and average hours per such session; the **nested** funnel of sessions of the window
    (total → linked → linked with a doc pushed → linked with a doc pushed and a time
    entry logged, :class:`PsaFunnel`) and the same stages counted each on its own
    (:class:`PsaStageCounts`, not a funnel); a daily trend of entries and hours per local posted
    day, zero-filled. A null retry_count counts as 0 (the column's default);
    null or negative hours count as 0; both are reported (reported by :mod:`rfa.validation`).
    Every rate and funnel share carries its 95% Wilson interval from the counts
    (``*_low_pct`` / ``*_high_pct``); a post type with fewer than ``min_n`` pushes is
    ``few``.
    """
    total = sessions.height
    linked = sessions.filter(_LINKED).height
    pushes = posts.filter(_in_window("posted_at", window))
    entries = pushes.filter(_TIME_ENTRY)
    hours = float(entries.select(_VALID_HOURS.fill_null(0.0).sum()).item())
    with_entry = entries["ai_session_id"].n_unique()

    def successes(frame: pl.DataFrame) -> tuple[int, int, int]:
        row = frame.select(
            (_SUCCESS & (_RETRIES == 0)).sum().alias("first"),
            (_SUCCESS & (_RETRIES > 0)).sum().alias("retry"),
        ).row(0)
        return frame.height, row[0], row[1]

    n_push, first, retry = successes(pushes)
    by_type = []
    for post_type in POST_TYPES:
        n_t, first_t, retry_t = successes(pushes.filter(pl.col("post_type") == post_type))
        low_t, high_t = _pct_interval(first_t + retry_t, n_t)
        by_type.append(
            PsaPushTypeRow(
                post_type=post_type,
                pushes=n_t,
                first_try_successes=first_t,
                retry_successes=retry_t,
                failed=n_t - first_t - retry_t,
                success_rate_pct=_pct(first_t + retry_t, n_t),
                success_low_pct=low_t,
                success_high_pct=high_t,
                few=n_t < min_n,
            )
        )

    ids = sessions["ai_session_id"]
    own = session_posts.filter(
        pl.col("ai_session_id").is_in(ids.implode())
        & _SUCCESS
        & (pl.col("posted_at").is_null() | (pl.col("posted_at") < window.end))
    )

    def reached(post_type: str) -> set:
        return set(own.filter(pl.col("post_type") == post_type)["ai_session_id"].to_list())

    linked_ids = set(sessions.filter(_LINKED)["ai_session_id"].to_list())
    with_doc, with_entry_post = reached("doc"), reached("time_entry")
    # nested: each stage keeps only the sessions that reached every stage before it
    nested_doc = linked_ids & with_doc
    nested_entry = nested_doc & with_entry_post

    per_day = (
        entries.with_columns(_local_day("posted_at", window), _VALID_HOURS.fill_null(0.0))
        .group_by("date")
        .agg(pl.len().alias("entries"), pl.col("hours").sum())
    )
    trend = (
        _days(window)
        .join(per_day, on="date", how="left")
        .with_columns(pl.col("entries").fill_null(0), pl.col("hours").fill_null(0.0))
        .sort("date")
    )
    doc, time_entry = len(nested_doc), len(nested_entry)
    link_low, link_high = _pct_interval(linked, total)
    first_low, first_high = _pct_interval(first, n_push)
    retry_low, retry_high = _pct_interval(retry, n_push)
    all_low, all_high = _pct_interval(first + retry, n_push)
    doc_low, doc_high = _pct_interval(doc, total)
    entry_low, entry_high = _pct_interval(time_entry, total)
    return PsaMetrics(
        ticket_link_rate_pct=_pct(linked, total),
        ticket_link_low_pct=link_low,
        ticket_link_high_pct=link_high,
        push_success_first_try_low_pct=first_low,
        push_success_first_try_high_pct=first_high,
        push_success_after_retry_low_pct=retry_low,
        push_success_after_retry_high_pct=retry_high,
        push_success_overall_low_pct=all_low,
        push_success_overall_high_pct=all_high,
        total_pushes=n_push,
        push_success_first_try_pct=_pct(first, n_push),
        push_success_after_retry_pct=_pct(retry, n_push),
        push_success_overall_pct=_pct(first + retry, n_push),
        pushes_by_type=by_type,
        time_entries=entries.height,
        hours_logged=hours,
        sessions_with_time_entry=with_entry,
        avg_hours_per_session=hours / with_entry if with_entry else None,
        funnel=PsaFunnel(
            total_sessions=total,
            linked_to_ticket=linked,
            doc_pushed=doc,
            time_entry_logged=time_entry,
        ),
        stage_counts=PsaStageCounts(
            total_sessions=total,
            linked_to_ticket=linked,
            doc_pushed=len(with_doc),
            time_entry_logged=len(with_entry_post),
        ),
        doc_pushed_low_pct=doc_low,
        doc_pushed_high_pct=doc_high,
        time_entry_logged_low_pct=entry_low,
        time_entry_logged_high_pct=entry_high,
        daily_trend=[PsaDailyPoint(**row) for row in trend.iter_rows(named=True)],
    )


# ---------------------------------------------------------------- everything


def flowpilot_metrics(
    sessions: pl.DataFrame,
    flows: pl.DataFrame,
    proposals: pl.DataFrame,
    posts: pl.DataFrame,
    session_posts: pl.DataFrame,
    window: Window,
    *,
    prior_sessions: int = QUALITY_PRIOR_SESSIONS,
    min_usage: int = MIN_USAGE,
    limit: int = FLOW_LIST_LIMIT,
    min_n: int = u.MIN_N,
) -> FlowPilotMetrics:
    """Every METRICS.md §4 row this module implements, for one account and window.

    Inputs are the frames of :func:`rfa.queries.ai_sessions.ai_sessions_frame`,
    :func:`~rfa.queries.accounts.list_flows`,
    :func:`rfa.queries.proposals.proposals_frame`,
    :func:`rfa.queries.psa.psa_posts_frame` and
    :func:`~rfa.queries.psa.session_psa_posts_frame` for the same account and
    ``window``. Flow-quality parameters are passed to :func:`flow_quality`; ``min_n``
    (rows below it are ``few``) to every table.
    Returns a :class:`FlowPilotMetrics` (``model_dump(mode="json")`` is the data file).
    """
    return FlowPilotMetrics(
        summary=summary(sessions),
        mttr_trend=mttr_trend(sessions, window),
        sessions_by_domain=sessions_by_domain(sessions, min_n=min_n),
        confidence_breakdown=confidence_breakdown(sessions, min_n=min_n),
        knowledge_coverage=knowledge_coverage(flows, proposals, window),
        coverage_by_domain=coverage_by_domain(sessions, min_n=min_n),
        flow_quality=flow_quality(
            sessions,
            flows,
            prior_sessions=prior_sessions,
            min_usage=min_usage,
            limit=limit,
            min_n=min_n,
        ),
        psa=psa_metrics(sessions, posts, session_posts, window, min_n=min_n),
    )
