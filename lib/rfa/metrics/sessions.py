"""Session analytics for the team, personal and flow dashboards (METRICS.md §3).

Input frames have the columns of :data:`rfa.queries.sessions.SESSION_SCHEMA`
(``session_id, tree_id, user_id: String; started_at, completed_at:
Datetime[us, UTC]; outcome: String``) and, for CSAT, of
:data:`rfa.queries.ratings.RATING_SCHEMA` (``rating: Int64``, ``created_at``…),
screened by :mod:`rfa.validation`, which also reports the faulty rows. Rows it
keeps are still handled by the definitions here: a session completed before it
started has no duration, a missing or unknown outcome is in no outcome count.
"""

from __future__ import annotations

from typing import Literal

import polars as pl

from rfa.ids import id_text
from rfa.metrics.models import (
    OUTCOMES,
    OutcomeBreakdown,
    RankedRow,
    Summary,
    TimeSeriesPoint,
)
from rfa.window import Window

TOP_N = 10
"""Rows in the top-flows and top-engineers tables (METRICS.md §3)."""

_COMPLETED = pl.col("completed_at").is_not_null()
_DURATION = (pl.col("completed_at") - pl.col("started_at")).dt.total_microseconds() / 60_000_000
"""completed_at − started_at in minutes (Float64)."""
_VALID_DURATION = pl.when(_COMPLETED & (_DURATION >= 0)).then(_DURATION)
"""Duration in minutes, null unless completed with a non-negative duration."""


def durations(sessions: pl.DataFrame) -> pl.Series:
    """Minutes from start to completion (Float64, named ``duration_minutes``) of the
    completed sessions with a non-negative duration — the values behind the median,
    the p90 and the duration distribution chart."""
    return sessions.select(_VALID_DURATION.alias("duration_minutes")).to_series().drop_nulls()


def _median(values: pl.Series) -> float | None:
    value = values.drop_nulls().median()
    return None if value is None else float(value)


def summary(sessions: pl.DataFrame, *, personal: bool = False) -> Summary:
    """KPI summary of a base set (METRICS.md §3: total_sessions … outcome_breakdown).

    * ``completion_rate`` — completed / total as a fraction, 0.0 for no sessions;
    * ``median_duration_minutes`` — median (linear interpolation, as
      percentile_cont 0.5) of completed − started over completed sessions;
      negative durations are excluded (reported by :mod:`rfa.validation` as
      ``completed_before_started``); None if none;
    * ``active_engineers`` — distinct ``user_id``; the personal dashboard's is 1;
    * ``outcome_breakdown`` — counts per outcome among completed sessions
      (completed sessions with a null or unknown outcome are not counted).
    """
    total = sessions.height
    completed = sessions.filter(_COMPLETED)
    counts = dict(
        completed.group_by("outcome").len().filter(pl.col("outcome").is_in(OUTCOMES)).iter_rows()
    )
    return Summary(
        total_sessions=total,
        completed_sessions=completed.height,
        completion_rate=completed.height / total if total else 0.0,
        median_duration_minutes=_median(sessions.select(_VALID_DURATION).to_series()),
        active_engineers=1 if personal else sessions["user_id"].n_unique(),
        outcome_breakdown=OutcomeBreakdown(**{o: counts.get(o, 0) for o in OUTCOMES}),
    )


def time_series(sessions: pl.DataFrame, window: Window) -> list[TimeSeriesPoint]:
    """Daily sessions and outcome counts, zero-filled over every day of the window.

    Days are local calendar days in ``window.timezone`` (METRICS.md §2); a
    session belongs to the day it *started*; outcome counts are completed
    sessions with that outcome. Returns one point per day of
    :meth:`~rfa.window.Window.local_days`, in date order.
    """
    days = pl.DataFrame({"date": window.local_days()}, schema={"date": pl.Date})
    per_day = (
        sessions.with_columns(
            pl.col("started_at").dt.convert_time_zone(window.timezone).dt.date().alias("date")
        )
        .group_by("date")
        .agg(
            pl.len().alias("sessions"),
            *[(_COMPLETED & (pl.col("outcome") == o)).sum().alias(o) for o in OUTCOMES],
        )
    )
    filled = days.join(per_day, on="date", how="left").fill_null(0).sort("date")
    return [TimeSeriesPoint(**row) for row in filled.iter_rows(named=True)]


def ranked(
    sessions: pl.DataFrame,
    ratings: pl.DataFrame,
    names: pl.DataFrame,
    by: Literal["tree_id", "user_id"],
    *,
    limit: int = TOP_N,
    min_n: int | None = None,
) -> list[RankedRow]:
    """Top flows (``by="tree_id"``) or top engineers (``by="user_id"``) by sessions.

    METRICS.md §3 top_flows / top_engineers. ``names`` has columns ``id`` and
    ``name`` (ids of the same form as ``by``'s: text, or compact bytes of :mod:`rfa.ids`;
    rows show text ids). ``ratings`` are screened CSAT ratings (1–5, one per session)
    created in the window with the same key column (``tree_id``, or
    ``engineer_id`` for engineers). Per row: sessions, completed, completion_rate (fraction),
    median_duration_minutes, avg_csat (None without ratings) and ratings count.
    The ``limit`` rows with most sessions are selected (METRICS.md §3); each carries
    the 95% Wilson interval of its completion rate, the t interval of its CSAT and a
    seeded bootstrap interval of its median duration (:mod:`rfa.metrics.uncertainty`),
    and ``few`` when it has fewer than ``min_n`` sessions. Without ``min_n`` they are
    ordered by sessions descending; with it (the pages), by the interval's lower bound
    (issue 7: a flow with 2 of 2 completed does not top the list), then sessions.
    Ties by name then id, so the order is stable.
    """
    from rfa.metrics import uncertainty as u

    rating_key = "tree_id" if by == "tree_id" else "engineer_id"
    per_key = sessions.group_by(by).agg(
        pl.len().alias("sessions"), _COMPLETED.sum().alias("completed_sessions")
    )
    csat = (
        ratings.group_by(rating_key)
        .agg(
            pl.col("rating").mean().alias("avg_csat"),
            pl.len().alias("ratings"),
            pl.col("rating").alias("rating_values"),
        )
        .rename({rating_key: by})
    )
    table = (
        per_key.join(names.rename({"id": by}), on=by, how="left")
        .join(csat, on=by, how="left")
        .with_columns(
            pl.col("name").fill_null("Unknown"),
            pl.col("ratings").fill_null(0),
            (pl.col("completed_sessions") / pl.col("sessions")).alias("completion_rate"),
        )
        .sort(["sessions", "name", by], descending=[True, False, False])
        .head(limit)
        .rename({by: "id"})
    )
    # medians and their intervals of the shown rows only (not of every group: a million
    # sessions at 1M), from sorted durations: the seeded bootstrap then depends on the
    # values, not on the row order the database returned them in
    shown = (
        sessions.filter(pl.col(by).is_in(table["id"].implode()))
        .group_by(by)
        .agg(
            _VALID_DURATION.median().alias("median_duration_minutes"),
            _VALID_DURATION.drop_nulls().sort().alias("minutes"),
        )
    )
    medians = dict(zip(shown[by].to_list(), shown["median_duration_minutes"], strict=True))
    durations = dict(zip(shown[by].to_list(), shown["minutes"], strict=True))
    rows = []
    for row in table.iter_rows(named=True):
        values = row.pop("rating_values") or []
        row["median_duration_minutes"] = medians[row["id"]]
        minutes = durations[row["id"]].to_numpy()
        row["id"] = id_text(row["id"])  # compact ids (bytes) are shown as text
        interval = u.rate(row["completed_sessions"], row["sessions"], min_n=min_n or 1)
        mean = u.mean(values, bounds=u.CSAT_BOUNDS)
        median = u.quantile(minutes, 0.5, bootstrap_max_n=u.TABLE_BOOTSTRAP_MAX_N)
        rows.append(
            RankedRow(
                **row,
                completion_low=interval.low,
                completion_high=interval.high,
                csat_low=mean.low,
                csat_high=mean.high,
                median_low=median.low,
                median_high=median.high,
                few=min_n is not None and row["sessions"] < min_n,
            )
        )
    if min_n is not None:
        rows.sort(key=lambda r: u.rank_key(u.rate(r.completed_sessions, r.sessions)))
    return rows


def busiest(sessions: pl.DataFrame, by: Literal["tree_id", "user_id"], n: int = 1) -> list[str]:
    """The ``n`` ids (flows or engineers) with most sessions in the frame, most first;
    ties by smallest id, so the choice is stable. ``[]`` for no sessions."""
    if sessions.height == 0:
        return []
    counts = sessions.group_by(by).len().sort(["len", by], descending=[True, False])
    return counts[by].head(n).to_list()
