"""Plain-language definitions of every published metric — one source for pages and JSON.

Keys are the metric names used in the data files; texts follow METRICS.md §3.
"""

from __future__ import annotations

DEFINITIONS: dict[str, str] = {
    "total_sessions": "Troubleshooting sessions started in the window.",
    "completed_sessions": "Sessions of the window that reached an end (completed_at is set).",
    "completion_rate": "Completed sessions ÷ sessions started (0% when there are none).",
    "median_duration_minutes": (
        "Median time from start to completion, in minutes, over completed sessions. "
        "Sessions recorded as completed before they started are excluded and listed "
        "under data quality."
    ),
    "active_engineers": "Distinct engineers who started at least one session in the window.",
    "outcome_breakdown": (
        "Completed sessions by outcome: resolved, escalated, workaround, unresolved."
    ),
    "time_series": (
        "Sessions started per local day (account timezone), every day of the window "
        "shown, with the outcome of those that completed."
    ),
    "top_flows": (
        "The 10 flows with most sessions in the window, with their completion rate, "
        "median duration and average CSAT of ratings given in the window."
    ),
    "top_engineers": (
        "The 10 engineers with most sessions in the window, same columns; CSAT is "
        "from ratings of their sessions."
    ),
    "avg_csat": (
        "Average flow rating (1–5) of ratings given in the window; ratings outside "
        "1–5 are excluded."
    ),
    "total_ratings": "Valid CSAT ratings (1–5) given in the window.",
    "step_table": (
        "Per step of the flow: visits (decisions at that step), drop-offs (unfinished "
        "sessions whose last decision was that step), drop-off rate = drop-offs ÷ "
        "visits, and thumbs up/down engineers gave the step; helpful rate = up ÷ (up + down)."
    ),
    "recent_comments": (
        "The 10 newest non-empty CSAT comments of the window, shown without their author."
    ),
    "data_quality": "Faulty rows found in the window, how many, and what was excluded.",
}


def definitions_for(*keys: str) -> dict[str, str]:
    """The definitions of ``keys``, in that order (KeyError for an unknown metric)."""
    return {key: DEFINITIONS[key] for key in keys}
