"""Typed metric results. Every model serialises to JSON with ``model_dump(mode="json")``.

Units: rates are **fractions in [0, 1]** (``completion_rate``, ``dropoff_rate``,
``helpful_rate``), durations are **minutes**, CSAT is the mean of 1–5 ratings.
A value that cannot be computed (no completed session, no rating) is ``None``,
never a made-up 0.
"""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict

OUTCOMES: tuple[str, ...] = ("resolved", "escalated", "workaround", "unresolved")
"""Accepted ``sessions.outcome`` values, in display order (METRICS.md §1)."""


class Result(BaseModel):
    """Base of every metric result: immutable, JSON-serialisable."""

    model_config = ConfigDict(frozen=True)


class OutcomeBreakdown(Result):
    """Counts of completed sessions per outcome (METRICS.md §3 outcome_breakdown)."""

    resolved: int = 0
    escalated: int = 0
    workaround: int = 0
    unresolved: int = 0


class Summary(Result):
    """KPI summary of a base set of sessions (METRICS.md §3, first six rows)."""

    total_sessions: int
    completed_sessions: int
    completion_rate: float
    """completed / total as a fraction; 0.0 when total is 0."""
    median_duration_minutes: float | None
    """Median of completed − started in minutes over completed sessions with a
    non-negative duration; None when there is none."""
    active_engineers: int
    outcome_breakdown: OutcomeBreakdown


class TimeSeriesPoint(Result):
    """One local day of the window (zero-filled): sessions started and outcomes."""

    date: dt.date
    sessions: int = 0
    resolved: int = 0
    escalated: int = 0
    workaround: int = 0
    unresolved: int = 0


class RankedRow(Result):
    """A row of the top-flows or top-engineers table (METRICS.md §3)."""

    id: str
    name: str
    sessions: int
    completed_sessions: int
    completion_rate: float
    median_duration_minutes: float | None
    avg_csat: float | None
    ratings: int
    completion_low: float | None = None
    completion_high: float | None = None
    """95% Wilson interval of ``completion_rate`` (fractions); the table is ordered by
    ``completion_low`` so a flow with 2 of 2 completed cannot top it on luck."""
    csat_low: float | None = None
    csat_high: float | None = None
    """95% Student t interval of ``avg_csat`` (None with fewer than 2 ratings)."""
    median_low: float | None = None
    median_high: float | None = None
    """95% interval of ``median_duration_minutes`` (minutes): seeded bootstrap up to
    :data:`rfa.metrics.uncertainty.TABLE_BOOTSTRAP_MAX_N` durations, order-statistic
    interval above; None with fewer than 2 durations."""
    few: bool = False
    """Fewer sessions than the page's ``min_n``: shown muted as "few sessions"."""


class CSAT(Result):
    """Flow CSAT from ``session_ratings`` created in the window (METRICS.md §3 avg_csat)."""

    avg_csat: float | None
    total_ratings: int
    """Ratings counted: screened by :mod:`rfa.validation`, so 1–5 and one per session
    (the ratings it excluded are in the page's ``data_quality``)."""
    distribution: dict[int, int]
    """Count of ratings per score 1..5 (all five keys present)."""


class StepRow(Result):
    """One row of the flow step table (METRICS.md §3 step table)."""

    node_id: str
    node_title: str
    visit_count: int
    dropoff_count: int
    dropoff_rate: float
    helpful_yes: int | None
    helpful_no: int | None
    """Thumbs up / down; None when withheld for small-group privacy (rfa.metrics.privacy)."""
    helpful_rate: float | None
    """yes / (yes + no); None when the step has no thumbs or they are withheld."""
    dropoff_low: float | None = None
    dropoff_high: float | None = None
    """95% Wilson interval of ``dropoff_rate`` over the step's visits."""
    helpful_low: float | None = None
    helpful_high: float | None = None
    """95% Wilson interval of ``helpful_rate``; None when it is None."""
    few: bool = False
    """Fewer visits than the page's ``min_n``: shown muted as "few sessions"."""


class Comment(Result):
    """An anonymous CSAT comment: never the author's name or id (METRICS.md §3).

    It carries the **date** only (issue 16 §13): a minute or a second would let a reader
    match the comment to one session, and so to the engineer who ran it."""

    rating: int
    comment: str
    date: dt.date
    """The local day (the account's timezone) the rating was given."""


class DataQualityFinding(Result):
    """Faulty rows of one kind found by :mod:`rfa.validation`, how many, and what was done
    with them (excluded from a metric, read as missing, or shown as unknown)."""

    check: str
    count: int
    description: str


class AccountInfo(Result):
    """The tenant a page is about."""

    id: str
    slug: str
    name: str
    timezone: str


class Entity(Result):
    """A flow or an engineer a page is scoped to."""

    id: str
    name: str
