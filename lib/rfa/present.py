"""Presentation helpers for notebooks: number formats, value boxes, tables and page text.

Pure functions from page models (:mod:`rfa.dashboards`) to display objects, so
notebook cells stay one or two lines. Tables are returned as pandas
DataFrames of formatted strings (rendered as HTML by Jupyter, Quarto and
nbconvert alike); value boxes as Quarto's documented ``dict(value=…, icon=…,
color=…)`` form.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pandas as pd

from rfa.metrics.models import Comment, DataQualityFinding, RankedRow, StepRow

DASH = "—"


def fmt_int(value: int | None) -> str:
    """``1234`` → ``"1,234"``; None → ``"—"``."""
    return DASH if value is None else f"{value:,}"


def fmt_pct(fraction: float | None, digits: int = 0) -> str:
    """A fraction in [0, 1] as a percentage: ``0.625`` → ``"62%"``; None → ``"—"``."""
    return DASH if fraction is None else f"{fraction * 100:.{digits}f}%"


def fmt_minutes(minutes: float | None) -> str:
    """Minutes as ``"42 min"`` or ``"1 h 05 min"``; None → ``"—"``."""
    if minutes is None:
        return DASH
    if minutes < 60:
        return f"{minutes:.0f} min" if minutes >= 10 else f"{minutes:.1f} min"
    hours, rest = divmod(round(minutes), 60)
    return f"{hours} h {rest:02d} min"


def fmt_csat(value: float | None) -> str:
    """CSAT mean as ``"4.2 / 5"``; None → ``"—"``."""
    return DASH if value is None else f"{value:.1f} / 5"


def fmt_time(value: dt.datetime | None, timezone: str) -> str:
    """An aware datetime in the account's timezone: ``"2026-11-20 14:05 (America/New_York)"``."""
    if value is None:
        return DASH
    from zoneinfo import ZoneInfo

    return value.astimezone(ZoneInfo(timezone)).strftime("%Y-%m-%d %H:%M") + f" ({timezone})"


def valuebox(value: str, icon: str, color: str = "primary") -> dict[str, str]:
    """Quarto's value-box content for a Python cell: ``dict(icon=…, color=…, value=…)``."""
    return {"icon": icon, "color": color, "value": value}


def ranked_table(rows: Sequence[RankedRow], label: str) -> pd.DataFrame:
    """Top flows / top engineers as display strings; ``label`` names the first column."""
    return pd.DataFrame(
        [
            {
                label: r.name,
                "Sessions": fmt_int(r.sessions),
                "Completion": fmt_pct(r.completion_rate),
                "Median duration": fmt_minutes(r.median_duration_minutes),
                "Avg CSAT": fmt_csat(r.avg_csat) + (f" (n={r.ratings})" if r.ratings else ""),
            }
            for r in rows
        ],
        columns=[label, "Sessions", "Completion", "Median duration", "Avg CSAT"],
    )


def step_table(rows: Sequence[StepRow], limit: int = 15) -> pd.DataFrame:
    """The step table's first ``limit`` rows as display strings."""
    return pd.DataFrame(
        [
            {
                "Step": r.node_title,
                "Visits": fmt_int(r.visit_count),
                "Drop-offs": fmt_int(r.dropoff_count),
                "Drop-off rate": fmt_pct(r.dropoff_rate, 1),
                "Thumbs up": fmt_int(r.helpful_yes),
                "Thumbs down": fmt_int(r.helpful_no),
                "Helpful": fmt_pct(r.helpful_rate),
            }
            for r in rows[:limit]
        ],
        columns=[
            "Step",
            "Visits",
            "Drop-offs",
            "Drop-off rate",
            "Thumbs up",
            "Thumbs down",
            "Helpful",
        ],
    )


def comments_table(rows: Sequence[Comment], timezone: str) -> pd.DataFrame:
    """Anonymous comments: date, stars and text (no author column exists)."""
    return pd.DataFrame(
        [
            {
                "Date": fmt_time(c.created_at, timezone).split(" (")[0],
                "Rating": "★" * c.rating + "☆" * (5 - c.rating),
                "Comment": c.comment,
            }
            for c in rows
        ],
        columns=["Date", "Rating", "Comment"],
    )


def html_table(frame: pd.DataFrame, empty: str = "No data in this window.") -> str:
    """Render a display frame as a compact HTML table (no index); ``empty`` text if no rows."""
    if frame.empty:
        return f"<p class='rfa-empty'>{empty}</p>"
    return frame.to_html(index=False, border=0, classes="rfa-table", escape=True)


def data_quality_text(findings: Sequence[DataQualityFinding]) -> str:
    """Markdown list of data-quality findings, or a sentence saying there were none."""
    if not findings:
        return "No faulty rows were found in this window."
    lines = [f"- **{f.count:,}** {f.description}." for f in findings]
    return "Rows excluded from some numbers because they are faulty:\n\n" + "\n".join(lines)


def about_text(meta, extra: str = "") -> str:
    """Markdown 'About this page' text: scope, window, data time and metric definitions."""
    scope = f" — {meta.scope.name}" if meta.scope else ""
    lines = [
        f"**{meta.title}{scope}**, {meta.account.name}.",
        f"Window: {meta.window_label}. Data up to: "
        f"{fmt_time(meta.data_time, meta.account.timezone)} (newest session in the window). "
        f"Generated {meta.generated_at:%Y-%m-%d %H:%M} UTC. Audience: {meta.audience}.",
    ]
    if extra:
        lines += ["**Data quality.** " + extra]
    lines.append("**Definitions**")
    definitions = "\n".join(
        f"- **{key.replace('_', ' ')}** — {text}" for key, text in meta.definitions.items()
    )
    return "\n\n".join(lines) + "\n\n" + definitions
