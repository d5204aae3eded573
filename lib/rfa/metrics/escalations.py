"""Escalation time-to-first-action (METRICS.md §5): post-claim activity lag of hand-offs.

Input: a frame with the columns of :data:`rfa.queries.handoffs.HANDOFF_SCHEMA`
(``handoff_id, ai_session_id: String; created_at, claimed_at, first_action_at:
Datetime[us, UTC]``) — the account's hand-offs claimed in the window, where
``first_action_at`` is the first AI-session step strictly after ``claimed_at``
(null when none) — and the count of hand-offs created in the window that were
never claimed (:func:`rfa.queries.handoffs.unclaimed_count`).
Hand-offs whose first action predates the claim (clock drift) are reported by
:mod:`rfa.validation` (``handoff_action_before_claim``); here their lag is floored
at 0 and counted in ``n_negative_floored``, as METRICS.md §5 says.

Units: **seconds** for every duration, **fractions** in [0, 1] for rates. A
statistic that cannot be computed (no hand-off with an action) is ``None``.

The number measures how long after claiming an escalation the engineer first
acts in the session. It is **not** "minutes recovered" and must never be shown
as a saving: that claim needs a manual baseline of the pre-hand-off process
(:data:`METRIC_DEFINITION`, carried in every result).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from rfa.metrics.models import Result

METRIC_DEFINITION = (
    "Seconds from an escalation hand-off being claimed (session_handoffs.claimed_at) to the "
    "first AI-session step created strictly after the claim on the same session. It measures "
    "post-claim activity lag, NOT minutes recovered or time saved, and must not be presented "
    "as savings: a savings claim needs a manual baseline of the verbal hand-off it replaces. "
    "Unclaimed hand-offs are excluded; claimed hand-offs without a later step count as claimed "
    "but not acted on; negative lags from clock drift are floored at 0 and counted."
)
"""The definition every escalations output carries (METRICS.md §5)."""

SMALL_SAMPLE = 20
"""Below this many lags the p95 is still computed but flagged ``small_sample``
(with 19 values or fewer the 95th percentile interpolates between the two largest)."""

HISTOGRAM_EDGES_SECONDS: tuple[float, ...] = (0, 30, 60, 120, 300, 600, 1800, 3600)
"""Lower edges of the distribution chart's bins in seconds: < 30 s, 30 s–1 min,
1–2, 2–5, 5–10, 10–30, 30–60 min and an open-ended ≥ 1 h bin (roughly log-spaced,
on round human durations)."""


class HistogramBin(Result):
    """One bin of the time-to-first-action distribution: ``[lower, upper)`` seconds."""

    lower_seconds: float
    upper_seconds: float | None
    """Exclusive upper edge; None for the last, open-ended bin."""
    label: str
    """Human wording of the bin, e.g. ``"2–5 min"``."""
    count: int


class EscalationMetrics(Result):
    """Escalation time-to-first-action of one account and window (METRICS.md §5)."""

    metric_definition: str = METRIC_DEFINITION
    """What the numbers mean and must not be presented as (always :data:`METRIC_DEFINITION`)."""
    n_handoffs_claimed: int
    """Hand-offs with ``claimed_at`` in the window (unclaimed are excluded)."""
    n_handoffs_with_action: int
    """Claimed hand-offs with an AI-session step strictly after the claim."""
    n_handoffs_without_action: int
    """Claimed but never acted on: claimed − with_action."""
    n_handoffs_unclaimed: int
    """Hand-offs created in the window and never claimed (context; in no statistic)."""
    action_conversion_rate: float | None
    """with_action / claimed as a fraction; None when nothing was claimed."""
    avg_seconds_to_first_action: float | None
    median_seconds_to_first_action: float | None
    """Linear interpolation (as ``percentile_cont(0.5)``)."""
    p95_seconds_to_first_action: float | None
    """Linear interpolation (as ``percentile_cont(0.95)`` / numpy's default)."""
    n_values: int
    """Lags behind avg/median/p95 (= n_handoffs_with_action)."""
    small_sample: bool
    """True when fewer than :data:`SMALL_SAMPLE` lags back the p95 (say so on the page);
    also True with no lag at all (then every statistic is None)."""
    n_negative_floored: int
    """Lags below 0 (first step dated before the claim: clock drift) counted as 0 s."""
    histogram: list[HistogramBin]
    """Distribution of the lags (after flooring); every bin present, zero-filled."""
    avg_seconds_low: float | None = None
    avg_seconds_high: float | None = None
    """95% Student t interval of ``avg_seconds_to_first_action`` (None with fewer than 2
    lags); the median's and p95's bootstrap intervals are in the page's KPIs."""


def _fmt(seconds: float) -> str:
    if seconds < 60:
        return f"{seconds:g} s"
    if seconds < 3600:
        return f"{seconds / 60:g} min"
    return f"{seconds / 3600:g} h"


def _bin_label(lower: float, upper: float | None) -> str:
    if upper is None:
        return f"≥ {_fmt(lower)}"
    if lower <= 0:
        return f"< {_fmt(upper)}"
    (lo_num, lo_unit), hi = _fmt(lower).split(" "), _fmt(upper)
    return f"{lo_num}–{hi}" if hi.endswith(f" {lo_unit}") else f"{_fmt(lower)} – {hi}"


def histogram(
    seconds: pl.Series, edges: Sequence[float] = HISTOGRAM_EDGES_SECONDS
) -> list[HistogramBin]:
    """Count ``seconds`` (Float64, nulls ignored) into bins ``[edges[i], edges[i+1])``.

    ``edges`` are increasing lower edges in seconds, normally starting at 0; the
    last bin is open-ended and values below ``edges[0]`` fall in the first bin, so
    every value is counted once. Returns one :class:`HistogramBin` per edge.
    Raises ``ValueError`` for empty or non-increasing edges.
    """
    edges = [float(e) for e in edges]
    if not edges or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ValueError(f"histogram edges must be non-empty and increasing, got {edges}")
    values = seconds.drop_nulls()
    bins = []
    for i, lower in enumerate(edges):
        upper = edges[i + 1] if i + 1 < len(edges) else None
        above = values >= lower if i > 0 else values.is_not_null()
        below = values < upper if upper is not None else values.is_not_null()
        bins.append(
            HistogramBin(
                lower_seconds=lower,
                upper_seconds=upper,
                label=_bin_label(lower, upper),
                count=int((above & below).sum()),
            )
        )
    return bins


def _stat(value: float | None) -> float | None:
    return None if value is None else float(value)


def raw_lags(handoffs: pl.DataFrame) -> pl.Series:
    """Seconds from claim to first action (Float64, named ``lag``) of the claimed
    hand-offs with an action, before flooring: negative values are clock drift."""
    return (
        handoffs.filter(
            pl.col("claimed_at").is_not_null() & pl.col("first_action_at").is_not_null()
        )
        .select(
            (
                (pl.col("first_action_at") - pl.col("claimed_at")).dt.total_microseconds()
                / 1_000_000
            ).alias("lag")
        )
        .to_series()
    )


def lags(handoffs: pl.DataFrame) -> pl.Series:
    """The lags every statistic of :func:`escalation_metrics` is computed over: seconds,
    negative values floored at 0 (Float64)."""
    return raw_lags(handoffs).clip(lower_bound=0.0)


def escalation_metrics(
    handoffs: pl.DataFrame,
    n_unclaimed: int = 0,
    *,
    edges: Sequence[float] = HISTOGRAM_EDGES_SECONDS,
) -> EscalationMetrics:
    """Time-to-first-action statistics of claimed hand-offs (METRICS.md §5).

    ``handoffs``: columns ``claimed_at`` and ``first_action_at``
    (``Datetime[us, UTC]``), as :data:`rfa.queries.handoffs.HANDOFF_SCHEMA`.
    Rows with a null ``claimed_at`` are unclaimed and ignored (the query never
    returns them). Per claimed hand-off with a ``first_action_at`` the lag is
    ``first_action_at − claimed_at`` in seconds; a negative lag (clock drift) is
    floored at 0 and counted in ``n_negative_floored``. Over the lags:
    mean (with its 95% t interval), median and p95 with linear interpolation (None when
    there is none);
    ``small_sample`` when fewer than :data:`SMALL_SAMPLE` lags. ``n_unclaimed``
    is reported as context only. Never raises on an empty frame; a frame without
    ``claimed_at``/``first_action_at`` raises ``polars.exceptions.ColumnNotFoundError``,
    non-increasing ``edges`` a ``ValueError``.
    """
    claimed = handoffs.filter(pl.col("claimed_at").is_not_null())
    lags = raw_lags(handoffs)
    n_negative = int((lags < 0).sum())
    floored = lags.clip(lower_bound=0.0)
    n_claimed, n_action = claimed.height, floored.len()
    from rfa.metrics import uncertainty as u

    average = u.mean(floored, bounds=u.DURATION_BOUNDS)
    return EscalationMetrics(
        avg_seconds_low=average.low,
        avg_seconds_high=average.high,
        n_handoffs_claimed=n_claimed,
        n_handoffs_with_action=n_action,
        n_handoffs_without_action=n_claimed - n_action,
        n_handoffs_unclaimed=int(n_unclaimed),
        action_conversion_rate=n_action / n_claimed if n_claimed else None,
        avg_seconds_to_first_action=_stat(floored.mean()) if n_action else None,
        median_seconds_to_first_action=(
            _stat(floored.quantile(0.5, interpolation="linear")) if n_action else None
        ),
        p95_seconds_to_first_action=(
            _stat(floored.quantile(0.95, interpolation="linear")) if n_action else None
        ),
        n_values=n_action,
        small_sample=n_action < SMALL_SAMPLE,
        n_negative_floored=n_negative,
        histogram=histogram(floored, edges),
    )
