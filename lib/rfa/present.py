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
    """Top flows / top engineers as display strings; ``label`` names the first column.
    Rows below the page's ``min_n`` say "few sessions" beside the completion rate."""
    return pd.DataFrame(
        [
            {
                label: r.name,
                "Sessions": fmt_int(r.sessions),
                "Completion": fmt_pct(r.completion_rate) + (" · few sessions" if r.few else ""),
                "95% interval": _range(r.completion_low, r.completion_high, fmt_pct),
                "Median duration": fmt_minutes(r.median_duration_minutes),
                "Avg CSAT": fmt_csat(r.avg_csat) + (f" (n={r.ratings})" if r.ratings else ""),
            }
            for r in rows
        ],
        columns=[label, "Sessions", "Completion", "95% interval", "Median duration", "Avg CSAT"],
    )


def _with_range(percent: float | None, low: float | None, high: float | None) -> str:
    """``"62% (55–69%)"``: a percentage with its 95% interval, or just the value."""
    if percent is None or low is None or high is None:
        return fmt_pct100(percent)
    return f"{fmt_pct100(percent)} ({low:.0f}–{high:.0f}%)"


def _range(low: float | None, high: float | None, fmt) -> str:
    """``"58% – 66%"`` with ``fmt``; ``"—"`` when either end is missing."""
    return DASH if low is None or high is None else f"{fmt(low)} – {fmt(high)}"


def step_table(rows: Sequence[StepRow], limit: int = 15) -> pd.DataFrame:
    """The step table's first ``limit`` rows as display strings; rates with their 95%
    Wilson interval in brackets."""
    return pd.DataFrame(
        [
            {
                "Step": r.node_title,
                "Visits": fmt_int(r.visit_count),
                "Drop-offs": fmt_int(r.dropoff_count),
                "Drop-off rate": fmt_pct(r.dropoff_rate, 1)
                + f" ({_range(r.dropoff_low, r.dropoff_high, fmt_pct)})",
                "Thumbs up": fmt_int(r.helpful_yes),
                "Thumbs down": fmt_int(r.helpful_no),
                "Helpful": fmt_pct(r.helpful_rate)
                + (
                    f" ({_range(r.helpful_low, r.helpful_high, fmt_pct)})"
                    if r.helpful_rate is not None
                    else ""
                ),
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
    """Markdown list of data-quality findings (:mod:`rfa.validation`): how many rows, what
    they are and what was done with them, with the check's name; or a sentence saying
    there were none."""
    if not findings:
        return "No faulty rows were found in the data behind this page."
    lines = [f"- **{f.count:,}** {f.description} (`{f.check}`)." for f in findings]
    return (
        "Faulty rows found in the data behind this page, and what was done with them; "
        "the numbers above leave them out wherever they would be wrong:\n\n" + "\n".join(lines)
    )


def about_text(meta, extra: str = "") -> str:
    """Markdown 'About this page' text: scope, window, data time and metric definitions."""
    scope = f" — {meta.scope.name}" if meta.scope else ""
    lines = [
        f"**{meta.title}{scope}**, {meta.account.name}.",
        f"Window: {meta.window_label}. Data up to: "
        f"{fmt_time(meta.data_time, meta.account.timezone)} (newest record in the window). "
        f"Generated {meta.generated_at:%Y-%m-%d %H:%M} UTC. Audience: {meta.audience}.",
    ]
    if extra:
        lines += ["**Data quality.** " + extra]
    lines.append("**Glossary** (what each figure counts, what it leaves out and why)")
    definitions = "\n".join(
        f"- **{key.replace('_', ' ')}** — {text}" for key, text in meta.definitions.items()
    )
    return "\n\n".join(lines) + "\n\n" + definitions


# ── FlowPilot (METRICS.md §4: rates are percentages 0–100) ──────────────────


def fmt_pct100(percent: float | None, digits: int = 0) -> str:
    """A percentage already in 0–100: ``53.4`` → ``"53%"``; None → ``"—"``."""
    return DASH if percent is None else f"{percent:.{digits}f}%"


def domain_table(rows: Sequence) -> pd.DataFrame:
    """AI sessions per problem domain (:class:`DomainBreakdownRow`) as display strings."""
    return pd.DataFrame(
        [
            {
                "Domain": r.domain,
                "AI sessions": fmt_int(r.total),
                "Resolved": fmt_int(r.resolved),
                "Escalated": fmt_int(r.escalated),
                "Resolution rate": fmt_pct100(r.resolution_rate_pct),
                "95% interval": _range(r.resolution_low_pct, r.resolution_high_pct, fmt_pct100),
            }
            for r in rows
        ],
        columns=[
            "Domain",
            "AI sessions",
            "Resolved",
            "Escalated",
            "Resolution rate",
            "95% interval",
        ],
    )


def coverage_table(rows: Sequence) -> pd.DataFrame:
    """Coverage by domain (:class:`DomainCoverageRow`); uncovered domains are flagged."""
    return pd.DataFrame(
        [
            {
                "Domain": r.domain + (" ⚠ no flow" if r.uncovered else ""),
                "Flows matched": fmt_int(r.flow_count),
                "AI sessions": fmt_int(r.session_count),
                "Resolution": _with_range(
                    r.resolution_rate_pct, r.resolution_low_pct, r.resolution_high_pct
                ),
                "Escalation": _with_range(
                    r.escalation_rate_pct, r.escalation_low_pct, r.escalation_high_pct
                ),
                "Guided": _with_range(r.guided_rate_pct, r.guided_low_pct, r.guided_high_pct),
                "Avg resolution": fmt_minutes(r.avg_resolution_minutes),
            }
            for r in rows
        ],
        columns=[
            "Domain",
            "Flows matched",
            "AI sessions",
            "Resolution",
            "Escalation",
            "Guided",
            "Avg resolution",
        ],
    )


def quality_table(rows: Sequence, timezone: str) -> pd.DataFrame:
    """Flow-quality rows (:class:`FlowQualityRow`) as display strings."""
    return pd.DataFrame(
        [
            {
                "Flow": r.name,
                "Score": f"{r.quality_score:.0f}",
                "Uses": fmt_int(r.usage_count),
                "Success": fmt_pct100(r.success_rate_pct)
                + f" ({_range(r.success_low_pct, r.success_high_pct, fmt_pct100)})",
                "Avg confidence": fmt_pct(r.avg_confidence),
                "Last matched": fmt_time(r.last_matched_at, timezone).split(" (")[0],
            }
            for r in rows
        ],
        columns=["Flow", "Score", "Uses", "Success", "Avg confidence", "Last matched"],
    )


def psa_types_table(rows: Sequence) -> pd.DataFrame:
    """PSA pushes per post type (:class:`PsaPushTypeRow`) as display strings."""
    return pd.DataFrame(
        [
            {
                "Post type": r.post_type.replace("_", " "),
                "Pushes": fmt_int(r.pushes),
                "First try": fmt_int(r.first_try_successes),
                "After retry": fmt_int(r.retry_successes),
                "Failed": fmt_int(r.failed),
                "Success rate": fmt_pct100(r.success_rate_pct),
            }
            for r in rows
        ],
        columns=["Post type", "Pushes", "First try", "After retry", "Failed", "Success rate"],
    )


def fmt_seconds(seconds: float | None) -> str:
    """Seconds as ``"45 s"``, ``"2 min 05 s"`` or ``"1 h 02 min"``; None → ``"—"``."""
    if seconds is None:
        return DASH
    if seconds < 60:
        return f"{seconds:.0f} s"
    if seconds < 3600:
        minutes, rest = divmod(round(seconds), 60)
        return f"{minutes} min {rest:02d} s"
    return fmt_minutes(seconds / 60)


def gaps_table(gaps: Sequence, limit: int = 25) -> pd.DataFrame:
    """Knowledge gaps (:class:`Gap`), most severe first, as display strings."""
    return pd.DataFrame(
        [
            {
                "Severity": g.severity,
                "Gap": g.kind.replace("_", " "),
                "Where": g.subject,
                "Evidence": f"{g.rate:.0%} of {g.evidence_sessions:,} sessions "
                f"(95% interval {_gap_interval(g)}; threshold {g.threshold:.0%})"
                if g.rate is not None
                else f"{g.evidence_sessions:,} sessions",
                "Suggested action": g.suggested_action,
            }
            for g in gaps[:limit]
        ],
        columns=["Severity", "Gap", "Where", "Evidence", "Suggested action"],
    )


def _rate_interval(fraction: float | None, n: int) -> str:
    """The 95% Wilson interval of a rate given as a fraction of ``n`` (successes are
    ``round(fraction × n)``), e.g. ``"55% – 69%"``; ``"—"`` without data."""
    from rfa.metrics.uncertainty import rate

    if fraction is None or not n:
        return DASH
    est = rate(round(fraction * n), n)
    return _range(est.low, est.high, fmt_pct)


def _gap_interval(gap) -> str:
    """The 95% Wilson interval of a gap's evidence rate over its sessions."""
    return _rate_interval(gap.rate, gap.evidence_sessions)


def thresholds_text(thresholds) -> str:
    """Markdown list of the knowledge-gap thresholds in force."""
    fields = thresholds.model_dump()
    return "Thresholds in force:\n\n" + "\n".join(
        f"- `{name}` = {value}" for name, value in fields.items()
    )


def about(page) -> str:
    """The 'About these numbers' text of any page model: :func:`about_text` plus its
    data-quality findings when the page carries them."""
    findings = getattr(page, "data_quality", None)
    extra = "" if findings is None else data_quality_text(findings)
    return about_text(page.meta, extra)


def coverage_text(coverage) -> str:
    """Markdown for :class:`KnowledgeCoverage`: flows, AI flows and proposals."""
    return (
        f"- **{coverage.total_flows:,}** flows in the account, "
        f"**{coverage.ai_generated_flows:,}** written or enhanced by AI\n"
        f"- **{coverage.proposals_pending:,}** flow proposals waiting for review (any age)\n"
        f"- in this window: **{coverage.proposals_approved_in_window:,}** approved or modified, "
        f"**{coverage.proposals_rejected_in_window:,}** rejected, "
        f"**{coverage.proposals_dismissed_in_window:,}** dismissed"
    )


def psa_html(psa) -> str:
    """PSA summary (:class:`PsaMetrics`) as an HTML list followed by the pushes table."""

    def ci(pct: float | None, n: int) -> str:
        return f" (95% interval {_rate_interval(None if pct is None else pct / 100, n)})"

    sessions = psa.funnel.total_sessions
    items = [
        f"Linked to a PSA ticket: <b>{fmt_pct100(psa.ticket_link_rate_pct)}</b> of "
        f"{fmt_int(sessions)} AI sessions{ci(psa.ticket_link_rate_pct, sessions)}",
        f"Pushes succeeded at the first try: <b>{fmt_pct100(psa.push_success_first_try_pct)}</b>"
        f"{ci(psa.push_success_first_try_pct, psa.total_pushes)},"
        f" after retries: <b>{fmt_pct100(psa.push_success_after_retry_pct)}</b>"
        f"{ci(psa.push_success_after_retry_pct, psa.total_pushes)}"
        f" (of {fmt_int(psa.total_pushes)} pushes)",
        f"Time entries logged: <b>{fmt_int(psa.time_entries)}</b>, "
        f"<b>{psa.hours_logged:,.1f} h</b> in all"
        + (
            f", {psa.avg_hours_per_session:.2f} h per session with an entry"
            if psa.avg_hours_per_session is not None
            else ""
        ),
    ]
    listing = "<ul>" + "".join(f"<li>{item}</li>" for item in items) + "</ul>"
    return listing + html_table(psa_types_table(psa.pushes_by_type), "No PSA pushes.")


def quality_formula_text(quality) -> str:
    """Markdown explaining the flow-quality score and the list thresholds."""
    return (
        f"{quality.formula}\n\n"
        f"Top performers and needs-attention lists only hold flows with at least "
        f"**{quality.min_usage}** AI sessions; a flow needs attention when its success rate "
        f"is below **{quality.attention_success_pct:.0f}%** or its score below "
        f"**{quality.attention_score:.0f}**."
    )


def gap_scope_text(report) -> str:
    """Markdown: how much of the window the knowledge-gap report could judge, and the
    thresholds in force."""
    return (
        f"- **{report.domains_assessed}** problem domains had enough AI sessions to judge; "
        f"**{report.domains_below_min_sessions}** had too few\n"
        f"- **{report.sessions_without_domain:,}** AI sessions had no domain and are not "
        f"judged by domain\n"
        f"- **{report.options_assessed:,}** flow options had enough ended sessions\n\n"
        + thresholds_text(report.thresholds)
    )


def escalation_text(metrics) -> str:
    """Markdown: the escalation metric's definition and its counts (METRICS.md §5)."""
    sample = (
        f" Only **{metrics.n_values}** values back the p95: read it as indicative."
        if metrics.small_sample and metrics.n_values
        else ""
    )
    return (
        f"> {metrics.metric_definition}\n\n"
        f"- **{metrics.n_handoffs_claimed:,}** hand-offs claimed in the window, "
        f"**{metrics.n_handoffs_with_action:,}** followed by an AI-session step, "
        f"**{metrics.n_handoffs_without_action:,}** claimed but never acted on; "
        f"**{metrics.n_handoffs_unclaimed:,}** created in the window were never claimed.\n"
        f"- Average **{fmt_seconds(metrics.avg_seconds_to_first_action)}**, median "
        f"**{fmt_seconds(metrics.median_seconds_to_first_action)}**, p95 "
        f"**{fmt_seconds(metrics.p95_seconds_to_first_action)}**.{sample}\n"
        f"- **{metrics.n_negative_floored}** lags below zero (clock drift) were counted as 0 s."
    )


def comments_html(page) -> str:
    """The flow page's anonymous comments, or why there are none (none in the window, or
    withheld because fewer than k engineers rated the flow)."""
    privacy = page.privacy
    if not privacy.comments_shown:
        return (
            f"<p class='rfa-empty'>Comments withheld: fewer than {privacy.min_group_size} "
            f"engineers rated this flow in the window ({privacy.raters}), so a comment could "
            "point at one person.</p>"
        )
    table = comments_table(page.recent_comments, page.meta.account.timezone)
    return html_table(table, "No comments in this window.")


# ── honest numbers (issue 7): KPIs with n, interval and comparison ─────────

MUTED = "light"
"""Value-box colour of a figure shown as "few sessions" or withheld."""
ARROWS = {"up": "▲", "down": "▼", "none": ""}


def fmt_kpi(value: float | None, unit: str) -> str:
    """A KPI value in its unit: count ``"1,234"``, fraction ``"62%"``, minutes, seconds,
    CSAT ``"4.2 / 5"``, steps ``"4.1"``; None → ``"—"``."""
    if value is None:
        return DASH
    if unit == "count":
        return fmt_int(round(value))
    if unit == "fraction":
        return fmt_pct(value)
    if unit == "minutes":
        return fmt_minutes(value)
    if unit == "seconds":
        return fmt_seconds(value)
    if unit == "csat":
        return fmt_csat(value)
    return f"{value:.1f}"


def fmt_margin(kpi) -> str:
    """The half-width of a KPI's 95% interval: ``"± 3 pts"``, ``"± 0.4 min"``,
    ``"± 0.1"``; ``""`` without an interval. Asymmetric intervals use the larger side."""
    margin = kpi.estimate.margin
    if margin is None:
        return ""
    if kpi.unit == "fraction":
        points = margin * 100
        return f"± {points:.1f} pts" if points < 10 else f"± {points:.0f} pts"
    if kpi.unit == "count":
        return f"± {margin:,.0f}"
    if kpi.unit == "minutes":
        return f"± {margin:.1f} min"
    if kpi.unit == "seconds":
        return f"± {fmt_seconds(margin)}"
    return f"± {margin:.2f}"


def fmt_interval(kpi) -> str:
    """``"58% – 66%"`` (the 95% interval in the KPI's unit) or ``"—"``."""
    est = kpi.estimate
    if est.low is None or est.high is None:
        return DASH
    return f"{fmt_kpi(est.low, kpi.unit)} – {fmt_kpi(est.high, kpi.unit)}"


def kpi_box(kpi, icon: str, color: str = "primary", *, withheld: str = "withheld") -> dict:
    """Quarto value-box content of a KPI (:class:`rfa.metrics.kpi.KPI`).

    The value reads ``"62% ± 3 pts ▲"``: the arrow only when the change against the
    previous window is significant. A figure behind fewer than ``min_n`` observations
    reads ``"62% · few sessions (n=8)"`` in a muted colour; a missing KPI (withheld
    for privacy) reads ``withheld``.
    """
    if kpi is None:
        return valuebox(withheld, icon, MUTED)
    est = kpi.estimate
    value = fmt_kpi(est.value, kpi.unit)
    if est.few and est.value is not None:
        return valuebox(f"{value} · few sessions (n={est.n:,})", icon, MUTED)
    if est.value is None:
        return valuebox(f"{DASH} (n={est.n:,})", icon, MUTED)
    parts = [value, fmt_margin(kpi), ARROWS[kpi.change.direction]]
    return valuebox(" ".join(p for p in parts if p), icon, color)


def kpi_table(kpis) -> pd.DataFrame:
    """Every KPI of a page with n, 95% interval, the previous window's value and the
    verdict of the comparison (display strings)."""
    return pd.DataFrame(
        [
            {
                "Figure": k.label,
                "Value": fmt_kpi(k.estimate.value, k.unit)
                + (" (few sessions)" if k.estimate.few else ""),
                "95% interval": fmt_interval(k),
                "n": fmt_int(k.estimate.n),
                "Previous window": fmt_kpi(k.previous.value, k.unit),
                "Change": (ARROWS[k.change.direction] + " " + k.change.label).strip(),
                "Test": k.change.test
                + ("" if k.change.p_value is None else f" (p = {k.change.p_value:.3f})"),
            }
            for k in kpis
        ],
        columns=["Figure", "Value", "95% interval", "n", "Previous window", "Change", "Test"],
    )


def kpi_html(page) -> str:
    """The page's KPI table as HTML, rows below ``min_n`` muted, with a one-line lead."""
    meta = page.meta
    lead = (
        f"<p class='rfa-note'>Compared with the {meta.previous_label} "
        f"({meta.previous_window.start:%Y-%m-%d} – {meta.previous_window.end:%Y-%m-%d} UTC). "
        f"A change is marked ▲/▼ only when it is beyond noise (5% level); figures with "
        f"fewer than {meta.min_n} observations are marked 'few sessions'.</p>"
    )
    return lead + html_table(kpi_table(page.kpis), "No figures for this window.")
