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


FEW = " · few sessions"
"""Appended to the n of a table row below the page's ``min_n`` (the row is also muted)."""
MUTED_ROW_STYLE = "color: #8a94a3;"
"""Inline style of a muted table row (works in Quarto, nbconvert and Jupyter alike)."""


def _few(flag: bool) -> str:
    return FEW if flag else ""


def _muted(frame: pd.DataFrame, flags: Sequence[bool]) -> pd.DataFrame:
    """Mark the rows of ``frame`` to show muted (:func:`html_table` reads
    ``frame.attrs["few"]``)."""
    frame.attrs["few"] = [bool(x) for x in flags]
    return frame


def _with_interval(value, low, high, fmt) -> str:
    """``"12 min (9.5 min – 15 min)"``: a value with its 95% interval, or just the value."""
    if value is None or low is None or high is None:
        return fmt(value)
    return f"{fmt(value)} ({fmt(low)} – {fmt(high)})"


def _csat_cell(value: float | None, low: float | None, high: float | None, n: int) -> str:
    """``"4.2 / 5 (3.9 – 4.5, n=12)"``; ``"5.0 / 5 (n=1)"`` without an interval."""
    if value is None:
        return DASH
    ci = "" if low is None or high is None else f"{low:.1f} – {high:.1f}, "
    return f"{fmt_csat(value)} ({ci}n={n:,})"


def ranked_table(rows: Sequence[RankedRow], label: str) -> pd.DataFrame:
    """Top flows / top engineers as display strings; ``label`` names the first column.
    Rates, the median duration and the CSAT carry their 95% interval; rows below the
    page's ``min_n`` say "few sessions" beside the completion rate and are muted."""
    frame = pd.DataFrame(
        [
            {
                label: r.name,
                "Sessions": fmt_int(r.sessions),
                "Completion": fmt_pct(r.completion_rate) + _few(r.few),
                "95% interval": _range(r.completion_low, r.completion_high, fmt_pct),
                "Median duration": _with_interval(
                    r.median_duration_minutes, r.median_low, r.median_high, fmt_minutes
                ),
                "Avg CSAT": _csat_cell(r.avg_csat, r.csat_low, r.csat_high, r.ratings),
            }
            for r in rows
        ],
        columns=[label, "Sessions", "Completion", "95% interval", "Median duration", "Avg CSAT"],
    )
    return _muted(frame, [r.few for r in rows])


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
    Wilson interval in brackets; steps with fewer visits than ``min_n`` muted as
    "few sessions"."""
    shown = list(rows[:limit])
    frame = pd.DataFrame(
        [
            {
                "Step": r.node_title,
                "Visits": fmt_int(r.visit_count) + _few(r.few),
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
            for r in shown
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
    return _muted(frame, [r.few for r in shown])


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
    """Render a display frame as a compact HTML table (no index); ``empty`` text if no rows.
    Rows flagged in ``frame.attrs["few"]`` (set by the table functions here for rows below
    the page's ``min_n``) are rendered muted: ``<tr class="rfa-few" style="…">``."""
    if frame.empty:
        return f"<p class='rfa-empty'>{empty}</p>"
    html = frame.to_html(index=False, border=0, classes="rfa-table", escape=True)
    flags = frame.attrs.get("few") or []
    if not any(flags):
        return html
    head, _, body = html.partition("<tbody>")
    rows = body.split("<tr>")
    for i, flag in enumerate(flags[: len(rows) - 1], start=1):
        if flag:
            rows[i] = f' class="rfa-few" style="{MUTED_ROW_STYLE}">' + rows[i]
        else:
            rows[i] = ">" + rows[i]
    return head + "<tbody>" + rows[0] + "".join("<tr" + r for r in rows[1:])


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
    """AI sessions per problem domain (:class:`DomainBreakdownRow`) as display strings;
    domains with fewer sessions than ``min_n`` muted as "few sessions"."""
    rows = list(rows)
    frame = pd.DataFrame(
        [
            {
                "Domain": r.domain,
                "AI sessions": fmt_int(r.total) + _few(r.few),
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
    return _muted(frame, [r.few for r in rows])


def coverage_table(rows: Sequence) -> pd.DataFrame:
    """Coverage by domain (:class:`DomainCoverageRow`); uncovered domains are flagged,
    rates and mean minutes carry their 95% interval, domains with fewer sessions than
    ``min_n`` are muted as "few sessions"."""
    rows = list(rows)
    frame = pd.DataFrame(
        [
            {
                "Domain": r.domain + (" ⚠ no flow" if r.uncovered else ""),
                "Flows matched": fmt_int(r.flow_count),
                "AI sessions": fmt_int(r.session_count) + _few(r.few),
                "Resolution": _with_range(
                    r.resolution_rate_pct, r.resolution_low_pct, r.resolution_high_pct
                ),
                "Escalation": _with_range(
                    r.escalation_rate_pct, r.escalation_low_pct, r.escalation_high_pct
                ),
                "Guided": _with_range(r.guided_rate_pct, r.guided_low_pct, r.guided_high_pct),
                "Avg resolution": _with_interval(
                    r.avg_resolution_minutes,
                    r.avg_resolution_low,
                    r.avg_resolution_high,
                    fmt_minutes,
                ),
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
    return _muted(frame, [r.few for r in rows])


def quality_table(rows: Sequence, timezone: str) -> pd.DataFrame:
    """Flow-quality rows (:class:`FlowQualityRow`) as display strings; flows with fewer
    uses than ``min_n`` muted as "few sessions"."""
    rows = list(rows)
    frame = pd.DataFrame(
        [
            {
                "Flow": r.name,
                "Score": f"{r.quality_score:.0f}",
                "Uses": fmt_int(r.usage_count) + _few(r.few),
                "Success": fmt_pct100(r.success_rate_pct)
                + f" ({_range(r.success_low_pct, r.success_high_pct, fmt_pct100)})",
                "Avg confidence": _with_interval(
                    r.avg_confidence, r.confidence_low, r.confidence_high, fmt_pct
                ),
                "Last matched": fmt_time(r.last_matched_at, timezone).split(" (")[0],
            }
            for r in rows
        ],
        columns=["Flow", "Score", "Uses", "Success", "Avg confidence", "Last matched"],
    )
    return _muted(frame, [r.few for r in rows])


def psa_types_table(rows: Sequence) -> pd.DataFrame:
    """PSA pushes per post type (:class:`PsaPushTypeRow`) as display strings: the success
    rate with its 95% Wilson interval; types with fewer pushes than ``min_n`` muted."""
    rows = list(rows)
    frame = pd.DataFrame(
        [
            {
                "Post type": r.post_type.replace("_", " "),
                "Pushes": fmt_int(r.pushes) + _few(r.few and r.pushes > 0),
                "First try": fmt_int(r.first_try_successes),
                "After retry": fmt_int(r.retry_successes),
                "Failed": fmt_int(r.failed),
                "Success rate": _with_range(
                    r.success_rate_pct, r.success_low_pct, r.success_high_pct
                ),
            }
            for r in rows
        ],
        columns=["Post type", "Pushes", "First try", "After retry", "Failed", "Success rate"],
    )
    return _muted(frame, [r.few for r in rows])


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
    """Knowledge gaps (:class:`Gap`), most severe first, as display strings: the evidence
    rate with its 95% Wilson interval (``rate_low`` / ``rate_high`` of the data file);
    gaps on fewer sessions than ``min_n`` muted as "few sessions"."""
    shown = list(gaps[:limit])
    frame = pd.DataFrame(
        [
            {
                "Severity": g.severity,
                "Gap": g.kind.replace("_", " "),
                "Where": g.subject,
                "Evidence": f"{g.rate:.0%} of {g.evidence_sessions:,} sessions{_few(g.few)} "
                f"(95% interval {_range(g.rate_low, g.rate_high, fmt_pct)}; "
                f"threshold {g.threshold:.0%})"
                if g.rate is not None
                else f"{g.evidence_sessions:,} sessions{_few(g.few)}",
                "Suggested action": g.suggested_action,
            }
            for g in shown
        ],
        columns=["Severity", "Gap", "Where", "Evidence", "Suggested action"],
    )
    return _muted(frame, [g.few for g in shown])


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
    """PSA summary (:class:`PsaMetrics`) as an HTML list followed by the pushes table.
    Every rate shows its n and the 95% Wilson interval carried by the data file."""

    def ci(low: float | None, high: float | None) -> str:
        return f" (95% interval {_range(low, high, fmt_pct100)})"

    sessions = psa.funnel.total_sessions
    items = [
        f"Linked to a PSA ticket: <b>{fmt_pct100(psa.ticket_link_rate_pct)}</b> of "
        f"n={fmt_int(sessions)} AI sessions"
        f"{ci(psa.ticket_link_low_pct, psa.ticket_link_high_pct)}",
        f"Pushes succeeded at the first try: <b>{fmt_pct100(psa.push_success_first_try_pct)}</b>"
        f"{ci(psa.push_success_first_try_low_pct, psa.push_success_first_try_high_pct)},"
        f" after retries: <b>{fmt_pct100(psa.push_success_after_retry_pct)}</b>"
        f"{ci(psa.push_success_after_retry_low_pct, psa.push_success_after_retry_high_pct)}"
        f" (of n={fmt_int(psa.total_pushes)} pushes)",
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


def escalation_text(metrics, kpis=None) -> str:
    """Markdown: the escalation metric's definition and its counts (METRICS.md §5); the
    average with its 95% t interval, the median and p95 with their bootstrap intervals
    when the page's KPIs (``kpis``: a list of KPIs or :func:`rfa.metrics.kpi.by_key`'s
    dict) are given, and the n behind them."""
    if kpis is not None and not isinstance(kpis, dict):
        kpis = {k.key: k for k in kpis}
    kpis = kpis or {}

    def quantile(key: str, value: float | None) -> str:
        kpi = kpis.get(key)
        if kpi is None:
            return f"**{fmt_seconds(value)}**"
        est = kpi.estimate
        return f"**{fmt_seconds(est.value)}**" + (
            f" ({fmt_seconds(est.low)} – {fmt_seconds(est.high)})"
            if est.low is not None and est.high is not None
            else ""
        )

    average = f"**{fmt_seconds(metrics.avg_seconds_to_first_action)}**" + (
        f" (95% interval {fmt_seconds(metrics.avg_seconds_low)} – "
        f"{fmt_seconds(metrics.avg_seconds_high)})"
        if metrics.avg_seconds_low is not None and metrics.avg_seconds_high is not None
        else ""
    )
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
        f"- Over n={metrics.n_values:,} acted-on hand-offs: average {average}, median "
        f"{quantile('median_seconds_to_first_action', metrics.median_seconds_to_first_action)}"
        f", p95 "
        f"{quantile('p95_seconds_to_first_action', metrics.p95_seconds_to_first_action)}."
        f"{sample}\n"
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

    The value reads ``"62% ± 3 pts (n=1,234) ▲"``: the arrow only when the change
    against the previous window is significant, otherwise the verdict in words —
    ``"62% ± 3 pts (n=1,234) · no clear change"`` (or "no previous data" / "not enough
    data" when there was nothing to compare with). A count is its own n, so its box shows
    no separate ``(n=…)``. A figure behind fewer than ``min_n`` observations reads
    ``"62% · few sessions (n=8)"`` in a muted colour; a missing KPI (withheld for
    privacy) reads ``withheld``.
    """
    if kpi is None:
        return valuebox(withheld, icon, MUTED)
    est = kpi.estimate
    value = fmt_kpi(est.value, kpi.unit)
    if est.few and est.value is not None:
        return valuebox(f"{value} · few sessions (n={est.n:,})", icon, MUTED)
    if est.value is None:
        return valuebox(f"{DASH} (n={est.n:,})", icon, MUTED)
    n = "" if kpi.unit == "count" else f"(n={est.n:,})"
    if kpi.change.significant and kpi.change.direction != "none":
        verdict = ARROWS[kpi.change.direction]
    else:
        verdict = f"· {kpi.change.label}"
    parts = [value, fmt_margin(kpi), n, verdict]
    return valuebox(" ".join(p for p in parts if p), icon, color)


def kpi_table(kpis) -> pd.DataFrame:
    """Every KPI of a page with n, 95% interval, the previous window's value and the
    verdict of the comparison (display strings); rows below ``min_n`` muted."""
    kpis = list(kpis)
    frame = pd.DataFrame(
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
    return _muted(frame, [k.estimate.few for k in kpis])


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
