"""Honest KPIs: every headline number with its n, 95% interval and a comparison with the
previous window of equal length (issue 7; decisions in docs/METRIC_DECISIONS.md).

A :class:`KPI` bundles the current window's :class:`~rfa.metrics.uncertainty.Estimate`,
the previous window's, and the :class:`~rfa.metrics.uncertainty.Change` between them.
The builders here choose the interval and the test by the kind of number:

=========================  =======================  ============================
number                     95% interval             test against previous window
=========================  =======================  ============================
count (sessions, …)        exact Poisson            Poisson rate test (equal length)
rate (completion, …)       Wilson                   two-proportion z-test
mean (CSAT, MTTR, …)       Student t                Welch t-test
median / p90 / p95         seeded bootstrap         Mann–Whitney U
=========================  =======================  ============================

Units: rates are fractions in [0, 1] (pages print percent and "pts"), durations are
minutes or seconds as ``unit`` says, CSAT is the 1–5 mean. Below ``min_n``
observations a figure is ``few`` and a change is never called significant.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np
import polars as pl

from rfa.metrics import uncertainty as u
from rfa.metrics.models import Result
from rfa.metrics.uncertainty import MIN_N, Change, Estimate

Unit = Literal["count", "fraction", "minutes", "seconds", "csat", "steps"]
"""How a KPI's value reads: a count, a fraction (shown as percent), minutes,
seconds, a 1–5 CSAT mean, or a mean number of steps."""

_UNIT_LABEL: dict[str, str] = {
    "count": "",
    "fraction": "pts",
    "minutes": "min",
    "seconds": "s",
    "csat": "",
    "steps": "steps",
}


class KPI(Result):
    """One headline number of a page, honest about its uncertainty.

    ``estimate`` is the current window, ``previous`` the window of equal length before
    it, ``change`` the delta and whether it is beyond noise (``change.test`` names the
    test). ``key`` is the metric's name in :mod:`rfa.definitions`.
    """

    key: str
    label: str
    unit: Unit
    estimate: Estimate
    previous: Estimate
    change: Change


def _values(values: pl.Series | Sequence[float] | np.ndarray | None) -> np.ndarray:
    """Finite float values of a series or sequence (nulls and NaN dropped)."""
    if values is None:
        return np.array([], dtype=float)
    if isinstance(values, pl.Series):
        arr = values.drop_nulls().cast(pl.Float64).to_numpy()
    elif isinstance(values, np.ndarray):
        arr = values.astype(float, copy=False)
    else:
        arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return arr[np.isfinite(arr)]


def count_kpi(key: str, label: str, current: int, previous: int, *, period_label: str) -> KPI:
    """A count (sessions started, ratings given…): exact Poisson interval, Poisson rate
    test for two windows of equal length (:func:`rfa.metrics.uncertainty.compare_counts`)."""
    return KPI(
        key=key,
        label=label,
        unit="count",
        estimate=u.count(current),
        previous=u.count(previous),
        change=u.compare_counts(current, previous, period_label=period_label),
    )


def rate_kpi(
    key: str,
    label: str,
    successes: int,
    n: int,
    previous_successes: int,
    previous_n: int,
    *,
    period_label: str,
    min_n: int = MIN_N,
) -> KPI:
    """A rate (completion, resolution, CSAT score…) as a fraction: Wilson interval,
    two-proportion z-test; the change reads in percentage points."""
    return KPI(
        key=key,
        label=label,
        unit="fraction",
        estimate=u.rate(successes, n, min_n=min_n),
        previous=u.rate(previous_successes, previous_n, min_n=min_n),
        change=u.compare_rates(
            successes,
            n,
            previous_successes,
            previous_n,
            period_label=period_label,
            min_n=min_n,
        ),
    )


def mean_kpi(
    key: str,
    label: str,
    values,
    previous_values,
    *,
    unit: Unit,
    period_label: str,
    min_n: int = MIN_N,
) -> KPI:
    """A mean (CSAT, MTTR, steps…): Student t interval, cut to the possible range (1–5
    for CSAT, ≥ 0 otherwise), Welch t-test; the change label carries the unit ("up 1.50
    min vs previous 7 days"; none for CSAT)."""
    cur, prev = _values(values), _values(previous_values)
    bounds = u.CSAT_BOUNDS if unit == "csat" else u.DURATION_BOUNDS
    return KPI(
        key=key,
        label=label,
        unit=unit,
        estimate=u.mean(cur, min_n=min_n, bounds=bounds),
        previous=u.mean(prev, min_n=min_n, bounds=bounds),
        change=u.compare_means(
            cur, prev, period_label=period_label, min_n=min_n, unit=_UNIT_LABEL[unit]
        ),
    )


def quantile_kpi(
    key: str,
    label: str,
    values,
    previous_values,
    q: float,
    *,
    unit: Unit,
    period_label: str,
    min_n: int = MIN_N,
) -> KPI:
    """A median or high percentile (p90, p95) of durations: seeded bootstrap interval
    (:func:`rfa.metrics.uncertainty.quantile`); the change is tested with Mann–Whitney U
    on the two windows' values (a shift of the whole distribution,
    :func:`rfa.metrics.uncertainty.compare_distributions`), the delta is the difference
    of the two quantiles, and a significant change points the way this quantile moved.
    ``values`` / ``previous_values``: durations in ``unit`` (nulls and NaN dropped)."""
    cur, prev = _values(values), _values(previous_values)
    return _quantile_kpi(
        key,
        label,
        (u.quantile(cur, q, min_n=min_n), u.quantile(prev, q, min_n=min_n)),
        _shift(cur, prev, min_n),
        unit=unit,
        period_label=period_label,
    )


def _shift(cur: np.ndarray, prev: np.ndarray, min_n: int) -> Change:
    """The Mann–Whitney test of two windows' values. One test serves every quantile KPI of
    the same values (it does not depend on the quantile); its label is only kept when the
    change is not significant ("no clear change", "not enough data"…), which names no
    period or unit, so neither is passed."""
    return u.compare_distributions(cur, prev, min_n=min_n)


def _quantile_kpi(
    key: str,
    label: str,
    estimates: tuple[Estimate, Estimate],
    shift: Change,
    *,
    unit: Unit,
    period_label: str,
) -> KPI:
    """A quantile KPI from the two windows' quantile estimates (this window, the previous)
    and :func:`_shift` of their values: the change carries the quantiles and their delta,
    and when the test says significant, the direction (and label) of this quantile's own
    delta — a p90 that did not move is "no clear change" even when the median did."""
    estimate, before = estimates
    delta = (
        None if estimate.value is None or before.value is None else estimate.value - before.value
    )
    change = shift.model_copy(
        update={"current": estimate.value, "previous": before.value, "delta": delta}
    )
    if change.significant:  # the direction follows this quantile's own delta
        direction = "none" if not delta else ("up" if delta > 0 else "down")
        change = change.model_copy(
            update={
                "direction": direction,
                "significant": direction != "none",
                "label": _moved(direction, abs(delta or 0.0), unit, period_label),
            }
        )
    return KPI(key=key, label=label, unit=unit, estimate=estimate, previous=before, change=change)


def _moved(direction: str, amount: float, unit: Unit, period_label: str) -> str:
    if direction == "none":
        return "no clear change"
    suffix = _UNIT_LABEL[unit]
    figure = f"{amount:.1f} {suffix}".strip()
    return f"{direction} {figure} vs {period_label}"


def by_key(kpis: Sequence[KPI]) -> dict[str, KPI]:
    """The KPIs of a page by ``key`` (for notebooks: ``k = by_key(page.kpis)``)."""
    return {k.key: k for k in kpis}


# ── page-level builders ────────────────────────────────────────────────────


def session_kpis(
    sessions: pl.DataFrame,
    previous_sessions: pl.DataFrame,
    ratings: pl.DataFrame,
    previous_ratings: pl.DataFrame,
    *,
    period_label: str,
    min_n: int = MIN_N,
    engineers: bool = False,
    csat: bool = True,
) -> list[KPI]:
    """KPIs of the team, personal and flow pages (METRICS.md §3 plus issue 7's conventions).

    Inputs: two session frames of ``SESSION_SCHEMA`` (this window, the previous one) and
    two screened rating frames (``rating``: Int64 1–5). Returns, in display order:
    ``total_sessions`` (count), ``completion_rate`` (fraction), ``median_duration_minutes``
    and ``p90_duration_minutes`` (minutes, completed sessions), ``avg_csat`` (1–5 mean)
    and ``csat_score`` (fraction of ratings that are 4 or 5) unless ``csat`` is False
    (withheld for small-group privacy), and ``active_engineers`` when ``engineers``.
    """
    from rfa.metrics.sessions import durations

    def completed(frame: pl.DataFrame) -> int:
        return int(frame["completed_at"].is_not_null().sum())

    def satisfied(frame: pl.DataFrame) -> int:
        return int((frame["rating"] >= 4).sum())

    # sorted once: the rank test, the quantiles and their intervals each read them faster
    cur_d = np.sort(_values(durations(sessions)))
    prev_d = np.sort(_values(durations(previous_sessions)))
    shift = _shift(cur_d, prev_d, min_n)
    (cur_median, cur_p90), (prev_median, prev_p90) = (
        u.quantiles(d, (0.5, 0.9), min_n=min_n) for d in (cur_d, prev_d)
    )
    kpis = [
        count_kpi(
            "total_sessions",
            "Sessions",
            sessions.height,
            previous_sessions.height,
            period_label=period_label,
        ),
        rate_kpi(
            "completion_rate",
            "Completion rate",
            completed(sessions),
            sessions.height,
            completed(previous_sessions),
            previous_sessions.height,
            period_label=period_label,
            min_n=min_n,
        ),
        _quantile_kpi(
            "median_duration_minutes",
            "Median duration",
            (cur_median, prev_median),
            shift,
            unit="minutes",
            period_label=period_label,
        ),
        _quantile_kpi(
            "p90_duration_minutes",
            "p90 duration",
            (cur_p90, prev_p90),
            shift,
            unit="minutes",
            period_label=period_label,
        ),
    ]
    if csat:
        kpis += [
            mean_kpi(
                "avg_csat",
                "Average CSAT",
                ratings["rating"],
                previous_ratings["rating"],
                unit="csat",
                period_label=period_label,
                min_n=min_n,
            ),
            rate_kpi(
                "csat_score",
                "CSAT score (4–5)",
                satisfied(ratings),
                ratings.height,
                satisfied(previous_ratings),
                previous_ratings.height,
                period_label=period_label,
                min_n=min_n,
            ),
        ]
    if engineers:
        kpis.append(
            count_kpi(
                "active_engineers",
                "Active engineers",
                sessions["user_id"].n_unique(),
                previous_sessions["user_id"].n_unique(),
                period_label=period_label,
            )
        )
    return kpis


def flowpilot_kpis(
    current: dict, previous: dict, *, period_label: str, min_n: int = MIN_N
) -> list[KPI]:
    """FlowPilot KPIs (METRICS.md §4) from two :func:`rfa.metrics.flowpilot.kpi_inputs`:
    ``ai_sessions`` (count), ``resolution_rate`` (fraction of AI sessions resolved),
    ``mttr_minutes`` (mean minutes), ``avg_steps_to_resolution`` (mean steps),
    ``avg_rating`` (1–5 mean)."""
    return [
        count_kpi(
            "ai_sessions",
            "AI sessions",
            current["total"],
            previous["total"],
            period_label=period_label,
        ),
        rate_kpi(
            "resolution_rate_pct",
            "Resolution rate",
            current["resolved"],
            current["total"],
            previous["resolved"],
            previous["total"],
            period_label=period_label,
            min_n=min_n,
        ),
        mean_kpi(
            "mttr_minutes",
            "MTTR",
            current["mttr"],
            previous["mttr"],
            unit="minutes",
            period_label=period_label,
            min_n=min_n,
        ),
        mean_kpi(
            "avg_steps_to_resolution",
            "Avg steps to resolution",
            current["steps"],
            previous["steps"],
            unit="steps",
            period_label=period_label,
            min_n=min_n,
        ),
        mean_kpi(
            "avg_rating",
            "Average rating",
            current["ratings"],
            previous["ratings"],
            unit="csat",
            period_label=period_label,
            min_n=min_n,
        ),
    ]


def escalation_kpis(
    claimed: int,
    lags: pl.Series,
    previous_claimed: int,
    previous_lags: pl.Series,
    *,
    period_label: str,
    min_n: int = MIN_N,
) -> list[KPI]:
    """Escalation KPIs (METRICS.md §5): ``n_handoffs_claimed`` (count),
    ``action_conversion_rate`` (fraction of claimed hand-offs acted on), and the median
    and p95 of the seconds from claim to first action (``lags``, floored at 0)."""
    cur, prev = _values(lags), _values(previous_lags)
    shift = _shift(cur, prev, min_n)
    (cur_median, cur_p95), (prev_median, prev_p95) = (
        u.quantiles(d, (0.5, 0.95), min_n=min_n) for d in (cur, prev)
    )
    return [
        count_kpi(
            "n_handoffs_claimed",
            "Hand-offs claimed",
            claimed,
            previous_claimed,
            period_label=period_label,
        ),
        rate_kpi(
            "action_conversion_rate",
            "Acted on after claim",
            lags.len(),
            claimed,
            previous_lags.len(),
            previous_claimed,
            period_label=period_label,
            min_n=min_n,
        ),
        _quantile_kpi(
            "median_seconds_to_first_action",
            "Median time to first action",
            (cur_median, prev_median),
            shift,
            unit="seconds",
            period_label=period_label,
        ),
        _quantile_kpi(
            "p95_seconds_to_first_action",
            "p95 time to first action",
            (cur_p95, prev_p95),
            shift,
            unit="seconds",
            period_label=period_label,
        ),
    ]


def count_kpis(
    counts: dict[str, tuple[str, int]], previous: dict[str, int], *, period_label: str
) -> list[KPI]:
    """Count KPIs from ``{key: (label, current)}`` and ``{key: previous}`` (coverage and
    knowledge-gap pages: domains, flows, gaps…), each with :func:`count_kpi`."""
    return [
        count_kpi(key, label, value, previous[key], period_label=period_label)
        for key, (label, value) in counts.items()
    ]
